// Every helm and kubectl argv the plans contain, run through the REAL helm v4, helm v3 and kubectl
// against a kubeconfig that points at a closed 127.0.0.1 port: a wrong flag or subcommand fails in
// the parser (`unknown flag`) before any connection is tried, so flag mistakes cannot hide here.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { spawnSync, spawn } from 'node:child_process'
import { existsSync, writeFileSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { TOOLS_BIN } from '../../scripts/lib/core/paths.ts'
import { deployK8s } from '../../scripts/lib/deploy/k8s.ts'
import { validateDeployment } from '../../scripts/lib/validate/index.ts'
import { closedPort } from '../helpers/net.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { k8sFakes, k8sOptions, sandbox, HISTORY_3, type K8sScenario } from './helpers.ts'

const ROLLOUT_FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'k8s', 'rollouts')
const PARSE_ERROR = /unknown (flag|command|shorthand flag)|flag needs an argument|invalid argument ".*" for|accepts \d+ arg|requires (at least|exactly) \d+ arg|unknown command/i

const REAL = { 4: join(TOOLS_BIN, 'helm'), 3: join(TOOLS_BIN, 'helm3'), kubectl: join(TOOLS_BIN, 'kubectl') }

/** Run the deploy scenarios with fakes and collect the argv helm and kubectl received. */
async function collect(major: 3 | 4): Promise<{ helm: string[][]; kubectl: string[][] }> {
  // infra + chart + validation; validation failing -> rollback; first install failing -> uninstall
  // (other durations and names); the Gateway API scenario (manifest apply, other releases)
  const scenarios: Array<[K8sScenario, Parameters<typeof k8sOptions>[0]]> = [
    [{ helm: major, history: HISTORY_3, podsReady: false, ingressClasses: ['traefik'] }, { validate: true }],
    [{ helm: major, history: 'none', podsReady: false, ingressClasses: ['traefik'], crds: ['certificates.cert-manager.io'] }, { validate: true, infra: false, timeout: '1h30m', historyMax: 4, release: 'chat', namespace: 'ai' }],
    [{ helm: major, history: HISTORY_3, rendered: 'gateway', gpus: 0 }, {}],
    // Argo Rollouts: the wait reads each Rollout, the one still progressing at the deadline is aborted
    [{ helm: major, history: HISTORY_3, rendered: 'rollout', ingressClasses: ['traefik'], crds: ['certificates.cert-manager.io', 'rollouts.argoproj.io'], rollouts: {
      'owp-openwebui': [{ exitCode: 0, stdout: readFileSync(join(ROLLOUT_FIXTURES, 'progressing-canary.json'), 'utf8') }],
      'owp-graphrag-processor': [{ exitCode: 0, stdout: readFileSync(join(ROLLOUT_FIXTURES, 'paused-canary-step.json'), 'utf8') }],
    } }, { infra: false, timeout: '1s', rolloutPollMs: 20 }],
  ]
  const helm: string[][] = []
  const kubectl: string[][] = []
  for (const [i, [s, o]] of scenarios.entries()) {
    const bins = k8sFakes(s)
    const box = sandbox(bins)
    try {
      await deployK8s(box.ctx(), k8sOptions(o))
      helm.push(...bins.calls('helm'))
      kubectl.push(...bins.calls('kubectl'))
      if (i > 0) continue
      // validate-prod's own Kubernetes probes (services with health endpoints, ingress, port-forward)
      bins.script('kubectl', [
        { match: '^get services', stdout: JSON.stringify({ items: [{ metadata: { name: 'owp-lightllm', labels: { 'app.kubernetes.io/component': 'lightllm' } }, spec: { ports: [{ name: 'http', port: 8000 }] } }] }) },
        { match: '^get ingresses', stdout: JSON.stringify({ items: [{ spec: { rules: [{ host: 'chat.example.com' }], tls: [{}] } }] }) },
        { match: '^port-forward', exitCode: 1, stderr: 'error: lost connection' },
        { stdout: '{"items":[]}' },
      ])
      await validateDeployment(box.ctx(), { target: 'k8s', namespace: 'ai', release: 'chat', retries: 0, timeoutMs: 1500 })
      kubectl.push(...bins.calls('kubectl'))
    } finally {
      bins.remove(); box.remove()
    }
  }
  return { helm: unique(helm), kubectl: unique(kubectl) }
}

function unique(calls: string[][]): string[][] {
  const seen = new Map<string, string[]>()
  for (const c of calls) seen.set(JSON.stringify(c), c)
  return [...seen.values()]
}

let env: NodeJS.ProcessEnv
let tmp: { path: string; remove(): void }

