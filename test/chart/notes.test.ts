// NOTES.txt: how to reach the UI, and a warning for every insecure or fragile choice.
// helm 4's `install --dry-run=client` renders NOTES without a cluster (helm 3's still dials one).
import { describe, expect, it } from 'vitest'
import { CHART_DIR } from '../../scripts/lib/core/paths.ts'
import { NAMESPACE, RELEASE, runHelm } from '../helpers/k8s-render.ts'
import { SCENARIOS, scenarioFile } from './scenarios.ts'

async function notes(args: string[] = []): Promise<string> {
  const r = await runHelm('v4', ['install', RELEASE, CHART_DIR, '--namespace', NAMESPACE, '--dry-run=client', ...args], { env: { KUBECONFIG: '/dev/null' } })
  expect(r.code, r.stderr).toBe(0)
  return r.stdout.slice(r.stdout.indexOf('NOTES:'))
}

describe('NOTES.txt', () => {
  it('says where the UI is, how to test it, and warns about what this cluster lacks', async () => {
    const n = await notes()
    expect(n).toContain('https://chat.example.com/')
    expect(n).toContain(`helm test ${RELEASE} -n ${NAMESPACE}`)
    expect(n).toContain('cert-manager (cert-manager.io/v1) is not installed: no Certificate was rendered')
    expect(n).toContain('monitoring.coreos.com/v1 is not served')
    expect(n).toContain('backup.ageRecipient is empty: backups are stored unencrypted.')
    expect(n).toContain('http://owp-mcp-server:8020')
  })

  it('warns about plain HTTP, open networking, open sign-up and a plain-HTTP LLM', async () => {
    const n = await notes(['--values', scenarioFile(SCENARIOS.find((s) => s.name === 'minimal')!),
      '--set', 'tls.enabled=false', '--set', 'networkPolicy.enabled=false', '--set', 'openwebui.enableSignup=true',
      '--set', 'openwebui.llm.baseUrl=http://llm.example.com/v1'])
    expect(n).toContain('http://chat.example.com/')
    for (const w of [
      'tls.enabled=false: the UI is served over plain HTTP',
      'networkPolicy.enabled=false: every pod can reach every data store',
      'openwebui.enableSignup=true: anyone who reaches the UI can create an account.',
      'openwebui.llm.baseUrl http://llm.example.com/v1 is plain HTTP',
      'postgres.enabled=false: Open WebUI keeps its data in SQLite',
    ]) expect(n).toContain(w)
    expect(n).not.toContain('LightLLM loads')
  })

  it('warns that an upgrade recreates Open WebUI on a ReadWriteOnce volume, and that blue-green without Argo Rollouts rolls', async () => {
    expect(await notes()).toContain('Open WebUI keeps its data on a ReadWriteOnce volume: every upgrade recreates its pod (a short outage)')
    const n = await notes(['--values', scenarioFile(SCENARIOS.find((s) => s.name === 'rollout-bluegreen')!)])
    expect(n).toContain('rollout.strategy=blueGreen needs Argo Rollouts (argoproj.io/v1alpha1), which this cluster does not serve')
    expect(n).not.toContain('every upgrade recreates its pod')
  })

  it('shows port-forward instructions when nothing exposes the UI', async () => {
    const n = await notes(['--set', 'ingress.enabled=false'])
    expect(n).toContain(`kubectl -n ${NAMESPACE} port-forward svc/owp-openwebui 8080:8080`)
  })
})
