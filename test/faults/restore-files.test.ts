// Fault row of a file store's restore (Open WebUI's data directory, target direct): the directory
// is a real small tmpfs that cannot hold the tree extracted beside the live files.
import { afterAll, describe, expect, it } from 'vitest'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { canMount, dfAvailable, mountTmpfs } from '../helpers/tmpfs.ts'
import { resolveShared, retentionFrom } from '../../scripts/lib/backup/settings.ts'
import { runBackup } from '../../scripts/lib/backup/backup.ts'
import { runRestore } from '../../scripts/lib/backup/restore.ts'

const tmp = tmpDir('owp-fault-files-')
let unmount = () => {}
afterAll(() => {
  try { unmount() } finally { tmp.remove() }
})

async function kit(dataDir: string) {
  const ctx = testCtx({ yes: true, env: { OPENWEBUI_DATA_DIR: dataDir, BACKUP_STAGING_DIR: tmp.path } })
  const shared = await resolveShared(ctx, { store: 'files-openwebui', target: 'direct', dest: join(tmp.path, 'dest'), 'env-file': join(tmp.path, 'empty.env') })
  const common = { stores: ['files-openwebui' as const], explicit: true, target: shared.target, dest: shared.dest, settings: shared.settings }
  return { ctx, backup: () => runBackup(ctx, { ...common, verify: true, recipients: [], retention: retentionFrom({}) }), restore: () => runRestore(ctx, { ...common, from: 'latest' }) }
}

const contents = (dir: string) => Object.fromEntries(readdirSync(dir, { recursive: true }).map(String).sort().map((f) => {
  try { return [f, readFileSync(join(dir, f)).toString('base64')] } catch { return [f, '(dir)'] }
}))

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
})
