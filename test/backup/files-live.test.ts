// A file store backed up while it is in use: GNU tar (the real one) says which files changed or
// went away while it read them and exits 1; the set is still whole, and the warning names them.
// The volume's churn is made by tar itself at its first checkpoint (--checkpoint-action=exec),
// so it lands while the archive is written, every run.
import { afterAll, describe, expect, it } from 'vitest'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { resolveShared, retentionFrom } from '../../scripts/lib/backup/settings.ts'
import { runBackup } from '../../scripts/lib/backup/backup.ts'
import { liveRead } from '../../scripts/lib/backup/stores/files.ts'
import { which, wrapper } from './support.ts'

const tmp = tmpDir('owp-files-live-')
afterAll(() => tmp.remove())

async function backupWith(tarBody: string, data: string) {
  const bin = wrapper(join(tmp.path, `bin-${Math.random().toString(36).slice(2)}`), 'tar', tarBody)
  const envFile = join(tmp.path, 'empty.env')
  writeFileSync(envFile, '')
  const ctx = testCtx({ env: { PATH: `${bin}:${process.env.PATH}`, OPENWEBUI_DATA_DIR: data, BACKUP_STAGING_DIR: tmp.path }, yes: true })
  const s = await resolveShared(ctx, { target: 'direct', dest: join(tmp.path, `dest-${Math.random().toString(36).slice(2)}`), 'env-file': envFile })
  const report = await runBackup(ctx, { stores: ['files-openwebui'], explicit: true, target: s.target, dest: s.dest, settings: s.settings, verify: true, recipients: [], retention: retentionFrom({}) })
  return { ctx, report }
}

describe('files backup of a volume in use', () => {
  it('files that change or go away while tar reads them are named in a warning; the set is whole and verified', async () => {
    const tar = which('tar')
    const data = join(tmp.path, 'webui')
    mkdirSync(join(data, 'uploads'), { recursive: true })
    writeFileSync(join(data, 'uploads', 'a-growing.bin'), Buffer.alloc(400_000, 1))
    for (let i = 0; i < 15; i++) writeFileSync(join(data, 'uploads', `z-temp-${String(i).padStart(2, '0')}`), 'scratch')
    // in name order: a-growing.bin is read first; at the first record written it grows, and the
    // z-temp files (listed, not read yet) are removed
    const act = `exec=sh -c 'echo more >> "${data}/uploads/a-growing.bin"; rm -f "${data}"/uploads/z-temp-*'`
    const { ctx, report } = await backupWith(`exec "${tar}" --sort=name --checkpoint=1 --checkpoint-action="${act}" "$@"`, data)
    expect(report.ok, ctx.stderr()).toBe(true)
    expect(report.stores[0]).toMatchObject({ ok: true, verified: true })
    expect(ctx.stderr()).toContain('files-openwebui: 2 path(s) changed while tar read them (the archive holds each as it was read): uploads/a-growing.bin, uploads\n')
    expect(ctx.stderr()).toContain('files-openwebui: 15 path(s) went away before tar read them (not in the set): uploads/z-temp-00, uploads/z-temp-01,')
    expect(ctx.stderr()).toContain('uploads/z-temp-09 and 5 more')
  })

  it('any other failure of tar still fails the backup, with what tar said', async () => {
    const data = join(tmp.path, 'webui-2')
    mkdirSync(data)
    writeFileSync(join(data, 'f'), 'x')
    const { ctx, report } = await backupWith('echo "tar: ./f: Cannot open: Permission denied" >&2; echo "tar: ./g: file changed as we read it" >&2; exit 1', data)
    expect(report.ok).toBe(false)
    expect(ctx.stderr()).toMatch(/files-openwebui: tar exited 1: tar: \.\/f: Cannot open: Permission denied/)
  })
})

describe('liveRead', () => {
  it('reads GNU tar 1.34\'s warnings and refuses anything else', () => {
    expect(liveRead('tar: ./f0398: file changed as we read it\ntar: ./f0338: File removed before we read it\ntar: ./s: socket ignored\ntar: ./b: File shrank by 12 bytes; padding with zeros\n'))
      .toEqual({ changed: ['f0398', 'b'], removed: ['f0338'] })
    expect(liveRead('tar: .: file changed as we read it')).toEqual({ changed: ['.'], removed: [] })
    expect(liveRead('tar: ./f: file changed as we read it\ntar: Exiting with failure status due to previous errors')).toBeNull()
  })
})
