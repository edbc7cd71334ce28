// pgBackRest's configuration, derived from the kit's own backup settings: the same destination
// (a local directory: <dest>/pgbackrest; S3: the same bucket and prefix, <prefix>/pgbackrest) and
// the same S3 endpoint, region and keys. One stanza, "owp". Written by the kit, read by the
// kit's pgbackrest calls and by the server's archive_command alike.
import { join } from 'node:path'
import { ConfigError } from '../../core/errors.ts'

export const STANZA = 'owp'

export type PitrRepo =
  | { type: 'posix'; path: string }
  | { type: 's3'; bucket: string; path: string; endpoint: string; port?: number; region: string; uriStyle: 'host' | 'path'; key: string; secret: string }

/** Where the PostgreSQL server is, as pgBackRest on its host sees it. */
export interface PgSite {
  /** Data directory (pg1-path). */
  path: string
  /** Unix socket directory (pgBackRest connects over the socket only). */
  socket: string
  port: number
  /** Superuser role pgBackRest connects as. */
  user: string
}

export interface ConfigOptions {
  /** Full backups kept (older ones and their WAL expire). */
  retentionFull: number
  /** Writable scratch paths of pgBackRest (the compose container's root is read-only: /tmp). */
  lockPath: string
}

/**
 * The repository of a destination. `localRepoPath` is where <dest>/pgbackrest appears to the
 * server (compose mounts it at /var/lib/pgbackrest); by default the host path itself.
 */
export function repoFor(dest: string, env: Record<string, string>, localRepoPath?: string): PitrRepo {
  if (!dest.startsWith('s3://')) return { type: 'posix', path: localRepoPath ?? join(dest, 'pgbackrest') }
  const problems: string[] = []
  const [, bucket = '', prefix = ''] = /^s3:\/\/([^/]+)\/?(.*)$/.exec(dest) ?? []
  let endpoint = ''
  let port: number | undefined
  const raw = env.BACKUP_S3_ENDPOINT
  if (raw) {
    let u: URL | null = null
    try { u = new URL(raw) } catch { problems.push(`BACKUP_S3_ENDPOINT=${raw} is not a URL`) }
    if (u && u.protocol !== 'https:') problems.push(`BACKUP_S3_ENDPOINT=${raw}: pgBackRest talks to S3 over TLS only: use an https:// endpoint`)
    if (u) { endpoint = u.hostname; if (u.port) port = Number(u.port) }
  }
  const region = env.BACKUP_S3_REGION || 'us-east-1'
  if (!env.AWS_ACCESS_KEY_ID) problems.push('AWS_ACCESS_KEY_ID is not set: pgBackRest needs the S3 keys (it cannot use an instance role here)')
  if (!env.AWS_SECRET_ACCESS_KEY) problems.push('AWS_SECRET_ACCESS_KEY is not set')
  if (problems.length) throw new ConfigError(problems, 'point-in-time recovery (pgBackRest S3 repository)')
  return {
    type: 's3', bucket, path: `/${[prefix.replace(/\/+$/, ''), 'pgbackrest'].filter(Boolean).join('/')}`,
    endpoint: endpoint || `s3.${region}.amazonaws.com`, port, region,
    // MinIO, R2 and B2 behind a custom endpoint want path-style requests, as the kit's own S3 client uses.
    uriStyle: endpoint ? 'path' : 'host',
    key: env.AWS_ACCESS_KEY_ID!, secret: env.AWS_SECRET_ACCESS_KEY!,
  }
}

/** pgbackrest.conf: [global] with the repository, [owp] with the server. */
export function renderConfig(repo: PitrRepo, pg: PgSite, o: ConfigOptions): string {
  const global: [string, string | number][] = [
    ['repo1-type', repo.type],
    ['repo1-path', repo.path],
  ]
  if (repo.type === 's3') {
    global.push(['repo1-s3-bucket', repo.bucket], ['repo1-s3-endpoint', repo.endpoint], ['repo1-s3-region', repo.region],
      ['repo1-s3-uri-style', repo.uriStyle], ['repo1-s3-key', repo.key], ['repo1-s3-key-secret', repo.secret])
    if (repo.port) global.push(['repo1-storage-port', repo.port])
  }
  global.push(
    ['repo1-retention-full', o.retentionFull],
    ['compress-type', 'zst'],
    // a checkpoint at once: backups start in seconds, not at the next scheduled checkpoint
    ['start-fast', 'y'],
    ['lock-path', o.lockPath],
    // archive-push logs to the server's log (stderr); no log files on a read-only root
    ['log-level-file', 'off'],
    ['log-level-console', 'warn'],
    ['log-level-stderr', 'warn'],
  )
  const section: [string, string | number][] = [
    ['pg1-path', pg.path], ['pg1-socket-path', pg.socket], ['pg1-port', pg.port], ['pg1-user', pg.user],
  ]
  const lines = (kv: [string, string | number][]) => kv.map(([k, v]) => `${k}=${v}`).join('\n')
  return `# written by the deploy kit (scripts/lib/backup/pitr): edits are replaced on the next backup\n[global]\n${lines(global)}\n\n[${STANZA}]\n${lines(section)}\n`
}

/** The restore_command a restored server uses once it is where the configuration says (pg1-path). */
export function restoreCommand(pgPath?: string): string {
  return `pgbackrest ${pgPath ? `--pg1-path=${pgPath} ` : ''}--stanza=${STANZA} archive-get %f "%p"`
}

/** The archive_command of the server (compose passes it on the postgres command line). */
export const ARCHIVE_COMMAND = `pgbackrest --stanza=${STANZA} archive-push %p`
