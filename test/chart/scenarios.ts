// The chart's scenarios (helm/openwebui-platform/ci/*-values.yaml) and, for each, the traffic we
// intend: the edge list the NetworkPolicy reachability test compares the rendered policies with.
import { join } from 'node:path'
import { CHART_DIR } from '../../scripts/lib/core/paths.ts'
import { address, foreignPod, type Endpoint } from '../helpers/k8s-netpol.ts'
import { NAMESPACE } from '../helpers/k8s-render.ts'

type Store = 'postgres' | 'redis' | 'qdrant' | 'neo4j'
type StoreMode = 'internal' | 'cnpg' | { external: number[] }

export interface Intent {
  /** components that run pods in the release */
  pods: string[]
  /** the LLM Open WebUI and GraphRAG call: the LightLLM service, or an outside endpoint on a port */
  llm: 'lightllm' | { external: number }
  stores: Partial<Record<Store, StoreMode>>
  /** where Open WebUI sends OTLP: the chart's collector (a pod of the release) or one in the monitoring namespace */
  otel?: 'chart' | 'external'
  /** the blackbox exporter also probes the certificate served at the public address */
  probeTLS?: boolean
  backupS3?: boolean
  /** Open WebUI's general HTTPS egress (networkPolicy.openwebuiHTTPSEgress); on unless false */
  httpsEgress?: boolean
  /** the OIDC provider Open WebUI reaches: outside on a port, or an in-cluster pod (keycloak) */
  idp?: { external: number } | 'in-cluster'
  /** the corporate proxy (corp-proxy, 10.20.0.5) the outbound components reach on this port */
  proxy?: number
}

export interface Scenario { name: string; file: string; intent: Intent }

const APP = ['openwebui', 'lightllm', 'graphrag-processor', 'celery-worker', 'celery-beat', 'mcp-server']
const STORES = ['postgres', 'redis', 'qdrant', 'neo4j']
/** monitoring helpers of a release with Open WebUI on the chart's collector and backup jobs */
const MONITORING = ['otel-collector', 'blackbox-exporter', 'pushgateway']
const ALL_INTERNAL: Intent['stores'] = { postgres: 'internal', redis: 'internal', qdrant: 'internal', neo4j: 'internal' }

export const SCENARIOS: Scenario[] = [
  { name: 'minimal', file: 'minimal-values.yaml', intent: { pods: ['openwebui', 'otel-collector', 'blackbox-exporter', 'test'], llm: { external: 443 }, stores: {}, otel: 'chart' } },
  {
    name: 'full', file: 'full-values.yaml',
    intent: { pods: [...APP, ...STORES, 'celery-exporter', 'backup', ...MONITORING, 'test'], llm: 'lightllm', stores: ALL_INTERNAL, otel: 'chart', probeTLS: true },
  },
  {
    name: 'ha', file: 'ha-values.yaml',
    intent: {
      pods: [...APP, ...STORES, 'pgbouncer', 'celery-exporter', 'backup', ...MONITORING, 'test'], llm: 'lightllm',
      stores: { ...ALL_INTERNAL, postgres: 'cnpg' }, backupS3: true, otel: 'chart',
    },
  },
  {
    name: 'cnpg-recovery', file: 'cnpg-recovery-values.yaml',
    intent: {
      pods: [...APP, ...STORES, 'pgbouncer', 'celery-exporter', 'backup', ...MONITORING, 'test'], llm: 'lightllm',
      stores: { ...ALL_INTERNAL, postgres: 'cnpg' }, backupS3: true, otel: 'chart',
    },
  },
  {
    name: 'external', file: 'external-values.yaml',
    intent: {
      pods: [...APP, 'celery-exporter', 'blackbox-exporter', 'test'], llm: 'lightllm', otel: 'external',
      stores: { postgres: { external: [5432] }, redis: { external: [6380] }, qdrant: { external: [6333, 6334] }, neo4j: { external: [7687] } },
    },
  },
  { name: 'gateway', file: 'gateway-values.yaml', intent: { pods: [...APP, ...STORES, 'celery-exporter', 'backup', ...MONITORING, 'test'], llm: 'lightllm', stores: ALL_INTERNAL, otel: 'chart' } },
  { name: 'sso', file: 'sso-values.yaml', intent: { pods: ['openwebui', 'otel-collector', 'blackbox-exporter', 'test'], llm: { external: 443 }, stores: {}, otel: 'chart', httpsEgress: false, idp: { external: 8443 } } },
  { name: 'cloud-identity', file: 'cloud-identity-values.yaml', intent: { pods: [...APP, ...STORES, 'celery-exporter', 'backup', ...MONITORING, 'test'], llm: 'lightllm', stores: ALL_INTERNAL, otel: 'chart', backupS3: true } },
  { name: 'extensions', file: 'extensions-values.yaml', intent: { pods: [...APP, ...STORES, 'celery-exporter', 'backup', ...MONITORING, 'test'], llm: 'lightllm', stores: ALL_INTERNAL, otel: 'chart' } },
  { name: 'airgap', file: 'airgap-values.yaml', intent: { pods: [...APP, ...STORES, 'celery-exporter', 'backup', ...MONITORING, 'test'], llm: 'lightllm', stores: ALL_INTERNAL, otel: 'chart', httpsEgress: false, proxy: 3128 } },
  { name: 'lightllm-tp2', file: 'lightllm-tp2-values.yaml', intent: { pods: [...APP, ...STORES, 'celery-exporter', 'backup', ...MONITORING, 'test'], llm: 'lightllm', stores: ALL_INTERNAL, otel: 'chart' } },
  // Argo Rollouts (argoproj.io/v1alpha1 is among the API versions every scenario renders with)
  { name: 'rollout-bluegreen', file: 'rollout-bluegreen-values.yaml', intent: { pods: [...APP, ...STORES, 'celery-exporter', 'backup', ...MONITORING, 'test'], llm: 'lightllm', stores: ALL_INTERNAL, otel: 'chart' } },
  { name: 'rollout-canary', file: 'rollout-canary-values.yaml', intent: { pods: [...APP, ...STORES, 'celery-exporter', 'backup', ...MONITORING, 'test'], llm: 'lightllm', stores: ALL_INTERNAL, otel: 'chart' } },
]

