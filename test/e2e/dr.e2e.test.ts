// Disaster recovery on the real engine: the stack deployed by the kit, data in every store and in
// the file volumes, one platform set of the running stack (make backup), then the restore drill
// (make dr-drill) into a scratch project beside it: one line of outcome, production's data equal
// before and after (checksums), nothing of the scratch project left behind.
import { describe, it, expect, beforeAll, afterAll, inject } from 'vitest'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpDir } from '../helpers/tmp.ts'
import { projectLeftovers, removeProject, E2E_PROJECT, type StackPaths } from './harness/stack.ts'
import { kit, heavySlot, json, ps, execIn, psql, pgChecksum, redisCli, redisChecksum, ctxFor, sha256, ensureStack, type Stack } from './kit.ts'

const { env: engineEnv } = inject('e2e')
const tmp = tmpDir('owp-e2e-dr-')
let paths: StackPaths
let stack: Stack
let deployed = false
let backedUp = false
const timings: Record<string, number> = {}
const DRILL_PROJECT = `${E2E_PROJECT}-drill`
const TABLES = ['dr_chats', 'dr_files']

async function timed<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now()
  try { return await fn() } finally { timings[name] = Math.round((performance.now() - t0) / 100) / 10 }
}

/** Every file of a data directory with its sha256 (as a user would compare two copies). */
async function filesChecksum(service: string, dir: string): Promise<string> {
  return sha256(await execIn(stack, service, ['sh', '-c', 'cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum', 'sh', dir]))
}

