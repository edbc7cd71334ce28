// The Compose flow with a fake docker on a fixture compose file (parsed by the real docker-compose).
import { describe, it, expect, afterEach } from 'vitest'
import { readFileSync, existsSync, rmSync, mkdirSync, writeFileSync, copyFileSync } from 'node:fs'
import dotenv from 'dotenv'
import { join, dirname } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { deployCompose, composeChecks, type ComposeOptions } from '../../scripts/lib/deploy/compose.ts'
import { acquireLock } from '../../scripts/lib/core/lock.ts'
import { LockedError, type KitError } from '../../scripts/lib/core/errors.ts'
import { PreflightError } from '../../scripts/lib/core/preflight.ts'
import { createContext } from '../../scripts/lib/core/context.ts'
import { fakeBins, type FakeBins } from '../helpers/fake-bins.ts'
import { composeExtraFiles } from '../../scripts/lib/tools/compose.ts'
import { COMPOSE_FILE } from '../../scripts/lib/core/paths.ts'
import { sandbox, composeFixture, realComposeConfig, composeFakes, dockerAnswers, CANARY, HTTP_PORT, type Sandbox, type ComposeScenario } from './helpers.ts'
import { barePath } from './servers.ts'

let bins: FakeBins | undefined
let box: Sandbox | undefined
afterEach(() => { bins?.remove(); box?.remove(); bins = box = undefined })

interface Setup { bins: FakeBins; box: Sandbox; file: string; envFile: string; opts(o?: Partial<ComposeOptions>): ComposeOptions }

function setup(s: Omit<ComposeScenario, 'config'> = {}, envExtra: Record<string, string> = {}, profiles = ['lightllm']): Setup {
  const b = sandbox(null, envExtra)
  const file = composeFixture(b.dir)
  const envFile = join(b.dir, '.env')
  const config = realComposeConfig(file, envFile, profiles)
  bins = composeFakes({ ...s, config })
  const fb = bins
  box = { ...b, ctx: (c = {}) => b.ctx({ path: fb.path, ...c }) }
  return { bins: fb, box, file, envFile, opts: (o = {}) => ({ file, envFile, timeout: '20m', skipChecks: false, validate: false, ...o }) }
}

const UP = ['up', '--detach', '--wait', '--wait-timeout', '1200', '--remove-orphans']

