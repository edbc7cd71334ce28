// PgBouncer on compose (PGBOUNCER_ENABLED): its profile, Open WebUI and GraphRAG connecting through
// it while the exporter (and the backups, which exec into postgres) do not, and the configuration
// its entrypoint writes, sized from the replicas and Celery workers.
import { describe, it, expect } from 'vitest'
import { execFileSync, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { composeEnvironment, loadCompose } from '../../scripts/lib/stack/env.ts'
import { composeProfiles } from '../../scripts/lib/tools/compose.ts'
import { ROOT } from '../../scripts/lib/core/paths.ts'
import { testEnv } from './tools.ts'

const ENTRYPOINT = join(ROOT, 'docker', 'pgbouncer', 'entrypoint.sh')
const doc = (extra: Record<string, string>) => loadCompose(composeEnvironment({ ...testEnv(), ...extra })).doc
const envOf = (d: ReturnType<typeof doc>, s: string) => d.services[s]!.environment as Record<string, string>
const host = (url: string) => new URL(url).host

function render(env: Record<string, string>): Record<string, string> {
  const out = execFileSync('sh', [ENTRYPOINT], { env: { PATH: process.env.PATH, DB_NAME: 'openwebui', DB_USER: 'openwebui', DB_PASSWORD: 'pw', PGBOUNCER_RENDER_ONLY: '1', ...env }, encoding: 'utf8' })
  return Object.fromEntries(out.split('\n').filter((l) => l.includes(' = ')).map((l) => l.split(' = ') as [string, string]))
}

describe('PgBouncer on compose', () => {
  it('PGBOUNCER_ENABLED=true: the pgbouncer profile, Open WebUI and GraphRAG through pgbouncer:6432, the exporter straight to postgres', () => {
    const on = doc({ PGBOUNCER_ENABLED: 'true' })
    for (const s of ['openwebui', 'graphrag-processor', 'celery-worker', 'celery-beat']) expect(host(envOf(on, s).DATABASE_URL!), s).toBe('pgbouncer:6432')
    expect(envOf(on, 'postgres-exporter').DATA_SOURCE_URI).toMatch(/^postgres:5432\//)
    expect(composeProfiles({ PGBOUNCER_ENABLED: 'true' })).toEqual(['lightllm', 'pgbouncer'])
    expect(composeEnvironment({ ...testEnv(), PGBOUNCER_ENABLED: 'true', LIGHTLLM_ENABLED: 'false' }).COMPOSE_PROFILES).toBe('pgbouncer')
  })

  it('off (the default): no profile, the applications straight to postgres:5432', () => {
    const off = doc({})
    for (const s of ['openwebui', 'graphrag-processor', 'celery-worker', 'celery-beat']) expect(host(envOf(off, s).DATABASE_URL!), s).toBe('postgres:5432')
    expect(composeProfiles({})).toEqual(['lightllm'])
    // an external pooler instead: POSTGRES_ENDPOINT wins
    expect(host(envOf(doc({ PGBOUNCER_ENABLED: 'true', POSTGRES_ENDPOINT: 'pooler.corp:6432' }), 'openwebui').DATABASE_URL!)).toBe('pooler.corp:6432')
  })

  it('hands PgBouncer the server, the role, the pool mode and the client counts it is sized from', () => {
    const e = envOf(doc({ PGBOUNCER_ENABLED: 'true', OPENWEBUI_REPLICAS: '3', CELERY_CONCURRENCY: '4', PGBOUNCER_POOL_MODE: 'transaction' }), 'pgbouncer')
    expect(e).toMatchObject({ DB_HOST: 'postgres', DB_PORT: '5432', DB_NAME: 'openwebui', DB_USER: 'openwebui', POOL_MODE: 'transaction', OPENWEBUI_REPLICAS: '3', CELERY_CONCURRENCY: '4' })
    expect(e.DB_PASSWORD).toBe(testEnv().POSTGRES_PASSWORD)
  })

  it('sizes the pools from the replicas and Celery workers, within what PostgreSQL gives the applications', () => {
    expect(render({})).toMatchObject({ pool_mode: 'session', max_client_conn: '160', default_pool_size: '40', max_db_connections: '40', auth_type: 'scram-sha-256', listen_port: '6432', openwebui: 'host=postgres port=5432 dbname=openwebui' })
    expect(render({ OPENWEBUI_REPLICAS: '4', CELERY_CONCURRENCY: '8' })).toMatchObject({ max_client_conn: '520', default_pool_size: '130' })
    expect(render({ OPENWEBUI_REPLICAS: '8', CELERY_CONCURRENCY: '64' })).toMatchObject({ default_pool_size: '180', max_db_connections: '180' })
  })

  it('refuses a pool mode it does not know, and a missing password (the entrypoint can fail)', () => {
    const bad = spawnSync('sh', [ENTRYPOINT], { env: { PATH: process.env.PATH, DB_NAME: 'd', DB_USER: 'u', DB_PASSWORD: 'p', POOL_MODE: 'statement', PGBOUNCER_RENDER_ONLY: '1' }, encoding: 'utf8' })
    expect(bad.status).toBe(2)
    expect(bad.stderr).toContain('POOL_MODE must be session or transaction (got statement)')
    const noPw = spawnSync('sh', [ENTRYPOINT], { env: { PATH: process.env.PATH, DB_NAME: 'd', DB_USER: 'u', PGBOUNCER_RENDER_ONLY: '1' }, encoding: 'utf8' })
    expect(noPw.status).not.toBe(0)
    expect(noPw.stderr).toContain('DB_PASSWORD is required')
  })
})
