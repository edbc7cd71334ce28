// PostgreSQL's client programs on this host. Debian's /usr/bin/psql, pg_dump, pg_restore, ... are
// one Perl script (postgresql-common's pg_wrapper) that picks a version, then execs
// /usr/lib/postgresql/<version>/bin/<program>: some 30 ms of Perl before every command. Told where
// to connect (PGHOST, as the kit always sets it), the wrapper picks the newest version installed;
// the kit puts that version's directory on PATH right before the wrapper's, so the same programs
// run without it. What comes earlier on PATH (another installation, a site's own wrapper) still
// wins; a PATH whose psql is no pg_wrapper is left as it is.
import { existsSync, readdirSync, realpathSync } from 'node:fs'
import { delimiter, join } from 'node:path'

const WRAPPER = /\/postgresql-common\/pg_wrapper$/
const PROGRAMS = ['psql', 'pg_dump', 'pg_restore', 'pg_dumpall']
const known = new Map<string, string | null>()

/** PATH with the newest version's client directory right before the pg_wrapper's (null: nothing to change). */
export function pgClientPath(path: string | undefined, root = '/usr/lib/postgresql'): string | null {
  const key = `${path ?? ''}\0${root}`
  if (!known.has(key)) known.set(key, resolve(path, root))
  return known.get(key)!
}

function resolve(path: string | undefined, root: string): string | null {
  const dirs = (path ?? '').split(delimiter)
  const at = dirs.findIndex((d) => d !== '' && existsSync(join(d, 'psql')))
  if (at < 0) return null
  let target: string
  try { target = realpathSync(join(dirs[at]!, 'psql')) } catch { return null }
  if (!WRAPPER.test(target) || !existsSync(root)) return null
  const versions = readdirSync(root).filter((v) => /^\d+(\.\d+)?$/.test(v)).sort((a, b) => Number(b) - Number(a))
  const newest = versions.find((v) => PROGRAMS.every((p) => existsSync(join(root, v, 'bin', p))))
  if (!newest) return null
  return [...dirs.slice(0, at), join(root, newest, 'bin'), ...dirs.slice(at)].join(delimiter)
}

/** env with pgClientPath's PATH (unchanged when there is none). */
export function withPgClientPath(env: Record<string, string>, path: string | undefined): Record<string, string> {
  const changed = pgClientPath(path)
  return changed ? { ...env, PATH: changed } : env
}
