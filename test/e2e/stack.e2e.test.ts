// The single-host deployment for real: deployed, validated, loaded, backed up and restored,
// watched by Prometheus, on a real Docker engine (the rollback from a broken release runs beside
// it on the other lane: rollback.e2e.test.ts). Steps run
// in order and build on each other; the stack stays up for the files after this one (ensureStack),
// and teardown.e2e.test.ts takes it down last.
import { describe, it, expect, beforeAll, afterAll, inject } from 'vitest'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { tmpDir } from '../helpers/tmp.ts'
import { runScript } from '../helpers/run-script.ts'
import { CONFIG_DIR } from '../../scripts/lib/core/paths.ts'
import { stackPaths, e2eEnv, writeEnvFile, E2E_DOMAIN, type StackPaths } from './harness/stack.ts'
import { kit, heavySlot, json, compose, ps, prometheus, until, httpsGet, psql, pgChecksum, redisCli, redisChecksum, shareStack, publishPort, type Stack } from './kit.ts'

const { env: engineEnv } = inject('e2e')
const tmp = tmpDir('owp-e2e-stack-')
let paths: StackPaths
let stack: Stack
/** Steps 2-5 need the stack step 1 deployed: without it they fail at once instead of timing out. */
let deployed = false
const needsStack = () => expect(deployed, 'the stack is not up: step 1 (deploy) failed').toBe(true)

interface DeployOutcome { ok: boolean; summary: string; rolledBack?: boolean; steps?: Array<{ id: string; status: string }> }
interface CheckResult { name: string; status: string; detail?: string; critical?: boolean }

beforeAll(async () => {
  paths = stackPaths(tmp.path)
  const httpPort = await publishPort()
  const httpsPort = await publishPort([httpPort])
  writeEnvFile(paths.envFile, e2eEnv(paths, { httpPort, httpsPort }))
  // the kit's own first-run helper makes the TLS pair NGINX serves
  const tls = await runScript('scripts/tls-selfsigned.ts', ['--domain', E2E_DOMAIN, '--dir', paths.certDir, '--env-file', paths.envFile])
  expect(tls.code, tls.stderr).toBe(0)
  stack = { engineEnv, envFile: paths.envFile, certFile: join(paths.certDir, 'tls.crt'), httpPort, httpsPort }
})

afterAll(async () => {
  // a stack that came up stays for the files after this one (teardown.e2e.test.ts takes it down
  // last, globalSetup's teardown double-checks); one that did not is taken down here
  if (deployed) return
  if (stack) await compose(stack, ['down', '--volumes', '--remove-orphans', '--timeout', '5'], { allowFailure: true })
  tmp.remove()
})

