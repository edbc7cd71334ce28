// Masks secrets in every line the kit prints: registered values plus well-known shapes.
export const MASK = '***'

// A flag whose name ENDS in a secret word (--password, --db-password, --auth-token, --api-key),
// standing on its own: --max-tokens and "inter-token latency" are not secrets.
const FLAG_SECRET = /(?<![\w-])(--?(?:[\w-]*[-_])?(?:password|passwd|secret|token|api[-_]?key|auth|credentials?)[= ])(\S+)/gi
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:)([^@\s/]+)(@)/gi
const ENV_SECRET = /\b([A-Z0-9_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|SECRET_KEY|ACCESS_KEY|AUTH)=)(\S+)/g

export class SecretMasker {
  private values = new Set<string>()
  private pattern: RegExp | null = null

  /** Register a value that must never be printed. Very short values would mask ordinary text. */
  add(value: string | undefined | null): void {
    if (!value || value.length < 4 || this.values.has(value)) return
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
      this.pattern ??= new RegExp(
        [...this.values].sort((a, b) => b.length - a.length).map(escapeRegExp).join('|'), 'g')
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
