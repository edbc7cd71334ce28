// Where pgBackRest and the PostgreSQL server run for a point-in-time recovery: this host
// (direct) or the compose stack. A restore never writes into the running cluster: it restores
// BESIDE it (a new directory or volume), proves the copy there on a scratch server, and only then
// switches, keeping the previous data where it was.
import type { Ctx } from '../../core/context.ts'
import type { ExecResult } from '../../core/exec.ts'
import type { PgSite } from './config.ts'

/** A restored data directory beside the current one. */
export interface Beside {
  /** For people: the path, or the volume's name. */
  label: string
  /** The data directory as pgbackrest restore sees it (pg1-path of the restore run). */
  pgPath: string
  /** compose: the volume holding it, and its key in the compose file (the POSTGRES_DATA_VOLUME value). */
  volume?: string
  slot?: string
}

/** A server started on a restored copy, in recovery, paused at the target. */
export interface ScratchServer {
  sql(query: string, db?: string): Promise<string>
  /** Why it stopped, when it did (the last lines of its log). */
  logTail(): Promise<string>
  stop(): Promise<void>
}

/** The production server after the switch (or the undo of it). */
export interface Switched {
  /** Where the data that ran before is kept, untouched. */
  previous: string
  sql(query: string, db?: string): Promise<string>
  /** Put the previous data back and start it (only for a switch that did not come up). */
  undo(): Promise<void>
}

export interface PitrSite {
  kind: 'direct' | 'compose'
  where: string
  /** The server as pgbackrest.conf describes it where it runs. */
  pg: PgSite
  /** The repository path of a local destination as the server sees it. */
  localRepoPath(dest: string): string
  pgbackrest(ctx: Ctx, args: string[], o?: { mutates?: boolean; timeout?: number; allowFailure?: boolean }): Promise<ExecResult>
  readConfig(ctx: Ctx): Promise<string | null>
  writeConfig(ctx: Ctx, text: string): Promise<void>
  /** Make a local repository directory writable by the server's user. */
  prepareRepo(ctx: Ctx, dest: string): Promise<void>
  /** A new, empty place for the restored data, beside the current data. */
  beside(ctx: Ctx, id: string): Promise<Beside>
  restoreInto(ctx: Ctx, b: Beside, args: string[], timeout: number): Promise<void>
  startScratch(ctx: Ctx, b: Beside, timeout: number): Promise<ScratchServer>
  /** Stop production, put the restored data in its place (the old kept aside), start it. */
  switchTo(ctx: Ctx, b: Beside, id: string, timeout: number): Promise<Switched>
  /** Remove a restored copy that was never switched to. */
  discard(ctx: Ctx, b: Beside): Promise<void>
}

/** `ALTER`-free SQL helpers every site shares. */
export const SQL = {
  // pg_get_wal_replay_pause_state() raises outside recovery: ask it only during recovery
  recoveryState: `SELECT CASE WHEN pg_is_in_recovery() THEN 'true|' || pg_get_wal_replay_pause_state() || '|' || coalesce(to_char(pg_last_xact_replay_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), '') ELSE 'false||' END`,
  databases: `SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1`,
  tables: `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`,
}
