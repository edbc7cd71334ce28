// The e2e files run one after the other on one stack: the file that deploys it first, the files
// that reuse it next (alphabetically), the one that proves the teardown last.
import { BaseSequencer, type TestSpecification } from 'vitest/node'
import { E2E_FIRST as FIRST, E2E_LAST as LAST } from './lane-plan.ts'

export function e2eOrder(files: string[]): string[] {
  const rank = (f: string) => (f.endsWith(`/${FIRST}`) ? 0 : f.endsWith(`/${LAST}`) ? 2 : 1)
  return [...files].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
}

export default class E2eSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const order = e2eOrder(files.map((f) => f.moduleId))
    return [...files].sort((a, b) => order.indexOf(a.moduleId) - order.indexOf(b.moduleId))
  }
}
