// make tls-selfsigned: a self-signed certificate pair for the compose stack's first run.
import { run } from './lib/core/cli.ts'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import dotenv from 'dotenv'
import type { Ctx } from './lib/core/context.ts'
import { makeSelfSignedCert, CERT_DIR } from './lib/stack/tls.ts'
import { UsageError } from './lib/core/errors.ts'

export const usage = `Usage: tsx scripts/tls-selfsigned.ts [--domain HOST] [--days N] [--san NAME]... [--dir DIR] [--force]

Writes tls.crt and tls.key (EC P-256, self-signed) for NGINX into ${CERT_DIR}
(the default TLS_CERT_PATH / TLS_KEY_PATH). An existing pair is kept unless --force.
The host name comes from --domain, else DOMAIN in .env. localhost and 127.0.0.1 are always
added as subjectAltNames. Browsers warn about a self-signed certificate: put a real one at
TLS_CERT_PATH / TLS_KEY_PATH for production.

  --domain HOST   certificate subject and first subjectAltName (default: DOMAIN from .env)
  --days N        validity in days (default 365)
  --san NAME      an extra subjectAltName (host name or IP address); repeatable
  --dir DIR       where to write the pair (default ${CERT_DIR})
  --env-file F    the .env to read DOMAIN from (default ./.env)
  --force         replace an existing pair`

await run(usage, {
  domain: { type: 'string' },
  days: { type: 'string' },
  san: { type: 'string', multiple: true },
  dir: { type: 'string' },
  'env-file': { type: 'string' },
  force: { type: 'boolean' },
}, async (ctx, flags) => {
  const domain = flags.domain ?? domainFromEnv(ctx, flags['env-file'])
  if (!domain) throw new UsageError('no host name: pass --domain or set DOMAIN in .env')
  const days = flags.days === undefined ? undefined : Number(flags.days)
  const step = ctx.log.step(`self-signed certificate for ${domain}`)
  const result = await makeSelfSignedCert(ctx, { domain, days, dir: flags.dir, force: flags.force, altNames: flags.san })
  step.ok(result.action)
  return { data: result, text: `${result.action}: ${result.cert} ${result.key}` }
}, { examples: ['make tls-selfsigned',
  'make tls-selfsigned ARGS="--domain chat.example.com --days 30"',
  'make tls-selfsigned ARGS="--force --san 10.0.0.5"'] })

// Only DOMAIN is needed here: a half-filled .env must not stop a first run.
function domainFromEnv(ctx: Ctx, envFile?: string): string | undefined {
  if (ctx.env.DOMAIN) return ctx.env.DOMAIN
  const file = envFile ?? join(ctx.cwd, '.env')
  if (!existsSync(file)) {
    if (envFile) throw new UsageError(`env file not found: ${envFile}`)
    return undefined
  }
  return dotenv.parse(readFileSync(file)).DOMAIN || undefined
}
