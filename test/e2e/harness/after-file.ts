// A setup file of the e2e suite (test/e2e/vitest.config.ts): after each file, the kit's processes
// a timed-out test left running are stopped (kit.ts stopLeftKitProcesses). Here, not in kit.ts, so
// that kit.ts loads outside vitest too (bench/upgrade.bench.ts).
import { afterAll } from 'vitest'
import { stopLeftKitProcesses } from '../kit.ts'

afterAll(stopLeftKitProcesses, 120_000)
