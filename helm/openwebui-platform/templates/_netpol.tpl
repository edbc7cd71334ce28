{{/*
The intended traffic of the release as data: a list of edges {from, to, ports}. networkpolicy.yaml
turns it into one policy per component (its ingress from every edge ending there, its egress to
every edge starting there). Peers that are not components: ingress-controller, monitoring, otel
(an OTLP collector of your own, in the monitoring namespace), dns, kube-api, external, cnpg-operator,
idp (openwebui.sso.oidc.networkPolicyPeers), drill (the drill pod of the production namespace
drill.scratchOf names, in a drill's scratch release), drill-scratch-qdrant (the Qdrant of this
release's drill copy in <namespace>-drill).
*/}}
{{- define "owp.netpol.edges" -}}
{{- $v := .Values -}}
{{- $tcp := "TCP" -}}
{{- $edges := list -}}
{{- $pods := include "owp.netpol.components" . | fromYamlArray -}}
{{- /* data stores as their clients see them: internal/cnpg component, or external peer */ -}}
{{- $stores := dict -}}
{{- $pooled := include "owp.postgres.pooled" . -}}
{{- if $v.postgres.enabled }}{{ $_ := set $stores "postgres" (dict "to" (ternary "external" (ternary "pgbouncer" "postgres" (eq $pooled "true")) (eq $v.postgres.mode "external")) "ports" (list (int (include "owp.postgres.port" .)))) }}{{ end -}}
{{- if $v.redis.enabled }}{{ $_ := set $stores "redis" (dict "to" (ternary "external" "redis" (eq $v.redis.mode "external")) "ports" (list (int (include "owp.redis.port" .)))) }}{{ end -}}
{{- if $v.qdrant.enabled }}
  {{- if eq $v.qdrant.mode "external" }}{{ $_ := set $stores "qdrant" (dict "to" "external" "ports" (list (int $v.qdrant.external.port) (int $v.qdrant.external.grpcPort))) }}
  {{- else }}{{ $_ := set $stores "qdrant" (dict "to" "qdrant" "ports" (list 6333 6334)) }}{{ end -}}
{{- end -}}
{{- if $v.neo4j.enabled }}{{ $_ := set $stores "neo4j" (dict "to" (ternary "external" "neo4j" (eq $v.neo4j.mode "external")) "ports" (list (int (ternary $v.neo4j.external.port 7687 (eq $v.neo4j.mode "external"))))) }}{{ end -}}
{{- $llm := dict "to" "lightllm" "ports" (list (int $v.lightllm.port)) -}}
{{- if $v.openwebui.llm.baseUrl }}{{ $llm = dict "to" "external" "ports" (list (int (include "owp.urlPort" $v.openwebui.llm.baseUrl))) }}{{ end -}}