/** Production as the test sees it: database content, keys, files, and its volumes on the engine. */
async function production(): Promise<Record<string, unknown>> {
  const volumes = (await ctxFor(stack).exec(['docker', 'volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${E2E_PROJECT}`], { env: engineEnv })).stdout.trim()
  return {
    pg: await pgChecksum(stack, TABLES),
    redis: await redisChecksum(stack, 0),
    webui: await filesChecksum('openwebui', '/app/backend/data'),
    graphrag: await filesChecksum('graphrag-processor', '/var/lib/graphrag'),
    volumes,
    containers: (await ps(stack)).map((c) => `${c.Name} ${c.State}`).sort(),
  }
}

beforeAll(async () => {
  // the stack the suite shares (stack.e2e.test.ts deployed it; alone, this file deploys it)
  ;({ stack, paths } = await timed('deploy', () => ensureStack(engineEnv)))
}, 1_200_000)

afterAll(async () => {
  // production stays up for the files after this one; the drill's scratch project never does
  if (stack) await removeProject(ctxFor(stack), engineEnv, DRILL_PROJECT).catch(() => {})
  process.stderr.write(`dr e2e timings (s): ${JSON.stringify(timings)}\n`)
  tmp.remove()
})

describe.sequential('disaster recovery of the compose deployment on a real engine', () => {
  it('1. the stack the kit deployed is up, every container running', async () => {
    const running = await ps(stack)
    expect(running.length).toBeGreaterThan(10)
    expect(running.filter((c) => c.State !== 'running').map((c) => c.Service)).toEqual([])
    deployed = true
  })

  it('2. make backup takes one platform set of the running stack: databases, files (caches excluded), the encrypted .env and the WAL archive\'s base backup', async () => {
    expect(deployed, 'the stack is not up').toBe(true)
    await psql(stack, `CREATE TABLE dr_chats (id int PRIMARY KEY, body text NOT NULL);
      INSERT INTO dr_chats SELECT i, 'chat ✓ ' || i FROM generate_series(1, 2000) i;
      CREATE TABLE dr_files (id int PRIMARY KEY, chat int REFERENCES dr_chats, path text);
      INSERT INTO dr_files SELECT i, i, 'uploads/' || i || '.txt' FROM generate_series(1, 20) i;`)
    for (let i = 0; i < 25; i++) await redisCli(stack, 0, 'SET', `session:${i}`, `v${i}`)
    await execIn(stack, 'openwebui', ['sh', '-c', 'mkdir -p /app/backend/data/uploads /app/backend/data/cache/whisper && for i in $(seq 1 20); do head -c $((i * 1000)) /dev/urandom > /app/backend/data/uploads/$i.txt; done && head -c 500000 /dev/zero > /app/backend/data/cache/whisper/model.bin'])
    await execIn(stack, 'graphrag-processor', ['sh', '-c', 'mkdir -p /var/lib/graphrag/output /var/lib/graphrag/cache && head -c 40000 /dev/urandom > /var/lib/graphrag/output/entities.parquet && echo {} > /var/lib/graphrag/cache/llm.json'])
    const key = join(tmp.path, 'escrow.key')
    execFileSync('age-keygen', ['-o', key], { stdio: 'ignore' })
    const recipient = execFileSync('age-keygen', ['-y', key]).toString().trim()
    const r = await timed('backup', () => kit(stack, 'scripts/backup.ts', ['--target', 'compose', '--env-file', paths.envFile, '--dest', paths.backups, '--config-recipient', recipient, '--json'], 900_000))
    const out = json<{ ok: boolean; stores: Array<{ store: string; ok: boolean; skipped?: string }>; platform: { id: string; state: string; stores: number }; pitr?: { ok: boolean; backup?: { label: string } } }>(r)
    expect(out.platform, r.stderr.slice(-4000)).toMatchObject({ state: 'complete' })
    expect(out.stores.filter((s) => !s.skipped).map((s) => s.store).sort()).toEqual(['config', 'files-graphrag', 'files-openwebui', 'postgres', 'qdrant', 'redis'])
    expect(r.code).toBe(0)
    const m = JSON.parse(readFileSync(join(paths.backups, 'platform', `${out.platform.id}.json`), 'utf8'))
    // the compose postgres archives its WAL through pgBackRest: the set took its base backup too
    expect(out.pitr, r.stderr.slice(-4000)).toMatchObject({ ok: true, backup: { label: expect.any(String) } })
    expect(m.pitr).toMatchObject({ ok: true, label: out.pitr!.backup!.label })
    const webui = m.parts.find((p: { store: string }) => p.store === 'files-openwebui')
    expect(webui.content).toMatchObject({ files: 20, bytes: 210_000 })
    const list = await kit(stack, 'scripts/restore.ts', ['--list', '--target', 'compose', '--env-file', paths.envFile, '--dest', paths.backups])
    expect(list.stdout).toMatch(new RegExp(`${out.platform.id} +\\S+ +complete +6/6`))
    backedUp = true
  })

  it('3. make dr-drill restores the set beside production, validates it, prints one line, and leaves production untouched', async () => {
    expect(backedUp, 'no platform set').toBe(true)
    const before = await production()
    // the drill starts a whole scratch stack from nothing: one such start at a time on the engine
    const r = await timed('drill', () => heavySlot(() => kit(stack, 'scripts/dr-drill.ts', ['--env-file', paths.envFile, '--dest', paths.backups, '--metrics-dir', paths.textfile, '--wait', '420'], 1_200_000)))
    const lines = r.stdout.trim().split('\n')
    expect(lines, r.stderr.slice(-8000)).toHaveLength(1)
    expect(lines[0], r.stderr.slice(-8000)).toMatch(/^dr drill: set \d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z, 6 stores, validate ok, rto \d+ s, rpo \d+ s, production untouched$/)
    expect(r.code).toBe(0)
    process.stderr.write(`${lines[0]}\n`)
    expect(await production()).toEqual(before)
    expect(await projectLeftovers(ctxFor(stack), engineEnv, DRILL_PROJECT)).toEqual({ containers: [], networks: [], volumes: [] })
    const metrics = readFileSync(join(paths.textfile, 'dr_drill.prom'), 'utf8')
    expect(metrics).toMatch(/^dr_drill_last_run_success 1$/m)
    expect(metrics).toMatch(/^dr_drill_rto_seconds [1-9]\d*$/m)
  })
})
