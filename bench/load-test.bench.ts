// Benchmark (never a test): requests/s of wrk, hey, autocannon and our load tester against a real
// nginx on 127.0.0.1 serving a small file, interleaved, ROUNDS x BENCH_SECONDS at c=50.
// Prints the ratios ours/wrk and ours/hey (goal: >= 0.85x wrk, >= 1.3x hey), ours on 2 worker threads,
// and the CPU seconds each tool spends per 10k requests (bash's `times` of its whole process tree).
//   tsx bench/load-test.bench.ts            (3 rounds x 10 s; BENCH_SECONDS=3 BENCH_ROUNDS=1 for a quick run)
//   BENCH_ENGINES=1 also times bare loops of the clients the engine could use: raw sockets
//   (scripts/lib/load/rawhttp.ts), undici's Client, node:http with a keep-alive Agent.
import { mkdirSync, writeFileSync, existsSync, chmodSync } from 'node:fs'
import { join } from 'node:path'
import { createContext } from '../scripts/lib/core/context.ts'
import { table } from '../scripts/lib/core/log.ts'
import { ROOT } from '../scripts/lib/core/paths.ts'
import { startService } from '../test/helpers/service.ts'
import { freePort } from '../test/helpers/net.ts'
import { tmpDir } from '../test/helpers/tmp.ts'
import { median } from '../test/load/fixture.ts'

// Self-invocation: `--engine raw|undici|agent URL SECONDS` runs one bare client loop and prints its
// rate, to compare the HTTP clients the engine could be built on (BENCH_ENGINES=1 runs these too).
if (process.argv[2] === '--engine') {
  process.stdout.write(`${await bareClient(process.argv[3]!, process.argv[4]!, Number(process.argv[5]))}\n`)
  process.exit(0)
}

async function bareClient(engine: string, url: string, seconds: number): Promise<number> {
  const u = new URL(url)
  const end = performance.now() + seconds * 1000
  let done = 0
  const loops: Promise<void>[] = []
  if (engine === 'raw') {
    const { RawConnection, buildRequest, targetOf } = await import('../scripts/lib/load/rawhttp.ts')
    const buf = buildRequest({ method: 'GET', url: u, headers: [], keepAlive: true })
    for (let i = 0; i < 50; i++) loops.push((async () => { const c = new RawConnection(targetOf(u, false)); while (performance.now() < end) { await c.request(buf); done++ } c.close() })())
  } else if (engine === 'undici') {
    const { Client } = await import('undici')
    for (let i = 0; i < 50; i++) loops.push((async () => { const c = new Client(u.origin); while (performance.now() < end) { const r = await c.request({ path: u.pathname, method: 'GET' }); await r.body.dump(); done++ } await c.close() })())
  } else {
    const http = await import('node:http')
    const agent = new http.Agent({ keepAlive: true, maxSockets: 50 })
    const one = () => new Promise<void>((resolve, reject) => http.get(u, { agent }, (res) => { res.resume(); res.on('end', resolve) }).on('error', reject))
    for (let i = 0; i < 50; i++) loops.push((async () => { while (performance.now() < end) { await one(); done++ } })())
    await Promise.all(loops)
    agent.destroy()
  }
  await Promise.all(loops)
  return done / seconds
}

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const C = 50
const NGINX = '/usr/sbin/nginx'
const ctx = createContext({ interactive: false })

function need(path: string, hint: string): string {
  if (!existsSync(path)) {
    process.stderr.write(`bench: ${path} is missing: ${hint}\n`)
    process.exit(1)
  }
  return path
}

const tools = {
  wrk: need('/usr/bin/wrk', 'run `make setup` (Debian package wrk)'),
  hey: need('/usr/bin/hey', 'run `make setup` (Debian package hey)'),
  autocannon: need(join(ROOT, 'node_modules/.bin/autocannon'), 'run `npm ci` (autocannon is a dev dependency)'),
  nginx: need(NGINX, 'run `make setup` (Debian package nginx)'),
}

async function startNginx() {
  const tmp = tmpDir('owp-bench-nginx-')
  const port = await freePort()
  chmodSync(tmp.path, 0o755) // nginx's workers run as nobody when we are root
  for (const d of ['www', 'tmp', 'logs']) mkdirSync(join(tmp.path, d), { mode: 0o755 })
  writeFileSync(join(tmp.path, 'www', 'index.html'), `<!doctype html><title>bench</title>${'<p>small file</p>'.repeat(30)}\n`)
  const conf = join(tmp.path, 'nginx.conf')
  writeFileSync(conf, `daemon off;
worker_processes 1;
pid ${tmp.path}/nginx.pid;
error_log ${tmp.path}/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path ${tmp.path}/tmp; proxy_temp_path ${tmp.path}/tmp; fastcgi_temp_path ${tmp.path}/tmp;
  uwsgi_temp_path ${tmp.path}/tmp; scgi_temp_path ${tmp.path}/tmp;
  server { listen 127.0.0.1:${port}; root ${tmp.path}/www; }
}
`)
  const svc = await startService({ cmd: tools.nginx, args: ['-c', conf, '-p', tmp.path], port })
  const url = `http://127.0.0.1:${port}/index.html`
  const res = await fetch(url)
  if (res.status !== 200) {
    await svc.stop()
    throw new Error(`nginx answered ${res.status} for ${url}: the rates would measure error pages`)
  }
  return { url, stop: async () => { await svc.stop(); tmp.remove() } }
}

type Tool = 'wrk' | 'hey' | 'autocannon' | 'ours' | 'ours --workers 2'

