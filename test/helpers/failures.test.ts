// The failed tests that `make test` lists again right before its summary, for CI's tail.
import { describe, it, expect } from 'vitest'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { failureLines, gist, summary, unhandledLines } from './failures.ts'
import { tmpDir } from './tmp.ts'

const report = {
  testResults: [
    { name: '/repo/test/a.test.ts', status: 'passed', assertionResults: [{ fullName: 'a works', status: 'passed', failureMessages: [] }] },
    {
      name: '/repo/test/b.test.ts', status: 'failed', assertionResults: [
        { fullName: 'b lock F-LOCK-9 takes over', status: 'failed', failureMessages: ['\x1b[31mAssertionError: expected 75 to be 0\x1b[39m\n    at b.test.ts:10'] },
        { fullName: 'b other', status: 'passed' },
      ],
    },
    { name: '/repo/test/c.test.ts', status: 'failed', message: "Error: Cannot find module './gone.ts'\n  at ...", assertionResults: [] },
  ],
}

describe('the failures make test lists again', () => {
  it('one line per failed test (first line of its error, no colour) and per file that failed outside its tests', () => {
    expect(failureLines(report, '/repo')).toEqual([
      'test/b.test.ts > b lock F-LOCK-9 takes over: AssertionError: expected 75 to be 0',
      "test/c.test.ts: Error: Cannot find module './gone.ts'",
    ])
  })

  it('a message that begins with the log a test passed to expect() still shows its cause: the kit\'s ✖, the server\'s ERROR, vitest\'s expected', () => {
    const message = [
      'AssertionError: › postgres: backup 2026-12-03T15-49-49Z from postgres at 127.0.0.1:27543',
      '· postgres: app restored beside the live database and proven (row counts equal)',
      '✖ postgres: restore failed: could not swap the restored databases in',
      '    ERROR:  database "app_owp_old_3e0981144d" already exists',
      ': expected false to be true // Object.is equality',
      '', '- Expected', '+ Received', '- true', '+ false', ' ❯ test/backup/postgres.test.ts:303:56',
    ].join('\n')
    expect(gist(message)).toBe('AssertionError: › postgres: backup 2026-12-03T15-49-49Z from postgres at 127.0.0.1:27543 | ✖ postgres: restore failed: could not swap the restored databases in | ERROR:  database "app_owp_old_3e0981144d" already exists | : expected false to be true // Object.is equality')
    expect(gist('x'.repeat(2000))).toHaveLength(300)
  })

  it('says nothing for a run that passed, and says so when the run wrote no report', () => {
    const dir = tmpDir('owp-failures-')
    try {
      const ok = join(dir.path, 'ok.json')
      writeFileSync(ok, JSON.stringify({ testResults: [report.testResults[0]] }))
      expect(summary('engine-free suites', ok, dir.path)).toEqual([])
      expect(summary('engine-free suites', join(dir.path, 'none.json'), dir.path)).toEqual(['engine-free suites: no report at none.json (the run ended before writing it)'])
      const bad = join(dir.path, 'bad.json')
      writeFileSync(bad, JSON.stringify(report))
      expect(summary('engine-free suites', bad, '/repo')[0]).toBe('engine-free suites: 2 failed')
    } finally { dir.remove() }
  })

  it('keeps the list short: after 12 lines it says how many more', () => {
    const many = { testResults: [{ name: '/repo/t.test.ts', status: 'failed', assertionResults: Array.from({ length: 15 }, (_, i) => ({ fullName: `t${i}`, status: 'failed', failureMessages: ['boom'] })) }] }
    const dir = tmpDir('owp-failures-')
    try {
      const p = join(dir.path, 'many.json')
      writeFileSync(p, JSON.stringify(many))
      const lines = summary('timing suites', p, '/repo')
      expect(lines).toHaveLength(14)
      expect(lines.at(-1)).toBe("  … and 3 more (the suite's own output above has them all)")
    } finally { dir.remove() }
  })

  it('an error outside the tests (the run fails, its JSON report says nothing): named from the run\'s output, with the file that ran', () => {
    const output = [
      ' ✓  engine-free  test/e2e/harness/sequencer.test.ts (2 tests) 17ms',
      '⎯⎯⎯⎯⎯⎯ Unhandled Errors ⎯⎯⎯⎯⎯⎯', '', 'Vitest caught 1 unhandled error during the test run.', '',
      '\x1b[31m⎯⎯⎯⎯⎯ Uncaught Exception ⎯⎯⎯⎯⎯\x1b[39m',
      'Error: listen EADDRINUSE: address already in use 127.0.0.1:29404',
      ' ❯ Server.setupListenHandle [as _listen2] node:net:1908:16', '',
      "Serialized Error: { code: 'EADDRINUSE', errno: -98 }",
      'This error originated in "test/e2e/harness/fakes.test.ts" test file. It doesn\'t mean the error was thrown inside the file itself, but while it was running.',
      '⎯⎯⎯⎯⎯ Unhandled Rejection ⎯⎯⎯⎯⎯', 'TypeError: x is not a function', '',
      ' Test Files  129 passed (129)', '     Errors  2 errors',
    ].join('\n')
    expect(unhandledLines(output)).toEqual([
      'Error: listen EADDRINUSE: address already in use 127.0.0.1:29404 (while test/e2e/harness/fakes.test.ts ran)',
      'TypeError: x is not a function',
    ])
    const dir = tmpDir('owp-failures-')
    try {
      const report = join(dir.path, 'r.json')
      const log = join(dir.path, 'r.log')
      writeFileSync(report, JSON.stringify({ success: true, testResults: [{ name: '/repo/t.test.ts', status: 'passed', assertionResults: [] }] }))
      writeFileSync(log, output)
      expect(summary('engine-free suites', report, dir.path, log)).toEqual([
        'engine-free suites: no test failed, but 2 error(s) outside the tests failed the run',
        '  Error: listen EADDRINUSE: address already in use 127.0.0.1:29404 (while test/e2e/harness/fakes.test.ts ran)',
        '  TypeError: x is not a function',
      ])
      expect(summary('engine-free suites', report, dir.path)).toEqual([]) // the caller then says the run failed without a name
    } finally { dir.remove() }
  })
})
