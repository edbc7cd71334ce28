// Blue-green upgrades on compose with a fake docker: the plan (--dry-run shows each step, its undo
// and the drain), the order of the real commands, the cleanup when the new version fails before
// the switch, and the switch back when validation fails after it.
import { describe, it, expect, afterEach } from 'vitest'
import { readFileSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { deployCompose, type ComposeOptions } from '../../scripts/lib/deploy/compose.ts'
import { fakeBins, ok, fails, on, type FakeBins, type Answer } from '../helpers/fake-bins.ts'
import { sandbox, composeFixture, realComposeConfig, dockerAnswers, type Sandbox } from './helpers.ts'

let bins: FakeBins | undefined
let box: Sandbox | undefined
afterEach(() => { bins?.remove(); box?.remove(); bins = box = undefined })

const OLD = 'hash-old'
const NEW = 'hash-new'
interface C { id: string; service: string; name: string; hash: string; image: string; health?: string; state?: string; healthcheck?: string[] }
const old: C[] = [
  // the same Open WebUI image, another config (a changed variable): no migration to guard
  { id: 'o-openwebui', service: 'openwebui', name: 'owptest-openwebui-1', hash: OLD, image: 'ghcr.io/open-webui/open-webui:v0.8.11' },
  { id: 'o-graphrag', service: 'graphrag-processor', name: 'owptest-graphrag-processor-1', hash: OLD, image: 'registry.test/owp/graphrag-processor:1.2.2' },
  { id: 'o-postgres', service: 'postgres', name: 'owptest-postgres-1', hash: 'pg', image: 'postgres:15.14' },
  { id: 'o-nginx', service: 'nginx', name: 'owptest-nginx-1', hash: 'nx', image: 'nginxinc/nginx-unprivileged:1.28.0-alpine' },
]
const fresh: C[] = [
  { id: 'n-openwebui', service: 'openwebui', name: 'owptest-openwebui-2', hash: NEW, image: 'ghcr.io/open-webui/open-webui:v0.8.11' },
  { id: 'n-graphrag', service: 'graphrag-processor', name: 'owptest-graphrag-processor-2', hash: NEW, image: 'registry.test/owp/graphrag-processor:1.2.3' },
]
const inspect = (cs: C[]) => JSON.stringify(cs.map((c) => ({
  Id: c.id, Name: `/${c.name}`, Image: `sha256:${c.id}`,
  Config: { Image: c.image, Labels: { 'com.docker.compose.service': c.service, 'com.docker.compose.config-hash': c.hash }, ...(c.healthcheck ? { Healthcheck: { Test: c.healthcheck, Timeout: 5e9 } } : {}) },
  State: { Status: c.state ?? 'running', Health: { Status: c.health ?? 'healthy', Log: [{ ExitCode: 0, Output: 'ok' }] } },
})))
const workers = (...ps: Array<[number, boolean?]>) => ok(ps.map(([pid, down]) => `${pid} nginx: worker process${down ? ' is shutting down' : ''}`).join('\n') + '\n1 nginx: master process nginx\n')

interface Scenario {
  smokeFails?: string; newUnhealthy?: string; validationFails?: boolean; oldOpenWebui?: string; listingFailsOnce?: boolean; pinReloadFails?: boolean
  /** Docker still calls the new containers "starting" (its first healthcheck is an interval away); the kit's own run of it passes or fails. */
  newStarting?: 'passes' | 'fails'
}
const HEALTHCHECK = ['CMD-SHELL', 'curl -fsS http://127.0.0.1:8080/health || exit 1']

function setup(s: Scenario = {}) {
  const b = sandbox(null)
  const file = composeFixture(b.dir)
  const envFile = join(b.dir, '.env')
  const config = realComposeConfig(file, envFile)
  const before = old.map((c) => (c.service === 'openwebui' && s.oldOpenWebui ? { ...c, image: s.oldOpenWebui } : c))
  const all = [...before, ...fresh.map((c) => (c.service === s.newUnhealthy ? { ...c, health: 'unhealthy' } : s.newStarting ? { ...c, health: 'starting', healthcheck: HEALTHCHECK } : c))]
  const hashes = ['openwebui', 'graphrag-processor', 'postgres', 'nginx', 'lightllm', 'prometheus', 'redis-exporter']
    .map((svc) => `${svc} ${['openwebui', 'graphrag-processor'].includes(svc) ? NEW : old.find((c) => c.service === svc)?.hash ?? 'x'}`).join('\n')
  const mine: Answer[] = [
    ...(s.listingFailsOnce ? [{ ...on('^compose .* exec -T nginx sh -c', fails(2, 'sh: 1: cannot open /proc/4242/cmdline: No such file')), times: 1 }] : []),
    ...(s.pinReloadFails ? [{ ...on('^compose .* exec -T nginx nginx -s reload', fails(1, 'service "nginx" is not running')), times: 1 }] : []),
    on('^compose .* config --hash', ok(hashes)),
    ...(s.newStarting ? [on('^exec n-', s.newStarting === 'passes' ? ok() : fails(1, 'curl: (7) Failed to connect'))] : []),
    // before the new containers exist: the first `ps` (the deploy's look at the project)
    { ...on('^compose .* ps --all --quiet', ok(before.map((c) => c.id).join('\n'))), times: 1 },
    on('^compose .* ps --all --quiet', ok(all.map((c) => c.id).join('\n'))),
    ...all.filter((c) => c.id.startsWith('n-')).map((c) => on(`^inspect ${c.id}$`, ok(inspect([c])))),
    on('^inspect .*n-', ok(inspect(all))),
    on('^inspect', ok(inspect(before))),
    // NGINX's workers, one listing a call: before a reload, right after it (the old ones shutting
    // down beside the new), drained, ... (each reload: pin, switch, unswitch or switch back, unpin)
    ...Array.from({ length: 16 }, (_, k) => {
      const j = Math.floor(k / 2) + 1
      return { ...on('^compose .* exec -T nginx sh -c', k % 2 ? workers([j * 10, true], [j * 10 + 1, true], [(j + 1) * 10], [(j + 1) * 10 + 1]) : workers([j * 10], [j * 10 + 1])), times: 1 }
    }),
    on('^compose .* exec -T nginx sh -c', workers([90], [91])),
    ...(s.smokeFails ? [on(`^compose .* exec -T nginx wget .*${s.smokeFails}`, fails(1, 'wget: server returned error: HTTP/1.1 503 Service Unavailable'))] : []),
    on('^compose .* exec -T nginx', ok()),
  ]
  bins = fakeBins({ docker: [...mine, ...dockerAnswers({ config, before: [], unhealthy: s.validationFails ? ['openwebui'] : [] }).filter((a) => !/ps --all|\^inspect/.test(a.match ?? ''))] })
  box = { ...b, ctx: (c = {}) => b.ctx({ path: bins!.path, ...c }) }
  const base = ['docker', 'compose', '--project-name', 'owptest', '--file', file, '--env-file', envFile, '--profile', 'lightllm']
  const opts = (o: Partial<ComposeOptions> = {}): ComposeOptions => ({ file, envFile, timeout: '20s', skipChecks: true, validate: false, drainTimeout: '5s', ...o })
  const switchFile = join(dirname(file), '.generated', 'nginx', 'owptest', 'switch.conf')
  const mutating = () => bins!.calls('docker').filter((c) => (c[1] === 'compose' && ['up', 'down'].includes(c[base.length]!)) || ['stop', 'start', 'rm'].includes(c[1]!)
    || (c.includes('exec') && c.includes('nginx') && (c.includes('-s') || c.includes('wget'))))
  return { file, envFile, base, opts, switchFile, mutating, box: box! }
}

describe('blue-green upgrade (Compose v2): the plan', () => {
  it('--dry-run shows each step with its undo, the smoke test, the switch and the drain, and runs nothing', async () => {
    const { box, base, opts } = setup()
    const ctx = box.ctx({ dryRun: true })
    const out = await deployCompose(ctx, opts({ validate: true }))
    expect(out.ok).toBe(true)
    const b = base.join(' ')
    const lines = ctx.stdout().split('\n')
    const at = (text: string) => { const i = lines.findIndex((l) => l.includes(text)); expect(i, `${text}\n${lines.join('\n')}`).toBeGreaterThanOrEqual(0); return i }
    // the plain `up` names only what changed: not the blue-green services, not an unchanged NGINX or PostgreSQL
    at(`[dry-run] ${b} up --detach --wait --wait-timeout 20 --remove-orphans --no-deps lightllm prometheus redis-exporter`)
    // NGINX goes by the old containers' names before the new ones join the service names
    const pin = at('# pin NGINX to the running containers')
    expect(lines[pin + 1]).toBe(`[dry-run] ${b} exec -T nginx nginx -s reload -c /etc/nginx/conf.d/nginx.conf`)
    const start = at(`[dry-run] ${b} up --detach --no-deps --no-recreate --no-build --scale openwebui=2 openwebui`)
    expect(lines[start + 1]).toBe("[dry-run]   on failure: docker rm --force '<new openwebui>'")
    at(`[dry-run] ${b} up --detach --no-deps --no-recreate --no-build --scale graphrag-processor=2 graphrag-processor`)
    const smoke = at(`exec -T nginx wget -q -O /dev/null -T 5 'http://<new openwebui>:8080/health'`)
    const sw = at('# switch NGINX (graceful reload)')
    expect(lines[sw + 1]).toBe(`[dry-run] ${b} exec -T nginx nginx -s reload -c /etc/nginx/conf.d/nginx.conf`)
    expect(lines[sw + 2]).toBe(`[dry-run]   on failure: ${b} exec -T nginx nginx -s reload -c /etc/nginx/conf.d/nginx.conf`)
    const drain = at('[dry-run] nginx-drain --timeout 5s')
    const stop = at('[dry-run] docker stop --time 10 owptest-openwebui-1')
    expect(lines[stop + 1]).toBe('[dry-run]   on failure: docker start owptest-openwebui-1')
    const validate = at('[dry-run] tsx scripts/validate-prod.ts')
    const remove = at('[dry-run] docker rm --force owptest-graphrag-processor-1 owptest-openwebui-1')
    expect([pin < start, start < smoke, smoke < sw, sw < drain, drain < stop, stop < validate, validate < remove]).toEqual([true, true, true, true, true, true, true])
    expect(out.upgrade).toMatchObject({ strategy: 'bluegreen', services: ['graphrag-processor', 'openwebui'] })
    expect(bins!.calls('docker').filter((c) => ['up', 'stop', 'start', 'rm'].some((x) => c.includes(x)) || c.includes('reload'))).toEqual([])
  })

  it('--strategy recreate plans the single `up` of every service, as before', async () => {
    const { box, base, opts } = setup()
    const ctx = box.ctx({ dryRun: true })
    await deployCompose(ctx, opts({ strategy: 'recreate' }))
    expect(ctx.stdout()).toContain(`[dry-run] ${base.join(' ')} up --detach --wait --wait-timeout 20 --remove-orphans\n`)
    expect(ctx.stdout()).not.toContain('--scale')
  })

  it('refuses an unknown strategy and a bad drain timeout at once, before anything runs', async () => {
    const { box, opts } = setup()
    const err = await deployCompose(box.ctx(), opts({ strategy: 'canary' as never, drainTimeout: 'soon' })).catch((e: Error) => e)
    expect((err as Error).message).toBe('--strategy must be bluegreen or recreate (got "canary")\n--drain-timeout must be a duration like 90s, 15m or 1h30m (got "soon")')
    expect(bins!.calls('docker')).toEqual([])
  })
})

describe('blue-green upgrade (Compose v2): running it', () => {
  it('starts the new beside the old, smokes it from NGINX, switches once, drains, stops the old, and removes it last', async () => {
    const { box, base, opts, switchFile, mutating } = setup()
    const out = await deployCompose(box.ctx(), opts())
    expect(out.ok, out.summary).toBe(true)
    const m = mutating().map((c) => c.slice(c[1] === 'compose' ? base.length : 1).join(' '))
    expect(m[0]).toMatch(/^up --detach --wait .* --no-deps lightllm prometheus redis-exporter$/)
    // pinned to the old containers first
    expect(m[1]).toBe('exec -T nginx nginx -s reload -c /etc/nginx/conf.d/nginx.conf')
    m.splice(1, 1)
    expect(m.slice(1, 3).sort()).toEqual([
      'up --detach --no-deps --no-recreate --no-build --scale graphrag-processor=2 graphrag-processor',
      'up --detach --no-deps --no-recreate --no-build --scale openwebui=2 openwebui',
    ])
    expect(m.slice(3, 5).sort()).toEqual([
      'exec -T nginx wget -q -O /dev/null -T 5 http://owptest-graphrag-processor-2:8010/health',
      'exec -T nginx wget -q -O /dev/null -T 5 http://owptest-openwebui-2:8080/health',
    ])
    expect(m[5]).toBe('exec -T nginx nginx -s reload -c /etc/nginx/conf.d/nginx.conf')
    expect(m.slice(6, 8).sort()).toEqual(['stop --time 10 owptest-graphrag-processor-1', 'stop --time 10 owptest-openwebui-1'])
    expect(m[8]).toBe('rm --force o-graphrag o-openwebui')
    expect(m[9]).toBe('exec -T nginx nginx -s reload -c /etc/nginx/conf.d/nginx.conf')
    expect(m).toHaveLength(10)
    // after the upgrade NGINX goes by service names again (one container each)
    expect(readFileSync(switchFile, 'utf8')).not.toMatch(/set /)
    expect(out.upgrade).toMatchObject({ strategy: 'bluegreen', services: ['graphrag-processor', 'openwebui'], cutWorkers: 0 })
    expect(typeof (out.upgrade as { switchMs: number }).switchMs).toBe('number')
    expect(out.summary).toMatch(/is up \(blue-green: graphrag-processor, openwebui, switch \d+ ms\)$/)
  })

  it('a new version that fails its smoke test is removed before any switch: users saw nothing', async () => {
    const { box, opts, mutating, switchFile } = setup({ smokeFails: 'owptest-graphrag-processor-2' })
    const out = await deployCompose(box.ctx(), opts())
    expect(out.ok).toBe(false)
    expect(out.summary).toMatch(/^smoke the new graphrag-processor .* failed/)
    const m = mutating().map((c) => c.join(' '))
    // the pin to the old containers and its undo (service names again): no switch to the new
    expect(m.filter((c) => c.includes('reload'))).toHaveLength(2)
    expect(readFileSync(switchFile, 'utf8')).not.toMatch(/set /)
    expect(m.filter((c) => / stop | start /.test(` ${c} `))).toEqual([])
    expect(m).toContain('docker rm --force n-graphrag')
    expect(m).toContain('docker rm --force n-openwebui')
    expect(m.filter((c) => c.startsWith('docker rm')).join()).not.toContain('o-')
    expect(out.rolledBack).toBe(true)
  })

  it('a look at NGINX\'s processes that fails once (a process ended while it was listed) is taken again: the upgrade goes on', async () => {
    const { box, opts } = setup({ listingFailsOnce: true })
    const out = await deployCompose(box.ctx(), opts())
    expect(out.summary).not.toMatch(/failed/)
    expect(out.ok).toBe(true)
  })

  it('a pin whose reload fails puts the switch file back: nothing pinned for a later start of NGINX, nothing else changed', async () => {
    const { box, opts, mutating, switchFile } = setup({ pinReloadFails: true })
    const out = await deployCompose(box.ctx(), opts())
    expect(out.ok).toBe(false)
    expect(out.summary).toMatch(/^pin NGINX .* failed: command failed \(exit code 1\): .* nginx -s reload/)
    expect(readFileSync(switchFile, 'utf8')).not.toMatch(/set /)
    // the services of the plain `up` before it ran; no new container of the upgraded ones, none stopped
    expect(mutating().map((c) => c.join(' ')).filter((c) => !c.includes('reload') && / (rm|stop|start|openwebui|graphrag-processor)( |$)/.test(c))).toEqual([])
  })

  it('a new version its own healthcheck calls unhealthy is removed, with the healthcheck output in the summary', async () => {
    const { box, opts, mutating } = setup({ newUnhealthy: 'openwebui' })
    const out = await deployCompose(box.ctx(), opts())
    expect(out.ok).toBe(false)
    expect(out.summary).toMatch(/wait for the new openwebui's own healthcheck failed/)
    expect(out.steps.find((s) => s.id === 'healthy:openwebui')!.error).toMatch(/the new openwebui \(owptest-openwebui-2\) is unhealthy: ok/)
    expect(mutating().map((c) => c.join(' '))).toContain('docker rm --force n-openwebui')
    expect(mutating().filter((c) => c.includes('reload'))).toHaveLength(2) // pin and unpin only
  })

  it('a new container Docker still calls "starting" (its first healthcheck an interval away) is healthy once its healthcheck passes when the kit runs it', async () => {
    const { box, opts } = setup({ newStarting: 'passes' })
    const out = await deployCompose(box.ctx(), opts())
    expect(out.ok, out.summary).toBe(true)
    // the container's own test, through its shell, as Docker runs it
    const runs = bins!.calls('docker').filter((c) => c[1] === 'exec' && c[2]!.startsWith('n-'))
    expect(runs.map((c) => c.join(' '))).toEqual(expect.arrayContaining([
      'docker exec n-openwebui /bin/sh -c curl -fsS http://127.0.0.1:8080/health || exit 1',
      'docker exec n-graphrag /bin/sh -c curl -fsS http://127.0.0.1:8080/health || exit 1',
    ]))
    expect(out.steps.find((st) => st.id === 'switch')?.status).toBe('applied')
  })

  it('one whose healthcheck fails when the kit runs it stays unproven: the wait ends at its deadline and the new containers go (the broken fixture)', async () => {
    const { box, opts, mutating } = setup({ newStarting: 'fails' })
    const out = await deployCompose(box.ctx(), opts({ timeout: '3s' }))
    expect(out.ok).toBe(false)
    expect(out.steps.find((st) => st.id.startsWith('healthy:'))!.error).toMatch(/was not healthy after 3s \(starting\)/)
    expect(bins!.calls('docker').filter((c) => c[1] === 'exec' && c[2]!.startsWith('n-')).length).toBeGreaterThan(0)
    expect(mutating().map((c) => c.join(' '))).toEqual(expect.arrayContaining([expect.stringMatching(/^docker rm --force n-/)]))
    expect(out.steps.find((st) => st.id === 'switch')?.status).not.toBe('applied')
  }, 20_000)

  it('validation failing after the switch starts the old containers, switches NGINX back to them, then removes the new', async () => {
    const { box, opts, switchFile, mutating } = setup({ validationFails: true })
    const out = await deployCompose(box.ctx(), opts({ validate: true, validateArgs: { retries: 0, timeoutMs: 2000, retryDelayMs: 10 } }))
    expect(out.ok).toBe(false)
    expect(out.summary).toMatch(/^validation failed; start the old openwebui again, .*switch NGINX back to the old graphrag-processor, openwebui, remove the new openwebui/)
    const m = mutating().map((c) => c.join(' '))
    const i = (re: RegExp) => m.findIndex((c) => re.test(c))
    expect(i(/^docker start o-/)).toBeGreaterThan(i(/^docker stop/))
    // pin, switch, switch back, then (the new removed) the service names again
    const reloads = m.map((c, k) => (c.includes('-s reload') ? k : -1)).filter((k) => k >= 0)
    expect(reloads).toHaveLength(4)
    expect(reloads[2]).toBeGreaterThan(i(/^docker start o-openwebui/))
    expect(i(/^docker rm --force n-openwebui/)).toBeGreaterThan(reloads[2]!)
    expect(reloads[3]).toBeGreaterThan(i(/^docker rm --force n-openwebui/))
    // the old containers are never removed on this path; the new ones are gone: NGINX goes by the service names
    expect(m.filter((c) => c.startsWith('docker rm')).join()).not.toContain('o-')
    expect(readFileSync(switchFile, 'utf8')).not.toMatch(/set /)
  })
})

describe('an upgrade that changes the Open WebUI image (its schema may migrate)', () => {
  const v10 = 'ghcr.io/open-webui/open-webui:v0.8.10'

  it('without a terminal and without --yes: refused before anything runs (a rollback may need to restore the database)', async () => {
    const { box, opts } = setup({ oldOpenWebui: v10 })
    const err = await deployCompose(box.ctx(), opts()).catch((e: Error) => e) as Error & { exitCode: number; hint?: string }
    expect(err.message).toMatch(/^this upgrade changes the Open WebUI image: rolling it back after its migration restores the pre-upgrade database/)
    expect(err.exitCode).toBe(2)
    expect(err.hint).toMatch(/pass --yes/)
    expect(bins!.calls('docker').filter((c) => ['up', 'stop', 'rm', 'exec'].some((x) => c.includes(x)))).toEqual([])
  })

  it('the plan records the schema revision, takes a labelled verified backup before the new version starts, and says the rollback restores it', async () => {
    const { box, base, opts, file, envFile } = setup({ oldOpenWebui: v10 })
    const ctx = box.ctx({ dryRun: true })
    const out = await deployCompose(ctx, opts({ validate: true }))
    expect(out.ok).toBe(true)
    const lines = ctx.stdout().split('\n')
    const at = (text: string) => { const i = lines.findIndex((l) => l.includes(text)); expect(i, `${text}\n${lines.join('\n')}`).toBeGreaterThanOrEqual(0); return i }
    const schema = at(`[dry-run] ${base.join(' ')} exec -T postgres psql -X -q -At -U openwebui -d openwebui -c 'SELECT version_num FROM alembic_version'`)
    const backup = at(`[dry-run] tsx scripts/backup.ts --store postgres --target compose --compose-file ${file} --env-file ${envFile} --label pre-upgrade:deploy-`)
    const start = at('--scale openwebui=2 openwebui')
    const after = lines.findIndex((l, i) => i > start && l.includes('SELECT version_num FROM alembic_version'))
    expect(lines[after + 1]).toMatch(/^\[dry-run\] {3}on failure: tsx scripts\/restore.ts --store postgres --from '<pre-upgrade:deploy-.* set>' --target compose --yes$/)
    expect(lines.find((l) => l.includes('on failure: docker start owptest-openwebui-1'))).toBeDefined()
    expect([schema < backup, backup < start, start < after]).toEqual([true, true, true])
    // the new Open WebUI is the only one migrating: scale 2 = one new instance beside the running one
    expect(lines.filter((l) => /--scale openwebui=/.test(l))).toHaveLength(1)
  })

  it('--strategy recreate takes the same verified pre-upgrade set before `up`, and its way back restores it before the previous images start', async () => {
    const { box, base, opts, file, envFile } = setup({ oldOpenWebui: v10 })
    const ctx = box.ctx({ dryRun: true })
    const out = await deployCompose(ctx, opts({ strategy: 'recreate', validate: true }))
    expect(out.ok).toBe(true)
    const lines = ctx.stdout().split('\n')
    const at = (text: string, from = 0) => { const i = lines.findIndex((l, k) => k >= from && l.includes(text)); expect(i, `${text}\n${lines.join('\n')}`).toBeGreaterThanOrEqual(0); return i }
    const schema = at(`[dry-run] ${base.join(' ')} exec -T postgres psql -X -q -At -U openwebui -d openwebui -c 'SELECT version_num FROM alembic_version'`)
    const backup = at(`[dry-run] tsx scripts/backup.ts --store postgres --target compose --compose-file ${file} --env-file ${envFile} --label pre-upgrade:deploy-`)
    const up = at(`[dry-run] ${base.join(' ')} up --detach --wait --wait-timeout 20 --remove-orphans`)
    expect(lines[up]).not.toContain('--scale')
    expect(lines[up + 1]).toMatch(/^\[dry-run\] {3}on failure: docker compose .* up --detach .*--no-build$/)
    expect(lines[up + 2]).toMatch(/^\[dry-run\] {5}if Open WebUI's schema moved: .* restore the pre-upgrade PostgreSQL set, then the images that ran before$/)
    const after = at('SELECT version_num FROM alembic_version', up)
    expect(lines[after + 1]).toMatch(/^\[dry-run\] {3}on failure: tsx scripts\/restore.ts --store postgres --from '<pre-upgrade:deploy-.* set>' --target compose --yes$/)
    expect([schema < backup, backup < up, up < after]).toEqual([true, true, true])
    expect(out.upgrade).toMatchObject({ strategy: 'recreate', services: [] })
    expect(bins!.calls('docker').filter((c) => ['up', 'stop', 'start', 'rm'].some((x) => c.includes(x)))).toEqual([])
  })

  it('--strategy recreate without a terminal: refused without --yes when validation may roll back; --no-validate has no automatic rollback to consent to', async () => {
    const { box, opts } = setup({ oldOpenWebui: v10 })
    const err = await deployCompose(box.ctx(), opts({ strategy: 'recreate', validate: true })).catch((e: Error) => e) as Error & { exitCode: number }
    expect(err.exitCode).toBe(2)
    const ctx = box.ctx({ dryRun: true, yes: false })
    expect((await deployCompose(ctx, opts({ strategy: 'recreate', validate: false }))).ok).toBe(true)
    expect(ctx.stdout()).toContain('--label pre-upgrade:deploy-')
  })
})
