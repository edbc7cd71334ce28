// Fault rows of the restore half (docs/reliability.md, "Backup and restore"): restores killed with
// SIGKILL (whole tree) at several points, and restores whose new data fails its proof. A real
// PostgreSQL; the compose target through the docker shim (test/fixtures/backup/shims), whose
// `stop`/`start`/`ps` keep the writers' running state in files, so "the writers run again" is seen.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { PG_BIN, startPostgres, type Postgres } from '../helpers/postgres.ts'
import { runScript } from '../helpers/run-script.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { ROOT } from '../../scripts/lib/core/paths.ts'
import { WRITERS } from '../../scripts/lib/backup/writers.ts'
import { contentChecksums, listSets, which } from '../backup/support.ts'
import { freezeTree, killTree, killWhen, startScript, waitFor } from './support.ts'

const SHIMS = join(ROOT, 'test', 'fixtures', 'backup', 'shims')
const tmp = tmpDir('owp-fault-restore-')
const state = join(tmp.path, 'services')
const dest = join(tmp.path, 'dest')
const locks = join(tmp.path, 'locks')
/** The records of writers a restore stopped (kept beside the leases until it starts them again). */
const writerRecords = () => (existsSync(locks) ? readdirSync(locks).filter((f) => f.endsWith('.writers-stopped.json')) : [])
const stoppedOnes = () => readdirSync(state).filter((f) => f.endsWith('.stopped')).map((f) => f.replace(/\.stopped$/, '')).sort()
let pg: Postgres
let setId = ''
let backedUp: Record<string, Record<string, string>> = {}

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: `${SHIMS}:${process.env.PATH}`, SHIM_CALLS: join(tmp.path, 'calls'), SHIM_STATE: state,
    SHIM_POSTGRES_ENV: `PGHOST=127.0.0.1 PGPORT=${pg.port} PGPASSWORD=${pg.password}`,
    BACKUP_STAGING_DIR: join(tmp.path, 'staging'), OWP_LOCK_DIR: locks, ...extra,
  }
}
const args = (script: 'backup' | 'restore') => ['--store', 'postgres', '--target', 'compose', '--env-file', join(tmp.path, 'empty.env'), '--dest', dest,
  ...(script === 'restore' ? ['--from', 'latest', '--yes'] : ['--metrics-dir', join(tmp.path, 'metrics')])]
const restore = (extra: Record<string, string> = {}) => runScript('scripts/restore.ts', args('restore'), { env: env(extra), timeoutMs: 180_000 })
const running = () => readdirSync(state).filter((f) => f.endsWith('.running')).map((f) => f.replace(/\.running$/, '')).sort()
const sums = () => ({ app: contentChecksums(pg, 'app'), crm: contentChecksums(pg, 'crm') })
const REPLACED = "coalesce(shobj_description(oid, 'pg_database'), '') LIKE 'owp-replaced:%'"
/** The kit's databases a run left (scratch copies, copies set aside): none once a run converged. */
const kitDatabases = () => pg.sql(`SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database WHERE (datname LIKE '%owp_%' OR datname LIKE '%pre_restore%') AND NOT ${REPLACED}`)
/** What restores replaced and kept for the operator: "<database>=<comment>". */
const keptCopies = () => pg.sql(`SELECT string_agg(datname || '=' || shobj_description(oid, 'pg_database'), ',' ORDER BY datname) FROM pg_database WHERE ${REPLACED}`)
const dropKept = () => { for (const k of keptCopies().split(',').filter(Boolean)) pg.sql(`DROP DATABASE "${k.split('=')[0]}"`) }
const allWriters = [...WRITERS].sort()

/** Live data that differs from the backup, so that "intact" and "restored" can be told apart. */
function changeLive(tag: string): void {
  pg.sql(`UPDATE notes SET body = '${tag} ' || id`, 'app')
  pg.sql(`DELETE FROM leads WHERE id > 1500; INSERT INTO leads VALUES (99999, '${tag}')`, 'crm')
}

