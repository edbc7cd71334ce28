// Every checker the chart suite relies on rejects a broken fixture: a check that cannot fail proves nothing.
// Fixtures are real rendered objects with one thing broken.
import { beforeAll, describe, expect, it } from 'vitest'
import { NAMESPACE, findObject, renderChart, type K8sObject } from '../helpers/k8s-render.ts'
import { validateObject } from '../helpers/k8s-validate.ts'
import { checkRoutes, checkShape } from '../helpers/k8s-crd-shapes.ts'
import * as policy from '../helpers/k8s-policy.ts'
import { allowed, address, foreignPod, matchesSelector, reachability, releaseEndpoints } from '../helpers/k8s-netpol.ts'
import { SCENARIOS, intendedEdges, scenarioFile, surroundings } from './scenarios.ts'

let full: K8sObject[]
let gateway: K8sObject[]
let ha: K8sObject[]
beforeAll(async () => {
  const file = (n: string) => scenarioFile(SCENARIOS.find((s) => s.name === n)!)
  ;[full, gateway, ha] = await Promise.all(['full', 'gateway', 'ha'].map((n) => renderChart('v4', { valuesFiles: [file(n)] })))
})

const get = (objs: K8sObject[], kind: string, name: string) => structuredClone(findObject(objs, kind, name)!)
const podOf = (o: K8sObject) => policy.podSources([o])[0].pod.spec
const first = (o: K8sObject) => podOf(o).containers[0]

describe('offline validation', () => {
  it('accepts the rendered objects it is given', async () => {
    expect(await validateObject(get(full, 'Deployment', 'owp-openwebui'))).toEqual([])
  })

  it('rejects a misspelled field the models let through, naming its path', async () => {
    const d = get(full, 'Deployment', 'owp-openwebui')
    first(d).imagePullPolicyy = 'Always'
    d.spec.template.spec.securityContext.runAsNonroot = true
    expect((await validateObject(d)).sort()).toEqual([
      'Deployment/owp-openwebui: unknown field spec.template.spec.containers[0].imagePullPolicyy',
      'Deployment/owp-openwebui: unknown field spec.template.spec.securityContext.runAsNonroot',
    ])
  })

  it('rejects a wrong type with the schema message', async () => {
    const d = get(full, 'Deployment', 'owp-openwebui')
    first(d).ports[0].containerPort = '8080'
    expect((await validateObject(d)).join('\n')).toMatch(/containerPort must be integer/)
  })

  it('rejects unknown fields in CRD objects that have models (ServiceMonitor, Certificate)', async () => {
    const sm = get(full, 'ServiceMonitor', 'owp-lightllm')
    sm.spec.endpoints[0].intervall = '30s'
    expect(await validateObject(sm)).toEqual(['ServiceMonitor/owp-lightllm: unknown field spec.endpoints[0].intervall'])
    const cert = get(full, 'Certificate', 'owp-openwebui')
    cert.spec.dnsName = ['x']
    expect(await validateObject(cert)).toEqual(['Certificate/owp-openwebui: unknown field spec.dnsName'])
  })

  it('rejects bad HTTPRoute, Gateway and CloudNativePG Cluster objects (focused shapes)', async () => {
    const route = get(gateway, 'HTTPRoute', 'owp-openwebui')
    route.spec.rules[0].timeouts.request = 'forever'
    route.spec.rules[0].backendRef = []
    expect(await validateObject(route)).toEqual([
      'HTTPRoute/owp-openwebui: spec.rules[0].timeouts.request must be a Gateway API duration such as 30s',
      'HTTPRoute/owp-openwebui: unknown field spec.rules[0].backendRef',
    ])
    const gw = get(gateway, 'Gateway', 'owp-openwebui')
    gw.spec.listeners[0].protocol = 'HTTP2'
    delete gw.spec.gatewayClassName
    expect(await validateObject(gw)).toEqual([
      'Gateway/owp-openwebui: spec.gatewayClassName is required',
      'Gateway/owp-openwebui: spec.listeners[0].protocol must be one of HTTP, HTTPS, TLS, TCP, UDP (is "HTTP2")',
    ])
    const cl = get(ha, 'Cluster', 'owp-postgres')
    cl.spec.instance = 3
    expect(await validateObject(cl)).toEqual(['Cluster/owp-postgres: unknown field spec.instance'])
    const pooler = get(ha, 'Pooler', 'owp-postgres-pooler-rw')
    pooler.spec.pgbouncer.poolMode = 'statement'
    pooler.spec.pgbouncer.maxClientConn = 100
    expect(await validateObject(pooler)).toEqual([
      'Pooler/owp-postgres-pooler-rw: spec.pgbouncer.poolMode must be one of session, transaction (is "statement")',
      'Pooler/owp-postgres-pooler-rw: unknown field spec.pgbouncer.maxClientConn',
    ])
  })

  it('rejects a kind it has no model for', async () => {
    expect(await validateObject({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } })).toEqual([
      'Widget/w: no model for example.com/v1 Widget (unknown kind or apiVersion)',
    ])
  })

  it('finds an HTTPRoute whose backend Service or Gateway listener is not rendered', () => {
    const objs = structuredClone(gateway)
    findObject(objs, 'HTTPRoute', 'owp-openwebui')!.spec.rules[0].backendRefs[0].port = 80
    findObject(objs, 'HTTPRoute', 'owp-openwebui-redirect')!.spec.parentRefs[0].sectionName = 'web'
    expect(checkRoutes(objs)).toEqual([
      'HTTPRoute/owp-openwebui: Service owp-openwebui has no port 80',
      'HTTPRoute/owp-openwebui-redirect: Gateway owp-openwebui has no listener web',
    ])
    expect(checkShape({ a: 1 }, { 'b!': 'string' })).toEqual(['b is required', 'unknown field a'])
  })
})

