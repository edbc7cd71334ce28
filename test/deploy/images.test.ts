// build-images and scan as a user runs them, with a fake docker / trivy / npm.
import { describe, it, expect, afterEach, beforeAll } from 'vitest'
import { mkdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { ROOT } from '../../scripts/lib/core/paths.ts'
import { runScript } from '../helpers/run-script.ts'
import { fakeBins, ok, fails, on, type FakeBins } from '../helpers/fake-bins.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { barePath } from './servers.ts'

let bins: FakeBins | undefined
let tmp: { path: string; remove(): void } | undefined
afterEach(() => { bins?.remove(); tmp?.remove(); bins = tmp = undefined })

const git = (dir: string, ...args: string[]) => execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8' }).trim()
let kitSha = ''
beforeAll(() => { kitSha = git(ROOT, 'rev-parse', '--short=12', 'HEAD') })

/** A service repository: a git repo with a pyproject.toml and one commit. */
function repo(dir: string): { sha: string; created: string } {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'pyproject.toml'), '[project]\nname = "svc"\nversion = "1.0.0"\n')
  const env = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' }
  execFileSync('git', ['init', '-q', dir])
  execFileSync('git', ['-C', dir, 'add', '.'], { env })
  execFileSync('git', ['-C', dir, 'commit', '-q', '-m', 'init'], { env })
  return { sha: git(dir, 'rev-parse', '--short=12', 'HEAD'), created: git(dir, 'log', '-1', '--format=%cI') }
}

function setupBuild(dockerScript = [on('^buildx version', ok('github.com/docker/buildx v0.17.1')), on('^version', ok('27.3.1')), ok()]) {
  tmp = tmpDir('owp-images-')
  const gr = repo(join(tmp.path, 'graphrag'))
  const mcp = repo(join(tmp.path, 'mcp'))
  const envFile = join(tmp.path, '.env')
  writeFileSync(envFile, 'IMAGE_REGISTRY=registry.test/owp\nIMAGE_TAG=1.2.3\nGRAPHRAG_SRC=./graphrag\nMCP_SRC=./mcp\n')
  bins = fakeBins({ docker: dockerScript })
  const env = { PATH: bins.path, OWP_STATE_DIR: join(tmp.path, 'state') }
  return { gr, mcp, envFile, env, dir: tmp.path }
}