describe('first deploy (Compose v2)', () => {
  it('renders the monitoring config, pulls what is missing, then up --wait with --env-file and the lightllm profile', async () => {
    const { bins, box, file, envFile, opts } = setup({ localImages: { 'postgres:15.14': 'sha256:pg' } })
    const ctx = box.ctx()
    const out = await deployCompose(ctx, opts())
    expect(out.ok).toBe(true)
    const base = ['docker', 'compose', '--project-name', 'owptest', '--file', file, '--env-file', envFile, '--profile', 'lightllm']
    const mutating = bins.calls('docker').filter((c) => ['pull', 'up', 'down', 'build'].includes(c[base.length]!))
    const pulled = mutating[0]!
    expect(pulled.slice(0, base.length + 1)).toEqual([...base, 'pull'])
    expect(pulled.slice(base.length + 1).sort()).toEqual(['graphrag-processor', 'lightllm', 'nginx', 'openwebui', 'prometheus', 'redis-exporter'])
    expect(mutating[1]).toEqual([...base, ...UP])
    expect(mutating).toHaveLength(2)
    const am = join(dirname(file), '.generated', 'alertmanager.yml')
    expect(existsSync(am)).toBe(true)
    expect(existsSync(join(dirname(file), '.generated', 'prometheus.yml'))).toBe(true)
    expect(ctx.stdout() + ctx.stderr()).not.toContain(CANARY)
  })

  it('LIGHTLLM_ENABLED=false: no lightllm profile, no NVIDIA runtime check, lightllm not pulled', async () => {
    const { bins, box, opts } = setup({ nvidia: false }, { LIGHTLLM_ENABLED: 'false', OPENAI_API_BASE_URL: 'https://llm.test.local/v1' }, [])
    const ctx = box.ctx()
    const out = await deployCompose(ctx, opts())
    expect(out.ok).toBe(true)
    const up = bins.calls('docker').find((c) => c.includes('up'))!
    expect(up).not.toContain('--profile')
    expect(bins.calls('docker').find((c) => c.includes('pull'))).not.toContain('lightllm')
    expect(ctx.stderr()).not.toContain('NVIDIA')
  })

  it('PGBOUNCER_ENABLED=true: the pgbouncer profile, and every compose command sees POSTGRES_ENDPOINT=pgbouncer:6432', async () => {
    const { bins, box, opts } = setup({}, { PGBOUNCER_ENABLED: 'true' })
    const ctx = box.ctx()
    const out = await deployCompose(ctx, opts())
    expect(out.ok).toBe(true)
    const up = bins.calls('docker').find((c) => c.includes('up'))!
    expect(up.join(' ')).toContain('--profile lightllm --profile pgbouncer')
    expect(ctx.env.POSTGRES_ENDPOINT).toBe('pgbouncer:6432')
  })

  it('up fails on a first deploy: logs of the unhealthy services, then down (volumes kept), exit 1', async () => {
    const { bins, box, file, envFile, opts } = setup({ upFails: true })
    const ctx = box.ctx()
    const out = await deployCompose(ctx, opts())
    expect(out.ok).toBe(false)
    const base = ['docker', 'compose', '--project-name', 'owptest', '--file', file, '--env-file', envFile, '--profile', 'lightllm']
    expect(bins.calls('docker').filter((c) => c[base.length] === 'down')).toEqual([[...base, 'down', '--remove-orphans']])
    expect(out.summary).toMatch(/^up owptest failed.*; down \(first deploy failed\)$/)
    expect(out.steps.find((s) => s.id === 'up')!.status).toBe('failed')
  })
})

