// Point-in-time recovery of the compose stack's PostgreSQL (the kit's postgres image carries
// pgBackRest). Its configuration lives in the pgbackrest_config volume (/etc/pgbackrest); with a
// local destination the repository is the pgbackrest_repo volume (/var/lib/pgbackrest), with S3 the
// destination's bucket. The data lives in one of two
// declared volumes, postgres_data or postgres_data_b (POSTGRES_DATA_VOLUME in the .env picks it).
// A restore goes into the OTHER one (emptied first: it holds the copy an earlier recovery kept),
// is replayed and checked on a scratch container, and the switch points the service at it; the
// volume that ran before stays as it was.
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { ConfigError, KitError } from '../../core/errors.ts'
import { privateTmp } from '../staging.ts'
import { STANZA, restoreCommand, type PgSite } from './config.ts'
import { readEnvValue, writeEnvValue } from './envfile.ts'
import { composeFileArgs } from '../../tools/compose.ts'
import type { Beside, PitrSite, ScratchServer, Switched } from './site.ts'
import { LIVE_SETTINGS_SQL, readStandbyOptions } from './standby.ts'

export interface ComposeSiteSettings {
  env: Record<string, string>
  project: string
  composeFile: string
  /** The site's override files after composeFile (.env COMPOSE_EXTRA_FILES). */
  extraFiles?: string[]
  envFile: string | null
}

export const SERVICE = 'postgres'
export const DATA_VOLUME_VAR = 'POSTGRES_DATA_VOLUME'
export const DATA_SLOTS = ['postgres_data', 'postgres_data_b'] as const
const CONFIG = '/etc/pgbackrest/pgbackrest.conf'
const REPO = '/var/lib/pgbackrest'
const RESTORE_AT = '/var/lib/postgresql/pitr'
/** The service drops every capability (cap_drop: ALL): root may chown only with these back. */
const OWNER_CAPS = ['--cap-add', 'CHOWN', '--cap-add', 'FOWNER']

