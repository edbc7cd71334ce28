// The site's compose override files (.env COMPOSE_EXTRA_FILES): every kit command that runs compose
// names them after the main file, and the deploy checks them with the real compose CLI: a missing
// file or a merged project that breaks the compose policy is refused, every problem listed.
import { describe, it, expect, afterAll } from 'vitest'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { composeArgv, composeConfig, composeExtraFiles, detectCompose, FEATURE_FILES, type ComposeCli, type ComposeProject } from '../../scripts/lib/tools/compose.ts'
import { checkExtraFiles } from '../../scripts/lib/tools/compose-files.ts'
import { createTarget } from '../../scripts/lib/backup/targets.ts'
import { pitrSite } from '../../scripts/lib/backup/pitr/index.ts'
import { ConfigError } from '../../scripts/lib/core/errors.ts'
import { COMPOSE_FILE, ROOT } from '../../scripts/lib/core/paths.ts'
import { engineLayout } from '../e2e/harness/engine.ts'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { fakeBins, ok, type FakeBins } from '../helpers/fake-bins.ts'
import { TEST_ENV_FILE, testEnv } from '../stack/tools.ts'

const tmp = tmpDir('owp-overrides-')
let bins: FakeBins | undefined
afterAll(() => { tmp.remove(); bins?.remove() })
const write = (name: string, text: string) => { const f = join(tmp.path, name); writeFileSync(f, text); return f }
const V2: ComposeCli = { kind: 'v2', version: '2.26.1', base: ['docker', 'compose'] }

describe('COMPOSE_EXTRA_FILES on every compose command', () => {
  it('resolves relative names from compose/ (like every host path of .env), keeps the order, ignores blanks', () => {
    expect(composeExtraFiles({ COMPOSE_EXTRA_FILES: 'site.yml, /etc/owp/gpu.yaml,,' }, COMPOSE_FILE))
      .toEqual([join(ROOT, 'compose', 'site.yml'), '/etc/owp/gpu.yaml'])
    expect(composeExtraFiles({}, COMPOSE_FILE)).toEqual([])
  })

  it('deploy and validate: the override files follow the main file, in order', () => {
    const p: ComposeProject = { cli: V2, file: COMPOSE_FILE, name: 'owp', envFile: '/srv/.env', profiles: ['lightllm'], extraFiles: ['/a.yml', '/b.yml'] }
    expect(composeArgv(p, 'up')).toEqual(['docker', 'compose', '--project-name', 'owp', '--file', COMPOSE_FILE, '--file', '/a.yml', '--file', '/b.yml',
      '--env-file', '/srv/.env', '--profile', 'lightllm', 'up'])
  })

  it('backup and restore (store target), point-in-time recovery: the same files', async () => {
    const env = { ...testEnv(), COMPOSE_EXTRA_FILES: '/a.yml,/b.yml' }
    const files = ['-f', COMPOSE_FILE, '-f', '/a.yml', '-f', '/b.yml']
    bins = fakeBins({ docker: ok('') })
    const ctx = testCtx({ path: bins.path })
    const target = createTarget({ kind: 'compose', env, project: 'owp', composeFile: COMPOSE_FILE, extraFiles: composeExtraFiles(env, COMPOSE_FILE), envFile: null })
    await target.run(ctx, 'postgres', ['true'])
    await pitrSite(ctx, 'compose', env, { 'env-file': '/srv/.env' }).readConfig(ctx)
    const calls = bins.calls('docker')
    expect(calls).toHaveLength(2)
    for (const c of calls) expect(c.slice(4, 10)).toEqual(files)
  })
})

// The compose CLIs of this machine: docker-compose v1 (Debian) and, when the e2e setup installed it,
// the v2 plugin (whose `config` output drops x-waivers: the policy reads them from the files).
const plugin = engineLayout().composePlugin
const clis: Array<[string, Record<string, string>]> = [['docker-compose v1', { DOCKER_CONFIG: join(tmp.path, 'no-plugins') }]]
if (existsSync(plugin)) clis.push(['docker compose v2', { DOCKER_CONFIG: join(plugin, '..', '..') }])

