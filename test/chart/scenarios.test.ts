// Every scenario of the chart, rendered once per helm version (v4 and v3, concurrently), then held to
// the offline schemas, the production policy and the intended network edges.
import { beforeAll, describe, expect, it } from 'vitest'
import { HELM_VERSIONS, NAMESPACE, findObject, objectId, renderChart, type HelmVersion, type K8sObject } from '../helpers/k8s-render.ts'
import { validateObjects } from '../helpers/k8s-validate.ts'
import { checkRoutes } from '../helpers/k8s-crd-shapes.ts'
import { checkAll, podSources } from '../helpers/k8s-policy.ts'
import { reachability, releaseEndpoints } from '../helpers/k8s-netpol.ts'
import { SCENARIOS, intendedEdges, scenarioFile, surroundings, type Scenario } from './scenarios.ts'

const rendered = new Map<string, K8sObject[]>()
const key = (v: HelmVersion, s: Scenario) => `${v}:${s.name}`
const objects = (v: HelmVersion, s: Scenario) => rendered.get(key(v, s))!

/** Run async jobs at most `limit` at a time (other suites share the two cores). */
async function pool<T>(jobs: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const out: T[] = new Array(jobs.length)
  let next = 0
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < jobs.length) { const i = next++; out[i] = await jobs[i]() }
  }))
  return out
}

beforeAll(async () => {
  const jobs = HELM_VERSIONS.flatMap((v) => SCENARIOS.map((s) => async () => {
    rendered.set(key(v, s), await renderChart(v, { valuesFiles: [scenarioFile(s)] }))
  }))
  await pool(jobs, 4)
})

// Random secrets and the checksums over them differ between two renders; nothing else may.
function normalized(objs: K8sObject[]): unknown[] {
  return objs.map((o) => {
    const c = structuredClone(o)
    if (c.kind === 'Secret') c.data = Object.fromEntries(Object.keys(c.data ?? {}).map((k) => [k, '<value>']))
    const ann = podSources([c])[0]?.pod.metadata as { annotations?: Record<string, string> } | undefined
    if (ann?.annotations?.['checksum/secrets']) ann.annotations['checksum/secrets'] = '<sum>'
    return c
  }).sort((a, b) => objectId(a as K8sObject).localeCompare(objectId(b as K8sObject)))
}

const env = (c: { env?: { name: string; value?: string; valueFrom?: any }[] }, name: string) => c.env?.find((e) => e.name === name)
const container = (objs: K8sObject[], kind: string, name: string) => findObject(objs, kind, name)!.spec.template.spec.containers[0]

describe.each(SCENARIOS)('scenario $name', (s) => {
  it('renders the same objects with helm v4 and helm v3', () => {
    expect(normalized(objects('v3', s))).toEqual(normalized(objects('v4', s)))
  })

  it.each(HELM_VERSIONS)('every object validates offline and has no unknown field (helm %s)', async (v) => {
    const objs = objects(v, s)
    expect(objs.length).toBeGreaterThan(3)
    expect([...(await validateObjects(objs)), ...checkRoutes(objs)]).toEqual([])
  })

  it('passes the production policy: PSS restricted, resources, probes, selectors, HPA, PDB, GPU rules, pinned images', () => {
    expect(checkAll(objects('v4', s), { writableRoot: ['neo4j'], tokenAllowed: ['backup'] })).toEqual([])
  })

  it('network policies allow exactly the intended traffic', () => {
    const objs = objects('v4', s)
    const release = releaseEndpoints(objs, NAMESPACE)
    expect(release.map((e) => e.name).sort()).toEqual([...s.intent.pods].sort())
    const names = new Set(release.map((e) => e.name))
    const computed = reachability(objs.filter((o) => o.kind === 'NetworkPolicy'), [...release, ...surroundings()])
      .filter((e) => { const [src, dst] = e.split(/ -> |:/); return names.has(src) || names.has(dst) })
    const intended = intendedEdges(s.intent)
    expect({ missing: intended.filter((e) => !computed.includes(e)), extra: computed.filter((e) => !intended.includes(e)) })
      .toEqual({ missing: [], extra: [] })
  })
})

