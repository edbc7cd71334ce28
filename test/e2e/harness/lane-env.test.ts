// A bad OWP_E2E_LANE: every entry point of the e2e suite says so in one line and exits 2 before it
// starts anything (no stack trace from an import). Nothing here can reach an engine: lanes.ts runs
// with --dry-run, setup.ts with --help, and the globalSetup with a prepared engine at a closed port.
import { describe, it, expect, afterAll } from 'vitest'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { ROOT } from '../../../scripts/lib/core/paths.ts'
import { closedPort } from '../../helpers/net.ts'
import { tmpDir } from '../../helpers/tmp.ts'
import { PREPARED_ENV, type LanePrepared } from '../global-setup.ts'

const tmp = tmpDir('owp-e2e-lane-')
afterAll(() => tmp.remove())

function node(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // OWP_E2E_STATE: were the check gone, the engine layout would be a temp dir, never the real engine's
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', OWP_E2E_STATE: tmp.path, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => { stdout += d })
  child.stderr.on('data', (d) => { stderr += d })
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
  return new Promise((resolve) => child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) }))
}

const ONE_LINE = 'error: OWP_E2E_LANE must be a or b (got "c")\n'

describe('OWP_E2E_LANE=c', () => {
  it('lanes.ts --dry-run: one line, exit 2, no plan', async () => {
    const r = await node(['test/e2e/harness/lanes.ts', '--dry-run'], { OWP_E2E_LANE: 'c' })
    expect([r.code, r.stderr, r.stdout]).toEqual([2, ONE_LINE, ''])
  })

  it('setup.ts --help: one line, exit 2 (refused before a flag is read)', async () => {
    const r = await node(['test/e2e/harness/setup.ts', '--help'], { OWP_E2E_LANE: 'c' })
    expect([r.code, r.stderr, r.stdout]).toEqual([2, ONE_LINE, ''])
  })

  it('the vitest globalSetup: one line, exit 2, the prepared engine never asked', async () => {
    const host = `tcp://127.0.0.1:${await closedPort()}`
    const prepared: LanePrepared = { env: { DOCKER_HOST: host, DOCKER_CONFIG: tmp.path }, engine: { host, pid: null, owned: false, version: 'none', source: 'DOCKER_HOST' }, timings: {} }
    const r = await node(['--input-type=module', '-e', `const { default: setup } = await import(${JSON.stringify(join(ROOT, 'test/e2e/global-setup.ts'))}); await setup({ provide() {} })`],
      { OWP_E2E_LANE: 'c', [PREPARED_ENV]: JSON.stringify(prepared) })
    expect([r.code, r.stderr]).toEqual([2, ONE_LINE])
  })

  it('a good lane passes the same entry (the check can pass): lanes.ts --dry-run plans lane b', async () => {
    const r = await node(['test/e2e/harness/lanes.ts', '--dry-run', '--json'], { OWP_E2E_LANE: 'b' })
    expect(r.code, r.stderr).toBe(0)
    expect((JSON.parse(r.stdout) as { plan: Array<{ lane: string }> }).plan.map((p) => p.lane)).toEqual(['a', 'b'])
  })
})