beforeAll(async () => {
  for (const bin of Object.values(REAL)) {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: run make setup (unzips helm v4, helm v3 and kubectl into .tools/bin)`)
  }
  tmp = tmpDir('owp-real-')
  const port = await closedPort()
  const kubeconfig = join(tmp.path, 'kubeconfig')
  writeFileSync(kubeconfig, [
    'apiVersion: v1', 'kind: Config', 'current-context: closed',
    'clusters: [{name: closed, cluster: {server: "https://127.0.0.1:' + port + '"}}]',
    'contexts: [{name: closed, context: {cluster: closed, user: u}}]',
    'users: [{name: u, user: {token: not-a-real-token}}]',
  ].join('\n'))
  for (const d of ['config', 'cache', 'data']) mkdirSync(join(tmp.path, d))
  env = {
    PATH: process.env.PATH, HOME: tmp.path, KUBECONFIG: kubeconfig,
    HELM_CONFIG_HOME: join(tmp.path, 'config'), HELM_CACHE_HOME: join(tmp.path, 'cache'), HELM_DATA_HOME: join(tmp.path, 'data'),
    // any attempt to reach a chart repository fails fast on loopback instead of leaving the machine
    HTTPS_PROXY: `http://127.0.0.1:${port}`, HTTP_PROXY: `http://127.0.0.1:${port}`, NO_PROXY: '',
  }
})
afterAll(() => tmp?.remove())

function runReal(bin: string, argv: string[]): { code: number | null; stderr: string } {
  const r = spawnSync(bin, argv.slice(1), { env, input: '', encoding: 'utf8', timeout: 20_000 })
  return { code: r.status, stderr: r.stderr }
}

/** Run argv lists through a real binary, a few at a time; return the ones the parser refused. */
async function parseErrors(bin: string, argvs: string[][]): Promise<string[]> {
  const bad: string[] = []
  const queue = [...argvs]
  await Promise.all(Array.from({ length: 4 }, async () => {
    for (let argv = queue.shift(); argv; argv = queue.shift()) {
      const r = await new Promise<string>((resolve) => {
        const child = spawn(bin, argv!.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] })
        let err = ''
        child.stderr.on('data', (d) => { err += d })
        const t = setTimeout(() => child.kill('SIGKILL'), 20_000)
        child.on('close', () => { clearTimeout(t); resolve(err) })
      })
      if (PARSE_ERROR.test(r)) bad.push(`${argv.join(' ')}\n    -> ${r.trim().split('\n')[0]}`)
    }
  }))
  return bad
}

const calls: Record<3 | 4, { helm: string[][]; kubectl: string[][] }> = { 3: { helm: [], kubectl: [] }, 4: { helm: [], kubectl: [] } }
beforeAll(async () => { [calls[4], calls[3]] = await Promise.all([collect(4), collect(3)]) }, 120_000)

describe.each([4, 3] as const)('helm v%i plans', (major) => {
  it('cover every helm subcommand the flows use', () => {
    const subs = new Set(calls[major].helm.map((c) => c[1] === 'get' ? `get ${c[2]}` : c[1]))
    expect([...subs].sort()).toEqual(['get values', 'history', 'list', 'rollback', 'template', 'test', 'uninstall', 'upgrade', 'version'])
  })

  it(`every helm argv parses in the real helm v${major}`, async () => {
    expect(await parseErrors(REAL[major], calls[major].helm)).toEqual([])
    expect(calls[major].helm.length).toBeGreaterThan(10)
  })
})

describe('kubectl', () => {
  it('every kubectl argv of both plans parses in the real kubectl', async () => {
    const all = unique([...calls[4].kubectl, ...calls[3].kubectl])
    expect(await parseErrors(REAL.kubectl, all)).toEqual([])
    const subs = new Set(all.map((c) => c[1]))
    for (const s of ['apply', 'config', 'get', 'port-forward', 'version']) expect(subs).toContain(s)
    // the Rollout abort (status subresource) is among them
    expect(all.some((c) => c[1] === 'patch' && c[2] === 'rollouts.argoproj.io' && c.includes('--subresource'))).toBe(true)
    // and the pre-upgrade backup job (an Open WebUI image the kit could not read counts as a change)
    expect(all.some((c) => c[1] === 'create' && c[2] === 'job')).toBe(true)
    expect(all.some((c) => c[1] === 'wait')).toBe(true)
  })
})

describe('the parser check itself', () => {
  it('catches a wrong flag (a broken argv it must reject)', () => {
    expect(runReal(REAL[3], ['helm', 'upgrade', '--install', 'owp', '.', '--wait=watcher', '--rollback-on-failure']).stderr).toMatch(PARSE_ERROR)
    expect(runReal(REAL[4], ['helm', 'rollback', 'owp', '3', '--atomicity']).stderr).toMatch(PARSE_ERROR)
    expect(runReal(REAL.kubectl, ['kubectl', 'get', 'pods', '--selectr', 'a=b']).stderr).toMatch(PARSE_ERROR)
  })
})
