// The probes validate-prod is made of: an HTTP(S) request (Host header and SNI for an address,
// a CA file or --insecure for self-signed certificates) and a TLS certificate inspection.
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { connect, type PeerCertificate, type ConnectionOptions } from 'node:tls'
import { Agent, request } from 'undici'
import type { CheckOutcome, Attempt } from './types.ts'

export interface TlsTrust {
  insecure?: boolean
  /** PEM file of a CA (or the self-signed certificate itself) to trust. */
  caFile?: string
}

export interface HttpProbe extends TlsTrust {
  url: string
  /** Host header and TLS server name when the URL names an address (nginx on 127.0.0.1). */
  host?: string
  method?: 'GET' | 'POST' | 'HEAD'
  headers?: Record<string, string>
  body?: string
  /** Accepted status codes; default 200-299. */
  expect?: (status: number) => boolean
}

export interface HttpAnswer { status: number; headers: Record<string, string | string[] | undefined>; body: string; ms: number }

function ca(t: TlsTrust): string | undefined {
  return t.caFile ? readFileSync(t.caFile, 'utf8') : undefined
}

/** One request, no redirects followed, the body read (up to 1 MiB). */
export async function httpRequest(p: HttpProbe, a: Attempt): Promise<HttpAnswer> {
  const url = new URL(p.url)
  const agent = new Agent({
    connect: {
      rejectUnauthorized: !p.insecure,
      ca: ca(p),
      ...(p.host && url.protocol === 'https:' ? { servername: p.host } : {}),
    },
    connectTimeout: a.timeoutMs,
  })
  const started = performance.now()
  try {
    const res = await request(p.url, {
      method: p.method ?? 'GET',
      headers: { ...(p.host ? { host: p.host } : {}), 'user-agent': 'owp-validate-prod', ...p.headers },
      body: p.body,
      signal: a.signal,
      dispatcher: agent,
      headersTimeout: a.timeoutMs,
      bodyTimeout: a.timeoutMs,
    })
    let body = ''
    for await (const chunk of res.body) {
      if (body.length < 1 << 20) body += chunk.toString()
    }
    return { status: res.statusCode, headers: res.headers, body, ms: Math.round(performance.now() - started) }
  } finally {
    void agent.close().catch(() => {})
  }
}

/** A health endpoint: ok on the expected status, the status and time as detail. */
export async function httpCheck(p: HttpProbe, a: Attempt): Promise<CheckOutcome> {
  const r = await httpRequest(p, a)
  const good = (p.expect ?? ((s) => s >= 200 && s < 300))(r.status)
  const snippet = r.body.replace(/\s+/g, ' ').trim().slice(0, 80)
  return good
    ? { status: 'ok', detail: `HTTP ${r.status} in ${r.ms}ms` }
    : { status: 'fail', detail: `HTTP ${r.status}${snippet ? `: ${snippet}` : ''}` }
}

export interface TlsProbe extends TlsTrust {
  host: string
  port: number
  /** SNI and the name the certificate must match; default host. */
  servername?: string
  warnDays?: number
}

export interface CertInfo { subject: string; issuer: string; validTo: Date; daysLeft: number; trusted: boolean; error?: string; selfSigned: boolean }

export function inspectCertificate(p: TlsProbe, a: Attempt): Promise<CertInfo> {
  return new Promise((resolve, reject) => {
    const name = p.servername ?? p.host
    const socket = connect({
      // SNI takes names only (RFC 6066): an address is checked against the certificate's IP SANs
      host: p.host, port: p.port, ...(isIP(name) ? {} : { servername: name }), ca: ca(p),
      rejectUnauthorized: false, // judged below, so an untrusted certificate still reports its dates
    } satisfies ConnectionOptions)
    a.signal.addEventListener('abort', () => socket.destroy(new Error('aborted')), { once: true })
    socket.setTimeout(a.timeoutMs, () => socket.destroy(new Error('TLS handshake timed out')))
    socket.once('error', reject)
    socket.once('secureConnect', () => {
      const cert: PeerCertificate = socket.getPeerCertificate()
      socket.end()
      if (!cert || !cert.valid_to) { reject(new Error('no certificate presented')); return }
      const validTo = new Date(cert.valid_to)
      const err = socket.authorizationError ? String(socket.authorizationError) : undefined
      resolve({
        subject: cert.subject?.CN ?? '',
        issuer: cert.issuer?.CN ?? '',
        validTo,
        // a certificate made "for 3 days" a moment ago has 3 days left, not 2.99 -> 2
        daysLeft: Math.ceil((validTo.getTime() - Date.now()) / 86_400_000),
        trusted: socket.authorized,
        error: err,
        selfSigned: err === 'DEPTH_ZERO_SELF_SIGNED_CERT' || err === 'SELF_SIGNED_CERT_IN_CHAIN',
      })
    })
  })
}

