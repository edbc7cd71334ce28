// One variable of a .env file read and set in place: every other line kept as it was, written
// through a temp file and a rename (a kill leaves the old file or the new one, never half).
import { existsSync, readFileSync } from 'node:fs'
import { atomicWrite } from '../manifest.ts'

export function readEnvValue(file: string, name: string): string | null {
  if (!existsSync(file)) return null
  const m = new RegExp(`^\\s*(?:export\\s+)?${name}\\s*=\\s*(.*)$`, 'm').exec(readFileSync(file, 'utf8'))
  const v = m?.[1]?.trim().replace(/^(['"])(.*)\1$/, '$2')
  return v ? v : null
}

/** Set (or, with null, remove) `name`; the file keeps its mode. */
export function writeEnvValue(file: string, name: string, value: string | null): void {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : ''
  const re = new RegExp(`^\\s*(?:export\\s+)?${name}\\s*=.*$\\n?`, 'm')
  const line = value === null ? '' : `${name}=${value}\n`
  const next = re.test(text) ? text.replace(re, line) : value === null ? text : `${text}${text && !text.endsWith('\n') ? '\n' : ''}${line}`
  atomicWrite(file, next, 0o600)
}
