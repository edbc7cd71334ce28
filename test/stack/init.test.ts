// make init as a newcomer runs it: no terminal, flags, an existing .env; the result passes the kit's own validation.
import { describe, it, expect, afterEach } from 'vitest'
import { readFileSync, writeFileSync, statSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import dotenv from 'dotenv'
import { runScript } from '../helpers/run-script.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { testCtx } from '../helpers/context.ts'
import { loadConfig, readSchema, secretNames } from '../../scripts/lib/core/config.ts'
import { ConfigError } from '../../scripts/lib/core/errors.ts'

const INIT = 'scripts/init.ts'
let dir: { path: string; remove(): void }
afterEach(() => dir?.remove())

describe('make init', () => {
  it('without a terminal or flags writes a .env with strong distinct secrets that production validation accepts', async () => {
    dir = tmpDir()
    const file = join(dir.path, '.env')
    const r = await runScript(INIT, ['--', '--env-file', file], { input: '' })
    expect(r.code).toBe(0)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    const env = dotenv.parse(readFileSync(file))
    expect(env.DOMAIN).toBe('localhost')
    expect(env.LIGHTLLM_ENABLED).toBe('true')
    const secrets = [...secretNames(readSchema())].filter(([, kind]) => kind !== 'credential').map(([n]) => env[n]!)
    expect(secrets.length).toBeGreaterThanOrEqual(7)
    expect(new Set(secrets).size).toBe(secrets.length)
    for (const s of secrets) expect(s.length).toBeGreaterThanOrEqual(32)
    const ctx = testCtx()
    const loaded = loadConfig(ctx, { envFile: file, production: true })
    expect(loaded.production).toBe(true)
    for (const s of secrets) { expect(r.stdout).not.toContain(s); expect(r.stderr).not.toContain(s) }
  })

  it('takes the domain and an external endpoint as flags, and never prints the key', async () => {
    dir = tmpDir()
    const file = join(dir.path, '.env')
    const key = 'sk-test-9f8e7d6c5b4a39281706'
    const r = await runScript(INIT, ['--', '--env-file', file, '--domain', 'chat.example.org', '--llm', 'external', '--openai-url', 'https://llm.example.org/v1', '--openai-key', key, '--json'], { input: '' })
    expect(r.code).toBe(0)
    const env = dotenv.parse(readFileSync(file))
    expect(env).toMatchObject({ DOMAIN: 'chat.example.org', PUBLIC_URL: 'https://chat.example.org', LIGHTLLM_ENABLED: 'false', OPENAI_API_BASE_URL: 'https://llm.example.org/v1', OPENAI_API_KEY: key })
    expect(r.stdout + r.stderr).not.toContain(key)
    expect(JSON.parse(r.stdout)).toMatchObject({ written: true, answers: { domain: 'chat.example.org', llm: 'external' } })
  })

  it('refuses to overwrite an existing .env without --force (exit 2, file untouched); --force keeps a copy', async () => {
    dir = tmpDir()
    const file = join(dir.path, '.env')
    writeFileSync(file, 'DOMAIN=mine.example.org\n')
    const r = await runScript(INIT, ['--', '--env-file', file], { input: '' })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('exists: not overwritten')
    expect(r.stderr).toContain('--force')
    expect(readFileSync(file, 'utf8')).toBe('DOMAIN=mine.example.org\n')
    const f = await runScript(INIT, ['--', '--env-file', file, '--force'], { input: '' })
    expect(f.code).toBe(0)
    const bak = readdirSync(dir.path).find((n) => n.endsWith('.bak'))!
    expect(readFileSync(join(dir.path, bak), 'utf8')).toBe('DOMAIN=mine.example.org\n')
  })

  it('rejects every bad answer at once before writing anything', async () => {
    dir = tmpDir()
    const file = join(dir.path, '.env')
    const r = await runScript(INIT, ['--', '--env-file', file, '--domain', 'not a host', '--llm', 'external'], { input: '' })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--domain must be a host name')
    expect(r.stderr).toContain('--llm external needs --openai-url')
    expect(readdirSync(dir.path)).toEqual([])
  })
})

describe('a deployment that cannot answer chats does not validate', () => {
  it('LIGHTLLM_ENABLED=false without OPENAI_API_BASE_URL is a configuration error', () => {
    dir = tmpDir()
    const file = join(dir.path, '.env')
    const base = 'DEPLOY_ENV=development\nDOMAIN=x.example.org\nWEBUI_SECRET_KEY=a\nPOSTGRES_PASSWORD=b\nREDIS_PASSWORD=c\nQDRANT_API_KEY=d\nNEO4J_PASSWORD=eeeeeeee\nGRAPHRAG_API_KEY=f\nGRAFANA_ADMIN_PASSWORD=g\n'
    writeFileSync(file, `${base}LIGHTLLM_ENABLED=false\n`)
    const ctx = testCtx()
    expect(() => loadConfig(ctx, { envFile: file })).toThrow(ConfigError)
    try { loadConfig(ctx, { envFile: file }) } catch (e) { expect((e as ConfigError).problems.join('\n')).toContain('nothing would answer chats') }
    writeFileSync(file, `${base}LIGHTLLM_ENABLED=false\nOPENAI_API_BASE_URL=https://llm.example.org/v1\n`)
    expect(loadConfig(ctx, { envFile: file }).env.LIGHTLLM_ENABLED).toBe('false')
  })
})
