// PostgreSQL's client programs without Debian's pg_wrapper (a Perl script run before each of them):
// the newest installed version's directory goes right before the wrapper's on PATH, only when
// PATH's psql is that wrapper; what comes earlier on PATH still wins.
import { afterAll, describe, expect, it } from 'vitest'
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpDir } from '../helpers/tmp.ts'
import { pgClientPath, withPgClientPath } from '../../scripts/lib/tools/pg-client.ts'

const tmp = tmpDir('owp-pg-client-')
afterAll(() => tmp.remove())

/** A host: /usr/share/postgresql-common/pg_wrapper, /usr/bin/psql -> it, and /usr/lib/postgresql/<v>/bin/<programs>. */
function host(name: string, versions: Record<string, string[]>, psql: 'wrapper' | 'binary' | 'none' = 'wrapper'): { path: string; root: string } {
  const base = join(tmp.path, name)
  const bin = join(base, 'usr', 'bin')
  const common = join(base, 'usr', 'share', 'postgresql-common')
  const root = join(base, 'usr', 'lib', 'postgresql')
  mkdirSync(bin, { recursive: true })
  mkdirSync(common, { recursive: true })
  writeFileSync(join(common, 'pg_wrapper'), '#!/usr/bin/perl\n')
  chmodSync(join(common, 'pg_wrapper'), 0o755)
  if (psql === 'wrapper') symlinkSync('../share/postgresql-common/pg_wrapper', join(bin, 'psql'))
  if (psql === 'binary') writeFileSync(join(bin, 'psql'), '')
  for (const [v, programs] of Object.entries(versions)) {
    mkdirSync(join(root, v, 'bin'), { recursive: true })
    for (const p of programs) writeFileSync(join(root, v, 'bin', p), '')
  }
  return { path: `${join(base, 'nothing-here')}:${bin}`, root }
}
const ALL = ['psql', 'pg_dump', 'pg_restore', 'pg_dumpall']

describe('pgClientPath', () => {
  it('PATH\'s psql is the wrapper: the newest version that has every client program (as the wrapper picks for a given host), right before the wrapper\'s directory', () => {
    const h = host('two', { 13: ALL, 16: ALL, 17: ['psql'], 'not-a-version': ALL })
    const [first, bin] = h.path.split(':')
    expect(pgClientPath(h.path, h.root)).toBe(`${first}:${join(h.root, '16', 'bin')}:${bin}`)
  })
  it('a program placed earlier on PATH (a site\'s own pg_dump, a test\'s fault) still wins', () => {
    const h = host('earlier', { 15: ALL })
    const own = join(tmp.path, 'earlier-own')
    mkdirSync(own)
    writeFileSync(join(own, 'pg_dump'), '')
    const path = `${own}:${h.path}`
    expect(pgClientPath(path, h.root)!.split(':').indexOf(own)).toBe(0)
    expect(pgClientPath(path, h.root)!.split(':').indexOf(join(h.root, '15', 'bin'))).toBeGreaterThan(0)
  })
  it('leaves PATH alone when its psql is another installation, or there is none, or no version is complete', () => {
    const binary = host('binary', { 16: ALL }, 'binary')
    expect(pgClientPath(binary.path, binary.root)).toBeNull()
    const none = host('none', { 16: ALL }, 'none')
    expect(pgClientPath(none.path, none.root)).toBeNull()
    const partial = host('partial', { 16: ['psql'] })
    expect(pgClientPath(partial.path, partial.root)).toBeNull()
    expect(pgClientPath(undefined, partial.root)).toBeNull()
  })
  it('withPgClientPath changes PATH only and keeps the rest of the environment', () => {
    // this host's own installation (Debian's postgresql, as `make setup` installs it)
    const here = withPgClientPath({ PGHOST: '127.0.0.1' }, process.env.PATH)
    expect(here.PGHOST).toBe('127.0.0.1')
    expect(here.PATH).toBe(pgClientPath(process.env.PATH) ?? undefined)
  })
})