describe('build-images', () => {
  it('builds the five images in one parallel phase, tagged version and sha, sources as named contexts', async () => {
    const { gr, envFile, env, dir } = setupBuild()
    const r = await runScript('scripts/build-images.ts', ['--env-file', envFile], { env })
    expect(r.code, r.stderr).toBe(0)
    const builds = bins!.calls('docker').filter((c) => c[1] === 'buildx' && c[2] === 'build')
    expect(builds).toHaveLength(5)
    const graphrag = builds.find((c) => c.includes(join(ROOT, 'docker', 'Dockerfile.graphrag')))!
    expect(graphrag).toEqual([
      'docker', 'buildx', 'build', '--file', join(ROOT, 'docker', 'Dockerfile.graphrag'),
      '--build-context', `graphrag-src=${join(dir, 'graphrag')}`,
      '--build-arg', 'VERSION=1.2.3', '--build-arg', `REVISION=${gr.sha}`, '--build-arg', `CREATED=${gr.created}`,
      '--tag', 'registry.test/owp/graphrag-processor:1.2.3', '--tag', `registry.test/owp/graphrag-processor:sha-${gr.sha}`,
      '--load', ROOT,
    ])
    const ops = builds.find((c) => c.includes(join(ROOT, 'docker', 'Dockerfile.ops')))!
    expect(ops).not.toContain('--build-context')
    expect(ops.find((a) => a.startsWith('registry.test/owp/ops:sha-'))).toMatch(new RegExp(`^registry.test/owp/ops:sha-${kitSha}(-dirty)?$`))
    const record = JSON.parse(readFileSync(join(env.OWP_STATE_DIR, 'images.json'), 'utf8')) as { images: Array<{ name: string; tags: string[] }> }
    expect(record.images.map((i) => i.name)).toEqual(['graphrag-processor', 'mcp-server', 'ops', 'postgres', 'pgbouncer'])
    expect(r.stdout).toContain('registry.test/owp/mcp-server:1.2.3')
  })

  it('--push --platform: a multi-platform build that goes to the registry; registry cache', async () => {
    const { envFile, env } = setupBuild()
    const r = await runScript('scripts/build-images.ts', ['--env-file', envFile, '--push', '--platform', 'linux/amd64,linux/arm64', '--cache', 'registry', '--only', 'mcp-server'], { env })
    expect(r.code, r.stderr).toBe(0)
    const [build] = bins!.calls('docker').filter((c) => c[2] === 'build')
    expect(build).toEqual(expect.arrayContaining(['--platform', 'linux/amd64,linux/arm64', '--push',
      '--cache-from', 'type=registry,ref=registry.test/owp/mcp-server:buildcache', '--cache-to', 'type=registry,ref=registry.test/owp/mcp-server:buildcache,mode=max']))
    expect(build).not.toContain('--load')
  })

  it('a missing source path is a clear error before anything runs (exit 2, every problem listed)', async () => {
    const { env, dir } = setupBuild()
    const envFile = join(dir, 'broken.env')
    writeFileSync(envFile, 'IMAGE_TAG=1.2.3\nMCP_SRC=./nowhere\n')
    const r = await runScript('scripts/build-images.ts', ['--env-file', envFile], { env: { ...env, GRAPHRAG_SRC: '' } })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('invalid image sources:')
    expect(r.stderr).toMatch(/GRAPHRAG_SRC is not set: the graphrag-processor source lives in its own repository \(set GRAPHRAG_SRC in .env or pass --graphrag-src\)/)
    expect(r.stderr).toMatch(/MCP_SRC=.*nowhere: no such directory/)
    expect(bins!.allCalls()).toEqual([])
  })

  it('refuses a multi-platform build without --push, and the tag latest (exit 2)', async () => {
    const { envFile, env } = setupBuild()
    const multi = await runScript('scripts/build-images.ts', ['--env-file', envFile, '--platform', 'linux/amd64', '--platform', 'linux/arm64'], { env })
    expect(multi.code).toBe(2)
    expect(multi.stderr).toContain('a build for 2 platforms can only be pushed: add --push')
    const latest = await runScript('scripts/build-images.ts', ['--env-file', envFile, '--tag', 'latest'], { env })
    expect(latest.code).toBe(2)
    expect(latest.stderr).toContain('image tag "latest" is not a pinned tag')
  })

  it('a failing build: exit 1 naming it; --dry-run prints the builds and runs none', async () => {
    const { envFile, env } = setupBuild([on('^buildx version', ok('v0.17.1')), on('^version', ok('27.3.1')), on('Dockerfile\\.mcp', fails(1, 'ERROR: failed to solve: pip install')), ok()])
    const r = await runScript('scripts/build-images.ts', ['--env-file', envFile], { env })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/build mcp-server failed/)
    expect(existsSync(join(env.OWP_STATE_DIR, 'images.json'))).toBe(false)
    bins!.remove()
    const again = setupBuild()
    const dry = await runScript('scripts/build-images.ts', ['--env-file', again.envFile, '--dry-run'], { env: again.env })
    expect(dry.code).toBe(0)
    expect(dry.stdout.split('\n').filter((l) => l.startsWith('[dry-run] docker buildx build'))).toHaveLength(5)
    expect(bins!.calls('docker').filter((c) => c[2] === 'build')).toEqual([])
  })
})

