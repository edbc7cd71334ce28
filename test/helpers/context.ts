// A context for in-process tests: captured stdout/stderr, fakes on PATH.
import { Writable } from 'node:stream'
import { createContext, type Ctx, type ContextOptions } from '../../scripts/lib/core/context.ts'

export interface TestCtx extends Ctx { stdout(): string; stderr(): string }

export function testCtx(o: ContextOptions & { path?: string } = {}): TestCtx {
  let out = ''
  let err = ''
  const sink = (append: (s: string) => void) => new Writable({ write(chunk, _enc, cb) { append(String(chunk)); cb() } })
  const env = { ...process.env, ...o.env, ...(o.path ? { PATH: o.path } : {}) }
  const ctx = createContext({
    interactive: false, ...o, env,
    stdout: sink((s) => { out += s }), stderr: sink((s) => { err += s }),
  }) as TestCtx
  ctx.stdout = () => out
  ctx.stderr = () => err
  return ctx
}
