// Where a store runs and how to reach it: the host (direct), a compose service, or a Kubernetes pod.
// One store driver works on all three: a target turns a tool's argv into the argv that runs it
// next to the store, and knows how to copy files to and from there. Secrets travel in the
// environment (compose: `exec -e NAME`, value from docker's own env) or on stdin (kubectl exec
// has no env flag): never in argv.
import { basename } from 'node:path'
import { hostname } from 'node:os'
import { SCALED_DOWN_ANNOTATION, repairScaledDown, scaledDownNote } from '../tools/kube-maintenance.ts'
import { KitError } from '../core/errors.ts'
import type { Ctx } from '../core/context.ts'
import type { ExecOptions, ExecResult } from '../core/exec.ts'
import { FILE_STORES, SERVICE_OF, type FileStoreName, type StoreName, type TargetKind, type Target, type RunOptions, type AdminRunner, type OfflineIo, type WriterControl } from './types.ts'
import { claimPod } from './claims.ts'
import { composeFileArgs, type ComposeCli } from '../tools/compose.ts'
import { withPgClientPath } from '../tools/pg-client.ts'

export type { Target, RunOptions, AdminRunner, OfflineIo } from './types.ts'

export interface TargetSettings {
  kind: TargetKind
  env: Record<string, string>
  /** compose */
  project?: string
  composeFile?: string
  /** The site's override files after composeFile (.env COMPOSE_EXTRA_FILES). */
  extraFiles?: string[]
  envFile?: string | null
  /** k8s */
  namespace?: string
  release?: string
  kubeContext?: string
  /** compose: the CLI found on this host (detectCompose); absent: `docker compose` (v2). */
  composeCli?: Pick<ComposeCli, 'kind' | 'base'>
}

export function createTarget(s: TargetSettings): Target {
  switch (s.kind) {
    case 'direct': return new DirectTarget(s)
    case 'compose': return new ComposeTarget(s)
    case 'k8s': return new K8sTarget(s)
  }
}

const merge = (o: RunOptions): ExecOptions => ({ ...o, env: { ...o.env, ...o.secretEnv } })

class DirectTarget implements Target {
  readonly kind = 'direct' as const
  constructor(private s: TargetSettings) {}
  where(store: StoreName): string {
    const e = this.s.env
    switch (store) {
      case 'postgres': return `postgres at ${e.PGHOST ?? 'localhost'}:${e.PGPORT ?? '5432'}`
      case 'redis': return `redis at ${e.REDIS_HOST ?? '127.0.0.1'}:${e.REDIS_PORT ?? '6379'}`
      case 'qdrant': return `qdrant at ${e.QDRANT_URL ?? 'http://127.0.0.1:6333'}`
      case 'neo4j': return `neo4j on this host${e.NEO4J_HOME ? ` (${e.NEO4J_HOME})` : ''}`
      case 'files-openwebui': return `directory ${e.OPENWEBUI_DATA_DIR ?? '(OPENWEBUI_DATA_DIR)'}`
      case 'files-graphrag': return `directory ${e.GRAPHRAG_DATA_DIR ?? '(GRAPHRAG_DATA_DIR)'}`
      case 'config': return 'the .env of this host'
    }
  }
  run(ctx: Ctx, store: StoreName, argv: string[], o: RunOptions = {}): Promise<ExecResult> {
    // PostgreSQL's programs without Debian's version-picking wrapper (the same version it picks)
    if (store === 'postgres') o = { ...o, env: withPgClientPath(o.env ?? {}, o.env?.PATH ?? ctx.env.PATH) }
    return ctx.exec(argv, merge(o))
  }
  async copyFrom(ctx: Ctx, _store: StoreName, remote: string, local: string): Promise<void> {
    if (remote !== local) await ctx.exec(['cp', remote, local], { mutates: true })
  }
  async copyTo(ctx: Ctx, _store: StoreName, local: string, remote: string): Promise<void> {
    if (remote !== local) await ctx.exec(['cp', local, remote], { mutates: true })
  }
  async httpUrl(_ctx: Ctx, _store: StoreName, port: number, envName: string): Promise<string> {
    return (this.s.env[envName] ?? `http://127.0.0.1:${port}`).replace(/\/+$/, '')
  }
  async offline<T>(ctx: Ctx, store: StoreName, io: OfflineIo, fn: (admin: AdminRunner, ioPath: string) => Promise<T>): Promise<T> {
    const ctl = this.s.env.NEO4J_HOME ? `${this.s.env.NEO4J_HOME}/bin/${store}` : store
    return withRestart(ctx, store,
      () => ctx.exec([ctl, 'stop'], { mutates: true, timeout: 300_000 }),
      () => ctx.exec([ctl, 'start'], { mutates: true, timeout: 300_000 }),
      () => fn((argv, o = {}) => ctx.exec(argv, merge({ mutates: true, ...o })), io.localDir))
  }
  async restarted(): Promise<void> { /* a supervisor (systemd, a restart loop) brings it back; the driver polls */ }
}