export function composeSite(s: ComposeSiteSettings): PitrSite {
  const base = ['docker', 'compose', '-p', s.project, ...composeFileArgs(s.composeFile, s.extraFiles, '-f'), ...(s.envFile ? ['--env-file', s.envFile] : [])]
  const pg: PgSite = { path: '/var/lib/postgresql/data', socket: '/var/run/postgresql', port: 5432, user: s.env.POSTGRES_USER ?? 'openwebui' }
  const exec = (...argv: string[]) => [...base, 'exec', '-T', SERVICE, ...argv]
  const run = (vol: string, ...argv: string[]) => [...base, 'run', '--rm', '--no-deps', '-T', '-v', `${vol}:${RESTORE_AT}`, ...argv]
  const psql = (q: string, db: string) => ['psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-h', pg.socket, '-U', pg.user, '-d', db, '-c', q]
  const requireEnvFile = () => {
    if (!s.envFile) throw new ConfigError([`the switch writes ${DATA_VOLUME_VAR} into the deployment's .env, and there is none (pass --env-file)`], 'point-in-time recovery (compose)')
    return s.envFile
  }

  const site: PitrSite = {
    kind: 'compose',
    where: `compose service ${SERVICE} (project ${s.project})`,
    pg,
    localRepoPath: () => REPO,
    pgbackrest(ctx, args, o = {}) {
      return ctx.exec(exec('pgbackrest', `--stanza=${STANZA}`, ...args), { mutates: o.mutates, timeout: o.timeout ?? 3_600_000, allowFailure: o.allowFailure })
    },
    async readConfig(ctx) {
      const r = await ctx.exec(exec('cat', CONFIG), { allowFailure: true, timeout: 60_000 })
      return r.exitCode === 0 ? r.stdout : null
    },
    async writeConfig(ctx, text) {
      const dir = privateTmp(tmpdir(), 'owp-pitr-conf-')
      try {
        const file = join(dir, 'pgbackrest.conf')
        writeFileSync(file, text, { mode: 0o600 })
        // the server's user reads it; through a temp name so archive-push never sees half a file
        await ctx.exec(exec('sh', '-c', 'umask 077 && cat > "$1.tmp" && mv "$1.tmp" "$1"', 'sh', CONFIG), { stdinFile: file, mutates: true, timeout: 60_000 })
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
    async prepareRepo(ctx) {
      // the image makes the directory the server's, and a new named volume copies that; only a
      // volume that lost it (a bind mount docker created as root) is handed over, in a one-off
      // container: the service drops every capability, so root in `exec` may not chown
      const writable = await ctx.exec(exec('test', '-w', REPO), { allowFailure: true, timeout: 60_000 })
      if (writable.exitCode === 0) return
      await ctx.exec([...base, 'run', '--rm', '--no-deps', '-T', '-u', '0', ...OWNER_CAPS, '--entrypoint', 'sh', SERVICE, '-c', `chown postgres:postgres ${REPO} && chmod 0750 ${REPO}`], { mutates: true, timeout: 300_000 })
    },
    async beside(ctx, id) {
      const envFile = requireEnvFile()
      const active = readEnvValue(envFile, DATA_VOLUME_VAR) ?? DATA_SLOTS[0]
      if (!(DATA_SLOTS as readonly string[]).includes(active)) throw new ConfigError([`${DATA_VOLUME_VAR}=${active} in ${envFile}: must be ${DATA_SLOTS.join(' or ')}`], 'point-in-time recovery (compose)')
      const slot = DATA_SLOTS.find((v) => v !== active)!
      const volume = `${s.project}_${slot}`
      // the other slot holds the copy an earlier recovery kept aside; never one a container uses
      const users = (await ctx.exec(['docker', 'ps', '-a', '-q', '--filter', `volume=${volume}`], { timeout: 60_000 })).stdout.trim()
      if (users) throw new KitError(`volume ${volume} is used by container(s) ${users.split('\n').join(', ')}: not touching it`, 1, `${SERVICE} runs on ${s.project}_${active}; stop what uses ${volume}`)
      const exists = (await ctx.exec(['docker', 'volume', 'inspect', volume], { allowFailure: true, timeout: 60_000 })).exitCode === 0
      if (exists) {
        ctx.log.warn(`removing volume ${volume}: the data an earlier recovery kept aside (production runs on ${s.project}_${active})`)
        await ctx.exec(['docker', 'volume', 'rm', volume], { mutates: true, timeout: 120_000 })
      }
      await ctx.exec(['docker', 'volume', 'create', '--label', `com.docker.compose.project=${s.project}`, '--label', `com.docker.compose.volume=${slot}`,
        '--label', `owp.pitr.id=${id}`, volume], { mutates: true, timeout: 60_000 })
      await ctx.exec(run(volume, '-u', '0', ...OWNER_CAPS, '--entrypoint', 'sh', SERVICE, '-c', `chown postgres:postgres ${RESTORE_AT} && chmod 0700 ${RESTORE_AT}`), { mutates: true, timeout: 300_000 })
      return { label: `volume ${volume}`, pgPath: RESTORE_AT, volume, slot }
    },
    async restoreInto(ctx, b, args, timeout) {
      await ctx.exec(run(volumeOf(b), '--entrypoint', 'pgbackrest', SERVICE, `--stanza=${STANZA}`, `--pg1-path=${b.pgPath}`, ...args, 'restore'), { mutates: true, timeout })
    },
    async startScratch(ctx, b): Promise<ScratchServer> {
      const name = `${s.project}-pitr-verify-${Date.now().toString(36)}`
      // the service's own `command:` options do not apply here (another entrypoint): the settings
      // recovery checks come from the copy's control file and the running server
      const standby = await readStandbyOptions(ctx, {
        controlData: () => ctx.exec(run(volumeOf(b), '--entrypoint', 'pg_controldata', SERVICE, RESTORE_AT), { allowFailure: true, timeout: 300_000 }),
        live: async () => (await ctx.exec(exec(...psql(LIVE_SETTINGS_SQL, 'postgres')), { timeout: 60_000 })).stdout,
      })
      await ctx.exec([...base, 'run', '-d', '--no-deps', '--name', name, '-v', `${volumeOf(b)}:${RESTORE_AT}`, '--entrypoint', 'postgres', SERVICE,
        '-D', RESTORE_AT, '-c', 'listen_addresses=', '-c', 'archive_mode=off', '-c', `restore_command=${restoreCommand(RESTORE_AT)}`, ...standby], { mutates: true, timeout: 300_000 })
      const stop = async () => { await ctx.exec(['docker', 'rm', '-f', name], { mutates: true, allowFailure: true, timeout: 120_000 }) }
      return {
        sql: async (q, db = 'postgres') => (await ctx.exec(['docker', 'exec', name, ...psql(q, db)], { timeout: 60_000 })).stdout.trim(),
        logTail: async () => {
          const r = await ctx.exec(['docker', 'logs', '--tail', '8', name], { allowFailure: true, timeout: 30_000 })
          const running = (await ctx.exec(['docker', 'inspect', '-f', '{{.State.Running}}', name], { allowFailure: true, timeout: 30_000 })).stdout.trim()
          return `${r.stdout}${r.stderr}`.trimEnd() + (running === 'false' ? '\nFATAL: the scratch container exited' : '')
        },
        stop,
      }
    },
    async switchTo(ctx, b, _id, timeout): Promise<Switched> {
      const envFile = requireEnvFile()
      const before = readEnvValue(envFile, DATA_VOLUME_VAR)
      const previous = `volume ${s.project}_${before ?? DATA_SLOTS[0]}`
      const up = () => ctx.exec([...base, 'up', '-d', '--no-deps', '--wait', SERVICE], { mutates: true, timeout: timeout + 60_000 })
      await ctx.exec([...base, 'stop', SERVICE], { mutates: true, timeout: 600_000 })
      const set = (value: string | null) => ctx.dryRun ? ctx.out(`[dry-run] set ${DATA_VOLUME_VAR}=${value ?? ''} in ${envFile}`) : writeEnvValue(envFile, DATA_VOLUME_VAR, value)
      set(b.slot ?? null)
      const undo = async () => {
        await ctx.exec([...base, 'stop', SERVICE], { mutates: true, allowFailure: true, timeout: 600_000 })
        set(before)
        await up()
      }
      try {
        await up()
      } catch (e) {
        ctx.log.error(`the recovered volume did not come up: pointing ${SERVICE} back at ${previous}`)
        await undo()
        throw e
      }
      return {
        previous,
        sql: async (q, db = 'postgres') => (await ctx.exec(exec(...psql(q, db)), { timeout: 60_000 })).stdout.trim(),
        undo,
      }
    },
    async discard(ctx, b) {
      await ctx.exec(['docker', 'volume', 'rm', volumeOf(b)], { mutates: true, allowFailure: true, timeout: 120_000 })
    },
  }
  return site
}

function volumeOf(b: Beside): string {
  const v = b.volume
  if (!v) throw new KitError('internal: a compose restore copy without its volume')
  return v
}
