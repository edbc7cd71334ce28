// Fault rows of a file store's restore (Open WebUI's data directory, target direct): a real small
// tmpfs that cannot hold the tree extracted beside the live files; a swap that fails half-way (a
// `mv` on PATH that refuses one entry, as an immutable file would); restores killed half-way
// through the swap (SIGKILL of the whole tree, or of the kit alone while its swap goes on); a set
// whose files do not match its manifest.
import { afterAll, describe, expect, it } from 'vitest'
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { canMount, dfAvailable, mountTmpfs } from '../helpers/tmpfs.ts'
import { resolveShared, retentionFrom } from '../../scripts/lib/backup/settings.ts'
import { runBackup } from '../../scripts/lib/backup/backup.ts'
import { runRestore } from '../../scripts/lib/backup/restore.ts'
import { killTree, startScript, waitFor } from './support.ts'

const tmp = tmpDir('owp-fault-files-')
let unmount = () => {}
afterAll(() => {
  try { unmount() } finally { tmp.remove() }
})

async function kit(dataDir: string, dest = join(tmp.path, 'dest'), extra: Record<string, string> = {}) {
  const ctx = testCtx({ yes: true, env: { OPENWEBUI_DATA_DIR: dataDir, BACKUP_STAGING_DIR: tmp.path, OWP_LOCK_DIR: join(tmp.path, 'locks'), ...extra } })
  const shared = await resolveShared(ctx, { store: 'files-openwebui', target: 'direct', dest, 'env-file': join(tmp.path, 'empty.env') })
  const common = { stores: ['files-openwebui' as const], explicit: true, target: shared.target, dest: shared.dest, settings: shared.settings }
  return { ctx, backup: () => runBackup(ctx, { ...common, verify: true, recipients: [], retention: retentionFrom({}) }), restore: () => runRestore(ctx, { ...common, from: 'latest' }) }
}

const contents = (dir: string) => Object.fromEntries(readdirSync(dir, { recursive: true }).map(String).sort().map((f) => {
  try { return [f, readFileSync(join(dir, f)).toString('base64')] } catch { return [f, '(dir)'] }
}))

// `mv` that fails (SHIM_MV_FAIL) or waits (SHIM_MV_HANG, touching SHIM_MV_FLAG first) when its
// arguments match, and is the real mv otherwise
const shims = join(tmp.path, 'shims')
mkdirSync(shims)
writeFileSync(join(shims, 'mv'), `#!/bin/sh
if [ -n "$SHIM_MV_FAIL" ] && printf '%s' "$*" | grep -Eq "$SHIM_MV_FAIL"; then echo "mv: cannot move '$2': Operation not permitted" >&2; exit 1; fi
if [ -n "$SHIM_MV_HANG" ] && printf '%s' "$*" | grep -Eq "$SHIM_MV_HANG"; then : > "$SHIM_MV_FLAG"; sleep "\${SHIM_MV_SLEEP:-600}"; fi
exec /bin/mv "$@"
`)
chmodSync(join(shims, 'mv'), 0o755)

