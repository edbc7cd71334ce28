import { describe, it, expect, afterAll } from 'vitest'
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { describeDrift, monitoringDrift, syncMonitoring, type SyncLayout } from '../../scripts/lib/monitoring/sync.ts'
import { runScript } from '../helpers/run-script.ts'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'

const tmp = tmpDir('owp-sync-')
afterAll(() => tmp.remove())

function layout(name: string): SyncLayout {
  const root = join(tmp.path, name)
  const l = { rulesDir: join(root, 'rules'), dashboardsDir: join(root, 'dashboards'), chartMonitoringDir: join(root, 'chart', 'files', 'monitoring') }
  mkdirSync(l.rulesDir, { recursive: true })
  mkdirSync(l.dashboardsDir, { recursive: true })
  writeFileSync(join(l.rulesDir, 'a.yml'), 'groups: []\n')
  writeFileSync(join(l.dashboardsDir, 'd.json'), '{"uid": "owp-d"}\n')
  return l
}

describe('the chart\'s copies of rules and dashboards', () => {
  it('are identical to config/ in this repository (make sync-monitoring after every edit)', () => {
    expect(describeDrift(monitoringDrift())).toEqual([])
  })

  it('drift is found: a missing copy, a changed copy, a copy without source', () => {
    const l = layout('drift')
    expect(monitoringDrift(l).missing).toHaveLength(2)
    syncMonitoring(testCtx(), l)
    expect(describeDrift(monitoringDrift(l))).toEqual([])

    writeFileSync(join(l.rulesDir, 'a.yml'), 'groups: [] # edited\n')
    writeFileSync(join(l.rulesDir, 'b.yml'), 'groups: []\n')
    rmSync(join(l.dashboardsDir, 'd.json'))
    const drift = monitoringDrift(l)
    expect(drift.changed).toEqual([join(l.chartMonitoringDir, 'rules', 'a.yml')])
    expect(drift.missing).toEqual([join(l.chartMonitoringDir, 'rules', 'b.yml')])
    expect(drift.extra).toEqual([join(l.chartMonitoringDir, 'dashboards', 'd.json')])

    const result = syncMonitoring(testCtx(), l)
    expect(result.copied).toHaveLength(2)
    expect(result.removed).toHaveLength(1)
    expect(readFileSync(join(l.chartMonitoringDir, 'rules', 'a.yml'), 'utf8')).toBe('groups: [] # edited\n')
    expect(existsSync(join(l.chartMonitoringDir, 'dashboards', 'd.json'))).toBe(false)
    expect(describeDrift(monitoringDrift(l))).toEqual([])
  })

  it('--dry-run prints the copies it would make and changes nothing', () => {
    const l = layout('dry')
    const ctx = testCtx({ dryRun: true })
    syncMonitoring(ctx, l)
    expect(existsSync(l.chartMonitoringDir)).toBe(false)
    expect(ctx.stdout()).toContain(`[dry-run] copy ${join(l.rulesDir, 'a.yml')} -> ${join(l.chartMonitoringDir, 'rules', 'a.yml')}`)
    expect(ctx.plan).toHaveLength(2)
  })

  it('sync-monitoring --check exits 0 here and reports the state as JSON', async () => {
    const r = await runScript('scripts/sync-monitoring.ts', ['--check', '--json'])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({ ok: true, missing: [], changed: [], extra: [] })
  })

  it('sync-monitoring --help says what it does; an unknown flag is a usage error', async () => {
    const help = await runScript('scripts/sync-monitoring.ts', ['--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('helm/openwebui-platform/files/monitoring/')
    const bad = await runScript('scripts/sync-monitoring.ts', ['--chek'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('unknown flag --chek (did you mean --check?)')
  })
})
