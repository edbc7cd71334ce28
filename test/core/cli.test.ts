// The CLI conventions every script shares, seen from outside: a real process, real exit codes.
import { describe, it, expect, afterEach } from 'vitest'
import { writeFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { runScript } from '../helpers/run-script.ts'
import { fakeBins, ok, type FakeBins } from '../helpers/fake-bins.ts'
import { tmpDir } from '../helpers/tmp.ts'

const DEMO = 'test/fixtures/cli/demo.ts'
const CANARY = 'canary-Zq81xPLmW4tY7vB2nR6sK0dJ3hF5gA9e'
let bins: FakeBins | undefined
afterEach(() => { bins?.remove(); bins = undefined })

function envFile(extra: Record<string, string> = {}): string {
  const dir = tmpDir().path
  const vars = {
    DEPLOY_ENV: 'development', DOMAIN: 'chat.test.local', WEBUI_SECRET_KEY: CANARY,
    POSTGRES_PASSWORD: 'pg-pass-123456789', REDIS_PASSWORD: 'redis-pass-123456789', QDRANT_API_KEY: 'q'.repeat(40),
    NEO4J_PASSWORD: 'neo4j-pass-1234', GRAPHRAG_API_KEY: 'g'.repeat(40), GRAFANA_ADMIN_PASSWORD: 'grafana-pass-1234', ...extra,
  }
  const file = join(dir, '.env')
  writeFileSync(file, Object.entries(vars).map(([k, v]) => `${k}=${v}`).join('\n'))
  return file
}

describe('help and usage errors', () => {
  it('prints usage on stdout and exits 0 for --help and -h', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await runScript(DEMO, [flag])
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/^Usage: /)
      expect(r.stdout).toContain('--dry-run')
      expect(r.stderr).toBe('')
    }
  })

  it('rejects an unknown flag with the problem and a pointer to --help on stderr, exit 2', async () => {
    const r = await runScript(DEMO, ['--frobnicate'])
    expect(r.code).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/^error: unknown flag --frobnicate\n/)
    expect(r.stderr).toContain('--help')
  })

  it('rejects a malformed --log-format value, exit 2', async () => {
    const r = await runScript(DEMO, ['--log-format', 'xml'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--log-format must be text or json')
  })
})

describe('exec: dry-run, failures, json', () => {
  it('--dry-run prints the exact argv, shell-quoted, and executes nothing', async () => {
    bins = fakeBins({ helm: ok() })
    const r = await runScript(DEMO, ['--dry-run', '--', 'helm', 'upgrade', '--install', 'owp', './chart', '--set', 'a=b c'], { env: bins.env })
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toBe(`[dry-run] helm upgrade --install owp ./chart --set 'a=b c'`)
    expect(bins.calls('helm')).toEqual([])
  })

  it('runs the command for real without --dry-run, and the fake sees the exact argv', async () => {
    bins = fakeBins({ helm: ok('deployed\n') })
    const r = await runScript(DEMO, ['--json', '--', 'helm', 'upgrade', '--install', 'owp', './chart'], { env: bins.env })
    expect(r.code).toBe(0)
    expect(bins.calls('helm')).toEqual([['helm', 'upgrade', '--install', 'owp', './chart']])
    expect(JSON.parse(r.stdout)).toMatchObject({ stdout: 'deployed\n' })
  })

  it('a failing command names the command, its exit code and its stderr, exit 1', async () => {
    bins = fakeBins({ kubectl: { exitCode: 3, stderr: 'line1\nError: the server is unreachable\n' } })
    const r = await runScript(DEMO, ['--', 'kubectl', 'apply', '-f', 'x.yaml'], { env: bins.env })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('command failed (exit code 3): kubectl apply -f x.yaml')
    expect(r.stderr).toContain('Error: the server is unreachable')
    expect(r.stderr).toContain('cleanup ran')
  })

  it('--json makes stdout exactly one JSON document, even on failure', async () => {
    bins = fakeBins({ docker: { exitCode: 1, stderr: 'nope' } })
    const r = await runScript(DEMO, ['--json', '--', 'docker', 'compose', 'up'], { env: bins.env })
    expect(r.code).toBe(1)
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, exitCode: 1 })
  })

  it('--log-format json writes one JSON object a line, each with the same run id', async () => {
    const r = await runScript(DEMO, ['--log-format', 'json', '--', 'true'])
    const lines = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as { runId: string; level: string })
    expect(lines.length).toBeGreaterThanOrEqual(2)
    expect(new Set(lines.map((l) => l.runId)).size).toBe(1)
    expect(lines.map((l) => l.level)).toEqual(['step', 'ok'])
  })

  it('prints no colour codes when NO_COLOR is set or stderr is not a terminal', async () => {
    const r = await runScript(DEMO, ['--', 'true'], { env: { NO_COLOR: '1', FORCE_COLOR: '1' } })
    expect(r.stderr).not.toMatch(/\x1b\[/)
  })
})

