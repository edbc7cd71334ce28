// FAKE Celery for the graphrag image's `celery -A graphrag.worker <worker|beat|inspect|status>`.
// worker: consumes the "celery" list in the broker and counts tasks; beat: pushes a task every
// FAKE_BEAT_INTERVAL_MS; both keep a heartbeat key that `celery inspect ping` checks, so the
// healthcheck proves the broker round trip like the real one does.
import { hostname } from 'node:os'
import { writeFileSync } from 'node:fs'
import { parseFlags, log, sleep } from './common.mjs'
import { redisClient } from './redis.mjs'

export const PREFIX = 'owp-fake-celery'

function brokerUrl(flags, env) {
  return String(flags.b ?? flags.broker ?? env.CELERY_BROKER_URL ?? env.BROKER_URL ?? env.REDIS_URL ?? 'redis://redis:6379/0')
}

async function connectRetry(url, what) {
  for (let i = 0; ; i++) {
    try { return await redisClient(url) } catch (e) {
      if (i % 10 === 0) log('celery', `${what}: broker not reachable yet (${e.message})`)
      await sleep(1000)
    }
  }
}

export async function start(argv, env = process.env) {
  const flags = parseFlags(argv)
  const command = argv.find((a) => ['worker', 'beat', 'inspect', 'status'].includes(a))
  const url = brokerUrl(flags, env)
  const node = `celery@${String(flags.n ?? flags.hostname ?? hostname()).replace(/^celery@/, '').replace('%h', hostname())}`
  if (command === 'inspect' || command === 'status') {
    const c = await redisClient(url).catch((e) => { process.stderr.write(`Error: broker ${new URL(url).host} unreachable: ${e.message}\n`); return null })
    if (!c) return { servers: [], exitCode: 69 }
    const keys = await c.call('KEYS', `${PREFIX}:worker:*`)
    c.close()
    const want = flags.d ?? flags.destination
    const nodes = keys.map((k) => k.slice(`${PREFIX}:worker:`.length)).filter((n) => !want || String(want).split(',').includes(n))
    if (nodes.length === 0) {
      process.stderr.write('Error: No nodes replied within time constraint.\n')
      return { servers: [], exitCode: 69 }
    }
    process.stdout.write(nodes.map((n) => `->  ${n}: OK\n        pong`).join('\n') + `\n\n${nodes.length} node${nodes.length > 1 ? 's' : ''} online.\n`)
    return { servers: [], exitCode: 0 }
  }
  if (command !== 'worker' && command !== 'beat') {
    process.stderr.write(`fake celery: unsupported command ${command ?? '(none)'} (worker, beat, inspect ping, status)\n`)
    return { servers: [], exitCode: 2 }
  }
  // like Celery, survive a broker restart: reconnect on the next call
  let ctlConn = await connectRetry(url, command)
  const ctl = {
    call: async (...args) => {
      try { return await ctlConn.call(...args) } catch {
        ctlConn.close()
        ctlConn = await redisClient(url)
        return ctlConn.call(...args)
      }
    },
    close: () => ctlConn.close(),
  }
  let stopped = false
  const beatMs = Number(env.FAKE_BEAT_INTERVAL_MS ?? 15_000)
  const heartbeat = async () => {
    const key = command === 'worker' ? `${PREFIX}:worker:${node}` : `${PREFIX}:beat:${hostname()}`
    await ctl.call('SET', key, String(Date.now()), 'EX', '30').catch((e) => log('celery', `heartbeat failed: ${e.message}`))
  }
  await heartbeat()
  const hb = setInterval(heartbeat, 5000)
  log('celery', `FAKE celery ${command} ${command === 'worker' ? node : ''} on broker ${new URL(url).host}`)
  if (command === 'beat') {
    // like beat's shelve file: rewritten as it schedules (the compose healthcheck reads its mtime)
    const schedule = String(flags.schedule ?? flags.s ?? 'celerybeat-schedule')
    const writeSchedule = () => { try { writeFileSync(schedule, JSON.stringify({ fake: true, last_run_at: new Date().toISOString() })) } catch (e) { log('celery', `cannot write ${schedule}: ${e.message}`) } }
    writeSchedule()
    const tick = setInterval(() => {
      writeSchedule()
      const task = JSON.stringify({ task: 'graphrag.tasks.refresh_index', id: `${Date.now()}`, fake: true })
      ctl.call('LPUSH', 'celery', task).then(() => ctl.call('INCR', `${PREFIX}:sent:graphrag.tasks.refresh_index`)).catch(() => {})
    }, beatMs)
    return { servers: [], keepAlive: true, onStop: () => { clearInterval(hb); clearInterval(tick); ctl.close() } }
  }
  let consumer = await connectRetry(url, 'worker')
  void (async () => {
    while (!stopped) {
      let r
      try { r = await consumer.call('BRPOP', 'celery', '2') } catch (e) {
        if (stopped) break
        log('celery', `broker connection lost (${e.message}): reconnecting`)
        consumer.close()
        await sleep(1000)
        if (stopped) break
        try { consumer = await redisClient(url) } catch { /* next round */ }
        continue
      }
      if (!r) continue
      let name = 'unknown'
      try { name = JSON.parse(r[1]).task ?? name } catch { /* not ours */ }
      await ctl.call('INCR', `${PREFIX}:succeeded:${name}`).catch(() => {})
      await ctl.call('SET', `${PREFIX}:last_task`, String(Date.now())).catch(() => {})
    }
  })()
  return {
    servers: [], keepAlive: true,
    onStop: () => { stopped = true; clearInterval(hb); ctl.call('DEL', `${PREFIX}:worker:${node}`).catch(() => {}).finally(() => { ctl.close(); consumer.close() }) },
  }
}