describe('scan', () => {
  const misconfig = JSON.stringify({ Results: [{ Target: 'templates/openwebui.yaml', Misconfigurations: [
    { AVDID: 'AVD-KSV-0014', Severity: 'HIGH', Title: 'Root file system is not read-only', Status: 'FAIL' },
    { AVDID: 'AVD-KSV-0001', Severity: 'HIGH', Title: 'passes', Status: 'PASS' },
  ] }] })
  const clean = JSON.stringify({ Results: [] })
  const vulns = JSON.stringify({ Results: [{ Target: 'python-pkg', Vulnerabilities: [{ VulnerabilityID: 'CVE-2026-0001', Severity: 'CRITICAL', PkgName: 'urllib3', InstalledVersion: '1.0' }] }] })
  const audit = (high: number) => JSON.stringify({ metadata: { vulnerabilities: { info: 0, low: 1, moderate: 0, high, critical: 0, total: high + 1 } } })

  it('without trivy: says so with the install hint, npm audit still runs; --require-trivy fails', async () => {
    bins = fakeBins({ npm: [on('^audit', ok(audit(0)))], docker: fails(1, 'no engine') }, { basePath: barePath() })
    tmp = tmpDir('owp-scan-')
    const env = { PATH: bins.path, OWP_STATE_DIR: tmp.path }
    const r = await runScript('scripts/scan.ts', [], { env })
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/trivy is not installed: the config and image scans are skipped\.\n\s+install trivy: https:\/\/trivy\.dev/)
    expect(r.stderr).toMatch(/SKIPPED\s+trivy/)
    expect(r.stderr).toMatch(/OK\s+npm audit --omit=dev\s+no findings \(1 at any severity\)/)
    expect(bins.calls('npm')).toEqual([['npm', 'audit', '--omit=dev', '--json']])
    const strict = await runScript('scripts/scan.ts', ['--require-trivy'], { env })
    expect(strict.code).toBe(1)
  })

  it('nothing scanned (no trivy, no registry for npm audit) is said plainly and is not "scan ok"', async () => {
    const offline = JSON.stringify({ error: { code: 'ENOTFOUND', summary: 'request to https://registry.npmjs.org/-/npm/v1/security/advisories/bulk failed, reason: getaddrinfo ENOTFOUND registry.npmjs.org' } })
    bins = fakeBins({ npm: [on('^audit', { exitCode: 1, stdout: offline })], docker: fails(1, 'no engine') }, { basePath: barePath() })
    tmp = tmpDir('owp-scan-')
    const r = await runScript('scripts/scan.ts', [], { env: { PATH: bins.path, OWP_STATE_DIR: tmp.path } })
    expect(r.code).toBe(1)
    expect(r.stdout).not.toContain('scan ok')
    expect(r.stdout).toContain('nothing was scanned')
    expect(r.stderr).toMatch(/not scanned: trivy: trivy not installed/)
    expect(r.stderr).toMatch(/not scanned: npm audit --omit=dev: not scanned: the npm registry cannot be reached/)
  })

  it('with trivy: config scans of chart, compose and Dockerfiles, image scans of what was built; HIGH/CRITICAL fail', async () => {
    tmp = tmpDir('owp-scan-')
    writeFileSync(join(tmp.path, 'images.json'), JSON.stringify({ images: [
      { name: 'graphrag-processor', tags: ['registry.test/owp/graphrag-processor:1.2.3'] },
      { name: 'mcp-server', tags: ['registry.test/owp/mcp-server:1.2.3'] },
    ] }))
    bins = fakeBins({
      trivy: [
        on('^--version', ok('Version: 0.67.2')),
        on(`^config .*${join(ROOT, 'helm')}`, ok(misconfig)),
        on('^image .*graphrag-processor', ok(vulns)),
        ok(clean),
      ],
      docker: [on('^image inspect .*graphrag-processor', ok('sha256:gr')), fails(1, 'Error: No such image')],
      npm: [on('^audit', { exitCode: 1, stdout: audit(2) })],
    })
    const r = await runScript('scripts/scan.ts', ['--json'], { env: { PATH: bins.path, OWP_STATE_DIR: tmp.path } })
    expect(r.code).toBe(1)
    const report = JSON.parse(r.stdout) as { ok: boolean; trivy: string; results: Array<{ name: string; status: string; detail: string }> }
    expect(report.trivy).toBe('0.67.2')
    expect(Object.fromEntries(report.results.map((x) => [x.name, `${x.status}: ${x.detail}`]))).toEqual({
      chart: 'fail: 1 HIGH',
      'compose stack': 'ok: no findings',
      Dockerfiles: 'ok: no findings',
      'image registry.test/owp/graphrag-processor:1.2.3': 'fail: 1 CRITICAL',
      'image registry.test/owp/mcp-server:1.2.3': 'skipped: not on this Docker engine: run make build-images first',
      'npm audit --omit=dev': 'fail: 2 HIGH (3 at any severity)',
    })
    const calls = bins.calls('trivy')
    expect(calls).toContainEqual(['trivy', 'config', '--severity', 'HIGH,CRITICAL', '--format', 'json', '--quiet', join(ROOT, 'helm', 'openwebui-platform')])
    expect(calls).toContainEqual(['trivy', 'fs', '--scanners', 'misconfig,secret', '--severity', 'HIGH,CRITICAL', '--format', 'json', '--quiet', join(ROOT, 'compose')])
    expect(calls).toContainEqual(['trivy', 'config', '--file-patterns', 'dockerfile:Dockerfile\\..*', '--severity', 'HIGH,CRITICAL', '--format', 'json', '--quiet', join(ROOT, 'docker')])
    expect(calls).toContainEqual(['trivy', 'image', '--severity', 'HIGH,CRITICAL', '--format', 'json', '--quiet', 'registry.test/owp/graphrag-processor:1.2.3'])
  })

  it('a bad --severity is a usage error', async () => {
    const r = await runScript('scripts/scan.ts', ['--severity', 'SCARY'])
    expect(r.code).toBe(2)
  })
})
