// Policy over rendered objects: what a reviewer of a production chart checks by hand. Each check
// returns violations as "<Kind>/<name>: what is wrong"; an empty list means the objects pass.
import type { K8sObject } from './k8s-render.ts'

export interface PodSource { owner: K8sObject; pod: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: any } }

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'Pod', 'ReplicaSet'])
const id = (o: K8sObject) => `${o.kind}/${o.metadata.name}`

/** Every pod template of the objects, with its owner. */
export function podSources(objects: K8sObject[]): PodSource[] {
  const out: PodSource[] = []
  for (const o of objects) {
    if (!WORKLOAD_KINDS.has(o.kind)) continue
    if (o.kind === 'Pod') out.push({ owner: o, pod: { metadata: { labels: o.metadata.labels, annotations: o.metadata.annotations }, spec: o.spec } })
    else if (o.kind === 'CronJob') out.push({ owner: o, pod: o.spec.jobTemplate.spec.template })
    else out.push({ owner: o, pod: o.spec.template })
  }
  return out
}

function containersOf(spec: any): { c: any; init: boolean }[] {
  return [...(spec.initContainers ?? []).map((c: any) => ({ c, init: true })), ...(spec.containers ?? []).map((c: any) => ({ c, init: false }))]
}

const RESTRICTED_VOLUMES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'])