{{- if has "openwebui" $pods }}
  {{- if or $v.ingress.enabled $v.gatewayAPI.enabled }}
  {{- $edges = append $edges (dict "from" "ingress-controller" "to" "openwebui" "ports" (list 8080)) }}
  {{- end }}
  {{- $edges = append $edges (dict "from" "openwebui" "to" $llm.to "ports" $llm.ports) }}
  {{- range $s := list "postgres" "redis" }}
    {{- with index $stores $s }}{{ $edges = append $edges (dict "from" "openwebui" "to" .to "ports" .ports) }}{{ end }}
  {{- end }}
  {{- with $stores.qdrant }}{{ $edges = append $edges (dict "from" "openwebui" "to" .to "ports" (list (first .ports))) }}{{ end }}
  {{- if has "mcp-server" $pods }}{{ $edges = append $edges (dict "from" "openwebui" "to" "mcp-server" "ports" (list (int $v.mcp.port))) }}{{ end }}
  {{- if has "graphrag-processor" $pods }}{{ $edges = append $edges (dict "from" "openwebui" "to" "graphrag-processor" "ports" (list (int $v.graphrag.port))) }}{{ end }}
  {{- /* air-gapped: nothing to download, so no general HTTPS egress */ -}}
  {{- if and $v.networkPolicy.openwebuiHTTPSEgress (not $v.global.airGapped) }}{{ $edges = append $edges (dict "from" "openwebui" "to" "external" "ports" (list 443)) }}{{ end }}
  {{- /* the OIDC provider: discovery, token and keys endpoints, on the port of its URL */ -}}
  {{- if $v.openwebui.sso.oidc.enabled }}
  {{- $edges = append $edges (dict "from" "openwebui" "to" (include "owp.openwebui.idpPeer" .) "ports" (list (int (include "owp.urlPort" $v.openwebui.sso.oidc.providerUrl)))) }}
  {{- end }}
  {{- if eq $v.openwebui.storage.provider "s3" }}
  {{- $edges = append $edges (dict "from" "openwebui" "to" "external" "ports" (list (int (ternary (include "owp.urlPort" $v.openwebui.storage.s3.endpointUrl) "443" (ne $v.openwebui.storage.s3.endpointUrl ""))))) }}
  {{- end }}
  {{- if has "otel-collector" $pods }}
  {{- $edges = append $edges (dict "from" "openwebui" "to" "otel-collector" "ports" (list 4317)) }}
  {{- else if $v.openwebui.otel.enabled }}
  {{- $edges = append $edges (dict "from" "openwebui" "to" "otel" "ports" (list (int (include "owp.urlPort" (include "owp.otel.endpoint" .))))) }}
  {{- end }}
{{- end }}
{{- range $c := list "graphrag-processor" "celery-worker" }}
  {{- if has $c $pods }}
    {{- range $s := list "postgres" "redis" "qdrant" "neo4j" }}
      {{- with index $stores $s }}{{ $edges = append $edges (dict "from" $c "to" .to "ports" .ports) }}{{ end }}
    {{- end }}
    {{- $edges = append $edges (dict "from" $c "to" $llm.to "ports" $llm.ports) }}
  {{- end }}
{{- end }}
{{- /* the HTTP(S) proxy, for every component given the proxy variables */ -}}
{{- $proxyPorts := include "owp.proxyPorts" . | fromYamlArray -}}
{{- if $proxyPorts }}
  {{- $to := ternary "proxy" "external" (not (empty $v.global.proxy.networkPolicyPeers)) }}
  {{- range $c := list "openwebui" "lightllm" "graphrag-processor" "celery-worker" "celery-beat" "mcp-server" "backup" }}
    {{- if has $c $pods }}{{ $edges = append $edges (dict "from" $c "to" $to "ports" $proxyPorts) }}{{ end }}
  {{- end }}
{{- end }}
{{- if has "celery-beat" $pods }}
  {{- with $stores.redis }}{{ $edges = append $edges (dict "from" "celery-beat" "to" .to "ports" .ports) }}{{ end }}
{{- end }}
{{- if has "mcp-server" $pods }}
  {{- $edges = append $edges (dict "from" "mcp-server" "to" "graphrag-processor" "ports" (list (int $v.graphrag.port))) }}
{{- end }}
{{- if has "celery-exporter" $pods }}
  {{- with $stores.redis }}{{ $edges = append $edges (dict "from" "celery-exporter" "to" .to "ports" .ports) }}{{ end }}
{{- end }}
{{- /* the blackbox exporter probes health endpoints (and the served certificate, outside) */ -}}
{{- if has "blackbox-exporter" $pods }}
  {{- range $p := include "owp.probes" . | fromYamlArray }}
    {{- $edges = append $edges (dict "from" "blackbox-exporter" "to" (default $p.component $p.to) "ports" (list (int $p.port))) }}
  {{- end }}
{{- end }}
{{- if has "pushgateway" $pods }}
  {{- $edges = append $edges (dict "from" "backup" "to" "pushgateway" "ports" (list 9091)) }}
{{- end }}
{{- /* Prometheus scrapes the metrics ports */ -}}
{{- $metrics := dict "lightllm" (list (int $v.lightllm.port)) "graphrag-processor" (list (int $v.graphrag.port)) "mcp-server" (list (int $v.mcp.port)) "qdrant" (list 6333) "celery-exporter" (list 9808) "otel-collector" (list 8889) "blackbox-exporter" (list 9115) "pushgateway" (list 9091) -}}
{{- if or (eq $v.postgres.mode "cnpg") $v.postgres.metrics.enabled }}{{ $_ := set $metrics "postgres" (list 9187) }}{{ end -}}
{{- if $v.redis.metrics.enabled }}{{ $_ := set $metrics "redis" (list 9121) }}{{ end -}}
{{- range $c := $pods }}
  {{- with index $metrics $c }}{{ $edges = append $edges (dict "from" "monitoring" "to" $c "ports" .) }}{{ end }}
{{- end }}
{{- if has "backup" $pods }}
  {{- $edges = append $edges (dict "from" "backup" "to" "kube-api" "ports" $v.networkPolicy.kubeAPIServer.ports) }}
  {{- /* Qdrant snapshots are taken and fetched over its REST API, not by exec */ -}}
  {{- if has "qdrant" (include "owp.backup.stores" . | fromYamlArray) }}
  {{- $edges = append $edges (dict "from" "backup" "to" "qdrant" "ports" (list 6333)) }}
  {{- end }}
  {{- if eq $v.backup.destination.type "s3" }}
  {{- $edges = append $edges (dict "from" "backup" "to" "external" "ports" (list (int (ternary (include "owp.urlPort" $v.backup.destination.s3.endpoint) "443" (ne $v.backup.destination.s3.endpoint ""))))) }}
  {{- end }}
{{- end }}
{{- /* a drill's scratch release: the production namespace's drill pod restores and counts the collections over Qdrant's REST port (every other store through the API server) */ -}}
{{- if and $v.drill.scratchOf (has "qdrant" $pods) }}
  {{- $edges = append $edges (dict "from" "drill" "to" "qdrant" "ports" (list 6333)) }}
{{- end }}
{{- if has "test" $pods }}
  {{- $health := dict "openwebui" 8080 "lightllm" (int $v.lightllm.port) "graphrag-processor" (int $v.graphrag.port) "mcp-server" (int $v.mcp.port) "qdrant" 6333 "neo4j" 7474 "redis" 6379 "otel-collector" 13133 "blackbox-exporter" 9115 "pushgateway" 9091 -}}
  {{- if eq $v.postgres.mode "internal" }}{{ $_ := set $health "postgres" 5432 }}{{ end -}}
  {{- range $c := $pods }}
    {{- with index $health $c }}{{ $edges = append $edges (dict "from" "test" "to" $c "ports" (list .)) }}{{ end }}
  {{- end }}
{{- end }}
{{- if and $v.postgres.enabled (eq $v.postgres.mode "cnpg") }}
  {{- $edges = append $edges (dict "from" "cnpg-operator" "to" "postgres" "ports" (list 8000 5432)) }}
  {{- $edges = append $edges (dict "from" "postgres" "to" "postgres" "ports" (list 5432 8000)) }}
  {{- $edges = append $edges (dict "from" "postgres" "to" "kube-api" "ports" $v.networkPolicy.kubeAPIServer.ports) }}
  {{- /* PgBouncer: to the primary, to the API server (its instance manager reads the Pooler and Secrets), scraped on 9127 */ -}}
  {{- if eq $pooled "true" }}
  {{- $edges = append $edges (dict "from" "pgbouncer" "to" "postgres" "ports" (list 5432)) }}
  {{- $edges = append $edges (dict "from" "pgbouncer" "to" "kube-api" "ports" $v.networkPolicy.kubeAPIServer.ports) }}
  {{- $edges = append $edges (dict "from" "monitoring" "to" "pgbouncer" "ports" (list 9127)) }}
  {{- end }}
{{- end }}
{{- range $c := $pods }}
  {{- $edges = append $edges (dict "from" $c "to" "dns" "ports" (list 53) "protocols" (list "UDP" "TCP")) }}
{{- end }}
{{- toYaml $edges -}}
{{- end -}}

