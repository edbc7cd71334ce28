// The documented exit codes (README "Conventions": 0 ok, 1 failure including no engine or cluster,
// 2 usage, 75 locked, 130 interrupted), script by script, in the situations a first hour meets. Every
// row is a real process in a fresh directory with a .env from `make init`; the engine and the cluster
// are the real docker CLI and kubectl pointed at a closed 127.0.0.1 port. A lock another run holds is
// the kit's real lease, held by a live process this file starts and kills by PID. (No compose CLI at
// all: test/backup/compose-v1.test.ts.)
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { spawn, type ChildProcess } from 'node:child_process'
import { ROOT } from '../../scripts/lib/core/paths.ts'
import { lockFile } from '../../scripts/lib/core/lock.ts'
import { composeStoreLockPaths } from '../../scripts/lib/backup/locks.ts'
import { STORES } from '../../scripts/lib/backup/types.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { closedPort } from '../helpers/net.ts'

const TSX = join(ROOT, 'node_modules', '.bin', 'tsx')
const dir = tmpDir('owp-exit-codes-')
let env: Record<string, string> = {}

function run(script: string, args: string[], extra: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(TSX, [join(ROOT, script), '--', ...args], { cwd: dir.path, env: { ...process.env, NO_COLOR: '1', ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] })
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
const holders: ChildProcess[] = []
afterAll(() => {
  for (const h of holders) if (h.exitCode === null && h.signalCode === null) try { process.kill(-h.pid!, 'SIGKILL') } catch { /* gone */ }
  dir.remove()
})

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

  it('deploy with neither: "no deployment target found", exit 1, with each side\'s reason', T, async () => {
    const r = await run('scripts/deploy.ts', ['--yes'])
    expect(r.code, r.stderr).toBe(1)
    expect(r.stderr).toMatch(/^error: no deployment target found: no reachable Kubernetes context \(context c: .*(refused|connect).*\) and no Docker engine \(Cannot connect to the Docker daemon at tcp:\/\/127\.0\.0\.1:\d+\. Is the docker daemon running\?\)$/m)
  })
})

/** The kit's real lease on `path`, held by a live process (test/faults/fixtures/lock-holder.ts) until it is killed. */
async function holdLock(path: string, what: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/faults/fixtures/lock-holder.ts'), path, what], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  holders.push(child)
  let out = ''
  child.stdout!.on('data', (d) => { out += d })
  const end = Date.now() + 60_000
  while (!/^held /.test(out)) {
    if (child.exitCode !== null || Date.now() > end) throw new Error(`the lock holder did not take ${path} (exit ${child.exitCode})`)
    await new Promise((r) => setTimeout(r, 50))
  }
  return child
}

/** Kill the holder by its PID (its own process group), and wait until it is gone. */
async function release(holder: ChildProcess): Promise<void> {
  const gone = new Promise((r) => holder.once('close', r))
  process.kill(-holder.pid!, 'SIGTERM')
  await gone
}

const oneError = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('error:'))

describe.concurrent('another run holds the lock: exit 75, one line naming the holder, nothing done', () => {
  it('deploy --docker-compose while another deploy of the project runs', T, async () => {
    const locks = join(dir.path, 'locks-deploy')
    const holder = await holdLock(lockFile(locks, 'compose-owp'), 'deploy of compose project owp')
    try {
      const r = await run('scripts/deploy.ts', ['--docker-compose', '--yes'], { OWP_LOCK_DIR: locks })
      expect(r.code, r.stderr).toBe(75)
      expect(oneError(r.stderr)).toEqual([expect.stringMatching(new RegExp(`^error: another deploy of compose project owp is running \\(pid ${holder.pid} on ${hostname()}, since \\S+\\)$`))])
      expect(r.stderr).not.toMatch(/\bup\b.*--detach|FAIL|\s+at /)
    } finally {
      await release(holder)
    }
  })

  it('backup of a store whose lock another backup holds (cron overlapping itself)', T, async () => {
    const locks = join(dir.path, 'locks-backup')
    const redis = composeStoreLockPaths({ OWP_LOCK_DIR: locks }, 'owp')[STORES.indexOf('redis')]!
    const holder = await holdLock(redis, 'backup of redis (compose service redis (project owp))')
    try {
      const r = await run('scripts/backup.ts', ['--store', 'redis', '--target', 'compose', '--dest', join(dir.path, 'backups'), '--metrics-dir', join(dir.path, 'metrics')], { OWP_LOCK_DIR: locks })
      expect(r.code, r.stderr).toBe(75)
      expect(oneError(r.stderr)).toEqual([expect.stringMatching(new RegExp(`^error: another backup of redis \\(compose service redis \\(project owp\\)\\) is running \\(pid ${holder.pid} on ${hostname()}, since \\S+\\)$`))])
      expect(existsSync(join(dir.path, 'backups'))).toBe(false) // refused before the destination was touched
    } finally {
      await release(holder)
    }
  })

  it.each([['scripts/deploy.ts'], ['scripts/helm-install.ts'], ['scripts/backup.ts'], ['scripts/restore.ts']])('%s --help lists 75, as the README does', T, async (script) => {
    const r = await run(script, ['--help', '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(Object.keys((JSON.parse(r.stdout) as { exitCodes: Record<string, string> }).exitCodes)).toEqual(['0', '1', '2', '75', '130'])
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
