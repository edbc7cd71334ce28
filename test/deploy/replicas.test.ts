// Open WebUI with several replicas on one host (OPENWEBUI_REPLICAS -> deploy.replicas): a deploy
// that changes nothing leaves them alone, an upgrade starts as many new ones beside the old.
import { describe, it, expect } from 'vitest'
import { splitServices } from '../../scripts/lib/deploy/strategies.ts'
import { blueGreenPhases } from '../../scripts/lib/deploy/bluegreen.ts'
import { composeEnvironment, loadCompose } from '../../scripts/lib/stack/env.ts'
import type { ContainerState } from '../../scripts/lib/tools/compose.ts'
import { testEnv } from '../stack/tools.ts'

const running = (n: number, hash = 'h1'): ContainerState[] => Array.from({ length: n }, (_, i) => ({
  id: `c${i}`, service: 'openwebui', image: 'ghcr.io/open-webui/open-webui:v0.8.11', imageId: 'sha256:owui', state: 'running', health: 'healthy', name: `owp-openwebui-${i + 1}`, configHash: hash,
}))
const owui = (replicas?: number) => [{ name: 'openwebui', image: 'ghcr.io/open-webui/open-webui:v0.8.11', ...(replicas ? { deploy: { replicas } } : {}) }]
const split = (replicas: number | undefined, before: ContainerState[], hash = 'h1') =>
  splitServices(owui(replicas), before, { openwebui: hash }, new Map([['ghcr.io/open-webui/open-webui:v0.8.11', 'sha256:owui']]), () => true)

describe('OPENWEBUI_REPLICAS', () => {
  it('reaches Open WebUI as deploy.replicas (default 1)', () => {
    const replicas = (extra: Record<string, string>) => (loadCompose(composeEnvironment({ ...testEnv(), ...extra })).doc.services.openwebui!.deploy as { replicas: string }).replicas
    expect(replicas({})).toBe('1')
    expect(replicas({ OPENWEBUI_REPLICAS: '3' })).toBe('3')
  })

  it('two replicas running, nothing changed: left alone (not taken for an interrupted upgrade)', () => {
    expect(split(2, running(2))).toMatchObject({ blueGreen: [], unchanged: ['openwebui'] })
    // one more container than asked for is an interrupted upgrade to converge, as before
    expect(split(undefined, running(2)).blueGreen.map((s) => s.name)).toEqual(['openwebui'])
    expect(split(2, running(3)).blueGreen.map((s) => s.name)).toEqual(['openwebui'])
  })

  it('an upgrade of two replicas starts two new ones beside the two old, then stops both old', () => {
    const s = split(2, running(2), 'h2').blueGreen
    expect(s).toMatchObject([{ name: 'openwebui', replicas: 2 }])
    const p = blueGreenPhases({
      project: { cli: { kind: 'v2', version: '2.26.1', base: ['docker', 'compose'] }, file: 'compose.yml', name: 'owp' },
      services: s, switchFile: '/tmp/switch.conf', drainMs: 1000, healthTimeoutMs: 1000, report: { strategy: 'bluegreen', services: ['openwebui'] },
    })
    const start = p.upgrade.flatMap((ph) => ph.steps).find((x) => x.id === 'start-new:openwebui')!
    expect(start.argv).toContain('openwebui=4')
    expect(start.title).toBe('start the new openwebui (2 replicas) beside the old (2 running)')
    const stop = p.upgrade.flatMap((ph) => ph.steps).find((x) => x.id === 'stop-old:openwebui')!
    expect(stop.argv.slice(-2)).toEqual(['owp-openwebui-1', 'owp-openwebui-2'])
  })
})
