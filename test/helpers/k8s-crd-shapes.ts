// Focused checks for the CRD kinds that have no kubernetes-models package: Gateway API HTTPRoute and
// Gateway, CloudNativePG Cluster, ScheduledBackup and Pooler, VerticalPodAutoscaler. A shape lists the fields the API defines (the parts the chart may
// render); a key ending in "!" is required. Unknown fields, wrong types and bad enum values fail.
import type { K8sObject } from './k8s-render.ts'

export type Shape =
  | 'string' | 'integer' | 'boolean' | 'map' | 'any' | 'duration' | 'quantity'
  | { enum: readonly (string | number)[] }
  | Shape[]
  | { [field: string]: Shape }

const metadata: Shape = { 'name!': 'string', namespace: 'string', labels: 'map', annotations: 'map' }
const parentRef: Shape = { group: 'string', kind: 'string', namespace: 'string', 'name!': 'string', sectionName: 'string', port: 'integer' }
const backendObjectRef: Shape = { group: 'string', kind: 'string', 'name!': 'string', namespace: 'string', port: 'integer' }
const headerModifier: Shape = { set: [{ 'name!': 'string', 'value!': 'string' }], add: [{ 'name!': 'string', 'value!': 'string' }], remove: ['string'] }
const pathModifier: Shape = { 'type!': { enum: ['ReplaceFullPath', 'ReplacePrefixMatch'] }, replaceFullPath: 'string', replacePrefixMatch: 'string' }
const routeFilter: Shape = {
  'type!': { enum: ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror', 'RequestRedirect', 'URLRewrite', 'ExtensionRef'] },
  requestHeaderModifier: headerModifier,
  responseHeaderModifier: headerModifier,
  requestMirror: { 'backendRef!': backendObjectRef, percent: 'integer', fraction: { 'numerator!': 'integer', denominator: 'integer' } },
  requestRedirect: { scheme: { enum: ['http', 'https'] }, hostname: 'string', path: pathModifier, port: 'integer', statusCode: { enum: [301, 302, 303, 307, 308] } },
  urlRewrite: { hostname: 'string', path: pathModifier },
  extensionRef: { 'group!': 'string', 'kind!': 'string', 'name!': 'string' },
}
const httpRoute: Shape = {
  'apiVersion!': 'string', 'kind!': 'string', 'metadata!': metadata,
  'spec!': {
    parentRefs: [parentRef],
    hostnames: ['string'],
    rules: [{
      name: 'string',
      matches: [{
        path: { type: { enum: ['Exact', 'PathPrefix', 'RegularExpression'] }, value: 'string' },
        headers: [{ type: { enum: ['Exact', 'RegularExpression'] }, 'name!': 'string', 'value!': 'string' }],
        queryParams: [{ type: { enum: ['Exact', 'RegularExpression'] }, 'name!': 'string', 'value!': 'string' }],
        method: { enum: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] },
      }],
      filters: [routeFilter],
      backendRefs: [{ ...(backendObjectRef as object), weight: 'integer', filters: [routeFilter] } as Shape],
      timeouts: { request: 'duration', backendRequest: 'duration' },
    }],
  },
}
const gateway: Shape = {
  'apiVersion!': 'string', 'kind!': 'string', 'metadata!': metadata,
  'spec!': {
    'gatewayClassName!': 'string',
    'listeners!': [{
      'name!': 'string', hostname: 'string', 'port!': 'integer',
      'protocol!': { enum: ['HTTP', 'HTTPS', 'TLS', 'TCP', 'UDP'] },
      tls: { mode: { enum: ['Terminate', 'Passthrough'] }, certificateRefs: [{ group: 'string', kind: 'string', 'name!': 'string', namespace: 'string' }], options: 'map' },
      allowedRoutes: { namespaces: { from: { enum: ['All', 'Selector', 'Same'] }, selector: 'any' }, kinds: [{ group: 'string', 'kind!': 'string' }] },
    }],
    addresses: [{ type: 'string', 'value!': 'string' }],
    infrastructure: { labels: 'map', annotations: 'map', parametersRef: { 'group!': 'string', 'kind!': 'string', 'name!': 'string' } },
  },
}
// CloudNativePG v1.25 CRDs (barmanObjectStore is BarmanObjectStoreConfiguration of barman-cloud)
const secretKey: Shape = { 'name!': 'string', 'key!': 'string' }
const objectStore: Shape = {
  'destinationPath!': 'string', endpointURL: 'string', endpointCA: secretKey, serverName: 'string',
  s3Credentials: { accessKeyId: secretKey, secretAccessKey: secretKey, region: secretKey, sessionToken: secretKey, inheritFromIAMRole: 'boolean' },
  azureCredentials: 'any', googleCredentials: 'any', tags: 'map', historyTags: 'map',
  wal: { compression: { enum: ['bzip2', 'gzip', 'lz4', 'snappy', 'xz', 'zstd'] }, encryption: { enum: ['AES256', 'aws:kms'] }, maxParallel: 'integer', archiveAdditionalCommandArgs: ['string'], restoreAdditionalCommandArgs: ['string'] },
  data: { compression: { enum: ['bzip2', 'gzip', 'lz4', 'snappy', 'xz', 'zstd'] }, encryption: { enum: ['AES256', 'aws:kms'] }, immediateCheckpoint: 'boolean', jobs: 'integer', additionalCommandArgs: ['string'] },
}
const cnpgStorage: Shape = { size: 'quantity', storageClass: 'string', resizeInUseVolumes: 'boolean', pvcTemplate: 'any' }
const cnpgCluster: Shape = {
  'apiVersion!': 'string', 'kind!': 'string', 'metadata!': metadata,
  'spec!': {
    'instances!': 'integer', imageName: 'string', imageCatalogRef: 'any', imagePullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] },
    description: 'string', primaryUpdateStrategy: { enum: ['unsupervised', 'supervised'] },
    primaryUpdateMethod: { enum: ['switchover', 'restart'] }, enablePDB: 'boolean',
    minSyncReplicas: 'integer', maxSyncReplicas: 'integer', logLevel: { enum: ['error', 'warning', 'info', 'debug', 'trace'] },
    startDelay: 'integer', stopDelay: 'integer', smartShutdownTimeout: 'integer', switchoverDelay: 'integer', failoverDelay: 'integer',
    enableSuperuserAccess: 'boolean', superuserSecret: { 'name!': 'string' }, priorityClassName: 'string',
    bootstrap: {
      initdb: { database: 'string', owner: 'string', secret: { 'name!': 'string' }, encoding: 'string', localeCollate: 'string', localeCType: 'string', dataChecksums: 'boolean', postInitSQL: ['string'], postInitApplicationSQL: ['string'] },
      recovery: {
        source: 'string', backup: { 'name!': 'string', endpointCA: secretKey }, volumeSnapshots: 'any',
        database: 'string', owner: 'string', secret: { 'name!': 'string' },
        recoveryTarget: {
          backupID: 'string', targetTLI: 'string', targetXID: 'string', targetName: 'string', targetLSN: 'string',
          targetTime: 'string', targetImmediate: 'boolean', exclusive: 'boolean',
        },
      },
      pg_basebackup: 'any',
    },
    externalClusters: [{ 'name!': 'string', connectionParameters: 'map', sslKey: secretKey, sslCert: secretKey, sslRootCert: secretKey, password: secretKey, barmanObjectStore: objectStore, plugin: 'any' }],
    'storage!': cnpgStorage, walStorage: cnpgStorage,
    resources: { requests: 'map', limits: 'map' },
    postgresql: { parameters: 'map', pg_hba: ['string'], pg_ident: ['string'], shared_preload_libraries: ['string'], synchronous: 'any' },
    affinity: 'any', topologySpreadConstraints: 'any', inheritedMetadata: { labels: 'map', annotations: 'map' },
    monitoring: 'any',
    backup: { barmanObjectStore: objectStore, retentionPolicy: 'string', target: { enum: ['primary', 'prefer-standby'] }, volumeSnapshot: 'any' },
    plugins: 'any', managed: 'any', certificates: 'any', serviceAccountTemplate: 'any',
    imagePullSecrets: [{ 'name!': 'string' }], env: 'any', envFrom: 'any', projectedVolumeTemplate: 'any',
  },
}

