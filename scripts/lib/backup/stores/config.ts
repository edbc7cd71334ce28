// The deployment's configuration (.env) for escrow: encrypted with age to the recipient(s) the
// operator names, straight from the file (the plaintext never lands in the set); refused without
// a recipient. Restore decrypts beside the current .env (never over it): the operator compares and
// moves it into place.
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import dotenv from 'dotenv'
import { KitError, UsageError } from '../../core/errors.ts'
import type { Ctx } from '../../core/context.ts'
import { finishFile, partialPath } from '../manifest.ts'
import { decryptFile } from '../encryption.ts'
import type { DriverRun, DumpResult, Manifest, RestoreResult, StoreDriver, VerifyResult } from '../types.ts'

const FILE = 'env.age'

export interface ConfigDetails { source: string; variables: number; recipients: string[] }

/** Why the config store cannot run with these settings (null: it can). */
export function configProblem(s: DriverRun['settings']): string | null {
  if (!s.configRecipients?.length) return 'the configuration (.env) is only backed up encrypted: pass --config-recipient age1... (or BACKUP_CONFIG_RECIPIENT)'
  if (!s.envFile || !existsSync(s.envFile)) return `no .env to back up${s.envFile ? ` (${s.envFile} not found)` : ''}: pass --env-file`
  return null
}

async function backup(ctx: Ctx, run: DriverRun): Promise<DumpResult> {
  const why = configProblem(run.settings)
  if (why) throw new UsageError(why)
  const source = run.settings.envFile!
  const started = Date.now()
  const version = (await ctx.exec(['age', '--version'], { allowFailure: true })).stdout.trim() || 'unknown'
  await ctx.exec(['age', ...run.settings.configRecipients!.flatMap((r) => ['-r', r]), '-o', partialPath(run.dir, FILE), source], { mutates: true, title: 'age .env' })
  if (!ctx.dryRun) finishFile(run.dir, FILE)
  const details: ConfigDetails = { source, variables: Object.keys(dotenv.parse(readFileSync(source))).length, recipients: run.settings.configRecipients! }
  return { files: [{ name: FILE, kind: 'age', durationMs: Date.now() - started }], tools: { age: version }, server: { version: 'n/a' }, details: details as unknown as Record<string, unknown> }
}

async function verify(ctx: Ctx, run: DriverRun): Promise<VerifyResult> {
  if (ctx.dryRun) return { method: 'age header' }
  // Without the operator's key the kit cannot decrypt: it proves the file is a whole age file to the recipients.
  const head = readFileSync(join(run.dir, FILE)).subarray(0, 4096).toString('latin1')
  if (!head.startsWith('age-encryption.org/v1\n')) throw new KitError(`${FILE} is not an age file`)
  const stanzas = (head.match(/^-> X25519 /gm) ?? []).length
  if (stanzas < (run.settings.configRecipients?.length ?? 1)) throw new KitError(`${FILE} has ${stanzas} recipient stanza(s), expected ${run.settings.configRecipients?.length}`)
  return { method: 'age header', detail: `encrypted to ${stanzas} recipient(s), ${statSync(join(run.dir, FILE)).size} bytes` }
}

/** Where a restore writes the decrypted .env: beside the current one, never over it. */
export function restoredEnvPath(envFile: string | null | undefined, cwd: string, id: string): string {
  const base = envFile ?? join(cwd, '.env')
  return existsSync(base) ? join(dirname(base), `${basename(base)}.restored-${id}`) : base
}

async function restore(ctx: Ctx, run: DriverRun, manifest: Manifest): Promise<RestoreResult> {
  if (!run.settings.identity) throw new UsageError(`the configuration of set ${manifest.id} is encrypted: pass --identity <age key file> (or BACKUP_AGE_IDENTITY)`)
  const out = restoredEnvPath(run.settings.envFile, ctx.cwd, manifest.id)
  if (existsSync(out)) throw new KitError(`${out} exists already: remove it or move it away first`)
  // age writes with the umask (0644 mostly): decrypt into the run's private directory, then the
  // file appears under its name already 0600 (a rename), never readable by others, never half
  const plain = join(run.scratch, 'env.plain')
  await decryptFile(ctx, join(run.dir, FILE), plain, run.settings.identity)
  if (!ctx.dryRun) {
    const partial = `${out}.partial-${process.pid}`
    writeFileSync(partial, readFileSync(plain), { mode: 0o600, flag: 'wx' })
    renameSync(partial, out)
  }
  const d = manifest.details as unknown as ConfigDetails
  return {
    restored: [`the configuration (${d.variables} variables) into ${out} (mode 0600)`],
    warnings: out.includes('.restored-') ? [`the current .env was left as it is: compare it with ${out} and move the one you want into place`] : [],
  }
}

export const configDriver: StoreDriver = {
  name: 'config',
  backup,
  verify,
  restore,
  describeRestore: () => 'nothing: the configuration is written beside the current .env, never over it',
  leavesWritersRunning: true,
}
