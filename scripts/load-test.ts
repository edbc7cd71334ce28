// make load-test: HTTP and LLM-streaming load with SLO gates (docs/load-test.md).
import { run } from './lib/core/cli.ts'
import { loadTest } from './lib/load/run.ts'
import { loadTestOptions, usage } from './lib/load/options.ts'

export { usage }


const LOAD_TEST_EXAMPLES = ['make load-test ARGS=https://chat.example.com',
  'make load-test ARGS="--profile smoke --url https://127.0.0.1 --insecure"',
  'tsx scripts/load-test.ts -- -c 20 -z 30s http://127.0.0.1:8080/health']

await run(usage, loadTestOptions, (ctx, flags, positionals) => loadTest(ctx, flags, positionals), {
  positionals: true, examples: LOAD_TEST_EXAMPLES, finishOnSignal: true,
  exitCodes: { 130: 'interrupted: the load stopped at the first SIGINT or SIGTERM, and the report of what ran was printed' },
})
