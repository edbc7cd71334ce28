// Fault rows of a backup SIGKILLed (the whole process tree, as the OOM killer or a node loss does)
// at two points, then run again, with a real Redis under a restart loop: the killed run's set has
// no manifest, so it is never listed as complete nor restored; the next backup and restore succeed.
// The kill points are made deterministic by wrappers of the real tools that hold at that moment.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startRedis, type Redis } from '../helpers/redis.ts'
import { runScript } from '../helpers/run-script.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { listSets, which, wrapper } from '../backup/support.ts'
import { killWhen, startScript } from './support.ts'

const tmp = tmpDir('owp-fault-bkill-')
const dest = join(tmp.path, 'dest')
const marker = join(tmp.path, 'holding')
let redis: Redis

const common = () => ['--store', 'redis', '--target', 'direct', '--env-file', join(tmp.path, 'empty.env'), '--dest', dest]
const env = (extra: Record<string, string> = {}) => ({ ...redis.env, BACKUP_STAGING_DIR: join(tmp.path, 'staging'), OWP_LOCK_DIR: join(tmp.path, 'locks'), ...extra })
const backup = () => runScript('scripts/backup.ts', [...common(), '--metrics-dir', join(tmp.path, 'metrics')], { env: env(), timeoutMs: 120_000 })
const restore = (from: string) => runScript('scripts/restore.ts', [...common(), '--from', from, '--yes'], { env: env(), timeoutMs: 120_000 })
const list = () => runScript('scripts/restore.ts', [...common(), '--list'], { env: env(), timeoutMs: 60_000 })

/** A PATH dir whose `tool` runs the real one, then (for the call whose argv matches `when`) says so and holds. */
function holdAfter(tool: string, when: string): string {
  return wrapper(join(tmp.path, `hold-${tool}`), tool, `"${which(tool)}" "$@"; rc=$?
case " $* " in *${when}*) touch "${marker}"; sleep 600;; esac
exit $rc`)
}

/** Kill a backup while `tool` holds, then check what the operator sees and run again. */
async function killedAt(tool: string, when: string): Promise<{ killedId: string; earlierId: string }> {
  rmSync(marker, { force: true })
  const earlierId = listSets(dest, 'redis').filter((s) => s.complete).at(-1)!.id
  const known = new Set(listSets(dest, 'redis').map((s) => s.id))
  const k = startScript('scripts/backup.ts', common(), env({ PATH: `${holdAfter(tool, when)}:${process.env.PATH}` }))
  await killWhen(k, () => existsSync(marker))
  const killed = listSets(dest, 'redis').filter((s) => !known.has(s.id))
  expect(killed).toHaveLength(1) // the killed run's set: files, no manifest
  expect(existsSync(join(killed[0]!.dir, 'manifest.json'))).toBe(false)
  return { killedId: killed[0]!.id, earlierId }
}

beforeAll(async () => {
  writeFileSync(join(tmp.path, 'empty.env'), '')
  mkdirSync(join(tmp.path, 'staging'))
  redis = await startRedis({ supervised: true })
  for (let i = 0; i < 100; i++) redis.cli(['SET', `backed-up:${i}`, String(i)])
  const first = await backup()
  expect(first.code, first.stderr).toBe(0)
})
afterAll(async () => {
  await redis?.stop()
  tmp.remove()
})

describe('backup SIGKILLed (whole process tree), then run again (real Redis)', { timeout: 300_000 }, () => {
  it('F-BACKUP-KILL-1: killed while the dump is written into the set: the set without a manifest is listed INCOMPLETE, never restored; the next backup succeeds', async () => {
    const { killedId, earlierId } = await killedAt('redis-cli', '" --rdb "')
    expect(readdirSync(join(dest, 'redis', killedId))).toEqual(['dump.rdb.partial'])
    const shown = await list()
    expect(shown.code, shown.stderr).toBe(0)
    expect(shown.stdout).toMatch(new RegExp(`${killedId}\\s.*INCOMPLETE`))
    // the next run on this host (here a restore of that set) takes the dead run's lease over at once (its pid is gone)
    const refused = await restore(`redis/${killedId}`)
    expect(refused.stderr).toMatch(/took over the stale lock .*: pid \d+ on \S+ is gone\)/)
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain('a set without its manifest is never restored')
    expect(redis.cli(['GET', 'backed-up:42']).trim()).toBe('42')
    const again = await backup()
    expect(again.code, again.stderr).toBe(0)
    expect(listSets(dest, 'redis').filter((s) => s.complete).map((s) => s.id)).not.toContain(killedId)
    void earlierId
  })

  it('F-BACKUP-KILL-2: killed while the finished dump is verified (files complete, manifest not yet written): never restored; --from latest takes the newest complete set', async () => {
    const { killedId } = await killedAt('redis-check-rdb', '')
    const newestComplete = listSets(dest, 'redis').filter((s) => s.complete).at(-1)!.id
    expect(killedId > newestComplete).toBe(true) // the killed set is the newest directory
    redis.cli(['SET', 'live-only', 'x'])
    const r = await restore('latest')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain(`restored set ${newestComplete}`)
    expect(r.stdout).not.toContain(killedId)
    expect(redis.cli(['GET', 'backed-up:42']).trim()).toBe('42')
    expect(redis.cli(['EXISTS', 'live-only']).trim()).toBe('0')
    const again = await backup()
    expect(again.code, again.stderr).toBe(0)
  })
})