class ComposeTarget implements Target {
  readonly kind = 'compose' as const
  constructor(private s: TargetSettings) {}
  private base(): string[] {
    const file = this.s.composeFile!
    // v1 (docker-compose 1.25+) takes the same -p, -f, --env-file and exec -T -e NAME (it hands exec to the docker CLI)
    return [...(this.s.composeCli?.base ?? ['docker', 'compose']), '-p', this.s.project ?? 'owp', ...composeFileArgs(file, this.s.extraFiles, '-f'), ...(this.s.envFile ? ['--env-file', this.s.envFile] : [])]
  }
  where(store: StoreName): string { return `compose service ${SERVICE_OF[store]} (project ${this.s.project ?? 'owp'})` }
  writerControl(): WriterControl { return { kind: 'compose', compose: this.base(), composeV1: this.s.composeCli?.kind === 'v1' } }
  async run(ctx: Ctx, store: StoreName, argv: string[], o: RunOptions = {}): Promise<ExecResult> {
    const names = [...Object.keys(o.env ?? {}), ...Object.keys(o.secretEnv ?? {})]
    const env = names.flatMap((n) => ['-e', n]) // `-e NAME` without a value: compose takes the value from its own environment
    const service = SERVICE_OF[store]
    // The files of Open WebUI and GraphRAG live in their writers' volumes, and a restore stops the
    // writers: then a one-off container of the service (same volumes, user and read-only root, no
    // dependencies started, removed after) does the work instead of `exec` into a stopped one.
    if ((FILE_STORES as readonly string[]).includes(store) && !ctx.dryRun && !(await this.running(ctx, service))) {
      return ctx.exec([...this.base(), 'run', '--rm', '--no-deps', '-T', ...env, '--entrypoint', argv[0]!, service, ...argv.slice(1)], merge(o))
    }
    return ctx.exec([...this.base(), 'exec', '-T', ...env, service, ...argv], merge(o))
  }
  private async running(ctx: Ctx, service: string): Promise<boolean> {
    const r = await ctx.exec([...this.base(), 'ps', '--services', '--filter', 'status=running'], { allowFailure: true, timeout: 60_000 })
    return r.exitCode !== 0 || r.stdout.split('\n').map((l) => l.trim()).includes(service) // cannot tell: exec says why
  }
  // Copies stream through exec (cat): `docker compose cp` cannot reach tmpfs or read-only containers.
  copyFrom(ctx: Ctx, store: StoreName, remote: string, local: string): Promise<void> { return catFrom(ctx, this, store, remote, local) }
  copyTo(ctx: Ctx, store: StoreName, local: string, remote: string): Promise<void> { return catTo(ctx, this, store, local, remote) }
  async httpUrl(ctx: Ctx, store: StoreName, port: number, envName: string): Promise<string> {
    if (this.s.env[envName]) return this.s.env[envName].replace(/\/+$/, '')
    // Service ports are not published: talk to the container on its bridge network.
    const id = (await ctx.exec([...this.base(), 'ps', '-q', store])).stdout.trim().split('\n')[0]
    if (!id) throw new KitError(`compose service ${store} is not running`, 1, `start it (${(this.s.composeCli?.base ?? ['docker', 'compose']).join(' ')} up -d ${store}) or set ${envName}`)
    const ips = (await ctx.exec(['docker', 'inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', id])).stdout.trim().split(/\s+/).filter(Boolean)
    if (!ips[0]) throw new KitError(`no network address for compose service ${store}`, 1, `set ${envName}`)
    return `http://${ips[0]}:${port}`
  }
  async offline<T>(ctx: Ctx, store: StoreName, io: OfflineIo, fn: (admin: AdminRunner, ioPath: string) => Promise<T>): Promise<T> {
    const ioPath = '/owp-io'
    return withRestart(ctx, store,
      () => ctx.exec([...this.base(), 'stop', store], { mutates: true, timeout: 300_000 }),
      () => ctx.exec([...this.base(), 'start', store], { mutates: true, timeout: 300_000 }),
      () => fn((argv, o = {}) => {
        const names = [...Object.keys(o.env ?? {}), ...Object.keys(o.secretEnv ?? {})]
        return ctx.exec([...this.base(), 'run', '--rm', '--no-deps', '-T', '-v', `${io.localDir}:${ioPath}`,
          ...names.flatMap((n) => ['-e', n]), store, ...argv], merge({ mutates: true, ...o }))
      }, ioPath))
  }
  async restarted(ctx: Ctx, store: StoreName): Promise<void> {
    // A restart policy may already have brought it back; start is a no-op then.
    await ctx.exec([...this.base(), 'start', store], { mutates: true, timeout: 120_000 })
  }
}

