// A real small tmpfs for the tests that need a filesystem with little room (mounting needs root:
// the test machines run as root). Unmounted by the returned function; a second call is a no-op.
import { execFileSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'

export const canMount = process.getuid?.() === 0

/** Mount a tmpfs of `size` (e.g. "64k") at `dir` (created); returns the unmount. */
export function mountTmpfs(dir: string, size: string): () => void {
  mkdirSync(dir, { recursive: true })
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir])
  let mounted = true
  return () => {
    if (!mounted) return
    execFileSync('umount', [dir])
    mounted = false
  }
}

/** What df says is available there, in bytes (the number the kit reads). */
export function dfAvailable(dir: string): number {
  const line = execFileSync('df', ['-Pk', dir]).toString().trim().split('\n').pop()!
  return Number(line.split(/\s+/)[3]) * 1024
}
