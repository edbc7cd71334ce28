// The two scripts as a user meets them: help, and usage errors with exit 2 before anything runs.
import { describe, expect, it } from 'vitest'
import { runScript } from '../helpers/run-script.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { parseStores, positiveInt } from '../../scripts/lib/backup/settings.ts'
import { parseRecipients } from '../../scripts/lib/backup/encryption.ts'

describe('backup.ts and restore.ts command line', () => {
  it('--help documents the contract the CronJobs use', async () => {
    const r = await runScript('scripts/backup.ts', ['--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('--store <store[,store...]|all> --target <compose|k8s|direct>')
    expect(r.stdout).toContain('postgres | redis | qdrant | neo4j | files-openwebui | files-graphrag | config')
    expect(r.stdout).toContain('--dest <dir|s3://bucket/prefix> [--encrypt age1...]')
    expect(r.stdout).toMatch(/\n\s+75 {2}another backup or restore holds the lock/)
    expect(r.stdout).toMatch(/Examples:\n {2}make backup ARGS=/)
  })

  it('restore --help says that PostgreSQL keeps each database it replaces, and how to drop them instead', async () => {
    const r = await runScript('scripts/restore.ts', ['--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('PostgreSQL keeps each database it replaces as <db>_owp_old_* (named in the\nreport with its DROP DATABASE, never backed up; BACKUP_RESTORE_KEEP_PREVIOUS=false drops them).')
  })

  it('stops with exit 2 and the reason on a bad store or target', async () => {
    const bad = await runScript('scripts/backup.ts', ['--store', 'mysql', '--target', 'direct', '--dest', '/nonexistent/x'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('--store must be one of postgres, redis, qdrant, neo4j, files-openwebui, files-graphrag, config or all, got mysql')
    const target = await runScript('scripts/restore.ts', ['--store', 'redis', '--target', 'swarm'])
    expect(target.code).toBe(2)
    expect(target.stderr).toContain('--target must be one of compose, k8s, direct, got "swarm"')
  })

  it('a BACKUP_RESTORE_KEEP_PREVIOUS other than true or false stops the restore with exit 2 before anything', async () => {
    const dir = tmpDir('owp-restore-keep-')
    try {
      const r = await runScript('scripts/restore.ts', ['--store', 'postgres', '--from', 'latest', '--dest', dir.path, '--target', 'direct', '--yes'], { env: { BACKUP_RESTORE_KEEP_PREVIOUS: 'yes' } })
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('BACKUP_RESTORE_KEEP_PREVIOUS must be true or false, got "yes"')
    } finally {
      dir.remove()
    }
  })

  it('restore from a mistyped --dest stops with exit 2 and creates nothing', async () => {
    const dir = tmpDir('owp-restore-typo-')
    try {
      const typo = `${dir.path}/bakcups`
      const r = await runScript('scripts/restore.ts', ['--from', 'latest', '--dest', typo, '--target', 'direct', '--yes'])
      expect(r.code).toBe(2)
      expect(r.stderr).toContain(`--dest ${typo} does not exist`)
      expect((await import('node:fs')).existsSync(typo)).toBe(false)
    } finally {
      dir.remove()
    }
  })

  it('restoring every store from a destination with no set at all fails instead of passing silently', async () => {
    const dir = tmpDir('owp-restore-empty-')
    try {
      const r = await runScript('scripts/restore.ts', ['--from', 'latest', '--dest', dir.path, '--target', 'direct', '--yes'])
      expect(r.code).toBe(1)
      expect(r.stderr).toContain(`no backup set of any store in ${dir.path}: nothing was restored`)
    } finally {
      dir.remove()
    }
  })

  it('parses its values strictly', () => {
    expect(parseStores(undefined)).toEqual(['postgres', 'redis', 'qdrant', 'neo4j', 'files-openwebui', 'files-graphrag', 'config'])
    expect(parseStores('redis,postgres')).toEqual(['redis', 'postgres'])
    expect(() => positiveInt('keep-daily', '-1', 7)).toThrow('--keep-daily must be a whole number >= 0, got "-1"')
    expect(positiveInt('keep-daily', '0', 7)).toBe(0)
    const key = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p'
    expect(parseRecipients(`${key}, ${key}`)).toEqual([key, key])
    expect(() => parseRecipients('ssh-ed25519 AAAA')).toThrow('--encrypt needs age recipients')
  })
})
