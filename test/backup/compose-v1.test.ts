// Backup and restore on a host with only Compose v1 (issue 17): they run through docker-compose as
// the deploy does (its argv accepted by the real docker-compose 1.29 parser), or, with no compose CLI
// at all, refuse at once with the reason and touch nothing.
import { describe, it, expect, afterAll } from 'vitest'
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { resolveShared } from '../../scripts/lib/backup/settings.ts'
import { stopWriters } from '../../scripts/lib/backup/writers.ts'
import { COMPOSE_FILE, ROOT } from '../../scripts/lib/core/paths.ts'
import { testCtx } from '../helpers/context.ts'
import { fakeBins, on, ok, fails } from '../helpers/fake-bins.ts'
import { runScript } from '../helpers/run-script.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { closedPort } from '../helpers/net.ts'

const tmp = tmpDir('owp-compose-v1-')
afterAll(() => tmp.remove())
const NODE_ONLY = dirname(process.execPath)
// the real docker CLI answers this when the compose plugin is missing
const NO_PLUGIN = fails(1, "docker: 'compose' is not a docker command.\nSee 'docker --help'")

/** Run an argv through the real docker-compose 1.29 against a closed port: a wrong flag fails in its parser, a right one reaches the (absent) engine. */
async function realV1Parses(argv: string[]): Promise<{ ok: boolean; stderr: string }> {
  const port = await closedPort()
  // the project's variables from .env.example, so that the file interpolates and the parse decides
  const args = [...argv.slice(1, 5), '--env-file', join(ROOT, '.env.example'), ...argv.slice(5)]
  const r = spawnSync('/usr/bin/docker-compose', args, { encoding: 'utf8', env: { ...process.env, DOCKER_HOST: `tcp://127.0.0.1:${port}` }, timeout: 60_000 })
  const parseError = /Usage:|No such command|Unknown option|unrecognized arguments/i.test(r.stderr)
  return { ok: !parseError && /connect|Connection refused|Docker daemon/i.test(r.stderr), stderr: r.stderr }
}

describe('Compose v1 only (docker-compose 1.29)', () => {
  it('backup and restore reach the stores through docker-compose, with a warning, in argv v1 accepts', async () => {
    const bins = fakeBins({
      docker: [on('^compose ', NO_PLUGIN), ok()],
      'docker-compose': [on('^version --short$', ok('1.29.2\n')), on(' ps ', ok('postgres\nopenwebui\ncelery-worker\n')), ok('PONG\n')],
    }, { basePath: NODE_ONLY })
    try {
      const ctx = testCtx({ path: bins.path, cwd: tmp.path })
      const { target } = await resolveShared(ctx, { target: 'compose', store: 'redis', dest: join(tmp.path, 'backups') })
      await target.run(ctx, 'redis', ['redis-cli', 'ping'], { secretEnv: { REDISCLI_AUTH: 'x'.repeat(24) } })
      const exec = bins.calls('docker-compose').at(-1)!
      expect(exec).toEqual(['docker-compose', '-p', 'owp', '-f', COMPOSE_FILE, 'exec', '-T', '-e', 'REDISCLI_AUTH', 'redis', 'redis-cli', 'ping'])
      expect(exec.join(' ')).not.toContain('xxxxxxxx') // the secret travels in the environment, never in argv
      expect(ctx.stderr()).toMatch(/docker-compose 1\.29\.2 is Compose v1/)

      const start = await stopWriters(ctx, target, join(tmp.path, 'state', 'writers.json'))
      await start()
      const calls = bins.calls('docker-compose').slice(-3)
      expect(calls.map((c) => c.slice(5))).toEqual([
        ['ps', '--filter', 'status=running', '--services'],
        ['stop', 'openwebui', 'celery-worker'],
        ['start', 'openwebui', 'celery-worker'],
      ])
      expect(bins.calls('docker').filter((c) => c[1] !== 'compose')).toEqual([]) // nothing went to a v2 plugin that is not there
      // (v1's exec hands over to the docker CLI, `docker exec --env NAME`, which takes the value from its environment)
      for (const argv of calls) {
        const parsed = await realV1Parses(argv)
        expect(parsed.ok, `${argv.join(' ')}\n${parsed.stderr}`).toBe(true)
      }
    } finally {
      bins.remove()
    }
  })

  it('the v2 filter flag is what v1 would refuse (the check above can fail)', async () => {
    const parsed = await realV1Parses(['docker-compose', '-p', 'owp', '-f', COMPOSE_FILE, 'ps', '--status', 'running', '--services'])
    expect(parsed.ok).toBe(false)
  })

  it.each([['scripts/backup.ts'], ['scripts/restore.ts']])('%s with no compose CLI at all refuses at once: exit 1, the reason, nothing created', async (script) => {
    const bins = fakeBins({ docker: [on('^compose ', NO_PLUGIN), ok()], 'docker-compose': fails(127, 'docker-compose: command not found') }, { basePath: NODE_ONLY })
    const restore = script.includes('restore')
    const dest = join(tmp.path, restore ? 'r-dest' : 'b-dest')
    const envFile = join(tmp.path, 'empty.env')
    writeFileSync(envFile, '')
    if (restore) mkdirSync(dest) // a restore reads an existing destination: the refusal must come before it
    try {
      const args = ['--env-file', envFile, '--store', 'redis', '--target', 'compose', '--dest', dest, ...(restore ? ['--from', 'latest', '--yes'] : [])]
      const r = await runScript(script, ['--', ...args], { env: { PATH: bins.path } })
      expect(r.code, r.stderr).toBe(1)
      expect(r.stderr).toMatch(/^error: no Docker Compose CLI found \(neither `docker compose` nor `docker-compose`\)/m)
      expect(r.stderr).toMatch(/docker-compose-plugin/)
      expect(bins.allCalls().map((c) => c.slice(0, 3).join(' '))).toEqual(['docker compose version', 'docker-compose version --short'])
      expect(readdirSync(tmp.path).filter((f) => f.startsWith(restore ? 'r-' : 'b-'))).toEqual(restore ? ['r-dest'] : [])
      if (restore) expect(readdirSync(dest)).toEqual([])
    } finally {
      bins.remove()
    }
  })
})
