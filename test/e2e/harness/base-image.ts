// The e2e base image: `debootstrap --variant=minbase bookworm`, trimmed like the slim images,
// `docker import`ed as owp-e2e/debian:bookworm. The rootfs tarball is cached in the state dir.
import { existsSync, mkdirSync, writeFileSync, rmSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { pathEnv, type EngineLayout } from './engine.ts'
import { DEBIAN_MIRROR } from './compose-plugin.ts'
import type { Ctx } from '../../../scripts/lib/core/context.ts'

export const BASE_IMAGE = 'owp-e2e/debian:bookworm'

/** Files that only take room in every vfs copy of the image. */
const ROOTFS_TRIM = ['var/cache/apt/archives', 'var/lib/apt/lists', 'usr/share/doc', 'usr/share/man', 'usr/share/locale', 'usr/share/info']

const APT_SOURCES = (mirror: string) => `Types: deb
URIs: ${mirror}
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror.replace(/\/debian\/?$/, '/debian-security')}
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`

/** Like the official debian:*-slim images: no docs, no recommends, no cached debs. */
const DPKG_EXCLUDES = `path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/info/*
`
const APT_SLIM = `APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
`

export async function imageExists(ctx: Ctx, env: Record<string, string>, ref: string): Promise<boolean> {
  const r = await ctx.exec(['docker', 'image', 'inspect', '--format', '{{.Id}}', ref], { env, allowFailure: true, timeout: 30_000 })
  return r.exitCode === 0
}

/**
 * owp-e2e/debian:bookworm from `debootstrap --variant=minbase bookworm`, trimmed like the slim
 * images. The rootfs tarball is cached under the state dir, so a wiped engine re-imports in seconds.
 */
export async function buildBaseImage(ctx: Ctx, layout: EngineLayout, env: Record<string, string>,
  o: { mirror?: string } = {}): Promise<{ image: string; debootstrapped: boolean; imported: boolean }> {
  if (await imageExists(ctx, env, BASE_IMAGE)) return { image: BASE_IMAGE, debootstrapped: false, imported: false }
  let debootstrapped = false
  if (!existsSync(layout.rootfsTar)) {
    const mirror = o.mirror ?? process.env.OWP_E2E_DEBIAN_MIRROR ?? DEBIAN_MIRROR
    const dir = `${layout.rootfsTar}.d`
    if (!ctx.dryRun) {
      rmSync(dir, { recursive: true, force: true })
      mkdirSync(dir, { recursive: true })
    }
    await ctx.exec(['debootstrap', '--variant=minbase', 'bookworm', dir, mirror],
      { mutates: true, timeout: 900_000, env: pathEnv(ctx), title: 'debootstrap bookworm' })
    if (!ctx.dryRun) {
      for (const p of ROOTFS_TRIM) {
        rmSync(join(dir, p), { recursive: true, force: true })
        mkdirSync(join(dir, p), { recursive: true })
      }
      mkdirSync(join(dir, 'var/cache/apt/archives/partial'), { recursive: true })
      mkdirSync(join(dir, 'var/lib/apt/lists/partial'), { recursive: true })
      rmSync(join(dir, 'etc/apt/sources.list'), { force: true })
      writeFileSync(join(dir, 'etc/apt/sources.list.d/debian.sources'), APT_SOURCES(mirror))
      writeFileSync(join(dir, 'etc/dpkg/dpkg.cfg.d/owp-slim'), DPKG_EXCLUDES)
      writeFileSync(join(dir, 'etc/apt/apt.conf.d/90owp-slim'), APT_SLIM)
      // like the official debian images: package scripts never start services inside a build
      writeFileSync(join(dir, 'usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n', { mode: 0o755 })
      rmSync(join(dir, 'etc/hostname'), { force: true })
    }
    await ctx.exec(['tar', '--numeric-owner', '-C', dir, '-cf', `${layout.rootfsTar}.tmp`, '.'], { mutates: true, timeout: 300_000 })
    if (!ctx.dryRun) {
      renameSync(`${layout.rootfsTar}.tmp`, layout.rootfsTar)
      rmSync(dir, { recursive: true, force: true })
    }
    debootstrapped = true
  }
  await ctx.exec(['docker', 'import', '--change', 'CMD ["bash"]', '--change', 'ENV LANG=C.UTF-8',
    '--message', 'debootstrap --variant=minbase bookworm (owp e2e)', layout.rootfsTar, BASE_IMAGE],
  { mutates: true, env, timeout: 300_000 })
  return { image: BASE_IMAGE, debootstrapped, imported: true }
}
