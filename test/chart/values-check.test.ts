// helm lint --strict on every scenario, and a folder of bad values files each rejected by BOTH helm
// versions with a message that names the field (schema) or says what to set (render-time checks).
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CHART_DIR } from '../../scripts/lib/core/paths.ts'
import { HELM_VERSIONS, runHelm, templateArgs } from '../helpers/k8s-render.ts'

const BAD = join(import.meta.dirname, 'bad-values')
const badFiles = readdirSync(BAD).filter((f) => f.endsWith('.yaml')).sort()
const scenarios = readdirSync(join(CHART_DIR, 'ci')).filter((f) => f.endsWith('-values.yaml')).sort()

const rejections: string[] = []

describe.each(HELM_VERSIONS)('helm %s', (v) => {
  it('lints the chart --strict with its defaults and with every ci/ scenario', async () => {
    const runs = await Promise.all([undefined, ...scenarios].map(async (s) => {
      const r = await runHelm(v, ['lint', '--strict', CHART_DIR, ...(s ? ['--values', join(CHART_DIR, 'ci', s)] : [])])
      return { scenario: s ?? 'defaults', code: r.code, output: r.code === 0 ? '' : r.stdout + r.stderr }
    }))
    expect(runs.filter((r) => r.code !== 0)).toEqual([])
  })

  it.each(badFiles)('rejects bad-values/%s naming the field', async (file) => {
    const text = readFileSync(join(BAD, file), 'utf8')
    const expected = new RegExp(/^# expect: (.+)$/m.exec(text)![1])
    const r = await runHelm(v, templateArgs({ valuesFiles: [join(BAD, file)] }))
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(expected)
    rejections.push(r.stderr)
  })
})

// Runs after the rejections above (tests in a file run in order): each rule must have fired once.
it('has a fixture for every render-time rule in templates/_validate.tpl and _rollout.tpl', () => {
  const tpl = ['_validate.tpl', '_rollout.tpl'].map((f) => readFileSync(join(CHART_DIR, 'templates', f), 'utf8')).join('\n')
  const rules = [...tpl.matchAll(/fail (?:\(printf )?"([^"]+)"/g)].map((m) => m[1])
  expect(rules.length).toBeGreaterThan(10)
  const escape = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/%s/g, '.+')
  expect(rules.filter((rule) => !rejections.some((err) => new RegExp(escape(rule)).test(err)))).toEqual([])
})
