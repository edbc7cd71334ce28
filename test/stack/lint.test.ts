// make lint's chart check when helm itself fails: each scenario says why, never an empty problem.
import { describe, it, expect } from 'vitest'
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { helmLint } from '../../scripts/lib/stack/lint.ts'
import { CHART_DIR } from '../../scripts/lib/core/paths.ts'
import { fakeBins } from '../helpers/fake-bins.ts'
import { testCtx } from '../helpers/context.ts'

const SCENARIOS = readdirSync(join(CHART_DIR, 'ci')).filter((f) => f.endsWith('.yaml')).sort()

describe('helm lint of every ci/ scenario', () => {
  it('no helm3 on PATH: each scenario names the reason (the shell\'s "command not found"), not an empty line', async () => {
    const ctx = testCtx({ path: dirname(process.execPath) })
    const problems = await helmLint(ctx, 'helm3')
    expect(problems).toEqual(SCENARIOS.map((s) => expect.stringMatching(new RegExp(`^${s.replace('.', '\\.')}: .*helm3: command not found$`))))
  })

  it('a helm that dies without a word (killed): its exit code', async () => {
    const bins = fakeBins({ helm: { exitCode: 137 } })
    try {
      const problems = await helmLint(testCtx({ path: bins.path }), 'helm')
      expect(problems).toEqual(SCENARIOS.map((s) => `${s}: exit code 137`))
    } finally {
      bins.remove()
    }
  })
})