/**
 * Certificate validity and days left. Expired or (without --insecure) untrusted: fail.
 * Under warnDays: warn, not fail: a rollback would not renew the certificate.
 */
export async function tlsCheck(p: TlsProbe, a: Attempt): Promise<CheckOutcome> {
  const c = await inspectCertificate(p, a)
  const data = { subject: c.subject, issuer: c.issuer, validTo: c.validTo.toISOString(), daysLeft: c.daysLeft, trusted: c.trusted }
  const left = `${c.daysLeft} day${c.daysLeft === 1 ? '' : 's'} left (until ${c.validTo.toISOString().slice(0, 10)})`
  if (c.validTo.getTime() <= Date.now()) return { status: 'fail', detail: `certificate expired on ${c.validTo.toISOString().slice(0, 10)}`, data }
  if (!c.trusted && !p.insecure) {
    const why = c.selfSigned ? 'self-signed certificate (pass --ca-file CERT or --insecure)' : `untrusted certificate: ${c.error}`
    return { status: 'fail', detail: `${why}; ${left}`, data }
  }
  if (c.daysLeft < (p.warnDays ?? 21)) return { status: 'warn', detail: `expires soon: ${left}`, data }
  return { status: 'ok', detail: `${c.trusted ? 'trusted' : 'not verified (--insecure)'}, ${left}`, data }
}

/** An OpenAI chat completion: ok when a choice with content comes back. */
export async function chatCheck(p: HttpProbe & { model: string; apiKey?: string }, a: Attempt): Promise<CheckOutcome> {
  const r = await httpRequest({
    ...p,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(p.apiKey && p.apiKey !== 'none' ? { authorization: `Bearer ${p.apiKey}` } : {}), ...p.headers },
    body: JSON.stringify(chatBody(p.model)),
  }, a)
  return chatOutcome(r.status, r.body, r.ms)
}

export function chatBody(model: string): unknown {
  return { model, messages: [{ role: 'user', content: 'Reply with the single word: pong' }], max_tokens: 8, temperature: 0, stream: false }
}

export function chatOutcome(status: number, body: string, ms?: number): CheckOutcome {
  if (status < 200 || status >= 300) return { status: 'fail', detail: `HTTP ${status}: ${body.replace(/\s+/g, ' ').slice(0, 80)}` }
  try {
    const j = JSON.parse(body) as { choices?: Array<{ message?: { content?: string } }>; usage?: { total_tokens?: number } }
    const content = j.choices?.[0]?.message?.content
    if (typeof content !== 'string') return { status: 'fail', detail: 'no choices[0].message.content in the answer' }
    return { status: 'ok', detail: `answered "${content.trim().slice(0, 20)}"${ms !== undefined ? ` in ${ms}ms` : ''}${j.usage?.total_tokens ? `, ${j.usage.total_tokens} tokens` : ''}` }
  } catch {
    return { status: 'fail', detail: 'the answer is not JSON' }
  }
}

type Target = { labels: Record<string, string>; health: string; lastError?: string; scrapePool?: string; scrapeUrl?: string; lastScrape?: string; scrapeInterval?: string }

/** Prometheus /api/v1/targets: every active target up (filtered by a label predicate). */
export function targetsOutcome(body: string, keep: (labels: Record<string, string>) => boolean = () => true): CheckOutcome {
  return judgeTargets(targetsOf(body).filter((t) => keep(t.labels)), new Map())
}

/**
 * Every target up, or `answered`: it answered a scrape of our own, and Prometheus has not scraped it
 * since (the map holds its lastScrape then; a newer verdict of Prometheus' own wins).
 */
function judgeTargets(targets: Target[], answered: Map<string, string | undefined>): CheckOutcome {
  if (!targets.length) return { status: 'fail', detail: 'no active scrape targets' }
  const early = (t: Target) => answered.has(targetKey(t)) && answered.get(targetKey(t)) === t.lastScrape
  const down = targets.filter((t) => t.health !== 'up' && !early(t))
  if (down.length) {
    return { status: 'fail', detail: `${down.length}/${targets.length} targets down: ${down.slice(0, 5).map((t) => t.labels.job ?? t.scrapePool).join(', ')}`, data: down.map((t) => ({ job: t.labels.job, instance: t.labels.instance, error: t.lastError })) }
  }
  const n = targets.filter((t) => t.health !== 'up').length
  return { status: 'ok', detail: `${targets.length} targets up${n ? ` (${n} answered a scrape from Prometheus' place before Prometheus' own next one)` : ''}` }
}

