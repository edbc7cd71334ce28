// Where backup sets live: a local directory, or an S3 bucket (see s3.ts). Layout, both alike:
//   <dest>/<store>/<set id>/{files..., manifest.json}     one part (a store's set)
//   <dest>/platform/<set id>.json                          the platform manifest (platform.ts)
// A part is complete only when its manifest.json is there and valid; manifest.json is written last.
// A platform set is the parts of one id plus its platform manifest, written after every part.
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, existsSync, unlinkSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { KitError, UsageError } from '../core/errors.ts'
import type { Ctx } from '../core/context.ts'
import { atomicWrite, idToDate, readManifest, writeManifest, fsyncPath } from './manifest.ts'
import { MANIFEST_NAME, type Manifest, type StoreName, type SetRef, type Destination, type DestinationSettings, type TargetKind } from './types.ts'
import { PLATFORM_DIR, META_NAME, checkMetaName } from './staging.ts'
import { lockDir as kitLockDir } from '../core/lock.ts'

export type { SetRef, Destination, DestinationSettings } from './types.ts'
export { PLATFORM_DIR } from './staging.ts'
export { stagingRoot, privateTmp } from './staging.ts'

export async function createDestination(s: DestinationSettings): Promise<Destination> {
  if (s.dest.startsWith('s3://')) {
    const { S3Destination } = await import('./s3.ts')
    return new S3Destination(s)
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s.dest)) throw new UsageError(`--dest must be a directory or s3://bucket/prefix, got ${s.dest}`)
  return new LocalDestination(resolve(s.dest), s)
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
  async putMeta(_ctx: Ctx, name: string, text: string): Promise<void> {
    const dir = join(this.root, PLATFORM_DIR)
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    atomicWrite(join(dir, checkMetaName(name)), text, 0o600)
  }
  async getMeta(_ctx: Ctx, name: string): Promise<string | null> {
    const path = join(this.root, PLATFORM_DIR, checkMetaName(name))
    return existsSync(path) ? readFileSync(path, 'utf8') : null
  }
  async listMeta(): Promise<string[]> {
    const dir = join(this.root, PLATFORM_DIR)
    return existsSync(dir) ? readdirSync(dir).filter((n) => META_NAME.test(n) && !n.endsWith('.tmp')).sort() : []
  }
  async removeMeta(_ctx: Ctx, name: string): Promise<void> {
    const path = join(this.root, PLATFORM_DIR, checkMetaName(name))
    if (existsSync(path)) { unlinkSync(path); fsyncPath(join(this.root, PLATFORM_DIR)) }
  }
  lockDir(target: TargetKind): string {
    return this.s.lockDir ?? this.s.env.BACKUP_LOCK_DIR ?? (target === 'k8s' ? join(this.root, '.locks') : kitLockDir(this.s.env))
  }
}
