// The e2e suite (`make e2e`): a real Docker engine, the compose stack with the stand-in images.
// globalSetup starts or adopts the engine and builds what is missing; teardown removes the
// project and stops the engine it started, by PID.
import { defineConfig } from 'vitest/config'
import E2eSequencer from './harness/sequencer.ts'
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.e2e.test.ts'],
    globalSetup: ['test/e2e/global-setup.ts'],
    // one stack, one engine: files run one after the other, the one that deploys first and the
    // teardown last (harness/sequencer.ts); the files between reuse the stack (kit.ts ensureStack)
    sequence: { sequencer: E2eSequencer },
    fileParallelism: false,
    pool: 'forks',
    setupFiles: ['test/helpers/quiet.ts', 'test/e2e/harness/after-file.ts'],
    testTimeout: 600_000,
    hookTimeout: 900_000,
    reporters: ['default', './test/e2e/harness/timings-reporter.ts'],
  },
})
