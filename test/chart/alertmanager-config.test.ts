// The chart's AlertmanagerConfig (kube-prometheus-stack's Alertmanager): the routes and inhibitions of
// config/alertmanager/alertmanager.yml, the channels of compose, credentials only from Secrets; converted
// to the alertmanager.yml the operator makes of it and checked by amtool as compose's config is.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'yaml'
import { alertmanagerYamlFromCrd, type AlertmanagerConfigSpec } from '../../scripts/lib/monitoring/alertmanager-crd.ts'
import { renderAlertmanagerConfig } from '../../scripts/lib/monitoring/config.ts'
import {
  CHART_CHANNEL_CASES, CHART_CHANNEL_SECRET, SAMPLE_RECEIVER_ENV, alertmanagerCrdProblems, chartAlertmanagerProblems, sampleChannelSecret,
} from '../../scripts/lib/monitoring/lint.ts'
import { CHART_DIR } from '../../scripts/lib/core/paths.ts'
import { HELM_VERSIONS, NAMESPACE, findObject, helmBin, renderChart, type K8sObject } from '../helpers/k8s-render.ts'
import { validateObjects } from '../helpers/k8s-validate.ts'
import { testCtx } from '../helpers/context.ts'

/** The Secret the channels' credentials come from, as the sample values of compose's check (make lint's). */
const SECRET = CHART_CHANNEL_SECRET
const SECRET_DATA: Record<string, string> = {
  'smtp-password': SAMPLE_RECEIVER_ENV.SMTP_PASSWORD!, 'slack-webhook-url': SAMPLE_RECEIVER_ENV.SLACK_WEBHOOK_URL!, 'alert-webhook-url': SAMPLE_RECEIVER_ENV.ALERT_WEBHOOK_URL!,
}
const lookup = sampleChannelSecret
const CASES = CHART_CHANNEL_CASES.map((c) => [c.label, c.set, c.configured] as const)

const rendered = new Map<string, K8sObject>()
let dir: string
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'owp-amcfg-'))
  await Promise.all(HELM_VERSIONS.flatMap((v) => CASES.map(async ([label, set]) => {
    rendered.set(`${v}:${label}`, findObject(await renderChart(v, { set: [...set] }), 'AlertmanagerConfig', 'owp')!)
  })))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe.each(CASES)('AlertmanagerConfig with %s', (label, _set, configured) => {
  const amc = () => rendered.get(`v4:${label}`)!

  it('renders the same with helm v4 and v3, and validates offline (kubernetes-models, no unknown field)', async () => {
    expect(rendered.get(`v3:${label}`)).toEqual(amc())
    expect(await validateObjects([amc()])).toEqual([])
  })

  it('amtool check-config accepts it, and each severity reaches the channels compose sends it to (make lint\'s check)', async () => {
    expect(await alertmanagerCrdProblems(testCtx(), dir, label, amc().spec, NAMESPACE, [...configured])).toEqual([])
  })

  it('has exactly the routes and inhibitions of config/alertmanager (compose\'s rendered config)', () => {
    const env = label === 'every channel' ? SAMPLE_RECEIVER_ENV : {}
    const compose = parse(renderAlertmanagerConfig(env)) as { route: unknown; inhibit_rules: unknown; receivers: unknown[] }
    const ours = parse(alertmanagerYamlFromCrd(amc().spec, NAMESPACE, lookup)) as { route: { routes: Array<Record<string, unknown>> }; inhibit_rules: Array<Record<string, string[]>>; receivers: unknown[] }
    // what the operator adds: the namespace matcher and continue on the top route, the root above it
    const top = { ...ours.route.routes[0] }
    delete top.continue
    delete top.matchers
    expect(top).toEqual(compose.route)
    expect(ours.inhibit_rules.map((i) => ({ ...i, source_matchers: i.source_matchers.slice(0, -1), target_matchers: i.target_matchers.slice(0, -1) }))).toEqual(compose.inhibit_rules)
    expect(ours.receivers).toEqual(compose.receivers)
  })
})

describe('AlertmanagerConfig credentials', () => {
  it('come from the Secret, never inline', () => {
    const text = JSON.stringify(rendered.get('v4:every channel'))
    for (const value of Object.values(SECRET_DATA)) expect(text).not.toContain(value)
    const receivers = rendered.get('v4:every channel')!.spec.receivers
    expect(receivers.find((r: { name: string }) => r.name === 'slack').slackConfigs[0].apiURL).toEqual({ name: SECRET, key: 'slack-webhook-url' })
    expect(receivers.find((r: { name: string }) => r.name === 'webhook').webhookConfigs[0].urlSecret).toEqual({ name: SECRET, key: 'alert-webhook-url' })
    expect(receivers.find((r: { name: string }) => r.name === 'email').emailConfigs[0].authPassword).toEqual({ name: SECRET, key: 'smtp-password' })
  })

  it('the converter refuses a field it does not know (so a template change cannot slip past amtool)', () => {
    const spec = structuredClone(rendered.get('v4:every channel')!.spec) as AlertmanagerConfigSpec
    spec.receivers![1].emailConfigs = [{ to: 'x@example.test', tlsConfig: {} }]
    expect(() => alertmanagerYamlFromCrd(spec, NAMESPACE, lookup)).toThrow(/receiver email email: field tlsConfig is not converted/)
  })
})

// make lint renders the chart itself (monitoring lint: "chart's AlertmanagerConfig"): a chart whose
// AlertmanagerConfig Alertmanager would refuse, or that routes a severity wrong, fails it.
describe('make lint checks the chart\'s AlertmanagerConfig', () => {
  const brokenChart = (edit: (file: string, text: string) => string | null) => {
    const copy = mkdtempSync(join(tmpdir(), 'owp-amcfg-chart-'))
    cpSync(CHART_DIR, copy, { recursive: true })
    for (const rel of ['templates/alertmanager-config.yaml', 'files/monitoring/alertmanager/alertmanager.yml']) {
      const f = join(copy, rel)
      const changed = edit(rel, readFileSync(f, 'utf8'))
      if (changed !== null) writeFileSync(f, changed)
    }
    return copy
  }
  const lint = async (chartDir: string) => {
    try { return await chartAlertmanagerProblems(testCtx(), dir, { chartDir, helm: helmBin('v4') }) } finally { rmSync(chartDir, { recursive: true, force: true }) }
  }

  it('passes the chart as shipped', async () => {
    expect(await lint(brokenChart(() => null))).toEqual([])
  })

  it('rejects a route to a receiver the object does not define (amtool check-config)', async () => {
    const problems = await lint(brokenChart((rel, text) => rel.endsWith('alertmanager.yml') ? text.replace("receiver: 'null'\n", 'receiver: pager\n') : null))
    expect(problems).toEqual(expect.arrayContaining([
      'every channel: amtool check-config failed:', 'no channel: amtool check-config failed:',
      expect.stringMatching(/undefined receiver "pager"/),
    ]))
  })

  it('rejects a severity routed away from the channels compose sends it to', async () => {
    const problems = await lint(brokenChart((rel, text) => rel.startsWith('templates/') ? text.replace('"critical" (list "email" "slack" "webhook")', '"critical" (list "slack" "webhook")') : null))
    expect(problems).toEqual(['every channel: severity=critical routes to slack,webhook, want email,slack,webhook'])
  })
})
