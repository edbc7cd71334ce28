// The restore drill without an engine: the scratch project cut from the production project as
// compose resolves it (a recorded `docker compose config --format json`), refusals of anything that
// could reach production, the metrics, and the teardown in every path through a fake docker.
import { afterAll, describe, expect, it } from 'vitest'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../../scripts/lib/core/paths.ts'
import { runCleanups } from '../../scripts/lib/core/context.ts'
import { fakeBins, on, ok, fails } from '../helpers/fake-bins.ts'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { drillCompose } from '../../scripts/lib/backup/drill-compose.ts'
import { drillEnv, drillLine, renderDrillMetrics, runDrill } from '../../scripts/lib/backup/drill.ts'
import { resolveShared, retentionFrom } from '../../scripts/lib/backup/settings.ts'
import { runBackup } from '../../scripts/lib/backup/backup.ts'
import { createTarget } from '../../scripts/lib/backup/targets.ts'
import { writersStatePath } from '../../scripts/lib/backup/writers.ts'

const CONFIG = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'backup', 'compose-config.json'), 'utf8'))
const tmp = tmpDir('owp-drill-')
afterAll(() => tmp.remove())

describe('the drill\'s scratch compose project', () => {
  it('keeps the application and its stores, under its own names, with no port, no fixed subnet, no monitoring', () => {
    const { doc, services, dropped } = drillCompose(CONFIG, 'owp-drill')
    expect(services).toEqual(['celery-beat', 'celery-worker', 'graphrag-processor', 'mcp-server', 'neo4j', 'openwebui', 'postgres', 'qdrant', 'redis'].filter((s) => services.includes(s)))
    expect([...services].sort()).toEqual(['celery-beat', 'celery-worker', 'graphrag-processor', 'mcp-server', 'neo4j', 'openwebui', 'postgres', 'qdrant', 'redis'])
    expect(dropped).toEqual(expect.arrayContaining(['nginx', 'prometheus', 'node-exporter', 'grafana', 'lightllm']))
    expect(doc.name).toBe('owp-drill')
    expect(JSON.stringify(doc)).not.toMatch(/"ports"|"ipam"|"owp_|container_name/)
    expect(doc.networks).toEqual({ app: { name: 'owp-drill_app', driver: 'bridge' } })
    expect(doc.volumes.openwebui_data).toEqual({ name: 'owp-drill_openwebui_data' })
    expect(Object.values(doc.volumes).every((v: any) => v.name.startsWith('owp-drill_'))).toBe(true)
    expect(doc.services.openwebui.depends_on).toEqual({ postgres: expect.any(Object), redis: expect.any(Object), qdrant: expect.any(Object) })
    for (const s of Object.values(doc.services) as any[]) expect(Object.keys(s.networks ?? {})).toEqual(['app'])
  })

  it('the scratch PostgreSQL never archives WAL (its archive is production\'s destination)', () => {
    const config = structuredClone(CONFIG)
    config.services.postgres.command = [...config.services.postgres.command, '-c', 'archive_mode=on', '-c', 'archive_command=pgbackrest --stanza=owp archive-push %p']
    const { doc } = drillCompose(config, 'owp-drill')
    expect(doc.services.postgres.command).toContain('archive_mode=off')
    expect(doc.services.postgres.command).not.toContain('archive_mode=on')
    expect(config.services.postgres.command).toContain('archive_mode=on')
  })

  it('--with-llm adds LightLLM with its model directory read-only', () => {
    const { services, doc } = drillCompose(CONFIG, 'owp-drill', { withLlm: true })
    expect(services).toContain('lightllm')
    expect(doc.services.lightllm.volumes[0]).toMatchObject({ type: 'bind', read_only: true })
  })

  it('refuses what could reach production: an external volume or network, a writable bind mount, host networking', () => {
    const broken = structuredClone(CONFIG)
    broken.volumes.postgres_data = { name: 'owp_postgres_data', external: true }
    broken.networks.app.external = true
    broken.services.openwebui.volumes.push({ type: 'bind', source: '/srv/uploads', target: '/app/backend/data/uploads' })
    broken.services.redis.network_mode = 'host'
    expect(() => drillCompose(broken, 'owp-drill')).toThrow([
      'the drill cannot run beside production safely:',
      '  openwebui: bind mount /srv/uploads -> /app/backend/data/uploads is writable (the drill never writes to the host)',
      '  postgres: volume postgres_data is external (it could be production\'s)',
      '  redis: network_mode host would share a network with production',
      '  network app is external (it could be production\'s)',
    ].join('\n'))
  })

  it('never hands the scratch drivers a pointer to production services', () => {
    expect(drillEnv({ QDRANT_URL: 'http://prod:6333', PGHOST: 'prod', REDIS_PASSWORD: 'p', POSTGRES_USER: 'u', OPENWEBUI_DATA_DIR: '/srv' })).toEqual({ REDIS_PASSWORD: 'p', POSTGRES_USER: 'u' })
  })

  it('prints one line, and its metrics keep the last success through a failed drill', () => {
    expect(drillLine({ set: '2026-12-01T02-00-00Z', stores: 6, validate: 'ok', rtoSeconds: 95, rpoSeconds: 3600, productionUntouched: true }))
      .toBe('dr drill: set 2026-12-01T02-00-00Z, 6 stores, validate ok, rto 95 s, rpo 3600 s, production untouched')
    const good = renderDrillMetrics({ success: true, at: new Date('2026-12-01T03:00:00Z'), rtoSeconds: 95, rpoSeconds: 3600, setTime: new Date('2026-12-01T02:00:00Z') })
    const at = Date.parse('2026-12-01T03:00:00Z') / 1000
    expect(good).toContain(`\ndr_drill_last_success_timestamp_seconds ${at}\n`)
    const bad = renderDrillMetrics({ success: false, at: new Date('2026-12-08T03:00:00Z'), rtoSeconds: null, rpoSeconds: null, setTime: new Date('2026-12-08T02:00:00Z') }, good)
    expect(bad).toContain(`\ndr_drill_last_success_timestamp_seconds ${at}\n`)
    expect(bad).toMatch(/^dr_drill_last_run_success 0$/m)
    expect(bad).toMatch(/^dr_drill_rto_seconds 95$/m)
  })
})

describe('the drill run (fake docker)', () => {
  async function platformSet(): Promise<{ dest: string; envFile: string }> {
    const data = join(tmp.path, 'graphrag')
    mkdirSync(join(data, 'output'), { recursive: true })
    writeFileSync(join(data, 'output', 'a.parquet'), 'x'.repeat(500))
    const dest = join(tmp.path, `dest-${Date.now()}`)
    const envFile = join(tmp.path, 'prod.env')
    writeFileSync(envFile, 'COMPOSE_PROJECT_NAME=owp\n')
    const ctx = testCtx({ env: { GRAPHRAG_DATA_DIR: data, BACKUP_STAGING_DIR: tmp.path }, yes: true })
    const s = await resolveShared(ctx, { target: 'direct', dest, 'env-file': envFile })
    const r = await runBackup(ctx, { stores: ['files-graphrag'], explicit: false, platform: true, target: s.target, dest: s.dest, settings: s.settings, verify: true, recipients: [], retention: retentionFrom({}) })
    expect(r.platform?.state, ctx.stderr()).toBe('complete')
    return { dest, envFile }
  }

  async function drill(docker: Parameters<typeof fakeBins>[0]['docker'], during?: (ctx: ReturnType<typeof testCtx>) => Promise<void>) {
    const { dest, envFile } = await platformSet()
    const bins = fakeBins({ docker })
    const ctx = testCtx({ env: { PATH: bins.path, BACKUP_STAGING_DIR: tmp.path }, yes: true })
    const s = await resolveShared(ctx, { target: 'compose', dest, 'env-file': envFile })
    const running = runDrill(ctx, { dest: s.dest, from: 'latest', env: s.env, envFile, project: 'owp', composeFile: join(ROOT, 'compose', 'docker-compose.prod.yml'), settings: s.settings, waitSeconds: 30 })
    if (during) await during(ctx)
    return { report: await running, bins, ctx }
  }

  const answers = (up: ReturnType<typeof ok>) => [
    on('^compose version', ok('2.26.1\n')),
    on('config --format json', ok(JSON.stringify(CONFIG))),
    on(' up ', up),
    ok(),
  ]

  it('a scratch project that does not start is torn down, and production is never named in a command that changes anything', async () => {
    const { report, bins } = await drill(answers(fails(1, 'dependency failed to start: container owp-drill-postgres-1 is unhealthy')))
    expect(report.ok).toBe(false)
    expect(report.error).toContain('dependency failed to start')
    expect(report.line).toMatch(/^dr drill: set \S+, 0 stores, validate not run, rto - s, rpo \d+ s, production untouched$/)
    const calls = bins.calls('docker')
    const composeCalls = calls.filter((c) => c[1] === 'compose' && c[2] !== 'version')
    for (const c of composeCalls) expect(c.slice(2, 4), c.join(' ')).toEqual(['-p', 'owp-drill'])
    const up = calls.findIndex((c) => c.includes('up'))
    const down = calls.findIndex((c, i) => i > up && c.includes('down'))
    expect(up).toBeGreaterThan(0)
    expect(calls[down]).toEqual(['docker', 'compose', '-p', 'owp-drill', '-f', expect.stringMatching(/compose\.drill\.json$/), 'down', '--volumes', '--remove-orphans', '--timeout', '10'])
    // production is only listed and inspected
    for (const c of calls.filter((x) => x[1] !== 'compose')) expect(['ps', 'volume', 'inspect']).toContain(c[1])
  })

  it('a teardown or a last look at production that fails says why; the drill is then "production not checked"', async () => {
    const { report, ctx } = await drill([
      on('^compose version', ok('2.26.1\n')),
      on('config --format json', ok(JSON.stringify(CONFIG))),
      on(' up ', fails(1, 'dependency failed to start: container owp-drill-postgres-1 is unhealthy')),
      on(' down .*--timeout 10', fails(1, 'Error response from daemon: error while removing network: network owp-drill_app has active endpoints')),
      { match: '^ps -a', exitCode: 0, times: 1 }, // production before the drill: nothing runs
      on('^ps -a', fails(1, 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?')),
      ok(),
    ])
    expect(report.ok).toBe(false)
    expect(ctx.stderr()).toMatch(/tearing down the scratch project owp-drill: Error response from daemon: error while removing network: network owp-drill_app has active endpoints/)
    expect(ctx.stderr()).toMatch(/production could not be looked at after the drill: command failed \(exit code 1\): docker ps -a -q .*: Cannot connect to the Docker daemon at unix:\/\/\/var\/run\/docker\.sock\. Is the docker daemon running\?/)
    expect(report.line).toMatch(/, production not checked$/)
  })

  it('the record of writers a killed drill had stopped in its scratch project goes with that project\'s debris: nothing is started from it', async () => {
    const { dest, envFile } = await platformSet()
    const bins = fakeBins({ docker: answers(fails(1, 'dependency failed to start: container owp-drill-postgres-1 is unhealthy')) })
    const locks = join(tmp.path, `locks-${Date.now()}`)
    const ctx = testCtx({ env: { PATH: bins.path, BACKUP_STAGING_DIR: tmp.path, BACKUP_LOCK_DIR: locks }, yes: true })
    const s = await resolveShared(ctx, { target: 'compose', dest, 'env-file': envFile })
    const record = writersStatePath(s.dest, createTarget({ kind: 'compose', env: s.env, project: 'owp-drill' }))
    expect(record.startsWith(locks)).toBe(true)
    mkdirSync(locks, { recursive: true })
    writeFileSync(record, JSON.stringify({ kind: 'compose', at: '2026-12-01T03:00:00Z', pid: 999999, host: 'gone', control: { kind: 'compose', compose: ['docker', 'compose', '-p', 'owp-drill'] }, stopped: [{ name: 'openwebui' }] }))
    await runDrill(ctx, { dest: s.dest, from: 'latest', env: s.env, envFile, project: 'owp', composeFile: join(ROOT, 'compose', 'docker-compose.prod.yml'), settings: s.settings, waitSeconds: 30 })
    expect(existsSync(record)).toBe(false)
    expect(bins.calls('docker').filter((c) => c.includes('start'))).toEqual([])
  })

  it('Ctrl-C during the drill tears the scratch project down through the cleanups', async () => {
    const { report, bins } = await drill(answers({ exitCode: 0, delay: 3 }), async (ctx) => {
      await new Promise((r) => setTimeout(r, 1500))
      await runCleanups(ctx) // what the signal handler of core/cli.ts runs
    })
    const downs = bins.calls('docker').filter((c) => c.includes('down') && c.includes('owp-drill'))
    expect(downs.length).toBeGreaterThanOrEqual(2) // the debris check at start, the teardown from the cleanup
    expect(report.project).toBe('owp-drill')
  })
})