class K8sTarget implements Target {
  readonly kind = 'k8s' as const
  private pods = new Map<StoreName, string>()
  constructor(private s: TargetSettings) {}
  private ns(): string { return this.s.namespace ?? 'openwebui-prod' }
  private kubectl(...args: string[]): string[] {
    return ['kubectl', ...(this.s.kubeContext ? ['--context', this.s.kubeContext] : []), ...args]
  }
  private selector(store: StoreName, component: string = store): string {
    return `app.kubernetes.io/instance=${this.s.release ?? 'owp'},app.kubernetes.io/component=${component}`
  }
  writerControl(): WriterControl { return { kind: 'k8s', kubectl: this.kubectl(), namespace: this.ns(), release: this.s.release ?? 'owp' } }
  where(store: StoreName): string { return `pod of ${store} in namespace ${this.ns()} (release ${this.s.release ?? 'owp'})` }
  async pod(ctx: Ctx, store: StoreName): Promise<string> {
    const known = this.pods.get(store)
    if (known) return known
    const out = await ctx.exec(this.kubectl('get', 'pods', '-n', this.ns(), '-l', this.selector(store),
      '--field-selector=status.phase=Running', '-o', 'jsonpath={.items[*].metadata.name}'), { timeout: 60_000 })
    const name = out.stdout.trim().split(/\s+/).filter(Boolean).sort()[0]
    if (!name) {
      throw new KitError(`no running pod of ${store} in namespace ${this.ns()} (selector ${this.selector(store)})`, 1,
        'check the release name (--release) and namespace (--namespace)')
    }
    this.pods.set(store, name)
    return name
  }
  /** kubectl exec argv; `container` names the store's container (the chart names it after the store; sidecars follow). */
  private execArgv(pod: string, argv: string[], o: RunOptions, container?: string): { argv: string[]; input?: string | Buffer } {
    const plain = Object.entries(o.env ?? {}).map(([k, v]) => `${k}=${v}`)
    const secrets = Object.entries(o.secretEnv ?? {})
    let inner = plain.length ? ['env', ...plain, ...argv] : argv
    let input = o.input
    if (secrets.length) {
      if (input !== undefined || o.stdinFile) throw new KitError('k8s target: a command cannot take both secrets and stdin')
      if (secrets.some(([, v]) => v.includes('\n'))) throw new KitError('k8s target: a secret with a newline cannot be passed on stdin')
      // kubectl exec has no env flag: the secrets arrive on stdin, one a line, and never touch argv.
      const reads = secrets.map(([k]) => `IFS= read -r ${k}; export ${k}`).join('; ')
      inner = ['sh', '-c', `${reads}; exec "$@"`, 'sh', ...inner]
      input = secrets.map(([, v]) => `${v}\n`).join('')
    }
    return { argv: this.kubectl('exec', ...(input !== undefined || o.stdinFile ? ['-i'] : []), '-n', this.ns(), pod, ...(container ? ['-c', container] : []), '--', ...inner), input }
  }
  async run(ctx: Ctx, store: StoreName, argv: string[], o: RunOptions = {}): Promise<ExecResult> {
    // A file store's claim is reached through a Job that mounts it (the app's image may lack tar, or run elsewhere).
    if ((FILE_STORES as readonly string[]).includes(store)) {
      const pod = await claimPod(ctx, { store: store as FileStoreName, namespace: this.ns(), release: this.s.release ?? 'owp', kubeContext: this.s.kubeContext, env: this.s.env })
      const { argv: full, input } = this.execArgv(pod, argv, o, 'files')
      const { env: _e, secretEnv: _s, ...rest } = o
      return ctx.exec(full, { ...rest, input })
    }
    const { argv: full, input } = this.execArgv(await this.pod(ctx, store), argv, o, store)
    const { env: _e, secretEnv: _s, ...rest } = o
    return ctx.exec(full, { ...rest, input })
  }
  // Copies stream through exec (cat), not kubectl cp: no tar needed in the image.
  copyFrom(ctx: Ctx, store: StoreName, remote: string, local: string): Promise<void> { return catFrom(ctx, this, store, remote, local) }
  copyTo(ctx: Ctx, store: StoreName, local: string, remote: string): Promise<void> { return catTo(ctx, this, store, local, remote) }
  async httpUrl(ctx: Ctx, store: StoreName, port: number, envName: string): Promise<string> {
    if (this.s.env[envName]) return this.s.env[envName].replace(/\/+$/, '')
    const svc = (await ctx.exec(this.kubectl('get', 'svc', '-n', this.ns(), '-l', this.selector(store), '-o', 'jsonpath={.items[0].metadata.name}'))).stdout.trim()
    if (!svc) throw new KitError(`no service of ${store} in namespace ${this.ns()}`, 1, `set ${envName}`)
    // Reachable from inside the cluster (the CronJob); from outside, port-forward and set the variable.
    return `http://${svc}.${this.ns()}.svc:${port}`
  }
  async offline<T>(ctx: Ctx, store: StoreName, io: OfflineIo, fn: (admin: AdminRunner, ioPath: string) => Promise<T>): Promise<T> {
    const ns = this.ns()
    const pod = await this.pod(ctx, store)
    const spec = JSON.parse((await ctx.exec(this.kubectl('get', 'pod', pod, '-n', ns, '-o', 'json'))).stdout) as PodJson
    const owner = spec.metadata?.ownerReferences?.find((r) => r.kind === 'StatefulSet')?.name
    if (!owner) throw new KitError(`pod ${pod} is not part of a StatefulSet: cannot stop ${store} safely`)
    const replicas = (await ctx.exec(this.kubectl('get', 'statefulset', owner, '-n', ns, '-o', 'jsonpath={.spec.replicas}'))).stdout.trim() || '1'
    const container = spec.spec.containers.find((c) => c.name === store) ?? spec.spec.containers[0]!
    // A run killed in an earlier window may have left the store at 0 replicas: bring it back first.
    await repairScaledDown(ctx, this.kubectl(), ns, this.s.release ?? 'owp')
    const maint = `owp-${store}-maint-${Date.now().toString(36)}`
    // PID 1 of the pod ends on SIGTERM at once (plain sleep ignores it: the delete waited the whole grace period).
    const hold = ['sh', '-c', 'trap "exit 0" TERM INT; sleep 86400 & wait']
    const overrides = {
      spec: {
        securityContext: spec.spec.securityContext,
        volumes: spec.spec.volumes?.filter((v) => v.persistentVolumeClaim),
        containers: [{
          name: 'maintenance', image: container.image, command: hold,
          securityContext: container.securityContext,
          volumeMounts: container.volumeMounts?.filter((m) => spec.spec.volumes?.some((v) => v.name === m.name && v.persistentVolumeClaim)),
        }],
      },
    }
    const ioPath = '/tmp/owp-io'
    return withRestart(ctx, store,
      async () => {
        // Marked first: if this run dies, the next run or validate-prod knows whom to scale back, and to what.
        await ctx.exec(this.kubectl('annotate', `statefulset/${owner}`, '-n', ns, '--overwrite', `${SCALED_DOWN_ANNOTATION}=${scaledDownNote(`${process.pid}@${hostname()}`, Number(replicas) || 1)}`), { mutates: true })
        await ctx.exec(this.kubectl('scale', `statefulset/${owner}`, '-n', ns, '--replicas=0'), { mutates: true })
        await ctx.exec(this.kubectl('wait', '--for=delete', `pod/${pod}`, '-n', ns, '--timeout=600s'), { mutates: true, timeout: 660_000 })
        await ctx.exec(this.kubectl('run', maint, '-n', ns, `--image=${container.image}`, '--restart=Never',
          `--labels=${this.selector(store, `${store}-maintenance`)},owp.io/maintenance-of=${owner}`, `--overrides=${JSON.stringify(overrides)}`, '--command', '--', ...hold), { mutates: true })
        await ctx.exec(this.kubectl('wait', '--for=condition=Ready', `pod/${maint}`, '-n', ns, '--timeout=300s'), { mutates: true, timeout: 360_000 })
      },
      async () => {
        await ctx.exec(this.kubectl('delete', 'pod', maint, '-n', ns, '--ignore-not-found', '--wait=true'), { mutates: true, timeout: 300_000 })
        await ctx.exec(this.kubectl('scale', `statefulset/${owner}`, '-n', ns, `--replicas=${replicas}`), { mutates: true })
        await ctx.exec(this.kubectl('annotate', `statefulset/${owner}`, '-n', ns, `${SCALED_DOWN_ANNOTATION}-`), { mutates: true })
        await ctx.exec(this.kubectl('rollout', 'status', `statefulset/${owner}`, '-n', ns, '--timeout=600s'), { mutates: true, timeout: 660_000 })
        this.pods.delete(store)
      },
      async () => {
        const exec = (argv: string[], o: RunOptions = {}) => {
          const { argv: full, input } = this.execArgv(maint, argv, o)
          const { env: _e, secretEnv: _s, ...rest } = o
          return ctx.exec(full, { mutates: true, ...rest, input })
        }
        await exec(['mkdir', '-p', ioPath])
        for (const f of io.provide ?? []) await exec(['sh', '-c', 'cat > "$1"', 'sh', `${ioPath}/${f}`], { stdinFile: `${io.localDir}/${f}`, timeout: 3_600_000 })
        const result = await fn(exec, ioPath)
        for (const f of io.collect ?? []) await exec(['cat', `${ioPath}/${f}`], { stdoutFile: `${io.localDir}/${f}`, timeout: 3_600_000 })
        return result
      })
  }
  async restarted(): Promise<void> { this.pods.clear() /* the kubelet restarts the container; the driver polls */ }
}

