// What restores replaced and kept, as a backup reads it from the server's facts (postgres.ts): the
// names, their bytes and when the oldest was replaced, for backup_restore_kept_* and its alert.
import { describe, expect, it } from 'vitest'
import { keptFromFacts } from '../../scripts/lib/backup/stores/postgres.ts'

describe('keptFromFacts', () => {
  it('sums the copies and takes the oldest time of their comments; a name may hold a bar', () => {
    const kept = keptFromFacts(['version|15.14', 'kept|1000|2026-12-01T10-00-00Z|app_owp_old_0123456789',
      'db|app|UTF8|C|C', 'kept|24|2026-11-30T23-59-59Z|a|b_owp_old_9876543210'])
    expect(kept).toEqual({ names: ['app_owp_old_0123456789', 'a|b_owp_old_9876543210'], bytes: 1024, since: new Date('2026-11-30T23:59:59Z') })
  })
  it('none: 0 bytes and no time; a comment without a time counts its bytes, never a time', () => {
    expect(keptFromFacts(['db|app|UTF8|C|C'])).toEqual({ names: [], bytes: 0, since: null })
    expect(keptFromFacts(['kept|5|not-a-time|x_owp_old_1'])).toEqual({ names: ['x_owp_old_1'], bytes: 5, since: null })
  })
})