describe.sequential('the compose deployment on a real Docker engine', () => {
  it('1. deploy.ts --docker-compose brings the whole stack up, every service healthy', async () => {
    const r = await heavySlot(() => kit(stack, 'scripts/deploy.ts', ['--docker-compose', '--yes', '--env-file', paths.envFile, '--timeout', '8m', '--json'], 900_000))
    const outcome = json<DeployOutcome>(r)
    expect(outcome.ok, `${outcome.summary}\n${r.stderr.slice(-6000)}`).toBe(true)
    expect(r.code).toBe(0)
    // every service of the file the stack's profiles turn on (lightllm on; pgbouncer is off by default)
    const all = (parseYaml(readFileSync(join(CONFIG_DIR, '..', 'compose', 'docker-compose.prod.yml'), 'utf8')) as { services: Record<string, { profiles?: string[] }> }).services
    const services = Object.entries(all).filter(([, s]) => !s.profiles?.length || s.profiles.includes('lightllm')).map(([name]) => name)
    const running = await ps(stack)
    expect(running.map((c) => c.Service).sort()).toEqual([...services].sort())
    for (const c of running) {
      expect(c.State, c.Service).toBe('running')
      expect(['healthy', ''], `${c.Service}: ${c.Health}`).toContain(c.Health)
    }
    deployed = true
    shareStack({ stack, paths })
  })

  it('2. validate-prod passes, through the real NGINX over TLS', async () => {
    needsStack()
    const r = await kit(stack, 'scripts/validate-prod.ts', ['--target', 'compose', '--env-file', paths.envFile, '--json'])
    const report = json<{ ok: boolean; results: CheckResult[] }>(r)
    const bad = report.results.filter((c) => c.status !== 'ok')
    expect(bad, r.stderr.slice(-4000)).toEqual([])
    expect(r.code).toBe(0)
    expect(report.results.map((c) => c.name)).toEqual(expect.arrayContaining([
      `edge https://127.0.0.1:${stack.httpsPort}/health (Host ${E2E_DOMAIN})`,
      `tls certificate ${E2E_DOMAIN}`,
      'chat completion (openwebui -> lightllm)',
    ]))
    // and as a browser would: TLS with the stack's certificate, the security headers, the redirect
    const health = await httpsGet(stack, '/health')
    expect(health.status).toBe(200)
    expect(JSON.parse(health.body)).toEqual({ status: true })
    expect(health.headers['strict-transport-security']).toMatch(/max-age=\d+/)
  })

  it('3. load-test in http and llm modes through NGINX meets its SLO gates', async () => {
    needsStack()
    const http = await kit(stack, 'scripts/load-test.ts', ['--insecure', '-n', '300', '-c', '10',
      '--slo', 'p95<500ms', '--slo', 'error_rate<1%', '--json', `https://127.0.0.1:${stack.httpsPort}/health`])
    const h = json<{ ok: boolean; slo: Array<{ gate: string; pass: boolean }> }>(http)
    expect(h.slo.map((g) => [g.gate, g.pass]), http.stderr.slice(-3000)).toEqual([['p95<500ms', true], ['error_rate<1%', true]])
    expect(http.code).toBe(0)
    // streaming chat completions: NGINX -> Open WebUI (fake) -> LightLLM (fake), usage counted
    const llm = await kit(stack, 'scripts/load-test.ts', ['--mode', 'llm', '--insecure', '-n', '16', '-c', '4', '--max-tokens', '32',
      '--input-tokens', '64', '--api-key', 'e2e-openwebui-key', '--slo', 'ttft_p95<2s', '--slo', 'error_rate<1%', '--json',
      `https://127.0.0.1:${stack.httpsPort}/api/chat/completions`])
    const l = json<{ ok: boolean; slo: Array<{ gate: string; pass: boolean }>; phases: Array<{ requests: { ok: number }; tokens: { output: number; output_estimated: boolean } }> }>(llm)
    expect(l.slo.map((g) => [g.gate, g.pass]), llm.stderr.slice(-3000)).toEqual([['ttft_p95<2s', true], ['error_rate<1%', true]])
    expect(llm.code).toBe(0)
    expect(l.phases[0]!.requests.ok).toBe(16)
    expect(l.phases[0]!.tokens).toMatchObject({ output: 16 * 32, output_estimated: false })
  })

  it('4. backs up PostgreSQL and Redis through the running containers; restore brings destroyed data back', async () => {
    needsStack()
    await psql(stack, `CREATE TABLE e2e_items (id int PRIMARY KEY, name text NOT NULL, payload bytea, at timestamptz DEFAULT now());
      INSERT INTO e2e_items SELECT i, 'naïve ✓ データ ' || i, sha256(i::text::bytea), now() - i * interval '1 minute' FROM generate_series(1, 5000) i;
      CREATE TABLE e2e_notes (id serial PRIMARY KEY, item int REFERENCES e2e_items, note jsonb);
      INSERT INTO e2e_notes (item, note) SELECT i, jsonb_build_object('n', i, 'tags', jsonb_build_array('a', 'b')) FROM generate_series(1, 500) i;`)
    const tables = ['e2e_items', 'e2e_notes']
    const pgBefore = await pgChecksum(stack, tables)
    expect(pgBefore.e2e_items).toMatch(/^5000:/)
    await redisCli(stack, 5, 'SET', 'e2e:string', 'naïve ✓')
    await redisCli(stack, 5, 'HSET', 'e2e:hash', 'a', '1', 'b', 'two')
    await redisCli(stack, 5, 'RPUSH', 'e2e:list', 'x', 'y', 'z')
    await redisCli(stack, 5, 'SADD', 'e2e:set', 'm1', 'm2', 'm3')
    await redisCli(stack, 5, 'ZADD', 'e2e:zset', '1', 'one', '2.5', 'two')
    await redisCli(stack, 5, 'XADD', 'e2e:stream', '1-1', 'f', 'v')
    const redisBefore = await redisChecksum(stack, 5)
    expect(redisBefore.keys).toBe(6)

    // the two stores at once, as two cron lines would run them
    await Promise.all(['postgres', 'redis'].map(async (store) => {
      const r = await kit(stack, 'scripts/backup.ts', ['--store', store, '--target', 'compose', '--env-file', paths.envFile, '--dest', paths.backups, '--json'])
      const out = json<{ ok: boolean; stores: Array<{ store: string; ok: boolean; verified: boolean }> }>(r)
      expect(out.stores, r.stderr.slice(-3000)).toEqual([expect.objectContaining({ store, ok: true, verified: true })])
      expect(r.code).toBe(0)
    }))
    // the metrics node-exporter serves from the textfile directory
    expect(readdirSync(paths.textfile).sort()).toEqual(expect.arrayContaining(['backup_postgres.prom', 'backup_redis.prom']))

    await psql(stack, 'DROP TABLE e2e_notes; DROP TABLE e2e_items;')
    await redisCli(stack, 5, 'FLUSHDB')
    expect((await redisChecksum(stack, 5)).keys).toBe(0)

    // one restore after the other: a restore stops the deployment's writers, and a second one of the
    // same deployment is refused (exit 75) while the first has them stopped (row F-WRITERS-2)
    for (const store of ['postgres', 'redis']) {
      const r = await kit(stack, 'scripts/restore.ts', ['--store', store, '--from', 'latest', '--target', 'compose', '--env-file', paths.envFile, '--dest', paths.backups, '--yes', '--json'])
      expect(r.code, r.stderr.slice(-3000)).toBe(0)
    }
    expect(await pgChecksum(stack, tables)).toEqual(pgBefore)
    expect(await until('redis to answer after the restore', async () => (await redisChecksum(stack, 5)).keys === 6, 60_000, 1000)).toBe(true)
    expect(await redisChecksum(stack, 5)).toEqual(redisBefore)
  })

  it('5. Prometheus scrapes every target and loads every rule group; stopping Redis fires RedisDown', async () => {
    needsStack()
    type Target = { labels: Record<string, string>; health: string; lastError: string; scrapePool: string }
    const targets = await until('every scrape target up', async () => {
      const t = (await prometheus<{ activeTargets: Target[] }>(stack, '/api/v1/targets?state=active')).activeTargets
      return t.length > 0 && t.every((x) => x.health === 'up') ? t : null
    }, 120_000)
    const jobs = new Set(targets.map((t) => t.labels.job))
    const configured = (parseYaml(readFileSync(join(CONFIG_DIR, 'prometheus', 'prometheus.prod.yml'), 'utf8')) as { scrape_configs: Array<{ job_name: string; dns_sd_configs?: unknown }> })
      .scrape_configs.filter((j) => !j.dns_sd_configs).map((j) => j.job_name) // dcgm: DNS discovery, no such service here
    expect([...jobs].sort()).toEqual([...configured].sort())
    // the exporters reach the real servers behind them, and every blackbox probe succeeds (after
    // the restore of step 4, postgres-exporter needs a scrape or two to reconnect)
    const values = async () => {
      const out: string[] = []
      for (const q of ['pg_up', 'redis_up', 'nginx_up', 'probe_success']) {
        const v = await prometheus<{ result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(stack, `/api/v1/query?query=${q}`)
        if (!v.result.length) out.push(`${q}: no series`)
        for (const r of v.result) out.push(`${q}${JSON.stringify(r.metric)} = ${r.value[1]}`)
      }
      return out
    }
    const ok = await until('every exporter and probe to report 1', async () => { const v = await values(); return v.every((x) => x.endsWith(' = 1')) ? v : null }, 120_000, 5000)
      .catch(async (e: Error) => { throw new Error(`${e.message}\n${(await values()).filter((x) => !x.endsWith(' = 1')).join('\n')}`) })
    expect(ok.length).toBeGreaterThan(10)
    const ruleFiles = readdirSync(join(CONFIG_DIR, 'prometheus', 'rules')).filter((f) => f.endsWith('.yml'))
    const groups = ruleFiles.flatMap((f) => (parseYaml(readFileSync(join(CONFIG_DIR, 'prometheus', 'rules', f), 'utf8')) as { groups: Array<{ name: string }> }).groups.map((g) => g.name))
    const loaded = (await prometheus<{ groups: Array<{ name: string; rules: Array<{ name: string; health: string }> }> }>(stack, '/api/v1/rules')).groups
    expect(loaded.map((g) => g.name).sort()).toEqual([...groups].sort())
    for (const g of loaded) for (const r of g.rules) expect(`${g.name}/${r.name}: ${r.health}`).toMatch(/: ok$/)

    await compose(stack, ['stop', 'redis'])
    try {
      // redis_up == 0 for 1m (the rule's own `for`, not shortened), scraped and evaluated every 15s
      const alert = await until('RedisDown to fire', async () => {
        const alerts = (await prometheus<{ alerts: Array<{ labels: Record<string, string>; state: string }> }>(stack, '/api/v1/alerts')).alerts
        return alerts.find((a) => a.labels.alertname === 'RedisDown' && a.state === 'firing')
      }, 180_000, 5000)
      expect(alert.labels).toMatchObject({ severity: 'critical', service: 'redis' })
    } finally {
      await compose(stack, ['start', 'redis'])
    }
    // the files after this one share the stack: leave it whole (Redis's dependants settle too)
    await until('every container healthy again after Redis came back', async () =>
      (await ps(stack)).every((c) => c.State === 'running' && ['healthy', ''].includes(c.Health)), 180_000)
  })

})
