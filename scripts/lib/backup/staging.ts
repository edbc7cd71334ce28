// Paths a run stages files and takes locks in, shared by the local and the S3 destination.
import { mkdirSync, mkdtempSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { createHash } from 'node:crypto'
import { KitError } from '../core/errors.ts'
import type { DestinationSettings, StoreName } from './types.ts'

/** The folder (local) or key prefix (S3) of platform manifests. */
export const PLATFORM_DIR = 'platform'
export const META_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

export function checkMetaName(name: string): string {
  if (!META_NAME.test(name)) throw new KitError(`not a platform manifest name: ${JSON.stringify(name)}`)
  return name
}

export function stagingRoot(s: { stagingDir?: string; env: Record<string, string> }): string {
  const root = s.stagingDir ?? s.env.BACKUP_STAGING_DIR ?? tmpdir()
  mkdirSync(root, { recursive: true })
  return root
}

/** A lock for a remote destination lives on this host, named after the destination. */
export function remoteLockPath(s: DestinationSettings, store: StoreName): string {
  const dir = s.lockDir ?? s.env.BACKUP_LOCK_DIR ?? join(tmpdir(), 'owp-backup-locks')
  const key = createHash('sha256').update(s.dest).digest('hex').slice(0, 12)
  return join(dir, `${key}-${store}.lock`)
}

/** A private temp directory (0700) for staging files. */
export function privateTmp(root: string, prefix: string): string {
  return mkdtempSync(join(root, prefix))
}
