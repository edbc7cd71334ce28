// Compose's recreate, killed half way (the e2e fault row F-E2E-2 found it): the successor left under
// its temporary name `<old id[:12]>_<name>` made every later `up` fail with "The container name ...
// is already in use". The deploy finishes or undoes that work before it reads the project's state.
import { describe, it, expect } from 'vitest'
import { recreateRepairs, type ContainerState } from '../../scripts/lib/tools/compose.ts'

const c = (id: string, name: string, service = 'graphrag-processor'): ContainerState => ({ id, name, service, image: 'x', imageId: 'sha256:x', state: 'running', health: '' })
const OLD = '30819d9478a7aaaabbbbccccddddeeeeffff000011112222333344445555666'
const NEW = '5a417c59ef78405d9ac0f46c462573c150823bfe10733cc5c9d16d0af8fba807'

describe('a recreate that compose did not finish', () => {
  it('killed before the old container was removed: the successor never served and is removed', () => {
    expect(recreateRepairs([c(OLD, 'owp-graphrag-processor-1'), c(NEW, '30819d9478a7_owp-graphrag-processor-1')])).toEqual([
      { id: NEW, name: '30819d9478a7_owp-graphrag-processor-1', action: 'remove', to: 'owp-graphrag-processor-1', why: 'the container it was to replace (30819d9478a7) is still there' },
    ])
  })
  it('killed after the old container was removed: the successor takes its name', () => {
    expect(recreateRepairs([c(NEW, '30819d9478a7_owp-graphrag-processor-1'), c('ab'.repeat(32), 'owp-redis-1', 'redis')])).toEqual([
      { id: NEW, name: '30819d9478a7_owp-graphrag-processor-1', action: 'rename', to: 'owp-graphrag-processor-1', why: 'the container it replaced (30819d9478a7) is gone' },
    ])
  })
  it('a healthy project, and the kit\'s own blue-green containers (`-2`), need nothing', () => {
    expect(recreateRepairs([c(OLD, 'owp-graphrag-processor-1'), c(NEW, 'owp-graphrag-processor-2'), c('ab'.repeat(32), 'my_owp-redis-1', 'redis')])).toEqual([])
  })
})