{{/* "true" when the applications reach PostgreSQL through the CloudNativePG Pooler */}}
{{- define "owp.postgres.pooled" -}}
{{- if and .Values.postgres.enabled (eq .Values.postgres.mode "cnpg") .Values.postgres.cnpg.pooler.enabled }}true{{ end -}}
{{- end -}}

{{/* Components that run pods in this release, as a YAML list. */}}
{{- define "owp.netpol.components" -}}
{{- $v := .Values -}}
{{- $c := list -}}
{{- if $v.openwebui.enabled }}{{ $c = append $c "openwebui" }}{{ end -}}
{{- if $v.lightllm.enabled }}{{ $c = append $c "lightllm" }}{{ end -}}
{{- if $v.graphrag.enabled }}{{ $c = append $c "graphrag-processor" }}{{ end -}}
{{- if $v.celeryWorker.enabled }}{{ $c = append $c "celery-worker" }}{{ end -}}
{{- if $v.celeryBeat.enabled }}{{ $c = append $c "celery-beat" }}{{ end -}}
{{- if $v.mcp.enabled }}{{ $c = append $c "mcp-server" }}{{ end -}}
{{- if and $v.postgres.enabled (ne $v.postgres.mode "external") }}{{ $c = append $c "postgres" }}{{ end -}}
{{- if include "owp.postgres.pooled" . }}{{ $c = append $c "pgbouncer" }}{{ end -}}
{{- range $s := list "redis" "qdrant" "neo4j" }}
  {{- if and (index $v $s).enabled (eq (index $v $s).mode "internal") }}{{ $c = append $c $s }}{{ end -}}
{{- end -}}
{{- if and $v.celeryExporter.enabled $v.celeryWorker.enabled }}{{ $c = append $c "celery-exporter" }}{{ end -}}
{{- if include "owp.backup.stores" . }}{{ $c = append $c "backup" }}{{ end -}}
{{- if include "owp.otelCollector.enabled" . }}{{ $c = append $c "otel-collector" }}{{ end -}}
{{- if include "owp.blackbox.enabled" . }}{{ $c = append $c "blackbox-exporter" }}{{ end -}}
{{- if include "owp.pushgateway.enabled" . }}{{ $c = append $c "pushgateway" }}{{ end -}}
{{- if $v.tests.enabled }}{{ $c = append $c "test" }}{{ end -}}
{{- toYaml $c -}}
{{- end -}}