describe.each(clis)('the deploy checks the override files (%s)', (_name, cliEnv) => {
  const project = async (extraFiles: string[]) => {
    const ctx = testCtx({ env: cliEnv })
    const cli = await detectCompose(ctx)
    if (!cli) throw new Error('no compose CLI: make setup installs docker-compose')
    return { ctx, p: { cli, file: COMPOSE_FILE, name: 'owp', envFile: TEST_ENV_FILE, profiles: [], extraFiles } as ComposeProject }
  }
  const env = (files: string[]) => ({ ...testEnv(), COMPOSE_EXTRA_FILES: files.join(',') })
  const problems = async (files: string[]) => {
    const { ctx, p } = await project(files)
    const err = await checkExtraFiles(ctx, p, env(files)).then(() => null, (e: unknown) => e)
    if (err && !(err instanceof ConfigError)) throw err
    return err ? (err as ConfigError).problems : []
  }

  it('accepts a site override that keeps the policy, a waiver of its own included', async () => {
    const site = write('site.yml', `services:
  openwebui:
    environment:
      ENABLE_COMMUNITY_SHARING: "false"
    deploy:
      resources:
        limits: { cpus: "4", memory: 8G }
  sso-sidecar:
    image: quay.io/oauth2-proxy/oauth2-proxy:v7.12.0
    x-waivers:
      healthcheck: distroless image without a shell or HTTP client
    restart: unless-stopped
    logging: { driver: local }
    security_opt: [no-new-privileges:true]
    cap_drop: [ALL]
    read_only: true
    user: "65532:65532"
    networks: [app]
    deploy:
      resources:
        limits: { cpus: "0.2", memory: 128M }
        reservations: { cpus: "0.05", memory: 32M }
`)
    expect(await problems([site])).toEqual([])
  })

  it('CA_BUNDLE_PATH and AIR_GAPPED=true: the kit feature files give every service that calls out the bundle (read-only) and offline hubs, policy kept', async () => {
    const bundle = write('corp-ca.pem', '-----BEGIN CERTIFICATE-----\n')
    const e = { ...testEnv(), CA_BUNDLE_PATH: bundle, AIR_GAPPED: 'true', COMPOSE_EXTRA_FILES: join(tmp.path, 'site.yml') }
    const files = composeExtraFiles(e, COMPOSE_FILE)
    expect(files).toEqual([FEATURE_FILES.caBundle, FEATURE_FILES.airGapped, join(tmp.path, 'site.yml')])
    const { ctx, p } = await project(files)
    p.profiles = ['lightllm']
    await checkExtraFiles(ctx, p, e)
    const merged = await composeConfig(ctx, p, e) as { services: Record<string, { environment: Record<string, string>; volumes: unknown[] }> }
    for (const s of ['openwebui', 'lightllm', 'graphrag-processor', 'celery-worker', 'celery-beat', 'mcp-server']) {
      const env = merged.services[s]!.environment
      for (const n of ['SSL_CERT_FILE', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'NODE_EXTRA_CA_CERTS']) expect(env[n], `${s} ${n}`).toBe('/etc/owp/ca/ca-bundle.crt')
      expect([env.HF_HUB_OFFLINE, env.TRANSFORMERS_OFFLINE], s).toEqual(['1', '1'])
      expect(JSON.stringify(merged.services[s]!.volumes), s).toMatch(new RegExp(`${bundle}:/etc/owp/ca/ca-bundle.crt:ro|"source":"${bundle}","target":"/etc/owp/ca/ca-bundle.crt","read_only":true`))
    }
    // the services that make no outbound calls get neither
    expect(merged.services.postgres!.environment.SSL_CERT_FILE).toBeUndefined()
    expect(merged.services.nginx!.environment.HF_HUB_OFFLINE).toBeUndefined()
    // off: no feature file at all
    expect(composeExtraFiles({ ...testEnv(), AIR_GAPPED: 'false' }, COMPOSE_FILE)).toEqual([])
  })

  it('names every missing file at once', async () => {
    expect(await problems([join(tmp.path, 'gone-a.yml'), join(tmp.path, 'site.yml'), join(tmp.path, 'gone-b.yaml')])).toEqual([
      `COMPOSE_EXTRA_FILES names ${join(tmp.path, 'gone-a.yml')}, which is not a file`,
      `COMPOSE_EXTRA_FILES names ${join(tmp.path, 'gone-b.yaml')}, which is not a file`,
    ])
  })

  it('refuses an override that breaks the policy, listing every problem of the merged project', async () => {
    const bad = write('bad.yml', `services:
  redis:
    ports: ["6379:6379"]
    privileged: true
  debug:
    image: busybox:latest
    restart: "no"
    volumes: ["./scratch:/scratch"]
    networks: [app]
`)
    const found = await problems([write('ok.yml', 'services:\n  openwebui:\n    environment:\n      X: "1"\n'), bad])
    expect(found).toEqual(expect.arrayContaining([
      'redis: runs privileged [privileged]',
      'redis: is a data store and publishes a host port [ports]',
      'debug: image busybox:latest is not pinned to a version (tag "latest") [image]',
      'debug: has no healthcheck [healthcheck]',
      'debug: restart policy is no (use unless-stopped, always or on-failure) [restart]',
      'debug: security_opt lacks no-new-privileges:true [no-new-privileges]',
      expect.stringMatching(/^debug: bind-mounts .*scratch writable at \/scratch/),
    ]))
    // nothing about the services the override left alone
    expect(found.filter((x) => !/^(redis|debug):/.test(x))).toEqual([])
  })
})
