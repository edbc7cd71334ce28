// Zero-downtime upgrades on the real engine: the kit's own load generator (HTTP at a constant rate
// through NGINX over TLS, and LLM streams) runs while `deploy --docker-compose` moves Open WebUI,
// GraphRAG and MCP to a new tag blue-green; then an upgrade that migrates the schema and fails
// validation is rolled back with the pre-upgrade database restored.
import { readFileSync } from 'node:fs'
import { describe, it, expect, beforeAll, inject } from 'vitest'
import { updateEnvFile, type StackPaths } from './harness/stack.ts'
import { NEXT_TAG, MIGRATES_TAG } from './harness/images.ts'
import { kit, heavySlot, json, ps, compose, psql, pgChecksum, ensureStack, type Stack } from './kit.ts'

const { env: engineEnv } = inject('e2e')
let paths: StackPaths
let stack: Stack
let deployed = false
const needsStack = () => expect(deployed, 'the stack is not up: the first deploy failed').toBe(true)

interface Upgrade { strategy: string; services: string[]; switchMs?: number; cutWorkers?: number; schema?: { before: string | null; after: string | null }; preUpgradeSet?: string; rollback?: { schema: { from: string; to: string }; restoredSet: string; writtenSinceUpgrade: { keptIn: string | null } } }
interface DeployOutcome { ok: boolean; summary: string; rolledBack?: boolean; upgrade?: Upgrade }
interface LoadPhase { requests: { total: number; ok: number; failed: number }; errors: Record<string, number> }

beforeAll(async () => {
  // the stack the suite shares (stack.e2e.test.ts deployed and validated it; alone, this file deploys it)
  ;({ stack, paths } = await ensureStack(engineEnv))
  deployed = true
}, 1_200_000)

/** PgBouncer's own view (its admin console, as the stats user): null when the lane runs without it. */
async function throughPgBouncer(sql: string, db = 'pgbouncer'): Promise<string[][] | null> {
  if (!readFileSync(paths.envFile, 'utf8').match(/^PGBOUNCER_ENABLED=true$/m)) return null
  const r = await compose(stack, ['exec', '-T', 'pgbouncer', 'sh', '-c', `PGPASSWORD="$DB_PASSWORD" psql -h 127.0.0.1 -p 6432 -U "$DB_USER" -d ${db} -A -F '|' -c "$1"`, 'sh', sql])
  return r.stdout.trim().split('\n').filter((l) => !/^\(\d+ rows?\)$/.test(l)).map((l) => l.split('|'))
}

/** The queries PgBouncer has passed to the application database so far. */
async function pooledQueries(): Promise<number | null> {
  const rows = await throughPgBouncer('SHOW STATS')
  if (!rows) return null
  const [head, ...data] = rows
  const row = data.find((r) => r[head!.indexOf('database')] === 'openwebui')
  return Number(row?.[head!.indexOf('total_query_count')] ?? 0)
}

const images = async () => Object.fromEntries((await ps(stack)).filter((c) => c.State === 'running').map((c) => [c.Service, c.Image]))

