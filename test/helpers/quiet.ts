// Quiet test runs: the fakes and stand-ins a test starts write their logs to a file of this test
// file (OWP_FAKE_LOG), printed only when a test fails. OWP_TEST_VERBOSE=1 lets them talk.
import { beforeEach, expect } from 'vitest'
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { createHash } from 'node:crypto'

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
