// deploy.ts as a user runs it: Ctrl-C mid-step, two deploys of one target, the auto-detect matrix.
import { describe, it, expect, afterEach } from 'vitest'
import { existsSync, readdirSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runScript, type ScriptResult } from '../helpers/run-script.ts'
import { fakeBins, ok, fails, on, type FakeBins } from '../helpers/fake-bins.ts'
import { detectTarget, noTargetHint } from '../../scripts/lib/deploy/target.ts'
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
  it('no target: the hint names this OS\'s engine and Compose v2 packages, or says the engine is down', () => {
    const dir = mkdtempSync(join(tmpdir(), 'owp-os-'))
    const os = (text: string) => { writeFileSync(join(dir, 'os-release'), text); return join(dir, 'os-release') }
    expect(noTargetHint(false, os('ID=ubuntu\nVERSION_CODENAME=noble\n'))).toContain('apt-get install docker.io docker-compose-v2')
    expect(noTargetHint(false, os('ID=debian\nVERSION_CODENAME=bookworm\n'))).toMatch(/apt-get install docker.io; Compose v2 is not packaged in bookworm: use Docker's packages docker-ce docker-compose-plugin/)
    expect(noTargetHint(false, os('ID=debian\nVERSION_CODENAME=trixie\n'))).toContain('apt-get install docker.io docker-compose')
    expect(noTargetHint(true, os('ID=debian\n'))).toContain('the docker CLI is installed but no engine answers: start it (systemctl start docker)')
    expect(noTargetHint(false, join(dir, 'missing'))).toContain('https://docs.docker.com/engine/install/')
    rmSync(dir, { recursive: true })
  })

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
    // each side's own reason: "permission denied" on the socket is not "no engine"
    if (want === 'error') expect(r).toBe('error: no deployment target found: no reachable Kubernetes context (context prod: connection refused) and no Docker engine (Cannot connect to the Docker daemon)')
    else expect(r).toBe(want)
  })

  it('neither: the user is told both ways (exit 1); both flags: usage error (exit 2)', async () => {
    bins = fakeBins({ kubectl: [fails(1, 'no context')], docker: [fails(1, 'no daemon')] })
    box = sandbox(bins)
    const env = { ...box.env, PATH: bins.path }
    const none = await runScript('scripts/deploy.ts', ['--dry-run', '--env-file', join(box.dir, '.env')], { env })
    expect(none.code).toBe(1)
    expect(none.stderr).toMatch(/hint: Docker Compose on this host: .*(install|docker-compose).*make deploy-docker/)
    expect(none.stderr).toMatch(/Kubernetes: point kubectl at a cluster .*make deploy-k8s/)
    expect(none.stderr).toContain('make e2e-setup ARGS=--keep')
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
    const empty = await runScript('scripts/deploy.ts', args(box, ['--history-max', '']), { env })
    expect(empty.code).toBe(2)
    expect(empty.stderr).toContain('--history-max must be a whole number >= 0, got ""')
    const timeout = await runScript('scripts/helm-install.ts', ['--chart-only', '--chart', CHART, '--skip-checks', '--timeout', 'soon'], { env })
    expect(timeout.code).toBe(2)
    expect(timeout.stderr).toMatch(/--timeout/)
    expect(bins.calls('helm').filter((c) => c[1] === 'upgrade')).toEqual([])
  })
})
