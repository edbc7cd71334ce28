// Kubernetes file stores: a Job mounts the claim, tar runs in it through kubectl exec, and the Job
// is deleted in every path (success, a failing tar). The Job passes the Kubernetes schemas; every
// kubectl argv passes the real kubectl's flag parser.
import { afterAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fakeBins, on, ok, fails } from '../helpers/fake-bins.ts'
import { testCtx } from '../helpers/context.ts'
import { tmpDir } from '../helpers/tmp.ts'
import { closedPort } from '../helpers/net.ts'
import { validateObjects } from '../helpers/k8s-validate.ts'
import { TOOLS_BIN } from '../../scripts/lib/core/paths.ts'
import { claimJob, claimJobArgv } from '../../scripts/lib/backup/claims.ts'
import { resolveShared, retentionFrom } from '../../scripts/lib/backup/settings.ts'
import { runBackup } from '../../scripts/lib/backup/backup.ts'

const tmp = tmpDir('owp-claims-')
afterAll(() => tmp.remove())

const EMPTY_TAR = '\0'.repeat(1024)

async function backupWith(kubectl: Parameters<typeof fakeBins>[0]['kubectl']) {
  const bins = fakeBins({ kubectl })
  const env = join(tmp.path, 'empty.env')
  writeFileSync(env, '')
  const ctx = testCtx({ env: { PATH: bins.path, BACKUP_STAGING_DIR: tmp.path }, yes: true })
  const s = await resolveShared(ctx, { store: 'files-openwebui', target: 'k8s', dest: join(tmp.path, `dest-${Date.now()}`), 'env-file': env, timeout: '60', namespace: 'ai', release: 'owp' })
  const report = await runBackup(ctx, { stores: ['files-openwebui'], explicit: true, target: s.target, dest: s.dest, settings: s.settings, verify: true, recipients: [], retention: retentionFrom({}) })
  return { bins, ctx, report }
}

function realKubectl(): string {
  const bundled = join(TOOLS_BIN, 'kubectl')
  return existsSync(bundled) ? bundled : execFileSync('which', ['kubectl']).toString().trim()
}

describe('file stores on Kubernetes: a Job that mounts the claim', () => {
  it('the Job mounts the chart\'s claim, runs as the app\'s user beside its pod, and is a valid batch/v1 Job', async () => {
    const job = claimJob({ store: 'files-graphrag', namespace: 'ai', release: 'owp', env: {} }, 'owp-files-graphrag-abc123') as any
    expect(job.spec.template.spec.volumes).toEqual([{ name: 'data', persistentVolumeClaim: { claimName: 'owp-graphrag-processor-data' } }])
    expect(job.spec.template.spec.containers[0].volumeMounts).toEqual([{ name: 'data', mountPath: '/var/lib/graphrag' }])
    expect(job.spec.template.spec.securityContext).toMatchObject({ runAsUser: 10001, runAsNonRoot: true })
    expect(job.spec.template.spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.labelSelector.matchLabels)
      .toEqual({ 'app.kubernetes.io/instance': 'owp', 'app.kubernetes.io/component': 'graphrag-processor' })
    const webui = claimJob({ store: 'files-openwebui', namespace: 'ai', release: 'owp', env: { OPENWEBUI_DATA_CLAIM: 'my-claim' } }, 'j') as any
    expect(webui.spec.template.spec.volumes[0].persistentVolumeClaim.claimName).toBe('my-claim')
    expect(await validateObjects([job, webui])).toEqual([])
  })

  it('backs up through the Job, then deletes it', async () => {
    const { bins, ctx, report } = await backupWith([
      on('^get pods', ok('owp-files-openwebui-x-pod1')),
      on('^exec .* tar --version', ok('tar (GNU tar) 1.35\n')),
      on('^exec .* tar -C /app/backend/data -cf -', ok(EMPTY_TAR)),
      ok(),
    ])
    expect(report.stores[0], ctx.stderr()).toMatchObject({ ok: true, verified: true })
    const calls = bins.calls('kubectl')
    const job = calls[0]!
    expect(job).toEqual(['kubectl', 'create', '-n', 'ai', '-f', '-'])
    const name = calls[1]!.find((a) => a.startsWith('job/'))!.slice(4)
    expect(name).toMatch(/^owp-files-openwebui-[0-9a-f]{6}$/)
    expect(calls).toContainEqual(['kubectl', 'exec', '-n', 'ai', 'owp-files-openwebui-x-pod1', '-c', 'files', '--', 'tar', '-C', '/app/backend/data', '-cf', '-',
      '--exclude=./cache', '--exclude=./vector_db', '--exclude=./.owp-restore-*', '--exclude=./.owp-pre-restore-*', '.'])
    expect(calls.at(-1)).toEqual(['kubectl', 'delete', 'job', name, '-n', 'ai', '--ignore-not-found', '--cascade=foreground', '--wait=false'])
    bins.remove()
  })

  it('deletes the Job when tar fails too, and the store fails with tar\'s reason', async () => {
    const { bins, report } = await backupWith([
      on('^get pods', ok('pod1')),
      on('^exec .* tar --version', ok('tar (GNU tar) 1.35\n')),
      on('^exec .* tar -C', fails(2, 'tar: ./uploads: Cannot open: Permission denied\ntar: Exiting with failure status due to previous errors')),
      ok(),
    ])
    expect(report.stores[0]).toMatchObject({ ok: false, error: expect.stringContaining('tar exited 2: tar: ./uploads: Cannot open: Permission denied') })
    expect(bins.calls('kubectl').at(-1)!.slice(0, 3)).toEqual(['kubectl', 'delete', 'job'])
    bins.remove()
  })

  it('every kubectl argv passes the real kubectl parser', async () => {
    const kubeconfig = join(tmp.path, 'kubeconfig')
    writeFileSync(kubeconfig, `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:${await closedPort()}"}}]\nusers: [{name: u, user: {token: x}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n`)
    const argv = claimJobArgv({ store: 'files-openwebui', namespace: 'ai', release: 'owp', env: {} }, 'owp-files-openwebui-abc123')
    for (const a of Object.values(argv)) {
      let stderr = ''
      try {
        execFileSync(realKubectl(), [`--kubeconfig=${kubeconfig}`, '--request-timeout=2s', ...a.slice(1)], { input: JSON.stringify(claimJob({ store: 'files-openwebui', namespace: 'ai', release: 'owp', env: {} }, 'x')), stdio: ['pipe', 'pipe', 'pipe'], timeout: 20_000 })
      } catch (e) { stderr = String((e as { stderr?: Buffer }).stderr ?? '') }
      expect(stderr, a.join(' ')).toMatch(/refused|connect|Unable to connect|unreachable|dial tcp/i)
      expect(stderr, a.join(' ')).not.toMatch(/unknown (flag|shorthand|command)|invalid argument|flag needs an argument/i)
    }
  })
})
