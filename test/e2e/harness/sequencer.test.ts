import { describe, it, expect } from 'vitest'
import { e2eOrder } from './sequencer.ts'

describe('the order of the e2e files', () => {
  it('deploys first, reuses the stack in between, tears down last', () => {
    expect(e2eOrder(['/r/test/e2e/teardown.e2e.test.ts', '/r/test/e2e/upgrade.e2e.test.ts', '/r/test/e2e/stack.e2e.test.ts', '/r/test/e2e/dr.e2e.test.ts']))
      .toEqual(['/r/test/e2e/stack.e2e.test.ts', '/r/test/e2e/dr.e2e.test.ts', '/r/test/e2e/upgrade.e2e.test.ts', '/r/test/e2e/teardown.e2e.test.ts'])
  })

  it('runs the broken-release rollback before the fault rows that migrate the schema', () => {
    expect(e2eOrder(['/r/test/e2e/teardown.e2e.test.ts', '/r/test/e2e/rollback.e2e.test.ts', '/r/test/e2e/faults.e2e.test.ts']))
      .toEqual(['/r/test/e2e/rollback.e2e.test.ts', '/r/test/e2e/faults.e2e.test.ts', '/r/test/e2e/teardown.e2e.test.ts'])
    expect(e2eOrder(['/r/test/e2e/faults.e2e.test.ts', '/r/test/e2e/stack.e2e.test.ts', '/r/test/e2e/rollback.e2e.test.ts', '/r/test/e2e/dr.e2e.test.ts']))
      .toEqual(['/r/test/e2e/stack.e2e.test.ts', '/r/test/e2e/rollback.e2e.test.ts', '/r/test/e2e/dr.e2e.test.ts', '/r/test/e2e/faults.e2e.test.ts'])
  })
})
