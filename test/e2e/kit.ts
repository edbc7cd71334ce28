// Helpers of the e2e stack tests: run the kit's scripts against the stack, look into containers.
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { request } from 'node:https'
import { readFileSync, writeFileSync, existsSync, mkdirSync, mkdtempSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { tmpdir } from 'node:os'
import { portFree } from '../../scripts/lib/core/net.ts'
import { runScript, type ScriptResult } from '../helpers/run-script.ts'
import { createContext, type Ctx } from '../../scripts/lib/core/context.ts'
import { engineLayout } from './harness/engine.ts'
import { composeArgv, kitEnv, stackPaths, e2eEnv, writeEnvFile, E2E_DOMAIN, E2E_LANE, SHARED_STACK_FILE, type StackPaths } from './harness/stack.ts'
import { DEPLOYS_LAST, SLOT_ORDER } from './harness/lane-plan.ts'

export interface Stack {
  engineEnv: Record<string, string>
  envFile: string
  certFile: string
  httpsPort: number
  httpPort: number
}

export function ctxFor(stack: Stack): Ctx {
  return createContext({ env: { ...process.env, ...stack.engineEnv } })
}

/** Run one of the kit's scripts as a user would, pointed at the e2e engine and override. */
export async function kit(stack: Stack, script: string, args: string[], timeoutMs = 600_000, o: { onSpawn?: (pid: number) => void } = {}): Promise<ScriptResult> {
  let pid = 0
  const r = await runScript(script, args, { env: kitEnv(stack.engineEnv), timeoutMs, onSpawn: (p) => { pid = p; running.add(p); o.onSpawn?.(p) } })
  running.delete(pid)
  if (process.env.OWP_E2E_VERBOSE) process.stderr.write(`--- ${script} ${args.join(' ')} -> ${r.code}\n${r.stderr}\n`)
  return r
}

/**
 * The kit's processes a test left running (it timed out while a deploy ran): stopped at the end of
 * the file as Ctrl-C would (SIGTERM: the kit runs its cleanups), then killed, so that nothing of
 * one test keeps changing the stack under the next file (the teardown found a deploy still running).
 * The e2e suite calls it after each file (harness/after-file.ts); a benchmark, at its end.
 */
const running = new Set<number>()
export async function stopLeftKitProcesses(): Promise<void> {
  const alive = (pid: number) => { try { process.kill(pid, 0); return true } catch { return false } }
  for (const pid of running) { try { process.kill(pid, 'SIGTERM') } catch { /* gone */ } }
  for (let i = 0; i < 120 && [...running].some(alive); i++) await new Promise((r) => setTimeout(r, 500))
  for (const pid of running) { try { process.kill(pid, 'SIGKILL') } catch { /* gone */ } }
  running.clear()
}

export function json<T = Record<string, unknown>>(r: ScriptResult): T {
  try { return JSON.parse(r.stdout) as T } catch {
    throw new Error(`not JSON (exit ${r.code}):\n${r.stdout.slice(-2000)}\n--- stderr ---\n${r.stderr.slice(-4000)}`)
  }
}

/** `docker compose` (production file + override) with the e2e .env. */
export async function compose(stack: Stack, args: string[], o: { input?: string; allowFailure?: boolean; timeout?: number } = {}) {
  const ctx = ctxFor(stack)
  return ctx.exec(composeArgv(stack.envFile, ...args), { input: o.input, allowFailure: o.allowFailure, timeout: o.timeout ?? 300_000 })
}

export async function execIn(stack: Stack, service: string, argv: string[], input?: string): Promise<string> {
  const r = await compose(stack, ['exec', '-T', service, ...argv], { input })
  return r.stdout
}

export interface PsEntry { Service: string; State: string; Health: string; Image: string; Name: string; ExitCode: number }

export async function ps(stack: Stack): Promise<PsEntry[]> {
  const r = await compose(stack, ['ps', '--all', '--format', 'json'])
  const text = r.stdout.trim()
  if (!text) return []
  return text.startsWith('[') ? JSON.parse(text) as PsEntry[] : text.split('\n').map((l) => JSON.parse(l) as PsEntry)
}

/** GET from Prometheus inside its container (no published port) and parse the JSON answer. */
export async function prometheus<T = unknown>(stack: Stack, path: string): Promise<T> {
  const out = await execIn(stack, 'prometheus', ['wget', '-qO-', `http://127.0.0.1:9090${path}`])
  const body = JSON.parse(out) as { status: string; data: T }
  if (body.status !== 'success') throw new Error(`prometheus ${path}: ${out.slice(0, 300)}`)
  return body.data
}

export async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs: number, everyMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v) return v
    } catch (e) { last = e }
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/** HTTPS through NGINX on 127.0.0.1, trusting only the stack's own certificate. */
export function httpsGet(stack: Stack, path: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port: stack.httpsPort, path, servername: E2E_DOMAIN, headers: { host: E2E_DOMAIN },
      ca: readFileSync(stack.certFile), timeout: 10_000,
    }, (res) => {
      let body = ''
      res.on('data', (d) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')

const PG = (stack: Stack) => ['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-U', 'openwebui', '-d', 'openwebui', '-At']

export async function psql(stack: Stack, sql: string): Promise<string> {
  return (await execIn(stack, 'postgres', [...PG(stack), '-c', sql])).trim()
}

/** Content checksum of every e2e table: rows in key order, every column. */
export async function pgChecksum(stack: Stack, tables: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const t of tables) out[t] = await psql(stack, `SELECT count(*) || ':' || md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM ${t} x`)
  return out
}

export async function redisCli(stack: Stack, db: number, ...args: string[]): Promise<string> {
  return (await execIn(stack, 'redis', ['redis-cli', '-h', '127.0.0.1', '-n', String(db), '--no-raw', ...args])).trim()
}

/** Content checksum of one Redis database: every key with its type and full value. */
export async function redisChecksum(stack: Stack, db: number): Promise<{ keys: number; sum: string }> {
  const keys = (await redisCli(stack, db, '--scan')).split('\n').map((k) => k.replace(/^"|"$/g, '')).filter(Boolean).sort()
  const parts: string[] = []
  for (const k of keys) {
    const type = (await redisCli(stack, db, 'TYPE', k)).replace(/^"|"$/g, '')
    const read: Record<string, string[]> = {
      string: ['GET', k], hash: ['HGETALL', k], list: ['LRANGE', k, '0', '-1'], set: ['SMEMBERS', k],
      zset: ['ZRANGE', k, '0', '-1', 'WITHSCORES'], stream: ['XRANGE', k, '-', '+'],
    }
    const v = read[type] ? await redisCli(stack, db, ...read[type]!) : ''
    // --no-raw numbers the elements of a reply ("1) ..."): the numbers are positions, not content
    const lines = v.split('\n').map((l) => l.replace(/^\s*\d+\)\s/, ''))
    parts.push(`${k}\0${type}\0${(type === 'set' || type === 'hash' ? [...lines].sort() : lines).join('\n')}`)
  }
  return { keys: keys.length, sum: sha256(parts.join('\u0001')) }
}