describe('upgrade (containers running), --strategy recreate', () => {
  // Open WebUI's image stays (one that changes takes the pre-upgrade backup: bluegreen.test.ts)
  const before = [
    { service: 'openwebui', image: 'ghcr.io/open-webui/open-webui:v0.8.11', imageId: 'sha256:owui-old' },
    { service: 'graphrag-processor', image: 'registry.test/owp/graphrag-processor:1.2.2', imageId: 'sha256:gr-122' },
    { service: 'nginx', image: 'nginxinc/nginx-unprivileged:1.28.0-alpine', imageId: 'sha256:nginx' },
  ]

  it('up fails: logs of the unhealthy services, then up with the images that ran before (tag, or ID when the tag moved)', async () => {
    const { bins, box, file, envFile, opts } = setup({
      before,
      upFails: true,
      inspectUnhealthy: ['openwebui'],
      // the old open-webui tag still points at what ran; graphrag 1.2.2 was rebuilt since (tag moved)
      localImages: { 'ghcr.io/open-webui/open-webui:v0.8.11': 'sha256:owui-old', 'registry.test/owp/graphrag-processor:1.2.2': 'sha256:gr-rebuilt', 'nginxinc/nginx-unprivileged:1.28.0-alpine': 'sha256:nginx' },
    })
    const ctx = box.ctx()
    const out = await deployCompose(ctx, opts({ strategy: 'recreate' }))
    expect(out.ok).toBe(false)
    expect(ctx.stderr()).toContain('logs of openwebui')
    expect(ctx.stderr()).toContain('Traceback: database is locked')
    const override = join(box.env.OWP_STATE_DIR, 'compose', 'owptest-rollback.yml')
    expect(parseYaml(readFileSync(override, 'utf8'))).toEqual({
      services: {
        openwebui: { image: 'ghcr.io/open-webui/open-webui:v0.8.11' },
        'graphrag-processor': { image: 'sha256:gr-122' },
        nginx: { image: 'nginxinc/nginx-unprivileged:1.28.0-alpine' },
      },
    })
    const ups = bins.calls('docker').filter((c) => c.includes('up'))
    expect(ups).toHaveLength(2)
    expect(ups[1]).toEqual(['docker', 'compose', '--project-name', 'owptest', '--file', file, '--file', override, '--env-file', envFile, '--profile', 'lightllm', ...UP, '--no-build'])
    // logs come before the rollback
    const all = bins.calls('docker').map((c) => c.join(' '))
    expect(all.findIndex((c) => c.includes(' logs '))).toBeLessThan(all.indexOf(ups[1]!.join(' ')))
    expect(out.rolledBack).toBe(true)
  })

  it('validation fails after the upgrade: back to the previous images, exit 1, the failing check named', async () => {
    const { bins, box, opts } = setup({ before, unhealthy: ['openwebui'], localImages: { 'ghcr.io/open-webui/open-webui:v0.8.11': 'sha256:owui-old' } })
    const ctx = box.ctx()
    const out = await deployCompose(ctx, opts({ strategy: 'recreate', validate: true, validateArgs: { retries: 0, timeoutMs: 2000, retryDelayMs: 10 } }))
    expect(out.ok).toBe(false)
    expect(out.summary).toMatch(/^validation failed; back to the images that ran before$/)
    expect(ctx.stderr()).toMatch(/FAIL\s+openwebui healthcheck\s+healthcheck exit 1/)
    expect(bins.calls('docker').filter((c) => c.includes('up'))).toHaveLength(2)
    // the healthcheck ran inside the container, $$ unescaped for the container's shell
    // in the container `ps` listed for the service (docker exec: no compose process per check); a
    // service `ps` did not list (postgres here) through compose exec, which says what is wrong
    expect(bins.calls('docker')).toContainEqual(expect.arrayContaining(['exec', '-T', 'postgres', 'sh', '-c', 'pg_isready -h 127.0.0.1 -U "$POSTGRES_USER"']))
    expect(bins.calls('docker').filter((c) => c[1] === 'exec' && c[2] === 'c0')).not.toEqual([])
    expect(bins.calls('docker').filter((c) => c.includes('exec') && c.includes('-T') && c.includes('openwebui'))).toEqual([])
  })

  it('the ports check accepts ports held by this project\'s own nginx', async () => {
    const { box, opts } = setup({ before })
    const ctx = box.ctx()
    await deployCompose(ctx, opts({ strategy: 'recreate' }))
    expect(ctx.stderr()).toMatch(/held by this project's nginx/)
  })
})

describe('Compose v1 (docker-compose)', () => {
  const all = ['openwebui', 'postgres', 'graphrag-processor', 'lightllm', 'nginx', 'prometheus', 'redis-exporter']
  // Open WebUI's image stays: no pre-upgrade backup in these
  const running = all.map((service) => ({ service, image: service === 'openwebui' ? 'ghcr.io/open-webui/open-webui:v0.8.11' : `${service}:1`, imageId: `sha256:${service}` }))

  it('warns, runs up without --wait, then polls the health itself until every service is healthy', async () => {
    const { bins, box, file, envFile, opts } = setup({ v1: true, before: running })
    const ctx = box.ctx()
    const out = await deployCompose(ctx, opts())
    expect(out.ok).toBe(true)
    expect(ctx.stderr()).toMatch(/Compose v1 \(end of life\)/)
    const up = bins.calls('docker-compose').find((c) => c.includes('up'))!
    expect(up).toEqual(['docker-compose', '--project-name', 'owptest', '--file', file, '--env-file', envFile, '--profile', 'lightllm', 'up', '--detach', '--remove-orphans'])
    expect(out.steps.find((s) => s.id === 'wait')!.status).toBe('applied')
  })

  it('a service that stays unhealthy fails the health loop at the timeout, then the rollback runs', async () => {
    const { bins, box, opts } = setup({ v1: true, before: running, inspectUnhealthy: ['openwebui'] })
    const out = await deployCompose(box.ctx(), opts({ timeout: '1s' }))
    expect(out.ok).toBe(false)
    expect(out.steps.find((s) => s.id === 'wait')!.error).toMatch(/not healthy after 1s: openwebui/)
    expect(bins.calls('docker-compose').filter((c) => c.includes('up'))).toHaveLength(2)
  }, 30_000)
})

describe('preflight failures print their hint', () => {
  const cases: Array<[string, Omit<ComposeScenario, 'config'>, Record<string, string>, RegExp]> = [
    ['no Docker engine', { daemon: false }, {}, /docker daemon: no Docker engine answers \(Cannot connect to the Docker daemon at unix:\/\/\/var\/run\/docker\.sock\. Is the docker daemon running\?\)\n\s+hint: start the Docker engine/],
    ['no NVIDIA runtime with LightLLM on', { nvidia: false }, {}, /NVIDIA container runtime: no nvidia runtime in docker info\n\s+hint: install nvidia-container-toolkit/],
    ['not enough disk', {}, { OWP_MIN_FREE_GIB: '999999' }, /free disk for images >= 999999 GiB: .* GiB free\n\s+hint: free space/],
  ]
  it.each(cases)('%s', async (_n, scenario, env, message) => {
    const { bins, box, opts } = setup(scenario)
    const err = await deployCompose(box.ctx({ env }), opts()).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(PreflightError)
    expect((err as Error).message).toMatch(message)
    expect(bins.calls('docker').some((c) => c.includes('up'))).toBe(false)
  })

  it('a missing certificate, a directory where the key should be, no model weights: each named before up', async () => {
    const { bins, box, file, opts } = setup()
    const d = dirname(file)
    rmSync(join(d, 'nginx', 'certs', 'tls.crt'))
    rmSync(join(d, 'nginx', 'certs', 'tls.key'))
    mkdirSync(join(d, 'nginx', 'certs', 'tls.key')) // what Docker leaves at a missing bind source
    rmSync(join(box.dir, 'models', 'tiny-model'), { recursive: true })
    const err = await deployCompose(box.ctx(), opts()).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(PreflightError)
    const msg = (err as Error).message
    expect(msg).toMatch(/TLS certificate and key: .*tls\.crt does not exist; .*tls\.key is a directory, not a file\n\s+hint: make tls-selfsigned/)
    expect(msg).toMatch(/LightLLM model directory: .*models\/tiny-model does not exist/)
    expect(bins.calls('docker').some((c) => c.includes('up'))).toBe(false)
  })

  it('override files named in COMPOSE_EXTRA_FILES that do not exist: every one named, exit 2, before up', async () => {
    const { bins, box, opts } = setup({}, { COMPOSE_EXTRA_FILES: 'site.yml,/nowhere/gpu.yaml' })
    const err = await deployCompose(box.ctx(), opts()).catch((e: unknown) => e) as KitError
    expect(err.exitCode).toBe(2)
    expect(err.message).toMatch(/compose\/site\.yml, which is not a file\n.*\/nowhere\/gpu\.yaml, which is not a file/)
    expect(bins.calls('docker').some((c) => c.includes('up') || c.includes('pull'))).toBe(false)
  })

  it('ports 80/443 taken by something else', async () => {
    const { createServer } = await import('node:net')
    const srv = createServer().listen(0, '0.0.0.0')
    await new Promise((r) => srv.once('listening', r))
    const port = (srv.address() as { port: number }).port
    try {
      const { box, opts } = setup({}, { HTTPS_PORT: String(port) })
      const err = await deployCompose(box.ctx(), opts()).catch((e: unknown) => e) as Error
      expect(err.message).toMatch(new RegExp(`ports ${HTTP_PORT}, ${port} free: in use: ${port}\\n\\s+hint: stop what listens there`))
    } finally {
      srv.close()
    }
  })
})

describe('no compose at all', () => {
  it('a real deploy stops with the install hint', async () => {
    const { box, opts } = setup({})
    const bare = fakeBins({ docker: [{ match: '^compose version', exitCode: 125, stderr: "docker: 'compose' is not a docker command." }, { stdout: '' }] }, { basePath: barePath() })
    try {
      const err = await deployCompose(box.ctx({ path: bare.path }), opts()).catch((e: unknown) => e) as KitError
      expect(err.message).toMatch(/no Docker Compose CLI found/)
      expect(err.hint).toMatch(/install the Docker Compose v2 plugin/)
    } finally {
      bare.remove()
    }
  })
})

describe('--dry-run', () => {
  it('prints the plan and runs nothing, with no Docker engine (--skip-checks)', async () => {
    const { bins, box, file, envFile, opts } = setup({ daemon: false })
    const ctx = box.ctx({ dryRun: true })
    const out = await deployCompose(ctx, opts({ skipChecks: true, validate: true }))
    expect(out.ok).toBe(true)
    const lines = ctx.stdout().trim().split('\n')
    const base = `docker compose --project-name owptest --file ${file} --env-file ${envFile} --profile lightllm`
    expect(lines).toContain(`[dry-run] ${base} ${UP.join(' ')}`)
    expect(lines).toContain(`[dry-run]   on failure: ${base} down --remove-orphans`)
    expect(lines.some((l) => l.startsWith('[dry-run] write ') && l.includes('alertmanager.yml'))).toBe(true)
    expect(existsSync(join(dirname(file), '.generated'))).toBe(false)
    expect(bins.calls('docker').filter((c) => ['up', 'pull', 'down'].some((x) => c.includes(x)))).toEqual([])
    // where each image comes from: its own registry
    expect(ctx.stderr()).toContain('images: each from its own registry (IMAGE_MIRROR is empty)')
    expect(lines).toContain('[dry-run] image openwebui: ghcr.io/open-webui/open-webui:v0.8.11')
    expect(lines).toContain('[dry-run] image graphrag-processor: registry.test/owp/graphrag-processor:1.2.3')
  })

  it('IMAGE_MIRROR: every compose command adds the generated override, and the plan shows each image coming from the mirror', async () => {
    const b = sandbox(null, { IMAGE_MIRROR: 'registry.example:5000/owp' })
    // the kit's own compose file: the merged project goes through the compose policy
    mkdirSync(join(b.dir, 'compose'))
    const file = join(b.dir, 'compose', 'docker-compose.prod.yml')
    copyFileSync(COMPOSE_FILE, file)
    const envFile = join(b.dir, '.env')
    const override = join(dirname(file), '.generated', 'images', 'owptest.yml')
    // the override as every kit command writes it, resolved by the real docker-compose for the fake's `config`
    const extra = composeExtraFiles(dotenv.parse(readFileSync(envFile)), file)
    expect(extra).toEqual([override])
    bins = composeFakes({ config: realComposeConfig(file, envFile, ['lightllm'], extra), daemon: false })
    const fb = bins
    box = { ...b, ctx: (c = {}) => b.ctx({ path: fb.path, ...c }) }
    const ctx = box.ctx({ dryRun: true })
    const out = await deployCompose(ctx, { file, envFile, timeout: '20m', skipChecks: true, validate: false })
    expect(out.ok, ctx.stderr()).toBe(true)
    const lines = ctx.stdout().trim().split('\n')
    const base = `docker compose --project-name owptest --file ${file} --file ${override} --env-file ${envFile} --profile lightllm`
    expect(lines).toContain(`[dry-run] ${base} ${UP.join(' ')}`)
    expect(ctx.stderr()).toContain(`images: from the mirror registry.example:5000/owp (IMAGE_MIRROR, ${override})`)
    expect(ctx.stderr()).not.toContain('from elsewhere')
    for (const [service, image] of [['openwebui', 'open-webui/open-webui:v0.8.11'], ['redis', 'redis:7.4.6'], ['postgres', 'owp/postgres:1.2.3'], ['celery-worker', 'owp/graphrag-processor:1.2.3'], ['lightllm', 'modeltc/lightllm:v1.2.0']]) {
      expect(lines).toContain(`[dry-run] image ${service}: registry.example:5000/owp/${image}`)
    }
    // the site's own override naming a public image: the deploy says which service escapes the mirror
    const site = join(b.dir, 'site.yml')
    writeFileSync(site, 'services:\n  redis-exporter:\n    image: oliver006/redis_exporter:v1.77.0\n')
    writeFileSync(envFile, `${readFileSync(envFile, 'utf8')}COMPOSE_EXTRA_FILES=${site}\n`)
    fb.script('docker', dockerAnswers({ config: realComposeConfig(file, envFile, ['lightllm'], [...extra, site]), daemon: false }))
    const ctx2 = box.ctx({ dryRun: true })
    expect((await deployCompose(ctx2, { file, envFile, timeout: '20m', skipChecks: true, validate: false })).ok, ctx2.stderr()).toBe(true)
    expect(ctx2.stderr()).toContain('IMAGE_MIRROR=registry.example:5000/owp, but redis-exporter (oliver006/redis_exporter:v1.77.0) pulls from elsewhere: name the mirror in the override file that sets it')
  })

  it('with no compose CLI at all, the dry run still shows docker compose commands from the file itself', async () => {
    const { box, file, opts } = setup({})
    const bare = fakeBins({ docker: dockerAnswers({ config: '{}', daemon: false }).filter((a) => !String(a.match ?? '').startsWith('^compose version')) }, { basePath: barePath() })
    bare.script('docker', [{ match: '^compose version', exitCode: 125, stderr: "docker: 'compose' is not a docker command." }, ...dockerAnswers({ config: '{}', daemon: false })])
    try {
      const ctx = box.ctx({ dryRun: true, path: bare.path })
      await deployCompose(ctx, opts({ skipChecks: true }))
      expect(ctx.stderr()).toMatch(/no Docker Compose CLI found: the dry run shows `docker compose` \(v2\) commands/)
      expect(ctx.stderr()).toMatch(/reading .*docker-compose.yml without interpolation/)
      expect(ctx.stdout()).toContain(`--file ${file}`)
    } finally {
      bare.remove()
    }
  })
})

describe('one deploy per target', () => {
  it('a second deploy of the same project stops with a clear message (exit 75)', async () => {
    const { box, opts } = setup({})
    const holder = createContext({ secrets: undefined })
    const release = acquireLock(holder, join(box.env.OWP_STATE_DIR, 'locks', 'compose-owptest.lock'), 'deploy of compose project owptest')
    try {
      const err = await deployCompose(box.ctx(), opts()).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(LockedError)
      expect((err as LockedError).exitCode).toBe(75)
      expect((err as Error).message).toMatch(/another deploy of compose project owptest is running \(pid \d+/)
    } finally {
      release()
    }
  })
})

describe('the disk check asks room for what the deploy will pull', () => {
  const prepared = (missing: string[], built = false) => ({
    cli: { kind: 'v2', version: '2.26.1', base: ['docker', 'compose'] },
    project: { cli: { kind: 'v2', version: '2.26.1', base: ['docker', 'compose'] }, file: '/srv/owp/compose/docker-compose.prod.yml', name: 'owp' },
    env: {}, before: [], missing,
    services: [{ name: 'lightllm', image: 'ghcr.io/modeltc/lightllm:v1.2.0' }, { name: 'graphrag-processor', image: 'owp/graphrag:1', ...(built ? { build: { context: '.' } } : {}) }],
  }) as unknown as Parameters<typeof composeChecks>[0]
  const disk = (p: Parameters<typeof composeChecks>[0]) => composeChecks(p).map((c) => c.name).filter((n) => n.startsWith('free disk'))

  it('images to pull (LightLLM among them): 40 GiB', () => {
    expect(disk(prepared(['ghcr.io/modeltc/lightllm:v1.2.0']))).toEqual(['free disk for images >= 40 GiB'])
  })
  it('every image already here (an upgrade to tags pulled before): room for containers and logs only', () => {
    expect(disk(prepared([]))).toEqual(['free disk >= 5 GiB (every image present)'])
  })
  it('an image built on this host counts as one to make', () => {
    expect(disk(prepared([], true))).toEqual(['free disk for images >= 40 GiB'])
  })
})
