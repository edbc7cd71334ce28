// FAKE celery-exporter (danihodovic/celery-exporter, port 9808): the celery_* series it exports,
// read from the broker state the fake worker and beat keep.
import { hostname } from 'node:os'
import { parseFlags, serve, text } from './common.mjs'
import { redisClient } from './redis.mjs'
import { PREFIX } from './celery.mjs'

export function start(argv, env = process.env) {
  const flags = parseFlags(argv)
  const url = String(flags['broker-url'] ?? env.CE_BROKER_URL ?? 'redis://redis:6379/0')
  const port = Number(flags.port ?? env.CE_PORT ?? 9808)
  const server = serve('celery-exporter', port, async (req, res, u) => {
    if (u.pathname === '/health') {
      const c = await redisClient(url).catch(() => null)
      if (!c) return text(res, 503, 'Not connected to the broker')
      c.close()
      return text(res, 200, 'Connected to the broker')
    }
    if (u.pathname !== '/metrics') return false
    const c = await redisClient(url).catch(() => null)
    const lines = []
    const add = (name, type, help, samples) => { lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples) }
    if (!c) {
      add('celery_broker_up', 'gauge', 'Broker reachable (e2e fake).', ['celery_broker_up 0'])
      return text(res, 200, `${lines.join('\n')}\n`)
    }
    try {
      const workers = (await c.call('KEYS', `${PREFIX}:worker:*`)).map((k) => k.slice(`${PREFIX}:worker:`.length))
      const queue = Number(await c.call('LLEN', 'celery'))
      const counts = async (kind) => {
        const keys = await c.call('KEYS', `${PREFIX}:${kind}:*`)
        return Promise.all(keys.map(async (k) => [k.slice(`${PREFIX}:${kind}:`.length), Number(await c.call('GET', k))]))
      }
      const sent = await counts('sent')
      const succeeded = await counts('succeeded')
      const host = workers[0] ?? hostname()
      add('celery_broker_up', 'gauge', 'Broker reachable (e2e fake).', ['celery_broker_up 1'])
      add('celery_worker_up', 'gauge', 'Indicates if a worker has recently sent a heartbeat.', workers.map((w) => `celery_worker_up{hostname="${w}"} 1`))
      add('celery_active_worker_count', 'gauge', 'The number of active workers in broker queue.', [`celery_active_worker_count{queue_name="celery"} ${workers.length}`])
      add('celery_queue_length', 'gauge', 'The number of message in broker queue.', [`celery_queue_length{queue_name="celery"} ${queue}`])
      add('celery_task_sent_total', 'counter', 'Sent when a task message is published.', sent.map(([n, v]) => `celery_task_sent_total{name="${n}",hostname="${hostname()}",queue_name="celery"} ${v}`))
      add('celery_task_succeeded_total', 'counter', 'Sent if the task executed successfully.', succeeded.map(([n, v]) => `celery_task_succeeded_total{name="${n}",hostname="${host}",queue_name="celery"} ${v}`))
      add('celery_worker_tasks_active', 'gauge', 'The number of tasks the worker is currently processing', workers.map((w) => `celery_worker_tasks_active{hostname="${w}"} 0`))
      const runtime = succeeded.flatMap(([n, v]) => [0.1, 1, 10, '+Inf'].map((le) => `celery_task_runtime_bucket{name="${n}",hostname="${host}",queue_name="celery",le="${le}"} ${v}`)
        .concat([`celery_task_runtime_sum{name="${n}",hostname="${host}",queue_name="celery"} ${v * 0.01}`, `celery_task_runtime_count{name="${n}",hostname="${host}",queue_name="celery"} ${v}`]))
      add('celery_task_runtime', 'histogram', 'Histogram of task runtime measurements.', runtime)
      add('celery_task_failed_total', 'counter', 'Sent if the execution of the task failed.', succeeded.map(([n]) => `celery_task_failed_total{name="${n}",hostname="${host}",queue_name="celery",exception="none"} 0`))
    } finally { c.close() }
    return text(res, 200, `${lines.join('\n')}\n`, 'text/plain; version=0.0.4; charset=utf-8')
  })
  return [server]
}
