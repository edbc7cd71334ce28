// make load-test: HTTP and LLM-streaming load with SLO gates (docs/load-test.md).
import { run } from './lib/core/cli.ts'
import { loadTest } from './lib/load/run.ts'
import { loadTestOptions, usage } from './lib/load/options.ts'

export { usage }

await run(usage, loadTestOptions, (ctx, flags, positionals) => loadTest(ctx, flags, positionals), { positionals: true })