// VerticalPodAutoscaler (autoscaling.k8s.io/v1, the VPA project's CRD): the fields the chart writes and their siblings
const vpa: Shape = {
  'apiVersion!': 'string', 'kind!': 'string', 'metadata!': metadata,
  'spec!': {
    'targetRef!': { 'apiVersion!': 'string', 'kind!': 'string', 'name!': 'string' },
    updatePolicy: { updateMode: { enum: ['Off', 'Initial', 'Recreate', 'InPlaceOrRecreate', 'Auto'] }, minReplicas: 'integer' },
    resourcePolicy: {
      containerPolicies: [{
        containerName: 'string', mode: { enum: ['Auto', 'Off'] }, minAllowed: 'map', maxAllowed: 'map',
        controlledResources: ['string'], controlledValues: { enum: ['RequestsAndLimits', 'RequestsOnly'] },
      }],
    },
    recommenders: [{ 'name!': 'string' }],
  },
}

const cnpgScheduledBackup: Shape = {
  'apiVersion!': 'string', 'kind!': 'string', 'metadata!': metadata,
  'spec!': {
    'schedule!': 'string', 'cluster!': { 'name!': 'string' }, suspend: 'boolean', immediate: 'boolean',
    backupOwnerReference: { enum: ['none', 'self', 'cluster'] }, target: { enum: ['primary', 'prefer-standby'] },
    method: { enum: ['barmanObjectStore', 'volumeSnapshot', 'plugin'] }, online: 'boolean', onlineConfiguration: 'any', pluginConfiguration: 'any',
  },
}

