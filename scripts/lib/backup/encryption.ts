// age encryption of set files: to public recipients (age1...) on backup, with an identity file on
// restore. The plaintext is staged outside the set (backup.ts) and removed once encrypted.
import { existsSync, unlinkSync } from 'node:fs'
import { join } from 'node:path'
import { UsageError, KitError } from '../core/errors.ts'
import type { Ctx } from '../core/context.ts'
import { finishFile, partialPath } from './manifest.ts'

export const AGE_RECIPIENT = /^age1[0-9a-z]{58}$/

export function parseRecipients(value: string | undefined): string[] {
  if (!value) return []
  const list = value.split(/[\s,]+/).filter(Boolean)
  const bad = list.filter((r) => !AGE_RECIPIENT.test(r))
  if (bad.length) throw new UsageError(`--encrypt needs age recipients (age1 followed by 58 characters), got ${bad.join(', ')}`, 'age-keygen -y key.txt prints the recipient of a key')
  return list
}

/**
 * Encrypt dir/name to outDir/name.age (through .partial), remove the plaintext; returns the new name.
 * The backup stages plaintext outside the destination (outDir is the set): no plaintext lands in the set.
 */
export async function encryptFile(ctx: Ctx, dir: string, name: string, recipients: string[], outDir = dir): Promise<string> {
  const out = `${name}.age`
  await ctx.exec(['age', ...recipients.flatMap((r) => ['-r', r]), '-o', partialPath(outDir, out), join(dir, name)], { mutates: true, timeout: 6 * 3_600_000, title: `age ${name}` })
  finishFile(outDir, out)
  unlinkSync(join(dir, name))
  return out
}

/** Decrypt `from` into `to` with the identity file (age -d -i). */
export async function decryptFile(ctx: Ctx, from: string, to: string, identity: string | undefined): Promise<void> {
  if (!identity) throw new UsageError(`${from} is encrypted: pass --identity <age key file> (or set BACKUP_AGE_IDENTITY)`)
  if (!existsSync(identity)) throw new UsageError(`age identity file not found: ${identity}`)
  try {
    await ctx.exec(['age', '-d', '-i', identity, '-o', to, from], { timeout: 6 * 3_600_000, title: 'age -d' })
  } catch (e) {
    throw new KitError(`cannot decrypt ${from}: ${(e as Error).message}`, 1, 'is the identity the key the set was encrypted to?')
  }
}
