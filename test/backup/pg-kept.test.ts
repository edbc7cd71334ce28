// What restores replaced and kept, as a backup reads it from the server's facts (postgres.ts): the
// names, their bytes and when the oldest was replaced, for backup_restore_kept_* and its alert.
import { describe, expect, it } from 'vitest'
import { keptFromFacts } from '../../scripts/lib/backup/stores/postgres.ts'

describe('keptFromFacts', () => {
  it('sums the copies and takes the oldest time of their comments; the database in a comment may hold ":" and "|"', () => {
    const kept = keptFromFacts(['version|15.14', 'kept|1000|app_owp_old_0123456789|owp-replaced:app:2026-12-01T09-00-00Z:2026-12-01T10-00-00Z',
      'db|app|UTF8|C|C', 'kept|24|a_b_owp_old_9876543210|owp-replaced:a:|b:2026-11-30T00-00-00Z:2026-11-30T23-59-59Z'])
    expect(kept).toEqual({ names: ['app_owp_old_0123456789', 'a_b_owp_old_9876543210'], bytes: 1024, since: new Date('2026-11-30T23:59:59Z') })
  })
  it('none: 0 bytes and no time; a comment without a time counts its bytes, never a time', () => {
    expect(keptFromFacts(['db|app|UTF8|C|C'])).toEqual({ names: [], bytes: 0, since: null })
    expect(keptFromFacts(['kept|5|x_owp_old_1|owp-replaced:x:set:not-a-time'])).toEqual({ names: ['x_owp_old_1'], bytes: 5, since: null })
  })
})
