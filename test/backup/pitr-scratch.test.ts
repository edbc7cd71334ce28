// The scratch server of a point-in-time restore, read from its log: a refused connection while it
// starts is not a failure (the e2e PITR restore was failed by one), a crash or a target the archive
// cannot reach is.
import { describe, it, expect } from 'vitest'
import { scratchFailure } from '../../scripts/lib/backup/pitr/restore.ts'
import { parseControlData, parseLiveSettings, standbyOptions } from '../../scripts/lib/backup/pitr/standby.ts'

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

describe('the settings a scratch server needs to replay the primary\'s WAL', () => {
  const control = `pg_control version number:            1300
max_connections setting:              200
max_worker_processes setting:         8
max_wal_senders setting:              10
max_prepared_xacts setting:           0
max_locks_per_xact setting:           64
track_commit_timestamp setting:       off`
  it('reads them from pg_controldata of the copy', () => {
    expect(parseControlData(control)).toEqual({ max_connections: 200, max_worker_processes: 8, max_wal_senders: 10, max_prepared_transactions: 0, max_locks_per_transaction: 64 })
  })
  it('takes the higher value of the copy and the running server (a setting raised after the backup)', () => {
    const live = parseLiveSettings('max_connections=150\nmax_locks_per_transaction=128\nshared_buffers=16384\n')
    expect(live).toEqual({ max_connections: 150, max_locks_per_transaction: 128 })
    expect(standbyOptions(parseControlData(control), live)).toEqual(['-c', 'max_connections=200', '-c', 'max_worker_processes=8', '-c', 'max_wal_senders=10',
      '-c', 'max_prepared_transactions=0', '-c', 'max_locks_per_transaction=128'])
  })
  it('with neither source, no option: the server\'s own defaults', () => {
    expect(standbyOptions(parseControlData('garbage'), parseLiveSettings(''))).toEqual([])
  })
})
