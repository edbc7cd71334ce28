// The shapes of validation: checks, their outcomes, the report, the options of a run.
import type { ComposeCli, ComposeService } from '../tools/compose.ts'

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip'

export interface CheckOutcome { status: CheckStatus; detail: string; data?: unknown }

export interface Attempt {
  /** Aborted when the attempt's time is up: pass it on to requests and commands. */
  signal: AbortSignal
  timeoutMs: number
}

export interface HealthCheck {
  name: string
  /** What it belongs to: openwebui, lightllm, graphrag, edge, tls, monitoring... (--component filters on it). */
  component: string
  /** Other components this check also serves (a data store GraphRAG needs: ['graphrag']). */
  tags?: string[]
  /** A failing critical check fails the run (and rolls a deploy back); others only warn. */
  critical: boolean
  timeoutMs?: number
  retries?: number
  run(a: Attempt): Promise<CheckOutcome>
}

export interface CheckResult {
  name: string
  component: string
  critical: boolean
  status: CheckStatus
  detail: string
  attempts: number
  durationMs: number
  data?: unknown
}

export interface ValidationReport {
  ok: boolean
  target: string
  durationMs: number
  results: CheckResult[]
}

export interface RunChecksOptions {
  timeoutMs?: number
  retries?: number
  /** First pause between attempts; doubles each retry. */
  retryDelayMs?: number
}

export interface ValidateOptions {
  target: 'k8s' | 'compose' | 'url'
  /** Only the checks of this component (graphrag serves `make test-graphrag`). */
  component?: string
  /** Leave out the checks of these components (the restore drill starts no LLM: `llm`). Said in the log. */
  skipComponents?: string[]
  env?: Record<string, string>
  /** Public URL to check instead of the one the target implies. */
  url?: string
  /** Host header / SNI name when the URL is an address. */
  host?: string
  insecure?: boolean
  caFile?: string
  timeoutMs?: number
  retries?: number
  retryDelayMs?: number
  /** Extra name=URL health checks. */
  extra?: string[]
  // compose
  composeFile?: string
  envFile?: string | null
  /** What a deploy of this project read a moment ago (its compose CLI and model): not read again. */
  composeKnown?: { cli: ComposeCli; services: ComposeService[] }
  // k8s
  namespace?: string
  release?: string
  monitoringNamespace?: string
  /** Days left under which a certificate warns (default 21) and fails (default 0: expired). */
  certWarnDays?: number
}

/** The checks a target built, and what to tear down after them (port-forwards, CA files). */
export interface TargetChecks { checks: HealthCheck[]; cleanup(): Promise<void> }
