// Offline validation of rendered objects: types and required fields from kubernetes-models (plus the
// prometheus-operator, cert-manager, external-secrets and argo-rollouts models), and unknown field names, which those models let
// through: core kinds are walked against @kubernetes/client-node attribute maps, CRD models against
// their own TypeScript declarations. Kinds without models (HTTPRoute, Gateway, CNPG Cluster) get a
// focused shape check (k8s-crd-shapes.ts).
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type ts from 'typescript'
import * as clientNode from '@kubernetes/client-node'
import type { K8sObject } from './k8s-render.ts'
import { checkShape, CRD_SHAPES } from './k8s-crd-shapes.ts'

const require = createRequire(import.meta.url)

/** Where the kubernetes-models class of an apiVersion/kind lives, or undefined. */
export function modelModule(apiVersion: string, kind: string): string | undefined {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion]
  if (group === '') return `kubernetes-models/${version}/${kind}`
  if (group === 'monitoring.coreos.com') return `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`
  if (group === 'cert-manager.io') return `@kubernetes-models/cert-manager/${group}/${version}/${kind}`
  // the Node 20 line of the models stops at v1beta1; external-secrets.io/v1 promoted it unchanged for the fields the chart writes
  if (group === 'external-secrets.io') return `@kubernetes-models/external-secrets/${group}/v1beta1/${kind}`
  if (group === 'argoproj.io') return `@kubernetes-models/argo-rollouts/${group}/${version}/${kind}`
  if (group.endsWith('.k8s.io') && !group.startsWith('gateway.networking')) return `kubernetes-models/${group}/${version}/${kind}`
  if (['apps', 'batch', 'autoscaling', 'policy'].includes(group)) return `kubernetes-models/${group}/${version}/${kind}`
  return undefined
}

type ModelClass = new (data: unknown) => { validate(): void }

async function loadModel(mod: string, kind: string): Promise<ModelClass | undefined> {
  try {
    const m = await import(mod)
    return (m[kind] ?? m.default?.[kind]) as ModelClass | undefined
  } catch {
    return undefined
  }
}

