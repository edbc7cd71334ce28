// The documented exit codes (README "Conventions": 0 ok, 1 failure including no engine or cluster,
// 2 usage, 75 locked, 130 interrupted), script by script, in the situations a first hour meets. Every
// row is a real process in a fresh directory with a .env from `make init`; the engine and the cluster
// are the real docker CLI and kubectl pointed at a closed 127.0.0.1 port. (Lock held: F-BACKUP-LOCKED-1
// and the deploy lock rows of test/faults; no compose CLI at all: test/backup/compose-v1.test.ts.)
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { ROOT } from '../../scripts/lib/core/paths.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { closedPort } from '../helpers/net.ts'

const TSX = join(ROOT, 'node_modules', '.bin', 'tsx')
const dir = tmpDir('owp-exit-codes-')
let env: Record<string, string> = {}

function run(script: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(TSX, [join(ROOT, script), '--', ...args], { cwd: dir.path, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => { stdout += d })
  child.stderr.on('data', (d) => { stderr += d })
  const timer = setTimeout(() => child.kill('SIGKILL'), 110_000)
  return new Promise((resolve) => child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) }))
}

beforeAll(async () => {
  const port = await closedPort()
  const kubeconfig = join(dir.path, 'kubeconfig')
  writeFileSync(kubeconfig, `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: "https://127.0.0.1:${port}"}\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\nusers:\n- name: u\n  user: {token: not-a-real-token}\n`)
  env = { DOCKER_HOST: `tcp://127.0.0.1:${port}`, KUBECONFIG: kubeconfig }
  const init = await run('scripts/init.ts', [])
  expect(init.code, init.stderr).toBe(0)
}, 120_000)
afterAll(() => dir.remove())

const T = { timeout: 120_000 }

describe.concurrent('no engine, no cluster: exit 1 with the reason in one line', () => {
  it('validate-prod --target compose: one error line at once, no check retried', T, async () => {
    const r = await run('scripts/validate-prod.ts', ['--target', 'compose'])
    expect(r.code, r.stderr).toBe(1)
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'))
    expect(errors).toEqual([expect.stringMatching(/^error: no Docker engine answers: Cannot connect to the Docker daemon at tcp:\/\/127\.0\.0\.1:\d+\. Is the docker daemon running\?$/)])
    expect(r.stderr).not.toMatch(/attempt|retry|FAIL\s/)
  })

  it('validate-prod --target k8s: kubectl\'s own reason, not only that it failed', T, async () => {
    const r = await run('scripts/validate-prod.ts', ['--target', 'k8s'])
    expect(r.code, r.stderr).toBe(1)
    expect(r.stderr).toMatch(/^error: cannot list the services of release owp in openwebui-prod: .*(refused|connect)/m)
  })

  it('deploy with neither: "no deployment target found", exit 1', T, async () => {
    const r = await run('scripts/deploy.ts', ['--yes'])
    expect(r.code, r.stderr).toBe(1)
    expect(r.stderr).toMatch(/^error: no deployment target found: no reachable Kubernetes context and no Docker engine$/m)
  })
})

const SCRIPTS = readdirSync(join(ROOT, 'scripts')).filter((f) => f.endsWith('.ts')).sort()

describe.concurrent('a bad flag: exit 2, the kit\'s own one-line message, nothing run', () => {
  it.each(SCRIPTS)('%s --bogus', T, async (file) => {
    const r = await run(`scripts/${file}`, ['--bogus'])
    expect(r.code, r.stderr).toBe(2)
    expect(r.stderr).toMatch(/^error: unknown flag --bogus/)
    expect(r.stderr).not.toContain('Usage:')
  })
})
