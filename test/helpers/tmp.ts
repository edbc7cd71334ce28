import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A fresh temp directory; remove() deletes it. */
export function tmpDir(prefix = 'owp-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix))
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) }
}

const owned: string[] = []
/**
 * A fresh temp directory for a helper whose callers keep no handle to remove it (fake programs, a
 * bare PATH, a certificate): removed once the test file is done (test/helpers/quiet.ts calls
 * removeOwnedDirs after the file's own hooks), or when a process outside vitest exits.
 */
export function tmpDirOwned(prefix: string): { path: string; remove(): void } {
  const dir = tmpDir(prefix)
  if (owned.length === 0) process.once('exit', removeOwnedDirs)
  owned.push(dir.path)
  return dir
}

export function removeOwnedDirs(): void {
  for (const p of owned.splice(0)) rmSync(p, { recursive: true, force: true })
}
