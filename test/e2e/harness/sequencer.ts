// The e2e files run one after the other on one stack: the file that deploys it first, the files
// that must come early (lane-plan.ts E2E_BEFORE), the others that reuse it next (alphabetically),
// the one that proves the teardown last.
import { BaseSequencer, type TestSpecification } from 'vitest/node'
import { E2E_FIRST as FIRST, E2E_LAST as LAST, E2E_BEFORE as BEFORE } from './lane-plan.ts'

export function e2eOrder(files: string[]): string[] {
  const base = (f: string) => f.replace(/^.*\//, '')
  const rank = (f: string) => (base(f) === FIRST ? 0 : base(f) === LAST ? 2 + BEFORE.length : BEFORE.includes(base(f)) ? 1 + BEFORE.indexOf(base(f)) : 1 + BEFORE.length)
  return [...files].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
}

export default class E2eSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const order = e2eOrder(files.map((f) => f.moduleId))
    return [...files].sort((a, b) => order.indexOf(a.moduleId) - order.indexOf(b.moduleId))
  }
}