/** Pod Security Standards "restricted", on every container including init containers. */
export function checkPodSecurity(objects: K8sObject[], opts: { writableRoot?: string[] } = {}): string[] {
  const problems: string[] = []
  for (const { owner, pod } of podSources(objects)) {
    const spec = pod.spec
    const psc = spec.securityContext ?? {}
    for (const f of ['hostNetwork', 'hostPID', 'hostIPC', 'hostUsers'] as const) {
      if (f === 'hostUsers' ? spec[f] === true : spec[f]) problems.push(`${id(owner)}: ${f} is set`)
    }
    for (const v of spec.volumes ?? []) {
      const type = Object.keys(v).find((k) => k !== 'name')
      if (!type || !RESTRICTED_VOLUMES.has(type)) problems.push(`${id(owner)}: volume ${v.name} is of type ${type}, not allowed by PSS restricted`)
    }
    if (psc.runAsUser === 0) problems.push(`${id(owner)}: pod runAsUser is 0`)
    for (const { c, init } of containersOf(spec)) {
      const where = `${id(owner)} ${init ? 'initContainer' : 'container'} ${c.name}`
      const sc = c.securityContext ?? {}
      if ((sc.runAsNonRoot ?? psc.runAsNonRoot) !== true) problems.push(`${where}: runAsNonRoot is not true`)
      const uid = sc.runAsUser ?? psc.runAsUser
      if (uid === 0 || uid === undefined) problems.push(`${where}: runAsUser must be a non-zero uid (is ${uid})`)
      if (sc.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation is not false`)
      if (sc.privileged) problems.push(`${where}: privileged`)
      const drop: string[] = sc.capabilities?.drop ?? []
      if (!drop.includes('ALL')) problems.push(`${where}: capabilities.drop does not include ALL`)
      const add: string[] = sc.capabilities?.add ?? []
      if (add.some((a) => a !== 'NET_BIND_SERVICE')) problems.push(`${where}: capabilities.add ${add.join(',')}`)
      const seccomp = (sc.seccompProfile ?? psc.seccompProfile)?.type
      if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') problems.push(`${where}: seccompProfile is ${seccomp ?? 'unset'}`)
      const component = pod.metadata?.labels?.['app.kubernetes.io/component'] ?? ''
      if (sc.readOnlyRootFilesystem !== true && !(opts.writableRoot ?? []).includes(component)) {
        problems.push(`${where}: readOnlyRootFilesystem is not true`)
      }
      for (const p of c.ports ?? []) if (p.hostPort) problems.push(`${where}: hostPort ${p.hostPort}`)
    }
  }
  return problems
}

/** cpu and memory requests and limits on every container. */
export function checkResources(objects: K8sObject[]): string[] {
  const problems: string[] = []
  for (const { owner, pod } of podSources(objects)) {
    for (const { c } of containersOf(pod.spec)) {
      for (const kind of ['requests', 'limits'] as const) {
        for (const r of ['cpu', 'memory']) {
          if (c.resources?.[kind]?.[r] === undefined) problems.push(`${id(owner)} container ${c.name}: no ${kind}.${r}`)
        }
      }
    }
  }
  return problems
}

/** Long-running containers have a liveness probe; those behind a Service also a readiness probe. */
export function checkProbes(objects: K8sObject[]): string[] {
  const problems: string[] = []
  const services = objects.filter((o) => o.kind === 'Service' && o.spec?.selector)
  for (const { owner, pod } of podSources(objects)) {
    if (['Job', 'CronJob', 'Pod'].includes(owner.kind)) continue
    const served = services.some((s) => selects(s.spec.selector, pod.metadata?.labels ?? {}))
    for (const c of pod.spec.containers ?? []) {
      if (!c.livenessProbe) problems.push(`${id(owner)} container ${c.name}: no livenessProbe`)
      if (served && !c.readinessProbe) problems.push(`${id(owner)} container ${c.name}: behind a Service but no readinessProbe`)
      for (const p of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
        const port = c[p]?.httpGet?.port ?? c[p]?.tcpSocket?.port
        if (typeof port === 'string' && !(c.ports ?? []).some((x: any) => x.name === port)) {
          problems.push(`${id(owner)} container ${c.name}: ${p} uses port ${port}, which the container does not name`)
        }
      }
    }
  }
  return problems
}

/** No environment variable is defined twice in one container (the later one silently wins). */
export function checkDuplicateEnv(objects: K8sObject[]): string[] {
  const problems: string[] = []
  for (const { owner, pod } of podSources(objects)) {
    for (const { c } of containersOf(pod.spec)) {
      const seen = new Set<string>()
      for (const e of c.env ?? []) {
        if (seen.has(e.name)) problems.push(`${id(owner)} container ${c.name}: env ${e.name} is defined twice`)
        seen.add(e.name)
      }
    }
  }
  return problems
}

export function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v)
}

/** Every Service selects at least one rendered pod template, and its named targetPorts exist there. */
export function checkServices(objects: K8sObject[], opts: { externalPods?: Record<string, string>[] } = {}): string[] {
  const problems: string[] = []
  const pods = podSources(objects).filter((p) => !['Job', 'CronJob', 'Pod'].includes(p.owner.kind))
  for (const s of objects.filter((o) => o.kind === 'Service')) {
    if (!s.spec?.selector) { problems.push(`${id(s)}: no selector`); continue }
    const matched = pods.filter((p) => selects(s.spec.selector, p.pod.metadata?.labels ?? {}))
    if (!matched.length) {
      if (!(opts.externalPods ?? []).some((l) => selects(s.spec.selector, l))) problems.push(`${id(s)}: selects no pod`)
      continue
    }
    for (const port of s.spec.ports ?? []) {
      if (typeof port.targetPort !== 'string') continue
      const found = matched.some((p) => (p.pod.spec.containers ?? []).some((c: any) => (c.ports ?? []).some((cp: any) => cp.name === port.targetPort)))
      if (!found) problems.push(`${id(s)}: targetPort ${port.targetPort} is not a container port of the selected pods`)
    }
  }
  return problems
}

/** Every HPA targets a rendered workload, which then has no spec.replicas of its own. */
export function checkAutoscalers(objects: K8sObject[]): string[] {
  const problems: string[] = []
  for (const h of objects.filter((o) => o.kind === 'HorizontalPodAutoscaler')) {
    const ref = h.spec.scaleTargetRef
    const target = objects.find((o) => o.kind === ref.kind && o.metadata.name === ref.name)
    if (!target) { problems.push(`${id(h)}: target ${ref.kind}/${ref.name} is not rendered`); continue }
    if (target.spec.replicas !== undefined) problems.push(`${id(h)}: ${id(target)} sets spec.replicas, which fights the HPA`)
    if (!h.spec.behavior) problems.push(`${id(h)}: no behavior`)
    if (h.spec.minReplicas > h.spec.maxReplicas) problems.push(`${id(h)}: minReplicas > maxReplicas`)
  }
  return problems
}

/** A workload that runs more than one pod (or that an HPA owns) has a PDB selecting its pods. */
export function checkDisruptionBudgets(objects: K8sObject[]): string[] {
  const problems: string[] = []
  const pdbs = objects.filter((o) => o.kind === 'PodDisruptionBudget')
  for (const w of objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')) {
    const hpa = objects.find((o) => o.kind === 'HorizontalPodAutoscaler' && o.spec.scaleTargetRef.name === w.metadata.name)
    const replicas = hpa ? hpa.spec.minReplicas : (w.spec.replicas ?? 1)
    if (replicas <= 1 && !hpa) continue
    const labels = w.spec.template.metadata?.labels ?? {}
    if (!pdbs.some((p) => selects(p.spec.selector?.matchLabels ?? {}, labels))) problems.push(`${id(w)}: ${replicas} replicas but no PodDisruptionBudget`)
  }
  for (const p of pdbs) {
    const matched = podSources(objects).some((s) => selects(p.spec.selector?.matchLabels ?? {}, s.pod.metadata?.labels ?? {}))
    if (!matched) problems.push(`${id(p)}: selects no pod`)
  }
  return problems
}

/** Images are pinned: a tag that is not latest, or a digest. */
export function checkImages(objects: K8sObject[]): string[] {
  const problems: string[] = []
  for (const { owner, pod } of podSources(objects)) {
    for (const { c } of containersOf(pod.spec)) {
      const image: string = c.image ?? ''
      if (/@sha256:[a-f0-9]{64}$/.test(image)) continue
      const tag = /:([^/:@]+)$/.exec(image)?.[1]
      if (!tag || tag === 'latest') problems.push(`${id(owner)} container ${c.name}: image ${image} floats (no tag, or latest)`)
    }
  }
  return problems
}

/** Only the allowed workloads mount an API token; the rest set automountServiceAccountToken false. */
export function checkServiceAccountTokens(objects: K8sObject[], opts: { allowed?: string[] } = {}): string[] {
  const problems: string[] = []
  for (const { owner, pod } of podSources(objects)) {
    const component = pod.metadata?.labels?.['app.kubernetes.io/component'] ?? ''
    if (pod.spec.automountServiceAccountToken !== false && !(opts.allowed ?? []).includes(component)) {
      problems.push(`${id(owner)}: automountServiceAccountToken is not false`)
    }
  }
  for (const sa of objects.filter((o) => o.kind === 'ServiceAccount')) {
    if (sa.automountServiceAccountToken !== false) problems.push(`${id(sa)}: automountServiceAccountToken is not false`)
  }
  return problems
}

const SECRET_WORDS = /(password|passwd|secret|api[_-]?key|token|credential)/i

/** Credentials live in Secrets: no ConfigMap key or plain env value looks like one. */
export function checkNoSecretsInPlainText(objects: K8sObject[]): string[] {
  const problems: string[] = []
  for (const cm of objects.filter((o) => o.kind === 'ConfigMap' && !o.metadata.labels?.grafana_dashboard)) {
    for (const k of Object.keys(cm.data ?? {})) if (SECRET_WORDS.test(k)) problems.push(`${id(cm)}: key ${k} looks like a credential in a ConfigMap`)
  }
  for (const { owner, pod } of podSources(objects)) {
    for (const { c } of containersOf(pod.spec)) {
      for (const e of c.env ?? []) {
        // a value that only references another variable ($(X)) carries no secret itself
        if (SECRET_WORDS.test(e.name) && typeof e.value === 'string' && e.value !== '' && !/^\$\([A-Z_]+\)$/.test(e.value)) {
          problems.push(`${id(owner)} container ${c.name}: env ${e.name} has a literal value`)
        }
      }
    }
  }
  return problems
}

/** The LightLLM rules: GPUs equal to --tp, /dev/shm in memory with a size, long startup, Recreate, kept model PVC. */
export function checkLightLLM(objects: K8sObject[], opts: { minStartupSeconds?: number } = {}): string[] {
  const problems: string[] = []
  for (const d of objects.filter((o) => o.kind === 'Deployment' && o.spec.template.metadata?.labels?.['app.kubernetes.io/component'] === 'lightllm')) {
    const spec = d.spec.template.spec
    const c = spec.containers.find((x: any) => (x.command ?? []).includes('lightllm.server.api_server'))
    if (!c) { problems.push(`${id(d)}: no container runs lightllm.server.api_server`); continue }
    const argv: string[] = [...(c.command ?? []), ...(c.args ?? [])]
    const flag = (f: string) => { const i = argv.indexOf(f); return i >= 0 ? argv[i + 1] : undefined }
    for (const f of ['--model_dir', '--host', '--port', '--tp']) if (flag(f) === undefined) problems.push(`${id(d)}: command lacks ${f}`)
    if (flag('--host') !== '0.0.0.0') problems.push(`${id(d)}: --host is ${flag('--host')}, not 0.0.0.0`)
    const gpus = c.resources?.limits?.['nvidia.com/gpu']
    if (String(gpus) !== flag('--tp')) problems.push(`${id(d)}: nvidia.com/gpu limit ${gpus} differs from --tp ${flag('--tp')}`)
    const port = (c.ports ?? []).find((p: any) => p.name === 'http')?.containerPort
    if (String(port) !== flag('--port')) problems.push(`${id(d)}: containerPort ${port} differs from --port ${flag('--port')}`)
    const shmMount = (c.volumeMounts ?? []).find((m: any) => m.mountPath === '/dev/shm')
    const shm = shmMount && spec.volumes.find((v: any) => v.name === shmMount.name)
    if (!shm?.emptyDir || shm.emptyDir.medium !== 'Memory' || !shm.emptyDir.sizeLimit) problems.push(`${id(d)}: /dev/shm is not a memory emptyDir with a sizeLimit`)
    const sp = c.startupProbe
    const startup = sp ? (sp.initialDelaySeconds ?? 0) + (sp.periodSeconds ?? 10) * (sp.failureThreshold ?? 3) : 0
    if (startup < (opts.minStartupSeconds ?? 900)) problems.push(`${id(d)}: startupProbe allows ${startup} s, less than ${opts.minStartupSeconds ?? 900} s for a model load`)
    if (d.spec.strategy?.type !== 'Recreate' && d.spec.strategy?.rollingUpdate?.maxSurge !== 0) problems.push(`${id(d)}: rollout can surge a second GPU pod (use Recreate)`)
    if (!spec.runtimeClassName) problems.push(`${id(d)}: no runtimeClassName`)
    const modelMount = (c.volumeMounts ?? []).find((m: any) => flag('--model_dir')?.startsWith(m.mountPath))
    const claim = modelMount && spec.volumes.find((v: any) => v.name === modelMount.name)?.persistentVolumeClaim?.claimName
    const pvc = claim && objects.find((o) => o.kind === 'PersistentVolumeClaim' && o.metadata.name === claim)
    if (!claim) problems.push(`${id(d)}: the model directory is not on a PVC`)
    else if (pvc && pvc.metadata.annotations?.['helm.sh/resource-policy'] !== 'keep') problems.push(`${id(d)}: model PVC ${claim} is not kept on uninstall`)
  }
  return problems
}

/** Every policy check at once, labelled by check. */
export function checkAll(objects: K8sObject[], opts: { writableRoot?: string[]; tokenAllowed?: string[] } = {}): string[] {
  return [
    ...checkPodSecurity(objects, { writableRoot: opts.writableRoot }),
    ...checkResources(objects),
    ...checkProbes(objects),
    ...checkDuplicateEnv(objects),
    ...checkServices(objects, { externalPods: cnpgPodLabels(objects) }),
    ...checkAutoscalers(objects),
    ...checkDisruptionBudgets(objects),
    ...checkImages(objects),
    ...checkServiceAccountTokens(objects, { allowed: opts.tokenAllowed }),
    ...checkNoSecretsInPlainText(objects),
    ...checkLightLLM(objects),
  ]
}

/** Labels the CloudNativePG operator puts on the pods of a rendered Cluster. */
export function cnpgPodLabels(objects: K8sObject[]): Record<string, string>[] {
  return objects.filter((o) => o.kind === 'Cluster').map((c) => ({ 'cnpg.io/cluster': c.metadata.name }))
}