beforeAll(async () => {
  mkdirSync(state)
  mkdirSync(join(tmp.path, 'calls'))
  mkdirSync(join(tmp.path, 'staging'))
  writeFileSync(join(tmp.path, 'empty.env'), '')
  for (const w of WRITERS) writeFileSync(join(state, `${w}.running`), '')
  pg = await startPostgres()
  pg.sql('CREATE DATABASE app')
  pg.sql('CREATE DATABASE crm')
  pg.sql("CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes SELECT g, repeat('note ✓ ', 20) || g FROM generate_series(1, 20000) g", 'app')
  pg.sql("CREATE TABLE leads (id int PRIMARY KEY, name text); INSERT INTO leads SELECT g, 'lead ' || g FROM generate_series(1, 2000) g", 'crm')
  const b = await runScript('scripts/backup.ts', args('backup'), { env: env(), timeoutMs: 180_000 })
  expect(b.code, b.stderr).toBe(0)
  setId = listSets(dest, 'postgres')[0]!.id
  backedUp = sums()
})

afterAll(async () => {
  await pg?.stop()
  tmp.remove()
})

describe('restore faults (real PostgreSQL, compose target)', { timeout: 300_000 }, () => {
  it('F-RESTORE-PG-1: killed while the second database is restored beside the live ones: live data untouched, writers never stopped, the next run converges', async () => {
    changeLive('live-1')
    const live = sums()
    // app's restore never ends (databases restore two at a time): the kill lands while it runs,
    // after crm is restored and proven
    const k = startScript('scripts/restore.ts', args('restore'), env({ SHIM_HANG_MATCH: 'pg_restore --exit-on-error -d app_owp_new_' }))
    await killWhen(k, /postgres: crm restored beside the live database and proven/)
    expect(sums()).toEqual(live)
    // The writers run on beside the copies: they stop only right before the swap.
    expect(running()).toEqual(allWriters)
    expect(writerRecords()).toEqual([])
    const again = await restore()
    expect(again.code, again.stderr).toBe(0)
    expect(again.stderr).not.toMatch(/left writers stopped/)
    expect(again.stderr).toMatch(/dropped the scratch database .* of an interrupted restore/)
    const told = again.stderr.split('\n').filter((l) => l.includes('dropped the scratch database'))
    expect(told.length).toBeGreaterThan(0)
    expect(told, 'each told once on stderr').toEqual([...new Set(told)])
    expect(again.stdout).toMatch(/- first, after an interrupted restore: dropped the scratch database app_owp_new_\w+ of an interrupted restore of app/)
    expect(sums()).toEqual(backedUp)
    expect(kitDatabases()).toBe('')
    expect(running()).toEqual(allWriters)
  })

  it('F-RESTORE-PG-2: killed right after the swap, with BACKUP_RESTORE_KEEP_PREVIOUS=false: every production name holds a database, the next run clears the old copies', async () => {
    changeLive('live-2')
    dropKept()
    const dropping = { BACKUP_RESTORE_KEEP_PREVIOUS: 'false' }
    // the drop of the old copies never reaches the server: the kill lands between the swap and it
    const k = startScript('scripts/restore.ts', args('restore'), env({ ...dropping, SHIM_HANG_MATCH: 'DROP DATABASE IF EXISTS "[a-z]+_owp_old_' }))
    await killWhen(k, /postgres: swapped in/)
    expect(pg.sql("SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database WHERE datname IN ('app', 'crm')")).toBe('app,crm')
    expect(sums()).toEqual(backedUp)
    expect(kitDatabases()).toMatch(/_owp_old_/)
    const again = await restore(dropping)
    expect(again.code, again.stderr).toBe(0)
    expect(sums()).toEqual(backedUp)
    expect(kitDatabases()).toBe('')
    expect(keptCopies()).toBe('')
    expect(running()).toEqual(allWriters)
  })

  it('F-RESTORE-PG-6: killed right after the swap (the default keeps what the databases held): the kept copies are marked in the swap itself, hold the live data, and the next run names them and converges', async () => {
    changeLive('live-6')
    const live = sums()
    dropKept()
    // the swap commits; the run is killed on its next command: the writers' start never returns
    const ctl = join(tmp.path, 'start-hangs')
    writeFileSync(ctl, '#!/bin/sh\n[ "$1" = start ] && exec sleep 3600\nexit 0\n', { mode: 0o755 })
    const k = startScript('scripts/restore.ts', args('restore'), env({ SHIM_SERVICE_CTL: ctl }))
    await killWhen(k, /postgres: swapped in/)
    expect(sums()).toEqual(backedUp)
    expect(kitDatabases()).toBe('')
    const kept = keptCopies().split(',')
    expect(kept.map((k) => k.replace(/_owp_old_\w+=owp-replaced:(\w+):.*$/, ' of $1'))).toEqual(['app of app', 'crm of crm', 'postgres of postgres'])
    const keptApp = kept[0]!.split('=')[0]!
    expect(contentChecksums(pg, keptApp)).toEqual(live.app)
    const again = await restore()
    expect(again.code, again.stderr).toBe(0)
    // told on stderr, with the statement that drops each
    expect(again.stderr).toContain('earlier restores kept what they replaced')
    expect(again.stderr).toContain(`DROP DATABASE "${keptApp}";`)
    expect(sums()).toEqual(backedUp)
    expect(contentChecksums(pg, keptApp)).toEqual(live.app)
    expect(kitDatabases()).toBe('')
    expect(running()).toEqual(allWriters)
    dropKept()
  })

  it('F-RESTORE-PG-3: the restored copy fails its proof (row counts differ from the manifest): old data intact, writers running again', async () => {
    changeLive('live-3')
    const live = sums()
    const manifestFile = join(dest, 'postgres', setId, 'manifest.json')
    const original = readFileSync(manifestFile, 'utf8')
    const m = JSON.parse(original)
    m.details.databases.crm.tables['public.leads'] += 1
    writeFileSync(manifestFile, JSON.stringify(m))
    try {
      const r = await restore()
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/the restored copy of database crm does not match the backup; the live database is untouched/)
      expect(r.stderr).toContain('table public.leads has 2000 rows after the restore, 2001 in the backup')
      expect(r.stderr).not.toMatch(/writers stopped for the restore/) // a copy that fails its proof never stops them
    } finally {
      writeFileSync(manifestFile, original)
    }
    expect(sums()).toEqual(live)
    expect(kitDatabases()).toBe('')
    expect(running()).toEqual(allWriters)
  })

  it('F-RESTORE-PG-5: a dump that differs from its manifest (size equal), found while its copy is restored beside production: exit 1, the writers never stopped, nothing changed', async () => {
    changeLive('live-5')
    const live = sums()
    const file = join(dest, 'postgres', setId, 'db-app.dump')
    const original = readFileSync(file)
    const bad = Buffer.from(original)
    bad[bad.length >> 1]! ^= 0xff
    writeFileSync(file, bad)
    try {
      const r = await restore()
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/does not match its manifest, nothing was restored:\n\s+db-app\.dump: sha256 /)
      expect(r.stderr).not.toMatch(/writers stopped for the restore/)
    } finally {
      writeFileSync(file, original)
    }
    expect(sums()).toEqual(live)
    expect(kitDatabases()).toBe('')
    expect(running()).toEqual(allWriters)
    expect(writerRecords()).toEqual([])
  })

  it('a postgres image without bash: the restore loads and proves each database with PostgreSQL\'s own programs', async () => {
    changeLive('live-6')
    // the container's PATH holds PostgreSQL's programs and no bash
    const r = await runScript('scripts/restore.ts', args('restore'), { env: env({ SHIM_POSTGRES_ENV: `PATH=${PG_BIN} PGHOST=127.0.0.1 PGPORT=${pg.port} PGPASSWORD=${pg.password}` }), timeoutMs: 180_000 })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/postgres: app restored beside the live database and proven \(row counts equal\)/)
    expect(sums()).toEqual(backedUp)
    expect(kitDatabases()).toBe('')
  })

  it('the escrowed configuration is restored without stopping the writers (it is written beside the .env), and refused without --identity before anything', async () => {
    which('age-keygen')
    const key = join(tmp.path, 'config.key')
    execFileSync('age-keygen', ['-o', key], { stdio: 'pipe' })
    const recipient = execFileSync('age-keygen', ['-y', key]).toString().trim()
    const envFile = join(tmp.path, 'config.env')
    writeFileSync(envFile, 'WEBUI_NAME=escrowed\n', { mode: 0o600 })
    const configDest = join(tmp.path, 'config-dest')
    const common = ['--store', 'config', '--target', 'compose', '--env-file', envFile, '--dest', configDest]
    const b = await runScript('scripts/backup.ts', [...common, '--config-recipient', recipient, '--metrics-dir', join(tmp.path, 'metrics')], { env: env() })
    expect(b.code, b.stderr).toBe(0)
    const refused = await runScript('scripts/restore.ts', [...common, '--from', 'latest', '--yes'], { env: env() })
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('is encrypted: pass --identity <age key file>')
    const r = await runScript('scripts/restore.ts', [...common, '--from', 'latest', '--yes', '--identity', key], { env: env() })
    expect(r.code, r.stderr).toBe(0)
    expect(readFileSync(`${envFile}.restored-${listSets(configDest, 'config')[0]!.id}`, 'utf8')).toBe('WEBUI_NAME=escrowed\n')
    for (const run of [refused, r]) expect(run.stderr).not.toMatch(/writers stopped for the restore/)
    expect(running()).toEqual(allWriters)
  })

  it('F-RESTORE-PG-4: a database left set aside by an older kit (<name>_pre_restore_<time>, no database under its name) is put back, not "already exists"', async () => {
    pg.sql('ALTER DATABASE app RENAME TO app_pre_restore_20250101t000000z')
    const r = await restore()
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toContain('put app back under its name')
    expect(sums()).toEqual(backedUp)
    expect(kitDatabases()).toBe('')
    expect(writerRecords()).toEqual([])
    rmSync(join(tmp.path, 'calls'), { recursive: true, force: true }); mkdirSync(join(tmp.path, 'calls'))
  })

  it('F-WRITERS-1: killed with the writers stopped, then some of their containers removed (a drill\'s scratch project torn down, `compose down`): the next run starts those that exist and restores', async () => {
    changeLive('live-w1')
    const k = startScript('scripts/restore.ts', args('restore'), env())
    await killWhen(k, /writers stopped for the restore/)
    expect(writerRecords()).toHaveLength(1)
    expect(stoppedOnes()).toEqual(allWriters)
    // their containers are gone: compose cannot start a service that has none
    for (const w of ['openwebui', 'mcp-server']) rmSync(join(state, `${w}.stopped`))
    const again = await restore()
    expect(again.code, again.stderr).toBe(0)
    expect(again.stderr).toMatch(/interrupted restore .* left writers stopped: starting graphrag-processor, celery-worker, celery-beat\n/)
    expect(again.stderr).toMatch(/had stopped openwebui, mcp-server, which no longer exist in the project: nothing to start there/)
    expect(sums()).toEqual(backedUp)
    expect(running()).toEqual(allWriters.filter((w) => !['openwebui', 'mcp-server'].includes(w)))
    expect(writerRecords()).toEqual([])
    for (const w of ['openwebui', 'mcp-server']) writeFileSync(join(state, `${w}.running`), '')
  })

  it('F-WRITERS-2: a second restore of the same project while the first has the writers stopped: exit 75, it starts nothing; the first finishes and starts them', async () => {
    changeLive('live-w2')
    const first = startScript('scripts/restore.ts', args('restore'), env())
    try {
      await waitFor(first, /writers stopped for the restore/)
      freezeTree(first, true) // alive, its leases fresh, the writers stopped
      const second = await restore()
      expect(second.code, second.stderr).toBe(75)
      expect(second.stderr).toMatch(/another restore of compose project owp \(its writers stopped\) is running/)
      expect(second.stderr).not.toMatch(/starting|started again/)
      expect(running()).toEqual([])
      freezeTree(first, false)
      expect(await first.done, first.stderr()).toBe(0)
    } finally { freezeTree(first, false); killTree(first) }
    expect(sums()).toEqual(backedUp)
    expect(running()).toEqual(allWriters)
    expect(writerRecords()).toEqual([])
  })
})
