// Shared pieces of the backup suites: wrappers around real tools, content checksums, set listing.
import { execFileSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Postgres } from '../helpers/postgres.ts'

export function which(tool: string): string {
  try {
    return execFileSync('which', [tool]).toString().trim()
  } catch {
    throw new Error(`${tool} is not on PATH: run \`make setup\` (Debian packages postgresql, redis-tools, age)`)
  }
}

/** Put an executable script named `name` into dir and return dir. */
export function wrapper(dir: string, name: string, body: string): string {
  mkdirSync(dir, { recursive: true })
  const file = join(dir, name)
  writeFileSync(file, `#!/usr/bin/env bash\n${body}\n`)
  chmodSync(file, 0o755)
  return dir
}

/** Every user table's content as one md5 each (rows sorted by their text form), plus large objects, sequences, views. */
export function contentChecksums(pg: Postgres, db: string): Record<string, string> {
  const tables = pg.sql(`SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1`, db).split('\n').filter(Boolean)
  const parts = tables.map((t) => `SELECT ${literal(t)} || E'\\t' || count(*) || ':' || md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) FROM ${t} x`)
  parts.push("SELECT '<large objects>' || E'\\t' || count(*) || ':' || md5(coalesce(string_agg(encode(lo_get(oid), 'hex'), ',' ORDER BY oid), '')) FROM pg_largeobject_metadata")
  parts.push("SELECT '<sequences>' || E'\\t' || coalesce(string_agg(schemaname || '.' || sequencename || '=' || coalesce(last_value, 0), ',' ORDER BY schemaname, sequencename), '') FROM pg_sequences")
  parts.push("SELECT '<views>' || E'\\t' || coalesce(string_agg(schemaname || '.' || viewname, ',' ORDER BY schemaname, viewname), '') FROM pg_views WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
  const out: Record<string, string> = {}
  for (const line of pg.sql(parts.join('\nUNION ALL\n'), db).split('\n')) {
    const tab = line.indexOf('\t')
    out[line.slice(0, tab)] = line.slice(tab + 1)
  }
  return out
}

const literal = (s: string) => `'${s.replace(/'/g, "''")}'`

export interface ListedSet { id: string; dir: string; files: string[]; complete: boolean }

export function listSets(dest: string, store: string): ListedSet[] {
  const root = join(dest, store)
  if (!existsSync(root)) return []
  return readdirSync(root).filter((d) => /^\d{4}-/.test(d)).sort().map((id) => {
    const dir = join(root, id)
    const files = readdirSync(dir).sort()
    return { id, dir, files, complete: files.includes('manifest.json') }
  })
}

export function readManifestJson(dir: string): Record<string, any> {
  return JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'))
}

export async function waitFor(what: string, test: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

export function killPidFile(file: string): void {
  if (!existsSync(file)) return
  for (const pid of readFileSync(file, 'utf8').split(/\s+/).filter(Boolean)) {
    try { process.kill(-Number(pid), 'SIGKILL') } catch { try { process.kill(Number(pid), 'SIGKILL') } catch { /* gone */ } }
  }
}
