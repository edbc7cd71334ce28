// Render and lint the chart with the real helm binaries (v4 and v3) and parse the output as Helm does.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { CHART_DIR, TOOLS_BIN } from '../../scripts/lib/core/paths.ts'

export type HelmVersion = 'v4' | 'v3'
export const HELM_VERSIONS: HelmVersion[] = ['v4', 'v3']

/** A rendered Kubernetes object; fields are checked by k8s-validate, not by this type. */
export interface K8sObject {
  apiVersion: string
  kind: string
  // labels and annotations stay loosely typed: tests index them freely and fail on a missing one
  metadata: { name: string; namespace?: string; [field: string]: any }
  [field: string]: any
}

/** The CRD groups a full install serves (infra releases in helm/infra.yaml). */
export const API_VERSIONS = ['monitoring.coreos.com/v1', 'monitoring.coreos.com/v1alpha1', 'cert-manager.io/v1', 'gateway.networking.k8s.io/v1', 'postgresql.cnpg.io/v1', 'external-secrets.io/v1', 'autoscaling.k8s.io/v1', 'argoproj.io/v1alpha1']
export const RELEASE = 'owp'
export const NAMESPACE = 'openwebui-prod'

export function helmBin(v: HelmVersion): string {
  const bin = join(TOOLS_BIN, v === 'v4' ? 'helm' : 'helm3')
  if (!existsSync(bin)) {
    throw new Error(`helm ${v} is missing at ${bin}: run \`make setup\` (scripts/setup.ts unpacks helm v4 and v3 into .tools/bin)`)
  }
  return bin
}

export interface HelmResult { code: number | null; stdout: string; stderr: string }

/** Run helm with an argv (no shell); never throws on a non-zero exit. */
export function runHelm(v: HelmVersion, args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<HelmResult> {
  const bin = helmBin(v)
  return new Promise((resolve, reject) => {
    // A private HOME keeps helm away from the user's repositories and caches.
    const env = { ...process.env, HELM_CACHE_HOME: '/tmp/owp-helm-cache', HELM_CONFIG_HOME: '/tmp/owp-helm-config', HELM_DATA_HOME: '/tmp/owp-helm-data', NO_COLOR: '1', ...opts.env }
    const child = spawn(bin, args, { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

export interface RenderOptions {
  chart?: string
  valuesFiles?: string[]
  set?: string[]
  apiVersions?: string[]
  release?: string
  namespace?: string
  /** more helm flags, e.g. --dry-run=server */
  extraArgs?: string[]
  env?: Record<string, string>
}

export function templateArgs(o: RenderOptions = {}): string[] {
  const args = ['template', o.release ?? RELEASE, o.chart ?? CHART_DIR, '--namespace', o.namespace ?? NAMESPACE]
  for (const f of o.valuesFiles ?? []) args.push('--values', f)
  for (const s of o.set ?? []) args.push('--set', s)
  for (const a of o.apiVersions ?? API_VERSIONS) args.push('--api-versions', a)
  return [...args, ...(o.extraArgs ?? [])]
}

/** helm template; rejects with helm's stderr when rendering fails. */
export async function renderChart(v: HelmVersion, o: RenderOptions = {}): Promise<K8sObject[]> {
  const r = await runHelm(v, templateArgs(o), { env: o.env })
  if (r.code !== 0) throw new Error(`helm ${v} template failed (exit ${r.code}):\n${r.stderr}`)
  return parseManifests(r.stdout)
}

/** Parse a multi-document manifest as YAML 1.1 (Helm's dialect); any parse error throws. */
export function parseManifests(text: string): K8sObject[] {
  const objects: K8sObject[] = []
  for (const doc of parseAllDocuments(text, { version: '1.1' })) {
    if (doc.errors.length) throw new Error(`rendered YAML does not parse: ${doc.errors.map((e) => e.message).join('; ')}`)
    const value = doc.toJS()
    if (value === null || value === undefined) continue
    objects.push(value as K8sObject)
  }
  return objects
}

export const objectId = (o: K8sObject): string => `${o.kind}/${o.metadata?.name}`

export function findObject(objects: K8sObject[], kind: string, name: string): K8sObject | undefined {
  return objects.find((o) => o.kind === kind && o.metadata?.name === name)
}
