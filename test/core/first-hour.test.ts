// The first hour (issue 17), in the shared lib: masking by whole tokens, tables on one line,
// unknown flags with a guess, help with examples and exit codes, JSON everywhere with --log-format json.
import { describe, it, expect } from 'vitest'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { SecretMasker, isMaskable } from '../../scripts/lib/core/secrets.ts'
import { table } from '../../scripts/lib/core/log.ts'
import { closestFlag, renderHelp, withoutLeadingSeparator } from '../../scripts/lib/core/cli.ts'
import { validateEnv, readSchema } from '../../scripts/lib/core/config.ts'
import { runScript } from '../helpers/run-script.ts'
import { tmpDir } from '../helpers/tmp.ts'

const DEMO = 'test/fixtures/cli/demo.ts'

describe('secret masking by whole values', () => {
  it('never masks values too short or too common to be secrets (OPENAI_API_KEY=none)', () => {
    const m = new SecretMasker()
    for (const v of ['none', 'admin', 'true', 'false', 'openwebui', '12345', 'abc']) m.add(v)
    expect(m.size).toBe(0)
    const svg = '<rect fill="none" stroke="#333"/><text>admin true</text>'
    expect(m.mask(svg)).toBe(svg)
    expect(isMaskable('3f9a1c7e5b2d')).toBe(true)
  })

  it('masks a registered value only where it stands as a whole token', () => {
    const m = new SecretMasker()
    m.add('hunter22')
    expect(m.mask('password hunter22 given')).toBe('password *** given')
    expect(m.mask('"hunter22",')).toBe('"***",')
    expect(m.mask('xhunter22 hunter22y')).toBe('xhunter22 hunter22y')
  })

  it('a weak-secret problem never quotes the secret, even one too short to be masked', () => {
    const problems = validateEnv(readSchema(), { NEO4J_PASSWORD: 'abc', DOMAIN: 'x.test' })
    const line = problems.find((p) => p.startsWith('NEO4J_PASSWORD'))!
    expect(line).toBeDefined()
    expect(line).not.toContain('abc')
  })
})

describe('tables', () => {
  it('a row never breaks across lines: cell newlines are joined, cells cut to the width', () => {
    const out = table(['result', 'check', 'detail'], [['FAIL', 'nginx', 'connect ECONNREFUSED\n127.0.0.1:443 after 3 attempts, each with its own long timeout']], 50)
    const lines = out.trimEnd().split('\n')
    expect(lines).toHaveLength(3)
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(50)
    expect(lines[2]).toMatch(/^FAIL\s+nginx\s+connect ECONNREFUSED \| 127.*…$/)
  })

  it('without a width (a file, a pipe) rows stay whole and on one line', () => {
    const out = table(['a', 'b'], [['x', 'one\ntwo']], undefined)
    expect(out.trimEnd().split('\n')[2]).toBe('x  one | two')
  })
})

describe('flags and help', () => {
  it('an unknown flag says which, guesses the closest and points to --help: one line, exit 2', async () => {
    const r = await runScript(DEMO, ['--env-fil', 'x'])
    expect(r.code).toBe(2)
    expect(r.stderr).toBe('error: unknown flag --env-fil (did you mean --env-file?)\nrun tsx test/fixtures/cli/demo.ts --help for the flags, examples and exit codes\n')
    expect(r.stderr).not.toContain('Usage:')
    expect(closestFlag('--dry-rnu', { 'dry-run': { type: 'boolean' }, json: { type: 'boolean' } })).toBe('--dry-run')
    expect(closestFlag('--zzzzzz', { json: { type: 'boolean' } })).toBeUndefined()
  })

  it('a flag without its value names the flag', async () => {
    const r = await runScript(DEMO, ['--env-file'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/^error: --env-file needs a value\n/)
  })

  it('--env-file after the script name reaches the kit on Node 20 (a leading "--" keeps Node off it)', async () => {
    const r = await runScript(DEMO, ['--', '--env-file', '/nonexistent/prod.env'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('env file not found: /nonexistent/prod.env')
    expect(withoutLeadingSeparator(['--', 'kubectl', 'apply'])).toEqual(['--', 'kubectl', 'apply'])
    expect(withoutLeadingSeparator(['--', '--json'])).toEqual(['--json'])
  })

  it('help renders the examples and every exit code', () => {
    const help = renderHelp('Usage: tsx scripts/x.ts [--a]', { examples: ['make x', 'make x ARGS=--a'], exitCodes: { 75: 'locked' } })
    expect(help).toMatch(/Examples:\n {2}make x\n {2}make x ARGS=--a\n/)
    expect(help).toMatch(/Exit codes:\n\s+0 {2}ok\n[\s\S]*\n\s+75 {2}locked\n\s+130 {2}interrupted/)
    expect(help).toContain('(default text)')
  })
})

describe('--log-format json and --json', () => {
  it('every stderr line is JSON, the final error included, with the problems as an array', async () => {
    const dir = tmpDir()
    const env = join(dir.path, 'bad.env')
    writeFileSync(env, 'DEPLOY_ENV=nope\nHTTP_PORT=abc\n')
    const r = await runScript(DEMO, ['--log-format', 'json', '--json', '--env-file', env])
    dir.remove()
    expect(r.code).toBe(2)
    const lines = r.stderr.trim().split('\n')
    expect(lines.length).toBeGreaterThan(0)
    const objs = lines.map((l) => JSON.parse(l) as { level: string; problems?: string[] })
    const last = objs.at(-1)!
    expect(last.level).toBe('fail')
    expect(Array.isArray(last.problems) && last.problems.length >= 2).toBe(true)
    const out = JSON.parse(r.stdout) as { ok: boolean; problems: string[] }
    expect(out.ok).toBe(false)
    expect(out.problems.length).toBeGreaterThanOrEqual(2)
    for (const p of out.problems) expect(p).not.toContain('\n')
  })

  it('an unknown flag under --log-format json is a JSON line too', async () => {
    const r = await runScript(DEMO, ['--log-format=json', '--bogus'])
    expect(r.code).toBe(2)
    expect(JSON.parse(r.stderr.trim())).toMatchObject({ level: 'fail', msg: 'unknown flag --bogus' })
  })
})