const targetsOf = (body: string): Target[] => (JSON.parse(body) as { data?: { activeTargets?: Target[] } }).data?.activeTargets ?? []
const targetKey = (t: Target) => `${t.scrapePool ?? ''} ${t.scrapeUrl ?? t.labels.instance ?? ''}`
const seconds = (d: string | undefined) => { const m = /^(\d+)(ms|s|m)$/.exec(d ?? ''); return m ? Number(m[1]) * ({ ms: 0.001, s: 1, m: 60 } as Record<string, number>)[m[2]!]! : 15 }

/**
 * Why Prometheus could not scrape a target that says only that nothing answered at its address (a
 * container that did not exist yet or was just replaced), as against one that answered slowly or
 * wrongly: only the first kind may be judged by a scrape of our own.
 */
const NOTHING_ANSWERED = /no such host|server misbehaving|connection refused|no route to host|network is unreachable/i
/** A body in Prometheus' text exposition format: at least one sample line. */
const EXPOSITION = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^\n]*\})?[ \t]+\S+/m
const looksLikeMetrics = (body: string) => EXPOSITION.test(body)

/**
 * The targets check judged on fresh scrapes: a target down in Prometheus' last scrape may be a
 * container a deploy replaced or started a moment ago (its address did not resolve or answer yet).
 * Each target down at the first look is judged again by a scrape Prometheus makes after it (its
 * lastScrape moves), waiting at most its scrape interval plus 5 s; one still down then fails as
 * before. With `scrape` (a GET of the target's scrape URL from Prometheus' own network place,
 * answering the body or null), a target that was never scraped, or whose last scrape found nothing
 * answering at its address, is first scraped that way: metrics in the answer count as up, without
 * waiting for Prometheus' next turn; anything else waits for Prometheus as before.
 */
export async function freshTargetsOutcome(fetch: () => Promise<string>, keep: (labels: Record<string, string>) => boolean = () => true,
  o: { pollMs?: number; signal?: AbortSignal; scrape?: (url: string) => Promise<string | null> } = {}): Promise<CheckOutcome> {
  let body = await fetch()
  const first = targetsOf(body).filter((t) => keep(t.labels) && t.health !== 'up')
  if (!first.length) return targetsOutcome(body, keep)
  const answered = new Map<string, string | undefined>()
  if (o.scrape) {
    const scrape = o.scrape
    await Promise.all(first.filter((t) => t.scrapeUrl && (t.health === 'unknown' || NOTHING_ANSWERED.test(t.lastError ?? ''))).map(async (t) => {
      const got = await scrape(t.scrapeUrl!).catch(() => null)
      if (got !== null && looksLikeMetrics(got)) answered.set(targetKey(t), t.lastScrape)
    }))
  }
  const pending = first.filter((t) => !answered.has(targetKey(t)))
  const outcome = () => judgeTargets(targetsOf(body).filter((t) => keep(t.labels)), answered)
  if (!pending.length) return outcome()
  const seen = new Map(pending.map((t) => [targetKey(t), t.lastScrape]))
  const deadline = Date.now() + (Math.max(...pending.map((t) => seconds(t.scrapeInterval))) + 5) * 1000
  for (;;) {
    const now = targetsOf(body).filter((t) => seen.has(targetKey(t)))
    const rescraped = now.every((t) => t.lastScrape !== seen.get(targetKey(t)))
    if (rescraped || Date.now() >= deadline || o.signal?.aborted) break
    await new Promise((r) => setTimeout(r, o.pollMs ?? 1000))
    body = await fetch()
  }
  return outcome()
}

/** Grafana /api/health: database ok. */
export function grafanaOutcome(status: number, body: string): CheckOutcome {
  if (status !== 200) return { status: 'fail', detail: `HTTP ${status}` }
  try {
    const j = JSON.parse(body) as { database?: string; version?: string }
    return j.database === 'ok' ? { status: 'ok', detail: `Grafana ${j.version ?? ''} database ok`.replace('  ', ' ') } : { status: 'fail', detail: `database ${j.database}` }
  } catch {
    return { status: 'fail', detail: 'not JSON' }
  }
}
