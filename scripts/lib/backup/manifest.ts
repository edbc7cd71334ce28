// Set files on disk: checksums, durable renames, and the manifest that marks a set complete.
import { createHash } from 'node:crypto'
import { createReadStream, openSync, fsyncSync, closeSync, renameSync, writeSync, statSync, readFileSync, existsSync, unlinkSync } from 'node:fs'
import { dirname, join, basename } from 'node:path'
import { KitError } from '../core/errors.ts'
import { MANIFEST_FORMAT, MANIFEST_NAME, STORES, type Manifest, type SetFile } from './types.ts'

export const PARTIAL = '.partial'

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r')
  try { fsyncSync(fd) } finally { closeSync(fd) }
}

/** Flush a file, rename it into place and flush the directory entry: after this it survives a crash. */
export function durableRename(from: string, to: string): void {
  fsyncPath(from)
  renameSync(from, to)
  fsyncPath(dirname(to))
}

/** Write a file through tmp + fsync + rename: readers see the old file or the whole new one. */
export function atomicWrite(path: string, data: string | Buffer, mode = 0o644): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`)
  const fd = openSync(tmp, 'w', mode)
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data)
    fsyncSync(fd)
  } catch (e) {
    closeSync(fd)
    try { unlinkSync(tmp) } catch { /* gone */ }
    throw e
  }
  closeSync(fd)
  renameSync(tmp, path)
  fsyncPath(dirname(path))
}

export function partialPath(dir: string, name: string): string {
  return join(dir, `${name}${PARTIAL}`)
}

/** A finished file: the .partial is renamed to its name only now, never before it is whole. */
export function finishFile(dir: string, name: string): { bytes: number } {
  const from = partialPath(dir, name)
  const to = join(dir, name)
  durableRename(from, to)
  return { bytes: statSync(to).size }
}

export function writeManifest(dir: string, m: Manifest): void {
  atomicWrite(join(dir, MANIFEST_NAME), `${JSON.stringify(m, null, 2)}\n`)
}

/** Problems with a manifest's shape: a set whose manifest is not ours does not count as complete. */
export function manifestProblems(m: unknown): string[] {
  const problems: string[] = []
  const o = m as Partial<Manifest> | null
  if (!o || typeof o !== 'object') return ['not a JSON object']
  if (o.format !== MANIFEST_FORMAT) problems.push(`format is not ${MANIFEST_FORMAT}`)
  if (!STORES.includes(o.store as never)) problems.push('store is missing or unknown')
  if (typeof o.id !== 'string') problems.push('id is missing')
  if (typeof o.startedAt !== 'string' || Number.isNaN(Date.parse(o.startedAt))) problems.push('startedAt is not a timestamp')
  if (!Array.isArray(o.files) || o.files.length === 0) problems.push('files is empty')
  else for (const f of o.files) if (!f || typeof f.name !== 'string' || !/^[0-9a-f]{64}$/.test(String(f.sha256)) || typeof f.bytes !== 'number') problems.push(`file entry ${JSON.stringify(f?.name)} lacks name, bytes or sha256`)
  return problems
}

export function parseManifest(text: string, where: string): Manifest {
  let m: unknown
  try { m = JSON.parse(text) } catch (e) { throw new KitError(`${where}: manifest.json is not JSON (${(e as Error).message})`) }
  const problems = manifestProblems(m)
  if (problems.length) throw new KitError(`${where}: manifest.json is invalid: ${problems.join('; ')}`)
  return m as Manifest
}

export function readManifest(dir: string): Manifest | null {
  const path = join(dir, MANIFEST_NAME)
  if (!existsSync(path)) return null
  return parseManifest(readFileSync(path, 'utf8'), dir)
}

/** Compare the files in dir with the manifest; returns one line per problem, in file order. */
export async function checkFiles(dir: string, m: Manifest): Promise<string[]> {
  const problems: string[] = []
  for (const f of m.files) {
    const size = fileSize(dir, f)
    problems.push(...(size.length ? size : await fileSum(dir, f)))
  }
  return problems
}

/** The cheap half of checkFiles: every file is there with its size (a missing or cut file is told at once). */
export function checkSizes(dir: string, m: Manifest): string[] {
  return m.files.flatMap((f) => fileSize(dir, f))
}

/** The costly half: every file's sha256, read one at a time (for files whose size is right). */
export async function checkSums(dir: string, m: Manifest): Promise<string[]> {
  const problems: string[] = []
  for (const f of m.files) if (!fileSize(dir, f).length) problems.push(...await fileSum(dir, f))
  return problems
}

function fileSize(dir: string, f: SetFile): string[] {
  const path = join(dir, f.name)
  if (!existsSync(path)) return [`${f.name}: missing`]
  const size = statSync(path).size
  return size === f.bytes ? [] : [`${f.name}: ${size} bytes, manifest says ${f.bytes}`]
}

async function fileSum(dir: string, f: SetFile): Promise<string[]> {
  const sum = await sha256File(join(dir, f.name))
  return sum === f.sha256 ? [] : [`${f.name}: sha256 ${sum.slice(0, 12)}… differs from the manifest's ${f.sha256.slice(0, 12)}…`]
}

/** Set ids are UTC timestamps that sort as strings and are safe in paths and S3 keys. */
export function setId(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/:/g, '-')
}

export function idToDate(id: string): Date | null {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})Z$/.exec(id)
  return m ? new Date(`${m[1]}T${m[2]}:${m[3]}:${m[4]}Z`) : null
}
