// Kubernetes: a file store's claim is reached through a Job that mounts it (GNU tar in a Debian
// image, the app's uid), placed beside the app's pod when one runs (a ReadWriteOnce claim attaches
// to one node). One Job per store and run, deleted on the way out (Ctrl-C included).
import { randomBytes } from 'node:crypto'
import { KitError } from '../core/errors.ts'
import type { Ctx } from '../core/context.ts'
import type { FileStoreName } from './types.ts'
import { FILE_STORE_SPECS } from './stores/files.ts'

export interface ClaimSettings {
  store: FileStoreName
  namespace: string
  release: string
  kubeContext?: string
  env: Record<string, string>
}

const CLAIM_DEFAULTS: Record<FileStoreName, { env: string; claim: (release: string) => string; component: string; uid: number }> = {
  'files-openwebui': { env: 'OPENWEBUI_DATA_CLAIM', claim: (r) => `${r}-openwebui-data`, component: 'openwebui', uid: 0 },
  'files-graphrag': { env: 'GRAPHRAG_DATA_CLAIM', claim: (r) => `${r}-graphrag-processor-data`, component: 'graphrag-processor', uid: 10001 },
}

export const CLAIM_IMAGE = 'debian:bookworm-slim'

export function claimName(s: ClaimSettings): string {
  const d = CLAIM_DEFAULTS[s.store]
  return s.env[d.env] ?? d.claim(s.release)
}

/** The Job that mounts the store's claim and waits (sleep) for the kit to exec tar in it. */
export function claimJob(s: ClaimSettings, name: string): Record<string, unknown> {
  const d = CLAIM_DEFAULTS[s.store]
  const selector = { 'app.kubernetes.io/instance': s.release, 'app.kubernetes.io/component': d.component }
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name, namespace: s.namespace,
      labels: { 'app.kubernetes.io/instance': s.release, 'app.kubernetes.io/component': `${s.store}-claim`, 'app.kubernetes.io/managed-by': 'owp-kit' },
    },
    spec: {
      backoffLimit: 0,
      // A run that dies without its cleanup leaves a Job that ends by itself and is then collected.
      activeDeadlineSeconds: 6 * 3600,
      ttlSecondsAfterFinished: 600,
      template: {
        metadata: { labels: { 'app.kubernetes.io/instance': s.release, 'app.kubernetes.io/component': `${s.store}-claim` } },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          affinity: { podAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { labelSelector: { matchLabels: selector }, topologyKey: 'kubernetes.io/hostname' } }] } },
          securityContext: { runAsUser: d.uid, runAsGroup: d.uid, ...(d.uid ? { fsGroup: d.uid, runAsNonRoot: true } : {}), seccompProfile: { type: 'RuntimeDefault' } },
          containers: [{
            name: 'files',
            image: s.env.BACKUP_FILES_IMAGE ?? CLAIM_IMAGE,
            command: ['sleep', String(6 * 3600)],
            securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'], ...(d.uid ? {} : { add: ['CHOWN', 'DAC_OVERRIDE', 'FOWNER'] }) } },
            resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '1', memory: '512Mi' } },
            volumeMounts: [{ name: 'data', mountPath: FILE_STORE_SPECS[s.store].dir }],
          }],
          volumes: [{ name: 'data', persistentVolumeClaim: { claimName: claimName(s) } }],
        },
      },
    },
  }
}

const kubectl = (s: ClaimSettings, ...args: string[]) => ['kubectl', ...(s.kubeContext ? ['--context', s.kubeContext] : []), ...args]

/** The argv of each step: create, wait until its pod runs, find the pod, delete. */
export function claimJobArgv(s: ClaimSettings, name: string) {
  return {
    create: kubectl(s, 'create', '-n', s.namespace, '-f', '-'),
    wait: kubectl(s, 'wait', '-n', s.namespace, '--for=jsonpath={.status.ready}=1', `job/${name}`, '--timeout=300s'),
    pod: kubectl(s, 'get', 'pods', '-n', s.namespace, '-l', `job-name=${name}`, '-o', 'jsonpath={.items[0].metadata.name}'),
    remove: kubectl(s, 'delete', 'job', name, '-n', s.namespace, '--ignore-not-found', '--cascade=foreground', '--wait=false'),
  }
}

const running = new Map<string, Promise<string>>()
const removals = new Map<string, () => Promise<unknown>>()

/** Delete every claim Job this process started (the runs call it in finally; Ctrl-C through ctx.cleanups). */
export async function releaseClaims(): Promise<void> {
  const all = [...removals.values()]
  removals.clear()
  running.clear()
  for (const remove of all) await remove().catch(() => {})
}

/** The pod of this run's claim Job for the store (created on first use, deleted at exit). */
export function claimPod(ctx: Ctx, s: ClaimSettings): Promise<string> {
  const key = `${s.kubeContext ?? ''}/${s.namespace}/${s.store}`
  let pod = running.get(key)
  if (!pod) {
    pod = startClaimJob(ctx, s)
    running.set(key, pod)
    pod.catch(() => running.delete(key))
  }
  return pod
}

async function startClaimJob(ctx: Ctx, s: ClaimSettings): Promise<string> {
  const name = `owp-${s.store}-${randomBytes(3).toString('hex')}`
  const argv = claimJobArgv(s, name)
  await ctx.exec(argv.create, { mutates: true, input: JSON.stringify(claimJob(s, name)), title: `job ${name} mounting ${claimName(s)}` })
  const remove = () => ctx.exec(argv.remove, { mutates: true, allowFailure: true, timeout: 60_000 })
  removals.set(name, remove)
  const unregister = ctx.cleanups.add(releaseClaims)
  removals.set(`${name}/unregister`, async () => unregister())
  if (ctx.dryRun) return `${name}-pod`
  await ctx.exec(argv.wait, { timeout: 330_000 })
  const pod = (await ctx.exec(argv.pod)).stdout.trim()
  if (!pod) throw new KitError(`job ${name} has no pod`, 1, `kubectl describe job ${name} -n ${s.namespace}`)
  return pod
}
