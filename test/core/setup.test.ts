// make setup: what it installs, and what it says without root.
import { describe, it, expect } from 'vitest'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { missingDebianPackages, installDebianPackages, DEBIAN_PACKAGES } from '../../scripts/lib/core/setup.ts'
import { TOOLS_BIN } from '../../scripts/lib/core/paths.ts'
import { testCtx } from '../helpers/context.ts'
import { fakeBins, on, ok, fails } from '../helpers/fake-bins.ts'

describe('make setup', () => {
  it('put real helm v4, helm v3 and kubectl into .tools/bin', () => {
    expect(execFileSync(join(TOOLS_BIN, 'helm'), ['version', '--short']).toString()).toMatch(/^v4\./)
    expect(execFileSync(join(TOOLS_BIN, 'helm3'), ['version', '--short']).toString()).toMatch(/^v3\./)
    expect(existsSync(join(TOOLS_BIN, 'kubectl'))).toBe(true)
  })

  it('finds missing Debian packages and, without root, names the exact install command', async () => {
    const bins = fakeBins({ 'dpkg-query': [on('(^| )(hey|wrk)$', fails(1, 'no packages found')), ok('install ok installed')] })
    const ctx = testCtx({ path: bins.path })
    const missing = await missingDebianPackages(ctx)
    expect(missing).toEqual(['hey', 'wrk'])
    await expect(installDebianPackages(ctx, missing, { root: false })).rejects.toMatchObject({
      message: 'missing Debian packages: hey wrk',
      hint: 'sudo apt-get install -y --no-install-recommends hey wrk',
    })
    bins.remove()
  })

  it('as root installs exactly the missing ones with apt-get', async () => {
    const bins = fakeBins({ 'apt-get': ok() })
    const ctx = testCtx({ path: bins.path })
    await installDebianPackages(ctx, ['hey', 'wrk'], { root: true })
    expect(bins.calls('apt-get')).toEqual([
      ['apt-get', 'update', '-qq'],
      ['apt-get', 'install', '-y', '-qq', '--no-install-recommends', 'hey', 'wrk'],
    ])
    bins.remove()
  })

  it('every Debian package the suites need is installed on this machine', async () => {
    expect(await missingDebianPackages(testCtx(), DEBIAN_PACKAGES)).toEqual([])
  })
})
