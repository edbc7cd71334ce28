// Masks secrets in every line the kit prints: registered values plus well-known shapes.
export const MASK = '***'

// A flag whose name ENDS in a secret word (--password, --db-password, --auth-token, --api-key),
// standing on its own: --max-tokens and "inter-token latency" are not secrets.
const FLAG_SECRET = /(?<![\w-])(--?(?:[\w-]*[-_])?(?:password|passwd|secret|token|api[-_]?key|auth|credentials?)[= ])(\S+)/gi
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:)([^@\s/]+)(@)/gi
const ENV_SECRET = /\b([A-Z0-9_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|SECRET_KEY|ACCESS_KEY|AUTH)=)(\S+)/g

/** Shorter values are ordinary words or numbers: masking them would garble text, not protect it. */
export const MIN_MASKED_LENGTH = 6
// Values a .env holds where no secret is meant ("none", "admin"): never masked, never a secret.
const NOT_SECRETS = new Set(['none', 'null', 'nil', 'true', 'false', 'yes', 'no', 'on', 'off', 'admin', 'root', 'user',
  'default', 'empty', 'unset', 'changeme', 'change-me', 'password', 'secret', 'example', 'localhost', 'disabled', 'enabled',
  'undefined', 'openwebui', 'postgres', 'redis', 'neo4j', 'qdrant', 'grafana', 'lightllm', 'sk-none', 'not-needed', 'dummy'])

/** A value worth masking: long enough and not a word any config or report also uses. */
export function isMaskable(value: string | undefined | null): value is string {
  return Boolean(value) && value!.length >= MIN_MASKED_LENGTH && !NOT_SECRETS.has(value!.toLowerCase()) && !/^\d{1,8}$/.test(value!)
}

export class SecretMasker {
  private values = new Set<string>()
  private pattern: RegExp | null = null

  /** Register a value that must never be printed; short or common values are not secrets. */
  add(value: string | undefined | null): void {
    if (!isMaskable(value) || this.values.has(value)) return
    this.values.add(value)
    // Also the URL-encoded form: secrets land in DATABASE_URL and friends.
    const encoded = encodeURIComponent(value)
    if (encoded !== value) this.values.add(encoded)
    this.pattern = null
  }

  get size(): number { return this.values.size }

  mask(text: string): string {
    if (!text) return text
    let out = text
    if (this.values.size) {
      // Whole tokens only: a value is masked where no letter or digit continues it on either side.
      this.pattern ??= new RegExp(`(?<![A-Za-z0-9])(?:${
        [...this.values].sort((a, b) => b.length - a.length).map(escapeRegExp).join('|')})(?![A-Za-z0-9])`, 'g')
      out = out.replace(this.pattern, MASK)
    }
    return out
      .replace(URL_CREDENTIALS, `$1${MASK}$3`)
      .replace(FLAG_SECRET, (_m, flag: string, value: string) => value === MASK ? `${flag}${value}` : `${flag}${MASK}`)
      .replace(ENV_SECRET, `$1${MASK}`)
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
