// The engine setup says clearly what is wrong instead of hanging (no real engine needed here).
import { describe, it, expect, afterAll } from 'vitest'
import { writeFileSync, chmodSync, existsSync, mkdirSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { tmpDir } from '../../helpers/tmp.ts'
import { testCtx } from '../../helpers/context.ts'
import { freePort } from '../../helpers/net.ts'
import { engineLayout, startEngine, dockerdArgv, chooseStorageDriver } from './engine.ts'
import { trixieSources, aptScratchOptions } from './compose-plugin.ts'

const tmp = tmpDir('owp-e2e-engine-')
afterAll(() => tmp.remove())

function fakeDockerd(name: string, body: string): string {
  const f = join(tmp.path, name)
  writeFileSync(f, `#!/bin/sh\n${body}\n`)
  chmodSync(f, 0o755)
  return f
}

describe('starting the e2e engine', () => {
  it('reports a dockerd that exits, with the tail of its log', async () => {
    const layout = engineLayout(join(tmp.path, 'exits'))
    const dockerd = fakeDockerd('dockerd-exits', 'echo "failed to start daemon: iptables not found" >&2; exit 1')
    const started = Date.now()
    const e = await startEngine(testCtx({ env: { PATH: process.env.PATH } }), layout, { dockerd, timeoutMs: 20_000 }).catch((x: Error) => x)
    expect(e).toBeInstanceOf(Error)
    expect((e as Error).message).toMatch(/could not start: dockerd exited with code 1[\s\S]*iptables not found/)
    expect(Date.now() - started).toBeLessThan(10_000)
  })

  it('gives up on a dockerd that never answers, stops it and says so', async () => {
    const layout = engineLayout(join(tmp.path, 'hangs'))
    const dockerd = fakeDockerd('dockerd-hangs', 'exec sleep 60')
    const e = await startEngine(testCtx({ env: { PATH: process.env.PATH } }), layout, { dockerd, timeoutMs: 1500 }).catch((x: Error) => x)
    expect((e as Error).message).toMatch(/did not answer within 2s; stopped it/)
  })

  it('refuses a DOCKER_HOST that does not answer instead of waiting for it', async () => {
    const layout = engineLayout(join(tmp.path, 'given'))
    const e = await startEngine(testCtx({ env: { PATH: process.env.PATH, DOCKER_HOST: `tcp://127.0.0.1:${await freePort()}` } }), layout).catch((x: Error) => x)
    expect((e as Error).message).toMatch(/DOCKER_HOST=tcp:\/\/127\.0\.0\.1:\d+ does not answer/)
  })

  it('names the install when dockerd is missing', async () => {
    const layout = engineLayout(join(tmp.path, 'missing'))
    const e = await startEngine(testCtx({ env: { PATH: tmp.path } }), layout, { dockerd: 'dockerd-not-installed' }).catch((x: Error & { hint?: string }) => x)
    expect((e as Error).message).toMatch(/dockerd is not installed/)
    expect((e as { hint?: string }).hint).toMatch(/make setup/)
  })
})

describe('the storage driver', () => {
  it('overlay2 where an overlay mount works in the state dir, and the probe leaves nothing behind (not even the mount an earlier probe, killed at its time-out, made after all)', async () => {
    const layout = engineLayout(join(tmp.path, 'overlay'))
    const stale = join(layout.state, 'overlay-probe')
    for (const d of ['lower', 'upper', 'work', 'merged']) mkdirSync(join(stale, d), { recursive: true })
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${join(stale, 'lower')},upperdir=${join(stale, 'upper')},workdir=${join(stale, 'work')}`, join(stale, 'merged')])
    const r = await chooseStorageDriver(testCtx({ env: { PATH: process.env.PATH } }), layout)
    // this machine's kernel mounts overlayfs on its ext4 root (as root): the suite's engine uses it
    expect(r).toEqual({ driver: 'overlay2', why: `overlayfs mounts in ${layout.state}` })
    expect(existsSync(join(layout.state, 'overlay-probe'))).toBe(false)
  })

  it('vfs where the overlay mount fails, saying why', async () => {
    const bin = join(tmp.path, 'no-overlay-bin')
    mkdirSync(bin, { recursive: true })
    writeFileSync(join(bin, 'mount'), '#!/bin/sh\necho "mount: unknown filesystem type \'overlay\'" >&2\nexit 32\n')
    chmodSync(join(bin, 'mount'), 0o755)
    const layout = engineLayout(join(tmp.path, 'no-overlay'))
    const r = await chooseStorageDriver(testCtx({ env: { PATH: `${bin}:${process.env.PATH}` } }), layout)
    expect(r.driver).toBe('vfs')
    expect(r.why).toMatch(/no overlay mount in .*unknown filesystem type 'overlay'/)
  })

  it('OWP_E2E_STORAGE_DRIVER decides instead of the probe; anything else is refused', async () => {
    const layout = engineLayout(join(tmp.path, 'forced'))
    expect(await chooseStorageDriver(testCtx({ env: { OWP_E2E_STORAGE_DRIVER: 'vfs' } }), layout)).toEqual({ driver: 'vfs', why: 'OWP_E2E_STORAGE_DRIVER' })
    const e = await chooseStorageDriver(testCtx({ env: { OWP_E2E_STORAGE_DRIVER: 'btrfs' } }), layout).catch((x: Error) => x)
    expect((e as Error).message).toBe('OWP_E2E_STORAGE_DRIVER must be overlay2 or vfs, got "btrfs"')
  })

  it('a bad OWP_E2E_STORAGE_DRIVER is refused by a dry run too, before it prints any plan (exit 2)', async () => {
    const ctx = testCtx({ env: { OWP_E2E_STORAGE_DRIVER: 'btrfs' }, dryRun: true })
    const e = await startEngine(ctx, engineLayout(join(tmp.path, 'forced-dry'))).catch((x: { message: string; exitCode: number }) => x)
    expect(e).toMatchObject({ message: 'OWP_E2E_STORAGE_DRIVER must be overlay2 or vfs, got "btrfs"', exitCode: 2 })
    expect(ctx.stdout()).toBe('')
  })
})

describe('what the engine runs with', () => {
  it('dockerd: the chosen storage driver, its own data root, exec root, pid file and socket, in a mount namespace of its own', () => {
    const l = engineLayout('/var/lib/owp-e2e')
    expect(dockerdArgv(l, 'dockerd', 'overlay2')).toContain('--storage-driver=overlay2')
    expect(dockerdArgv(l)).toEqual([
      'unshare', '--mount', '--propagation', 'shared', '--', 'dockerd', '--storage-driver=vfs',
      '--data-root', '/var/lib/owp-e2e/docker', '--exec-root', '/var/lib/owp-e2e/exec', '--pidfile', '/var/lib/owp-e2e/dockerd.pid',
      '--host', 'unix:///var/lib/owp-e2e/docker.sock', '--add-runtime', 'nvidia=runc',
    ])
  })

  it('Compose from trixie: the first stanza of the system sources with Suites: trixie, apt kept in the state dir', () => {
    const system = 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n'
    expect(trixieSources(system)).toBe('Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\n')
    expect(trixieSources(null)).toMatch(/^Suites: trixie$/m)
    expect(aptScratchOptions('/s/apt')).toEqual(expect.arrayContaining(['Dir::Etc::SourceList=/dev/null', 'Dir::Etc::SourceParts=/s/apt/sources', 'Dir::State::Lists=/s/apt/lists']))
  })
})