interface PodJson {
  metadata?: { ownerReferences?: { kind: string; name: string }[] }
  spec: {
    securityContext?: unknown
    volumes?: { name: string; persistentVolumeClaim?: { claimName: string } }[]
    containers: { name: string; image: string; securityContext?: unknown; volumeMounts?: { name: string; mountPath: string }[] }[]
  }
}

/** Stop, work, and start again whatever happens (also on Ctrl-C, through a registered cleanup). */
async function withRestart<T>(ctx: Ctx, store: StoreName, stop: () => Promise<unknown>, start: () => Promise<unknown>, work: () => Promise<T>): Promise<T> {
  let started = false
  const startOnce = async () => { if (!started) { started = true; await start() } }
  const unregister = ctx.cleanups.add(startOnce)
  ctx.log.warn(`stopping ${store} for the offline maintenance window`)
  try {
    await stop()
    return await work()
  } finally {
    await startOnce()
    unregister()
    ctx.log.info(`${store} started again`)
  }
}

let scratchSeq = 0
function scratchName(local: string): string {
  return `owp-${process.pid}-${Date.now().toString(36)}-${scratchSeq++}-${basename(local)}`
}

function catFrom(ctx: Ctx, t: Target, store: StoreName, remote: string, local: string): Promise<void> {
  return t.run(ctx, store, ['cat', remote], { stdoutFile: local, mutates: true, timeout: 6 * 3_600_000, title: `copy ${remote}` }).then(() => {})
}

