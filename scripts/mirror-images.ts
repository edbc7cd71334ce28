// make mirror-images: copy every pinned image (compose, chart, infra releases) into a private registry.
import { run } from './lib/core/cli.ts'
import { UsageError } from './lib/core/errors.ts'
import { runPlan } from './lib/core/plan.ts'
import { imageSettings } from './lib/stack/images.ts'
import { REGISTRY_PATTERN, composeImageRefs } from './lib/stack/registry-mirror.ts'
import { chartImageRefs, infraImageRefs, mirrorList, mirrorSteps, pickMirrorTool } from './lib/deploy/mirror.ts'

export const usage = `Usage: tsx scripts/mirror-images.ts [--registry R] [--tool crane|skopeo|docker] [--dry-run] [options]

Copies every pinned image of compose/docker-compose.prod.yml, the chart (values.yaml) and the infra
releases (helm/infra.yaml, from helm template of each pinned chart) into R, keeping each image's
path and tag (ghcr.io/open-webui/open-webui:v0.8.11 -> R/open-webui/open-webui:v0.8.11). Then set
IMAGE_MIRROR=R in .env: a compose deploy, and a Kubernetes deploy (the chart's global.imageRegistry,
each infra release's image values) pull exactly these names. An infra chart image that the release's
images list in helm/infra.yaml does not name stops the copy (exit 2): a deploy would not mirror it.
--dry-run prints the plan. Log in to R first (docker login, crane auth login): no credential goes
through this script.

      --registry R      the mirror: host[:port][/path] (default: IMAGE_MIRROR of the .env)
      --tool T          crane, skopeo or docker (default: the first one installed, in that order)
      --no-infra        leave the infra releases' images out (no chart repository reachable)
      --env-file F      the .env that names IMAGE_MIRROR and IMAGE_REGISTRY/IMAGE_TAG of the custom images (default ./.env)`

await run(usage, {
  registry: { type: 'string' },
  tool: { type: 'string' },
  'no-infra': { type: 'boolean' },
  'env-file': { type: 'string' },
}, async (ctx, f) => {
  const settings = imageSettings(ctx, { envFile: f['env-file'] })
  const registry = f.registry ?? settings.mirror
  if (!registry) throw new UsageError('--registry is required (the mirror, e.g. registry.corp.example.com/owp), or IMAGE_MIRROR in .env')
  if (!REGISTRY_PATTERN.test(registry)) throw new UsageError(`--registry "${registry}" is not host[:port][/path]`)
  const sources: Record<string, string[]> = {
    compose: composeImageRefs({ IMAGE_REGISTRY: settings.registry, IMAGE_TAG: settings.tag }),
    chart: chartImageRefs(),
  }
  if (!f['no-infra']) for (const [name, refs] of await infraImageRefs(ctx)) sources[`infra:${name}`] = refs
  const images = mirrorList(registry, sources)
  const tool = await pickMirrorTool(ctx, f.tool)
  await runPlan(ctx, [{ title: `mirror ${images.length} images into ${registry} (${tool})`, parallel: true, steps: mirrorSteps(images, tool) }])
  return { data: { registry, tool, images, dryRun: ctx.dryRun }, text: images.map((i) => `${i.source} -> ${i.target}`).join('\n') }
})
