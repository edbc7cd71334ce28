// kubectl: read-only cluster probes for preflight, and what a rendered chart asks of the cluster.
import { parseAllDocuments } from 'yaml'
import { probe } from '../core/exec.ts'
import { compareVersions } from '../core/preflight.ts'
import type { Ctx } from '../core/context.ts'

/** Kubernetes minor versions the chart and the infra releases are tested against. */
export const SUPPORTED_KUBE = { min: '1.30', max: '1.35' }
export const KUBECTL_INSTALL_HINT = 'install kubectl (https://kubernetes.io/docs/tasks/tools/) or run make setup (puts it in .tools/bin)'

export function kubectl(...args: string[]): string[] {
  return ['kubectl', ...args]
}

interface K8sObject {
  apiVersion?: string
  kind?: string
  metadata?: { name?: string; namespace?: string; annotations?: Record<string, string>; labels?: Record<string, string> }
  spec?: Record<string, unknown>
  [k: string]: unknown
}

/** What the rendered chart needs from the cluster: drives preflight and infra conditions. */
export interface RenderFacts {
  objects: number
  kinds: Record<string, number>
  ingress: boolean
  ingressClasses: string[]
  gateway: boolean
  /** Gateways the HTTPRoutes attach to that the chart does not render itself: namespace/name. */
  gatewayRefs: string[]
  /** GatewayClasses the rendered Gateways use. */
  gatewayClasses: string[]
  tls: boolean
  /** cert-manager ClusterIssuers the chart names (Certificate issuerRef, cluster-issuer annotations). */
  clusterIssuers: string[]
  /** Namespaced cert-manager Issuers the chart names: namespace/name. */
  issuers: string[]
  monitoring: boolean
  cnpg: boolean
  /** An Argo Rollout is rendered (rollout.strategy blueGreen | canary). */
  rollouts: boolean
  /** The most GPUs one pod asks for (nvidia.com/gpu limit): 0 when LightLLM is off. */
  gpus: number
  /** StorageClasses named by PVCs; null entries are PVCs that rely on the default class. */
  storageClasses: Array<string | null>
}

/** Parse `helm template` output (YAML 1.1, as Helm writes it). */
export function parseManifests(text: string): K8sObject[] {
  return parseAllDocuments(text, { version: '1.1' })
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => Boolean(o && typeof o === 'object' && o.kind))
}

export function renderFacts(objects: K8sObject[], releaseNamespace: string): RenderFacts {
  const kinds: Record<string, number> = {}
  for (const o of objects) kinds[o.kind!] = (kinds[o.kind!] ?? 0) + 1
  const ingresses = objects.filter((o) => o.kind === 'Ingress')
  const routes = objects.filter((o) => o.kind === 'HTTPRoute' || o.kind === 'GRPCRoute')
  const ingressClasses = unique(ingresses.map((i) => (i.spec?.ingressClassName as string | undefined)
    ?? i.metadata?.annotations?.['kubernetes.io/ingress.class'] ?? '').filter(Boolean))
  const gateways = objects.filter((o) => o.kind === 'Gateway')
  const rendered = new Set(gateways.map((g) => `${g.metadata?.namespace ?? releaseNamespace}/${g.metadata?.name}`))
  const gatewayRefs = unique(routes.flatMap((r) => ((r.spec?.parentRefs as Array<{ name: string; namespace?: string; kind?: string }> | undefined) ?? [])
    .filter((p) => !p.kind || p.kind === 'Gateway')
    .map((p) => `${p.namespace ?? r.metadata?.namespace ?? releaseNamespace}/${p.name}`)))
    .filter((ref) => !rendered.has(ref))
  const gatewayClasses = unique(gateways.map((g) => (g.spec?.gatewayClassName as string | undefined) ?? '').filter(Boolean))
  const certManagerAnnotated = objects.some((o) => Object.keys(o.metadata?.annotations ?? {}).some((k) => k.startsWith('cert-manager.io/')))
  const tls = certManagerAnnotated
    || objects.some((o) => o.apiVersion?.startsWith('cert-manager.io/'))
    || ingresses.some((i) => Array.isArray(i.spec?.tls) && (i.spec!.tls as unknown[]).length > 0)
  const issuerRefs = objects.flatMap((o) => {
    const ann = o.metadata?.annotations ?? {}
    const ns = o.metadata?.namespace ?? releaseNamespace
    const refs: Array<{ kind: string; name: string; ns: string }> = []
    const ref = o.apiVersion?.startsWith('cert-manager.io/') ? (o.spec?.issuerRef as { name?: string; kind?: string } | undefined) : undefined
    if (ref?.name) refs.push({ kind: ref.kind ?? 'Issuer', name: ref.name, ns })
    if (ann['cert-manager.io/cluster-issuer']) refs.push({ kind: 'ClusterIssuer', name: ann['cert-manager.io/cluster-issuer'], ns })
    if (ann['cert-manager.io/issuer']) refs.push({ kind: 'Issuer', name: ann['cert-manager.io/issuer'], ns })
    return refs
  })
  const podSpecs = objects.flatMap(podSpecOf)
  const gpus = Math.max(0, ...podSpecs.flatMap((p) => [...(p.containers ?? []), ...(p.initContainers ?? [])]
    .map((c) => Number(c.resources?.limits?.['nvidia.com/gpu'] ?? 0))))
  const claims = [
    ...objects.filter((o) => o.kind === 'PersistentVolumeClaim').map((o) => o.spec as { storageClassName?: string }),
    ...objects.filter((o) => o.kind === 'StatefulSet').flatMap((o) => ((o.spec?.volumeClaimTemplates as Array<{ spec?: { storageClassName?: string } }> | undefined) ?? []).map((t) => t.spec ?? {})),
  ]
  return {
    objects: objects.length,
    kinds,
    ingress: ingresses.length > 0,
    ingressClasses,
    gateway: routes.length > 0,
    gatewayRefs,
    gatewayClasses,
    tls,
    clusterIssuers: unique(issuerRefs.filter((r) => r.kind === 'ClusterIssuer').map((r) => r.name)),
    issuers: unique(issuerRefs.filter((r) => r.kind === 'Issuer').map((r) => `${r.ns}/${r.name}`)),
    monitoring: objects.some((o) => o.apiVersion?.startsWith('monitoring.coreos.com/')),
    cnpg: objects.some((o) => o.apiVersion?.startsWith('postgresql.cnpg.io/')),
    rollouts: objects.some((o) => o.apiVersion?.startsWith('argoproj.io/') && o.kind === 'Rollout'),
    gpus,
    storageClasses: claims.map((c) => c.storageClassName ?? null),
  }
}

