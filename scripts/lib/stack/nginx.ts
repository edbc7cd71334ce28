// The NGINX edge's templates: render them exactly as the nginx image's entrypoint does, and test them.
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { ROOT } from '../core/paths.ts'
import { KitError } from '../core/errors.ts'
import type { Ctx } from '../core/context.ts'
import { failureReason } from '../core/exec.ts'

export const NGINX_TEMPLATE_DIR = join(ROOT, 'compose', 'nginx', 'templates')
export const TEMPLATE_SUFFIX = '.template'
/** The nginx service sets NGINX_ENVSUBST_FILTER to this: only these variables are substituted. */
export const NGINX_VAR_FILTER = /^NGINX_/

/** Template files under dir, relative paths, sorted. */
export function templateFiles(dir = NGINX_TEMPLATE_DIR): string[] {
  const out: string[] = []
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e)
      if (statSync(p).isDirectory()) walk(p)
      else if (e.endsWith(TEMPLATE_SUFFIX)) out.push(relative(dir, p))
    }
  }
  walk(dir)
  return out.sort()
}

/** The ${NGINX_*} variables the templates use. */
export function templateVariables(dir = NGINX_TEMPLATE_DIR): Set<string> {
  const names = new Set<string>()
  for (const f of templateFiles(dir)) {
    for (const m of readFileSync(join(dir, f), 'utf8').matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g)) {
      if (NGINX_VAR_FILTER.test(m[1]!)) names.add(m[1]!)
    }
  }
  return names
}

/**
 * Render the template tree into outputDir the way 20-envsubst-on-templates.sh does: GNU envsubst
 * with the list of defined variables that pass the filter, one output file per template, the
 * sub-directory structure kept. Returns the rendered main configuration's path (nginx.conf).
 */
export async function renderNginxTemplates(ctx: Ctx, o: { outputDir: string; vars: Record<string, string>; templateDir?: string }): Promise<string> {
  const templateDir = o.templateDir ?? NGINX_TEMPLATE_DIR
  const defined = Object.keys(o.vars).filter((n) => NGINX_VAR_FILTER.test(n))
  const shellFormat = defined.map((n) => `\${${n}}`).join(' ')
  for (const rel of templateFiles(templateDir)) {
    const out = join(o.outputDir, rel.slice(0, -TEMPLATE_SUFFIX.length))
    mkdirSync(dirname(out), { recursive: true })
    const r = await ctx.exec(['envsubst', shellFormat], {
      input: readFileSync(join(templateDir, rel)),
      env: { ...o.vars },
      title: `envsubst ${rel}`,
    })
    writeFileSync(out, r.stdout)
  }
  const main = join(o.outputDir, 'nginx.conf')
  const left = unrenderedVariables(o.outputDir)
  if (left.length) throw new KitError(`nginx templates left unrendered: ${left.join(', ')}`, 1, 'define these NGINX_* variables')
  return main
}

/** ${NGINX_*} placeholders still present in a rendered tree (a variable nobody defined). */
export function unrenderedVariables(renderedDir: string): string[] {
  const left = new Set<string>()
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e)
      if (statSync(p).isDirectory()) walk(p)
      else for (const m of readFileSync(p, 'utf8').matchAll(/\$\{(NGINX_[A-Z0-9_]*)\}/g)) left.add(m[1]!)
    }
  }
  walk(renderedDir)
  return [...left].sort()
}

/** `nginx -t` on a rendered main configuration: ok, plus nginx's own words. */
export async function nginxConfigTest(ctx: Ctx, mainConf: string): Promise<{ ok: boolean; output: string }> {
  const r = await ctx.exec(['nginx', '-t', '-q', '-e', 'stderr', '-c', mainConf], { allowFailure: true, timeout: 20_000 })
  const output = `${r.stdout}${r.stderr}`.trim()
  return r.exitCode === 0 ? { ok: true, output } : { ok: false, output: failureReason(ctx, { exitCode: r.exitCode, stdout: output, stderr: '' }, Infinity, '\n') }
}

/** The main configuration inside the nginx container (the compose service's `-c`). */
export const NGINX_MAIN_CONF = '/etc/nginx/conf.d/nginx.conf'

/** The applications NGINX reaches through a variable (http.d/upstreams.conf): compose service -> variable, port. */
export const NGINX_BACKENDS: Record<string, { variable: string; port: number }> = {
  openwebui: { variable: 'openwebui_backend', port: 8080 },
  'graphrag-processor': { variable: 'graphrag_backend', port: 8010 },
  'mcp-server': { variable: 'mcp_backend', port: 8020 },
}

/**
 * The deploy kit's switch file (NGINX_BACKENDS_DIR/switch.conf): one `set` line per service that
 * must reach named containers; services left out keep their service name. Host names only: a
 * container name is a DNS name on its compose networks.
 */
export function backendSwitchConf(hosts: Record<string, string>, why = 'written by the deploy kit'): string {
  const lines = Object.entries(hosts).map(([svc, host]) => {
    const b = NGINX_BACKENDS[svc]
    if (!b) throw new KitError(`nginx switch: ${svc} is not routed by a backend variable`)
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(host)) throw new KitError(`nginx switch: "${host}" is not a container name`)
    return `set $${b.variable} ${host}:${b.port};`
  })
  return `# ${why}\n${lines.join('\n')}${lines.length ? '\n' : ''}`
}

export interface NginxWorker { pid: number; shuttingDown: boolean }

/**
 * Shell run inside the nginx container: one `pid title` line a process (busybox and Debian alike).
 * A process can end between the glob and the read (a healthcheck's wget, an old worker of a reload):
 * its cmdline no longer opens, the shell's redirection fails (dash: exit 2, said on stderr even with
 * the `2>/dev/null` after it), and as the loop's last entry that failed the whole listing, and with
 * it a blue-green deploy's pin. Such a process is skipped, and the listing exits 0.
 */
export function nginxPsScript(proc = '/proc'): string {
  return `for p in ${proc}/[0-9]*; do { t=$(tr "\\000" " " < "$p/cmdline"); } 2>/dev/null && echo "\${p##*/} $t"; done; exit 0`
}
export const NGINX_PS_SCRIPT = nginxPsScript()

/** The worker processes in NGINX_PS_SCRIPT's output: old workers of a reload show "is shutting down". */
export function parseNginxWorkers(out: string): NginxWorker[] {
  return out.split('\n').map((l) => /^(\d+) nginx: worker process( is shutting down)?/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null).map((m) => ({ pid: Number(m[1]), shuttingDown: Boolean(m[2]) }))
}
