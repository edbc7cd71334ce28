// `pgbackrest info --output=json` read into what a restore decides on: which backup a target
// time starts from, and the earliest moment the repository can recover to.
import { KitError } from '../../core/errors.ts'
import { STANZA } from './config.ts'

export interface PitrBackup {
  label: string
  type: 'full' | 'diff' | 'incr'
  start: Date
  /** A recovery can end no earlier than this: the backup is consistent only from its stop. */
  stop: Date
  /** Database size and bytes in the repository. */
  bytes: number
  repoBytes: number
  walStart: string
  walStop: string
}

export interface PitrInfo {
  status: { code: number; message: string }
  backups: PitrBackup[]
  /** Oldest and newest WAL segment in the archive (of the current database id). */
  archive: { min: string; max: string } | null
}

interface RawInfo {
  name: string
  status: { code: number; message: string }
  backup?: { label: string; type: string; timestamp: { start: number; stop: number }; info: { size: number; repository: { size: number; delta: number } }; archive: { start: string; stop: string }; error?: boolean }[]
  archive?: { min: string | null; max: string | null }[]
}

export function parseInfo(json: string): PitrInfo {
  let all: RawInfo[]
  try { all = JSON.parse(json) as RawInfo[] } catch { throw new KitError(`pgbackrest info printed no JSON: ${json.slice(0, 200)}`) }
  const raw = all.find((s) => s.name === STANZA)
  if (!raw) return { status: { code: 1, message: 'missing stanza' }, backups: [], archive: null }
  const backups = (raw.backup ?? []).filter((b) => !b.error).map((b) => ({
    label: b.label,
    type: b.type as PitrBackup['type'],
    start: new Date(b.timestamp.start * 1000),
    stop: new Date(b.timestamp.stop * 1000),
    bytes: b.info.size,
    repoBytes: b.info.repository.delta ?? b.info.repository.size,
    walStart: b.archive.start,
    walStop: b.archive.stop,
  })).sort((a, b) => a.stop.getTime() - b.stop.getTime())
  const arch = (raw.archive ?? []).at(-1)
  return { status: raw.status, backups, archive: arch?.min && arch.max ? { min: arch.min, max: arch.max } : null }
}

/** The newest backup that finished at or before `target`: recovery replays WAL from there. */
export function chooseBackup(info: PitrInfo, target: Date, where: string): PitrBackup {
  if (!info.backups.length) {
    throw new KitError(`no pgBackRest backup of stanza ${STANZA} in ${where}: nothing to recover from`, 1,
      'take one first: tsx scripts/backup.ts --store postgres --pitr')
  }
  const first = info.backups[0]!
  if (target.getTime() < first.stop.getTime()) {
    throw new KitError(`refusing to recover to ${target.toISOString()}: it is before the first backup in ${where}, which finished at ${first.stop.toISOString()} ` +
      `(${first.label}); the earliest moment this repository can recover to is ${first.stop.toISOString()}`, 1,
      'pick a time after that, or restore an older dump set with --from')
  }
  return [...info.backups].reverse().find((b) => b.stop.getTime() <= target.getTime())!
}

/** The earliest moment a repository can recover to (null: no backup). */
export function earliestRecoverable(info: PitrInfo): Date | null {
  return info.backups[0]?.stop ?? null
}