/** Every problem of one object: schema errors and unknown fields, each with its path. */
export async function validateObject(obj: K8sObject): Promise<string[]> {
  const id = `${obj?.kind}/${obj?.metadata?.name}`
  if (!obj || typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string') return [`${id}: apiVersion and kind are required`]
  const problems: string[] = []
  const shape = CRD_SHAPES[`${obj.apiVersion}/${obj.kind}`]
  if (shape) return checkShape(obj, shape).map((p) => `${id}: ${p}`)
  const mod = modelModule(obj.apiVersion, obj.kind)
  const Model = mod ? await loadModel(mod, obj.kind) : undefined
  if (!Model) return [`${id}: no model for ${obj.apiVersion} ${obj.kind} (unknown kind or apiVersion)`]
  try {
    new Model(obj.apiVersion === 'external-secrets.io/v1' ? { ...obj, apiVersion: 'external-secrets.io/v1beta1' } : obj).validate()
  } catch (e) {
    problems.push(`${id}: ${(e as Error).message}`)
  }
  const unknown = obj.apiVersion.includes('.') && !obj.apiVersion.includes('.k8s.io')
    ? await unknownFieldsFromDeclarations(obj, mod!)
    : unknownFieldsFromClientNode(obj)
  for (const u of unknown) problems.push(`${id}: unknown field ${u}`)
  return problems
}

// ---------------------------------------------------------------- @kubernetes/client-node maps
type AttributeMap = { name: string; baseName: string; type: string }[]
const models = clientNode as unknown as Record<string, { getAttributeTypeMap?: () => AttributeMap }>

function clientNodeClass(apiVersion: string, kind: string): string {
  const version = apiVersion.split('/').pop()!
  return `${version[0].toUpperCase()}${version.slice(1)}${kind}`
}

const PRIMITIVES = new Set(['string', 'number', 'boolean', 'Date', 'any', 'object', 'IntOrString', 'RuntimeRawExtension'])

function walkClientNode(value: unknown, type: string, path: string, out: string[]): void {
  if (value === null || typeof value !== 'object' || PRIMITIVES.has(type)) return
  const array = /^Array<(.+)>$/.exec(type)
  if (array) {
    if (Array.isArray(value)) value.forEach((v, i) => walkClientNode(v, array[1], `${path}[${i}]`, out))
    return
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type)
  if (map) {
    for (const [k, v] of Object.entries(value)) walkClientNode(v, map[1], `${path}.${k}`, out)
    return
  }
  const attrs = models[type]?.getAttributeTypeMap?.()
  if (!attrs) return
  const byName = new Map(attrs.map((a) => [a.baseName, a.type]))
  for (const [k, v] of Object.entries(value)) {
    const t = byName.get(k)
    if (t === undefined) out.push(`${path}.${k}`.replace(/^\./, ''))
    else walkClientNode(v, t, `${path}.${k}`, out)
  }
}

export function unknownFieldsFromClientNode(obj: K8sObject): string[] {
  const cls = clientNodeClass(obj.apiVersion, obj.kind)
  if (!models[cls]?.getAttributeTypeMap) return [`(no @kubernetes/client-node model ${cls})`]
  const out: string[] = []
  walkClientNode(obj, cls, '', out)
  return out
}

// ---------------------------------------------------------------- CRD model declarations
const declarationFiles = new Map<string, string>()

function declarationFile(mod: string): string {
  let file = declarationFiles.get(mod)
  if (!file) {
    const pkg = mod.startsWith('@') ? mod.split('/').slice(0, 2).join('/') : mod.split('/')[0]
    const root = dirname(require.resolve(`${pkg}/package.json`))
    file = join(root, `${mod.slice(pkg.length + 1)}.d.ts`)
    declarationFiles.set(mod, file)
  }
  return file
}

/** The CRD kinds the chart renders; their declarations are read into one program. */
export const CRD_DECLARATIONS = [
  '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor',
  '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor',
  '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule',
  '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/Probe',
  '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate',
  '@kubernetes-models/cert-manager/cert-manager.io/v1/ClusterIssuer',
  '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1alpha1/AlertmanagerConfig',
  '@kubernetes-models/external-secrets/external-secrets.io/v1beta1/ExternalSecret',
  '@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/Rollout',
  '@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/AnalysisTemplate',
]

let program: Promise<ts.Program> | undefined

// The global types the declarations need, instead of lib.d.ts (which takes seconds to check).
const MINI_LIB = '/__owp-mini-lib.d.ts'
const MINI_LIB_TEXT = `interface Array<T> { length: number; [n: number]: T }
interface ReadonlyArray<T> { readonly length: number; readonly [n: number]: T }
interface Boolean {} interface Function {} interface CallableFunction {} interface NewableFunction {}
interface IArguments {} interface Number {} interface Object {} interface RegExp {} interface String {}`

// typescript is loaded only when the first CRD object comes: it takes a second to load.
async function crdProgram(): Promise<ts.Program> {
  program ??= import('typescript').then(({ default: typescript }) => {
    const options: ts.CompilerOptions = { noEmit: true, skipLibCheck: true, noLib: true, types: [] }
    const host = typescript.createCompilerHost(options)
    const { getSourceFile, fileExists, readFile } = host
    host.getSourceFile = (f, lang, ...rest) => f === MINI_LIB ? typescript.createSourceFile(f, MINI_LIB_TEXT, lang) : getSourceFile.call(host, f, lang, ...rest)
    host.fileExists = (f) => f === MINI_LIB || fileExists.call(host, f)
    host.readFile = (f) => (f === MINI_LIB ? MINI_LIB_TEXT : readFile.call(host, f))
    return typescript.createProgram([MINI_LIB, ...CRD_DECLARATIONS.map(declarationFile)], options, host)
  })
  return program
}

async function checker(mod: string): Promise<{ checker: ts.TypeChecker; root: ts.Type } | undefined> {
  const p = await crdProgram()
  const c = p.getTypeChecker()
  const sf = p.getSourceFile(declarationFile(mod))
  const sym = sf && c.getSymbolAtLocation(sf)
  const kind = mod.split('/').pop()!
  const exp = sym && c.getExportsOfModule(sym).find((s) => s.name === `I${kind}`)
  return exp ? { checker: c, root: c.getDeclaredTypeOfSymbol(exp) } : undefined
}

function walkDeclared(c: ts.TypeChecker, value: unknown, type: ts.Type, path: string, out: string[]): void {
  if (value === null || typeof value !== 'object') return
  type = c.getNonNullableType(type)
  if (Array.isArray(value)) {
    if (c.isArrayType(type)) {
      const el = c.getTypeArguments(type as ts.TypeReference)[0]
      value.forEach((v, i) => walkDeclared(c, v, el, `${path}[${i}]`, out))
    }
    return
  }
  if (type.isUnion()) {
    const objects = type.types.filter((t) => t.getProperties().length > 0)
    if (objects.length !== 1) return
    type = objects[0]
  }
  const index = c.getIndexInfosOfType(type)
  if (type.getProperties().length === 0 && index.length === 0) return
  for (const [k, v] of Object.entries(value)) {
    const prop = type.getProperty(k)
    if (prop) walkDeclared(c, v, c.getTypeOfSymbol(prop), `${path}.${k}`, out)
    else if (index.length) walkDeclared(c, v, index[0].type, `${path}.${k}`, out)
    else out.push(`${path}.${k}`.replace(/^\./, ''))
  }
}

export async function unknownFieldsFromDeclarations(obj: K8sObject, mod: string): Promise<string[]> {
  const found = await checker(mod)
  if (!found) return [`(no declaration for ${mod})`]
  const out: string[] = []
  walkDeclared(found.checker, obj, found.root, '', out)
  return out
}

/** Validate many objects concurrently; returns every problem of every object. */
export async function validateObjects(objects: K8sObject[]): Promise<string[]> {
  return (await Promise.all(objects.map(validateObject))).flat()
}
