// make mirror-images: every pinned image of compose, the chart and the infra releases goes to the
// mirror under the name global.imageRegistry makes the chart pull (checked on the real helm render).
import { afterEach, describe, expect, it } from 'vitest'
import { runScript } from '../helpers/run-script.ts'
import { fakeBins, fails, ok, on, type FakeBins } from '../helpers/fake-bins.ts'
import { renderChart } from '../helpers/k8s-render.ts'
import { podSources } from '../helpers/k8s-policy.ts'
import { barePath } from './servers.ts'
import { mirrorList, mirrorName } from '../../scripts/lib/deploy/mirror.ts'

const R = 'registry.corp.example.com/mirror'
const INFRA_MANIFEST = `apiVersion: apps/v1
kind: Deployment
metadata: { name: x }
spec:
  template:
    spec:
      initContainers: [{ name: i, image: "quay.io/jetstack/cert-manager-startupapicheck:v1.21.2" }]
      containers: [{ name: c, image: "quay.io/jetstack/cert-manager-controller:v1.21.2" }]
`
let bins: FakeBins | undefined
afterEach(() => { bins?.remove(); bins = undefined })

function mirror(args: string[], scripts: Parameters<typeof fakeBins>[0] = {}) {
  bins = fakeBins({ docker: ok(), helm: ok(INFRA_MANIFEST), ...scripts }, { basePath: barePath() })
  return runScript('scripts/mirror-images.ts', args, { env: { PATH: bins.path } })
}

describe('mirror-images', () => {
  it('--dry-run prints the plan (docker pull, tag, push per image) and changes nothing', async () => {
    const r = await mirror(['--registry', R, '--dry-run'])
    expect(r.code, r.stderr).toBe(0)
    const plan = r.stdout + r.stderr
    expect(plan).toContain(`docker pull ghcr.io/open-webui/open-webui:v0.8.11`)
    expect(plan).toContain(`docker tag ghcr.io/open-webui/open-webui:v0.8.11 ${R}/open-webui/open-webui:v0.8.11`)
    expect(plan).toContain(`docker push ${R}/openwebui-platform/postgres:0.1.0`)
    expect(plan).toContain(`docker push ${R}/jetstack/cert-manager-controller:v1.21.2`)
    expect(bins!.calls('docker')).toEqual([])
    // the infra charts were rendered (read-only) to find their images
    expect(bins!.calls('helm').some((c) => c[1] === 'template' && c.includes('--repo'))).toBe(true)
  })

  it('copies every image, and the chart rendered with global.imageRegistry pulls only mirrored names', async () => {
    const r = await mirror(['--registry', R, '--json'])
    expect(r.code, r.stderr).toBe(0)
    const pushed = new Set(bins!.calls('docker').filter((c) => c[1] === 'push').map((c) => c[2]))
    const sources = new Set(bins!.calls('docker').filter((c) => c[1] === 'pull').map((c) => c[2]))
    expect(sources).toContain('nginxinc/nginx-unprivileged:1.28.0-alpine')
    expect(sources).toContain('ghcr.io/openwebui-platform/ops:0.1.0')
    expect(sources).toContain('quay.io/jetstack/cert-manager-startupapicheck:v1.21.2')
    const objs = await renderChart('v4', { set: [`global.imageRegistry=${R}`] })
    const pulled = podSources(objs).flatMap((p) => [...(p.pod.spec.initContainers ?? []), ...p.pod.spec.containers].map((c: { image: string }) => c.image))
    expect(pulled.length).toBeGreaterThan(10)
    expect(pulled.filter((i) => !pushed.has(i))).toEqual([])
  })

  it('prefers crane (all platforms in one copy) when it is installed', async () => {
    const r = await mirror(['--registry', R, '--no-infra'], { crane: ok('v0.20.2') })
    expect(r.code, r.stderr).toBe(0)
    expect(bins!.calls('crane')).toContainEqual(['crane', 'copy', 'redis:7.4.6', `${R}/redis:7.4.6`])
    expect(bins!.calls('docker')).toEqual([])
    expect(bins!.calls('helm')).toEqual([])
  })

  it('a push the registry refuses fails the run (exit 1) and names the image', async () => {
    const r = await mirror(['--registry', R, '--no-infra'], { docker: [on('^push .*/redis:7.4.6$', fails(1, 'denied: requested access to the resource is denied')), ok()] })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`push ${R}/redis:7.4.6`)
  })

  it('refuses a missing or malformed --registry before anything runs (exit 2)', async () => {
    expect((await mirror([])).code).toBe(2)
    const bad = await mirror(['--registry', 'https://registry.corp'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('is not host[:port][/path]')
    expect(bins!.allCalls()).toEqual([])
  })

  it('maps names like the chart does, and refuses an image without a pinned tag', () => {
    expect(mirrorName(R, 'postgres:15.14')).toBe(`${R}/postgres:15.14`)
    expect(mirrorName(R, 'localhost:5000/a/b:1')).toBe(`${R}/a/b:1`)
    expect(mirrorName('r.example:5000/', 'ghcr.io/a/b@sha256:' + 'a'.repeat(64))).toBe(`r.example:5000/a/b@sha256:${'a'.repeat(64)}`)
    expect(() => mirrorList(R, { compose: ['redis'] })).toThrow(/redis \(compose\)/)
  })
})
