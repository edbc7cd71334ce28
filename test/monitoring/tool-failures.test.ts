// A monitoring tool that fails must fail its check with the tool's own words (masked), or its exit
// code when it printed none: never an empty list of problems, which reads as "ok".
import { describe, it, expect } from 'vitest'
import { lintMonitoring } from '../../scripts/lib/monitoring/lint.ts'
import { promtoolCheckConfig } from '../../scripts/lib/monitoring/promtool.ts'
import { fakeBins } from '../helpers/fake-bins.ts'
import { testCtx } from '../helpers/context.ts'

describe('a failing monitoring tool', () => {
  it('promtool that exits 1 without a word: the promtool checks fail with its exit code, the others are untouched', async () => {
    const bins = fakeBins({ promtool: { exitCode: 1 } })
    try {
      const report = await lintMonitoring(testCtx({ path: bins.path }), { prometheusUrl: false })
      const by = Object.fromEntries(report.checks.map((c) => [c.name, c]))
      for (const name of ['prometheus config (promtool check config)', 'rule files (promtool check rules)', 'rule unit tests (promtool test rules)']) {
        expect(by[name], name).toMatchObject({ ok: false, problems: ['promtool: exit code 1'] })
      }
      expect(by['alert conventions and runbooks']!.ok).toBe(true)
      expect(report.ok).toBe(false)
    } finally {
      bins.remove()
    }
  }, 120_000)

  it('what it printed is the problem, with a registered secret masked', async () => {
    const secret = 'smtp-pass-Y7k2Lq9Vw'
    const bins = fakeBins({ promtool: { exitCode: 1, stdout: 'Checking prometheus.yml\n', stderr: `  FAILED: parsing YAML file prometheus.yml: basic_auth password ${secret} and password_file are mutually exclusive\n` } })
    try {
      const ctx = testCtx({ path: bins.path })
      ctx.secrets.add(secret)
      expect(await promtoolCheckConfig(ctx, 'prometheus.yml')).toEqual({ ok: false,
        output: 'Checking prometheus.yml\n  FAILED: parsing YAML file prometheus.yml: basic_auth password *** and password_file are mutually exclusive' })
    } finally {
      bins.remove()
    }
  })
})