export const scenarioFile = (s: Scenario) => join(CHART_DIR, 'ci', s.file)

const STORE_PORTS: Record<Store, number[]> = { postgres: [5432], redis: [6379], qdrant: [6333, 6334], neo4j: [7687] }
const METRICS: Record<string, number[]> = {
  pgbouncer: [9127], lightllm: [8000], 'graphrag-processor': [8010], 'mcp-server': [8020], qdrant: [6333], postgres: [9187], redis: [9121], 'celery-exporter': [9808],
  'otel-collector': [8889], 'blackbox-exporter': [9115], pushgateway: [9091],
}
const HEALTH: Record<string, number> = {
  openwebui: 8080, lightllm: 8000, 'graphrag-processor': 8010, 'mcp-server': 8020, qdrant: 6333, neo4j: 7474, redis: 6379, postgres: 5432,
  'otel-collector': 13133, 'blackbox-exporter': 9115, pushgateway: 9091,
}
/** what the blackbox exporter probes when the component runs in the release (Neo4j: HTTP and Bolt) */
const PROBED: Record<string, number[]> = {
  openwebui: [8080], lightllm: [8000], 'graphrag-processor': [8010], 'mcp-server': [8020], qdrant: [6333], neo4j: [7474, 7687],
}

/** The traffic the platform needs, as "src -> dst:port/PROTO", and nothing more. */
export function intendedEdges(i: Intent): string[] {
  const edges = new Set<string>()
  const has = (c: string) => i.pods.includes(c)
  const add = (from: string, to: string, ports: number[], proto = 'TCP') => { for (const p of ports) edges.add(`${from} -> ${to}:${p}/${proto}`) }
  const store = (s: Store): [string, number[]] | undefined => {
    const m = i.stores[s]
    if (!m) return undefined
    if (s === 'postgres' && m === 'cnpg' && has('pgbouncer')) return ['pgbouncer', [5432]] // the clients go through the Pooler
    return typeof m === 'object' ? ['internet', m.external] : [s, STORE_PORTS[s]]
  }
  const llm = (from: string) => (i.llm === 'lightllm' ? add(from, 'lightllm', [8000]) : add(from, 'internet', [i.llm.external]))

  if (has('openwebui')) {
    add('ingress-controller', 'openwebui', [8080])
    llm('openwebui')
    for (const s of ['postgres', 'redis'] as const) { const t = store(s); if (t) add('openwebui', ...t) }
    const q = store('qdrant'); if (q) add('openwebui', q[0], [q[1][0]]) // REST only
    if (has('mcp-server')) add('openwebui', 'mcp-server', [8020])
    if (has('graphrag-processor')) add('openwebui', 'graphrag-processor', [8010])
    if (i.httpsEgress !== false) add('openwebui', 'internet', [443]) // embedding-model download, web search, S3 uploads
    if (i.idp === 'in-cluster') add('openwebui', 'keycloak', [8443])
    else if (i.idp) add('openwebui', 'internet', [i.idp.external])
    if (i.otel === 'chart') add('openwebui', 'otel-collector', [4317])
    if (i.otel === 'external') add('openwebui', 'otel-external', [4317])
  }
  for (const c of ['graphrag-processor', 'celery-worker']) {
    if (!has(c)) continue
    for (const s of ['postgres', 'redis', 'qdrant', 'neo4j'] as const) { const t = store(s); if (t) add(c, ...t) }
    llm(c)
  }
  if (i.proxy) for (const c of ['openwebui', 'lightllm', 'graphrag-processor', 'celery-worker', 'celery-beat', 'mcp-server', 'backup']) if (has(c)) add(c, 'corp-proxy', [i.proxy])
  if (has('celery-beat')) { const t = store('redis'); if (t) add('celery-beat', ...t) }
  if (has('celery-exporter')) { const t = store('redis'); if (t) add('celery-exporter', ...t) }
  if (has('mcp-server')) add('mcp-server', 'graphrag-processor', [8010])
  for (const c of i.pods) if (METRICS[c]) add('prometheus', c, METRICS[c])
  if (has('blackbox-exporter')) {
    for (const c of i.pods) if (PROBED[c]) add('blackbox-exporter', c, PROBED[c])
    if (i.probeTLS) add('blackbox-exporter', 'internet', [443])
  }
  if (has('pushgateway')) add('backup', 'pushgateway', [9091])
  if (has('backup')) {
    add('backup', 'kube-api', [443, 6443])
    if (i.stores.qdrant === 'internal') add('backup', 'qdrant', [6333]) // snapshots over REST
    if (i.backupS3) add('backup', 'internet', [443])
  }
  if (has('test')) {
    for (const c of i.pods) {
      if (!HEALTH[c]) continue
      if (c === 'postgres' && i.stores.postgres === 'cnpg') continue
      add('test', c, [HEALTH[c]])
    }
  }
  if (i.stores.postgres === 'cnpg') {
    add('cnpg-operator', 'postgres', [5432, 8000])
    add('postgres', 'postgres', [5432, 8000])
    add('postgres', 'kube-api', [443, 6443])
  }
  if (has('pgbouncer')) {
    add('pgbouncer', 'postgres', [5432])
    add('pgbouncer', 'kube-api', [443, 6443])
  }
  for (const c of i.pods) { add(c, 'kube-dns', [53], 'UDP'); add(c, 'kube-dns', [53], 'TCP') }
  return [...edges].sort()
}