{{/* A peer by name -> list of NetworkPolicyPeer */}}
{{- define "owp.netpol.peer" -}}
{{- $ := index . 0 -}}
{{- $name := index . 1 -}}
{{- $np := $.Values.networkPolicy -}}
{{- if eq $name "ingress-controller" -}}
- namespaceSelector:{{ toYaml $np.ingressController.namespaceSelector | nindent 4 }}
  podSelector:{{ toYaml $np.ingressController.podSelector | nindent 4 }}
{{- else if eq $name "monitoring" -}}
- namespaceSelector:{{ toYaml $np.monitoring.namespaceSelector | nindent 4 }}
  podSelector:{{ toYaml $np.monitoring.podSelector | nindent 4 }}
{{- else if eq $name "otel" -}}
- namespaceSelector:{{ toYaml $np.monitoring.namespaceSelector | nindent 4 }}
{{- else if eq $name "dns" -}}
- namespaceSelector:{{ toYaml $np.dns.namespaceSelector | nindent 4 }}
  podSelector:{{ toYaml $np.dns.podSelector | nindent 4 }}
{{- else if eq $name "cnpg-operator" -}}
- namespaceSelector:{{ toYaml $np.cnpgOperator.namespaceSelector | nindent 4 }}
  podSelector:{{ toYaml $np.cnpgOperator.podSelector | nindent 4 }}
{{- else if eq $name "kube-api" -}}
{{- range $np.kubeAPIServer.cidrs }}
- ipBlock:
    cidr: {{ . }}
{{- end }}
{{- else if eq $name "proxy" -}}
{{ toYaml $.Values.global.proxy.networkPolicyPeers }}
{{- else if eq $name "idp" -}}
{{ toYaml $.Values.openwebui.sso.oidc.networkPolicyPeers }}
{{- else if eq $name "external" -}}
{{ toYaml $np.externalPeers }}
{{- else if eq $name "drill" -}}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ $.Values.drill.scratchOf }}
  podSelector:
    matchLabels:
      {{- include "owp.netpol.podLabels" (list $ "drill") | nindent 6 }}
{{- else if eq $name "drill-scratch-qdrant" -}}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ include "owp.drill.namespace" $ }}
  podSelector:
    matchLabels:
      {{- include "owp.netpol.podLabels" (list $ "qdrant") | nindent 6 }}
{{- else -}}
- podSelector:
    matchLabels:
      {{- include "owp.netpol.podLabels" (list $ $name) | nindent 6 }}
{{- end -}}
{{- end -}}

{{/* Labels that select a component's pods (CloudNativePG pods get them through inheritedMetadata); "drill": the drill CronJob's pod alone (a backup pod of store drill). */}}
{{- define "owp.netpol.podLabels" -}}
{{- if eq (index . 1) "drill" -}}
{{ include "owp.selectorLabels" (list (index . 0) "backup") }}
app.kubernetes.io/store: drill
{{- else -}}
{{ include "owp.selectorLabels" . }}
{{- end -}}
{{- end -}}

{{/* The scratch namespace the restore drill installs this release's copy into. */}}
{{- define "owp.drill.namespace" -}}
{{- printf "%s-drill" .Release.Namespace -}}
{{- end -}}

{{/* ports of an edge -> list of NetworkPolicyPort */}}
{{- define "owp.netpol.ports" -}}
{{- $protocols := default (list "TCP") .protocols -}}
{{- range $p := .ports }}
{{- range $proto := $protocols }}
- port: {{ $p }}
  protocol: {{ $proto }}
{{- end }}
{{- end }}
{{- end -}}
