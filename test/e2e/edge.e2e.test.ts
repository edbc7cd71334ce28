// The NGINX edge with Open WebUI scaled out, on the real engine: the kit deploys OPENWEBUI_REPLICAS=2
// on the shared stack, both replicas answer through NGINX (its JSON access log names the replica
// that served each request id), then the stack goes back to one replica for the files after this.
import { describe, it, expect, beforeAll, afterAll, inject } from 'vitest'
import { request } from 'node:https'
import { readFileSync } from 'node:fs'
import { updateEnvFile, E2E_DOMAIN, type StackPaths } from './harness/stack.ts'
import { kit, heavySlot, json, compose, ps, until, ctxFor, ensureStack, type Stack } from './kit.ts'

const { env: engineEnv } = inject('e2e')
let stack: Stack
let paths: StackPaths

beforeAll(async () => {
  ;({ stack, paths } = await ensureStack(engineEnv))
}, 1_200_000)

afterAll(async () => {
  if (!stack) return
  // the files after this one expect the stack as deployed: one Open WebUI
  updateEnvFile(paths.envFile, { OPENWEBUI_REPLICAS: '1' })
  await compose(stack, ['up', '--detach', '--no-deps', '--wait', '--wait-timeout', '180', 'openwebui'], { allowFailure: true })
})

function get(path: string, requestId: string): Promise<{ status: number; id: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port: stack.httpsPort, path, servername: E2E_DOMAIN, headers: { host: E2E_DOMAIN, 'x-request-id': requestId },
      ca: readFileSync(stack.certFile), timeout: 10_000, agent: false,
    }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, id: res.headers['x-request-id'] as string | undefined }))
    })
    req.on('error', reject)
    req.end()
  })
}

describe.sequential('Open WebUI with 2 replicas behind NGINX (real engine)', () => {
  it('the kit deploys OPENWEBUI_REPLICAS=2: both healthy, one secret key, the Redis websocket manager, both serve through NGINX', async () => {
    updateEnvFile(paths.envFile, { OPENWEBUI_REPLICAS: '2' })
    const r = await heavySlot(() => kit(stack, 'scripts/deploy.ts', ['--docker-compose', '--yes', '--env-file', paths.envFile, '--timeout', '5m', '--json'], 900_000))
    expect(r.code, r.stderr.slice(-6000)).toBe(0)
    expect(json<{ ok: boolean }>(r).ok).toBe(true)
    const replicas = (await ps(stack)).filter((c) => c.Service === 'openwebui')
    expect(replicas.map((c) => c.State)).toEqual(['running', 'running'])

    const ctx = ctxFor(stack)
    const inspect = JSON.parse((await ctx.exec(['docker', 'inspect', ...replicas.map((c) => c.Name)], { env: engineEnv })).stdout) as Array<{
      Config: { Env: string[]; Healthcheck: { Test: string[] } }; NetworkSettings: { Networks: Record<string, { IPAddress: string }> }
    }>
    // both healthy: the kit judged each new replica by running its own healthcheck (Docker runs its
    // first one an interval, 30 s, after the start and says "starting" until then): none unhealthy
    // in Docker's eyes, and the same test passes now
    expect(replicas.map((c) => c.Health).filter((h) => !['healthy', 'starting'].includes(h))).toEqual([])
    for (const [i, c] of inspect.entries()) {
      const [kind, ...test] = c.Config.Healthcheck.Test
      const argv = kind === 'CMD-SHELL' ? ['/bin/sh', '-c', test.join(' ')] : test
      const hc = await ctx.exec(['docker', 'exec', replicas[i]!.Name, ...argv], { env: engineEnv, allowFailure: true, timeout: 30_000 })
      expect(hc.exitCode, `${replicas[i]!.Name}: ${hc.stdout}${hc.stderr}`).toBe(0)
    }
    const env = inspect.map((c) => Object.fromEntries(c.Config.Env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])))
    expect(env[0]!.WEBUI_SECRET_KEY).toBeTruthy()
    expect(env[1]!.WEBUI_SECRET_KEY).toBe(env[0]!.WEBUI_SECRET_KEY)
    for (const e of env) expect([e.WEBSOCKET_MANAGER, e.ENABLE_WEBSOCKET_SUPPORT]).toEqual(['redis', 'true'])
    const ips = inspect.map((c) => Object.entries(c.NetworkSettings.Networks).find(([n]) => n.endsWith('_app'))![1].IPAddress).sort()

    // requests with ids of our own until NGINX's access log shows both replicas answering
    const served = new Map<string, string>()
    let n = 0
    await until('both replicas served a request through NGINX', async () => {
      for (let i = 0; i < 6; i++) {
        const id = `e2e-replica-${n++}`
        const a = await get('/health', id)
        expect(a).toEqual({ status: 200, id })
      }
      const logs = (await compose(stack, ['logs', '--no-color', '--no-log-prefix', 'nginx'])).stdout
      // compose may put terminal escapes before a line (\e[2K), even with --no-color
      for (const line of logs.split('\n').filter((l) => l.includes('"request_id":"e2e-replica-'))) {
        const entry = JSON.parse(line.slice(line.indexOf('{'))) as { request_id: string; upstream_addr: string; status: number }
        expect(entry.status).toBe(200)
        served.set(entry.request_id, entry.upstream_addr.replace(/:\d+$/, ''))
      }
      return new Set(served.values()).size === 2
    }, 60_000, 1000)
    expect([...new Set(served.values())].sort()).toEqual(ips)
  })
})
