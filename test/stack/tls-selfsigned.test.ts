// make tls-selfsigned as a user runs it: a real openssl, a real process, real files.
import { describe, it, expect, afterAll } from 'vitest'
import { existsSync, readFileSync, statSync, mkdirSync, writeFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { runScript } from '../helpers/run-script.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { requireTool } from './tools.ts'

const SCRIPT = 'scripts/tls-selfsigned.ts'
const tmp = tmpDir('owp-tls-')
afterAll(() => tmp.remove())

const x509 = (file: string) => execFileSync(requireTool('openssl'), ['x509', '-in', file, '-noout', '-subject', '-ext', 'subjectAltName', '-enddate'], { encoding: 'utf8' })

describe('tls-selfsigned', () => {
  const dir = join(tmp.path, 'certs')

  it('writes a certificate for the domain (plus localhost) and a private key only its reader can open', async () => {
    const r = await runScript(SCRIPT, ['--domain', 'chat.example.test', '--san', '10.0.0.5', '--dir', dir, '--json'])
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out).toMatchObject({ action: 'created', cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') })
    const text = x509(out.cert)
    expect(text).toContain('CN = chat.example.test')
    expect(text).toMatch(/DNS:chat\.example\.test, DNS:localhost, IP Address:127\.0\.0\.1, IP Address:10\.0\.0\.5/)
    expect(readFileSync(out.key, 'utf8')).toContain('PRIVATE KEY')
    if (process.getuid?.() === 0) {
      expect(statSync(out.key).mode & 0o777).toBe(0o600)
      expect(statSync(out.key).uid).toBe(101) // the nginx user of nginx-unprivileged
    }
  })

  it('keeps an existing pair unless --force', async () => {
    const before = readFileSync(join(dir, 'tls.crt'), 'utf8')
    const kept = await runScript(SCRIPT, ['--domain', 'other.example.test', '--dir', dir, '--json'])
    expect(kept.code, kept.stderr).toBe(0)
    expect(JSON.parse(kept.stdout).action).toBe('kept')
    expect(readFileSync(join(dir, 'tls.crt'), 'utf8')).toBe(before)
    const forced = await runScript(SCRIPT, ['--domain', 'other.example.test', '--dir', dir, '--force', '--json'])
    expect(forced.code, forced.stderr).toBe(0)
    expect(x509(join(dir, 'tls.crt'))).toContain('CN = other.example.test')
  })

  it('refuses to keep half a pair or a directory Docker made at the key path; --force replaces the empty directory', async () => {
    const half = join(tmp.path, 'half')
    mkdirSync(join(half, 'tls.key'), { recursive: true })
    writeFileSync(join(half, 'tls.crt'), 'not a pair')
    const r = await runScript(SCRIPT, ['--domain', 'chat.example.test', '--dir', half])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/holds no usable pair: .*tls\.key is a directory, not a file/)
    expect(r.stderr).toContain('--force')
    expect(readFileSync(join(half, 'tls.crt'), 'utf8')).toBe('not a pair')
    const forced = await runScript(SCRIPT, ['--domain', 'chat.example.test', '--dir', half, '--force', '--json'])
    expect(forced.code, forced.stderr).toBe(0)
    expect(statSync(join(half, 'tls.key')).isFile()).toBe(true)
  })

  it('prints the openssl command under --dry-run and writes nothing', async () => {
    const dry = join(tmp.path, 'dry')
    const r = await runScript(SCRIPT, ['--domain', 'chat.example.test', '--dir', dry, '--dry-run'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^\[dry-run\] openssl req -x509 .*-subj \/CN=chat\.example\.test/m)
    expect(existsSync(dry)).toBe(false)
  })

  it('takes DOMAIN from the env file, and refuses a name that is not a host name', async () => {
    const env = join(tmp.path, 'x.env')
    execFileSync('sh', ['-c', `printf 'DOMAIN=from-env.example.test\\n' > "${env}"`])
    const fromEnv = await runScript(SCRIPT, ['--env-file', env, '--dir', join(tmp.path, 'env'), '--json'], { env: { DOMAIN: undefined } })
    expect(fromEnv.code, fromEnv.stderr).toBe(0)
    expect(x509(JSON.parse(fromEnv.stdout).cert)).toContain('CN = from-env.example.test')
    const bad = await runScript(SCRIPT, ['--domain', 'not a host', '--dir', join(tmp.path, 'bad')])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('not a host name: not a host')
  })
})
