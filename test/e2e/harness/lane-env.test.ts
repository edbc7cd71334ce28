// A bad OWP_E2E_LANE: every entry point of the e2e suite says so in one line and exits 2 before it
// starts anything (no stack trace from an import). Nothing here can reach an engine: lanes.ts runs
// with --dry-run, setup.ts with --help, and the globalSetup with a prepared engine at a closed port.
import { describe, it, expect, afterAll } from 'vitest'
import { writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { ROOT } from '../../../scripts/lib/core/paths.ts'
import { closedPort } from '../../helpers/net.ts'
import { runScript } from '../../helpers/run-script.ts'
import { tmpDir } from '../../helpers/tmp.ts'
import { PREPARED_ENV, type LanePrepared } from '../global-setup.ts'

const tmp = tmpDir('owp-e2e-lane-')
afterAll(() => tmp.remove())

// OWP_E2E_STATE: were the check gone, the engine layout would be a temp dir, never the real engine's
const entry = (script: string, args: string[], env: Record<string, string>) => runScript(script, args, { env: { OWP_E2E_STATE: tmp.path, ...env } })

const ONE_LINE = 'error: OWP_E2E_LANE must be a, b or c (got "x")\n'

describe('OWP_E2E_LANE=x', () => {
  it('lanes.ts --dry-run: one line, exit 2, no plan', async () => {
    const r = await entry('test/e2e/harness/lanes.ts', ['--dry-run'], { OWP_E2E_LANE: 'x' })
    expect([r.code, r.stderr, r.stdout]).toEqual([2, ONE_LINE, ''])
  })

  it('setup.ts --help: one line, exit 2 (refused before a flag is read)', async () => {
    const r = await entry('test/e2e/harness/setup.ts', ['--help'], { OWP_E2E_LANE: 'x' })
    expect([r.code, r.stderr, r.stdout]).toEqual([2, ONE_LINE, ''])
  })

  it('the vitest globalSetup: one line, exit 2, the prepared engine never asked', async () => {
    const host = `tcp://127.0.0.1:${await closedPort()}`
    const prepared: LanePrepared = { env: { DOCKER_HOST: host, DOCKER_CONFIG: tmp.path }, engine: { host, pid: null, owned: false, version: 'none', source: 'DOCKER_HOST' }, timings: {} }
    // what vitest does with the file: import it, call its default export
    const file = join(tmp.path, 'global-setup-entry.mts')
    writeFileSync(file, `import setup from ${JSON.stringify(join(ROOT, 'test/e2e/global-setup.ts'))}\nawait setup({ provide() {} } as never)\n`)
    const r = await entry(relative(ROOT, file), [], { OWP_E2E_LANE: 'x', [PREPARED_ENV]: JSON.stringify(prepared) })
    expect([r.code, r.stderr]).toEqual([2, ONE_LINE])
  })

  it('a good lane passes the same entry (the check can pass): lanes.ts --dry-run plans the lanes', async () => {
    const r = await entry('test/e2e/harness/lanes.ts', ['--dry-run', '--json'], { OWP_E2E_LANE: 'b' })
    expect(r.code, r.stderr).toBe(0)
    expect((JSON.parse(r.stdout) as { plan: Array<{ lane: string }> }).plan.map((p) => p.lane)).toEqual(['a', 'b', 'c'])
  })
})
