// An S3 (or S3-compatible: MinIO, R2, B2) destination through @aws-sdk/client-s3 and lib-storage.
// Checksums are computed only when an operation requires them (WHEN_REQUIRED): the SDK's default
// CRC trailers are rejected by several S3-compatible services. Files are staged locally, uploaded,
// and manifest.json goes up last.
import { createReadStream, createWriteStream, mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { Readable } from 'node:stream'
import { S3Client, type S3ClientConfig, GetObjectCommand, ListObjectsV2Command, DeleteObjectCommand, DeleteObjectsCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { KitError, UsageError } from '../core/errors.ts'
import type { Ctx } from '../core/context.ts'
import { idToDate, parseManifest } from './manifest.ts'
import { stagingRoot, privateTmp, PLATFORM_DIR, checkMetaName } from './staging.ts'
import { lockDir as kitLockDir } from '../core/lock.ts'
import { MANIFEST_NAME, type Manifest, type StoreName, type Destination, type DestinationSettings, type SetRef, type TargetKind } from './types.ts'

export interface S3Location { bucket: string; prefix: string }

export function parseS3Url(url: string): S3Location {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url)
  if (!m || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(m[1]!)) throw new UsageError(`not an s3://bucket/prefix URL: ${url}`)
  return { bucket: m[1]!, prefix: m[2]!.replace(/^\/+|\/+$/g, '') }
}

/** The object key of a file of a set: <prefix>/<store>/<id>/<name>. */
export function objectKey(loc: S3Location, store: StoreName, id: string, name = ''): string {
  return [loc.prefix, store, id, name].filter((p) => p !== '').join('/') + (name ? '' : '/')
}

export function s3ClientConfig(s: DestinationSettings): S3ClientConfig {
  const endpoint = s.s3Endpoint ?? s.env.BACKUP_S3_ENDPOINT
  const region = s.s3Region ?? s.env.BACKUP_S3_REGION ?? s.env.AWS_REGION ?? 'us-east-1'
  const id = s.env.AWS_ACCESS_KEY_ID
  const secret = s.env.AWS_SECRET_ACCESS_KEY
  return {
    region,
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    ...(id && secret ? { credentials: { accessKeyId: id, secretAccessKey: secret, ...(s.env.AWS_SESSION_TOKEN ? { sessionToken: s.env.AWS_SESSION_TOKEN } : {}) } } : {}),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 5,
  }
}

// The kit pins the SDK and runs on Node 20 by design: its "future versions need Node 22" notice
// would land in every cron mail.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

export class S3Destination implements Destination {
  readonly kind = 's3' as const
  readonly loc: S3Location
  private client: S3Client
  constructor(private s: DestinationSettings) {
    this.loc = parseS3Url(s.dest)
    this.client = new S3Client(s3ClientConfig(s))
  }
  get url(): string { return this.s.dest }
  private where(store: StoreName, id: string): string {
    return `s3://${this.loc.bucket}/${objectKey(this.loc, store, id)}`
  }
  async taken(_ctx: Ctx, store: StoreName, id: string): Promise<boolean> {
    return (await this.keys(objectKey(this.loc, store, id))).length > 0
  }
  workDir(store: StoreName, id: string): string {
    return privateTmp(stagingRoot(this.s), `owp-backup-${store}-${id}-`)
  }
  async publish(ctx: Ctx, store: StoreName, id: string, workDir: string, manifest: Manifest): Promise<string> {
    for (const f of manifest.files) {
      const step = ctx.log.step(`upload ${f.name} to ${this.where(store, id)}`)
      try {
        await new Upload({
          client: this.client,
          params: { Bucket: this.loc.bucket, Key: objectKey(this.loc, store, id, f.name), Body: createReadStream(join(workDir, f.name)), ContentType: 'application/octet-stream' },
          queueSize: 4,
          partSize: 16 * 1024 * 1024,
        }).done()
        step.ok(`${f.bytes} bytes`)
      } catch (e) {
        step.fail()
        throw s3Error(e, `upload of ${f.name}`)
      }
    }
    await this.attempt('upload of manifest.json', (c) => c.send(new PutObjectCommand({ Bucket: this.loc.bucket, Key: objectKey(this.loc, store, id, MANIFEST_NAME), Body: `${JSON.stringify(manifest, null, 2)}\n`, ContentType: 'application/json' })))
    rmSync(workDir, { recursive: true, force: true })
    return this.where(store, id)
  }
  async discard(ctx: Ctx, store: StoreName, id: string, workDir: string): Promise<void> {
    rmSync(workDir, { recursive: true, force: true })
    // Objects of a set without a manifest are debris of an interrupted upload: remove what we can.
    const keys = await this.keys(objectKey(this.loc, store, id)).catch(() => [])
    if (keys.length) {
      ctx.log.info(`removing ${keys.length} uploaded object(s) of the incomplete set ${this.where(store, id)}`)
      await this.deleteKeys(keys).catch((e) => ctx.log.warn(`could not remove them: ${(e as Error).message}`))
    }
  }
  private async keys(prefix: string): Promise<string[]> {
    const keys: string[] = []
    let token: string | undefined
    do {
      const page = await this.attempt(`listing ${prefix}`, (c) => c.send(new ListObjectsV2Command({ Bucket: this.loc.bucket, Prefix: prefix, ContinuationToken: token })))
      for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key)
      token = page.IsTruncated ? page.NextContinuationToken : undefined
    } while (token)
    return keys
  }
  async list(_ctx: Ctx, store: StoreName): Promise<SetRef[]> {
    const base = objectKey(this.loc, store, '').replace(/\/+$/, '') + '/'
    const byId = new Map<string, Set<string>>()
    for (const key of await this.keys(base)) {
      const [id, ...rest] = key.slice(base.length).split('/')
      if (!id || !rest.length) continue
      if (!byId.has(id)) byId.set(id, new Set())
      byId.get(id)!.add(rest.join('/'))
    }
    const sets: SetRef[] = []
    for (const [id, names] of [...byId].sort(([a], [b]) => a.localeCompare(b))) {
      const time = idToDate(id)
      if (!time) continue
      const location = this.where(store, id)
      let manifest: Manifest | null = null
      let incomplete: string | undefined
      if (!names.has(MANIFEST_NAME)) incomplete = 'no manifest.json (the run did not finish)'
      else {
        try {
          manifest = parseManifest(await this.getText(objectKey(this.loc, store, id, MANIFEST_NAME)), location)
          const missing = manifest.files.filter((f) => !names.has(f.name)).map((f) => f.name)
          if (manifest.store !== store || manifest.id !== id) { incomplete = `manifest.json names ${manifest.store}/${manifest.id}`; manifest = null }
          else if (missing.length) { incomplete = `missing ${missing.join(', ')}`; manifest = null }
        } catch (e) { incomplete = (e as Error).message }
      }
      sets.push({ store, id, location, manifest, incomplete, time: manifest ? new Date(manifest.startedAt) : time })
    }
    return sets
  }
  private async getText(key: string): Promise<string> {
    const r = await this.attempt(`download of ${key}`, (c) => c.send(new GetObjectCommand({ Bucket: this.loc.bucket, Key: key })))
    return r.Body!.transformToString('utf8')
  }
  async fetch(ctx: Ctx, set: SetRef): Promise<{ dir: string; done(): void }> {
    if (!set.manifest) throw new KitError(`${set.location} is incomplete`)
    const dir = privateTmp(stagingRoot(this.s), `owp-restore-${set.store}-${set.id}-`)
    try {
      for (const f of set.manifest.files) {
        const step = ctx.log.step(`download ${f.name}`)
        const r = await this.attempt(`download of ${f.name}`, (c) => c.send(new GetObjectCommand({ Bucket: this.loc.bucket, Key: objectKey(this.loc, set.store, set.id, f.name) })))
        await pipeline(r.Body as Readable, createWriteStream(join(dir, f.name), { mode: 0o600 }))
        step.ok(`${f.bytes} bytes`)
      }
    } catch (e) {
      rmSync(dir, { recursive: true, force: true })
      throw e
    }
    mkdirSync(dir, { recursive: true })
    return { dir, done: () => rmSync(dir, { recursive: true, force: true }) }
  }
  async remove(_ctx: Ctx, set: SetRef): Promise<void> {
    const prefix = objectKey(this.loc, set.store, set.id)
    const manifestKey = objectKey(this.loc, set.store, set.id, MANIFEST_NAME)
    await this.attempt(`delete of ${manifestKey}`, (c) => c.send(new DeleteObjectCommand({ Bucket: this.loc.bucket, Key: manifestKey })))
    await this.deleteKeys((await this.keys(prefix)).filter((k) => k !== manifestKey))
  }
  private async deleteKeys(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000)
      const r = await this.attempt('delete', (c) => c.send(new DeleteObjectsCommand({ Bucket: this.loc.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } })))
      if (r.Errors?.length) throw new KitError(`S3 delete failed for ${r.Errors.map((e) => `${e.Key}: ${e.Code}`).join(', ')}`)
    }
  }
  lockDir(_target: TargetKind): string { return this.s.lockDir ?? this.s.env.BACKUP_LOCK_DIR ?? kitLockDir(this.s.env) }
  private metaKey(name: string): string { return [this.loc.prefix, PLATFORM_DIR, checkMetaName(name)].filter(Boolean).join('/') }
  async putMeta(_ctx: Ctx, name: string, text: string): Promise<void> {
    await this.attempt(`upload of ${name}`, (c) => c.send(new PutObjectCommand({ Bucket: this.loc.bucket, Key: this.metaKey(name), Body: text, ContentType: 'application/json' })))
  }
  async getMeta(_ctx: Ctx, name: string): Promise<string | null> {
    const key = this.metaKey(name)
    if (!(await this.keys(key)).includes(key)) return null
    return this.getText(key)
  }
  async listMeta(): Promise<string[]> {
    const base = [this.loc.prefix, PLATFORM_DIR].filter(Boolean).join('/') + '/'
    return (await this.keys(base)).map((k) => k.slice(base.length)).filter((n) => n && !n.includes('/')).sort()
  }
  async removeMeta(_ctx: Ctx, name: string): Promise<void> {
    await this.attempt(`delete of ${name}`, (c) => c.send(new DeleteObjectCommand({ Bucket: this.loc.bucket, Key: this.metaKey(name) })))
  }

  private async attempt<T>(what: string, call: (c: S3Client) => Promise<T>): Promise<T> {
    try {
      return await call(this.client)
    } catch (e) {
      throw s3Error(e, what)
    }
  }
}

function s3Error(e: unknown, what: string): KitError {
  const err = e as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } }
  const status = err.$metadata?.httpStatusCode ? ` (HTTP ${err.$metadata.httpStatusCode})` : ''
  return new KitError(`S3 ${what} failed: ${err.name ?? 'Error'}: ${err.message ?? String(e)}${status}`, 1,
    'check BACKUP_S3_ENDPOINT, BACKUP_S3_REGION and the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY credentials')
}
