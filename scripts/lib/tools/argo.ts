// Argo Rollouts through plain kubectl (the `kubectl argo rollouts` plugin may be missing): argv
// builders for reading a Rollout, aborting it and promoting it, as the plugin does (status subresource).
import { kubectl } from './kube.ts'

export const ROLLOUT_RESOURCE = 'rollouts.argoproj.io'

export function rolloutGetArgv(name: string, namespace: string, requestTimeout = '15s'): string[] {
  return kubectl('get', ROLLOUT_RESOURCE, name, '--namespace', namespace, '--output', 'json', '--request-timeout', requestTimeout)
}

export function rolloutListArgv(namespace: string, selector: string, requestTimeout = '15s'): string[] {
  return kubectl('get', ROLLOUT_RESOURCE, '--namespace', namespace, '--selector', selector, '--output', 'json', '--request-timeout', requestTimeout)
}

/** What `kubectl argo rollouts abort` does: status.abort=true; traffic goes back to the stable pods. */
export function rolloutAbortArgv(name: string, namespace: string): string[] {
  return kubectl('patch', ROLLOUT_RESOURCE, name, '--namespace', namespace, '--subresource', 'status', '--type', 'merge', '--patch', '{"status":{"abort":true}}')
}

/** What `kubectl argo rollouts promote` does for a paused step or a blue-green pause. */
export function rolloutPromoteArgv(name: string, namespace: string): string[] {
  return kubectl('patch', ROLLOUT_RESOURCE, name, '--namespace', namespace, '--subresource', 'status', '--type', 'merge', '--patch', '{"status":{"pauseConditions":null}}')
}

