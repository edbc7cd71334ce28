// Runs the doc blocks marked <!-- runs: test/docs/blocks.test.ts -->, as written, in a temp copy of
// the repository (node_modules and .tools linked in), with the real tools: what the reader types works.
import { describe, it, expect, afterAll } from 'vitest'
import { execFileSync, spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, symlinkSync, realpathSync, readdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { ROOT } from '../../scripts/lib/core/paths.ts'
import { blocksRunBy } from './blocks.ts'
import { tmpDir } from '../helpers/tmp.ts'

const blocks = blocksRunBy('test/docs/blocks.test.ts')
const sandboxes: { remove(): void }[] = []
afterAll(() => { for (const s of sandboxes) s.remove() })

/** The working tree as git sees it (tracked and new files, nothing ignored), without .env or caches. */
function sandbox(): string {
  const dir = tmpDir('owp-docs-run-')
  sandboxes.push(dir)
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT }).toString().split('\0').filter(Boolean)
  for (const f of files) {
    mkdirSync(dirname(join(dir.path, f)), { recursive: true })
    // Old mtimes: package.json must stay older than the install stamp, or make would run npm ci.
    try { cpSync(join(ROOT, f), join(dir.path, f), { preserveTimestamps: true }) } catch { /* deleted in the working tree */ }
  }
  // Shared installs are linked entry by entry into real directories: whatever a block does to the
  // sandbox's node_modules or .tools (npm ci, setup) removes links, never the shared files.
  for (const shared of ['node_modules', '.tools']) {
    const src = realpathSync(join(ROOT, shared))
    mkdirSync(join(dir.path, shared))
    for (const e of readdirSync(src)) if (e !== '.stamp') symlinkSync(join(src, e), join(dir.path, shared, e))
  }
  writeFileSync(join(dir.path, 'node_modules', '.stamp'), '') // newer than package.json: make skips npm ci
  return dir.path
}

describe('doc blocks run as written', () => {
  it('there are blocks to run', () => {
    expect(blocks.map((b) => b.file)).toEqual(expect.arrayContaining(['README.md', 'docs/chart.md', 'docs/monitoring.md']))
  })

  for (const b of blocks) {
    it(`${b.file}:${b.line}`, () => {
      const cwd = sandbox()
      const env = { ...process.env, NO_COLOR: '1', PATH: `${join(cwd, '.tools/bin')}:${join(cwd, 'node_modules/.bin')}:${process.env.PATH}`, MAKEFLAGS: '', npm_config_offline: 'true' }
      const r = spawnSync('bash', ['-euo', 'pipefail', '-c', b.text], { cwd, env, encoding: 'utf8', timeout: 600_000, stdio: ['ignore', 'pipe', 'pipe'] })
      expect({ code: r.status, stderr: r.status === 0 ? '' : r.stderr.split('\n').slice(-30).join('\n') }).toEqual({ code: 0, stderr: '' })
    }, 600_000)
  }
})
