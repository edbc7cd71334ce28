// make build-images: the custom images of docker/ in parallel, tagged version + git sha.
import { run } from './lib/core/cli.ts'
import { probe } from './lib/core/exec.ts'
import { KitError } from './lib/core/errors.ts'
import { ROOT } from './lib/core/paths.ts'
import { table } from './lib/core/log.ts'
import { stateDir } from './lib/deploy/target.ts'
import { runPlan, PlanError } from './lib/core/plan.ts'
import { imageSettings, selectImages, checkSources, gitRevision, writeBuilt } from './lib/stack/images.ts'
import { buildSteps, checkBuildOptions, requireBuildx, type CacheMode } from './lib/tools/docker.ts'

export const usage = `Usage: tsx scripts/build-images.ts [--push] [--platform P] [options]

Builds docker/Dockerfile.graphrag, Dockerfile.mcp, Dockerfile.ops, Dockerfile.postgres (postgres
with pgBackRest) and Dockerfile.pgbouncer (Debian's pgbouncer) in parallel with docker buildx, each tagged IMAGE_REGISTRY/<name>:IMAGE_TAG and
:sha-<commit> (the service repository's commit; the kit's for ops, postgres and pgbouncer). The GraphRAG and MCP sources live in their own repositories: GRAPHRAG_SRC and
MCP_SRC (.env or flags) are passed as named build contexts; a missing one stops before any build.

      --push                push the tags (needed for several platforms)
      --platform P          target platform(s), e.g. linux/amd64 or linux/amd64,linux/arm64 (repeatable)
      --cache MODE          local (the builder's own cache, default), registry (<image>:buildcache,
                            needs a docker-container builder: docker buildx create --use) or none
      --only NAMES          graphrag-processor, mcp-server, ops (comma-separated or repeated)
      --registry R          instead of IMAGE_REGISTRY
      --tag T               instead of IMAGE_TAG
      --graphrag-src DIR    instead of GRAPHRAG_SRC
      --mcp-src DIR         instead of MCP_SRC
      --env-file F          the .env to read those from (default ./.env)`

await run(usage, {
  push: { type: 'boolean' },
  platform: { type: 'string', multiple: true },
  cache: { type: 'string' },
  only: { type: 'string', multiple: true },
  registry: { type: 'string' },
  tag: { type: 'string' },
  'graphrag-src': { type: 'string' },
  'mcp-src': { type: 'string' },
  'env-file': { type: 'string' },
}, async (ctx, f) => {
  const platforms = (f.platform ?? []).flatMap((p) => p.split(',')).map((p) => p.trim()).filter(Boolean)
  const cache = (f.cache ?? 'local') as CacheMode
  checkBuildOptions({ push: Boolean(f.push), platforms, cache })
  const settings = imageSettings(ctx, { envFile: f['env-file'], registry: f.registry, tag: f.tag, graphragSrc: f['graphrag-src'], mcpSrc: f['mcp-src'] })
  const images = selectImages(f.only)
  checkSources(images, settings) // before anything runs: every missing source at once
  await requireBuildx(ctx)
  if (!ctx.dryRun && !(await probe(ctx, ['docker', 'version', '--format', '{{.Server.Version}}']))) {
    throw new KitError('no Docker engine answers', 1, 'start the Docker engine (systemctl start docker) or set DOCKER_HOST')
  }
  const kit = await gitRevision(ctx, ROOT)
  const { steps, built } = await buildSteps(ctx, images, settings, { push: Boolean(f.push), platforms, cache, kit })
  try {
    await runPlan(ctx, [{ title: `build ${images.map((i) => i.name).join(', ')}`, parallel: true, steps }])
  } catch (e) {
    if (e instanceof PlanError) {
      ctx.log.error(`${e.step.title} failed; ${e.report.steps.filter((s) => s.status === 'applied').map((s) => s.title).join(', ') || 'nothing'} built`)
    }
    throw e
  }
  if (!ctx.dryRun) {
    writeBuilt(stateDir(ctx), built)
    ctx.log.raw(table(['image', 'tags', 'pushed'], built.map((b) => [b.name, b.tags.join(' '), b.pushed ? 'yes' : 'no'])))
  }
  return { data: { images: built, dryRun: ctx.dryRun }, text: ctx.dryRun ? undefined : built.flatMap((b) => b.tags).join('\n') }
}, { examples: ['make build-images',
  'make build-images ARGS="--push"',
  'make build-images ARGS="--dry-run"'] })