describe.sequential('upgrades on a real Docker engine', () => {
  it('upgrade under load: Open WebUI, GraphRAG and MCP move to a new tag blue-green with 0 failed requests and 0 cut streams', async () => {
    needsStack()
    await psql(stack, "INSERT INTO chat (title) SELECT 'before the upgrade ' || i FROM generate_series(1, 50) i")
    const pooledBefore = await pooledQueries()
    const url = `https://127.0.0.1:${stack.httpsPort}`
    // the load runs from 10 s before the deploy to 10 s after it, then is stopped as an operator
    // would (the first SIGINT: it finishes what is in flight and reports, exit 130); the duration
    // is only a cap (asserted below: the load must cover the whole upgrade)
    const cap = '10m'
    const loadPids: number[] = []
    const onSpawn = (pid: number) => { loadPids.push(pid) }
    const t0 = Date.now()
    const http = kit(stack, 'scripts/load-test.ts', ['--insecure', '--rate', '40', '-c', '32', '-z', cap, '-t', '30', '--json', `${url}/health`], 900_000, { onSpawn })
    const llm = kit(stack, 'scripts/load-test.ts', ['--mode', 'llm', '--insecure', '-c', '4', '-z', cap, '--max-tokens', '800', '--input-tokens', '32',
      '--api-key', 'e2e-openwebui-key', '--json', `${url}/api/chat/completions`], 900_000, { onSpawn })
    await new Promise((r) => setTimeout(r, 10_000))
    updateEnvFile(paths.envFile, { IMAGE_TAG: NEXT_TAG })
    const d = await heavySlot(() => kit(stack, 'scripts/deploy.ts', ['--docker-compose', '--yes', '--env-file', paths.envFile, '--timeout', '5m', '--drain-timeout', '60s', '--validate-timeout', '60s', '--json'], 900_000))
    const deployEnd = Date.now()
    await new Promise((r) => setTimeout(r, 10_000))
    for (const pid of loadPids) process.kill(pid, 'SIGINT')
    const [h, l] = await Promise.all([http, llm])
    const loadEnd = Date.now()
    const outcome = json<DeployOutcome>(d)
    expect(outcome.ok, `${outcome.summary}\n${d.stderr.slice(-6000)}`).toBe(true)
    expect([h.code, l.code], `the load ended by itself before the SIGINT:\n${h.stderr.slice(-2000)}\n${l.stderr.slice(-2000)}`).toEqual([130, 130])
    expect(loadEnd - deployEnd).toBeGreaterThan(5_000)
    expect(deployEnd - t0).toBeLessThan(9 * 60_000)
    const hp = json<{ phases: LoadPhase[] }>(h).phases[0]!
    const lp = json<{ phases: LoadPhase[] }>(l).phases[0]!
    const up = outcome.upgrade!
    if (process.env.OWP_E2E_VERBOSE) {
      const logs = await compose(stack, ['logs', '--no-color', '--since', '10m', 'nginx'], { allowFailure: true })
      const bad = `${logs.stdout}${logs.stderr}`.split('\n').filter((l) => !/" 200 \d+ /.test(l) && !/GET \/healthz|stub_status/.test(l))
      process.stderr.write(`--- nginx, not 200 (${bad.length} lines):\n${bad.slice(0, 150).join('\n')}\n--- http errors ${JSON.stringify(hp.errors)} llm errors ${JSON.stringify(lp.errors)}\n--- upgrade ${JSON.stringify(up)}\n`)
    }
    process.stdout.write(`upgrade under load: ${hp.requests.total} requests, ${hp.requests.failed} failed, ${lp.requests.total} streams, ${lp.requests.failed} cut, switch ${up.switchMs} ms\n`)
    expect(hp.requests.total).toBeGreaterThanOrEqual(30 * (deployEnd - t0) / 1000) // >= 30 requests/s over the whole upgrade
    expect({ failed: hp.requests.failed, errors: hp.errors }).toEqual({ failed: 0, errors: {} })
    expect(lp.requests.total).toBeGreaterThanOrEqual(4)
    expect({ cut: lp.requests.failed, errors: lp.errors }).toEqual({ cut: 0, errors: {} })
    expect(up.services.sort()).toEqual(['celery-worker', 'graphrag-processor', 'mcp-server', 'openwebui'])
    expect(up.cutWorkers).toBe(0)
    // the new version migrated the schema once, after a verified pre-upgrade set was taken
    expect(up.schema).toEqual({ before: '0002_e2e_archived', after: '0003_e2e_tag' })
    expect(up.preUpgradeSet).toMatch(/^\d{4}-/)
    const now = await images()
    for (const s of ['openwebui', 'graphrag-processor', 'celery-worker', 'mcp-server']) expect(now[s], s).toMatch(new RegExp(`:${NEXT_TAG}$`))
    // lane c (stack.ts LANE_ENV): the new Open WebUI reaches the database through the kit's PgBouncer,
    // whose pool served its migration and its queries
    if (pooledBefore !== null) {
      const url = (await compose(stack, ['exec', '-T', 'openwebui', 'printenv', 'DATABASE_URL'])).stdout
      expect(url.includes('@pgbouncer:6432/'), 'DATABASE_URL of the new Open WebUI does not go through pgbouncer:6432').toBe(true)
      expect(await pooledQueries()).toBeGreaterThan(pooledBefore)
    }
    // one container each again, and NGINX back on the service names
    const running = (await ps(stack)).filter((c) => ['openwebui', 'graphrag-processor', 'mcp-server', 'celery-worker'].includes(c.Service))
    expect(running.map((c) => c.Service).sort()).toEqual(['celery-worker', 'graphrag-processor', 'mcp-server', 'openwebui'])
  })

  it('an upgrade that migrates the schema and fails validation is rolled back: the database is restored to the pre-upgrade revision, the rows written before it intact', async () => {
    needsStack()
    const before = await pgChecksum(stack, ['chat', 'alembic_version'])
    expect(before.chat).toMatch(/^50:/)
    expect(await psql(stack, 'SELECT version_num FROM alembic_version')).toBe('0003_e2e_tag')
    updateEnvFile(paths.envFile, { IMAGE_TAG: MIGRATES_TAG })
    const d = await heavySlot(() => kit(stack, 'scripts/deploy.ts', ['--docker-compose', '--yes', '--env-file', paths.envFile, '--timeout', '5m', '--drain-timeout', '20s', '--validate-timeout', '60s', '--json'], 900_000))
    const outcome = json<DeployOutcome>(d)
    // where the time went (a backup, the restore, healthchecks): the deploy's own step timings
    process.stderr.write(`migration rollback steps: ${JSON.stringify((outcome as { steps?: Array<{ id: string; durationMs?: number }> }).steps?.map((s) => `${s.id} ${Math.round((s.durationMs ?? 0) / 1000)}s`))}\n`)
    expect(d.code, d.stderr.slice(-6000)).toBe(1)
    expect(outcome.summary).toMatch(/^validation failed; /)
    expect(outcome.rolledBack).toBe(true)
    const up = outcome.upgrade!
    expect(up.schema).toEqual({ before: '0003_e2e_tag', after: '0004_e2e_folder' })
    // a failed undo step says why only in the outcome: show it
    expect(up.rollback, JSON.stringify((outcome as { undone?: unknown }).undone, null, 1).slice(0, 4000)).toMatchObject({ schema: { from: '0004_e2e_folder', to: '0003_e2e_tag' }, restoredSet: up.preUpgradeSet })
    expect(up.rollback!.writtenSinceUpgrade.keptIn).toMatch(/^\d{4}-/)
    expect(await psql(stack, 'SELECT version_num FROM alembic_version')).toBe('0003_e2e_tag')
    expect(await pgChecksum(stack, ['chat', 'alembic_version'])).toEqual(before)
    // the restore swapped the database under PgBouncer (it ended the pool's server connections):
    // a client of the pool reads the restored rows
    const pooled = await throughPgBouncer('SELECT count(*) FROM chat', 'openwebui')
    if (pooled) expect(pooled[1]).toEqual(['50'])
    const now = await images()
    for (const s of ['openwebui', 'graphrag-processor', 'mcp-server']) expect(now[s], s).toMatch(new RegExp(`:${NEXT_TAG}$`))
    updateEnvFile(paths.envFile, { IMAGE_TAG: NEXT_TAG })
    const v = await kit(stack, 'scripts/validate-prod.ts', ['--target', 'compose', '--env-file', paths.envFile, '--json'])
    expect(json<{ results: Array<{ name: string; status: string }> }>(v).results.filter((c) => c.status !== 'ok'), v.stderr.slice(-3000)).toEqual([])
  }, 960_000)
})

