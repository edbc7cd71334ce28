// Every monitoring check with the real tools, in one run: promtool (check config, check rules,
// test rules over all test files at once), amtool, blackbox_exporter, the dashboard linter, the
// catalogue, chart drift, and every PromQL expression of rules and dashboards parsed by
// lezer-promql and sent to ONE throwaway Prometheus on 127.0.0.1.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { lintMonitoring, promqlAcceptedProblems, syntaxProblems, type MonitoringReport } from '../../scripts/lib/monitoring/lint.ts'
import { startThrowawayPrometheus, prometheusAccepts, type Throwaway } from '../../scripts/lib/monitoring/promtool.ts'
import { dashboardExpressions, ruleExpressions, substituteMacros } from '../../scripts/lib/monitoring/promql.ts'
import { portOpen } from '../helpers/net.ts'
import { testCtx } from '../helpers/context.ts'

const ctx = testCtx()
let prom: Throwaway
let report: MonitoringReport

beforeAll(async () => {
  prom = await startThrowawayPrometheus(ctx)
  report = await lintMonitoring(ctx, { prometheusUrl: prom.url })
}, 180_000)
afterAll(async () => { await prom?.stop() })

const CHECKS = [
  'prometheus config (promtool check config)',
  'rule files (promtool check rules)',
  'rule unit tests (promtool test rules)',
  'alert conventions and runbooks',
  'every alert unit-tested',
  'blackbox modules',
  'alertmanager (amtool check-config, routes)',
  "chart's AlertmanagerConfig (helm template, amtool check-config, routes)",
  'dashboards (lint)',
  'PromQL syntax (lezer-promql)',
  'PromQL accepted by Prometheus',
  'metric names in the catalogue',
  'chart copies in sync',
]

describe('the monitoring source, checked with the real tools', () => {
  it('runs every check', () => {
    expect(report.checks.map((c) => c.name)).toEqual(CHECKS)
  })

  it.each(CHECKS)('%s: no problem', (name) => {
    const check = report.checks.find((c) => c.name === name)!
    expect(check.problems.join('\n')).toBe('')
    expect(check.ok).toBe(true)
  })
})

describe('PromQL against the throwaway Prometheus', () => {
  it('covers every rule and every dashboard query', () => {
    const rules = ruleExpressions()
    const dashboards = dashboardExpressions()
    expect(rules.length).toBeGreaterThanOrEqual(48)
    expect(dashboards.length).toBeGreaterThanOrEqual(80)
    expect(dashboards.some((e) => e.where.includes('variable job'))).toBe(true)
  })

  it('accepts a dashboard query once Grafana\'s macros are substituted', async () => {
    const q = substituteMacros('histogram_quantile(0.95, sum by (le) (rate(x_bucket{job=~"$job"}[$__rate_interval]))) and increase(y[$__range]) > 0')
    expect(await prometheusAccepts(prom.url, q)).toEqual({ ok: true })
  })

  it('rejects broken PromQL: lezer and Prometheus both catch a syntax error', async () => {
    const broken = [{ where: 'fixture: unbalanced', source: '', promql: 'sum(rate(up[5m])' }]
    expect(syntaxProblems(broken)).toEqual([expect.stringMatching(/^fixture: unbalanced: syntax error at 16/)])
    expect(await promqlAcceptedProblems(prom.url, broken)).toEqual([expect.stringMatching(/^fixture: unbalanced: bad_data: .*unclosed left parenthesis/)])
  })

  it('rejects what only a real Prometheus can: a type error the grammar allows', async () => {
    const typeError = [{ where: 'fixture: rate of an instant vector', source: '', promql: 'rate(up)' }]
    expect(syntaxProblems(typeError)).toEqual([])
    expect(await promqlAcceptedProblems(prom.url, typeError)).toEqual([expect.stringMatching(/bad_data: .*expected type range vector/)])
  })

  it('the throwaway Prometheus listens on 127.0.0.1 only and is gone after stop', async () => {
    const port = Number(new URL(prom.url).port)
    expect(new URL(prom.url).hostname).toBe('127.0.0.1')
    await prom.stop()
    expect(await portOpen(port)).toBe(false)
    expect(() => process.kill(prom.pid, 0)).toThrow()
  })
})
