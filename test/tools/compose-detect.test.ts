// Which Compose CLI this host has, and a host too busy to say is not a host without one.
import { describe, it, expect, afterEach } from 'vitest'
import { detectCompose } from '../../scripts/lib/tools/compose.ts'
import { testCtx } from '../helpers/context.ts'
import { fakeBins, ok, fails, type FakeBins } from '../helpers/fake-bins.ts'

let bins: FakeBins | undefined
afterEach(() => { bins?.remove(); bins = undefined })

describe('detecting the Compose CLI', () => {
  it('docker compose v2 answers its version', async () => {
    bins = fakeBins({ docker: ok('2.26.1\n'), 'docker-compose': fails(127, 'docker-compose: command not found') })
    expect(await detectCompose(testCtx({ path: bins.path }))).toEqual({ kind: 'v2', version: '2.26.1', base: ['docker', 'compose'] })
  })

  it('a `docker compose version` that does not answer in time is an error saying so, not "no Compose CLI"', async () => {
    bins = fakeBins({ docker: { ...ok('2.26.1\n'), delay: 5 }, 'docker-compose': fails(127, 'docker-compose: command not found') })
    const e = await detectCompose(testCtx({ path: bins.path }), { timeoutMs: 1000 }).then(() => null, (x: Error & { hint?: string }) => x)
    expect(e?.message).toMatch(/^`docker compose version` did not answer within 1s \(.*timed out after 1000ms/)
    expect(e?.hint).toMatch(/overloaded/)
  })

  it('neither CLI: null (the callers say how to install one)', async () => {
    bins = fakeBins({ docker: fails(1, "docker: 'compose' is not a docker command."), 'docker-compose': fails(127, 'docker-compose: command not found') })
    expect(await detectCompose(testCtx({ path: bins.path }))).toBeNull()
  })
})