interface PodSpecLite {
  containers?: Array<{ resources?: { limits?: Record<string, string | number> } }>
  initContainers?: Array<{ resources?: { limits?: Record<string, string | number> } }>
}

function podSpecOf(o: K8sObject): PodSpecLite[] {
  const spec = o.spec as { template?: { spec?: PodSpecLite }; jobTemplate?: { spec?: { template?: { spec?: PodSpecLite } } } } | undefined
  if (o.kind === 'Pod') return [o.spec as PodSpecLite]
  if (spec?.template?.spec) return [spec.template.spec]
  if (spec?.jobTemplate?.spec?.template?.spec) return [spec.jobTemplate.spec.template.spec]
  return []
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)]
}

// ---- cluster probes (read-only; they run under --dry-run too) ------------------------------

export async function getJson<T>(ctx: Ctx, argv: string[], timeout = 20_000): Promise<T | null> {
  const out = await probe(ctx, argv, timeout)
  if (out === null) return null
  try { return JSON.parse(out) as T } catch { return null }
}

export async function serverVersion(ctx: Ctx): Promise<string | null> {
  const v = await getJson<{ serverVersion?: { major: string; minor: string; gitVersion?: string } }>(ctx, kubectl('version', '--output', 'json', '--request-timeout', '10s'))
  if (!v?.serverVersion) return null
  return `${parseInt(v.serverVersion.major, 10)}.${parseInt(v.serverVersion.minor, 10)}`
}

export function kubeVersionSupported(version: string): 'ok' | 'old' | 'new' {
  if (compareVersions(version, SUPPORTED_KUBE.min) < 0) return 'old'
  if (compareVersions(version, SUPPORTED_KUBE.max) > 0) return 'new'
  return 'ok'
}

interface List<T> { items?: T[] }
interface StorageClass { metadata: { name: string; annotations?: Record<string, string> } }
interface Node { metadata: { name: string }; status?: { allocatable?: Record<string, string> } }

export async function storageClasses(ctx: Ctx): Promise<{ names: string[]; defaults: string[] } | null> {
  const list = await getJson<List<StorageClass>>(ctx, kubectl('get', 'storageclass', '--output', 'json', '--request-timeout', '10s'))
  if (!list) return null
  const items = list.items ?? []
  const isDefault = (s: StorageClass) => [s.metadata.annotations?.['storageclass.kubernetes.io/is-default-class'], s.metadata.annotations?.['storageclass.beta.kubernetes.io/is-default-class']].includes('true')
  return { names: items.map((s) => s.metadata.name), defaults: items.filter(isDefault).map((s) => s.metadata.name) }
}

/** Allocatable nvidia.com/gpu per node. */
export async function gpuNodes(ctx: Ctx): Promise<Array<{ node: string; gpus: number }> | null> {
  const list = await getJson<List<Node>>(ctx, kubectl('get', 'nodes', '--output', 'json', '--request-timeout', '10s'))
  if (!list) return null
  return (list.items ?? []).map((n) => ({ node: n.metadata.name, gpus: Number(n.status?.allocatable?.['nvidia.com/gpu'] ?? 0) }))
}

/** `kubectl get KIND NAME` succeeds: the object exists. */
export async function exists(ctx: Ctx, kind: string, name: string, namespace?: string): Promise<boolean> {
  const argv = kubectl('get', kind, name, ...(namespace ? ['--namespace', namespace] : []), '--output', 'name', '--request-timeout', '10s')
  return (await probe(ctx, argv, 15_000)) !== null
}
