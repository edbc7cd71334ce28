// values.yaml is documented value by value, README.md's table is generated from it and stays in sync,
// and values.schema.json is strict (no object accepts unknown keys unless it is a free-form map).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CHART_DIR } from '../../scripts/lib/core/paths.ts'
import { parse } from 'yaml'
import { README, VALUES, readmeWithTable, valuesDoc } from '../helpers/k8s-values-doc.ts'

const values = readFileSync(VALUES, 'utf8')

describe('values documentation', () => {
  it('documents every value (a "# --" comment on the key or on a parent)', () => {
    const doc = valuesDoc(values)
    expect(doc.undocumented).toEqual([])
    expect(doc.rows.length).toBeGreaterThan(200)
  })

  it('README.md carries exactly the table generated from values.yaml (npx tsx test/helpers/k8s-values-doc.ts --write)', () => {
    const readme = readFileSync(README, 'utf8')
    expect(readme).toBe(readmeWithTable(readme, values))
  })

  it('catches an undocumented value and a README that drifted', () => {
    const broken = values.replace('  # -- Replicas when autoscaling is off; more than 1 needs PostgreSQL, Redis, Qdrant and shared storage\n', '')
    expect(valuesDoc(broken).undocumented).toEqual(['openwebui.replicas'])
    const readme = readFileSync(README, 'utf8')
    const changed = values.replace('  tp: 1\n', '  tp: 2\n')
    expect(readmeWithTable(readme, changed)).not.toBe(readme)
  })
})

describe('values.schema.json', () => {
  const schema = JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8'))
  const FREE_FORM = ['behavior', 'affinity']

  it('closes every object it describes: a typo anywhere fails', () => {
    const open: string[] = []
    const walk = (s: any, path: string) => {
      if (!s || typeof s !== 'object') return
      if (s.properties && s.additionalProperties === undefined) open.push(path)
      for (const [k, v] of Object.entries(s.properties ?? {})) if (!FREE_FORM.includes(k)) walk(v, `${path}.${k}`)
      for (const [k, v] of Object.entries(s.definitions ?? {})) walk(v, `#/definitions/${k}`)
      for (const k of ['items', 'additionalProperties']) if (typeof s[k] === 'object') walk(s[k], `${path}[${k}]`)
      for (const k of ['allOf', 'anyOf', 'oneOf']) (s[k] ?? []).forEach((x: any, i: number) => walk(x, `${path}.${k}[${i}]`))
    }
    walk(schema, '')
    // EnvVar items are Kubernetes' own type; the allOf entry only forbids nvidia.com/gpu
    expect(open.sort()).toEqual(['#/definitions/envList[items]', '.lightllm.resources.allOf[1]'])
    expect(schema.additionalProperties).toBe(false)
  })

  it('pins every image: tag never latest, digest a sha256', () => {
    expect(schema.definitions.image.properties.tag.not).toEqual({ const: 'latest' })
    expect(schema.definitions.image.properties.digest.pattern).toBe('^(sha256:[a-f0-9]{64})?$')
  })
})

describe('the official chart -> our keys table', () => {
  const section = (file: string) => {
    const text = readFileSync(file, 'utf8')
    const start = text.indexOf('## Coming from the official chart')
    const end = text.indexOf('\n## ', start + 1)
    return start < 0 ? '' : text.slice(start, end < 0 ? undefined : end).trimEnd()
  }
  const docs = section(join(CHART_DIR, '..', '..', 'docs', 'chart.md'))
  const rows = docs.split('\n').filter((l) => l.startsWith('| `')).map((l) => l.slice(1, -1).split(' | ').map((c) => c.trim()))
  const official = readFileSync(join(import.meta.dirname, '..', 'fixtures', 'chart', 'official-chart-keys.txt'), 'utf8')
    .split('\n').filter((l) => l && !l.startsWith('#'))

  /** Whether a dotted path (NAME.* for a sub-tree) is a key of values.yaml. */
  const ours = (path: string, tree: unknown = parse(values)): boolean => {
    let node = tree as Record<string, unknown>
    for (const k of path.split('.')) {
      if (k === '*') return true
      if (typeof node !== 'object' || node === null || !(k in node)) return false
      node = node[k] as Record<string, unknown>
    }
    return true
  }

  it('is the same in docs/chart.md and the chart README', () => {
    expect(rows.length).toBeGreaterThan(100)
    expect(section(README)).toBe(docs)
  })

  it('has a row for every key of the official chart, and no row for a key it does not have', () => {
    const named = rows.map((r) => r[0].replace(/`/g, ''))
    expect(official.filter((k) => !named.includes(k))).toEqual([])
    expect(named.filter((k) => !official.includes(k))).toEqual([])
  })

  it('names only keys of ours that exist, and says why for every key it does not support', () => {
    const missing = rows.flatMap((r) => [...r[1].matchAll(/`([^`]+)`/g)].map((m) => m[1]).filter((k) => !ours(k)))
    expect(missing).toEqual([])
    expect(rows.filter((r) => r[1] === '—' && !r[2])).toEqual([])
    // the check can fail
    expect(ours('openwebui.storage.s3.accessKeyIdKey')).toBe(true)
    expect(ours('openwebui.storage.s3.accessKey')).toBe(false)
  })
})
