// The run's private staging directories: those a killed run left (kill -9 skips every cleanup; one
// may hold the plain archive of an encrypted backup) are removed by the next run of this host.
import { afterAll, describe, expect, it } from 'vitest'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { privateTmp } from '../../scripts/lib/backup/staging.ts'
import { tmpDir } from '../helpers/tmp.ts'

const tmp = tmpDir('owp-staging-')
afterAll(() => tmp.remove())
const host = hostname().replace(/[^A-Za-z0-9.]/g, '_')

describe('privateTmp', () => {
  it('removes the directories of gone runs of this host under its prefix, keeps those of live runs, other hosts, other prefixes', () => {
    const gone = spawnSync('true').pid! // a pid that has ended
    const live = spawn('sleep', ['30'])
    try {
      const seed = (name: string) => { mkdirSync(join(tmp.path, name)); writeFileSync(join(tmp.path, name, 'files.tar.partial'), 'plain data') }
      seed(`owp-files-openwebui-scratch-${host}-${gone}-AbC123`)
      seed(`owp-files-openwebui-scratch-${host}-${live.pid}-XyZ789`)
      seed(`owp-files-openwebui-scratch-otherhost-${gone}-QqQ111`)
      seed(`owp-redis-scratch-${host}-${gone}-RrR222`)
      seed('owp-files-openwebui-scratch-Old456') // an earlier version's name: no pid to judge by
      const dir = privateTmp(tmp.path, 'owp-files-openwebui-scratch-')
      expect(dir.startsWith(join(tmp.path, `owp-files-openwebui-scratch-${host}-${process.pid}-`))).toBe(true)
      expect(statSync(dir).mode & 0o777).toBe(0o700)
      expect(readdirSync(tmp.path).sort()).toEqual([
        'owp-files-openwebui-scratch-Old456',
        `owp-files-openwebui-scratch-${host}-${live.pid}-XyZ789`,
        `owp-files-openwebui-scratch-${host}-${process.pid}-${dir.slice(-6)}`,
        `owp-files-openwebui-scratch-otherhost-${gone}-QqQ111`,
        `owp-redis-scratch-${host}-${gone}-RrR222`,
      ].sort())
      // sweep: false keeps the short name and touches nothing
      const sock = privateTmp(tmp.path, 'owp-redis-scratch-', { sweep: false })
      expect(sock).toMatch(/owp-redis-scratch-[^-]{6}$/)
      expect(existsSync(join(tmp.path, `owp-redis-scratch-${host}-${gone}-RrR222`))).toBe(true)
    } finally {
      live.kill('SIGKILL')
    }
  })
})
