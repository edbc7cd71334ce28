// The proof of a restored PostgreSQL copy from psql's output (pgRestoreScriptArgv): each echoed COPY
// statement and the tag the server answered it with. Anything that is not one clear tag a table
// leaves the table unproven (null), and the restore counts its rows instead.
import { describe, expect, it } from 'vitest'
import { copyCounts, countsFromCopies, splitLoad } from '../../scripts/lib/backup/stores/pg-common.ts'

const output = [
  'SET statement_timeout = 0;', 'SET',
  "SELECT pg_catalog.set_config('search_path', '', false);", '',
  'CREATE TABLE public.users (', '    id integer NOT NULL', ');', 'CREATE TABLE',
  // a function whose body reads like a load: its lines are echoed, never answered by a tag of their own
  'CREATE FUNCTION public.f() RETURNS void', '    LANGUAGE sql', '    AS $$', 'COPY public.users (id) FROM stdin;', 'COPY 7', '$$;', 'CREATE FUNCTION',
  'COPY public.users (id, name) FROM stdin;', 'COPY 4',
  'COPY "Ünïcode Schema"."Tåble ✓" (k, v) FROM stdin;', 'COPY 3',
  'COPY public.nocols  FROM stdin;', 'COPY 2',
  'COPY public."a.b (c)" (x) FROM stdin;', 'COPY 0',
  'COPY public.events (id, at, kind, payload) FROM stdin;', 'ERROR:  something',
  'ALTER TABLE ONLY public.users', '    ADD CONSTRAINT users_pkey PRIMARY KEY (id);', 'ALTER TABLE',
].join('\n')

describe('copyCounts', () => {
  it('reads each table\'s tag, with quoted names and without a column list; a table seen twice is not proven; a COPY without its tag is not counted', () => {
    expect(Object.fromEntries(copyCounts(output))).toEqual({
      'public.users': null, // the function body's look-alike and the real load
      '"Ünïcode Schema"."Tåble ✓"': 3,
      'public.nocols': 2,
      'public."a.b (c)"': 0,
    })
  })
})

describe('countsFromCopies', () => {
  const catalogue = ['count pg_largeobject_metadata|1', 'table "Ünïcode Schema"."Tåble ✓"', 'table public.nocols']
  it('gives every catalogued table its tag, and the large objects their count', () => {
    expect(countsFromCopies(copyCounts(output), catalogue)).toEqual({ 'pg_largeobject_metadata': 1, '"Ünïcode Schema"."Tåble ✓"': 3, 'public.nocols': 2 })
  })
  it('proves nothing when a table has no tag or an unclear one', () => {
    expect(countsFromCopies(copyCounts(output), [...catalogue, 'table public.users'])).toBeNull()
    expect(countsFromCopies(copyCounts(output), [...catalogue, 'table public.events'])).toBeNull()
  })
})

describe('splitLoad', () => {
  const marker = 'owp-catalogue-0123456789abcdef'
  it('takes the catalogue from after the last marker line: a look-alike in an echoed function body stays in the load', () => {
    const loaded = [output, 'CREATE FUNCTION public.g() RETURNS text', '    LANGUAGE sql', '    AS $$', marker, 'table public.fake', '$$;', 'CREATE FUNCTION',
      marker, 'count pg_largeobject_metadata|1', 'table public.nocols', ''].join('\n')
    const { load, catalogue } = splitLoad(loaded, marker)
    expect(catalogue).toEqual(['count pg_largeobject_metadata|1', 'table public.nocols'])
    expect(load).toContain('table public.fake')
    expect(copyCounts(load)).toEqual(copyCounts(output))
  })
  it('finds the marker on the first line (an archive that echoed nothing)', () => {
    expect(splitLoad(`${marker}\ncount pg_largeobject_metadata|0\n`, marker)).toEqual({ load: '', catalogue: ['count pg_largeobject_metadata|0'] })
  })
  it('has no catalogue when the load stopped before it (no marker)', () => {
    expect(splitLoad(output, marker)).toEqual({ load: output, catalogue: null })
  })
})