/** Everything around the release: controllers, Prometheus, DNS, an intruder pod, outside addresses. */
export function surroundings(): Endpoint[] {
  return [
    foreignPod('ingress-controller', 'traefik', { 'app.kubernetes.io/name': 'traefik' }),
    foreignPod('prometheus', 'monitoring', { 'app.kubernetes.io/name': 'prometheus' }),
    foreignPod('otel-external', 'monitoring', { 'app.kubernetes.io/name': 'otel-collector' }, [[4317], [4318]]),
    foreignPod('kube-dns', 'kube-system', { 'k8s-app': 'kube-dns' }, [[53, 'UDP'], [53, 'TCP']]),
    foreignPod('cnpg-operator', 'cnpg-system', { 'app.kubernetes.io/name': 'cloudnative-pg' }),
    foreignPod('keycloak', 'keycloak', { 'app.kubernetes.io/name': 'keycloak' }, [[8443]]),
    foreignPod('intruder', NAMESPACE, { app: 'intruder' }, [[8080]]),
    foreignPod('outsider', 'default', { app: 'outsider' }, [[8080]]),
    address('internet', '203.0.113.10', [80, 443, 4317, 5432, 6333, 6334, 6380, 6443, 7687, 8000, 8443]),
    address('kube-api', '10.96.0.1', [443, 6443]),
    address('corp-proxy', '10.20.0.5', [3128]),
    address('cloud-metadata', '169.254.169.254', [80, 443]),
  ]
}
