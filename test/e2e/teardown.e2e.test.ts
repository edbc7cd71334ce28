// Last of the e2e files (harness/sequencer.ts): the stack the files shared comes down whole.
import { describe, it, expect, inject } from 'vitest'
import { rmSync } from 'node:fs'
import { projectLeftovers, forgetStaleEndpoints, E2E_PROJECT } from './harness/stack.ts'
import { compose, ctxFor, sharedStack } from './kit.ts'
import { DATA_SLOTS } from '../../scripts/lib/backup/pitr/compose.ts'

const { env: engineEnv } = inject('e2e')

describe('the end of the suite', () => {
  it('teardown leaves no container, network or volume behind', async () => {
    const shared = await sharedStack(engineEnv)
    const leftovers = () => projectLeftovers(ctxFor({ engineEnv, envFile: '', certFile: '', httpPort: 0, httpsPort: 0 }), engineEnv, E2E_PROJECT)
    if (shared) {
      const down = () => compose(shared.stack, ['down', '--volumes', '--remove-orphans', '--timeout', '10'], { allowFailure: true })
      // compose drops the volumes no service uses from its model, so `down --volumes` leaves the
      // PostgreSQL data slot a point-in-time recovery switched away from (kept aside on purpose,
      // docs/backup.md): removed by name, and only that one
      const removeAside = async () => {
        const aside = (await leftovers()).volumes.filter((v) => DATA_SLOTS.some((slot) => v === `${E2E_PROJECT}_${slot}`))
        for (const v of aside) await ctxFor(shared.stack).exec(['docker', 'volume', 'rm', v], { timeout: 60_000 })
      }
      let r = await down()
      // dockerd 20.10 on vfs can still be removing a container when compose removes its network
      // ("has active endpoints") or a volume it used (compose skips a volume "in use" silently):
      // a second down, once, finishes the job; anything else fails at once
      const left = await leftovers()
      if ((r.exitCode !== 0 && /has active endpoints/.test(r.stderr)) || (r.exitCode === 0 && left.volumes.length && !left.containers.length)) {
        process.stderr.write(`teardown: a second down (${r.exitCode !== 0 ? 'network with active endpoints' : `volumes still there: ${left.volumes.join(', ')}`})\n`)
        await new Promise((ok) => setTimeout(ok, 5000))
        r = await down()
      }
      if (r.exitCode !== 0 && /has active endpoints/.test(r.stderr)) {
        // still refused: an endpoint whose container is gone (the engine's own leftover) is
        // disconnected and the network removed; a container still attached fails the test by name
        const ctx = ctxFor(shared.stack)
        const found = await Promise.all((await leftovers()).networks.map((n) => forgetStaleEndpoints(ctx, engineEnv, n)))
        const attached = found.flatMap((f) => f.attached)
        expect(attached, 'containers still attached to the project\'s networks').toEqual([])
        process.stderr.write(`teardown: disconnected stale endpoints the engine kept (no such container): ${found.flatMap((f) => f.stale).join(', ') || 'none listed'}\n`)
        // dockerd 20.10 can also keep a network's endpoint count with no endpoint left to list
        // (moby "has active endpoints" with no container): give it a minute, then, with nothing
        // attached and every container and volume gone, say so and leave that network to the
        // engine's restart (harness/lanes.ts stops it; the next run's setup removes the network)
        const until = Date.now() + 60_000
        while ((r = await down()).exitCode !== 0 && /has active endpoints/.test(r.stderr) && Date.now() < until) await new Promise((ok) => setTimeout(ok, 3000))
        if (r.exitCode !== 0) await removeAside()
        const still = await leftovers()
        if (r.exitCode !== 0 && /has active endpoints/.test(r.stderr) && !still.containers.length && !still.volumes.length) {
          process.stderr.write(`teardown: the engine still counts endpoints on ${still.networks.join(', ')} with no container attached: left to its restart\n`)
          rmSync(shared.paths.dir, { recursive: true, force: true })
          expect({ ...still, networks: [] }).toEqual({ containers: [], networks: [], volumes: [] })
          return
        }
      }
      expect(r.exitCode, r.stderr).toBe(0)
      await removeAside()
      rmSync(shared.paths.dir, { recursive: true, force: true })
    }
    expect(await leftovers()).toEqual({ containers: [], networks: [], volumes: [] })
  })
})
