import { defineConfig } from 'vitest/config'

/**
 * The load generator's accuracy tests (percentiles within 2 ms of the server's own record): they
 * run last, one file at a time, after the other engine-free suites, which run on two workers
 * (`make test` runs this project after the e2e suite too: `--project timing`).
 */
const TIMING = ['test/load/http-mode.test.ts', 'test/load/llm-mode.test.ts']
// the stack suite needs its Docker engine: make test runs it with test/e2e/harness/lanes.ts
const E2E = ['test/e2e/**/*.e2e.test.ts', 'node_modules/**']

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    setupFiles: ['test/helpers/quiet.ts'],
    reporters: ['default'],
    projects: [
      { extends: true, test: { name: 'engine-free', include: ['test/**/*.test.ts'], exclude: [...E2E, ...TIMING], maxWorkers: 2, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'timing', include: TIMING, exclude: E2E, fileParallelism: false, sequence: { groupOrder: 1 } } },
    ],
  },
})