describe('production policy', () => {
  it('PSS restricted: privilege, root, capabilities, seccomp, read-only root, host namespaces, hostPath', () => {
    const d = get(full, 'Deployment', 'owp-openwebui')
    const c = first(d)
    c.securityContext = { privileged: true, runAsUser: 0, capabilities: { add: ['SYS_ADMIN'] } }
    d.spec.template.spec.securityContext = {}
    d.spec.template.spec.hostNetwork = true
    d.spec.template.spec.volumes.push({ name: 'host', hostPath: { path: '/' } })
    const p = policy.checkPodSecurity([d]).join('\n')
    for (const m of ['hostNetwork is set', 'volume host is of type hostPath', 'runAsNonRoot is not true', 'runAsUser must be a non-zero uid (is 0)',
      'allowPrivilegeEscalation is not false', 'privileged', 'capabilities.drop does not include ALL', 'capabilities.add SYS_ADMIN',
      'seccompProfile is unset', 'readOnlyRootFilesystem is not true']) expect(p).toContain(m)
  })

  it('PSS restricted covers init containers too', () => {
    const d = get(full, 'Deployment', 'owp-openwebui')
    d.spec.template.spec.initContainers = [{ name: 'init', image: 'busybox:1.36', securityContext: { runAsUser: 1000 } }]
    expect(policy.checkPodSecurity([d]).join('\n')).toContain('initContainer init: allowPrivilegeEscalation is not false')
  })

  it('requests and limits on every container', () => {
    const d = get(full, 'StatefulSet', 'owp-postgres')
    delete podOf(d).containers[1].resources.limits.cpu
    expect(policy.checkResources([d])).toEqual(['StatefulSet/owp-postgres container postgres-exporter: no limits.cpu'])
  })

  it('liveness everywhere, readiness behind a Service, probe ports that exist', () => {
    const d = get(full, 'Deployment', 'owp-openwebui')
    delete first(d).readinessProbe
    first(d).livenessProbe.httpGet.port = 'web'
    const svc = get(full, 'Service', 'owp-openwebui')
    expect(policy.checkProbes([d, svc])).toEqual([
      'Deployment/owp-openwebui container openwebui: behind a Service but no readinessProbe',
      'Deployment/owp-openwebui container openwebui: livenessProbe uses port web, which the container does not name',
    ])
    delete first(d).livenessProbe
    expect(policy.checkProbes([d])).toEqual(['Deployment/owp-openwebui container openwebui: no livenessProbe'])
  })

  it('no environment variable twice in one container', () => {
    const d = get(full, 'Deployment', 'owp-openwebui')
    first(d).env.push({ name: 'VECTOR_DB', value: 'chroma' })
    expect(policy.checkDuplicateEnv([d])).toEqual(['Deployment/owp-openwebui container openwebui: env VECTOR_DB is defined twice'])
  })

  it('every Service selects pods on ports they name', () => {
    const d = get(full, 'Deployment', 'owp-openwebui')
    const svc = get(full, 'Service', 'owp-openwebui')
    svc.spec.ports[0].targetPort = 'https'
    const orphan = get(full, 'Service', 'owp-lightllm')
    expect(policy.checkServices([d, svc, orphan])).toEqual([
      'Service/owp-openwebui: targetPort https is not a container port of the selected pods',
      'Service/owp-lightllm: selects no pod',
    ])
  })

  it('HPA targets exist and own the replica count; multi-replica workloads have a PDB', () => {
    const hpa = get(ha, 'HorizontalPodAutoscaler', 'owp-openwebui')
    const d = get(ha, 'Deployment', 'owp-openwebui')
    d.spec.replicas = 3
    expect(policy.checkAutoscalers([hpa, d])).toEqual(['HorizontalPodAutoscaler/owp-openwebui: Deployment/owp-openwebui sets spec.replicas, which fights the HPA'])
    expect(policy.checkAutoscalers([hpa])).toEqual(['HorizontalPodAutoscaler/owp-openwebui: target Deployment/owp-openwebui is not rendered'])
    expect(policy.checkDisruptionBudgets([hpa, d])).toEqual(['Deployment/owp-openwebui: 3 replicas but no PodDisruptionBudget'])
  })

  it('no floating image tags', () => {
    const d = get(full, 'Deployment', 'owp-openwebui')
    first(d).image = 'ghcr.io/open-webui/open-webui:latest'
    const s = get(full, 'StatefulSet', 'owp-redis')
    podOf(s).containers[0].image = 'redis'
    expect(policy.checkImages([d, s])).toEqual([
      'Deployment/owp-openwebui container openwebui: image ghcr.io/open-webui/open-webui:latest floats (no tag, or latest)',
      'StatefulSet/owp-redis container redis: image redis floats (no tag, or latest)',
    ])
    first(d).image = `ghcr.io/open-webui/open-webui@sha256:${'a'.repeat(64)}`
    expect(policy.checkImages([d])).toEqual([])
  })

  it('API tokens only where allowed; credentials never in ConfigMaps or literal env', () => {
    const d = get(full, 'Deployment', 'owp-openwebui')
    delete d.spec.template.spec.automountServiceAccountToken
    first(d).env.push({ name: 'QDRANT_API_KEY_COPY', value: 'hunter2hunter2' })
    const cm = get(full, 'ConfigMap', 'owp-graphrag-processor')
    cm.data.NEO4J_PASSWORD = 'x'
    expect(policy.checkServiceAccountTokens([d])).toEqual(['Deployment/owp-openwebui: automountServiceAccountToken is not false'])
    expect(policy.checkNoSecretsInPlainText([d, cm])).toEqual([
      'ConfigMap/owp-graphrag-processor: key NEO4J_PASSWORD looks like a credential in a ConfigMap',
      'Deployment/owp-openwebui container openwebui: env QDRANT_API_KEY_COPY has a literal value',
    ])
  })

  it('LightLLM: GPUs equal to --tp, memory /dev/shm, long startup, Recreate, kept model PVC', () => {
    const d = get(full, 'Deployment', 'owp-lightllm')
    const pvc = get(full, 'PersistentVolumeClaim', 'owp-lightllm-models')
    const c = first(d)
    c.resources.limits['nvidia.com/gpu'] = 2
    podOf(d).volumes.find((v: { name: string }) => v.name === 'dshm').emptyDir = {}
    c.startupProbe.failureThreshold = 30
    d.spec.strategy = { type: 'RollingUpdate' }
    delete pvc.metadata.annotations
    expect(policy.checkLightLLM([d, pvc])).toEqual([
      'Deployment/owp-lightllm: nvidia.com/gpu limit 2 differs from --tp 1',
      'Deployment/owp-lightllm: /dev/shm is not a memory emptyDir with a sizeLimit',
      'Deployment/owp-lightllm: startupProbe allows 300 s, less than 900 s for a model load',
      'Deployment/owp-lightllm: rollout can surge a second GPU pod (use Recreate)',
      'Deployment/owp-lightllm: model PVC owp-lightllm-models is not kept on uninstall',
    ])
  })
})

