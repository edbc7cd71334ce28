// The shared lib in-process: masking, preflight, locks, exec timeouts.
import { describe, it, expect } from 'vitest'
import { join } from 'node:path'
import { writeFileSync } from 'node:fs'
import { SecretMasker } from '../../scripts/lib/core/secrets.ts'
import { runPreflight, toolCheck, portsFreeCheck, predicateCheck, compareVersions, PreflightError } from '../../scripts/lib/core/preflight.ts'
import { acquireLock } from '../../scripts/lib/core/lock.ts'
import { LockedError } from '../../scripts/lib/core/errors.ts'
import { shellQuote, CommandError, failureReason, oneLine, probeWhy, exitCodeAndWhy, colonLines, outputTail } from '../../scripts/lib/core/exec.ts'
import { testCtx } from '../helpers/context.ts'
import { fakeBins, ok } from '../helpers/fake-bins.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { createServer } from 'node:net'
import { hostname } from 'node:os'

describe('SecretMasker', () => {
  it('masks registered values, their URL-encoded form, URL credentials and secret-looking flags', () => {
    const m = new SecretMasker()
    m.add('p@ss/word:42xyz')
    expect(m.mask('a p@ss/word:42xyz b')).toBe('a *** b')
    expect(m.mask(`postgres://u:${encodeURIComponent('p@ss/word:42xyz')}@h/db`)).toBe('postgres://u:***@h/db')
    expect(m.mask('redis://:topsecret@redis:6379/0')).toBe('redis://:***@redis:6379/0')
    expect(m.mask('--db-password=abc123 --token xyz789')).toBe('--db-password=*** --token ***')
    expect(m.mask('POSTGRES_PASSWORD=abc123 LOG_LEVEL=info')).toBe('POSTGRES_PASSWORD=*** LOG_LEVEL=info')
  })

  it('leaves flags and words that merely mention a secret word alone', () => {
    const m = new SecretMasker()
    const text = '--max-tokens 128 --token-budget=5 inter-token latency: 3ms MAX_TOKENS=128 TOKENS_PER_S=9'
    expect(m.mask(text)).toBe(text)
    expect(m.mask('--auth-token abc123 WEBUI_SECRET_KEY=abc AWS_SECRET_ACCESS_KEY=xyz')).toBe('--auth-token *** WEBUI_SECRET_KEY=*** AWS_SECRET_ACCESS_KEY=***')
  })

  it('ignores values too short to mask without hiding ordinary text', () => {
    const m = new SecretMasker()
    m.add('ab')
    expect(m.mask('abc')).toBe('abc')
  })
})

describe('shellQuote', () => {
  it('leaves plain words alone and quotes the rest so it can be pasted', () => {
    expect(shellQuote(['helm', '--set', "a=it's here", 'x'])).toBe(`helm --set 'a=it'\\''s here' x`)
  })
})

describe('preflight', () => {
  it('runs checks concurrently and lists every failure with its hint', async () => {
    const bins = fakeBins({ helm: ok('version.BuildInfo{Version:"v3.10.0"}'), kubectl: ok('Client Version: v1.33.1') })
    const ctx = testCtx({ path: bins.path })
    const slow = (name: string) => predicateCheck(name, 'n/a', async () => { await new Promise((r) => setTimeout(r, 300)); return { ok: true, detail: 'fine' } })
    const started = performance.now()
    const err = await runPreflight(ctx, [
      toolCheck('helm', { min: '3.14', versionArgv: ['helm', 'version'], hint: 'make setup' }),
      toolCheck('kubectl', { min: '1.28', versionArgv: ['kubectl', 'version', '--client'], hint: 'apt-get install kubectl' }),
      toolCheck('trivy-nope', { hint: 'install trivy' }),
      slow('a'), slow('b'), slow('c'),
    ]).catch((e: unknown) => e)
    expect(performance.now() - started).toBeLessThan(900)
    expect(err).toBeInstanceOf(PreflightError)
    const msg = (err as Error).message
    expect(msg).toContain('helm >= 3.14: found 3.10.0, need >= 3.14')
    expect(msg).toContain('hint: make setup')
    expect(msg).toContain('trivy-nope not found')
    expect(msg).not.toContain('kubectl >= 1.28:')
    expect(ctx.stderr()).toMatch(/kubectl >= 1\.28\s+ok/)
    bins.remove()
  })

  it('times out a hanging check on its own', async () => {
    const ctx = testCtx()
    const hang = { name: 'hang', hint: 'fix it', timeoutMs: 100, run: () => new Promise<never>(() => {}) }
    await expect(runPreflight(ctx, [hang])).rejects.toThrow(/hang: timed out after 100ms/)
  })

  it('finds a busy port', async () => {
    const srv = createServer().listen(0, '127.0.0.1')
    await new Promise((r) => srv.once('listening', r))
    const port = (srv.address() as { port: number }).port
    const ctx = testCtx()
    await expect(runPreflight(ctx, [portsFreeCheck([port], '127.0.0.1')])).rejects.toThrow(`in use: ${port}`)
    srv.close()
  })

  it('--skip-checks bypasses them', async () => {
    const ctx = testCtx()
    const r = await runPreflight(ctx, [toolCheck('nope-nope', { hint: 'x' })], { skip: true })
    expect(r.ok).toBe(true)
    expect(ctx.stderr()).toContain('preflight skipped')
  })

  it('compares versions numerically', () => {
    expect(compareVersions('3.17.2', '3.9')).toBe(1)
    expect(compareVersions('1.28', '1.28.0')).toBe(0)
    expect(compareVersions('4.0.0', '4.1')).toBe(-1)
  })
})

