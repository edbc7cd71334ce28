// Which timeline a recovery follows, from the kit's records of its earlier recoveries and the
// newest timeline in the archive (pitr/timelines.ts; the real thing in pitr.test.ts).
import { describe, expect, it } from 'vitest'
import { newestTimeline, timelineAt, type TimelineRecord } from '../../scripts/lib/backup/pitr/timelines.ts'

const records: TimelineRecord[] = [
  { timeline: 3, parent: 1, from: '2026-12-03T12:00:00Z' },
  { timeline: 2, parent: 1, from: '2026-12-03T10:00:00Z' },
]
const at = (t: string, newest = 3) => timelineAt(records, new Date(t), newest)

describe('timelineAt', () => {
  it('follows the timeline production ran on at the target', () => {
    expect(at('2026-12-03T09:00:00Z')).toEqual({ timeline: 1, unrecorded: false })
    expect(at('2026-12-03T11:00:00Z')).toEqual({ timeline: 2, unrecorded: false })
    expect(at('2026-12-03T13:00:00Z')).toEqual({ timeline: 3, unrecorded: false })
  })

  it('without records follows the newest (PostgreSQL\'s default)', () => {
    expect(timelineAt([], new Date('2026-12-03T11:00:00Z'), 4)).toEqual({ timeline: null, unrecorded: false })
  })

  it('a newer timeline than any record (a recovery killed before it recorded itself): after the last record it follows the newest, before it the records still hold', () => {
    expect(at('2026-12-03T13:00:00Z', 4)).toEqual({ timeline: null, unrecorded: true })
    expect(at('2026-12-03T11:00:00Z', 4)).toEqual({ timeline: 2, unrecorded: true })
  })

  it('reads the newest timeline from the archive\'s newest segment', () => {
    expect(newestTimeline('0000000A0000000000000003')).toBe(10)
    expect(newestTimeline(undefined)).toBe(0)
  })
})
