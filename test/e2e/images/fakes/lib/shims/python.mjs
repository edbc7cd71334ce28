// e2e FAKE python: the entry points and healthcheck one-liners the compose file and the custom
// Dockerfiles run in the LightLLM, GraphRAG and celery-exporter images.
//   python -m lightllm.server.api_server ...   -> the fake LightLLM
//   python -m uvicorn|gunicorn <app> ...        -> the fake GraphRAG (the fake MCP when the app names mcp)
//   python -c "...urlopen(<url expr>)..."       -> an HTTP GET of that URL (string literals joined
//                                                  with + and os.environ.get('K', 'default'))
//                                                  (printing the sample count when the code counts them)
//   python -c "...glob.glob('<dir/prefix*>')...time.time() - ... < N..." -> newest match younger than N s
// Anything else fails loudly (exit 2), so a changed healthcheck is noticed, not faked.
// The fake servers run in this process, so they stay PID 1 and handle SIGTERM.
import { readdirSync, statSync } from 'node:fs'
import { dirname, basename, join } from 'node:path'
import { diag } from '../common.mjs'

const args = process.argv.slice(2)

/** The value of a Python expression made of string literals, os.environ lookups and +. */
export function pyStringExpr(expr, env = process.env) {
  return expr.split('+').map((t) => t.trim()).map((t) => {
    let m = /^(['"])(.*)\1$/.exec(t)
    if (m) return m[2]
    m = /^os\.environ\.get\(\s*(['"])(\w+)\1\s*(?:,\s*(['"])(.*?)\3\s*)?\)$/.exec(t)
    if (m) return env[m[2]] ?? m[4] ?? ''
    m = /^os\.environ\[\s*(['"])(\w+)\1\s*\]$/.exec(t)
    if (m) return env[m[2]] ?? ''
    throw new Error(`cannot evaluate ${t}`)
  }).join('')
}

export async function runCode(code, env = process.env) {
  const open = /urlopen\(\s*(.+?)\s*(?:,\s*timeout\s*=\s*[\d.]+\s*)?\)/.exec(code)
  if (open) {
    const url = pyStringExpr(open[1], env)
    const r = await fetch(url, { signal: AbortSignal.timeout(10_000) }).catch((e) => { diag(`urlopen ${url}: ${e.message}`); return null })
    if (r && !r.ok) diag(`urllib.error.HTTPError: HTTP Error ${r.status}`)
    if (!r?.ok) return 1
    // validate-prod's "count the samples of /metrics" one-liner
    if (/\.read\(\)[\s\S]*splitlines[\s\S]*startswith\(\s*["']#["']\s*\)/.test(code) && /print\(/.test(code)) {
      const body = await r.text()
      process.stdout.write(`${body.split('\n').filter((l) => l && !l.startsWith('#')).length}\n`)
    }
    return 0
  }
  const g = /glob\.glob\(\s*(['"])(.+?)\*\1\s*\)[\s\S]*?<\s*(\d+)/.exec(code)
  if (g) {
    const dir = dirname(g[2])
    const prefix = basename(g[2])
    let newest = 0
    try { for (const f of readdirSync(dir)) if (f.startsWith(prefix)) newest = Math.max(newest, statSync(join(dir, f)).mtimeMs) } catch { /* no dir */ }
    return newest && (Date.now() - newest) / 1000 < Number(g[3]) ? 0 : 1
  }
  diag(`fake python (owp e2e): -c code it cannot emulate: ${code}`)
  return 2
}

const startFake = async (service, rest) => {
  process.argv = [process.argv[0], 'main.mjs', service, ...rest]
  await import('../main.mjs')
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (args[0] === '-m' && args[1] === 'lightllm.server.api_server') {
    await startFake('lightllm', args.slice(2))
  } else if (args[0] === '-m' && ['uvicorn', 'gunicorn'].includes(args[1])) {
    const port = /--port[= ](\d+)|--bind[= ]\S*:(\d+)|-b\s+\S*:(\d+)/.exec(args.join(' '))
    if (port) process.env.PORT = port[1] ?? port[2] ?? port[3]
    await startFake(/mcp/i.test(args.join(' ')) ? 'mcp' : 'graphrag', [])
  } else if (args[0] === '-c') {
    process.exit(await runCode(args[1] ?? ''))
  } else {
    process.stderr.write(`fake python (owp e2e): unsupported arguments: ${args.join(' ')}\n`)
    process.exit(2)
  }
}
