// Entry of every e2e FAKE: `node main.mjs <service> [args...]` starts that fake and stops it on SIGTERM.
import { onShutdown, log } from './common.mjs'

const FAKES = ['lightllm', 'openwebui', 'graphrag', 'mcp', 'qdrant', 'neo4j', 'grafana', 'otel-collector', 'celery', 'celery-exporter']
const [service, ...args] = process.argv.slice(2)
if (!FAKES.includes(service)) {
  process.stderr.write(`usage: main.mjs <${FAKES.join('|')}> [args...]\n`)
  process.exit(2)
}
const mod = await import(`./${service}.mjs`)
const started = await mod.start(args, process.env)
const servers = Array.isArray(started) ? started : started.servers
if (servers.length === 0 && !started.keepAlive) process.exit(started.exitCode ?? 0)
onShutdown(service, servers, started.onStop)
log(service, 'this is a FAKE stand-in for the e2e suite, not the real service')
