import { describe, it, expect } from 'vitest'
import { e2eOrder } from './sequencer.ts'

describe('the order of the e2e files', () => {
  it('deploys first, reuses the stack in between, tears down last', () => {
    expect(e2eOrder(['/r/test/e2e/teardown.e2e.test.ts', '/r/test/e2e/upgrade.e2e.test.ts', '/r/test/e2e/stack.e2e.test.ts', '/r/test/e2e/dr.e2e.test.ts']))
      .toEqual(['/r/test/e2e/stack.e2e.test.ts', '/r/test/e2e/dr.e2e.test.ts', '/r/test/e2e/upgrade.e2e.test.ts', '/r/test/e2e/teardown.e2e.test.ts'])
  })

  it('runs the files that need the first schema (the broken release knows only it) before the files that migrate it', () => {
    const f = (n: string) => `/r/test/e2e/${n}.e2e.test.ts`
    expect(e2eOrder(['teardown', 'upgrade', 'faults', 'upgrade-killed', 'stack', 'pitr', 'rollback', 'dr'].map(f)))
      .toEqual(['stack', 'rollback', 'faults', 'dr', 'pitr', 'upgrade-killed', 'upgrade', 'teardown'].map(f))
  })
})
