// make init: a ready .env (strong random secrets, the domain, the LLM) and, if wanted, a first-run certificate.
import { join, resolve } from 'node:path'
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline/promises'
import { run } from './lib/core/cli.ts'
import { UsageError } from './lib/core/errors.ts'
import { INIT_DEFAULTS, writeEnv, type InitAnswers, type LlmChoice } from './lib/stack/init.ts'
import { makeSelfSignedCert, CERT_DIR } from './lib/stack/tls.ts'

export const usage = `Usage: tsx scripts/init.ts [--domain HOST] [--llm lightllm|external [--openai-url URL]] [--force]

Writes .env from .env.example with a strong random value for every key and password, the domain
and the LLM: LightLLM on this host's GPU, or an external OpenAI-compatible endpoint. On a terminal
it asks for what the flags do not give; without one (make init </dev/null) it takes the defaults.
The result passes the kit's production validation. It then offers a self-signed certificate for a
first compose run (make tls-selfsigned). An existing .env is never overwritten without --force
(and then kept as .env.<time>.bak).

      --domain HOST       public host name (default ${INIT_DEFAULTS.domain})
      --llm L             lightllm (GPU on this host) or external (default ${INIT_DEFAULTS.llm})
      --openai-url URL    the OpenAI-compatible endpoint, with --llm external
      --openai-key KEY    its API key (default none)
      --env-file F        the file to write (default ./.env)
      --tls               also write the self-signed certificate (asked on a terminal)
      --no-tls            do not write it, do not ask
      --force             replace an existing .env`

await run(usage, {
  domain: { type: 'string' },
  llm: { type: 'string' },
  'openai-url': { type: 'string' },
  'openai-key': { type: 'string' },
  'env-file': { type: 'string' },
  tls: { type: 'boolean' },
  'no-tls': { type: 'boolean' },
  force: { type: 'boolean' },
}, async (ctx, f) => {
  if (f.tls && f['no-tls']) throw new UsageError('--tls and --no-tls exclude each other')
  const file = resolve(ctx.cwd, f['env-file'] ?? '.env')
  if (existsSync(file) && !f.force) throw new UsageError(`${file} exists: not overwritten`, 'pass --force to replace it (the old one is kept as a .bak copy)')
  const ask = ctx.interactive && !ctx.yes ? prompter() : null
  try {
    const domain = f.domain ?? (await ask?.('Public host name of the UI', INIT_DEFAULTS.domain)) ?? INIT_DEFAULTS.domain
    let llm = f.llm as LlmChoice | undefined
    if (!llm && f['openai-url']) llm = 'external'
    if (!llm && ask) llm = /^(2|e)/i.test(await ask('LLM: 1) LightLLM on this host (NVIDIA GPU)  2) an external OpenAI-compatible endpoint', '1')) ? 'external' : 'lightllm'
    llm ??= INIT_DEFAULTS.llm
    const answers: InitAnswers = { domain, llm, openaiUrl: f['openai-url'], openaiKey: f['openai-key'] }
    if (llm === 'external' && !answers.openaiUrl && ask) answers.openaiUrl = await ask('Endpoint URL (e.g. https://api.example.com/v1)', '')
    if (llm === 'external' && !answers.openaiKey && ask) answers.openaiKey = (await ask('API key (empty: none)', '')) || undefined
    const result = writeEnv(ctx, { file, force: f.force, answers })
    ctx.log.info(`${ctx.dryRun ? 'would write' : 'wrote'} ${file}: ${result.generated.length} secrets generated, DOMAIN=${domain}, LLM ${llm === 'lightllm' ? 'LightLLM on this host' : answers.openaiUrl}`)
    if (result.backup) ctx.log.info(`the previous .env is kept as ${result.backup}`)
    const tls = f.tls ?? (f['no-tls'] || !ask ? false : /^y/i.test(await ask(`Write a self-signed certificate for a first compose run into ${CERT_DIR}? [y/n]`, 'y')))
    const cert = tls ? await makeSelfSignedCert(ctx, { domain }) : null
    if (!cert && !f['no-tls'] && !existsSync(join(CERT_DIR, 'tls.crt'))) ctx.log.info('no TLS certificate yet: make tls-selfsigned writes one for a first compose run')
    if (llm === 'lightllm') ctx.log.info('LightLLM serves the weights in LLM_MODEL_DIR/LLM_MODEL_NAME (default models/qwen2.5-7b-instruct): put them there before deploying')
    return { data: { ...result, cert }, text: ctx.dryRun ? undefined : `next: make deploy-prod` }
  } finally {
    ask?.close()
  }
}, { examples: ['make init', 'make init ARGS="--domain chat.example.com --tls"', 'make init ARGS="--llm external --openai-url https://api.example.com/v1 --openai-key sk-... --force"'] })

/** Questions on the terminal (stderr, so stdout stays data); Enter takes the default. */
function prompter(): ((q: string, def: string) => Promise<string>) & { close(): void } {
  const rl = createInterface({ input: process.stdin, output: process.stderr })
  const ask = async (q: string, def: string) => (await rl.question(`${q}${def ? ` [${def}]` : ''}: `)).trim() || def
  return Object.assign(ask, { close: () => rl.close() })
}
