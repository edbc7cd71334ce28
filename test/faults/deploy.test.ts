// The compose deploy under faults: two racing deploys, a deploy racing a backup, two backups of one
// store from two destinations, and the deploy SIGKILLed (whole tree) at several points, then rerun.
import { describe, it, expect, afterEach } from 'vitest'
import { spawn } from 'node:child_process'
import { readFileSync, existsSync, readdirSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { deployCompose, type ComposeOptions } from '../../scripts/lib/deploy/compose.ts'
import { lockStore } from '../../scripts/lib/backup/locks.ts'
import { createTarget } from '../../scripts/lib/backup/targets.ts'
import { createDestination } from '../../scripts/lib/backup/destination.ts'
import { LockedError } from '../../scripts/lib/core/errors.ts'
import { ROOT } from '../../scripts/lib/core/paths.ts'
import { on, type FakeBins } from '../helpers/fake-bins.ts'
import { sandbox, composeFixture, realComposeConfig, composeFakes, dockerAnswers, type Sandbox, type ComposeScenario } from '../deploy/helpers.ts'

const cleanup: Array<() => void> = []
afterEach(() => { for (const c of cleanup.splice(0)) c() })

const BEFORE = [
  // Open WebUI keeps its image: an image change adds the pre-upgrade backup (test/deploy/bluegreen.test.ts), not what these rows are about
  { service: 'openwebui', image: 'ghcr.io/open-webui/open-webui:v0.8.11', imageId: 'sha256:owui0811' },
  { service: 'postgres', image: 'postgres:15.14', imageId: 'sha256:pg1514' },
]

const waitFor = async (what: string, cond: () => boolean, ms = 150_000) => {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

interface Project { box: Sandbox; file: string; envFile: string; config: string; bins(s?: Omit<ComposeScenario, 'config'>): FakeBins; opts(o?: Partial<ComposeOptions>): ComposeOptions }

function project(): Project {
  const box = sandbox(null)
  cleanup.push(box.remove)
  const file = composeFixture(box.dir)
  const envFile = join(box.dir, '.env')
  const config = realComposeConfig(file, envFile)
  return {
    box, file, envFile, config,
    bins(s = {}) { const b = composeFakes({ before: BEFORE, localImages: { 'postgres:15.14': 'sha256:pg1514' }, ...s, config }); cleanup.push(b.remove); return b },
    opts: (o = {}) => ({ file, envFile, timeout: '20m', skipChecks: true, validate: false, strategy: 'recreate' as const, ...o }),
  }
}

const reads = (b: FakeBins) => b.calls('docker').filter((c) => c.includes('ps') || c[1] === 'inspect' || c[1] === 'image')

describe('compose deploy: lock first, one writer per project and store', () => {
  it('F-DEPLOY-1: two racing deploys: the second exits 75 before it reads the stack; the first one\'s undo is the images that ran before it', async () => {
    const p = project()
    // the first deploy's `up` fails after a while (its undo, `up` with the rollback file, succeeds)
    const a = p.bins({})
    a.script('docker', [
      on('^compose .* up --detach --wait --wait-timeout [0-9]+ --remove-orphans$', { exitCode: 1, stderr: 'dependency failed to start: container owptest-openwebui-1 is unhealthy', delay: 20, times: 1 }),
      ...dockerAnswers({ before: BEFORE, localImages: { 'postgres:15.14': 'sha256:pg1514' }, config: p.config }),
    ])
    const b = p.bins({})
    const first = deployCompose(p.box.ctx({ path: a.path }), p.opts())
    await waitFor('the first deploy to start `up`', () => a.calls('docker').some((c) => c.includes('up')))
    const err = await deployCompose(p.box.ctx({ path: b.path }), p.opts()).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LockedError)
    expect((err as LockedError).exitCode).toBe(75)
    expect((err as Error).message).toMatch(/^another deploy of compose project owptest is running \(pid \d+ on /)
    expect(reads(b)).toEqual([]) // no "before" state read: nothing stale to carry
    const out = await first
    expect(out.ok).toBe(false)
    expect(out.summary).toMatch(/back to the images that ran before/)
    const override = readFileSync(join(p.box.env.OWP_STATE_DIR, 'compose', 'owptest-rollback.yml'), 'utf8')
    expect(override).toContain('image: sha256:owui0811') // its tag is not local: by image ID
    expect(override).toContain('image: postgres:15.14')
  }, 240_000)

  it('F-DEPLOY-2: a deploy while a backup of one of the project\'s stores runs exits 75 naming the backup; a backup during a deploy exits 75 naming the deploy', async () => {
    const p = project()
    const env = { ...process.env, ...p.box.env } as Record<string, string>
    const target = createTarget({ kind: 'compose', env, project: 'owptest', composeFile: p.file })
    const dest = await createDestination({ dest: join(p.box.dir, 'backups'), env })
    const backupCtx = p.box.ctx()
    const release = lockStore(backupCtx, dest, target, 'postgres', `backup of postgres (${target.where('postgres')})`)
    const blocked = p.bins({})
    const err = await deployCompose(p.box.ctx({ path: blocked.path }), p.opts()).catch((e: unknown) => e)
    expect((err as LockedError).exitCode).toBe(75)
    expect((err as Error).message).toMatch(/^another backup of postgres \(compose service postgres \(project owptest\)\) is running/)
    expect(blocked.calls('docker').filter((c) => c.includes('up') || c.includes('pull'))).toEqual([])
    release()

    const slow = p.bins({ upDelay: 20 })
    const deploying = deployCompose(p.box.ctx({ path: slow.path }), p.opts())
    await waitFor('the deploy to start `up`', () => slow.calls('docker').some((c) => c.includes('up')))
    const refused = (() => { try { lockStore(p.box.ctx(), dest, target, 'postgres', 'backup of postgres'); return null } catch (e) { return e as LockedError } })()
    expect(refused?.exitCode).toBe(75)
    expect(refused?.message).toMatch(/^another deploy of compose project owptest is running/)
    expect((await deploying).ok).toBe(true)
  }, 240_000)

  it('F-DEPLOY-3: two backups of one store to two destinations (a directory and S3) take one lease: the second exits 75', async () => {
    const p = project()
    const env = { ...process.env, ...p.box.env } as Record<string, string>
    const target = createTarget({ kind: 'compose', env, project: 'owptest', composeFile: p.file })
    const local = await createDestination({ dest: join(p.box.dir, 'a'), env })
    const s3 = await createDestination({ dest: 's3://owp-backups/prod', env: { ...env, AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y' }, s3Region: 'eu-west-1' })
    const release = lockStore(p.box.ctx(), local, target, 'postgres', `backup of postgres (${target.where('postgres')})`)
    const second = (() => { try { lockStore(p.box.ctx(), s3, target, 'postgres', 'backup of postgres'); return null } catch (e) { return e as LockedError } })()
    expect(second?.exitCode).toBe(75)
    expect(second?.message).toMatch(/^another backup of postgres \(compose service postgres \(project owptest\)\) is running/)
    // a restore of the same store from either destination waits for the same lease
    const restore = (() => { try { lockStore(p.box.ctx(), local, target, 'postgres', 'restore of postgres'); return null } catch (e) { return e as LockedError } })()
    expect(restore?.exitCode).toBe(75)
    // another store of the same project is free
    lockStore(p.box.ctx(), s3, target, 'redis', 'backup of redis')()
    release()
  })
})

/** deploy.ts --docker-compose as a process group, with the fake docker on PATH. */
function deployProcess(p: Project, bins: FakeBins) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/deploy.ts'), '--docker-compose', '--strategy', 'recreate', '--file', p.file, '--env-file', p.envFile, '--skip-checks', '--no-validate'],
    { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', ...p.box.env, PATH: bins.path }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (d) => { stderr += d })
  child.stdout!.resume()
  const done = new Promise<number | null>((r) => child.on('close', (code) => r(code)))
  cleanup.push(() => { try { process.kill(-child.pid!, 'SIGKILL') } catch { /* gone */ } })
  return { child, done, stderr: () => stderr }
}

/** Kill the deploy (SIGKILL, whole tree) once the fake docker received `point`, run it again: it must converge. */
async function killedThenRerun(point: string, match: string) {
  const p = project()
  const hang = p.bins({})
  hang.script('docker', [on(match, { exitCode: 0, delay: 120 }), ...dockerAnswers({ before: BEFORE, config: p.config })])
  const killed = deployProcess(p, hang)
  await waitFor(`the deploy to reach ${point}`, () => hang.calls('docker').some((c) => c.includes(point)))
  process.kill(-killed.child.pid!, 'SIGKILL')
  await killed.done
  const locks = join(p.box.env.OWP_STATE_DIR, 'locks')
  expect(readdirSync(locks).filter((f) => f.endsWith('.lock')).length).toBeGreaterThan(0) // SIGKILL ran no cleanup

  const fine = p.bins({})
  const again = deployProcess(p, fine)
  expect(await again.done, again.stderr().slice(-3000)).toBe(0)
  expect(again.stderr()).toMatch(/took over the stale lock .*compose-owptest\.lock \(deploy of compose project owptest, pid \d+ on .*: pid \d+ on .* is gone\)/)
  const base = ['docker', 'compose', '--project-name', 'owptest', '--file', p.file, '--env-file', p.envFile, '--profile', 'lightllm']
  expect(fine.calls('docker').filter((c) => c.includes('up'))).toEqual([[...base, 'up', '--detach', '--wait', '--wait-timeout', '1200', '--remove-orphans']])
  expect(again.stderr()).toMatch(/compose project owptest is up/)
  expect(readFileSync(join(dirname(p.file), '.generated', 'alertmanager.yml'), 'utf8').length).toBeGreaterThan(0)
  expect(existsSync(join(dirname(p.file), '.generated', 'prometheus.yml'))).toBe(true)
  expect(readdirSync(locks).filter((f) => f.endsWith('.lock'))).toEqual([]) // the second run released every lease
}

describe('compose deploy SIGKILLed (whole process tree), then run again', () => {
  it('F-DEPLOY-4: killed during `pull`: the next run takes the dead run\'s lock over at once (same host, pid gone) and converges', async () => {
    await killedThenRerun('pull', '^compose .* pull ')
  }, 300_000)

  it('F-DEPLOY-5: killed during `compose up`: the next run takes the lock over and converges', async () => {
    await killedThenRerun('up', '^compose .* up ')
  }, 300_000)
})
