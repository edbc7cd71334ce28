// The flags of scripts/load-test.ts (hey's short flags where hey has them) and the help text.
import { SLO_HELP } from './slo.ts'
import { LLM_DEFINITIONS } from './report.ts'

export const loadTestOptions = {
  mode: { type: 'string' },
  profile: { type: 'string' },
  'base-url': { type: 'string' },
  path: { type: 'string' },
  'llm-path': { type: 'string' },
  'env-file': { type: 'string' },
  requests: { type: 'string', short: 'n' },
  concurrency: { type: 'string', short: 'c' },
  duration: { type: 'string', short: 'z' },
  qps: { type: 'string', short: 'q' },
  rate: { type: 'string' },
  arrival: { type: 'string' },
  warmup: { type: 'string' },
  timeout: { type: 'string', short: 't' },
  workers: { type: 'string' },
  insecure: { type: 'boolean', short: 'k' },
  seed: { type: 'string' },
  method: { type: 'string', short: 'm' },
  header: { type: 'string', short: 'H', multiple: true },
  body: { type: 'string', short: 'd' },
  'body-file': { type: 'string', short: 'D' },
  'content-type': { type: 'string', short: 'T' },
  auth: { type: 'string', short: 'a' },
  'disable-keepalive': { type: 'boolean' },
  scenario: { type: 'string' },
  'expect-status': { type: 'string' },
  model: { type: 'string' },
  prompts: { type: 'string' },
  'input-tokens': { type: 'string' },
  'max-tokens': { type: 'string' },
  'api-key': { type: 'string' },
  ttft: { type: 'string' },
  goodput: { type: 'string', multiple: true },
  'extra-body': { type: 'string' },
  slo: { type: 'string', multiple: true },
  csv: { type: 'string' },
  html: { type: 'string' },
} as const

export const usage = `Usage: tsx scripts/load-test.ts [flags] URL                  http mode (hey's flags)
       tsx scripts/load-test.ts --mode llm [flags] URL       streaming chat completions
       tsx scripts/load-test.ts --scenario FILE [flags] [URL] weighted requests from YAML
       tsx scripts/load-test.ts --profile default [flags]    both modes against the deployment in .env
                                                             (what \`make load-test\` runs)

Load
  -n, --requests N      requests to measure (default: http 200, llm 32); with -z, -z ends the run
  -c, --concurrency N   connections (default: http 50, llm 4); with --rate, the cap in flight
  -z, --duration D      measure for D (10s, 1m30s, 500ms) instead of a request count
  -q, --qps N           closed loop: at most N requests/s per connection (hey's -q)
      --rate N          open loop: N arrivals/s over all connections; latency counts from each
                        request's intended send time, so stalls are not hidden
      --arrival A       constant (http default) or poisson (llm default) arrivals for --rate
      --warmup D        send load for D first, unrecorded
  -t, --timeout S       seconds a request may take (default: http 20, llm 300; 0: none)
      --workers N       http mode: N worker threads (default 1; one Node thread tops out at one core)
  -k, --insecure        accept self-signed certificates (the e2e stack's NGINX uses one)
      --seed N          seed of Poisson arrivals and generated prompts (default 1)

Target
  URL                   http(s)://host[:port]/path; or --base-url URL with --path PATH
      --mode M          http (default) or llm; with --profile: run only that phase
      --profile default GET /health through the deployment's URL (PUBLIC_URL, else https://DOMAIN
                        from .env), then streaming chats to Open WebUI's /api/chat/completions
                        (needs an Open WebUI API key: --api-key or LOADTEST_API_KEY; without one
                        the llm phase is skipped). LightLLM's own endpoint is /v1/chat/completions
                        (no key): --mode llm --base-url http://HOST:8000 --path /v1/chat/completions
      --path P          http phase path (default /health); with --mode llm the llm path
      --llm-path P      llm phase path in a profile (default /api/chat/completions)
      --env-file F      .env to read (default ./.env)

HTTP mode
  -m, --method M        method (default GET)
  -H, --header 'K: V'   request header (repeatable)
  -d, --body TEXT       request body;  -D, --body-file FILE: body from a file
  -T, --content-type T  Content-Type of the body
  -a, --auth USER:PASS  basic authentication
      --disable-keepalive  a new connection for every request
      --scenario FILE   YAML: base_url, headers, requests: [{name, method, path, weight,
                        headers, body | json, expect}] sent in proportion to their weights
      --expect-status L statuses that count as success (200,204 or 200-399; default 2xx)

LLM mode (OpenAI-compatible, stream: true, stream_options.include_usage: true)
      --model NAME      model id (default: the first of GET .../models)
      --prompts FILE    .txt (one a line), .jsonl or .json ({"prompt"} or {"messages"})
      --input-tokens N  generated prompts of about N tokens (default 256)
      --max-tokens N    max_tokens of each request (default 128)
      --api-key KEY     Bearer token (default: LOADTEST_API_KEY)
      --ttft W          content (default: first chunk with content) or first-chunk (vLLM's)
      --goodput EXPR    per-request bound for goodput: ttft<500ms, tpot<50ms, e2e<10s (repeat);
                        default: the ttft/tpot/e2e bounds of the --slo gates
      --extra-body JSON merged into every request body, e.g. '{"temperature":0}'

Output (the summary goes to stdout, logs and the progress line to stderr)
      --slo EXPR        a gate (repeatable); any failing gate: exit 1
      --csv FILE        one row a request;  --html FILE: a self-contained report with plots
      --json            the summary as one JSON document (schema owp.load-test/v1, docs/load-test.md)

${SLO_HELP}

${LLM_DEFINITIONS}

Exit codes: 0 every gate passed, 1 a gate failed or no request succeeded, 2 bad flags or input.`
