// The proof of a restored PostgreSQL copy from the server's statistics (INSERTED_SQL's lines): the
// rows inserted into each table, and the large objects' count; and what reads them.
import { describe, expect, it } from 'vitest'
import { INSERTED_SQL, insertedCounts, parseCounts, waitForSessionsSql } from '../../scripts/lib/backup/stores/pg-common.ts'

describe('insertedCounts', () => {
  it('gives every table its inserted rows (quoted names, a bar in a name) and the large objects their count', () => {
    const lines = ['count pg_largeobject_metadata|1', 'inserted "Ünïcode Schema"."Tåble ✓"|3', 'inserted public."a|b"|0', 'inserted public.events|100000']
    expect(insertedCounts(lines)).toEqual({ pg_largeobject_metadata: 1, '"Ünïcode Schema"."Tåble ✓"': 3, 'public."a|b"': 0, 'public.events': 100000 })
  })
  it('is not a count of the rows: parseCounts alone reads none of its tables', () => {
    expect(parseCounts(['inserted public.events|5'])).toEqual({})
  })
})

describe('the statistics read', () => {
  it('reads no table (the catalogue and the statistics only)', () => {
    expect(INSERTED_SQL).toContain('pg_stat_get_tuples_inserted(c.oid)')
    expect(INSERTED_SQL).not.toMatch(/count\(\*\) AS c|query_to_xml/)
  })
  it('waits for the sessions of one load by their name, quoted', () => {
    expect(waitForSessionsSql("owp-load-x'y")).toContain("application_name = 'owp-load-x''y'")
  })
})