describe('secrets never leak', () => {
  const leaks = (r: { stdout: string; stderr: string }) => (r.stdout + r.stderr).includes(CANARY)

  it('not in a dry-run plan, text or --json', async () => {
    const file = envFile()
    for (const extra of [[], ['--json'], ['--verbose']]) {
      const r = await runScript(DEMO, ['--env-file', file, '--dry-run', ...extra, '--', 'deploy', `--token=${CANARY}`, `KEY=${CANARY}`], {})
      expect(r.code).toBe(0)
      expect(r.stdout).toContain('***')
      expect(leaks(r)).toBe(false)
    }
  })

  it('not in the output of a failing command echoed back, verbose or not', async () => {
    const file = envFile()
    bins = fakeBins({ psql: { exitCode: 2, stdout: `connecting with ${CANARY}`, stderr: `FATAL: password ${CANARY} rejected for postgres://app:${CANARY}@db/app` } })
    for (const extra of [[], ['--verbose'], ['--json'], ['--log-format', 'json']]) {
      const r = await runScript(DEMO, ['--env-file', file, ...extra, '--', 'psql', `postgres://app:${CANARY}@db/app`], { env: bins.env })
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('rejected')
      expect(leaks(r)).toBe(false)
    }
  })

  it('credentials inside URLs and --password= flags are masked even when not registered', async () => {
    const r = await runScript(DEMO, ['--dry-run', '--', 'curl', 'https://admin:s3cr3tpass@host/x', '--password=hunter2hunter2', '--api-key', 'abcd1234efgh'])
    expect(r.stdout).toContain('https://admin:***@host/x')
    expect(r.stdout).toContain('--password=***')
    expect(r.stdout).toContain('--api-key ***')
    expect(r.stdout).not.toMatch(/s3cr3tpass|hunter2hunter2|abcd1234efgh/)
  })
})

describe('configuration', () => {
  it('reports every problem of a bad .env at once, exit 2, before running anything', async () => {
    bins = fakeBins({ helm: ok() })
    const file = envFile({ DOMAIN: 'not a host!', LLM_TP: 'many', HTTPS_PORT: '70000', DEPLOY_ENV: 'prod' })
    const r = await runScript(DEMO, ['--env-file', file, '--', 'helm', 'list'], { env: bins.env })
    expect(r.code).toBe(2)
    for (const name of ['DOMAIN', 'LLM_TP', 'HTTPS_PORT', 'DEPLOY_ENV']) expect(r.stderr).toContain(name)
    expect(bins.calls('helm')).toEqual([])
  })

  it('refuses placeholder and weak secrets in production, naming each', async () => {
    const file = envFile({ DEPLOY_ENV: 'production', WEBUI_SECRET_KEY: 'short-key', POSTGRES_PASSWORD: 'changeme', QDRANT_API_KEY: 'replace-with-openssl-rand-hex-32-qdrant' })
    const r = await runScript(DEMO, ['--env-file', file])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('WEBUI_SECRET_KEY is shorter than 32 characters')
    expect(r.stderr).toContain('POSTGRES_PASSWORD is a well-known weak value')
    expect(r.stderr).toContain('QDRANT_API_KEY still has the placeholder')
    expect(r.stderr).not.toContain('changeme')
  })
})

describe('destructive steps and interrupts', () => {
  it('a destructive step without a terminal and without --yes exits 2 with a hint', async () => {
    const r = await runScript(DEMO, ['--destructive'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('pass --yes')
  })

  it('--yes confirms a destructive step without a terminal', async () => {
    const r = await runScript(DEMO, ['--destructive', '--yes'])
    expect(r.code).toBe(0)
  })

  it('SIGINT during a long command runs the cleanups, exits 130 and leaves no child behind', async () => {
    bins = fakeBins({ helm: { delay: 30 } })
    let pid = 0
    const done = runScript(DEMO, ['--', 'helm', 'upgrade', '--install', 'owp', '.'], { env: bins.env, onSpawn: (p) => { pid = p } })
    // wait until the fake has recorded its call: the child tree is running
    for (let i = 0; i < 200 && bins.calls('helm').length === 0; i++) await new Promise((r) => setTimeout(r, 50))
    expect(bins.calls('helm')).toHaveLength(1)
    const before = await descendants(pid)
    expect(before.length).toBeGreaterThan(0)
    process.kill(pid, 'SIGINT')
    const r = await done
    expect(r.code).toBe(130)
    expect(r.stderr).toContain('cleanup ran')
    await new Promise((res) => setTimeout(res, 300))
    for (const child of before) expect(alive(child), `pid ${child} survived`).toBe(false)
  })
})

async function descendants(pid: number): Promise<number[]> {
  const { execFileSync } = await import('node:child_process')
  const out = execFileSync('ps', ['-e', '-o', 'pid=,ppid=']).toString()
  const pairs = out.trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number) as [number, number])
  const found: number[] = []
  const walk = (p: number) => { for (const [c, pp] of pairs) if (pp === p) { found.push(c); walk(c) } }
  walk(pid)
  return found
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return !isZombie(pid) } catch { return false }
}

function isZombie(pid: number): boolean {
  try { return /\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')) } catch { return false }
}
