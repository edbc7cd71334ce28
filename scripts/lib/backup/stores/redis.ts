// Redis: an RDB snapshot through `redis-cli --rdb` (a replica-style SYNC) or BGSAVE with LASTSAVE
// polling; verified with redis-check-rdb of the server's own version (next to the server: a
// newer server writes RDB versions an older checker rejects). Restore swaps the RDB in and lets
// the server restart; with AOF on, the AOF is turned off first and rebuilt with the restored RDB
// as its base: an existing (or empty) AOF would otherwise win over the RDB at startup. The data
// directory's free space is checked first: the incoming RDB (and its AOF base copy) sit beside
// the live files.
import { join } from 'node:path'
import { KitError } from '../../core/errors.ts'
import type { Ctx } from '../../core/context.ts'
import { failureReason, exitCodeAndWhy } from '../../core/exec.ts'
import { finishFile, partialPath } from '../manifest.ts'
import { fileFrom, fileTo } from '../targets.ts'
import { ensureSpace } from '../space.ts'
import type { DriverRun, DumpResult, KeptCopies, Manifest, RestoreResult, StoreDriver, VerifyResult } from '../types.ts'
import { keptFiles } from './kept-files.ts'

interface RedisDetails { keys?: number; expires?: number; keyspace: number; method: string; dir: string }

const RDB = 'dump.rdb'
const ERROR_REPLY = /^(ERR|NOAUTH|WRONGPASS|LOADING|MISCONF|BUSY|NOPERM|READONLY|WRONGTYPE|NOREPLICAS|MASTERDOWN)\b/

function redisConn(run: DriverRun): { args: string[]; secretEnv: Record<string, string> } {
  const e = run.settings.env
  const direct = run.target.kind === 'direct'
  const host = direct ? e.REDIS_HOST ?? '127.0.0.1' : '127.0.0.1'
  const port = direct ? e.REDIS_PORT ?? '6379' : '6379'
  const password = e.REDISCLI_AUTH ?? e.REDIS_PASSWORD
  return { args: ['-h', host, '-p', port], secretEnv: password ? { REDISCLI_AUTH: password } : {} }
}

/** One redis-cli command; an error reply (printed with exit 0) becomes an exception. */
export async function redisCli(ctx: Ctx, run: DriverRun, args: string[], o: { mutates?: boolean; allowFailure?: boolean } = {}): Promise<string> {
  const c = redisConn(run)
  const r = await run.target.run(ctx, 'redis', ['redis-cli', ...c.args, ...args], { secretEnv: c.secretEnv, mutates: o.mutates, allowFailure: true, timeout: 120_000 })
  const out = r.stdout.trim()
  if (!o.allowFailure && (r.exitCode !== 0 || ERROR_REPLY.test(out))) {
    // an error reply comes on stdout with exit 0; else why redis-cli itself failed (cannot connect, ...)
    const why = r.exitCode === 0 ? ctx.secrets.mask(out.split('\n')[0] ?? '') : failureReason(ctx, r)
    throw new KitError(`redis-cli ${args[0]} failed: ${why}`)
  }
  return out
}

/** CONFIG GET with several parameters answers name/value pairs in any order. */
export function parsePairs(out: string): Record<string, string> {
  const lines = out.split('\n')
  const m: Record<string, string> = {}
  for (let i = 0; i + 1 < lines.length; i += 2) m[lines[i]!] = lines[i + 1]!
  return m
}

/** Total keys over all databases from INFO keyspace. */
export function keyspaceKeys(info: string): number {
  let n = 0
  for (const m of info.matchAll(/^db\d+:keys=(\d+)/gm)) n += Number(m[1])
  return n
}

