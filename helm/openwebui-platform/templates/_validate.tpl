{{/* Combinations the schema cannot express: fail at render time, saying what to set. */}}
{{- define "owp.validate" -}}
{{- include "owp.rollout.validate" . -}}
{{- $v := .Values -}}
{{- $ow := $v.openwebui -}}
{{- if and $ow.enabled (or $ow.autoscaling.enabled (gt (int $ow.replicas) 1)) -}}
  {{- if not $v.postgres.enabled -}}
    {{- fail "openwebui.replicas > 1 (or openwebui.autoscaling.enabled) needs PostgreSQL: set postgres.enabled=true (mode internal, external or cnpg)" -}}
  {{- end -}}
  {{- if not $v.redis.enabled -}}
    {{- fail "openwebui.replicas > 1 (or openwebui.autoscaling.enabled) needs Redis for websockets and sessions: set redis.enabled=true" -}}
  {{- end -}}
  {{- if not $v.qdrant.enabled -}}
    {{- fail "openwebui.replicas > 1 (or openwebui.autoscaling.enabled) needs a shared vector DB: set qdrant.enabled=true" -}}
  {{- end -}}
  {{- if not (or (eq $ow.storage.provider "s3") (and $ow.persistence.enabled (eq $ow.persistence.accessMode "ReadWriteMany"))) -}}
    {{- fail "openwebui.replicas > 1 (or openwebui.autoscaling.enabled) needs shared storage: set openwebui.persistence.accessMode=ReadWriteMany or openwebui.storage.provider=s3" -}}
  {{- end -}}
  {{- if and $ow.persistence.enabled (ne $ow.persistence.accessMode "ReadWriteMany") -}}
    {{- fail (printf "openwebui.persistence.accessMode=%s cannot be mounted by several replicas on several nodes: set it to ReadWriteMany, or openwebui.persistence.enabled=false with openwebui.storage.provider=s3" $ow.persistence.accessMode) -}}
  {{- end -}}
{{- end -}}
{{- if and $ow.enabled (eq $ow.storage.provider "s3") (or (not $ow.storage.s3.bucket) (and (not $ow.storage.s3.existingSecret) (not $ow.serviceAccount.annotations))) -}}
  {{- fail "openwebui.storage.provider=s3 needs openwebui.storage.s3.bucket and openwebui.storage.s3.existingSecret (or openwebui.serviceAccount.annotations for a cloud identity)" -}}
{{- end -}}
{{- /* lightllm.enabled=false needs openwebui.llm.baseUrl: values.schema.json says so (the chat rule), naming the key */ -}}
{{- range $c := list "graphrag" "celeryWorker" "celeryBeat" -}}
  {{- if (index $v $c).enabled -}}
    {{- range $store := list "postgres" "redis" "qdrant" "neo4j" -}}
      {{- if not (index $v $store).enabled -}}
        {{- fail (printf "%s.enabled needs %s: set %s.enabled=true (or %s.enabled=false)" $c $store $store $c) -}}
      {{- end -}}
    {{- end -}}
  {{- end -}}
{{- end -}}
{{- if and $v.mcp.enabled (not $v.graphrag.enabled) -}}
  {{- fail "mcp.enabled needs the GraphRAG API it serves tools from: set graphrag.enabled=true (or mcp.enabled=false)" -}}
{{- end -}}
{{- range $store := list "postgres" "redis" "qdrant" "neo4j" -}}
  {{- $s := index $v $store -}}
  {{- if and $s.enabled (eq $s.mode "external") -}}
    {{- if not $s.external.host -}}
      {{- fail (printf "%s.mode=external needs %s.external.host" $store $store) -}}
    {{- end -}}
    {{- $cred := ternary "apiKey" "password" (eq $store "qdrant") -}}
    {{- if not (or $s.existingSecret (index $s $cred)) -}}
      {{- fail (printf "%s.mode=external needs %s.existingSecret or %s.%s" $store $store $store $cred) -}}
    {{- end -}}
  {{- end -}}
{{- end -}}
{{- if and $v.ingress.enabled $v.gatewayAPI.enabled -}}
  {{- fail "ingress.enabled and gatewayAPI.enabled are alternatives: set one of them to false" -}}
{{- end -}}
{{- if $v.gatewayAPI.enabled -}}
  {{- if and $v.gatewayAPI.gateway.create (not $v.gatewayAPI.gateway.className) -}}
    {{- fail "gatewayAPI.gateway.create needs gatewayAPI.gateway.className (the GatewayClass of your Gateway controller)" -}}
  {{- end -}}
  {{- if and (not $v.gatewayAPI.gateway.create) (not $v.gatewayAPI.parentRefs) -}}
    {{- fail "gatewayAPI.gateway.create=false needs gatewayAPI.parentRefs (the Gateway the HTTPRoute attaches to)" -}}
  {{- end -}}
{{- end -}}
{{- if and $ow.enabled $ow.otel.enabled (not $ow.otel.endpoint) (not $v.monitoring.otelCollector.enabled) -}}
  {{- fail "openwebui.otel.enabled with an empty openwebui.otel.endpoint exports to the chart's collector: set monitoring.otelCollector.enabled=true, or openwebui.otel.endpoint to your collector (or openwebui.otel.enabled=false)" -}}
{{- end -}}
{{- if and $v.backup.enabled (eq $v.backup.destination.type "s3") (or (not $v.backup.destination.s3.url) (and (not $v.backup.destination.s3.existingSecret) (not $v.backup.serviceAccount.annotations))) -}}
  {{- fail "backup.destination.type=s3 needs backup.destination.s3.url (s3://bucket/prefix) and backup.destination.s3.existingSecret (or backup.serviceAccount.annotations for a cloud identity)" -}}
{{- end -}}
{{- end -}}

{{/* openwebui.sso: combinations that would lock users out or let anyone pick an identity. */}}
{{- define "owp.validate.identity" -}}
{{- $ow := .Values.openwebui -}}
{{- $sso := $ow.sso -}}
{{- if and $ow.enabled $sso.oidc.enabled -}}
  {{- if not $sso.oidc.providerUrl -}}
    {{- fail "openwebui.sso.oidc.enabled needs openwebui.sso.oidc.providerUrl (the provider's .well-known/openid-configuration URL)" -}}
  {{- end -}}
  {{- if not $sso.oidc.clientId -}}
    {{- fail "openwebui.sso.oidc.enabled needs openwebui.sso.oidc.clientId" -}}
  {{- end -}}
  {{- if not $sso.oidc.existingSecret -}}
    {{- fail "openwebui.sso.oidc.enabled needs openwebui.sso.oidc.existingSecret (a Secret with the client secret under openwebui.sso.oidc.clientSecretKey)" -}}
  {{- end -}}
{{- end -}}
{{- if and $ow.enabled (not $sso.loginForm) (not $sso.oidc.enabled) (not $sso.trustedHeader.enabled) -}}
  {{- fail "openwebui.sso.loginForm=false leaves no way to log in: set openwebui.sso.oidc.enabled or openwebui.sso.trustedHeader.enabled (or openwebui.sso.loginForm=true)" -}}
{{- end -}}
{{- if and $ow.enabled $sso.trustedHeader.enabled (not .Values.networkPolicy.enabled) -}}
  {{- fail "openwebui.sso.trustedHeader.enabled trusts whoever reaches Open WebUI to name the user: keep networkPolicy.enabled=true so only the ingress controller reaches it" -}}
{{- end -}}
{{- end -}}
