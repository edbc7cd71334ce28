// The scratch server of a point-in-time restore, read from its log: a refused connection while it
// starts is not a failure (the e2e PITR restore was failed by one), a crash or a target the archive
// cannot reach is.
import { describe, it, expect } from 'vitest'
import { scratchFailure } from '../../scripts/lib/backup/pitr/restore.ts'

const STARTING = `2026-12-02 08:06:06.854 UTC [1] LOG:  starting PostgreSQL 15.20 (Debian 15.20-0+deb12u1) on x86_64-pc-linux-gnu
2026-12-02 08:06:06.854 UTC [1] LOG:  listening on Unix socket "/var/run/postgresql/.s.PGSQL.5432"
2026-12-02 08:06:06.892 UTC [15] LOG:  database system was interrupted; last known up at 2026-12-02 08:05:29 UTC
2026-12-02 08:06:07.000 UTC [16] FATAL:  the database system is starting up`

describe('the scratch server of a point-in-time restore', () => {
  it('refusing our connection while it starts or replays is not a failure', () => {
    expect(scratchFailure(STARTING)).toBeNull()
    expect(scratchFailure(`${STARTING}\n2026-12-02 08:06:08.000 UTC [17] FATAL:  the database system is not yet accepting connections`)).toBeNull()
  })

  it('a target the archive cannot reach yet is named', () => {
    expect(scratchFailure(`${STARTING}\n2026-12-02 08:06:09.000 UTC [15] FATAL:  recovery ended before configured recovery target was reached`))
      .toMatch(/the archive holds no transaction after the target yet/)
  })

  it('a crash or an exited container is a stopped server', () => {
    expect(scratchFailure(`${STARTING}\n2026-12-02 08:06:09.000 UTC [15] PANIC:  could not locate a valid checkpoint record`)).toBe('the scratch server stopped')
    expect(scratchFailure(`${STARTING}\nFATAL: the scratch container exited`)).toBe('the scratch server stopped')
  })
})
