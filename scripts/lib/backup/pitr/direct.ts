// Point-in-time recovery on this host: pgBackRest, pg_ctl and psql run as the server's OS user
// (setpriv when the kit runs as root: files pgBackRest writes must stay the server's). The
// restored copy goes to <PGDATA>.pitr-<id> beside the data directory; the switch stops the
// server with pg_ctl, renames (the old data becomes <PGDATA>.pre-pitr-<id>) and starts it with
// the options it last started with (postmaster.opts).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync, chmodSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { tmpdir } from 'node:os'
import { ConfigError, KitError } from '../../core/errors.ts'
import { shellQuote, oneLine, failureReason } from '../../core/exec.ts'
import { freePort } from '../../core/net.ts'
import type { Ctx } from '../../core/context.ts'
import { privateTmp } from '../staging.ts'
import { STANZA, restoreCommand, type PgSite } from './config.ts'
import type { PitrSite, ScratchServer, Switched } from './site.ts'
import { LIVE_SETTINGS_SQL, readStandbyOptions } from './standby.ts'

export function directSite(env: Record<string, string>): PitrSite {
  const problems: string[] = []
  const pgData = env.PGDATA ?? ''
  if (!pgData.startsWith('/')) problems.push('PGDATA must be the absolute path of the data directory (pgBackRest backs up and restores files)')
  const socket = env.PGHOST ?? '/var/run/postgresql'
  if (!socket.startsWith('/')) problems.push(`PGHOST=${socket}: pgBackRest reaches the server over its Unix socket: set PGHOST to the socket directory (e.g. /var/run/postgresql)`)
  if (problems.length) throw new ConfigError(problems, 'point-in-time recovery on this host (--target direct)')
  const pg: PgSite = { path: pgData, socket, port: Number(env.PGPORT ?? 5432), user: env.PGUSER ?? 'postgres' }
  const osUser = env.PITR_OS_USER ?? 'postgres'
  const bin = env.PG_BINDIR ?? '/usr/lib/postgresql/15/bin'
  const configPath = env.PGBACKREST_CONFIG ?? '/etc/pgbackrest/pgbackrest.conf'
  const runEnv = { PGBACKREST_CONFIG: configPath }
  const root = process.getuid?.() === 0 && osUser !== 'root'
  let ids: { uid: number; gid: number } | null = null

  const owner = async (ctx: Ctx) => {
    if (ids) return ids
    const uid = (await ctx.exec(['id', '-u', osUser])).stdout.trim()
    const gid = (await ctx.exec(['id', '-g', osUser])).stdout.trim()
    ids = { uid: Number(uid), gid: Number(gid) }
    return ids
  }
  const as = async (ctx: Ctx, argv: string[]): Promise<string[]> => {
    if (!root) return argv
    const { uid, gid } = await owner(ctx)
    return ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--init-groups', ...argv]
  }
  const psql = (sock: string, port: number) => async (ctx: Ctx, query: string, db = 'postgres') =>
    (await ctx.exec(await as(ctx, ['psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-h', sock, '-p', String(port), '-U', pg.user, '-d', db, '-c', query]),
      { env: runEnv, timeout: 60_000 })).stdout.trim()
  const pgCtl = async (ctx: Ctx, args: string[], o: { timeout: number; allowFailure?: boolean }) =>
    ctx.exec(await as(ctx, [join(bin, 'pg_ctl'), ...args]), { env: runEnv, mutates: true, timeout: o.timeout, allowFailure: o.allowFailure })
  const chownToServer = async (ctx: Ctx, path: string) => {
    if (!root) return
    const { uid, gid } = await owner(ctx)
    await ctx.exec(['chown', `${uid}:${gid}`, path], { mutates: true })
  }

  const site: PitrSite = {
    kind: 'direct',
    where: `postgres at ${pgData} (socket ${socket}, port ${pg.port})`,
    pg,
    localRepoPath: (dest) => join(dest, 'pgbackrest'),
    async pgbackrest(ctx, args, o = {}) {
      return ctx.exec(await as(ctx, ['pgbackrest', `--stanza=${STANZA}`, ...args]), { env: runEnv, mutates: o.mutates, timeout: o.timeout ?? 3_600_000, allowFailure: o.allowFailure })
    },
    async readConfig() {
      return existsSync(configPath) ? readFileSync(configPath, 'utf8') : null
    },
    async writeConfig(ctx, text) {
      if (ctx.dryRun) { ctx.out(`[dry-run] write ${configPath} (pgBackRest configuration)`); return }
      mkdirSync(dirname(configPath), { recursive: true })
      const tmp = `${configPath}.tmp-${process.pid}`
      writeFileSync(tmp, text, { mode: 0o640 })
      chmodSync(tmp, 0o640)
      await chownToServer(ctx, tmp)
      renameSync(tmp, configPath)
    },
    async prepareRepo(ctx, dest) {
      const path = join(dest, 'pgbackrest')
      if (ctx.dryRun || existsSync(path)) return
      mkdirSync(path, { recursive: true, mode: 0o750 })
      await chownToServer(ctx, path)
    },
    async beside(ctx, id) {
      const path = `${pgData}.pitr-${id}`
      if (existsSync(path)) throw new KitError(`${path} exists already: another restore left it (remove it, or wait for that restore)`)
      if (!ctx.dryRun) {
        mkdirSync(path, { mode: 0o700 })
        await chownToServer(ctx, path)
      }
      return { label: path, pgPath: path }
    },
    async restoreInto(ctx, b, args, timeout) {
      await site.pgbackrest(ctx, [`--pg1-path=${b.pgPath}`, ...args, 'restore'], { mutates: true, timeout })
    },
    async startScratch(ctx, b, timeout): Promise<ScratchServer> {
      const port = await freePort()
      const sock = privateTmp(tmpdir(), 'owp-pitr-sock-', { sweep: false })
      await chownToServer(ctx, sock)
      const log = join(sock, 'server.log')
      const stop = async () => { await pgCtl(ctx, ['stop', '-D', b.pgPath, '-m', 'fast', '-w'], { timeout: 120_000, allowFailure: true }); rmSync(sock, { recursive: true, force: true }) }
      const logTail = async () => (existsSync(log) ? readFileSync(log, 'utf8').trimEnd().split('\n').slice(-8).join('\n') : '')
      // the settings recovery checks: from the copy's control file and the running server
      const standby = await readStandbyOptions(ctx, {
        controlData: async () => ctx.exec(await as(ctx, [join(bin, 'pg_controldata'), b.pgPath]), { allowFailure: true, timeout: 60_000 }),
        live: () => psql(pg.socket, pg.port)(ctx, LIVE_SETTINGS_SQL),
      })
      const opts = ['-p', String(port), '-k', sock, '-c', 'listen_addresses=', '-c', 'archive_mode=off', '-c', `restore_command=${restoreCommand(b.pgPath)}`, ...standby]
      const r = await pgCtl(ctx, ['start', '-D', b.pgPath, '-w', '-t', String(Math.ceil(timeout / 1000)), '-l', log, '-o', shellQuote(opts)], { timeout: timeout + 30_000, allowFailure: true })
      if (r.exitCode !== 0 && !r.skipped) {
        const tail = await logTail()
        await stop()
        throw new KitError(`the restored copy did not start (${failureReason(ctx, r)})${tail ? `:\n${tail}` : ''}`)
      }
      const sql = psql(sock, port)
      return { sql: (q, db) => sql(ctx, q, db), logTail, stop }
    },
    async switchTo(ctx, b, id, timeout): Promise<Switched> {
      const optsFile = join(pgData, 'postmaster.opts')
      if (!existsSync(optsFile)) throw new KitError(`${optsFile} is missing: cannot know how the server starts, nothing was switched`, 1, `the restored copy is ready in ${b.pgPath}`)
      const startArgs = parsePostmasterOpts(readFileSync(optsFile, 'utf8'))
      const previous = `${pgData}.pre-pitr-${id}`
      const log = `${pgData}.pitr-${id}.log`
      const start = () => pgCtl(ctx, ['start', '-D', pgData, '-w', '-t', String(Math.ceil(timeout / 1000)), '-l', log, '-o', shellQuote(startArgs)], { timeout: timeout + 30_000 })
      await pgCtl(ctx, ['stop', '-D', pgData, '-m', 'fast', '-w'], { timeout: 600_000, allowFailure: true })
      const mv = (from: string, to: string) => ctx.dryRun ? ctx.out(`[dry-run] mv ${from} ${to}`) : renameSync(from, to)
      mv(pgData, previous)
      mv(b.pgPath, pgData)
      const undo = async () => {
        await pgCtl(ctx, ['stop', '-D', pgData, '-m', 'immediate', '-w'], { timeout: 120_000, allowFailure: true })
        mv(pgData, `${pgData}.pitr-failed-${id}`)
        mv(previous, pgData)
        await start()
      }
      try {
        await start()
      } catch (e) {
        ctx.log.error(`the restored data did not start in place: putting the previous data back (${oneLine((e as Error).message)})`)
        await undo()
        throw e
      }
      const sql = psql(socket, pg.port)
      return { previous, sql: (q, db) => sql(ctx, q, db), undo }
    },
    async discard(ctx, b) {
      if (ctx.dryRun) return
      rmSync(b.pgPath, { recursive: true, force: true })
    },
  }
  return site
}

/** The arguments of the server's last start, without the binary and its -D (postmaster.opts). */
export function parsePostmasterOpts(text: string): string[] {
  const line = text.trim()
  const first = line.indexOf(' "')
  if (first < 0) return []
  const body = line.slice(first + 1)
  const args = body.slice(1, -1).split('" "')
  const out: string[] = []
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-D') { i++; continue }
    out.push(args[i]!)
  }
  return out
}
