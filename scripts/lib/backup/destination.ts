// Where backup sets live: a local directory, or an S3 bucket (see s3.ts). Layout, both alike:
//   <dest>/<store>/<set id>/{files..., manifest.json}
// A set is complete only when its manifest.json is there and valid; manifest.json is written last.
import { mkdirSync, readdirSync, rmSync, statSync, existsSync, unlinkSync, mkdtempSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { tmpdir } from 'node:os'
import { createHash } from 'node:crypto'
import { KitError, UsageError } from '../errors.ts'
import type { Ctx } from '../context.ts'
import { idToDate, readManifest, writeManifest, fsyncPath } from './manifest.ts'
import { MANIFEST_NAME, type Manifest, type StoreName } from './types.ts'

export interface SetRef {
  store: StoreName
  id: string
  /** Where the set is, for messages: a directory or an s3:// URL. */
  location: string
  manifest: Manifest | null
  /** Why a set without a valid manifest is incomplete. */
  incomplete?: string
  /** From the manifest when complete, from the id otherwise. */
  time: Date
}

export interface Destination {
  url: string
  kind: 'local' | 's3'
  /** Whether a set (complete or not) with this id exists already. */
  taken(ctx: Ctx, store: StoreName, id: string): Promise<boolean>
  /** A directory this run writes the set's files into. */
  workDir(store: StoreName, id: string): string
  /** Make the set complete: write the manifest last (after uploading the files, for S3). */
  publish(ctx: Ctx, store: StoreName, id: string, workDir: string, manifest: Manifest): Promise<string>
  /** Clean up the work directory of a run that did not complete. */
  discard(ctx: Ctx, store: StoreName, id: string, workDir: string): Promise<void>
  list(ctx: Ctx, store: StoreName): Promise<SetRef[]>
  /** A local directory holding the set's files (downloaded for S3) and a cleanup. */
  fetch(ctx: Ctx, set: SetRef): Promise<{ dir: string; done(): void }>
  /** Delete a set, manifest first: an interrupted delete leaves an incomplete set, never a broken complete one. */
  remove(ctx: Ctx, set: SetRef): Promise<void>
  /** The lock file guarding this destination and store. */
  lockPath(store: StoreName): string
}

export interface DestinationSettings {
  dest: string
  env: Record<string, string>
  s3Endpoint?: string
  s3Region?: string
  lockDir?: string
  stagingDir?: string
}

export async function createDestination(s: DestinationSettings): Promise<Destination> {
  if (s.dest.startsWith('s3://')) {
    const { S3Destination } = await import('./s3.ts')
    return new S3Destination(s)
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s.dest)) throw new UsageError(`--dest must be a directory or s3://bucket/prefix, got ${s.dest}`)
  return new LocalDestination(resolve(s.dest), s)
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

export class LocalDestination implements Destination {
  readonly kind = 'local' as const
  constructor(readonly root: string, private s: DestinationSettings) {}
  get url(): string { return this.root }
  async taken(_ctx: Ctx, store: StoreName, id: string): Promise<boolean> { return existsSync(join(this.root, store, id)) }
  workDir(store: StoreName, id: string): string {
    const dir = join(this.root, store, id)
    if (existsSync(dir)) throw new KitError(`backup set ${dir} already exists`)
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    return dir
  }
  async publish(_ctx: Ctx, store: StoreName, id: string, workDir: string, manifest: Manifest): Promise<string> {
    writeManifest(workDir, manifest)
    fsyncPath(join(this.root, store))
    return join(this.root, store, id)
  }
  async discard(ctx: Ctx, _store: StoreName, _id: string, workDir: string): Promise<void> {
    ctx.log.info(`removing the incomplete set ${workDir}`)
    rmSync(workDir, { recursive: true, force: true })
  }
  async list(_ctx: Ctx, store: StoreName): Promise<SetRef[]> {
    const dir = join(this.root, store)
    if (!existsSync(dir)) return []
    const sets: SetRef[] = []
    for (const id of readdirSync(dir).sort()) {
      const time = idToDate(id)
      const location = join(dir, id)
      if (!time || !statSync(location).isDirectory()) continue
      let manifest: Manifest | null = null
      let incomplete: string | undefined
      try {
        manifest = readManifest(location)
        if (!manifest) incomplete = 'no manifest.json (the run did not finish)'
        else if (manifest.store !== store || manifest.id !== id) { incomplete = `manifest.json names ${manifest.store}/${manifest.id}`; manifest = null }
      } catch (e) { incomplete = (e as Error).message }
      sets.push({ store, id, location, manifest, incomplete, time: manifest ? new Date(manifest.startedAt) : time })
    }
    return sets
  }
  async fetch(_ctx: Ctx, set: SetRef): Promise<{ dir: string; done(): void }> {
    return { dir: set.location, done: () => {} }
  }
  async remove(_ctx: Ctx, set: SetRef): Promise<void> {
    const manifest = join(set.location, MANIFEST_NAME)
    if (existsSync(manifest)) { unlinkSync(manifest); fsyncPath(set.location) }
    rmSync(set.location, { recursive: true, force: true })
  }
  lockPath(store: StoreName): string {
    if (this.s.lockDir ?? this.s.env.BACKUP_LOCK_DIR) return remoteLockPath(this.s, store)
    return join(this.root, '.locks', `${store}.lock`)
  }
}

/** A private temp directory (0700) for staging files. */
export function privateTmp(root: string, prefix: string): string {
  return mkdtempSync(join(root, prefix))
}
