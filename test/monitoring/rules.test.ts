import { describe, it, expect } from 'vitest'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule'
import {
  REQUIRED_ALERTS, alertRules, loadRuleTestCases, loadRules, parseDuration, ruleConventionProblems, ruleFiles, ruleTestCoverageProblems,
} from '../../scripts/lib/monitoring/rules.ts'
import { promtoolCheckRules, promtoolTestRules } from '../../scripts/lib/monitoring/promtool.ts'
import { testCtx } from '../helpers/context.ts'

const FIX = join(import.meta.dirname, 'fixtures')

describe('the alert rules', () => {
  const alerts = alertRules(loadRules())

  it('define every alert the platform promises, and nothing twice', () => {
    const names = alerts.map((a) => a.alert)
    expect(new Set(names).size).toBe(names.length)
    expect([...names].sort()).toEqual([...REQUIRED_ALERTS].sort())
  })

  it('route by severity and inhibit by service: every alert carries both', () => {
    for (const a of alerts) {
      expect(['critical', 'warning', 'info'], a.alert).toContain(a.labels?.severity)
      expect(a.labels?.service, a.alert).toBeTruthy()
    }
  })

  it('page (critical) for the outages users feel', () => {
    const critical = alerts.filter((a) => a.labels?.severity === 'critical').map((a) => a.alert)
    expect(critical).toEqual(expect.arrayContaining(['OpenWebUIDown', 'LightLLMDown', 'PostgresDown', 'RedisDown', 'NginxDown', 'HostOutOfDiskSpace', 'BackupStale']))
  })
})

describe('as the chart renders them (a PrometheusRule per file)', () => {
  const asPrometheusRule = (file: string) => new PrometheusRule({
    metadata: { name: 'owp-rules' }, spec: { groups: parse(readFileSync(file, 'utf8')).groups },
  })

  it.each(ruleFiles().map((f) => [f.split('/').pop()!, f]))('%s is a valid PrometheusRule spec', (_name, file) => {
    expect(() => asPrometheusRule(file).validate()).not.toThrow()
  })

  it('a rule with a duration Prometheus cannot read is rejected by the schema', () => {
    expect(() => asPrometheusRule(join(FIX, 'rules', 'bad-for.yml')).validate()).toThrow(/for must match pattern/)
  })
})

describe('the convention checker', () => {
  it('names every broken rule of the fixture', () => {
    const problems = ruleConventionProblems(loadRules([join(FIX, 'rules', 'broken-conventions.yml')]), {
      runbooksDir: join(FIX, 'runbooks'), required: ['NoSeverity', 'MissingAlert'],
    })
    const expected = [
      /recording rule http_requests_rate5m is not named level:metric:operations/,
      /NoSeverity: label severity must be one of critical\|warning\|info \(got none\)/,
      /BadSeverity: label severity must be one of critical\|warning\|info \(got page\)/,
      /NoFor: no explicit for/,
      /NoRunbook: label service is missing/,
      /NoRunbook: annotation runbook_url is missing/,
      /WrongRunbookUrl: runbook_url https:\/\/wiki.example.test\/SomethingElse should point at docs\/runbooks\/WrongRunbookUrl.md/,
      /WrongRunbookUrl: runbook WrongRunbookUrl.md lacks the section "## First checks"/,
      /required alert MissingAlert is not defined/,
    ]
    for (const re of expected) expect(problems.some((p) => re.test(p)), `${re}\n${problems.join('\n')}`).toBe(true)
    expect(problems).toHaveLength(expected.length)
  })

  it('reads Prometheus durations', () => {
    expect(parseDuration('1d25m')).toBe(86_400_000 + 25 * 60_000)
    expect(parseDuration('30s')).toBe(30_000)
    expect(parseDuration('0m')).toBe(0)
    expect(parseDuration('5 minutes')).toBeNaN()
  })
})

describe('unit-test coverage', () => {
  it('every shipped alert fires in a test after its for, and stays silent in another', () => {
    expect(ruleTestCoverageProblems(loadRules(), loadRuleTestCases())).toEqual([])
  })

  it('fails when an alert lacks a test, never stays silent, fires only before its for, or a test names no alert', () => {
    const rules = loadRules().filter((r) => ['RedisDown', 'PostgresDown', 'NginxDown'].includes(r.alert ?? ''))
    const cases = loadRuleTestCases([join(FIX, 'rule-tests', 'incomplete-coverage.test.yml')])
    expect(ruleTestCoverageProblems(rules, cases)).toEqual([
      'PostgresDown: no test where it fires after its for (1m)',
      'RedisDown: no test where it stays silent',
      'NginxDown (availability.yml) has no unit test in config/prometheus/tests',
      'incomplete-coverage.test.yml (#1): tests an alert that does not exist: PostgressDown',
    ])
  })
})

describe('promtool', () => {
  const ctx = testCtx()

  it('check rules rejects an expression that does not parse', async () => {
    const r = await promtoolCheckRules(ctx, [join(FIX, 'rules', 'bad-promql.yml')])
    expect(r.ok).toBe(false)
    expect(r.output).toMatch(/unclosed left parenthesis|parse error/)
  })

  it('test rules fails an expectation the rule does not meet (the for is not over yet)', async () => {
    const r = await promtoolTestRules(ctx, [join(FIX, 'rule-tests', 'wrong-expectation.test.yml')])
    expect(r.ok).toBe(false)
    expect(r.output).toMatch(/alertname: PostgresDown, time: 30s/)
  })
})
