// The e2e files that do not pass on the real engine yet (`make e2e-pending`): the blue-green upgrade
// under load (issue 14: requests failed and streams were cut in the last run) and the restore drill
// on the shared stack (issue 15), the kit killed during compose up and a rollback (issue 13, not run
// yet). Same engine, stack and order as the suite.
import { defineConfig } from 'vitest/config'
import base, { PENDING } from './vitest.config.ts'

export default defineConfig({ ...base, test: { ...base.test, include: [...PENDING, 'test/e2e/stack.e2e.test.ts', 'test/e2e/teardown.e2e.test.ts'], exclude: [] } })
