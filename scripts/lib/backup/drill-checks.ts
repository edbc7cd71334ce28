// The drill's content checks: what the scratch deployment holds after the restore, against what
// the platform manifest says the set holds (row counts per table, keys, points per collection,
// nodes, files and bytes). Each check runs through the scratch target only.
import { join } from 'node:path'
import type { Ctx } from '../core/context.ts'
import { COUNT_SQL, compareCounts, dbArg, parseCounts } from './stores/postgres.ts'
import { keyspaceKeys, redisCli } from './stores/redis.ts'
import { archive, type Exclusion } from './stores/files.ts'
import type { PlatformPart } from './platform.ts'
import type { DriverRun, FileStoreName } from './types.ts'

export interface ContentCheck { store: string; what: string; ok: boolean; detail: string }

export async function checkContent(ctx: Ctx, run: DriverRun, part: PlatformPart): Promise<ContentCheck[]> {
  const c = part.content as Record<string, any>
  const out: ContentCheck[] = []
  const add = (what: string, problems: string[], okDetail: string) => out.push({ store: part.store, what, ok: problems.length === 0, detail: problems.length ? problems.join('; ') : okDetail })
  switch (part.store) {
    case 'postgres': {
      const user = run.settings.env.POSTGRES_USER ?? 'postgres'
      for (const [db, tables] of Object.entries((c.tables ?? {}) as Record<string, Record<string, number> | null>)) {
        if (!tables) continue
        const r = await run.target.run(ctx, 'postgres', ['psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', dbArg(db), '-c', COUNT_SQL], { env: { PGUSER: user }, timeout: run.settings.timeoutMs })
        const actual = parseCounts(r.stdout.split('\n'))
        const rows = Object.values(tables).reduce((a, b) => a + b, 0)
        add(`row counts of database ${db}`, compareCounts(tables, actual), `${Object.keys(tables).length} tables, ${rows} rows`)
      }
      break
    }
    case 'redis': {
      const keys = keyspaceKeys(await redisCli(ctx, run, ['INFO', 'keyspace']))
      const want = Number(c.keys ?? c.keyspace ?? 0)
      const min = want - Number(c.expires ?? 0)
      add('key count', keys >= min && keys <= want ? [] : [`${keys} keys, the set has ${want} (${c.expires ?? 0} with an expiry)`], `${keys} keys`)
      break
    }
    case 'qdrant': {
      const base = await run.target.httpUrl(ctx, 'qdrant', 6333, 'QDRANT_URL')
      const key = run.settings.env.QDRANT_API_KEY
      for (const [name, v] of Object.entries((c.collections ?? {}) as Record<string, { points: number | null }>)) {
        const res = await fetch(`${base}/collections/${encodeURIComponent(name)}`, { headers: key ? { 'api-key': key } : {}, signal: ctx.signal })
        const body = res.ok ? await res.json() as { result?: { points_count?: number } } : null
        const points = body?.result?.points_count
        const problems = !res.ok ? [`HTTP ${res.status}`] : v.points !== null && points !== v.points ? [`${points} points, the set has ${v.points}`] : []
        add(`points of collection ${name}`, problems, `${points} points`)
      }
      break
    }
    case 'neo4j': {
      if (c.nodes === undefined) { out.push({ store: 'neo4j', what: 'node count', ok: true, detail: 'not recorded by an offline dump: the restore itself checked the dump' }); break }
      const r = await run.target.run(ctx, 'neo4j', ['cypher-shell', '--format', 'plain', 'MATCH (n) RETURN count(n)'],
        { env: { NEO4J_USERNAME: run.settings.env.NEO4J_USERNAME ?? 'neo4j' }, secretEnv: run.settings.env.NEO4J_PASSWORD ? { NEO4J_PASSWORD: run.settings.env.NEO4J_PASSWORD } : {}, timeout: 120_000 })
      const nodes = Number(r.stdout.trim().split('\n').pop())
      add('node count', nodes === c.nodes ? [] : [`${nodes} nodes, the set has ${c.nodes}`], `${nodes} nodes`)
      break
    }
    case 'files-openwebui':
    case 'files-graphrag': {
      const { stats } = await archive(ctx, part.store as FileStoreName, run, join(run.scratch, `drill-${part.store}.tar`), (c.excluded ?? []) as Exclusion[])
      const problems = stats && (stats.files !== c.files || stats.bytes !== c.bytes) ? [`${stats.files} files (${stats.bytes} bytes), the set has ${c.files} (${c.bytes})`] : []
      add('file count and bytes', problems, `${stats?.files} files, ${stats?.bytes} bytes`)
      break
    }
    case 'config':
      out.push({ store: 'config', what: 'configuration', ok: true, detail: 'escrow only: the drill runs with the operator\'s .env' })
      break
  }
  return out
}
