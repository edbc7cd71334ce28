// The file stores live in their writers' volumes (Open WebUI's data directory, GraphRAG's), and a
// restore stops the writers: `exec` into a stopped container fails ("service openwebui is not
// running": the e2e restore drill found it). With the service stopped, the work runs in a one-off
// container of the service (same volumes, user, read-only root; no dependency started; removed).
import { describe, it, expect, afterAll } from 'vitest'
import { dirname, join } from 'node:path'
import { resolveShared } from '../../scripts/lib/backup/settings.ts'
import { COMPOSE_FILE } from '../../scripts/lib/core/paths.ts'
import { testCtx } from '../helpers/context.ts'
import { fakeBins, on, ok } from '../helpers/fake-bins.ts'
import { tmpDir } from '../helpers/tmp.ts'

const tmp = tmpDir('owp-files-stopped-')
afterAll(() => tmp.remove())
const NODE_ONLY = dirname(process.execPath)

async function targetWith(running: string) {
  const bins = fakeBins({
    docker: [on('^compose version', ok('2.26.1\n')), on(' ps --services --filter status=running$', ok(running)), ok('tar (GNU tar) 1.34\n')],
  }, { basePath: NODE_ONLY })
  const ctx = testCtx({ path: bins.path, cwd: tmp.path })
  const { target } = await resolveShared(ctx, { target: 'compose', store: 'files-openwebui', dest: join(tmp.path, 'backups') })
  return { bins, ctx, target }
}

const base = ['docker', 'compose', '-p', 'owp', '-f', COMPOSE_FILE]

describe('a file store whose service is stopped (compose)', () => {
  it('runs in a one-off container of the service, not through exec', async () => {
    const { bins, ctx, target } = await targetWith('postgres\nredis\n')
    try {
      const r = await target.run(ctx, 'files-openwebui', ['tar', '--version'])
      expect(r.stdout).toMatch(/GNU tar/)
      expect(bins.calls('docker').at(-1)).toEqual([...base, 'run', '--rm', '--no-deps', '-T', '--entrypoint', 'tar', 'openwebui', '--version'])
    } finally { bins.remove() }
  })
  it('runs through exec while the service runs; a database store always through exec', async () => {
    const { bins, ctx, target } = await targetWith('postgres\nopenwebui\ngraphrag-processor\n')
    try {
      await target.run(ctx, 'files-graphrag', ['tar', '--version'])
      expect(bins.calls('docker').at(-1)).toEqual([...base, 'exec', '-T', 'graphrag-processor', 'tar', '--version'])
      await target.run(ctx, 'redis', ['redis-cli', 'ping'])
      expect(bins.calls('docker').at(-1)).toEqual([...base, 'exec', '-T', 'redis', 'redis-cli', 'ping'])
    } finally { bins.remove() }
  })
})
