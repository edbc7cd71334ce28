// Compose v2 for the e2e engine: the static CLI plugin of Debian trixie's docker-compose package,
// fetched with scratch apt sources (the system's are not touched) into DOCKER_CONFIG/cli-plugins.
import { existsSync, mkdirSync, readFileSync, writeFileSync, rmSync, renameSync, copyFileSync, chmodSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { KitError } from '../../../scripts/lib/core/errors.ts'
import type { EngineLayout } from './engine.ts'
import type { Ctx } from '../../../scripts/lib/core/context.ts'

export const DEBIAN_MIRROR = 'http://deb.debian.org/debian'

/**
 * The sources stanza of Debian trixie: the first stanza of the system's deb822 sources with its
 * Suites replaced, or deb.debian.org when the system has none.
 */
export function trixieSources(systemSources: string | null): string {
  const first = systemSources?.split(/\n\s*\n/).find((s) => /^URIs:/m.test(s))
  if (!first) {
    return `Types: deb\nURIs: ${DEBIAN_MIRROR}\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`
  }
  return `${first.replace(/^Suites:.*$/m, 'Suites: trixie').trim()}\n`
}

/** apt-get options that read only our scratch sources and keep lists/cache under aptDir. */
export function aptScratchOptions(aptDir: string): string[] {
  return [
    '-o', 'Dir::Etc::SourceList=/dev/null',
    '-o', `Dir::Etc::SourceParts=${join(aptDir, 'sources')}`,
    '-o', `Dir::State::Lists=${join(aptDir, 'lists')}`,
    '-o', `Dir::Cache=${join(aptDir, 'cache')}`,
    '-o', 'Dir::State::status=/dev/null',
    '-o', 'APT::Sandbox::User=root',
  ]
}

/** The compose plugin's version with our DOCKER_CONFIG, or null when it is not there. */
export async function composeVersion(ctx: Ctx, layout: EngineLayout): Promise<string | null> {
  if (!existsSync(layout.composePlugin)) return null
  const r = await ctx.exec(['docker', 'compose', 'version', '--short'],
    { env: { DOCKER_CONFIG: layout.dockerConfig }, allowFailure: true, timeout: 10_000 }).catch(() => null)
  return r?.exitCode === 0 ? r.stdout.trim() : null
}

/** Install Compose v2 into DOCKER_CONFIG/cli-plugins from Debian trixie's docker-compose package. */
export async function installCompose(ctx: Ctx, layout: EngineLayout): Promise<{ version: string; installed: boolean }> {
  const have = await composeVersion(ctx, layout)
  if (have) return { version: have, installed: false }
  const apt = aptScratchOptions(layout.aptDir)
  for (const d of ['sources', 'lists/partial', 'cache/archives/partial', 'debs']) mkdirSync(join(layout.aptDir, d), { recursive: true })
  const system = existsSync('/etc/apt/sources.list.d/debian.sources') ? readFileSync('/etc/apt/sources.list.d/debian.sources', 'utf8') : null
  if (!ctx.dryRun) writeFileSync(join(layout.aptDir, 'sources', 'trixie.sources'), trixieSources(system))
  await ctx.exec(['apt-get', ...apt, 'update', '-qq'], { mutates: true, timeout: 300_000, title: 'apt-get update (trixie)' })
  const debs = join(layout.aptDir, 'debs')
  for (const f of existsSync(debs) ? readdirSync(debs) : []) rmSync(join(debs, f), { force: true })
  await ctx.exec(['apt-get', ...apt, 'download', 'docker-compose'], { mutates: true, cwd: debs, timeout: 300_000 })
  const deb = ctx.dryRun ? 'docker-compose_*.deb' : readdirSync(debs).find((f) => /^docker-compose_.*\.deb$/.test(f))
  if (!deb) throw new KitError('apt-get download docker-compose left no .deb', 1, `look in ${debs}`)
  const unpacked = join(layout.aptDir, 'unpacked')
  rmSync(unpacked, { recursive: true, force: true })
  await ctx.exec(['dpkg', '-x', join(debs, deb), unpacked], { mutates: true })
  if (ctx.dryRun) return { version: 'dry-run', installed: true }
  const plugin = join(unpacked, 'usr', 'libexec', 'docker', 'cli-plugins', 'docker-compose')
  if (!existsSync(plugin)) throw new KitError(`${deb} holds no usr/libexec/docker/cli-plugins/docker-compose`)
  mkdirSync(join(layout.dockerConfig, 'cli-plugins'), { recursive: true })
  copyFileSync(plugin, `${layout.composePlugin}.tmp`)
  chmodSync(`${layout.composePlugin}.tmp`, 0o755)
  renameSync(`${layout.composePlugin}.tmp`, layout.composePlugin)
  rmSync(unpacked, { recursive: true, force: true })
  const version = await composeVersion(ctx, layout)
  if (!version) throw new KitError(`the compose plugin from ${deb} does not run`)
  return { version, installed: true }
}
