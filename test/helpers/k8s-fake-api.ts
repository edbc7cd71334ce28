// A minimal Kubernetes API server on 127.0.0.1 for `helm template --dry-run=server`, which is the only
// way to exercise the chart's `lookup` without a cluster: it answers discovery (/version, /api, /apis)
// and GET of Secrets from an in-memory store, and 404 for everything else (nothing else exists yet).
import { createServer, type Server } from 'node:http'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { K8sObject } from './k8s-render.ts'

const resource = (name: string, kind: string, namespaced = true) => ({ name, singularName: '', namespaced, kind, verbs: ['get', 'list', 'create', 'update', 'patch', 'delete', 'watch'] })

const GROUPS: Record<string, Record<string, ReturnType<typeof resource>[]>> = {
  '': { v1: [resource('secrets', 'Secret'), resource('services', 'Service'), resource('configmaps', 'ConfigMap'), resource('serviceaccounts', 'ServiceAccount'),
    resource('persistentvolumeclaims', 'PersistentVolumeClaim'), resource('pods', 'Pod'), resource('namespaces', 'Namespace', false)] },
  apps: { v1: [resource('deployments', 'Deployment'), resource('statefulsets', 'StatefulSet')] },
  batch: { v1: [resource('cronjobs', 'CronJob'), resource('jobs', 'Job')] },
  autoscaling: { v2: [resource('horizontalpodautoscalers', 'HorizontalPodAutoscaler')] },
  policy: { v1: [resource('poddisruptionbudgets', 'PodDisruptionBudget')] },
  'networking.k8s.io': { v1: [resource('networkpolicies', 'NetworkPolicy'), resource('ingresses', 'Ingress')] },
  'rbac.authorization.k8s.io': { v1: [resource('roles', 'Role'), resource('rolebindings', 'RoleBinding')] },
}

export interface FakeApi {
  url: string
  kubeconfig: string
  /** Store a Secret as a previous `helm install` of `release` would have left it. */
  putSecret(secret: K8sObject, release: string): void
  requests: string[]
  close(): Promise<void>
}

export async function startFakeApi(dir: string, namespace: string): Promise<FakeApi> {
  const secrets = new Map<string, K8sObject>()
  const requests: string[] = []
  const notFound = { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 }
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://fake').pathname
    requests.push(`${req.method} ${path}`)
    const send = (code: number, body: unknown) => { res.writeHead(code, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)) }
    if (path === '/version') return send(200, { major: '1', minor: '31', gitVersion: 'v1.31.0', platform: 'linux/amd64' })
    if (path === '/api') return send(200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] })
    if (path === '/apis') {
      return send(200, {
        kind: 'APIGroupList', apiVersion: 'v1',
        groups: Object.entries(GROUPS).filter(([g]) => g).map(([g, vs]) => {
          const versions = Object.keys(vs).map((v) => ({ groupVersion: `${g}/${v}`, version: v }))
          return { name: g, versions, preferredVersion: versions[0] }
        }),
      })
    }
    const gv = path === '/api/v1' ? ['', 'v1'] : /^\/apis\/([^/]+)\/([^/]+)$/.exec(path)?.slice(1)
    if (gv) {
      const list = GROUPS[gv[0]]?.[gv[1]]
      return list ? send(200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv[0] ? `${gv[0]}/${gv[1]}` : 'v1', resources: list }) : send(404, notFound)
    }
    const one = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/.exec(path)
    if (one && req.method === 'GET') {
      const s = one[1] === namespace ? secrets.get(one[2]) : undefined
      return s ? send(200, s) : send(404, notFound)
    }
    if (/^\/api\/v1\/namespaces\/[^/]+\/secrets$/.test(path) && req.method === 'GET') {
      return send(200, { kind: 'SecretList', apiVersion: 'v1', metadata: {}, items: [] }) // helm's release storage: no releases
    }
    send(404, notFound)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  const url = `http://127.0.0.1:${port}`
  const kubeconfig = join(dir, 'kubeconfig')
  writeFileSync(kubeconfig, [
    'apiVersion: v1', 'kind: Config',
    `clusters: [{name: fake, cluster: {server: "${url}"}}]`,
    'users: [{name: fake, user: {token: fake-token}}]',
    `contexts: [{name: fake, context: {cluster: fake, user: fake, namespace: ${namespace}}}]`,
    'current-context: fake', '',
  ].join('\n'), { mode: 0o600 })
  return {
    url, kubeconfig, requests,
    putSecret(secret, release) {
      const s = structuredClone(secret)
      s.metadata.namespace = namespace
      s.metadata.labels = { ...s.metadata.labels, 'app.kubernetes.io/managed-by': 'Helm' }
      s.metadata.annotations = { ...s.metadata.annotations, 'meta.helm.sh/release-name': release, 'meta.helm.sh/release-namespace': namespace }
      secrets.set(s.metadata.name, s)
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
