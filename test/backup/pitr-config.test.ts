// The pieces of point-in-time recovery that are plain data: the --to time, pgBackRest's
// configuration from the kit's destination, the backup a target starts from, postmaster.opts.
import { describe, expect, it } from 'vitest'
import { parseTarget, pgTime } from '../../scripts/lib/backup/pitr/time.ts'
import { renderConfig, repoFor } from '../../scripts/lib/backup/pitr/config.ts'
import { chooseBackup, parseInfo } from '../../scripts/lib/backup/pitr/info.ts'
import { parsePostmasterOpts } from '../../scripts/lib/backup/pitr/direct.ts'
import { pickType } from '../../scripts/lib/backup/pitr/backup.ts'

const now = new Date('2026-12-02T00:00:00Z')
const pg = { path: '/var/lib/postgresql/data', socket: '/var/run/postgresql', port: 5432, user: 'openwebui' }

describe('--to', () => {
  it('reads ISO 8601 with a zone, in the form PostgreSQL takes', () => {
    expect(parseTarget('2026-12-01T10:15:00Z', now).toISOString()).toBe('2026-12-01T10:15:00.000Z')
    expect(parseTarget('2026-12-01 11:15:00.250+01:00', now).toISOString()).toBe('2026-12-01T10:15:00.250Z')
    expect(parseTarget('2026-12-01T11:15+0100', now).toISOString()).toBe('2026-12-01T10:15:00.000Z')
    expect(pgTime(new Date('2026-12-01T10:15:00Z'))).toBe('2026-12-01 10:15:00.000+00')
  })
  it('refuses a time without its zone, an impossible date and the future', () => {
    expect(() => parseTarget('2026-12-01T10:15:00', now)).toThrow(/ISO 8601 time with its zone/)
    expect(() => parseTarget('yesterday', now)).toThrow(/ISO 8601/)
    expect(() => parseTarget('2026-02-30T10:15:00Z', now)).toThrow(/not a valid date/)
    expect(() => parseTarget('2026-12-03T00:00:00Z', now)).toThrow(/in the future/)
  })
})

describe('pgBackRest configuration from the kit destination', () => {
  it('local: <dest>/pgbackrest (or where the server sees it)', () => {
    expect(repoFor('/var/backups/owp', {})).toEqual({ type: 'posix', path: '/var/backups/owp/pgbackrest' })
    expect(repoFor('/var/backups/owp', {}, '/var/lib/pgbackrest')).toEqual({ type: 'posix', path: '/var/lib/pgbackrest' })
  })
  it('S3: same bucket and prefix, endpoint host and port, path style for a custom endpoint', () => {
    const repo = repoFor('s3://owp-backups/prod/', { BACKUP_S3_ENDPOINT: 'https://minio.example.com:9000', BACKUP_S3_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'AK', AWS_SECRET_ACCESS_KEY: 'SK' })
    expect(repo).toEqual({ type: 's3', bucket: 'owp-backups', path: '/prod/pgbackrest', endpoint: 'minio.example.com', port: 9000, region: 'eu-west-1', uriStyle: 'path', key: 'AK', secret: 'SK' })
    const text = renderConfig(repo, pg, { retentionFull: 2, lockPath: '/tmp/pgbackrest' })
    expect(text).toContain('repo1-type=s3\nrepo1-path=/prod/pgbackrest\nrepo1-s3-bucket=owp-backups\nrepo1-s3-endpoint=minio.example.com')
    expect(text).toContain('repo1-storage-port=9000')
    expect(text).toContain('[owp]\npg1-path=/var/lib/postgresql/data\npg1-socket-path=/var/run/postgresql\npg1-port=5432\npg1-user=openwebui\n')
    expect(repoFor('s3://b', { AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 's' })).toMatchObject({ endpoint: 's3.us-east-1.amazonaws.com', uriStyle: 'host', path: '/pgbackrest' })
  })
  it('S3 problems are listed together: plain http, missing keys', () => {
    expect(() => repoFor('s3://b/p', { BACKUP_S3_ENDPOINT: 'http://minio:9000' }))
      .toThrow(/TLS only: use an https:\/\/ endpoint[\s\S]*AWS_ACCESS_KEY_ID is not set[\s\S]*AWS_SECRET_ACCESS_KEY is not set/)
  })
})

const t = (iso: string) => Date.parse(iso) / 1000
const INFO = JSON.stringify([{ name: 'owp', status: { code: 0, message: 'ok' }, archive: [{ min: '000000010000000000000001', max: '000000010000000000000009' }], backup: [
  { label: '20261120-020000F', type: 'full', timestamp: { start: t('2026-11-20T02:00:00Z'), stop: t('2026-11-20T02:01:00Z') }, info: { size: 100, repository: { size: 40, delta: 40 } }, archive: { start: '000000010000000000000002', stop: '000000010000000000000002' } },
  { label: '20261120-020000F_20261121-020000D', type: 'diff', timestamp: { start: t('2026-11-21T02:00:00Z'), stop: t('2026-11-21T02:00:30Z') }, info: { size: 100, repository: { size: 10, delta: 5 } }, archive: { start: '000000010000000000000005', stop: '000000010000000000000005' } },
] }])

describe('the backup a target starts from', () => {
  const info = parseInfo(INFO)
  it('the newest backup finished at or before the target', () => {
    expect(chooseBackup(info, new Date('2026-11-20T12:00:00Z'), 'repo').label).toBe('20261120-020000F')
    expect(chooseBackup(info, new Date('2026-11-25T12:00:00Z'), 'repo').label).toBe('20261120-020000F_20261121-020000D')
  })
  it('refuses a target before the first backup, naming the earliest recoverable moment', () => {
    expect(() => chooseBackup(info, new Date('2026-11-20T02:00:30Z'), 'repo')).toThrow(/before the first backup in repo, which finished at 2026-11-20T02:01:00.000Z .*earliest moment this repository can recover to is 2026-11-20T02:01:00.000Z/)
    expect(() => chooseBackup(parseInfo('[]'), new Date(), 'repo')).toThrow(/no pgBackRest backup/)
  })
  it('full when the last full is a week old, else diff', () => {
    expect(pickType(info.backups, new Date('2026-11-22T00:00:00Z'))).toBe('diff')
    expect(pickType(info.backups, new Date('2026-11-28T00:00:00Z'))).toBe('full')
    expect(pickType([], now)).toBe('full')
  })
})

it('postmaster.opts: the options of the last start without the binary and -D', () => {
  const opts = '/usr/lib/postgresql/15/bin/postgres "-D" "/srv/pg/data" "-p" "5433" "-c" "archive_command=pgbackrest --stanza=owp archive-push %p" "-c" "listen_addresses="\n'
  expect(parsePostmasterOpts(opts)).toEqual(['-p', '5433', '-c', 'archive_command=pgbackrest --stanza=owp archive-push %p', '-c', 'listen_addresses='])
})
