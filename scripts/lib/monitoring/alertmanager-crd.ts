// The chart's AlertmanagerConfig (monitoring.coreos.com/v1alpha1) as the alertmanager.yml the Prometheus
// Operator makes of it, so amtool can check it the way it checks compose's config: the object's route
// goes under a root route with namespace="<its namespace>" added (the operator's OnNamespace matcher
// strategy) and continue: true; Secret references are resolved through `secret`.
import { stringify } from 'yaml'

interface CrdMatcher { name: string; value?: string; matchType?: string }
interface CrdRoute {
  receiver?: string; groupBy?: string[]; groupWait?: string; groupInterval?: string; repeatInterval?: string
  matchers?: CrdMatcher[]; continue?: boolean; routes?: CrdRoute[]
}
interface SecretRef { name: string; key: string }
export interface AlertmanagerConfigSpec {
  route?: CrdRoute
  inhibitRules?: Array<{ sourceMatch?: CrdMatcher[]; targetMatch?: CrdMatcher[]; equal?: string[] }>
  receivers?: Array<Record<string, unknown> & { name: string }>
}
export type SecretLookup = (ref: SecretRef) => string

const matcher = (m: CrdMatcher) => `${m.name}${m.matchType ?? '='}${JSON.stringify(m.value ?? '')}`

/** Fields of an object, each renamed; any other field is an error (a template change must be converted too). */
function renamed(where: string, obj: Record<string, unknown>, names: Record<string, string | ((v: any) => [string, unknown])>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(obj)) {
    const to = names[k]
    if (to === undefined) throw new Error(`${where}: field ${k} is not converted`)
    if (typeof to === 'function') { const [n, val] = to(v); out[n] = val } else out[to] = v
  }
  return out
}

function route(r: CrdRoute, where: string): Record<string, unknown> {
  return renamed(where, r as Record<string, unknown>, {
    receiver: 'receiver', groupBy: 'group_by', groupWait: 'group_wait', groupInterval: 'group_interval', repeatInterval: 'repeat_interval',
    continue: 'continue', matchers: (ms: CrdMatcher[]) => ['matchers', ms.map(matcher)],
    routes: (rs: CrdRoute[]) => ['routes', rs.map((x, i) => route(x, `${where}.routes[${i}]`))],
  })
}

function receiver(r: Record<string, unknown> & { name: string }, secret: SecretLookup): Record<string, unknown> {
  const w = `receiver ${r.name}`
  return renamed(w, r, {
    name: 'name',
    emailConfigs: (cs: Record<string, unknown>[]) => ['email_configs', cs.map((c) => renamed(`${w} email`, c, {
      to: 'to', from: 'from', smarthost: 'smarthost', authUsername: 'auth_username', requireTLS: 'require_tls', sendResolved: 'send_resolved',
      authPassword: (ref: SecretRef) => ['auth_password', secret(ref)],
    }))],
    slackConfigs: (cs: Record<string, unknown>[]) => ['slack_configs', cs.map((c) => renamed(`${w} slack`, c, {
      sendResolved: 'send_resolved', title: 'title', text: 'text', channel: 'channel',
      apiURL: (ref: SecretRef) => ['api_url', secret(ref)],
    }))],
    webhookConfigs: (cs: Record<string, unknown>[]) => ['webhook_configs', cs.map((c) => renamed(`${w} webhook`, c, {
      sendResolved: 'send_resolved', url: 'url',
      urlSecret: (ref: SecretRef) => ['url', secret(ref)],
    }))],
  })
}

/** The alertmanager.yml of an AlertmanagerConfig in `namespace`, as the operator merges it (root receiver 'null'). */
export function alertmanagerYamlFromCrd(spec: AlertmanagerConfigSpec, namespace: string, secret: SecretLookup): string {
  const ns = `namespace=${JSON.stringify(namespace)}`
  const top = route(spec.route ?? {}, 'route')
  top.matchers = [...((top.matchers as string[] | undefined) ?? []), ns]
  top.continue = true
  const config = {
    route: { receiver: 'null', routes: [top] },
    inhibit_rules: (spec.inhibitRules ?? []).map((i) => ({
      source_matchers: [...(i.sourceMatch ?? []).map(matcher), ns],
      target_matchers: [...(i.targetMatch ?? []).map(matcher), ns],
      ...(i.equal ? { equal: i.equal } : {}),
    })),
    receivers: [
      ...((spec.receivers ?? []).some((r) => r.name === 'null') ? [] : [{ name: 'null' }]),
      ...(spec.receivers ?? []).map((r) => receiver(r, secret)),
    ],
  }
  return stringify(config, { lineWidth: 0 })
}
