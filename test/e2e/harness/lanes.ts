// `make e2e`: the e2e files on three compose projects at once, on one engine. The e2e tests mostly
// wait (healthchecks, alert `for:` windows, drains), so two stacks side by side nearly halve the
// suite's wall time. The runner takes the engine's lock, prepares the engine and the images
// (harness/prepare.ts, cached), starts one vitest per lane (OWP_E2E_LANE, OWP_E2E_PREPARED: the
// lane adopts this engine and removes only its own project), waits for both, prints their logs
// and timings, and stops the engine it started, by PID, in every path (Ctrl-C included).
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { run } from '../../../scripts/lib/core/cli.ts'
import { acquireLock } from '../../../scripts/lib/core/lock.ts'
import { formatDuration } from '../../../scripts/lib/core/log.ts'
import { ROOT } from '../../../scripts/lib/core/paths.ts'
import { UsageError } from '../../../scripts/lib/core/errors.ts'
import { engineLayout, stopEngine } from './engine.ts'
import { prepareE2E } from './prepare.ts'
import { SETUP_TIMINGS_FILE, LANE_SUBNETS, exitOnBadLane } from './stack.ts'
import { E2E_FIRST, E2E_LAST, planLanes } from './lane-plan.ts'
import type { LanePrepared } from '../global-setup.ts'

exitOnBadLane() // before a flag is read or anything starts

const E2E_DIR = join(ROOT, 'test', 'e2e')
const CONFIG = 'test/e2e/vitest.config.ts'

export const usage = `Usage: tsx test/e2e/harness/lanes.ts [--lanes 1|2|3] [FILE...]

Runs the e2e suite (test/e2e/*.e2e.test.ts but the pending ones) on the e2e engine, on three compose
projects at once: lane a (project owp-e2e, subnets ${LANE_SUBNETS.a.app} and ${LANE_SUBNETS.a.monitoring}) runs
${E2E_FIRST} and every file not on another lane; lanes b (project owp-e2e-b, ${LANE_SUBNETS.b.app} and
${LANE_SUBNETS.b.monitoring}) and c (owp-e2e-c, ${LANE_SUBNETS.c.app} and ${LANE_SUBNETS.c.monitoring}) run
the files listed in test/e2e/harness/lane-plan.ts. Each lane ends with ${E2E_LAST}. FILE names (or
parts of names) pick a subset. Each lane's log goes to .cache/e2e-lane-<lane>.log and is printed at
the end with the timings.

  --lanes N        1 runs every file on lane a, one after the other; 2 puts lane c's files on
                   lane b (default 3)`

await run(usage, {
  lanes: { type: 'string' },
}, async (ctx, flags, positionals) => {
  const lanes = flags.lanes === undefined ? 3 : Number(flags.lanes)
  if (lanes !== 1 && lanes !== 2 && lanes !== 3) throw new UsageError(`--lanes must be 1, 2 or 3, got "${flags.lanes}"`)
  const files = readdirSync(E2E_DIR).filter((f) => f.endsWith('.e2e.test.ts')).map((f) => relative(ROOT, join(E2E_DIR, f))).sort()
  const plan = planLanes(files, { lanes, pick: positionals })
  if (!plan.length) throw new UsageError(`no e2e file matches ${positionals.join(' ')}`)
  for (const p of plan) ctx.log.info(`e2e lane ${p.lane}: ${p.files.map((f) => f.replace(/^.*\//, '')).join(', ')}`)
  if (ctx.dryRun) return { data: { plan } }

  const layout = engineLayout()
  acquireLock(ctx, layout.lockFile, 'e2e suite')
  const prepared = await prepareE2E(ctx, { layout })
  // the engine this run started stops on every path: the end, a failure, Ctrl-C (the cleanup)
  let stopped: Promise<void> | null = null
  const stop = () => (stopped ??= stopEngine(ctx, layout, prepared.engine))
  const unregister = ctx.cleanups.add(stop)
  try {
  const t = prepared.timings
  mkdirSync(join(ROOT, '.cache'), { recursive: true })
  writeFileSync(SETUP_TIMINGS_FILE, JSON.stringify(t))
  const lanePrepared: LanePrepared = { env: prepared.env, engine: prepared.engine, timings: t }

  const results = await Promise.all(plan.map(async (p) => {
    const log = join(ROOT, '.cache', `e2e-lane-${p.lane}.log`)
    const t0 = performance.now()
    // one log per lane, stdout and stderr in order; killed with the runner (ctx.signal)
    const r = await ctx.exec(['sh', '-c', 'log=$1; shift; exec "$@" > "$log" 2>&1', 'sh', log, 'npx', 'vitest', 'run', '--config', CONFIG, ...p.files], {
      env: { OWP_E2E_LANE: p.lane, OWP_E2E_LANES: plan.map((l) => l.lane).join(','), OWP_E2E_PREPARED: JSON.stringify(lanePrepared) },
      allowFailure: true, timeout: 90 * 60_000, signal: ctx.signal, title: `e2e lane ${p.lane}`,
    })
    return { ...p, exitCode: r.exitCode, ms: Math.round(performance.now() - t0), log }
  }))

  const lines: string[] = []
  for (const r of results) lines.push(`=== e2e lane ${r.lane}: exit ${r.exitCode} after ${formatDuration(r.ms)} ===`, readFileSync(r.log, 'utf8'))
  lines.push(`e2e setup ${formatDuration(t.total)} (engine ${formatDuration(t.engine)}, compose ${formatDuration(t.compose)}, base image ${formatDuration(t.base)}, images ${formatDuration(t.images)}); ` +
    results.map((r) => `lane ${r.lane} ${formatDuration(r.ms)} exit ${r.exitCode}`).join(', '))
  const failed = results.filter((r) => r.exitCode !== 0)
  return {
    exitCode: failed.length ? 1 : 0,
    text: lines.join('\n'),
    data: { setup: t, lanes: results.map(({ log: _log, ...r }) => r) },
  }
  } finally {
    unregister()
    await stop()
  }
}, {
  positionals: true,
  examples: ['make e2e', 'tsx test/e2e/harness/lanes.ts --lanes 1', 'tsx test/e2e/harness/lanes.ts upgrade dr'],
  exitCodes: { 1: 'an e2e file failed (its lane log says which)', 75: 'another e2e setup or suite holds the engine lock' },
})

