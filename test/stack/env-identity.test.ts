// The .env contract for identity (SSO_*, WEBUI_ENABLE_LOGIN_FORM): combinations that cannot work are
// refused naming the variable, the client secret is masked, and compose gets OIDC only when it is on.
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../scripts/lib/core/config.ts'
import { ConfigError } from '../../scripts/lib/core/errors.ts'
import { composeEnvironment, loadCompose } from '../../scripts/lib/stack/env.ts'
import { testCtx } from '../helpers/context.ts'
import { testEnv } from './tools.ts'

const OIDC = {
  SSO_OIDC_ENABLED: 'true', SSO_OIDC_PROVIDER_URL: 'https://sso.example.com/realms/main/.well-known/openid-configuration',
  SSO_OIDC_CLIENT_ID: 'open-webui', SSO_OIDC_CLIENT_SECRET: 's3cr3t-client-value',
}

function load(extra: Record<string, string>) {
  const ctx = testCtx({ env: { PATH: process.env.PATH, ...testEnv(), ...extra } })
  return { ctx, cfg: () => loadConfig(ctx, { envFile: '/dev/null', production: false }) }
}
function problems(extra: Record<string, string>): string[] {
  try { load(extra).cfg(); return [] } catch (e) { if (e instanceof ConfigError) return e.problems; throw e }
}
const openwebuiEnv = (env: Record<string, string>) => loadCompose(composeEnvironment(env)).doc.services.openwebui!.environment as Record<string, string>

describe('identity in .env', () => {
  it('OIDC enabled without its provider, client or secret is refused, naming each missing variable', () => {
    expect(problems({ SSO_OIDC_ENABLED: 'true' })).toEqual([
      'SSO_OIDC_PROVIDER_URL is required when SSO_OIDC_ENABLED=true',
      'SSO_OIDC_CLIENT_ID is required when SSO_OIDC_ENABLED=true',
      'SSO_OIDC_CLIENT_SECRET is required when SSO_OIDC_ENABLED=true',
    ])
    expect(problems({ ...OIDC, SSO_OIDC_PROVIDER_URL: '' })).toEqual(['SSO_OIDC_PROVIDER_URL is required when SSO_OIDC_ENABLED=true'])
    expect(problems(OIDC)).toEqual([])
  })

  it('turning the login form off without another way in is refused', () => {
    const msg = 'WEBUI_ENABLE_LOGIN_FORM=false leaves no way to log in: set SSO_OIDC_ENABLED=true or SSO_TRUSTED_EMAIL_HEADER (or WEBUI_ENABLE_LOGIN_FORM=true)'
    expect(problems({ WEBUI_ENABLE_LOGIN_FORM: 'false' })).toEqual([msg])
    expect(problems({ WEBUI_ENABLE_LOGIN_FORM: 'false', SSO_OIDC_ENABLED: 'false' })).toEqual([msg])
    expect(problems({ WEBUI_ENABLE_LOGIN_FORM: 'false', ...OIDC })).toEqual([])
    expect(problems({ WEBUI_ENABLE_LOGIN_FORM: 'false', SSO_TRUSTED_EMAIL_HEADER: 'X-Forwarded-Email' })).toEqual([])
  })

  it('scopes without openid, a provider URL that is not http(s), and a header name with spaces are refused', () => {
    expect(problems({ ...OIDC, SSO_OIDC_SCOPES: 'email profile', SSO_OIDC_PROVIDER_URL: 'ftp://sso.example.com/x', SSO_TRUSTED_EMAIL_HEADER: 'X Email' })).toEqual([
      'SSO_OIDC_PROVIDER_URL must match pattern "^https?://" (got "ftp://sso.example.com/x")',
      'SSO_OIDC_SCOPES must match pattern "(^|\\s)openid(\\s|$)" (got "email profile")',
      'SSO_TRUSTED_EMAIL_HEADER must match pattern "^[A-Za-z0-9-]*$" (got "X Email")',
    ])
  })

  it('the client secret is masked like every other secret', () => {
    const { ctx, cfg } = load(OIDC)
    cfg()
    expect(ctx.secrets.mask(`OAUTH_CLIENT_SECRET=${OIDC.SSO_OIDC_CLIENT_SECRET}`)).not.toContain(OIDC.SSO_OIDC_CLIENT_SECRET)
  })

  it('compose hands Open WebUI the OIDC client only when SSO_OIDC_ENABLED=true', () => {
    const on = openwebuiEnv(load(OIDC).cfg().env)
    expect(on).toMatchObject({
      OPENID_PROVIDER_URL: OIDC.SSO_OIDC_PROVIDER_URL, OAUTH_CLIENT_ID: 'open-webui', OAUTH_CLIENT_SECRET: OIDC.SSO_OIDC_CLIENT_SECRET,
      OAUTH_SCOPES: 'openid email profile', ENABLE_OAUTH_SIGNUP: 'true', OPENID_REDIRECT_URI: 'https://chat.test/oauth/oidc/callback',
      ENABLE_LOGIN_FORM: 'true', ENABLE_OAUTH_PERSISTENT_CONFIG: 'false', OAUTH_ALLOWED_ROLES: 'user,admin', OAUTH_ADMIN_ROLES: 'admin',
    })
    // a filled-in client with OIDC switched off registers no login button
    const off = openwebuiEnv(load({ ...OIDC, SSO_OIDC_ENABLED: 'false' }).cfg().env)
    expect(off).toMatchObject({ OPENID_PROVIDER_URL: '', OAUTH_CLIENT_ID: '', OAUTH_CLIENT_SECRET: '', ENABLE_OAUTH_SIGNUP: 'false', WEBUI_AUTH_TRUSTED_EMAIL_HEADER: '' })
  })
})

describe('corporate proxy in .env', () => {
  it('passes the proxy to the services that call out; NO_PROXY keeps the stack\'s own names and adds .env\'s', () => {
    const env = load({ HTTPS_PROXY: 'http://10.20.0.5:3128', NO_PROXY: '.corp.example.com' }).cfg().env
    const doc = loadCompose(composeEnvironment(env)).doc
    for (const s of ['openwebui', 'lightllm', 'graphrag-processor', 'celery-worker', 'celery-beat', 'mcp-server']) {
      const e = doc.services[s]!.environment as Record<string, string>
      expect(e.HTTPS_PROXY, s).toBe('http://10.20.0.5:3128')
      expect(e.NO_PROXY!.split(','), s).toEqual(['localhost', '127.0.0.1', 'openwebui', 'lightllm', 'graphrag-processor', 'mcp-server', 'postgres', 'redis', 'qdrant', 'neo4j', 'otel-collector', '.corp.example.com'])
    }
    expect(problems({ HTTPS_PROXY: 'proxy.corp:3128' })).toEqual(['HTTPS_PROXY must match pattern "^(https?://\\S+)?$" (got "proxy.corp:3128")'])
  })
})
