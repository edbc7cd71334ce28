// What restores kept in a store's data directory, as a backup lists it for the kept-copies metrics:
// the real listing script run by sh, du and stat in a temp directory.
import { afterAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { KEPT_FILES_SCRIPT, keptFiles, parseKeptFiles } from '../../scripts/lib/backup/stores/kept-files.ts'
import type { Target } from '../../scripts/lib/backup/types.ts'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'

const tmp = tmpDir('owp-kept-files-')
afterAll(() => tmp.remove())
const list = (dir: string, ...prefixes: string[]) => listWith(process.env.PATH!, dir, ...prefixes)
const listWith = (path: string, dir: string, ...prefixes: string[]) => {
  try { return { code: 0, out: execFileSync('sh', ['-c', KEPT_FILES_SCRIPT, 'sh', dir, ...prefixes], { env: { ...process.env, PATH: path }, stdio: ['ignore', 'pipe', 'ignore'] }).toString() } } catch (e) { return { code: (e as { status: number }).status, out: '' } }
}

describe('what restores kept in a data directory', () => {
  it('lists every entry under the given prefixes with its size and when it was set aside (a name with spaces too), nothing else', () => {
    const dir = join(tmp.path, 'data dir')
    mkdirSync(join(dir, 'appendonlydir'), { recursive: true })
    writeFileSync(join(dir, 'dump.rdb'), 'x'.repeat(10_000))
    writeFileSync(join(dir, 'appendonlydir', 'a.aof'), 'y'.repeat(50_000))
    writeFileSync(join(dir, 'dump.rdb.owp-restore'), 'not kept')
    renameSync(join(dir, 'dump.rdb'), join(dir, 'dump.rdb.pre-restore-2026-12-03T10-00-00Z'))
    renameSync(join(dir, 'appendonlydir'), join(dir, 'appendonlydir.pre-restore-2026-12-03T10-00-00Z.2 x'))
    const r = list(dir, 'dump.rdb.pre-restore-', 'appendonlydir.pre-restore-')
    expect(r.code).toBe(0)
    const kept = parseKeptFiles(r.out)
    expect(kept.names).toEqual(['dump.rdb.pre-restore-2026-12-03T10-00-00Z', 'appendonlydir.pre-restore-2026-12-03T10-00-00Z.2 x'])
    expect(kept.bytes).toBeGreaterThanOrEqual(60_000)
    const ctime = Math.min(...kept.names.map((n) => Math.floor(statSync(join(dir, n)).ctimeMs / 1000)))
    expect(kept.since!.getTime() / 1000).toBe(ctime)
  })

  it('none kept: an empty list; a directory that is not there: exit 3 (no restore can have kept anything there)', () => {
    const empty = join(tmp.path, 'empty')
    mkdirSync(empty)
    expect(list(empty, '.owp-pre-restore-')).toEqual({ code: 0, out: '' })
    expect(parseKeptFiles('')).toEqual({ names: [], bytes: 0, since: null })
    expect(list(join(tmp.path, 'nowhere'), '.owp-pre-restore-').code).toBe(3)
  })

  it('leaves out a line that does not read as one', () => {
    expect(parseKeptFiles('du: cannot read\n12 1700000000 .owp-pre-restore-a\n').names).toEqual(['.owp-pre-restore-a'])
  })

  it('an entry du or stat cannot read stops the listing (exit 4): the backup warns and the metrics keep their last values, never a false "none"', async () => {
    const dir = join(tmp.path, 'unreadable')
    mkdirSync(join(dir, '.owp-pre-restore-x'), { recursive: true })
    const bin = join(tmp.path, 'bin')
    mkdirSync(bin)
    writeFileSync(join(bin, 'stat'), '#!/bin/sh\necho "stat: cannot statx" >&2; exit 1\n')
    chmodSync(join(bin, 'stat'), 0o755)
    expect(listWith(`${bin}:${process.env.PATH}`, dir, '.owp-pre-restore-').code).toBe(4)

    const ctx = testCtx()
    const answer = (exitCode: number, stdout = '') => ({ run: async () => ({ argv: [], exitCode, stdout, stderr: '', durationMs: 0, skipped: false }) }) as unknown as Target
    expect(await keptFiles(ctx, answer(4), 'files-openwebui', dir, ['.owp-pre-restore-'])).toBeUndefined()
    expect(ctx.stderr()).toContain(`files-openwebui: could not list what restores kept in ${dir}: the kept-copies metrics keep their last values`)
    expect(await keptFiles(ctx, answer(3), 'redis', '/data', ['dump.rdb.pre-restore-'])).toEqual({ names: [], bytes: 0, since: null })
    expect(await keptFiles(ctx, answer(0, '8 1700000000 .owp-pre-restore-x\n'), 'files-openwebui', dir, ['.owp-pre-restore-'])).toEqual({ names: ['.owp-pre-restore-x'], bytes: 8192, since: new Date(1_700_000_000_000) })
    expect(ctx.stderr()).toContain(`files-openwebui: not backed up: .owp-pre-restore-x in ${dir} (what a restore replaced, kept until you remove it)`)
  })
})