/** redis-check-rdb's summary: keys read, keys with an expiry. */
export function parseCheck(out: string): { keys: number; expires: number } | null {
  const keys = /(\d+) keys read/.exec(out)
  const expires = /(\d+) expires/.exec(out)
  return keys ? { keys: Number(keys[1]), expires: expires ? Number(expires[1]) : 0 } : null
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function bgsave(ctx: Ctx, run: DriverRun, local: string): Promise<void> {
  const before = Number(await redisCli(ctx, run, ['LASTSAVE']))
  // LASTSAVE has one-second resolution: a save in the same second would look like no save.
  if (Math.floor(Date.now() / 1000) <= before) await delay(1100)
  const reply = await redisCli(ctx, run, ['BGSAVE', 'SCHEDULE'], { mutates: true })
  if (ctx.dryRun) return
  ctx.log.info(`redis: ${reply}`)
  const deadline = Date.now() + run.settings.timeoutMs
  while (Number(await redisCli(ctx, run, ['LASTSAVE'])) <= before) {
    const info = await redisCli(ctx, run, ['INFO', 'persistence'])
    if (/rdb_last_bgsave_status:err/.test(info) && !/rdb_bgsave_in_progress:1/.test(info)) throw new KitError('redis: BGSAVE failed (rdb_last_bgsave_status:err); see the server log')
    if (Date.now() > deadline) throw new KitError(`redis: BGSAVE did not finish within ${run.settings.timeoutMs}ms`)
    await delay(200)
  }
  const cfg = parsePairs(await redisCli(ctx, run, ['CONFIG', 'GET', 'dir', 'dbfilename']))
  await run.target.copyFrom(ctx, 'redis', `${cfg.dir}/${cfg.dbfilename}`, local)
}

/** What restores kept in the data directory (the RDB and AOF directory each swap replaced), for the metrics. */
async function keptByRestores(ctx: Ctx, run: DriverRun): Promise<KeptCopies | undefined> {
  if (ctx.dryRun) return undefined
  const cfg = parsePairs(await redisCli(ctx, run, ['CONFIG', 'GET', 'dir', 'dbfilename', 'appenddirname']).catch(() => ''))
  if (!cfg.dir) return undefined
  return keptFiles(ctx, run.target, 'redis', cfg.dir, [`${cfg.dbfilename ?? RDB}.pre-restore-`, `${cfg.appenddirname ?? 'appendonlydir'}.pre-restore-`])
}

async function backup(ctx: Ctx, run: DriverRun): Promise<DumpResult> {
  const c = redisConn(run)
  const tool = (await run.target.run(ctx, 'redis', ['redis-cli', '--version'])).stdout.trim()
  const info = await redisCli(ctx, run, ['INFO', 'server'])
  const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown'
  const keyspace = keyspaceKeys(await redisCli(ctx, run, ['INFO', 'keyspace']))
  // Files next to the server go to its data directory: a disk-backed volume, unlike a tmpfs /tmp.
  const dir = run.target.kind === 'direct' ? '' : parsePairs(await redisCli(ctx, run, ['CONFIG', 'GET', 'dir'])).dir ?? '/data'
  const started = Date.now()
  const local = partialPath(run.dir, RDB)
  if (run.settings.redisMethod === 'bgsave') {
    await bgsave(ctx, run, local)
  } else {
    // --rdb - would append the replication EOF marker to stdout: write a file where redis-cli runs.
    await fileFrom(ctx, run.target, 'redis', local, dir, async (there) => {
      await run.target.run(ctx, 'redis', ['redis-cli', ...c.args, '--rdb', there], { secretEnv: c.secretEnv, mutates: true, timeout: run.settings.timeoutMs, title: 'redis-cli --rdb' })
    })
  }
  if (!ctx.dryRun) finishFile(run.dir, RDB)
  const details: RedisDetails = { keyspace, method: run.settings.redisMethod, dir }
  const kept = await keptByRestores(ctx, run)
  return { files: [{ name: RDB, kind: 'rdb', durationMs: Date.now() - started }], tools: { 'redis-cli': tool }, server: { version }, details: details as unknown as Record<string, unknown>, kept }
}

async function verify(ctx: Ctx, run: DriverRun, dump: DumpResult): Promise<VerifyResult> {
  const details = dump.details as unknown as RedisDetails
  const out = await fileTo(ctx, run.target, 'redis', join(run.dir, RDB), details.dir, async (there) => {
    const r = await run.target.run(ctx, 'redis', ['redis-check-rdb', there], { mutates: true, allowFailure: true, timeout: run.settings.timeoutMs })
    if (r.exitCode !== 0 || !/RDB looks OK/.test(r.stdout)) {
      const found = (r.stdout + r.stderr).split('\n').filter((l) => /error|unexpected|checksum|can't|not/i.test(l)).slice(0, 4).join('; ')
      throw new KitError(`verification of ${RDB} failed: redis-check-rdb exited ${found ? `${r.exitCode}: ${ctx.secrets.mask(found)}` : exitCodeAndWhy(ctx, r)}`)
    }
    return r.stdout
  })
  const sums = parseCheck(out)
  if (sums) { details.keys = sums.keys; details.expires = sums.expires }
  return { method: 'redis-check-rdb', detail: sums ? `${sums.keys} keys (${sums.expires} with an expiry)` : undefined }
}

/**
 * A shell script (argv-safe: values are positional parameters) that puts the RDB in place. What it
 * replaces is kept under ".pre-restore-<set id>", or "<set id>.2", ".3"... when an earlier restore of
 * the same set kept its own copy there (never overwritten); it prints "kept <that suffix>".
 */
export const SWAP_SCRIPT = `set -e
cd "$1"
owner=$(stat -c %u:%g .)
s="$6"; n=1
while [ -e "$2.pre-restore-$s" ] || [ -e "$3.pre-restore-$s" ]; do n=$((n+1)); s="$6.$n"; done
if [ "$5" = yes ]; then
  if [ -e "$3" ]; then mv "$3" "$3.pre-restore-$s"; fi
  mkdir "$3"
  cp "$2.owp-restore" "$3/$4.1.base.rdb"
  : > "$3/$4.1.incr.aof"
  printf 'file %s seq 1 type b\\nfile %s seq 1 type i\\n' "$4.1.base.rdb" "$4.1.incr.aof" > "$3/$4.manifest"
  chmod 0644 "$3"/*
  chown -R "$owner" "$3" 2>/dev/null || true
fi
chmod 0644 "$2.owp-restore"
chown "$owner" "$2.owp-restore" 2>/dev/null || true
if [ -e "$2" ]; then mv "$2" "$2.pre-restore-$s"; fi
mv "$2.owp-restore" "$2"
echo "kept $s"
`

/** Puts back what SWAP_SCRIPT set aside (same positional parameters, $6 the suffix it printed): the previous RDB and AOF. */
export const UNDO_SCRIPT = `set -e
cd "$1"
if [ -e "$2.pre-restore-$6" ]; then mv -f "$2.pre-restore-$6" "$2"; fi
if [ "$5" = yes ] && [ -e "$3.pre-restore-$6" ]; then rm -rf "$3"; mv "$3.pre-restore-$6" "$3"; fi
`

async function waitForRedis(ctx: Ctx, run: DriverRun): Promise<void> {
  const deadline = Date.now() + Math.min(run.settings.timeoutMs, 300_000)
  for (;;) {
    const out = await redisCli(ctx, run, ['PING'], { allowFailure: true }).catch(() => '')
    if (out === 'PONG') return
    if (Date.now() > deadline) {
      throw new KitError('redis did not come back after the restore', 1,
        'start it (the restored dump.rdb and AOF are in its data directory); a direct target needs a supervisor (systemd Restart=always) to restart it')
    }
    await delay(200)
  }
}

async function restore(ctx: Ctx, run: DriverRun, manifest: Manifest): Promise<RestoreResult> {
  const details = manifest.details as unknown as RedisDetails
  const cfg = parsePairs(await redisCli(ctx, run, ['CONFIG', 'GET', 'dir', 'dbfilename', 'appendonly', 'appenddirname', 'appendfilename']))
  const dir = cfg.dir ?? '/data'
  const aof = cfg.appendonly === 'yes'
  if (run.target.kind === 'direct') {
    const here = await run.target.run(ctx, 'redis', ['test', '-d', dir], { allowFailure: true })
    if (here.exitCode !== 0) {
      throw new KitError(`the Redis data directory ${dir} is not on this host`, 1,
        'a direct restore swaps the RDB file in: run it on the Redis host, or use --target compose|k8s')
    }
  }
  const result: RestoreResult = { restored: [], warnings: [] }
  const incoming = `${dir}/${cfg.dbfilename ?? RDB}.owp-restore`
  // The live RDB and AOF are moved aside (a rename); the incoming RDB, and with AOF its copy as the new base, take room.
  const rdb = manifest.files.find((f) => f.kind === 'rdb')
  const bytes = rdb?.plain?.bytes ?? rdb?.bytes ?? 0
  await ensureSpace(ctx, run.target, 'redis', dir, aof ? 2 * bytes : bytes, `the ${RDB} to restore beside the live one${aof ? ' and its copy as the base of the new AOF' : ''}`)
  await run.target.copyTo(ctx, 'redis', join(run.dir, RDB), incoming)
  // Prove the new file where the server will read it, before the live RDB is touched.
  if (!ctx.dryRun) {
    const check = await run.target.run(ctx, 'redis', ['redis-check-rdb', incoming], { mutates: true, allowFailure: true, timeout: run.settings.timeoutMs })
    const sums = parseCheck(check.stdout)
    const problem = check.exitCode !== 0 || !/RDB looks OK/.test(check.stdout) ? `redis-check-rdb exited ${exitCodeAndWhy(ctx, check)}`
      : details.keys !== undefined && sums && sums.keys !== details.keys ? `it holds ${sums.keys} keys, the manifest says ${details.keys}` : null
    if (problem) {
      await run.target.run(ctx, 'redis', ['rm', '-f', incoming], { mutates: true, allowFailure: true })
      throw new KitError(`the ${RDB} to restore failed its check (${problem}); the live Redis data is untouched`)
    }
  }
  const params = ['sh', dir, cfg.dbfilename ?? RDB, cfg.appenddirname ?? 'appendonlydir', cfg.appendfilename ?? 'appendonly.aof', aof ? 'yes' : 'no', run.id]
  // AOF off first: while it is on, the server would keep writing it, and at startup it wins over the RDB.
  if (aof) await redisCli(ctx, run, ['CONFIG', 'SET', 'appendonly', 'no'], { mutates: true })
  const swapped = await run.target.run(ctx, 'redis', ['sh', '-c', SWAP_SCRIPT, ...params], { mutates: true, timeout: 600_000 })
  const suffix = /^kept (\S+)$/m.exec(swapped.stdout)?.[1] ?? run.id
  params[6] = suffix // the undo puts back what this swap set aside
  // NOSAVE: a save on shutdown would overwrite the RDB we just put in place.
  await redisCli(ctx, run, ['SHUTDOWN', 'NOSAVE'], { mutates: true, allowFailure: true })
  if (ctx.dryRun) return { restored: [`${RDB} into ${dir}`], warnings: [] }
  await delay(300)
  await run.target.restarted(ctx, 'redis')
  await waitForRedis(ctx, run)
  const keys = keyspaceKeys(await redisCli(ctx, run, ['INFO', 'keyspace']))
  // Keys whose expiry passed since the backup are dropped at load: only those may be missing.
  const min = (details.keys ?? 0) - (details.expires ?? 0)
  if (details.keys !== undefined && (keys < min || keys > details.keys)) {
    // The server did not load what was proven: put the previous data back and restart on it.
    await run.target.run(ctx, 'redis', ['sh', '-c', UNDO_SCRIPT, ...params], { mutates: true, timeout: 600_000 })
    await redisCli(ctx, run, ['SHUTDOWN', 'NOSAVE'], { mutates: true, allowFailure: true })
    await delay(300)
    await run.target.restarted(ctx, 'redis')
    await waitForRedis(ctx, run)
    throw new KitError(`redis held ${keys} keys after the restore, the backup has ${details.keys} (${details.expires ?? 0} with an expiry): the previous data was put back`)
  }
  result.warnings.push(`the previous ${cfg.dbfilename ?? RDB} is kept as ${cfg.dbfilename ?? RDB}.pre-restore-${suffix} in ${dir}`)
  result.restored.push(`${RDB} into ${dir}: ${keys} keys loaded${aof ? `; AOF rebuilt on the restored RDB (the previous AOF is kept as ${cfg.appenddirname ?? 'appendonlydir'}.pre-restore-${suffix})` : ''}`)
  return result
}

export const redisDriver: StoreDriver = {
  name: 'redis',
  backup,
  verify,
  restore,
  describeRestore: () => 'the whole Redis dataset (the server restarts)',
}
