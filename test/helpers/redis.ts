// A real redis-server for tests: a free port on 127.0.0.1, a temp dir, requirepass, stopped by PID.
// `supervised` runs it under a restart loop, like systemd Restart=always or a container restart
// policy: a SHUTDOWN brings it back with the same configuration (what a file restore relies on).
import { execFileSync } from 'node:child_process'
import { freePort } from './net.ts'
import { startService } from './service.ts'
import { tmpDir } from './tmp.ts'

const INSTALL_HINT = 'install Redis (Debian: apt-get install redis-server redis-tools, or `make setup`)'

export interface Redis {
  port: number
  password: string
  dir: string
  /** REDIS_HOST/REDIS_PORT/REDIS_PASSWORD for the kit, REDISCLI_AUTH for redis-cli. */
  env: Record<string, string>
  /** Run one redis-cli command (arguments as an array) and return its raw output. */
  cli(args: string[], o?: { raw?: boolean }): string
  stop(): Promise<void>
}

export function requireRedis(): void {
  for (const tool of ['redis-server', 'redis-cli', 'redis-check-rdb']) {
    try { execFileSync('which', [tool], { stdio: 'ignore' }) } catch { throw new Error(`${tool} is not on PATH: ${INSTALL_HINT}`) }
  }
}

/** `dir`: the data directory to use (e.g. a small tmpfs the test mounted; the caller removes it). */
/**
 * `beforeRestart` (supervised only): a path; a shell script written there runs once, in the data
 * directory, before the server's next start, and is removed: what happens to the data while it is down.
 */
export async function startRedis(o: { appendonly?: boolean; supervised?: boolean; password?: string; dir?: string; beforeRestart?: string } = {}): Promise<Redis> {
  requireRedis()
  const tmp = o.dir ? { path: o.dir, remove: () => {} } : tmpDir('owp-redis-')
  const port = await freePort()
  const password = o.password ?? `redis-test-${Math.random().toString(36).slice(2)}-secret`
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', tmp.path, '--requirepass', password,
    '--save', '', '--appendonly', o.appendonly ? 'yes' : 'no', '--daemonize', 'no', '--logfile', '',
    // No 5 s wait for more replicas before a full sync (redis-cli --rdb is one): tests stay quick.
    '--repl-diskless-sync-delay', '0']
  const env = { REDIS_HOST: '127.0.0.1', REDIS_PORT: String(port), REDIS_PASSWORD: password, REDISCLI_AUTH: password }
  const cli = (a: string[], co: { raw?: boolean } = {}) => execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...(co.raw ? ['--raw'] : []), ...a],
    { env: { ...process.env, REDISCLI_AUTH: password }, stdio: ['ignore', 'pipe', 'pipe'] }).toString()
  const svc = await startService(o.supervised
    ? { cmd: 'bash', args: ['-c', 'while :; do if [ -n "$HOOK" ] && [ -f "$HOOK" ]; then sh "$HOOK"; rm -f "$HOOK"; fi; redis-server "$@"; sleep 0.1; done', 'redis-supervisor', ...args],
        port, cwd: tmp.path, env: { ...process.env, HOOK: o.beforeRestart ?? '' } }
    : { cmd: 'redis-server', args, port, cwd: tmp.path })
  return {
    port, password, dir: tmp.path, env, cli,
    async stop() { await svc.stop(); tmp.remove() },
  }
}
