// The lock of a store is scoped to what it protects: the store of one target (compose project,
// Kubernetes release, direct address), across destinations, shared by backups, restores and the
// compose deploy (which restarts the stores): they are serialized or refused with exit 75.
import { createHash } from 'node:crypto'
import { acquireLock, lockDir as kitLockDir, lockFile } from '../core/lock.ts'
import { createTarget } from './targets.ts'
import { STORES, type Destination, type StoreName, type Target, type TargetKind } from './types.ts'
import type { Ctx } from '../core/context.ts'

function storeKey(target: Pick<Target, 'kind' | 'where'>, store: StoreName): string {
  const where = createHash('sha256').update(`${target.kind}\0${target.where(store)}`).digest('hex').slice(0, 12)
  return `store-${store}-${target.kind}-${where}`
}

/** One lease file per store and target: a backup to /a and one to s3://b of the same store meet here. */
export function storeLockPath(dest: Pick<Destination, 'lockDir'>, target: Pick<Target, 'kind' | 'where'>, store: StoreName): string {
  return lockFile(dest.lockDir(target.kind as TargetKind), storeKey(target, store))
}

/** Take the store's lease for a backup or a restore (exit 75 while another run holds it). */
export function lockStore(ctx: Ctx, dest: Pick<Destination, 'lockDir'>, target: Pick<Target, 'kind' | 'where'>, store: StoreName, what: string): () => void {
  return ctx.dryRun ? () => {} : acquireLock(ctx, storeLockPath(dest, target, store), what)
}

/** The store leases of a compose project, where its backups take them (BACKUP_LOCK_DIR, else the kit's lock dir). */
export function composeStoreLockPaths(env: Record<string, string | undefined>, project: string): string[] {
  const target = createTarget({ kind: 'compose', env: env as Record<string, string>, project })
  const dir = env.BACKUP_LOCK_DIR || kitLockDir(env)
  return STORES.map((store) => lockFile(dir, storeKey(target, store)))
}