/** CPU seconds (user + system) of the tool's whole process tree, from bash's `times` after it exits. */
let lastCpu = 0
async function measure(tool: Tool, url: string): Promise<number> {
  const run = async (argv: string[]) => {
    const r = await ctx.exec(['bash', '-c', '"$@"; times >&2', 'bench', ...argv], { timeout: (SECONDS + 60) * 1000 })
    const children = r.stderr.trim().split('\n').at(-1) ?? ''
    lastCpu = [...children.matchAll(/(\d+)m([\d.]+)s/g)].reduce((a, m) => a + Number(m[1]) * 60 + Number(m[2]), 0)
    return r.stdout
  }
  const perSecond = (text: string, what: string) => {
    const m = /Requests\/sec:\s*([\d.]+)/.exec(text)
    if (!m) throw new Error(`${what}: no Requests/sec in its output:\n${text}`)
    return Number(m[1])
  }
  switch (tool) {
    case 'wrk': return perSecond(await run([tools.wrk, '-t2', `-c${C}`, `-d${SECONDS}s`, url]), 'wrk')
    case 'hey': return perSecond(await run([tools.hey, '-z', `${SECONDS}s`, '-c', String(C), url]), 'hey')
    case 'autocannon': {
      const r = JSON.parse(await run([tools.autocannon, '-c', String(C), '-d', String(SECONDS), '--json', url])) as { requests: { total: number }; duration: number }
      return r.requests.total / r.duration
    }
    case 'ours':
    case 'ours --workers 2': {
      const workers = tool === 'ours' ? [] : ['--workers', '2']
      const doc = JSON.parse(await run([process.execPath, '--import', 'tsx', join(ROOT, 'scripts/load-test.ts'), '-c', String(C), '-z', `${SECONDS}s`, ...workers, '--json', url])) as { phases: { rps: number }[] }
      return doc.phases[0]!.rps
    }
  }
}

const order: Tool[] = ['wrk', 'ours', 'hey', 'autocannon', 'ours --workers 2']
const results: Record<Tool, number[]> = { wrk: [], hey: [], autocannon: [], ours: [], 'ours --workers 2': [] }
/** CPU seconds per 10k requests of each run. */
const cpu: Record<Tool, number[]> = { wrk: [], hey: [], autocannon: [], ours: [], 'ours --workers 2': [] }
const engines: Record<string, number[]> = { raw: [], undici: [], agent: [] }
const nginx = await startNginx()
try {
  process.stderr.write(`bench: nginx (1 worker) at ${nginx.url}; ${ROUNDS} rounds x ${SECONDS}s at c=${C}, tools interleaved\n`)
  for (let round = 1; round <= ROUNDS; round++) {
    // Rotate the order each round so no tool always runs right after the same neighbour.
    const turn = order.map((_, i) => order[(i + round - 1) % order.length]!)
    for (const tool of turn) {
      const rps = await measure(tool, nginx.url)
      results[tool].push(rps)
      cpu[tool].push((lastCpu / (rps * SECONDS)) * 10_000)
      process.stderr.write(`  round ${round}  ${tool.padEnd(16)} ${Math.round(rps).toLocaleString('en-US')} req/s, ${lastCpu.toFixed(1)} CPU s\n`)
    }
    if (process.env.BENCH_ENGINES === '1') {
      for (const engine of Object.keys(engines)) {
        const rps = Number((await ctx.exec([process.execPath, '--import', 'tsx', join(ROOT, 'bench/load-test.bench.ts'), '--engine', engine, nginx.url, String(SECONDS)], { timeout: (SECONDS + 60) * 1000 })).stdout)
        engines[engine]!.push(rps)
        process.stderr.write(`  round ${round}  engine ${engine.padEnd(9)} ${Math.round(rps).toLocaleString('en-US')} req/s\n`)
      }
    }
  }
} finally {
  await nginx.stop()
}

const med = (t: Tool) => median(results[t])
const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
const cpuMed = (t: Tool) => median(cpu[t])
const rows = (Object.keys(results) as Tool[]).map((t) => [t, ...results[t].map(fmt), fmt(med(t)), (med(t) / med('wrk')).toFixed(2), cpuMed(t).toFixed(2), (cpuMed(t) / cpuMed('wrk')).toFixed(2)])
process.stdout.write(`\nrequests/s against nginx, c=${C}, ${SECONDS}s a run (median of ${ROUNDS} rounds)\n`)
process.stdout.write(table(['tool', ...results.wrk.map((_, i) => `round ${i + 1}`), 'median req/s', 'x wrk', 'CPU s / 10k req', 'CPU x wrk'], rows))
const vsWrk = med('ours') / med('wrk')
const vsHey = med('ours') / med('hey')
process.stdout.write(`\nours/wrk = ${vsWrk.toFixed(2)} (goal >= 0.85: ${vsWrk >= 0.85 ? 'met' : 'missed'})\n`)
process.stdout.write(`ours/hey = ${vsHey.toFixed(2)} (goal >= 1.30: ${vsHey >= 1.3 ? 'met' : 'missed'})\n`)
process.stdout.write(`autocannon/wrk = ${(med('autocannon') / med('wrk')).toFixed(2)}, hey/wrk = ${(med('hey') / med('wrk')).toFixed(2)}, ours --workers 2 / ours = ${(med('ours --workers 2') / med('ours')).toFixed(2)}\n`)
if (engines.raw!.length) {
  process.stdout.write(`\nbare client loops (c=50, one thread) x wrk: ${Object.entries(engines).map(([e, v]) => `${e} ${(median(v) / med('wrk')).toFixed(2)}`).join(', ')}\n`)
}