describe('what each scenario renders', () => {
  const get = (name: string) => objects('v4', SCENARIOS.find((s) => s.name === name)!)

  it('minimal: only Open WebUI (and its OTel collector and prober), on SQLite, talking to the external LLM', () => {
    const objs = get('minimal')
    expect(objs.filter((o) => ['Deployment', 'StatefulSet', 'CronJob'].includes(o.kind)).map(objectId).sort())
      .toEqual(['Deployment/owp-blackbox-exporter', 'Deployment/owp-openwebui', 'Deployment/owp-otel-collector'])
    const c = container(objs, 'Deployment', 'owp-openwebui')
    expect(env(c, 'OPENAI_API_BASE_URL')?.value).toBe('https://llm.example.com/v1')
    expect(env(c, 'DATABASE_URL')).toBeUndefined()
    expect(env(c, 'VECTOR_DB')).toBeUndefined()
    expect(env(c, 'OPENAI_API_KEY')?.valueFrom.secretKeyRef).toEqual({ name: 'owp-llm', key: 'api-key' })
  })

  it('full: Open WebUI is wired to every component through Secrets and in-cluster URLs', () => {
    const objs = get('full')
    const c = container(objs, 'Deployment', 'owp-openwebui')
    expect(env(c, 'DATABASE_URL')?.value).toBe('postgresql://openwebui:$(POSTGRES_PASSWORD)@owp-postgres:5432/openwebui')
    expect(env(c, 'POSTGRES_PASSWORD')?.valueFrom.secretKeyRef).toEqual({ name: 'owp-postgres', key: 'password' })
    expect(env(c, 'REDIS_URL')?.value).toBe('redis://:$(REDIS_PASSWORD)@owp-redis:6379/0')
    expect(env(c, 'WEBSOCKET_MANAGER')?.value).toBe('redis')
    expect(env(c, 'WEBSOCKET_REDIS_URL')?.value).toBe(env(c, 'REDIS_URL')?.value)
    expect(env(c, 'VECTOR_DB')?.value).toBe('qdrant')
    expect(env(c, 'QDRANT_URI')?.value).toBe('http://owp-qdrant:6333')
    expect(env(c, 'QDRANT_API_KEY')?.valueFrom.secretKeyRef).toEqual({ name: 'owp-qdrant', key: 'api-key' })
    expect(env(c, 'OPENAI_API_BASE_URL')?.value).toBe('http://owp-lightllm:8000/v1')
    expect(env(c, 'WEBUI_SECRET_KEY')?.valueFrom.secretKeyRef).toEqual({ name: 'owp-openwebui', key: 'webui-secret-key' })
    expect(env(c, 'ENABLE_OTEL')?.value).toBe('true')
    expect(env(c, 'AUDIT_LOG_LEVEL')?.value).toBe('NONE')
    // kubelet expands $(VAR) only from variables defined earlier in the list
    const names = c.env.map((e: { name: string }) => e.name)
    expect(names.indexOf('POSTGRES_PASSWORD')).toBeLessThan(names.indexOf('DATABASE_URL'))
    expect(names.indexOf('REDIS_PASSWORD')).toBeLessThan(names.indexOf('REDIS_URL'))
    // the root filesystem stays read-only: data on the PVC, /tmp on an emptyDir
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true)
    expect(c.volumeMounts.map((m: { mountPath: string }) => m.mountPath).sort()).toEqual(['/app/backend/data', '/tmp'])
  })

  it('full: four backup CronJobs run the ops image against their store, with least-privilege RBAC', () => {
    const objs = get('full')
    const jobs = objs.filter((o) => o.kind === 'CronJob')
    expect(jobs.map((j) => j.metadata.name).sort()).toEqual(['owp-backup-neo4j', 'owp-backup-postgres', 'owp-backup-qdrant', 'owp-backup-redis'])
    for (const j of jobs) {
      const store = j.metadata.name.replace('owp-backup-', '')
      expect(j.spec).toMatchObject({ concurrencyPolicy: 'Forbid', timeZone: 'Etc/UTC', startingDeadlineSeconds: 600, successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 3 })
      expect(j.spec.jobTemplate.spec).toMatchObject({ backoffLimit: 1, activeDeadlineSeconds: 3600 })
      const pod = j.spec.jobTemplate.spec.template.spec
      expect(pod.containers[0].image).toBe('ghcr.io/openwebui-platform/ops:0.1.0')
      expect(pod.containers[0].command).toEqual(['tsx', 'scripts/backup.ts', '--store', store, '--target', 'k8s', '--dest', '/backups',
        '--encrypt', 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p', ...(store === 'neo4j' ? ['--maintenance-window'] : []), '--json', '--yes'])
      expect(pod.serviceAccountName).toBe(j.metadata.name)
      expect(pod.automountServiceAccountToken).toBe(true)
      expect(pod.volumes.find((v: { name: string }) => v.name === 'backups').persistentVolumeClaim.claimName).toBe('owp-backup')
      expect(env(pod.containers[0], 'K8S_NAMESPACE')?.value).toBe(NAMESPACE)
      expect(env(pod.containers[0], 'HELM_RELEASE')?.value).toBe('owp')
      expect(findObject(objs, 'RoleBinding', j.metadata.name)!.subjects).toEqual([{ kind: 'ServiceAccount', name: j.metadata.name, namespace: NAMESPACE }])
    }
    expect(new Set(jobs.map((j) => j.spec.schedule)).size).toBe(4)
    const execOnly = [
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
      { apiGroups: [''], resources: ['pods/exec'], verbs: ['create'] },
    ]
    for (const store of ['postgres', 'redis', 'qdrant']) expect(findObject(objs, 'Role', `owp-backup-${store}`)!.rules).toEqual(execOnly)
    // neo4j community dumps offline: the job scales the StatefulSet down and runs a maintenance pod
    expect(findObject(objs, 'Role', 'owp-backup-neo4j')!.rules).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch', 'create', 'delete'] },
      { apiGroups: [''], resources: ['pods/exec'], verbs: ['create'] },
      { apiGroups: ['apps'], resources: ['statefulsets'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['apps'], resources: ['statefulsets/scale'], verbs: ['get', 'patch', 'update'] },
    ])
    expect(objs.filter((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding')).toEqual([])
    expect(objs.filter((o) => o.kind === 'Role').every((r) => r.metadata.name.startsWith('owp-backup-'))).toBe(true)
    const qdrant = findObject(objs, 'CronJob', 'owp-backup-qdrant')!.spec.jobTemplate.spec.template.spec.containers[0]
    expect(env(qdrant, 'QDRANT_URL')?.value).toBe('http://owp-qdrant:6333')
    expect(env(qdrant, 'QDRANT_API_KEY')?.valueFrom.secretKeyRef).toEqual({ name: 'owp-qdrant', key: 'api-key' })
  })

  it('full: images are exactly the pinned table shared with compose', () => {
    const images = new Set(podSources(get('full')).flatMap((p) => [...(p.pod.spec.initContainers ?? []), ...p.pod.spec.containers].map((c: { image: string }) => c.image)))
    expect([...images].sort()).toEqual([
      'danihodovic/celery-exporter:0.10.14',
      'ghcr.io/modeltc/lightllm:v1.2.0',
      'ghcr.io/open-webui/open-webui:v0.8.11',
      'ghcr.io/openwebui-platform/graphrag-processor:0.1.0',
      'ghcr.io/openwebui-platform/mcp-server:0.1.0',
      'ghcr.io/openwebui-platform/ops:0.1.0',
      'ghcr.io/openwebui-platform/postgres:0.1.0',
      'neo4j:5.26.12-community',
      'nginxinc/nginx-unprivileged:1.28.0-alpine',
      'oliver006/redis_exporter:v1.76.0',
      'otel/opentelemetry-collector-contrib:0.135.0',
      'prom/blackbox-exporter:v0.27.0',
      'prom/pushgateway:v1.11.1',
      'qdrant/qdrant:v1.15.4',
      'quay.io/prometheuscommunity/postgres-exporter:v0.17.1',
      'redis:7.4.6',
    ])
  })

  it('full: the Ingress serves the UI over TLS from a cert-manager Certificate', () => {
    const objs = get('full')
    const ing = findObject(objs, 'Ingress', 'owp-openwebui')!
    const cert = findObject(objs, 'Certificate', 'owp-openwebui')!
    expect(ing.spec.ingressClassName).toBe('traefik')
    expect(ing.spec.tls).toEqual([{ hosts: ['chat.example.com'], secretName: 'owp-tls' }])
    expect(cert.spec).toMatchObject({ secretName: 'owp-tls', dnsNames: ['chat.example.com'], issuerRef: { name: 'letsencrypt-prod', kind: 'ClusterIssuer' } })
  })

  it('helm test checks the health endpoint of every enabled service', () => {
    const names = (n: string) => findObject(get(n), 'Pod', 'owp-test')!.spec.containers.map((c: { name: string }) => c.name)
    expect(names('full')).toEqual(['openwebui', 'lightllm', 'graphrag-processor', 'mcp-server', 'qdrant', 'neo4j',
      'otel-collector', 'blackbox-exporter', 'pushgateway', 'postgres', 'redis'])
    expect(names('minimal')).toEqual(['openwebui', 'otel-collector', 'blackbox-exporter'])
    expect(names('external')).toEqual(['openwebui', 'lightllm', 'graphrag-processor', 'mcp-server', 'blackbox-exporter'])
    const test = findObject(get('full'), 'Pod', 'owp-test')!
    expect(test.metadata.annotations['helm.sh/hook']).toBe('test')
    expect(test.spec.containers[0].command[2]).toContain('http://owp-openwebui:8080/health')
  })

  it('an ingress-nginx class gets the streaming annotations; Traefik needs none', async () => {
    const ingress = async (set: string[]) => findObject(await renderChart('v4', { set }), 'Ingress', 'owp-openwebui')!.metadata.annotations
    expect(get('full').find((o) => o.kind === 'Ingress')!.metadata.annotations).toBeUndefined()
    expect(await ingress(['ingress.className=nginx', 'ingress.annotations.nginx\\.ingress\\.kubernetes\\.io/proxy-body-size=1g'])).toMatchObject({
      'nginx.ingress.kubernetes.io/proxy-buffering': 'off', 'nginx.ingress.kubernetes.io/proxy-read-timeout': '3600', 'nginx.ingress.kubernetes.io/proxy-body-size': '1g',
    })
  })

  it('full: ServiceMonitors carry the release label and point at named Service ports', () => {
    const objs = get('full')
    const sms = objs.filter((o) => o.kind === 'ServiceMonitor')
    expect(sms.map((o) => o.metadata.name).sort()).toEqual(['owp-blackbox-exporter', 'owp-celery-exporter', 'owp-graphrag-processor', 'owp-lightllm',
      'owp-mcp-server', 'owp-otel-collector', 'owp-postgres', 'owp-pushgateway', 'owp-qdrant', 'owp-redis'])
    for (const sm of sms) {
      expect(sm.metadata.labels.release).toBe('kube-prometheus-stack')
      const svc = objs.find((o) => o.kind === 'Service' && !o.spec.clusterIP && Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => o.metadata.labels[k] === v))
      expect(svc, sm.metadata.name).toBeDefined()
      expect(svc!.spec.ports.map((p: { name: string }) => p.name)).toContain(sm.spec.endpoints[0].port)
    }
  })

  it('ha: Open WebUI scales by HPA on S3 storage; PostgreSQL is a CloudNativePG cluster', () => {
    const objs = get('ha')
    const d = findObject(objs, 'Deployment', 'owp-openwebui')!
    expect(d.spec.replicas).toBeUndefined()
    expect(findObject(objs, 'HorizontalPodAutoscaler', 'owp-openwebui')!.spec).toMatchObject({ minReplicas: 3, maxReplicas: 10 })
    expect(findObject(objs, 'PodDisruptionBudget', 'owp-openwebui')!.spec.maxUnavailable).toBe(1)
    expect(d.spec.template.spec.topologySpreadConstraints[0].labelSelector.matchLabels['app.kubernetes.io/component']).toBe('openwebui')
    const c = d.spec.template.spec.containers[0]
    expect(env(c, 'STORAGE_PROVIDER')?.value).toBe('s3')
    // S3 keys from a Secret under the key names it has; the audit log level as set
    expect(env(c, 'S3_ACCESS_KEY_ID')?.valueFrom.secretKeyRef).toEqual({ name: 'owp-uploads-s3', key: 'AWS_ACCESS_KEY_ID' })
    expect(env(c, 'S3_SECRET_ACCESS_KEY')?.valueFrom.secretKeyRef).toEqual({ name: 'owp-uploads-s3', key: 'AWS_SECRET_ACCESS_KEY' })
    expect(env(c, 'AUDIT_LOG_LEVEL')?.value).toBe('METADATA')
    expect(findObject(objs, 'Cluster', 'owp-postgres')!.spec.backup.barmanObjectStore.s3Credentials).toEqual({
      accessKeyId: { name: 'owp-backup-s3', key: 'AWS_ACCESS_KEY_ID' }, secretAccessKey: { name: 'owp-backup-s3', key: 'AWS_SECRET_ACCESS_KEY' },
    })
    // through PgBouncer (the CloudNativePG Pooler) with the Cluster's app credentials
    expect(env(c, 'DATABASE_URL')?.value).toBe('postgresql://openwebui:$(POSTGRES_PASSWORD)@owp-postgres-pooler-rw:5432/openwebui')
    expect(env(c, 'POSTGRES_PASSWORD')?.valueFrom.secretKeyRef).toEqual({ name: 'owp-postgres-app', key: 'password' })
    expect(findObject(objs, 'Cluster', 'owp-postgres')!.spec).toMatchObject({ instances: 3, bootstrap: { initdb: { database: 'openwebui', owner: 'openwebui' } } })
    expect(findObject(objs, 'StatefulSet', 'owp-postgres')).toBeUndefined()
    expect(objs.filter((o) => o.kind === 'CronJob').map((o) => o.metadata.name).sort()).toEqual(['owp-backup-neo4j', 'owp-backup-qdrant', 'owp-backup-redis'])
  })

  it('ha: a PgBouncer Pooler in front of the primary, sized from the replica and worker counts; settings from the memory limit', () => {
    const objs = get('ha')
    const pooler = findObject(objs, 'Pooler', 'owp-postgres-pooler-rw')!
    // clients at the most replicas: Open WebUI 10 x 15 + GraphRAG 6 x 10 + Celery 10 pods x 2 processes x 2 = 250;
    // twice that per PgBouncer pod, and ceil(250 / 2 / 3 pods) = 42 server connections each (3 x 42 <= 300 - 20)
    expect(pooler.spec).toMatchObject({
      cluster: { name: 'owp-postgres' }, instances: 3, type: 'rw',
      pgbouncer: { poolMode: 'transaction', parameters: { max_client_conn: '500', default_pool_size: '42', max_prepared_statements: '200' } },
      monitoring: { enablePodMonitor: true },
    })
    expect(pooler.spec.template.metadata.labels['app.kubernetes.io/component']).toBe('pgbouncer')
    for (const d of ['owp-graphrag-processor', 'owp-celery-worker']) {
      expect(env(container(objs, 'Deployment', d), 'DATABASE_URL')?.value ?? findObject(objs, 'ConfigMap', d)?.data?.DATABASE_URL).toMatch(/@owp-postgres-pooler-rw:5432\//)
    }
    // an 8Gi limit: a quarter for shared_buffers, three quarters as effective_cache_size
    expect(findObject(objs, 'Cluster', 'owp-postgres')!.spec.postgresql.parameters).toMatchObject({
      max_connections: '300', shared_buffers: '2048MB', effective_cache_size: '6144MB', maintenance_work_mem: '512MB',
    })
  })

  it('cnpg-recovery: the Pooler follows the recovered Cluster once it is active, under the same Service name', () => {
    const pooler = findObject(get('cnpg-recovery'), 'Pooler', 'owp-postgres-pooler-rw')!
    expect(pooler.spec.cluster.name).toBe('owp-postgres-pitr-20261201t101500z')
  })

  it('full: the internal PostgreSQL gets the settings compose gives it for the same 2Gi limit', () => {
    const c = findObject(get('full'), 'StatefulSet', 'owp-postgres')!.spec.template.spec.containers[0]
    expect(c.args).toEqual(['postgres', '-c', 'effective_cache_size=1536MB', '-c', 'log_min_duration_statement=1000', '-c', 'maintenance_work_mem=128MB',
      '-c', 'max_connections=200', '-c', 'shared_buffers=512MB'])
  })

  it('external: no data-store pods; clients use the external hosts with TLS', () => {
    const objs = get('external')
    expect(objs.filter((o) => o.kind === 'StatefulSet')).toEqual([])
    const c = container(objs, 'Deployment', 'owp-graphrag-processor')
    expect(env(c, 'DATABASE_URL')?.value).toBe('postgresql://openwebui:$(POSTGRES_PASSWORD)@pg.db.example.com:5432/openwebui?sslmode=verify-full')
    expect(env(c, 'REDIS_URL')?.value).toBe('rediss://:$(REDIS_PASSWORD)@redis.db.example.com:6380/2')
    expect(env(c, 'POSTGRES_PASSWORD')?.valueFrom.secretKeyRef.name).toBe('owp-postgres-external')
    const cm = findObject(objs, 'ConfigMap', 'owp-graphrag-processor')!
    expect(cm.data).toMatchObject({ QDRANT_URL: 'https://qdrant.db.example.com:6333', NEO4J_URI: 'neo4j+s://neo4j.db.example.com:7687' })
    expect(objs.filter((o) => o.kind === 'Secret').map((o) => o.metadata.name).sort()).toEqual(['owp-graphrag-processor', 'owp-llm', 'owp-openwebui'])
  })

  it('gateway: a Gateway and HTTPRoutes replace the Ingress, with no request timeout for streams', () => {
    const objs = get('gateway')
    expect(objs.filter((o) => o.kind === 'Ingress')).toEqual([])
    const gw = findObject(objs, 'Gateway', 'owp-openwebui')!
    expect(gw.spec.gatewayClassName).toBe('traefik')
    expect(gw.spec.listeners.find((l: { name: string }) => l.name === 'https').tls.certificateRefs).toEqual([{ kind: 'Secret', name: 'owp-tls' }])
    const route = findObject(objs, 'HTTPRoute', 'owp-openwebui')!
    expect(route.spec.parentRefs).toEqual([{ name: 'owp-openwebui', sectionName: 'https' }])
    expect(route.spec.rules[0].timeouts).toEqual({ request: '0s' })
    expect(findObject(objs, 'HTTPRoute', 'owp-openwebui-redirect')!.spec.rules[0].filters[0].requestRedirect).toEqual({ scheme: 'https', statusCode: 301 })
  })

  it('lightllm-tp2: two GPUs, --tp 2, a 32Gi memory /dev/shm, Recreate, a startup window of 20 minutes', () => {
    const objs = get('lightllm-tp2')
    const d = findObject(objs, 'Deployment', 'owp-lightllm')!
    const c = d.spec.template.spec.containers[0]
    expect(c.resources.limits['nvidia.com/gpu']).toBe(2)
    expect(c.command.slice(c.command.indexOf('--tp'), c.command.indexOf('--tp') + 2)).toEqual(['--tp', '2'])
    expect(c.command).toEqual(expect.arrayContaining(['--model_dir', '/models/qwen2.5-32b-instruct']))
    expect(d.spec.template.spec.volumes.find((v: { name: string }) => v.name === 'dshm').emptyDir).toEqual({ medium: 'Memory', sizeLimit: '32Gi' })
    expect(d.spec.strategy.type).toBe('Recreate')
    expect(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold).toBe(1200)
    expect(d.spec.template.spec.runtimeClassName).toBe('nvidia')
    expect(findObject(objs, 'PersistentVolumeClaim', 'owp-lightllm-models')!.metadata.annotations['helm.sh/resource-policy']).toBe('keep')
  })
})
