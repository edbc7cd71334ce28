import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // the stack suite needs its Docker engine: make test runs it with test/e2e/vitest.config.ts
    exclude: ['test/e2e/**/*.e2e.test.ts', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    setupFiles: ['test/helpers/quiet.ts'],
    reporters: ['default'],
  },
})