// CloudNativePG Pooler (PgBouncer): spec fields of the CRD; the pod template's spec holds the fields the chart writes and common siblings
const cnpgPooler: Shape = {
  'apiVersion!': 'string', 'kind!': 'string', 'metadata!': metadata,
  'spec!': {
    'cluster!': { 'name!': 'string' }, type: { enum: ['rw', 'ro', 'r'] }, instances: 'integer',
    'pgbouncer!': {
      poolMode: { enum: ['session', 'transaction'] }, authQuerySecret: { 'name!': 'string' }, authQuery: 'string',
      parameters: 'map', pg_hba: ['string'], paused: 'boolean',
    },
    monitoring: { enablePodMonitor: 'boolean', podMonitorMetricRelabelings: 'any', podMonitorRelabelings: 'any' },
    deploymentStrategy: 'any', serviceTemplate: 'any',
    template: {
      metadata: { labels: 'map', annotations: 'map' },
      spec: {
        'containers!': [{ 'name!': 'string', image: 'string', imagePullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] }, resources: { limits: 'map', requests: 'map' }, env: 'any', securityContext: 'any' }],
        nodeSelector: 'map', tolerations: 'any', affinity: 'any', topologySpreadConstraints: 'any', priorityClassName: 'string',
      },
    },
  },
}

export const CRD_SHAPES: Record<string, Shape> = {
  'postgresql.cnpg.io/v1/Pooler': cnpgPooler,
  'autoscaling.k8s.io/v1/VerticalPodAutoscaler': vpa,
  'gateway.networking.k8s.io/v1/HTTPRoute': httpRoute,
  'gateway.networking.k8s.io/v1/Gateway': gateway,
  'postgresql.cnpg.io/v1/Cluster': cnpgCluster,
  'postgresql.cnpg.io/v1/ScheduledBackup': cnpgScheduledBackup,
}

const DURATION = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/
const QUANTITY = /^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/

/** Problems of a value against a shape, each naming its path. */
export function checkShape(value: unknown, shape: Shape, path = ''): string[] {
  const at = path || '(root)'
  if (shape === 'any') return []
  if (typeof shape === 'string') {
    switch (shape) {
      case 'string': return typeof value === 'string' ? [] : [`${at} must be a string`]
      case 'integer': return Number.isInteger(value) ? [] : [`${at} must be an integer`]
      case 'boolean': return typeof value === 'boolean' ? [] : [`${at} must be a boolean`]
      case 'duration': return typeof value === 'string' && DURATION.test(value) ? [] : [`${at} must be a Gateway API duration such as 30s`]
      case 'quantity': return typeof value === 'string' && QUANTITY.test(value) ? [] : [`${at} must be a quantity such as 20Gi`]
      case 'map':
        if (!isObject(value)) return [`${at} must be a map`]
        return Object.entries(value).filter(([, v]) => typeof v !== 'string').map(([k]) => `${at}.${k} must be a string`)
    }
  }
  if (Array.isArray(shape)) {
    if (!Array.isArray(value)) return [`${at} must be a list`]
    return value.flatMap((v, i) => checkShape(v, shape[0], `${path}[${i}]`))
  }
  if ('enum' in shape && Array.isArray(shape.enum)) {
    return (shape.enum as unknown[]).includes(value) ? [] : [`${at} must be one of ${shape.enum.join(', ')} (is ${JSON.stringify(value)})`]
  }
  if (!isObject(value)) return [`${at} must be an object`]
  const fields = shape as Record<string, Shape>
  const problems: string[] = []
  const known = new Map(Object.entries(fields).map(([k, s]) => [k.replace(/!$/, ''), s]))
  for (const k of Object.keys(fields).filter((k) => k.endsWith('!'))) {
    if (!(k.slice(0, -1) in value)) problems.push(`${path ? path + '.' : ''}${k.slice(0, -1)} is required`)
  }
  for (const [k, v] of Object.entries(value)) {
    const s = known.get(k)
    const p = path ? `${path}.${k}` : k
    if (!s) problems.push(`unknown field ${p}`)
    else problems.push(...checkShape(v, s, p))
  }
  return problems
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Cross-object checks the shapes cannot see: an HTTPRoute's backends and parents exist. */
export function checkRoutes(objects: K8sObject[]): string[] {
  const problems: string[] = []
  for (const r of objects.filter((o) => o.kind === 'HTTPRoute')) {
    for (const rule of r.spec?.rules ?? []) {
      for (const b of rule.backendRefs ?? []) {
        if ((b.kind ?? 'Service') !== 'Service' || b.namespace) continue
        const svc = objects.find((o) => o.kind === 'Service' && o.metadata.name === b.name)
        if (!svc) problems.push(`HTTPRoute/${r.metadata.name}: backend Service ${b.name} is not rendered`)
        else if (!svc.spec.ports.some((p: { port: number }) => p.port === b.port)) problems.push(`HTTPRoute/${r.metadata.name}: Service ${b.name} has no port ${b.port}`)
      }
    }
    for (const p of r.spec?.parentRefs ?? []) {
      const gw = objects.find((o) => o.kind === 'Gateway' && o.metadata.name === p.name)
      if (gw && p.sectionName && !gw.spec.listeners.some((l: { name: string }) => l.name === p.sectionName)) {
        problems.push(`HTTPRoute/${r.metadata.name}: Gateway ${p.name} has no listener ${p.sectionName}`)
      }
    }
  }
  return problems
}
