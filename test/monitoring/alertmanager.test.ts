import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { join } from 'node:path'
import { writeFileSync } from 'node:fs'
import { parse } from 'yaml'
import { alertChannels, renderAlertmanagerConfig, writeAlertmanagerConfig } from '../../scripts/lib/monitoring/config.ts'
import { amtoolCheckConfig, amtoolRoutes, requireTool } from '../../scripts/lib/monitoring/promtool.ts'
import { SAMPLE_RECEIVER_ENV } from '../../scripts/lib/monitoring/lint.ts'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { freePort } from '../helpers/net.ts'
import { startService, type Service } from '../helpers/service.ts'

const FIX = join(import.meta.dirname, 'fixtures', 'alertmanager')
const tmp = tmpDir('owp-am-')
afterAll(() => tmp.remove())

function rendered(name: string, env: Record<string, string>): string {
  const file = join(tmp.path, `${name}.yml`)
  writeFileSync(file, renderAlertmanagerConfig(env))
  return file
}
const routes = (file: string, labels: Record<string, string>) => amtoolRoutes(testCtx(), file, labels)

describe('the Alertmanager config the deploy renders from .env', () => {
  it('with every channel set: amtool accepts it; critical reaches e-mail, Slack and the webhook, warning Slack and the webhook, info the webhook', async () => {
    const file = rendered('all', SAMPLE_RECEIVER_ENV)
    const check = await amtoolCheckConfig(testCtx(), file)
    expect(check.ok, check.output).toBe(true)
    expect(await routes(file, { alertname: 'PostgresDown', severity: 'critical', service: 'postgres' })).toEqual(['email', 'slack', 'webhook'])
    expect(await routes(file, { alertname: 'HighHttpErrorRate', severity: 'warning', service: 'openwebui' })).toEqual(['slack', 'webhook'])
    expect(await routes(file, { alertname: 'Something', severity: 'info', service: 'x' })).toEqual(['webhook'])
    expect(await routes(file, { alertname: 'Watchdog', severity: 'info', service: 'monitoring' })).toEqual(['null'])
  })

  it('with no channel set: only the null receiver, and amtool accepts it', async () => {
    const text = renderAlertmanagerConfig({})
    expect((parse(text) as { receivers: Array<{ name: string }> }).receivers).toEqual([{ name: 'null' }])
    const file = rendered('none', {})
    expect((await amtoolCheckConfig(testCtx(), file)).ok).toBe(true)
    for (const severity of ['critical', 'warning', 'info']) expect(await routes(file, { alertname: 'X', severity, service: 'x' })).toEqual(['null'])
  })

  it('with Slack only: warnings and criticals go to Slack, infos nowhere', async () => {
    const file = rendered('slack', { SLACK_WEBHOOK_URL: SAMPLE_RECEIVER_ENV.SLACK_WEBHOOK_URL! })
    expect(await routes(file, { alertname: 'X', severity: 'critical', service: 'x' })).toEqual(['slack'])
    expect(await routes(file, { alertname: 'X', severity: 'warning', service: 'x' })).toEqual(['slack'])
    expect(await routes(file, { alertname: 'X', severity: 'info', service: 'x' })).toEqual(['null'])
  })

  it('leaves out e-mail when the SMTP relay is missing, and says so', async () => {
    const env = { ALERT_EMAIL_TO: 'oncall@example.test', SMTP_FROM: 'am@example.test' }
    expect(alertChannels(env)).toEqual({ configured: [], skipped: [{ channel: 'email', reason: 'ALERT_EMAIL_TO is set but SMTP_SMARTHOST is not' }] })
    const ctx = testCtx()
    const { path } = writeAlertmanagerConfig(ctx, env, join(tmp.path, 'gen', 'alertmanager.yml'))
    expect(ctx.stderr()).toContain('alert channel email left out: ALERT_EMAIL_TO is set but SMTP_SMARTHOST is not')
    expect((await amtoolCheckConfig(testCtx(), path)).ok).toBe(true)
  })

  it('never logs the receivers\' secrets', () => {
    const ctx = testCtx()
    writeAlertmanagerConfig(ctx, SAMPLE_RECEIVER_ENV, join(tmp.path, 'gen2', 'alertmanager.yml'))
    const said = ctx.stdout() + ctx.stderr()
    expect(said).toContain('alert channels: email, slack, webhook')
    for (const name of ['SMTP_PASSWORD', 'SLACK_WEBHOOK_URL', 'ALERT_WEBHOOK_URL']) expect(said).not.toContain(SAMPLE_RECEIVER_ENV[name])
  })

  it('amtool rejects a route to a receiver that does not exist', async () => {
    const r = await amtoolCheckConfig(testCtx(), join(FIX, 'undefined-receiver.yml'))
    expect(r.ok).toBe(false)
    expect(r.output).toMatch(/undefined receiver "pagerduty"/)
  })
})

describe('a real Alertmanager with the rendered config', () => {
  let am: Service
  let url: string
  beforeAll(async () => {
    const bin = await requireTool(testCtx(), 'alertmanager')
    const port = await freePort()
    url = `http://127.0.0.1:${port}`
    am = await startService({
      cmd: bin, port,
      args: [`--config.file=${rendered('real', {})}`, `--storage.path=${join(tmp.path, 'am-data')}`,
        `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=', '--log.level=warn'],
      ready: async () => (await fetch(`${url}/-/ready`).catch(() => null))?.ok ?? false,
    })
  })
  afterAll(async () => { await am?.stop() })

  it('silences the warnings of a service while a critical alert of that service fires, not other services\' warnings', async () => {
    const alert = (alertname: string, severity: string, service: string) => ({ labels: { alertname, severity, service }, annotations: { summary: alertname } })
    const posted = await fetch(`${url}/api/v2/alerts`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify([alert('LightLLMDown', 'critical', 'lightllm'), alert('TargetDown', 'warning', 'lightllm'), alert('TargetDown', 'warning', 'qdrant')]),
    })
    expect(posted.ok).toBe(true)
    type Got = { labels: Record<string, string>; status: { state: string; inhibitedBy: string[] } }
    let got: Got[] = []
    for (let i = 0; i < 50; i++) {
      got = await (await fetch(`${url}/api/v2/alerts`)).json() as Got[]
      if (got.length === 3 && got.some((a) => a.status.inhibitedBy.length)) break
      await new Promise((r) => setTimeout(r, 100))
    }
    const state = Object.fromEntries(got.map((a) => [`${a.labels.alertname}/${a.labels.service}`, a.status.state]))
    expect(state).toEqual({ 'LightLLMDown/lightllm': 'active', 'TargetDown/lightllm': 'suppressed', 'TargetDown/qdrant': 'active' })
  })
})