describe('lock', () => {
  it('a second holder gets LockedError (exit 75); a stale lock is taken over', () => {
    const dir = tmpDir()
    const path = join(dir.path, 'deploy.lock')
    const release = acquireLock(testCtx(), path, 'deploy')
    const err = (() => { try { acquireLock(testCtx(), path, 'deploy'); return null } catch (e) { return e } })()
    expect(err).toBeInstanceOf(LockedError)
    expect((err as LockedError).exitCode).toBe(75)
    expect((err as Error).message).toContain(`pid ${process.pid}`)
    release()
    writeFileSync(path, JSON.stringify({ pid: 2 ** 22 + 7, host: hostname(), startedAt: 'x', what: 'deploy' }))
    const ctx = testCtx()
    acquireLock(ctx, path, 'deploy')()
    expect(ctx.stderr()).toContain('took over the stale lock')
    dir.remove()
  })
})

describe('exec', () => {
  it('kills a command at its timeout and says so', async () => {
    const ctx = testCtx()
    const err = await ctx.exec(['sleep', '5'], { timeout: 200 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(CommandError)
    expect((err as Error).message).toContain('command failed (timed out after 200ms): sleep 5')
  })

  it('read-only commands still run under --dry-run; mutating ones are only recorded', async () => {
    const ctx = testCtx({ dryRun: true })
    const r = await ctx.exec(['echo', 'hi'])
    expect(r.stdout).toBe('hi\n')
    const m = await ctx.exec(['rm', '-rf', '/nonexistent'], { mutates: true })
    expect(m.skipped).toBe(true)
    expect(ctx.plan).toEqual(['rm -rf /nonexistent'])
    expect(ctx.stdout()).toBe('[dry-run] rm -rf /nonexistent\n')
  })
})

describe('why a command failed', () => {
  const SECRET = 'tok-9Hq2LmX7pQ4w'
  const failing = (script: string) => ['sh', '-c', script]

  it('the last lines of stderr, else stdout, masked; else the exit code', async () => {
    const ctx = testCtx()
    ctx.secrets.add(SECRET)
    const noisy = await ctx.exec(failing(`echo progress; echo one >&2; echo two >&2; echo "three: token ${SECRET} refused" >&2; echo four >&2; exit 4`), { allowFailure: true })
    expect(failureReason(ctx, noisy)).toBe('two | three: token *** refused | four')
    expect(failureReason(ctx, noisy, 2, '\n')).toBe('three: token *** refused\nfour')
    const stdoutOnly = await ctx.exec(failing('echo "Error: nothing on stderr"; exit 2'), { allowFailure: true })
    expect(failureReason(ctx, stdoutOnly)).toBe('Error: nothing on stderr')
    const silent = await ctx.exec(failing('exit 137'), { allowFailure: true })
    expect(failureReason(ctx, silent)).toBe('exit code 137')
    // a message that names the code itself never says it twice ("curl exit 7: exit code 7")
    expect([exitCodeAndWhy(ctx, noisy, 1), exitCodeAndWhy(ctx, silent)]).toEqual(['4: four', '137'])
    expect([colonLines(outputTail(ctx, noisy, 1, '\n')), colonLines(outputTail(ctx, silent))]).toEqual([':\nfour', ''])
  })

  it('a failed command\'s error in one line keeps its output; a probe says why it got nothing', async () => {
    const ctx = testCtx()
    ctx.secrets.add(SECRET)
    const err = await ctx.exec(['sh', '-c', 'echo "auth $1: Unauthorized" >&2; exit 1', 'sh', SECRET]).then(() => new Error('it succeeded'), (e: Error) => e)
    expect(err.message.split('\n')[0]).toBe("command failed (exit code 1): sh -c 'echo \"auth $1: Unauthorized\" >&2; exit 1' sh ***") // all a table row kept before
    expect(oneLine(err.message)).toBe("command failed (exit code 1): sh -c 'echo \"auth $1: Unauthorized\" >&2; exit 1' sh ***: auth ***: Unauthorized")
    expect(oneLine('one line')).toBe('one line')
    expect(await probeWhy(ctx, failing(`echo "permission denied (${SECRET})" >&2; exit 1`))).toEqual({ out: null, why: 'permission denied (***)' })
    expect(await probeWhy(ctx, ['owp-no-such-tool', 'version'])).toEqual({ out: null, why: 'owp-no-such-tool not found on PATH' })
    expect(await probeWhy(ctx, ['echo', 'fine'])).toEqual({ out: 'fine', why: null })
  })
})

describe('exec input', () => {
  it('a command that exits without reading a large input fails by its exit code, never by EPIPE', async () => {
    const ctx = testCtx()
    for (let i = 0; i < 5; i++) {
      const r = await ctx.exec(['sh', '-c', 'exit 3'], { input: 'x'.repeat(4 << 20), allowFailure: true })
      expect(r.exitCode).toBe(3)
    }
  })
})
