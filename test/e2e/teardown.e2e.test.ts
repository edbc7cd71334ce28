// Last of the e2e files (harness/sequencer.ts): the stack the files shared comes down whole.
import { describe, it, expect, inject } from 'vitest'
import { rmSync } from 'node:fs'
import { projectLeftovers, E2E_PROJECT } from './harness/stack.ts'
import { compose, ctxFor, sharedStack } from './kit.ts'

const { env: engineEnv } = inject('e2e')

describe('the end of the suite', () => {
  it('teardown leaves no container, network or volume behind', async () => {
    const shared = await sharedStack(engineEnv)
    if (shared) {
      const r = await compose(shared.stack, ['down', '--volumes', '--remove-orphans', '--timeout', '10'])
      expect(r.exitCode).toBe(0)
      rmSync(shared.paths.dir, { recursive: true, force: true })
    }
    expect(await projectLeftovers(ctxFor({ engineEnv, envFile: '', certFile: '', httpPort: 0, httpsPort: 0 }), engineEnv, E2E_PROJECT))
      .toEqual({ containers: [], networks: [], volumes: [] })
  })
})