/** A deployed stack and where its files are, as the e2e files share it. */
export interface SharedStack { stack: Stack; paths: StackPaths }

/** Record the stack this file brought up, so the files after it reuse it instead of deploying again. */
export function shareStack(s: SharedStack): void {
  mkdirSync(dirname(SHARED_STACK_FILE), { recursive: true })
  writeFileSync(SHARED_STACK_FILE, JSON.stringify({ paths: s.paths, stack: { ...s.stack, engineEnv: {} } }))
}

/** The stack an earlier file left running with every container up, or null. */
export async function sharedStack(engineEnv: Record<string, string>, settleMs = 0): Promise<SharedStack | null> {
  if (!existsSync(SHARED_STACK_FILE)) return null
  const s = JSON.parse(readFileSync(SHARED_STACK_FILE, 'utf8')) as SharedStack
  s.stack.engineEnv = engineEnv
  const deadline = Date.now() + settleMs
  for (;;) {
    const running = await ps(s.stack).catch(() => [] as PsEntry[])
    const stopped = running.filter((c) => c.State !== 'running')
    const settling = running.filter((c) => c.State === 'running' && !['healthy', ''].includes(c.Health))
    if (running.length && !stopped.length && !settling.length) return s
    // a container that runs but is not healthy yet (a writer a restore started again, a service
    // whose dependency an earlier test stopped) is given time; a stopped one is not coming back
    if (!running.length || stopped.length || Date.now() >= deadline) {
      const why = !running.length ? 'no container runs' : [...stopped, ...settling].map((c) => `${c.Service} ${c.State}${c.Health ? ` (${c.Health})` : ''}`).join(', ')
      process.stderr.write(`the shared stack is not whole (${why}): deploying a fresh one\n`)
      return null
    }
    await new Promise((r) => setTimeout(r, 3000))
  }
}

/** How many stacks may change at once on the engine (harness/lanes.ts runs three lanes). */
export const HEAVY_SLOTS = 2

/**
 * A slot for work that changes a whole stack: a deploy (a first one starts ~25 containers and
 * their first healthchecks, then validation re-runs every healthcheck) or a restore drill (a
 * scratch stack beside production). With three lanes, a drill and the engine-free suites all at
 * once, this 2-core machine ran `docker compose` calls for over 10 s and validation failed on
 * healthy stacks; at most HEAVY_SLOTS such changes run at once, while the other lanes' tests keep
 * using their running stacks. A slot is a kernel flock (`flock -n`) held by a child process: freed
 * when `fn` ends or fails, or when this process dies (the child's stdin closes).
 */