describe('NetworkPolicy reachability', () => {
  const intent = SCENARIOS.find((s) => s.name === 'full')!.intent
  const edges = (objs: K8sObject[]) => {
    const release = releaseEndpoints(objs, NAMESPACE)
    const names = new Set(release.map((e) => e.name))
    return reachability(objs.filter((o) => o.kind === 'NetworkPolicy'), [...release, ...surroundings()])
      .filter((e) => { const [src, dst] = e.split(/ -> |:/); return names.has(src) || names.has(dst) })
  }

  it('matches the intended edges for the rendered policies', () => {
    expect(edges(full)).toEqual(intendedEdges(intent))
  })

  it('sees a missing edge when an allow policy is dropped', () => {
    const objs = full.filter((o) => !(o.kind === 'NetworkPolicy' && o.metadata.name === 'owp-redis'))
    const got = edges(objs)
    expect(intendedEdges(intent).filter((e) => !got.includes(e))).toEqual([
      'celery-beat -> redis:6379/TCP', 'celery-exporter -> redis:6379/TCP', 'celery-worker -> redis:6379/TCP', 'graphrag-processor -> redis:6379/TCP',
      'openwebui -> redis:6379/TCP', 'prometheus -> redis:9121/TCP', 'redis -> kube-dns:53/TCP', 'redis -> kube-dns:53/UDP', 'test -> redis:6379/TCP',
    ])
  })

  it('sees extra edges when a policy is too wide (no default deny, an empty from)', () => {
    const objs = structuredClone(full.filter((o) => !(o.kind === 'NetworkPolicy' && o.metadata.name === 'owp-default-deny')))
    findObject(objs, 'NetworkPolicy', 'owp-postgres')!.spec.ingress.push({ ports: [{ port: 5432, protocol: 'TCP' }] })
    const extra = edges(objs).filter((e) => !intendedEdges(intent).includes(e))
    // every pod of the release still has its own egress policy: only outsiders gain
    expect(extra).toEqual(['cloud-metadata', 'cnpg-operator', 'corp-proxy', 'ingress-controller', 'internet', 'intruder', 'keycloak', 'kube-api', 'kube-dns', 'otel-external', 'outsider', 'prometheus']
      .map((src) => `${src} -> postgres:5432/TCP`))
  })

  it('follows the API semantics: selectors, ipBlock except, named ports, unselected pods', () => {
    expect(matchesSelector({ matchExpressions: [{ key: 'a', operator: 'In', values: ['x'] }] }, { a: 'x' })).toBe(true)
    expect(matchesSelector({ matchExpressions: [{ key: 'a', operator: 'DoesNotExist' }] }, { a: 'x' })).toBe(false)
    const pol = (spec: object): K8sObject => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'p', namespace: 'ns' }, spec })
    const web = foreignPod('web', 'ns', { app: 'web' }, [[8080]])
    web.ports[0].name = 'http'
    const client = foreignPod('client', 'ns', { app: 'client' })
    const internet = address('internet', '203.0.113.10', [443])
    const metadata = address('metadata', '169.254.169.254', [80])
    const denyAllEgress = pol({ podSelector: { matchLabels: { app: 'client' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['169.254.0.0/16'] } }] }] })
    expect(allowed([denyAllEgress], client, internet, internet.ports[0])).toBe(true)
    expect(allowed([denyAllEgress], client, metadata, metadata.ports[0])).toBe(false)
    expect(allowed([denyAllEgress], client, web, web.ports[0])).toBe(false) // ipBlock does not match pods
    const namedPort = pol({ podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 'http' }] }] })
    expect(allowed([namedPort], client, web, web.ports[0])).toBe(true)
    expect(allowed([namedPort], web, web, web.ports[0])).toBe(false)
    expect(allowed([], web, client, { port: 1, protocol: 'TCP' })).toBe(true) // nothing selects: open
  })
})
