// A vitest reporter for the e2e suite: at the end, how long the setup (from globalSetup) and each
// e2e test took, one line each, so `make test` shows where its minutes went.
import { readFileSync, existsSync } from 'node:fs'
import type { Reporter, TestModule } from 'vitest/node'
import { formatDuration } from '../../../scripts/lib/core/log.ts'
import { SETUP_TIMINGS_FILE, E2E_LANE, E2E_PROJECT } from './stack.ts'

export default class TimingsReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    // under harness/lanes.ts each lane prints its own table; the runner prints the setup once
    const laned = Boolean(process.env.OWP_E2E_PREPARED)
    const lines: string[] = ['', laned ? `e2e timings, lane ${E2E_LANE} (project ${E2E_PROJECT}):` : 'e2e timings:']
    if (!laned && existsSync(SETUP_TIMINGS_FILE)) {
      const t = JSON.parse(readFileSync(SETUP_TIMINGS_FILE, 'utf8')) as Record<string, number>
      lines.push(`  ${formatDuration(t.total ?? 0).padStart(8)}  setup (engine ${formatDuration(t.engine ?? 0)}, compose ${formatDuration(t.compose ?? 0)}, base image ${formatDuration(t.base ?? 0)}, images ${formatDuration(t.images ?? 0)})`)
    }
    for (const mod of modules) {
      for (const test of mod.children.allTests()) {
        const d = test.diagnostic()
        const state = test.result().state
        lines.push(`  ${formatDuration(d?.duration ?? 0).padStart(8)}  ${state === 'passed' ? 'ok  ' : state.padEnd(4)}  ${mod.moduleId.replace(/^.*\/test\/e2e\//, '')} > ${test.name}`)
      }
    }
    process.stdout.write(`${lines.join('\n')}\n`)
  }
}