export async function heavySlot<T>(fn: () => Promise<T>): Promise<T> {
  const { state } = engineLayout()
  mkdirSync(state, { recursive: true })
  // a lane that waits says so (a flock held while it waits); a free slot goes to the lanes ahead in
  // SLOT_ORDER first, so that the lane with the least time to spare waits least
  const wantFile = (lane: string) => join(state, `heavy-want-${lane}.lock`)
  const started = (process.env.OWP_E2E_LANES ?? '').split(',').filter(Boolean)
  const ahead = SLOT_ORDER.slice(0, Math.max(0, SLOT_ORDER.indexOf(E2E_LANE))).filter((l) => started.includes(l))
  const aheadWaits = async () => {
    for (const lane of ahead) {
      const probe = await holdIfFree(wantFile(lane))
      if (!probe) return true
      probe.stdin!.end()
    }
    return false
  }
  let want: ChildProcess | null = null
  try {
    for (;;) {
      if (!(await aheadWaits())) {
        for (let i = 0; i < HEAVY_SLOTS; i++) {
          const holder = await holdIfFree(join(state, `heavy-slot-${i}.lock`))
          if (!holder) continue
          want?.stdin!.end()
          want = null
          try {
            return await fn()
          } finally {
            holder.stdin!.end()
          }
        }
      }
      want ??= await holdIfFree(wantFile(E2E_LANE))
      await new Promise((r) => setTimeout(r, 1000))
    }
  } finally {
    want?.stdin!.end()
  }
}

/**
 * On lane DEPLOYS_LAST of a run of harness/lanes.ts, before its first deploy: wait (at most 90 s)
 * until the other lanes hold the heavy slots, so that the lanes with less time to spare deploy first
 * (else whichever vitest starts first takes a slot, and a busier lane waits a whole deploy).
 */
async function letOthersDeployFirst(): Promise<void> {
  // the lanes this run started (harness/lanes.ts OWP_E2E_LANES): with fewer other lanes than slots, no one waits
  const others = (process.env.OWP_E2E_LANES ?? '').split(',').filter((l) => l && l !== E2E_LANE).length
  if (E2E_LANE !== DEPLOYS_LAST || others < HEAVY_SLOTS) return
  const { state } = engineLayout()
  mkdirSync(state, { recursive: true })
  const deadline = Date.now() + 90_000
  while (Date.now() < deadline) {
    let held = 0
    for (let i = 0; i < HEAVY_SLOTS; i++) {
      const probe = await holdIfFree(join(state, `heavy-slot-${i}.lock`))
      if (probe) probe.stdin!.end()
      else held++
    }
    if (held === HEAVY_SLOTS) return
    await new Promise((r) => setTimeout(r, 1000))
  }
}

/** The `flock -n` child holding `file`, or null when another process holds it. */
function holdIfFree(file: string): Promise<ChildProcess | null> {
  const holder = spawn('flock', ['-n', file, 'sh', '-c', 'echo held; exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] })
  return new Promise((ok, fail) => {
    holder.stdout!.once('data', () => ok(holder))
    holder.once('error', fail)
    holder.once('exit', (code) => (code === 1 ? ok(null) : fail(new Error(`flock -n ${file} exited with ${code}`))))
  })
}

/**
 * A port for the stack to publish (NGINX's HTTP and HTTPS), below the kernel's ephemeral range
 * (ip_local_port_range, 32768-60999 by default): a port picked there can be taken as the local
 * port of any outgoing connection while NGINX is down (a killed deploy, a rollback), and the
 * rerun's preflight then finds it "in use". Production publishes 80 and 443, outside that range too.
 */
export async function publishPort(taken: number[] = []): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000)
    if (!taken.includes(port) && (await portFree(port))) return port
  }
  throw new Error('no free port between 20000 and 32000')
}

/**
 * A stack for this file: the one an earlier file shared when it is still whole, else a fresh
 * one deployed with the kit (and shared). Files that change it leave it whole and at E2E_TAG.
 */
export async function ensureStack(engineEnv: Record<string, string>): Promise<SharedStack> {
  const kept = await sharedStack(engineEnv, 180_000)
  if (kept) return kept
  const paths = stackPaths(mkdtempSync(join(tmpdir(), 'owp-e2e-stack-')))
  const httpPort = await publishPort()
  const httpsPort = await publishPort([httpPort])
  writeEnvFile(paths.envFile, e2eEnv(paths, { httpPort, httpsPort }))
  const stack: Stack = { engineEnv, envFile: paths.envFile, certFile: join(paths.certDir, 'tls.crt'), httpPort, httpsPort }
  await compose(stack, ['down', '--volumes', '--remove-orphans', '--timeout', '5'], { allowFailure: true })
  const tls = await runScript('scripts/tls-selfsigned.ts', ['--domain', E2E_DOMAIN, '--dir', paths.certDir, '--env-file', paths.envFile])
  if (tls.code !== 0) throw new Error(`tls-selfsigned failed:\n${tls.stderr}`)
  await letOthersDeployFirst()
  const r = await heavySlot(() => kit(stack, 'scripts/deploy.ts', ['--docker-compose', '--yes', '--env-file', paths.envFile, '--timeout', '8m', '--json'], 900_000))
  if (r.code !== 0) {
    // the kit's undo of a failed first deploy keeps the volumes (what was there stays); the suite's
    // own stack leaves nothing behind
    await compose(stack, ['down', '--volumes', '--remove-orphans', '--timeout', '5'], { allowFailure: true })
    throw new Error(`deploy of the shared stack failed (exit ${r.code}):\n${r.stderr.slice(-6000)}`)
  }
  const shared = { stack, paths }
  shareStack(shared)
  return shared
}
