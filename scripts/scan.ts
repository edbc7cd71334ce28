// make scan: trivy (config and image scans, failing on HIGH/CRITICAL) and npm audit of the kit.
import { run } from './lib/core/cli.ts'
import { UsageError } from './lib/core/errors.ts'
import { table } from './lib/core/log.ts'
import { stateDir } from './lib/deploy/target.ts'
import { runScans } from './lib/stack/scan.ts'
import { readBuilt, imageSettings, CUSTOM_IMAGES, imageRef } from './lib/stack/images.ts'

export const usage = `Usage: tsx scripts/scan.ts [options]

With trivy installed: a config scan of the Helm chart, the compose stack (misconfig + secret
scanners) and the Dockerfiles, and an image scan of each image build-images produced (the tags
recorded in .cache/images.json, else IMAGE_REGISTRY/<name>:IMAGE_TAG), all failing on HIGH and
CRITICAL. Without trivy: a clear message with the install hint. Always: npm audit --omit=dev.
Exit 1 when any scan finds something at the failing severities or cannot run.

      --severity S          failing severities (default HIGH,CRITICAL)
      --image REF           scan this image too (repeatable)
      --ignore-unfixed      image scans: leave out vulnerabilities without a fix
      --require-trivy       a missing trivy fails the scan (CI)
      --skip-npm            no npm audit (offline)
      --env-file F          .env with IMAGE_REGISTRY / IMAGE_TAG (default ./.env)`

await run(usage, {
  severity: { type: 'string' },
  image: { type: 'string', multiple: true },
  'ignore-unfixed': { type: 'boolean' },
  'require-trivy': { type: 'boolean' },
  'skip-npm': { type: 'boolean' },
  'env-file': { type: 'string' },
}, async (ctx, f) => {
  const severities = (f.severity ?? 'HIGH,CRITICAL').split(',').map((s) => s.trim().toUpperCase()).filter(Boolean)
  const bad = severities.filter((s) => !['UNKNOWN', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'].includes(s))
  if (bad.length || !severities.length) throw new UsageError(`--severity takes UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL (got "${f.severity}")`)
  const built = readBuilt(stateDir(ctx))
  const fromBuild = built ? built.map((b) => b.tags[0]!).filter(Boolean) : null
  const settings = fromBuild ? null : imageSettings(ctx, { envFile: f['env-file'] })
  const images = [...new Set([...(fromBuild ?? CUSTOM_IMAGES.map((i) => imageRef(settings!, i.name))), ...(f.image ?? [])])]
  const report = await runScans(ctx, { severities, images, ignoreUnfixed: f['ignore-unfixed'], requireTrivy: f['require-trivy'], skipNpm: f['skip-npm'] })
  ctx.log.raw(table(['result', 'scan', 'findings'], report.results.map((r) => [r.status.toUpperCase(), r.name, r.detail])))
  for (const r of report.results) {
    for (const x of (r.findings ?? []).slice(0, 10)) ctx.log.info(`${r.name}: ${x.severity} ${x.id} ${x.title} (${x.where})`)
    if ((r.findings?.length ?? 0) > 10) ctx.log.info(`${r.name}: ... ${r.findings!.length - 10} more (--json lists them all)`)
  }
  for (const n of report.notScanned) ctx.log.warn(`not scanned: ${n}`)
  const text = report.scanned === 0 ? `nothing was scanned (${report.notScanned.length} scan(s) could not run): not a pass`
    : report.ok ? `scan ok: ${report.scanned} scanned${report.notScanned.length ? `, ${report.notScanned.length} not scanned (see above)` : ''}` : 'scan FAILED'
  return { exitCode: report.ok ? 0 : 1, data: report, text }
}, { examples: ['make scan',
  'make scan ARGS="--require-trivy --severity CRITICAL"',
  'make scan ARGS="--skip-npm --json"'] })
