// Typed failures: each carries the exit code the CLI turns it into.
export const EXIT = { ok: 0, failure: 1, usage: 2, locked: 75, interrupted: 130 } as const

export class KitError extends Error {
  constructor(message: string, readonly exitCode: number = EXIT.failure, readonly hint?: string) {
    super(message)
    this.name = new.target.name
  }
}

/** Bad flags or bad input: exit 2. */
export class UsageError extends KitError {
  constructor(message: string, hint?: string) { super(message, EXIT.usage, hint) }
}

/** Another run holds the lock: exit 75 (EX_TEMPFAIL), so cron retries later. */
export class LockedError extends KitError {
  constructor(message: string, hint?: string) { super(message, EXIT.locked, hint) }
}

export class InterruptedError extends KitError {
  constructor(signal: string) { super(`interrupted by ${signal}`, EXIT.interrupted) }
}

/** Invalid configuration: every problem in one message, exit 2. */
export class ConfigError extends KitError {
  constructor(readonly problems: string[], what = 'configuration') {
    super(`invalid ${what}:\n${problems.map((p) => `  - ${p}`).join('\n')}`, EXIT.usage)
  }
}