/** A set of 30 top-level entries, and a live directory of 30 other ones plus a cache. */
let n = 0
async function setAndLive(): Promise<{ live: string; set: Record<string, string>; before: Record<string, string>; dest: string }> {
  const id = ++n
  writeFileSync(join(tmp.path, 'empty.env'), '')
  const src = join(tmp.path, `src-${id}`)
  mkdirSync(join(src, 'uploads'), { recursive: true })
  for (let i = 0; i < 30; i++) writeFileSync(join(src, `f${String(i).padStart(2, '0')}`), `set file ${i}`)
  writeFileSync(join(src, 'uploads', 'doc.pdf'), randomBytes(2048))
  const dest = join(tmp.path, `dest-${id}`)
  const b = await kit(src, dest)
  expect((await b.backup()).ok, b.ctx.stderr()).toBe(true)
  const live = join(tmp.path, `live-${id}`)
  mkdirSync(join(live, 'cache'), { recursive: true })
  for (let i = 0; i < 30; i++) writeFileSync(join(live, `live-${String(i).padStart(2, '0')}`), `live file ${i}`)
  writeFileSync(join(live, 'cache', 'model.bin'), 'cached')
  const set = contents(src)
  return { live, set: { ...set, cache: '(dir)', 'cache/model.bin': Buffer.from('cached').toString('base64') }, before: contents(live), dest }
}
const restoreArgs = (dest: string) => ['--store', 'files-openwebui', '--target', 'direct', '--env-file', join(tmp.path, 'empty.env'), '--dest', dest, '--from', 'latest', '--yes']
const restoreEnv = (live: string, extra: Record<string, string> = {}) => ({ OPENWEBUI_DATA_DIR: live, BACKUP_STAGING_DIR: tmp.path, OWP_LOCK_DIR: join(tmp.path, 'locks'), PATH: `${shims}:${process.env.PATH}`, ...extra })
/** What a restore set aside (the one .owp-pre-restore-* directory), as the live directory held it. */
function asideOf(live: string): Record<string, string> {
  const aside = readdirSync(live).filter((e) => e.startsWith('.owp-pre-restore-'))
  expect(aside).toHaveLength(1)
  return contents(join(live, aside[0]!))
}
const withoutAside = (c: Record<string, string>) => Object.fromEntries(Object.entries(c).filter(([k]) => !k.startsWith('.owp-pre-restore-')))

