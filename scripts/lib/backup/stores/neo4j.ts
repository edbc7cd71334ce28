// Neo4j community has no online backup. Two ways, chosen with --neo4j-mode:
//  offline (default): stop Neo4j, `neo4j-admin database dump` of system and neo4j, start it again.
//    Exact and consistent, but Neo4j is down for the dump: only with --maintenance-window.
//  apoc: `apoc.export.cypher.all` while Neo4j runs (needs APOC and apoc.export.file.enabled=true).
//    No downtime, but the export is not a single consistent snapshot and is slower to load.
// Restores set the current data aside first: offline, every archive is read back (load --info),
// each current database is dumped aside and read back, then loaded over; a failed load (the real
// one empties the database first) loads the copies back. APOC: a server-side export first.
import { chmodSync, mkdirSync, readFileSync, renameSync, openSync, readSync, closeSync, copyFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { randomBytes } from 'node:crypto'
import { KitError } from '../../core/errors.ts'
import type { Ctx } from '../../core/context.ts'
import { finishFile, partialPath } from '../manifest.ts'
import { fileTo } from '../targets.ts'
import { dfFree, ensureSpace, requireSpace } from '../space.ts'
import type { DriverRun, DumpResult, Manifest, ProducedFile, RestoreResult, StoreDriver, VerifyResult } from '../types.ts'
import { failureReason } from '../../core/exec.ts'

interface Neo4jDetails { mode: 'offline' | 'apoc'; databases: string[]; info?: Record<string, string>; nodes?: number; relationships?: number }

/** Archive magic of neo4j-admin dumps (DZV1: zstd, DGV1: gzip). */
export const DUMP_MAGIC = ['DZV1', 'DGV1']

function databases(run: DriverRun): string[] {
  return ['system', run.settings.env.NEO4J_DATABASE ?? 'neo4j']
}

function ioDir(run: DriverRun): string {
  const io = join(run.scratch, 'io')
  mkdirSync(io, { recursive: true })
  // The admin command runs as the neo4j user inside a container that mounts this directory.
  chmodSync(io, 0o777)
  return io
}

function cypherShell(run: DriverRun): { argv: string[]; env: Record<string, string>; secretEnv: Record<string, string> } {
  const e = run.settings.env
  const direct = run.target.kind === 'direct'
  const argv = ['cypher-shell', ...(direct && e.NEO4J_URI ? ['-a', e.NEO4J_URI] : []), '--format', 'plain']
  return { argv, env: { NEO4J_USERNAME: e.NEO4J_USERNAME ?? 'neo4j' }, secretEnv: e.NEO4J_PASSWORD ? { NEO4J_PASSWORD: e.NEO4J_PASSWORD } : {} }
}

async function cypher(ctx: Ctx, run: DriverRun, query: string, o: { mutates?: boolean } = {}): Promise<string[]> {
  const c = cypherShell(run)
  const r = await run.target.run(ctx, 'neo4j', [...c.argv, query], { env: c.env, secretEnv: c.secretEnv, mutates: o.mutates, timeout: run.settings.timeoutMs })
  return r.stdout.split('\n').filter((l) => l.trim() !== '')
}

async function backupOffline(ctx: Ctx, run: DriverRun): Promise<DumpResult> {
  const io = ioDir(run)
  const dbs = databases(run)
  const details: Neo4jDetails = { mode: 'offline', databases: dbs, info: {} }
  const files: ProducedFile[] = []
  let tool = ''
  await run.target.offline(ctx, 'neo4j', { localDir: io, collect: dbs.map((d) => `${d}.dump`) }, async (admin, ioPath) => {
    tool = (await admin(['neo4j-admin', '--version'])).stdout.trim()
    for (const db of dbs) {
      const started = Date.now()
      await admin(['neo4j-admin', 'database', 'dump', db, `--to-path=${ioPath}`], { timeout: run.settings.timeoutMs, title: `neo4j-admin dump ${db}` })
      files.push({ name: `${db}.dump`, kind: 'dump', of: db, durationMs: Date.now() - started })
    }
    // Inside the window, with the same neo4j-admin: read back each archive's metadata.
    if (run.verify) for (const db of dbs) details.info![db] = (await admin(['neo4j-admin', 'database', 'load', '--info', `--from-path=${ioPath}`, db])).stdout.trim()
  })
  if (!ctx.dryRun) for (const db of dbs) { renameSync(join(io, `${db}.dump`), partialPath(run.dir, `${db}.dump`)); finishFile(run.dir, `${db}.dump`) }
  return { files, tools: { 'neo4j-admin': tool }, server: { version: tool.replace(/^\D*/, '') || 'unknown' }, details: details as unknown as Record<string, unknown> }
}

async function backupApoc(ctx: Ctx, run: DriverRun): Promise<DumpResult> {
  const name = `owp-backup-${run.id}.cypher`
  const importDir = run.settings.env.NEO4J_IMPORT_DIR ?? '/var/lib/neo4j/import'
  const started = Date.now()
  const [version] = (await cypher(ctx, run, 'CALL dbms.components() YIELD versions RETURN versions[0]')).slice(-1)
  const out = await cypher(ctx, run, `CALL apoc.export.cypher.all('${name}', {format: 'cypher-shell', useOptimizations: {type: 'UNWIND_BATCH', unwindBatchSize: 1000}}) YIELD nodes, relationships RETURN nodes, relationships`, { mutates: true })
  const [nodes, relationships] = (out.slice(-1)[0] ?? '').split(',').map((s) => Number(s.trim()))
  await run.target.copyFrom(ctx, 'neo4j', `${importDir}/${name}`, partialPath(run.dir, 'neo4j.cypher'))
  await run.target.run(ctx, 'neo4j', ['rm', '-f', `${importDir}/${name}`], { mutates: true, allowFailure: true })
  if (!ctx.dryRun) finishFile(run.dir, 'neo4j.cypher')
  const details: Neo4jDetails = { mode: 'apoc', databases: [run.settings.env.NEO4J_DATABASE ?? 'neo4j'], nodes, relationships }
  return {
    files: [{ name: 'neo4j.cypher', kind: 'cypher', of: details.databases[0], durationMs: Date.now() - started }],
    tools: { 'cypher-shell': 'apoc.export.cypher.all' }, server: { version: (version ?? 'unknown').replace(/"/g, '') }, details: details as unknown as Record<string, unknown>,
  }
}

function headOf(path: string, n = 4): string {
  const fd = openSync(path, 'r')
  try { const b = Buffer.alloc(n); const got = readSync(fd, b, 0, n, 0); return b.subarray(0, got).toString('latin1') } finally { closeSync(fd) }
}

async function verify(_ctx: Ctx, run: DriverRun, dump: DumpResult): Promise<VerifyResult> {
  const details = dump.details as unknown as Neo4jDetails
  if (details.mode === 'apoc') {
    const text = readFileSync(join(run.dir, 'neo4j.cypher'), 'utf8').trimEnd()
    if (!text.endsWith(':commit') && !text.endsWith(';')) throw new KitError('verification of neo4j.cypher failed: the export does not end with a complete statement')
    return { method: 'APOC export ends with a complete transaction', detail: `${details.nodes ?? '?'} nodes, ${details.relationships ?? '?'} relationships` }
  }
  for (const db of details.databases) {
    const head = headOf(join(run.dir, `${db}.dump`))
    if (!DUMP_MAGIC.includes(head)) throw new KitError(`verification of ${db}.dump failed: not a neo4j-admin archive (header ${JSON.stringify(head)})`)
    if (!details.info?.[db]) throw new KitError(`verification of ${db}.dump failed: neo4j-admin database load --info printed nothing`)
  }
  return { method: 'neo4j-admin database load --info on each archive, archive header', detail: details.databases.join(', ') }
}

async function restore(ctx: Ctx, run: DriverRun, manifest: Manifest): Promise<RestoreResult> {
  const details = manifest.details as unknown as Neo4jDetails
  if (details.mode === 'apoc') {
    const c = cypherShell(run)
    const importDir = run.settings.env.NEO4J_IMPORT_DIR ?? '/var/lib/neo4j/import'
    // A copy of the current graph first, on the server: the replay below starts by deleting everything.
    // Its name is this run's alone: a copy an earlier run could not replay is kept, never overwritten.
    const safety = `owp-pre-restore-${run.id}-${randomBytes(4).toString('hex')}.cypher`
    if (!ctx.dryRun) {
      // The export of today's graph (the set's export scaled by today's node count) and, off this host, the export to replay.
      const bytes = setFileBytes(manifest, 'neo4j.cypher')
      const now = Number((await cypher(ctx, run, 'MATCH (n) RETURN count(n)')).slice(-1)[0])
      const current = details.nodes && Number.isFinite(now) ? Math.ceil((bytes * now) / details.nodes) : bytes
      const replayed = run.target.kind === 'direct' ? 0 : bytes
      await ensureSpace(ctx, run.target, 'neo4j', importDir, current + replayed, `the export of the current graph set aside${replayed ? ' and the export to replay' : ''}`)
    }
    await cypher(ctx, run, `CALL apoc.export.cypher.all('${safety}', {format: 'cypher-shell', useOptimizations: {type: 'UNWIND_BATCH', unwindBatchSize: 1000}}) YIELD nodes RETURN nodes`, { mutates: true })
    const empty = async () => {
      await cypher(ctx, run, 'MATCH (n) CALL { WITH n DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS', { mutates: true })
      await cypher(ctx, run, 'CALL apoc.schema.assert({}, {}, true)', { mutates: true })
    }
    const replay = (file: string) => run.target.run(ctx, 'neo4j', [...c.argv, '--file', file], { env: c.env, secretEnv: c.secretEnv, mutates: true, timeout: run.settings.timeoutMs })
    let count: string | undefined
    try {
      await empty()
      await fileTo(ctx, run.target, 'neo4j', join(run.dir, 'neo4j.cypher'), importDir, replay)
      ;[count] = (await cypher(ctx, run, 'MATCH (n) RETURN count(n)')).slice(-1)
      if (!ctx.dryRun && details.nodes !== undefined && Number(count) !== details.nodes) throw new KitError(`the replayed graph has ${count} nodes, the export ${details.nodes}`)
    } catch (e) {
      ctx.log.warn(`neo4j: the replay failed: putting the previous graph back from ${importDir}/${safety}`)
      try { await empty(); await replay(`${importDir}/${safety}`) } catch (u) {
        throw new KitError(`the APOC restore failed (${(e as Error).message}) and the previous graph could not be replayed: it is kept in ${importDir}/${safety}: ${(u as Error).message}`)
      }
      await run.target.run(ctx, 'neo4j', ['rm', '-f', `${importDir}/${safety}`], { mutates: true, allowFailure: true })
      throw new KitError(`the APOC restore failed; the previous graph was put back: ${(e as Error).message}`)
    }
    await run.target.run(ctx, 'neo4j', ['rm', '-f', `${importDir}/${safety}`], { mutates: true, allowFailure: true })
    return { restored: [`database ${details.databases[0]} from the APOC export (${count ?? '?'} nodes)`], warnings: [] }
  }
  const io = ioDir(run)
  for (const db of details.databases) copyFileSync(join(run.dir, `${db}.dump`), join(io, `${db}.dump`))
  const result: RestoreResult = { restored: [], warnings: [] }
  await run.target.offline(ctx, 'neo4j', { localDir: io, provide: details.databases.map((d) => `${d}.dump`) }, async (admin, ioPath) => {
    // 1. Each archive to restore is read back by this neo4j-admin before anything is overwritten.
    for (const db of details.databases) {
      const r = await admin(['neo4j-admin', 'database', 'load', '--info', `--from-path=${ioPath}`, db], { allowFailure: true })
      if (r.exitCode !== 0) throw new KitError(`the archive of database ${db} to restore failed its check (${failureReason(ctx, r, 1)}); nothing was overwritten`)
    }
    // 2. A verified copy of every current database aside, in the same window (Neo4j is stopped),
    // where there is room for them: today's dumps, estimated by the set's archives of the same databases.
    if (!ctx.dryRun) {
      const need = details.databases.reduce((n, db) => n + setFileBytes(manifest, `${db}.dump`), 0)
      const where = run.target.kind === 'k8s' ? `the neo4j maintenance pod:${ioPath}` : io
      requireSpace(ctx, `the copies of ${details.databases.join(', ')} set aside`, where, need, await dfFree((argv) => admin(argv, { allowFailure: true, timeout: 60_000 }), ioPath))
    }
    const aside = `${ioPath}/pre-restore`
    await admin(['mkdir', '-p', aside])
    const kept: string[] = []
    for (const db of details.databases) {
      const d = await admin(['neo4j-admin', 'database', 'dump', db, `--to-path=${aside}`], { allowFailure: true, timeout: run.settings.timeoutMs, title: `neo4j-admin dump ${db} (the copy set aside)` })
      if (d.exitCode !== 0) {
        if (/does not exist/i.test(d.stderr)) continue // nothing there to lose
        throw new KitError(`could not set a copy of database ${db} aside before the restore (${failureReason(ctx, d, 1)}); nothing was overwritten`)
      }
      const i = await admin(['neo4j-admin', 'database', 'load', '--info', `--from-path=${aside}`, db], { allowFailure: true })
      if (i.exitCode !== 0) throw new KitError(`the copy of database ${db} set aside before the restore is unreadable (${failureReason(ctx, i, 1)}); nothing was overwritten`)
      kept.push(db)
    }
    // 3. Load; a load that fails (half way: the real one empties the database first) puts every copy back.
    const touched: string[] = []
    try {
      for (const db of details.databases) {
        touched.push(db)
        await admin(['neo4j-admin', 'database', 'load', db, `--from-path=${ioPath}`, '--overwrite-destination=true'], { timeout: run.settings.timeoutMs, title: `neo4j-admin load ${db}` })
        result.restored.push(`database ${db} (neo4j-admin database load)`)
      }
    } catch (e) {
      ctx.log.warn(`neo4j: the load failed: putting the copies set aside back (${touched.filter((d) => kept.includes(d)).join(', ') || 'none'})`)
      const lost: string[] = []
      for (const db of touched.filter((d) => kept.includes(d))) {
        const b = await admin(['neo4j-admin', 'database', 'load', db, `--from-path=${aside}`, '--overwrite-destination=true'], { allowFailure: true, timeout: run.settings.timeoutMs, title: `neo4j-admin load ${db} (put back)` })
        if (b.exitCode !== 0) lost.push(`${db}: ${failureReason(ctx, b, 1)}`)
      }
      const msg = (e as Error).message
      if (lost.length) {
        const keep = keepAside(run, io)
        throw new KitError(`the offline restore failed (${msg}) and the previous databases could not all be put back (${lost.join('; ')})${keep ? `: their dumps are kept in ${keep}` : ''}`)
      }
      throw new KitError(`the offline restore failed; the previous databases were put back: ${msg}`)
    }
  })
  return result
}

/** The plain size of one file of the set. */
function setFileBytes(manifest: Manifest, name: string): number {
  const f = manifest.files.find((x) => x.name.replace(/\.age$/, '') === name)
  return f?.plain?.bytes ?? f?.bytes ?? 0
}

/** The set-aside dumps out of the run's scratch (removed on exit), for a put-back that failed. Local io only. */
function keepAside(run: DriverRun, io: string): string | null {
  if (run.target.kind === 'k8s') return null
  const keep = join(run.settings.env.BACKUP_STAGING_DIR ?? tmpdir(), `owp-neo4j-pre-restore-${run.id}`)
  try { renameSync(join(io, 'pre-restore'), keep); return keep } catch { return null }
}

export const neo4jDriver: StoreDriver = {
  name: 'neo4j',
  backup: (ctx, run) => (run.settings.neo4jMode === 'apoc' ? backupApoc(ctx, run) : backupOffline(ctx, run)),
  verify,
  restore,
  describeRestore: (m) => (m.details as unknown as Neo4jDetails).mode === 'apoc'
    ? 'every node, relationship, index and constraint of Neo4j (replayed from the APOC export)'
    : `the databases ${(m.details as unknown as Neo4jDetails).databases.join(', ')} (Neo4j is stopped during the load)`,
}
