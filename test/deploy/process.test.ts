// deploy.ts as a user runs it: Ctrl-C mid-step, two deploys of one target, the auto-detect matrix.
import { describe, it, expect, afterEach } from 'vitest'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { runScript, type ScriptResult } from '../helpers/run-script.ts'
import { fakeBins, ok, fails, on, type FakeBins } from '../helpers/fake-bins.ts'
import { detectTarget } from '../../scripts/lib/deploy/target.ts'
import { helmAnswers, kubectlAnswers, sandbox, CHART, HISTORY_3, type Sandbox } from './helpers.ts'

let bins: FakeBins | undefined
let box: Sandbox | undefined
afterEach(() => { bins?.remove(); box?.remove(); bins = box = undefined })

const waitFor = async (cond: () => boolean, ms = 20_000) => {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 50))
  }
}

function slowUpgrade(): FakeBins {
  return fakeBins({
    helm: [on('^upgrade --install owp ', { exitCode: 0, delay: 30 }), ...helmAnswers({ history: HISTORY_3 })],
    kubectl: kubectlAnswers({ ingressClasses: ['traefik'], crds: ['certificates.cert-manager.io', 'servicemonitors.monitoring.coreos.com'] }),
  })
}

const deployArgs = ['--kubernetes', '--chart', CHART, '--no-infra', '--skip-checks']
// the script runs from the repository (tsx resolves from there); the sandbox's .env is passed in
const args = (b: Sandbox, extra: string[] = []) => [...deployArgs, '--env-file', join(b.dir, '.env'), ...extra]

describe('Ctrl-C during a step', () => {
  it('kills the running command, runs the cleanups (lock released), reports the steps so far, exits 130', async () => {
    bins = slowUpgrade()
    box = sandbox(bins)
    let pid = 0
    const run = runScript('scripts/deploy.ts', args(box), { env: { ...box.env, PATH: bins.path }, onSpawn: (p) => { pid = p } })
    await waitFor(() => bins!.calls('helm').some((c) => c[1] === 'upgrade'))
    expect(readdirSync(join(box.env.OWP_STATE_DIR, 'locks'))).toHaveLength(1)
    process.kill(pid, 'SIGINT')
    const r = await run
    expect(r.code).toBe(130)
    expect(r.stderr).toContain('SIGINT received: stopping, running cleanups')
    expect(r.stderr).toMatch(/interrupted: steps so far/)
    expect(r.stderr).toMatch(/interrupted\s+helm upgrade --install owp/)
    expect(r.stderr).toMatch(/not-run\s+validate-prod/)
    expect(r.stderr).toMatch(/to undo by hand:\n\s+helm rollback owp 3 --namespace openwebui-prod --wait=watcher/)
    expect(readdirSync(join(box.env.OWP_STATE_DIR, 'locks'))).toEqual([])
    // the fake helm (sleep 30) is gone with its process group
    const { execFileSync } = await import('node:child_process')
    expect(execFileSync('ps', ['-eo', 'args']).toString()).not.toContain(`${bins.dir}/helm upgrade`)
  })
})

describe('two deploys of the same target', () => {
  it('the second stops with a clear message and exit 75 while the first runs', async () => {
    bins = slowUpgrade()
    box = sandbox(bins)
    let pid = 0
    const env = { ...box.env, PATH: bins.path }
    const first = runScript('scripts/deploy.ts', args(box), { env, onSpawn: (p) => { pid = p } })
    await waitFor(() => bins!.calls('helm').some((c) => c[1] === 'upgrade'))
    const second: ScriptResult = await runScript('scripts/deploy.ts', args(box), { env })
    expect(second.code).toBe(75)
    expect(second.stderr).toMatch(/error: another deploy of owp to test-cluster\/openwebui-prod is running \(pid \d+ on .*\)/)
    expect(second.stderr).toMatch(/hint: wait for it to finish; if it died, its lock .*\.lock is taken over once not renewed for 60s/)
    expect(bins.calls('helm').filter((c) => c[1] === 'upgrade')).toHaveLength(1)
    process.kill(pid, 'SIGINT')
    expect((await first).code).toBe(130)
  })

  it('a dry run does not take the lock', async () => {
    bins = slowUpgrade()
    box = sandbox(bins)
    const r = await runScript('scripts/deploy.ts', args(box, ['--dry-run']), { env: { ...box.env, PATH: bins.path } })
    expect(r.code).toBe(0)
    expect(existsSync(join(box.env.OWP_STATE_DIR, 'locks'))).toBe(false)
    expect(r.stdout).toContain('[dry-run] helm upgrade --install owp')
  })
})

describe('auto-detect', () => {
  const matrix: Array<[string, boolean, boolean, 'k8s' | 'compose' | 'error']> = [
    ['kube context reachable, docker too -> k8s', true, true, 'k8s'],
    ['kube context reachable, no docker -> k8s', true, false, 'k8s'],
    ['no cluster, docker engine -> compose', false, true, 'compose'],
    ['neither -> error', false, false, 'error'],
  ]
  it.each(matrix)('%s', async (_n, kube, docker, want) => {
    bins = fakeBins({
      kubectl: kube ? [on('^config current-context', ok('prod')), on('^get --raw /readyz', ok('ok'))] : [on('^config current-context', ok('prod')), fails(1, 'connection refused')],
      docker: docker ? [on('^version', ok('27.3.1'))] : [fails(1, 'Cannot connect to the Docker daemon')],
    })
    box = sandbox(bins)
    const r = await detectTarget(box.ctx(), {}).then((d) => d.target, (e: Error) => `error: ${e.message}`)
    if (want === 'error') expect(r).toBe('error: no deployment target found: no reachable Kubernetes context and no Docker engine')
    else expect(r).toBe(want)
  })

  it('neither: the user is told both ways (exit 1); both flags: usage error (exit 2)', async () => {
    bins = fakeBins({ kubectl: [fails(1, 'no context')], docker: [fails(1, 'no daemon')] })
    box = sandbox(bins)
    const env = { ...box.env, PATH: bins.path }
    const none = await runScript('scripts/deploy.ts', ['--dry-run', '--env-file', join(box.dir, '.env')], { env })
    expect(none.code).toBe(1)
    expect(none.stderr).toMatch(/hint: Kubernetes: point KUBECONFIG at a cluster .* --kubernetes; Docker Compose: start the Docker engine .* --docker-compose/)
    const both = await runScript('scripts/deploy.ts', ['--kubernetes', '--docker-compose'], { env })
    expect(both.code).toBe(2)
    expect(both.stderr).toContain('--kubernetes and --docker-compose exclude each other')
  })
})

describe('bad flag values', () => {
  it('a malformed --history-max or --timeout is a usage error (exit 2) before helm is asked anything', async () => {
    bins = fakeBins({ helm: helmAnswers({ history: HISTORY_3 }), kubectl: kubectlAnswers({}) })
    box = sandbox(bins)
    const env = { ...box.env, PATH: bins.path }
    const history = await runScript('scripts/deploy.ts', args(box, ['--history-max', 'ten']), { env })
    expect(history.code).toBe(2)
    expect(history.stderr).toContain('--history-max must be a whole number >= 0, got "ten"')
    const timeout = await runScript('scripts/helm-install.ts', ['--chart-only', '--chart', CHART, '--skip-checks', '--timeout', 'soon'], { env })
    expect(timeout.code).toBe(2)
    expect(timeout.stderr).toMatch(/--timeout/)
    expect(bins.calls('helm').filter((c) => c[1] === 'upgrade')).toEqual([])
  })
})