describe('file store restore faults (real tmpfs)', { timeout: 120_000 }, () => {
  it('F-RESTORE-FILES-1: the data directory has too little room for the tree extracted beside it (a 256 KiB tmpfs, a ~400 KiB set): the restore stops before extracting, the live files and their disk untouched', async (t) => {
    if (!canMount) t.skip() // mounting a tmpfs needs root (the test machines run as root)
    writeFileSync(join(tmp.path, 'empty.env'), '')
    // the set: uploads of another (bigger) day
    const big = join(tmp.path, 'big')
    mkdirSync(join(big, 'uploads'), { recursive: true })
    for (let i = 0; i < 10; i++) writeFileSync(join(big, 'uploads', `doc-${i}.pdf`), randomBytes(40 * 1024))
    writeFileSync(join(big, 'webui.db'), randomBytes(8 * 1024))
    const b = await kit(big)
    expect((await b.backup()).ok, b.ctx.stderr()).toBe(true)
    // the live directory: a few files on a small disk
    const live = join(tmp.path, 'live')
    unmount = mountTmpfs(live, '256k')
    mkdirSync(join(live, 'uploads'))
    writeFileSync(join(live, 'uploads', 'today.pdf'), randomBytes(16 * 1024))
    writeFileSync(join(live, 'webui.db'), 'live database')
    const before = contents(live)
    const free = dfAvailable(live)

    const r = await kit(live)
    const result = await r.restore()
    expect(result.ok).toBe(false)
    expect(result.stores[0]!.error).toMatch(new RegExp(`^not enough space for the 11 files restored beside ${live} on files-openwebui:${live}: needs about [\\d.]+ KiB \\([\\d.]+ KiB \\+ 20%\\), ${(free / 1024).toFixed(1)} KiB free; nothing was changed$`))
    expect(contents(live)).toEqual(before) // no .owp-restore-* tree, nothing moved aside
    expect(dfAvailable(live)).toBe(free) // the disk the app writes to was not filled
    unmount()
  })

  it('F-RESTORE-FILES-2: the swap fails half-way (one entry cannot be moved): it is undone, the directory holds what it held, the error says so', async () => {
    const { live, before, dest } = await setAndLive()
    const r = await kit(live, dest, { PATH: `${shims}:${process.env.PATH}`, SHIM_MV_FAIL: 'live-17' })
    const result = await r.restore()
    expect(result.ok).toBe(false)
    expect(result.stores[0]!.error).toMatch(/the restored files were not swapped in: .*the swap failed and was undone/)
    expect(r.ctx.stderr()).toContain(`hint: ${live} holds what it held before`)
    expect(contents(live)).toEqual(before) // nothing aside, nothing extracted left behind
  })

  it('F-RESTORE-FILES-3: killed (the whole tree) while it sets the live entries aside, and while it moves the set\'s in: the next run puts everything back, then restores; nothing is lost', async () => {
    for (const [i, hang] of [[1, 'live-12'], [2, '\\.owp-restore-[^/]*/f12']] as const) {
      const { live, set, before, dest } = await setAndLive()
      const flag = join(tmp.path, `hung-${n}`)
      const k = startScript('scripts/restore.ts', restoreArgs(dest), restoreEnv(live, { SHIM_MV_HANG: hang, SHIM_MV_FLAG: flag }))
      await waitFor(k, () => existsSync(flag))
      killTree(k)
      await k.done
      // half swapped: some entries aside, some not (or some of the set's in)
      expect(contents(live), `kill ${i}`).not.toEqual(before)
      const again = await kit(live, dest)
      const result = await again.restore()
      expect(result.ok, again.ctx.stderr()).toBe(true)
      expect(result.stores[0]!.restored![0]).toMatch(/^first, after an interrupted restore: put back what an interrupted restore \(set \S+\) had moved aside$/)
      expect(withoutAside(contents(live)), `kill ${i}`).toEqual(set)
      expect(asideOf(live), `kill ${i}: what the directory held before, all of it`).toEqual(Object.fromEntries(Object.entries(before).filter(([k]) => !k.startsWith('cache'))))
    }
  })

  it('F-RESTORE-FILES-4: the kit is killed while its swap goes on (the step outlives it, as in a container): the next run waits for that step\'s lock, sees the completed restore and refuses over its kept data', async () => {
    const { live, set, before, dest } = await setAndLive()
    const flag = join(tmp.path, `hung-${n}`)
    const k = startScript('scripts/restore.ts', restoreArgs(dest), restoreEnv(live, { SHIM_MV_HANG: '\\.owp-restore-[^/]*/f05', SHIM_MV_FLAG: flag, SHIM_MV_SLEEP: '2' }))
    await waitFor(k, () => existsSync(flag))
    process.kill(k.child.pid!, 'SIGKILL') // the kit alone: its swap (own session) goes on
    await k.done
    const again = await kit(live, dest)
    const result = await again.restore()
    expect(result.ok).toBe(false)
    expect(result.stores[0]!.error).toMatch(/\.owp-pre-restore-\S+ holds what this directory held before an earlier restore: remove it once that restore is confirmed, then run this one again; nothing was changed$/)
    expect(withoutAside(contents(live))).toEqual(set) // the orphaned swap completed, untouched by the second run
    expect(asideOf(live)).toEqual(Object.fromEntries(Object.entries(before).filter(([k]) => !k.startsWith('cache'))))
  })

  it('F-RESTORE-FILES-5: the files extracted from the set are not what its manifest says: refused before the swap, the directory untouched, the extracted tree removed', async () => {
    const { live, before, dest } = await setAndLive()
    const setDir = join(dest, 'files-openwebui', readdirSync(join(dest, 'files-openwebui'))[0]!)
    const manifest = JSON.parse(readFileSync(join(setDir, 'manifest.json'), 'utf8'))
    manifest.details.files += 1
    writeFileSync(join(setDir, 'manifest.json'), JSON.stringify(manifest))
    const r = await kit(live, dest)
    const result = await r.restore()
    expect(result.ok).toBe(false)
    expect(result.stores[0]!.error).toMatch(/^files-openwebui: the files extracted from the set are 31 \(\d+ bytes\), the set has 32 \(\d+\); nothing was changed$/)
    expect(contents(live)).toEqual(before)
    rmSync(setDir, { recursive: true })
  })
})
