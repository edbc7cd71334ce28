// restore.ts --to on the compose stack, as --dry-run prints it: a fake docker that answers like the
// real one (pgBackRest's info from inside the postgres container), the plan asserted step by step.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fakeBins, on, ok, fails, type FakeBins } from '../helpers/fake-bins.ts'
import { runScript } from '../helpers/run-script.ts'
import { tmpDir } from '../helpers/tmp.ts'

const t = (iso: string) => Date.parse(iso) / 1000
const INFO = JSON.stringify([{ name: 'owp', status: { code: 0, message: 'ok' }, archive: [{ min: '000000010000000000000001', max: '00000001000000000000002A' }], backup: [
  { label: '20261130-020500F', type: 'full', timestamp: { start: t('2026-11-30T02:05:00Z'), stop: t('2026-11-30T02:06:10Z') }, info: { size: 52428800, repository: { size: 9437184, delta: 9437184 } }, archive: { start: '000000010000000000000003', stop: '000000010000000000000003' } },
] }])
const tmp = tmpDir('owp-pitr-compose-')
const envFile = join(tmp.path, '.env')
let bins: FakeBins

beforeAll(() => {
  writeFileSync(envFile, 'POSTGRES_USER=openwebui\nPOSTGRES_PASSWORD=pg-secret-value\n')
  bins = fakeBins({
    docker: [
      on('exec -T postgres cat /etc/pgbackrest/pgbackrest.conf', fails(1, 'cat: /etc/pgbackrest/pgbackrest.conf: No such file or directory')),
      on('exec -T postgres pgbackrest --stanza=owp --output=json info', ok(INFO)),
      on('^ps -a -q --filter volume=', ok('')),
      on('^volume inspect', fails(1, 'Error response from daemon: get owp_postgres_data_b: no such volume')),
      // a repository directory the server's user cannot write (a bind mount docker made as root)
      on('exec -T postgres test -w /var/lib/pgbackrest', fails(1, '')),
    ],
  })
})
afterAll(() => { bins.remove(); tmp.remove() })

describe('restore --to on compose (--dry-run)', () => {
  it('plans the copy in the other data volume, the scratch replay, then the switch through POSTGRES_DATA_VOLUME', async () => {
    const r = await runScript('scripts/restore.ts', ['--store', 'postgres', '--target', 'compose', '--to', '2026-12-01T10:15:00Z', '--env-file', envFile,
      '--dest', join(tmp.path, 'dest'), '--dry-run'], { env: bins.env })
    expect(r.code, r.stderr).toBe(0)
    const plan = r.stdout.split('\n').filter((l) => l.startsWith('[dry-run]')).map((l) => l.replace(/ -f \S+ --env-file \S+/, ''))
    expect(plan).toEqual([
      // the service drops every capability: root chowns in a one-off container with CHOWN and FOWNER back
      "[dry-run] docker compose -p owp run --rm --no-deps -T -u 0 --cap-add CHOWN --cap-add FOWNER --entrypoint sh postgres -c 'chown postgres:postgres /var/lib/pgbackrest && chmod 0750 /var/lib/pgbackrest'",
      `[dry-run] docker compose -p owp exec -T postgres sh -c 'umask 077 && cat > "$1.tmp" && mv "$1.tmp" "$1"' sh /etc/pgbackrest/pgbackrest.conf`,
      expect.stringMatching(/^\[dry-run\] docker volume create --label com.docker.compose.project=owp --label com.docker.compose.volume=postgres_data_b --label owp.pitr.id=\S+ owp_postgres_data_b$/),
      "[dry-run] docker compose -p owp run --rm --no-deps -T -v owp_postgres_data_b:/var/lib/postgresql/pitr -u 0 --cap-add CHOWN --cap-add FOWNER --entrypoint sh postgres -c 'chown postgres:postgres /var/lib/postgresql/pitr && chmod 0700 /var/lib/postgresql/pitr'",
      "[dry-run] docker compose -p owp run --rm --no-deps -T -v owp_postgres_data_b:/var/lib/postgresql/pitr --entrypoint pgbackrest postgres --stanza=owp --pg1-path=/var/lib/postgresql/pitr --set=20261130-020500F --type=time '--target=2026-12-01 10:15:00.000+00' --target-action=pause '--recovery-option=restore_command=pgbackrest --stanza=owp archive-get %f \"%p\"' restore",
      '[dry-run] docker compose -p owp stop postgres',
      `[dry-run] set POSTGRES_DATA_VOLUME=postgres_data_b in ${envFile}`,
      '[dry-run] docker compose -p owp up -d --no-deps --wait postgres',
    ])
    // nothing changed for real: the .env is as it was, no secret in the plan
    expect(readFileSync(envFile, 'utf8')).not.toContain('POSTGRES_DATA_VOLUME')
    expect(r.stdout + r.stderr).not.toContain('pg-secret-value')
  })
})
