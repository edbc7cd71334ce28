// NetworkPolicy reachability, computed from rendered policies the way the Kubernetes API defines it:
// a connection src -> dst:port is allowed when src's egress allows it (or no Egress policy selects
// src) and dst's ingress allows it (or no Ingress policy selects dst). ipBlock peers match only
// addresses outside the cluster, i.e. the "ip" endpoints of the model.
import { BlockList, isIPv4 } from 'node:net'
import type { K8sObject } from './k8s-render.ts'
import { podSources } from './k8s-policy.ts'

export interface PortSpec { port: number; protocol: string; name?: string }

/** Something that sends or receives traffic: a pod (namespace + labels) or an address outside the cluster. */
export interface Endpoint {
  name: string
  namespace?: string
  namespaceLabels?: Record<string, string>
  labels?: Record<string, string>
  ip?: string
  ports: PortSpec[]
}

interface LabelSelector { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] }

export function matchesSelector(sel: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!sel) return true
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false
  for (const e of sel.matchExpressions ?? []) {
    const has = e.key in labels
    const inValues = has && (e.values ?? []).includes(labels[e.key])
    if (e.operator === 'In' && !inValues) return false
    if (e.operator === 'NotIn' && inValues) return false
    if (e.operator === 'Exists' && !has) return false
    if (e.operator === 'DoesNotExist' && has) return false
  }
  return true
}

function ipMatches(block: { cidr: string; except?: string[] }, ip: string): boolean {
  const family = isIPv4(ip) ? 'ipv4' : 'ipv6'
  const [net, bits] = block.cidr.split('/')
  if (isIPv4(net) !== (family === 'ipv4')) return false
  const inBlock = new BlockList()
  inBlock.addSubnet(net, Number(bits), family)
  if (!inBlock.check(ip, family)) return false
  return !(block.except ?? []).some((ex) => ipMatches({ cidr: ex }, ip))
}

/** Does a NetworkPolicyPeer of a policy in `policyNs` match the endpoint? */
function peerMatches(peer: any, policyNs: string, ep: Endpoint): boolean {
  if (peer.ipBlock) return ep.ip !== undefined && ipMatches(peer.ipBlock, ep.ip)
  if (ep.ip !== undefined) return false
  if (peer.namespaceSelector) {
    if (!matchesSelector(peer.namespaceSelector, ep.namespaceLabels ?? {})) return false
  } else if (ep.namespace !== policyNs) return false
  return matchesSelector(peer.podSelector, ep.labels ?? {})
}

function portMatches(rulePorts: any[] | undefined, port: PortSpec): boolean {
  if (!rulePorts || rulePorts.length === 0) return true
  return rulePorts.some((p) => {
    if ((p.protocol ?? 'TCP') !== port.protocol) return false
    if (p.port === undefined) return true
    if (typeof p.port === 'string') return p.port === port.name
    return p.endPort ? port.port >= p.port && port.port <= p.endPort : port.port === p.port
  })
}

function policyTypes(p: K8sObject): string[] {
  return p.spec.policyTypes ?? (p.spec.egress ? ['Ingress', 'Egress'] : ['Ingress'])
}

function selecting(policies: K8sObject[], ep: Endpoint, type: 'Ingress' | 'Egress'): K8sObject[] {
  if (ep.ip !== undefined) return []
  return policies.filter((p) => (p.metadata.namespace ?? '') === ep.namespace && policyTypes(p).includes(type) && matchesSelector(p.spec.podSelector, ep.labels ?? {}))
}

export function allowed(policies: K8sObject[], src: Endpoint, dst: Endpoint, port: PortSpec): boolean {
  const egress = selecting(policies, src, 'Egress')
  const egressOk = egress.length === 0 || egress.some((p) => (p.spec.egress ?? []).some((r: any) =>
    (!r.to || r.to.length === 0 || r.to.some((peer: any) => peerMatches(peer, p.metadata.namespace ?? '', dst))) && portMatches(r.ports, port)))
  if (!egressOk) return false
  const ingress = selecting(policies, dst, 'Ingress')
  return ingress.length === 0 || ingress.some((p) => (p.spec.ingress ?? []).some((r: any) =>
    (!r.from || r.from.length === 0 || r.from.some((peer: any) => peerMatches(peer, p.metadata.namespace ?? '', src))) && portMatches(r.ports, port)))
}

