// A self-signed certificate for a first run of the compose stack (openssl through ctx.exec).
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs'
import { pathProblem } from '../core/preflight.ts'
import { KitError } from '../core/errors.ts'
import { isIP } from 'node:net'
import { join } from 'node:path'
import { ROOT } from '../core/paths.ts'
import { UsageError } from '../core/errors.ts'
import type { Ctx } from '../core/context.ts'

export const CERT_DIR = join(ROOT, 'compose', 'nginx', 'certs')
/** uid/gid of the nginx user in nginxinc/nginx-unprivileged: it must be able to read the key. */
export const NGINX_UID = 101

export interface SelfSignedOptions {
  domain: string
  dir?: string
  days?: number
  /** Replace an existing pair. */
  force?: boolean
  /** Extra subjectAltNames (host names or IP addresses). */
  altNames?: string[]
}

export interface SelfSignedResult {
  cert: string
  key: string
  /** created, kept (a pair was there and --force was not given), or planned (--dry-run). */
  action: 'created' | 'kept' | 'planned'
  subjectAltNames: string[]
}

const HOSTNAME = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

export async function makeSelfSignedCert(ctx: Ctx, o: SelfSignedOptions): Promise<SelfSignedResult> {
  const dir = o.dir ?? CERT_DIR
  const cert = join(dir, 'tls.crt')
  const key = join(dir, 'tls.key')
  const days = o.days ?? 365
  if (!HOSTNAME.test(o.domain) && !isIP(o.domain)) throw new UsageError(`not a host name: ${o.domain}`)
  if (!Number.isInteger(days) || days < 1 || days > 3650) throw new UsageError(`--days must be 1..3650, got ${o.days}`)
  const names = [...new Set([o.domain, 'localhost', '127.0.0.1', ...(o.altNames ?? [])])]
  for (const n of names) if (!HOSTNAME.test(n) && !isIP(n)) throw new UsageError(`not a host name or IP address: ${n}`)
  const subjectAltNames = names.map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`))

  const problems = [pathProblem(cert, 'file'), pathProblem(key, 'file')].filter((x): x is string => x !== null)
  const nothing = !existsSync(cert) && !existsSync(key)
  if (!problems.length && !o.force) {
    ctx.log.info(`keeping the existing pair in ${dir} (--force replaces it)`)
    return { cert, key, action: 'kept', subjectAltNames }
  }
  // Half a pair, or a directory Docker made at a missing bind path, is no pair to keep.
  if (!nothing && problems.length && !o.force) throw new KitError(`${dir} holds no usable pair: ${problems.join('; ')}`, 1, 'remove what is there, or pass --force to write a new pair')
  for (const p of [cert, key]) {
    if (!existsSync(p) || !statSync(p).isDirectory()) continue
    if (readdirSync(p).length) throw new KitError(`${p} is a directory with files in it: not replaced`, 1, 'move it away, then run again')
    if (!ctx.dryRun) rmdirSync(p) // the empty directory Docker created for a missing bind source
  }
  if (!ctx.dryRun) mkdirSync(dir, { recursive: true })
  const r = await ctx.exec([
    'openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-sha256', '-nodes',
    '-days', String(days), '-subj', `/CN=${o.domain}`,
    '-addext', `subjectAltName=${subjectAltNames.join(',')}`,
    '-addext', 'basicConstraints=critical,CA:FALSE',
    '-addext', 'keyUsage=critical,digitalSignature',
    '-addext', 'extendedKeyUsage=serverAuth',
    '-keyout', key, '-out', cert,
  ], { mutates: true, title: 'openssl req' })
  if (r.skipped) return { cert, key, action: 'planned', subjectAltNames }
  chmodSync(cert, 0o644)
  chmodSync(key, 0o600)
  // NGINX runs as uid 101 in its container and reads the key through the bind mount.
  if (process.getuid?.() === 0) chownSync(key, NGINX_UID, NGINX_UID)
  else {
    chmodSync(key, 0o644)
    ctx.log.warn(`not root: ${key} is world-readable so that NGINX (uid ${NGINX_UID} in its container) can read it; fine for a first run, use a real certificate (chown ${NGINX_UID}, mode 0600) in production`)
  }
  return { cert, key, action: 'created', subjectAltNames }
}
