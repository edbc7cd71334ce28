// A server that replays another server's WAL must run with these settings at least as high as the
// server that wrote it, or PostgreSQL aborts recovery ("recovery aborted because of insufficient
// parameter settings"). The scratch server of a point-in-time restore starts with the highest value
// of two sources: the restored copy's control file (what the primary ran with at the backup) and
// the running production server (a value raised since then reaches the WAL as a parameter change).
import type { Ctx } from '../../core/context.ts'
import type { ExecResult } from '../../core/exec.ts'

/** Setting name -> its line in `pg_controldata`. */
const CONTROL_LINES: Record<string, string> = {
  max_connections: 'max_connections setting',
  max_worker_processes: 'max_worker_processes setting',
  max_wal_senders: 'max_wal_senders setting',
  max_prepared_transactions: 'max_prepared_xacts setting',
  max_locks_per_transaction: 'max_locks_per_xact setting',
}
export const STANDBY_SETTINGS = Object.keys(CONTROL_LINES)

/** The production server's values, one `name=value` per line. */
export const LIVE_SETTINGS_SQL = `SELECT name || '=' || setting FROM pg_settings WHERE name IN (${STANDBY_SETTINGS.map((n) => `'${n}'`).join(', ')}) ORDER BY 1`

export type Settings = Record<string, number>

export function parseControlData(text: string): Settings {
  const out: Settings = {}
  for (const [name, label] of Object.entries(CONTROL_LINES)) {
    const m = new RegExp(`^${label}:\\s+(\\d+)\\s*$`, 'm').exec(text)
    if (m) out[name] = Number(m[1])
  }
  return out
}

export function parseLiveSettings(text: string): Settings {
  const out: Settings = {}
  for (const line of text.split('\n')) {
    const m = /^(\w+)=(\d+)$/.exec(line.trim())
    if (m && STANDBY_SETTINGS.includes(m[1]!)) out[m[1]!] = Number(m[2])
  }
  return out
}

/** `-c name=value` for every setting either source knows, the higher value of the two. */
export function standbyOptions(...sources: Settings[]): string[] {
  const best: Settings = {}
  for (const s of sources) for (const [k, v] of Object.entries(s)) best[k] = Math.max(best[k] ?? 0, v)
  return STANDBY_SETTINGS.filter((k) => best[k] !== undefined).flatMap((k) => ['-c', `${k}=${best[k]}`])
}

/**
 * Read both sources; either may be unavailable (production down, a tool missing): the other one
 * rules, and with neither the scratch server starts with its defaults (its own error then names
 * the setting). Logged, never fatal.
 */
export async function readStandbyOptions(ctx: Ctx, read: { controlData: () => Promise<ExecResult>; live: () => Promise<string> }): Promise<string[]> {
  const control = await read.controlData().then((r) => (r.exitCode === 0 ? parseControlData(r.stdout) : {}), () => ({}))
  const live = await read.live().then(parseLiveSettings, () => ({}))
  if (!Object.keys(control).length && !Object.keys(live).length) ctx.log.warn('postgres: could not read the primary\'s settings (pg_controldata of the copy, or the running server): the scratch server starts with its defaults')
  return standbyOptions(control, live)
}