/** Every allowed "src -> dst:port/PROTO" between the endpoints, on the ports each destination listens on. */
export function reachability(policies: K8sObject[], endpoints: Endpoint[]): string[] {
  const edges: string[] = []
  for (const src of endpoints) {
    for (const dst of endpoints) {
      for (const port of dst.ports) {
        if (allowed(policies, src, dst, port)) edges.push(`${src.name} -> ${dst.name}:${port.port}/${port.protocol}`)
      }
    }
  }
  return [...new Set(edges)].sort()
}

/**
 * The release's pods as endpoints, named by their component label (CNPG instances as "postgres",
 * Pooler pods as "pgbouncer"; the restore drill's pod, a backup pod of store drill, as "drill": it
 * has a policy of its own).
 */
export function releaseEndpoints(objects: K8sObject[], namespace: string): Endpoint[] {
  const nsLabels = { 'kubernetes.io/metadata.name': namespace }
  const byName = new Map<string, Endpoint>()
  for (const { pod } of podSources(objects)) {
    const labels = pod.metadata?.labels ?? {}
    const name = labels['app.kubernetes.io/store'] === 'drill' ? 'drill' : labels['app.kubernetes.io/component'] ?? 'unknown'
    const ports: PortSpec[] = (pod.spec.containers ?? []).flatMap((c: any) => (c.ports ?? []).map((p: any) => ({ port: p.containerPort, protocol: p.protocol ?? 'TCP', name: p.name })))
    const prev = byName.get(name)
    if (prev) prev.ports.push(...ports.filter((p) => !prev.ports.some((q) => q.port === p.port && q.protocol === p.protocol)))
    else byName.set(name, { name, namespace, namespaceLabels: nsLabels, labels, ports })
  }
  for (const c of objects.filter((o) => o.kind === 'Cluster' && o.apiVersion.startsWith('postgresql.cnpg.io/'))) {
    // the operator's pods: postgres 5432, instance manager status 8000, metrics 9187; they carry
    // the Cluster's inheritedMetadata labels beside the operator's own
    byName.set('postgres', {
      name: 'postgres', namespace, namespaceLabels: nsLabels,
      labels: { ...(c as any).spec?.inheritedMetadata?.labels, 'cnpg.io/cluster': c.metadata.name, 'cnpg.io/podRole': 'instance' },
      ports: [{ port: 5432, protocol: 'TCP', name: 'postgresql' }, { port: 8000, protocol: 'TCP', name: 'status' }, { port: 9187, protocol: 'TCP', name: 'metrics' }],
    })
  }
  for (const p of objects.filter((o) => o.kind === 'Pooler' && o.apiVersion.startsWith('postgresql.cnpg.io/'))) {
    // PgBouncer pods of a CloudNativePG Pooler: the template's labels beside the operator's; pgbouncer 5432, metrics 9127
    byName.set('pgbouncer', {
      name: 'pgbouncer', namespace, namespaceLabels: nsLabels,
      labels: { ...(p as any).spec?.template?.metadata?.labels, 'cnpg.io/poolerName': p.metadata.name },
      ports: [{ port: 5432, protocol: 'TCP', name: 'pgbouncer' }, { port: 9127, protocol: 'TCP', name: 'metrics' }],
    })
  }
  return [...byName.values()]
}

/** A pod in another namespace (ingress controller, Prometheus, DNS...). */
export function foreignPod(name: string, namespace: string, labels: Record<string, string>, ports: [number, string?][] = []): Endpoint {
  return { name, namespace, namespaceLabels: { 'kubernetes.io/metadata.name': namespace }, labels, ports: ports.map(([port, protocol]) => ({ port, protocol: protocol ?? 'TCP' })) }
}

/** An address outside the cluster (internet host, API server). */
export function address(name: string, ip: string, ports: number[]): Endpoint {
  return { name, ip, ports: ports.map((port) => ({ port, protocol: 'TCP' })) }
}