function catTo(ctx: Ctx, t: Target, store: StoreName, local: string, remote: string): Promise<void> {
  return t.run(ctx, store, ['sh', '-c', 'cat > "$1"', 'sh', remote], { stdinFile: local, mutates: true, timeout: 6 * 3_600_000, title: `copy to ${remote}` }).then(() => {})
}

/**
 * Let `write` produce a file where the store runs, in remoteDir (a disk-backed, writable
 * directory there: tmpfs would count against the container's memory), then bring it to `local`.
 * Direct: written in place.
 */
export async function fileFrom(ctx: Ctx, target: Target, store: StoreName, local: string, remoteDir: string, write: (there: string) => Promise<void>): Promise<void> {
  if (target.kind === 'direct') return write(local)
  const there = `${remoteDir}/${scratchName(local)}`
  try {
    await write(there)
    await target.copyFrom(ctx, store, there, local)
  } finally {
    await target.run(ctx, store, ['rm', '-f', there], { mutates: true, allowFailure: true }).catch(() => {})
  }
}

/** Make a local file available in remoteDir where the store runs for `use` (direct: in place), then remove the copy. */
export async function fileTo<T>(ctx: Ctx, target: Target, store: StoreName, local: string, remoteDir: string, use: (there: string) => Promise<T>): Promise<T> {
  if (target.kind === 'direct') return use(local)
  const there = `${remoteDir}/${scratchName(local)}`
  try {
    await target.copyTo(ctx, store, local, there)
    return await use(there)
  } finally {
    await target.run(ctx, store, ['rm', '-f', there], { mutates: true, allowFailure: true }).catch(() => {})
  }
}
