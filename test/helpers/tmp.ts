import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A fresh temp directory; remove() deletes it. */
export function tmpDir(prefix = 'owp-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix))
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) }
}

// one list (and one exit listener) per process: vitest loads this module afresh for each test file
const OWNED = Symbol.for('owp.tmpDirOwned')
const registry = globalThis as { [OWNED]?: string[] }
if (!registry[OWNED]) {
  registry[OWNED] = []
  process.once('exit', removeOwnedDirs)
}
const owned = registry[OWNED]
/**
 * A fresh temp directory for a helper whose callers keep no handle to remove it (fake programs, a
 * bare PATH, a certificate): removed once the test file is done (test/helpers/quiet.ts calls
 * removeOwnedDirs after the file's own hooks), or when a process outside vitest exits.
 */
export function tmpDirOwned(prefix: string): { path: string; remove(): void } {
  const dir = tmpDir(prefix)
  owned.push(dir.path)
  return dir
}

export function removeOwnedDirs(): void {
  for (const p of owned.splice(0)) rmSync(p, { recursive: true, force: true })
}
