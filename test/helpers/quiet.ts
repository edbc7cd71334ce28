// Quiet test runs: the fakes and stand-ins a test starts write their logs to a file of this test
// file (OWP_FAKE_LOG), printed only when a test fails. OWP_TEST_VERBOSE=1 lets them talk.
import { afterAll, beforeEach, expect } from 'vitest'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { tmpdir } from 'node:os'
import { createHash } from 'node:crypto'
import { removeOwnedDirs } from './tmp.ts'

// Each test file keeps the kit's host state (its leases, the record of stopped writers) in a home
// of its own, never in the user's ~/.local/state/owp: a run killed on this machine earlier (or a
// file beside this one) cannot leave a lease or a record that a test then reads. A test that wants
// a place of its own still sets OWP_LOCK_DIR / OWP_STATE_DIR, which come first.
const stateHome = mkdtempSync(join(tmpdir(), 'owp-test-state-'))
process.env.XDG_STATE_HOME = stateHome
afterAll(() => rmSync(stateHome, { recursive: true, force: true }))
// registered first, so it runs after the file's own afterAll hooks: the helpers' directories go last
afterAll(removeOwnedDirs)

const verbose = Boolean(process.env.OWP_TEST_VERBOSE)
const dir = join(import.meta.dirname, '..', '..', '.cache', 'test-logs')

if (!verbose) {
  const testPath = expect.getState().testPath ?? ''
  const file = join(dir, `${basename(testPath, '.ts')}-${createHash('sha256').update(testPath).digest('hex').slice(0, 8)}.log`)
  mkdirSync(dir, { recursive: true })
  writeFileSync(file, '')
  process.env.OWP_FAKE_LOG = file
  beforeEach(({ onTestFailed, task }) => {
    const from = statSync(file).size
    onTestFailed(() => {
      const text = readFileSync(file).subarray(from).toString()
      if (text.trim()) process.stderr.write(`\n--- what the fakes logged during "${task.name}" (${file}) ---\n${text}--- end ---\n`)
    })
  })
}
