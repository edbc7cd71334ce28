// A run started under its parent's lease (the compose deploy's pre-upgrade backup, which needs the
// postgres store lease the deploy holds) uses it instead of exiting 75; nobody else can.
import { describe, it, expect } from 'vitest'
import { join } from 'node:path'
import { acquireLock, heldLeaseEnv, readLease, INHERIT_ENV } from '../../scripts/lib/core/lock.ts'
import { LockedError } from '../../scripts/lib/core/errors.ts'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'

describe('a lease handed to a child run', () => {
  it('the child the holder names takes the held lease; a stranger gets 75; the child leaves it to the holder', () => {
    const dir = tmpDir('owp-lease-inherit-')
    try {
      const path = join(dir.path, 'store-postgres.lock')
      const release = acquireLock(testCtx(), path, 'deploy of compose project owp')
      const held = readLease(path)!.info!.id
      expect(heldLeaseEnv()[INHERIT_ENV]).toContain(held)
      expect(() => acquireLock(testCtx(), path, 'backup of postgres')).toThrow(LockedError)
      expect(() => acquireLock(testCtx({ env: { ...process.env, [INHERIT_ENV]: 'someone-else' } }), path, 'backup of postgres')).toThrow(LockedError)
      const child = acquireLock(testCtx({ env: { ...process.env, ...heldLeaseEnv() } }), path, 'backup of postgres')
      child()
      expect(readLease(path)!.info!.id).toBe(held)
      release()
      expect(readLease(path)).toBeNull()
      expect(heldLeaseEnv()[INHERIT_ENV]).not.toContain(held)
    } finally { dir.remove() }
  })
})
