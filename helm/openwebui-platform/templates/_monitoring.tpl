{{/*
The monitoring side of the release, as data: which in-chart helpers run (OpenTelemetry collector,
blackbox exporter, Pushgateway), what Prometheus scrapes and which job name each target gets, and
what the blackbox exporter probes. The job names and probe labels are those of the compose scrape
config (config/prometheus/prometheus.prod.yml): the rules of files/monitoring/rules match on them.
*/}}

{{/* "true" when monitoring.coreos.com/v1 (ServiceMonitor, PodMonitor, Probe, PrometheusRule) is served. */}}
{{- define "owp.monitoring.operator" -}}
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" -}}true{{- end -}}
{{- end -}}

{{/* "true" when the chart runs the OpenTelemetry collector Open WebUI pushes OTLP to. */}}
{{- define "owp.otelCollector.enabled" -}}
{{- $ow := .Values.openwebui -}}
{{- if and $ow.enabled $ow.otel.enabled (not $ow.otel.endpoint) .Values.monitoring.otelCollector.enabled -}}true{{- end -}}
{{- end -}}

{{/* OTEL_EXPORTER_OTLP_ENDPOINT of Open WebUI: the value, else the chart's collector (gRPC 4317). */}}
{{- define "owp.otel.endpoint" -}}
{{- if .Values.openwebui.otel.endpoint -}}
{{- .Values.openwebui.otel.endpoint -}}
{{- else -}}
{{- printf "http://%s:4317" (include "owp.componentName" (list . "otel-collector")) -}}
{{- end -}}
{{- end -}}

{{/* What the blackbox exporter probes, as a YAML list of {job, module, component, url, port, to}. */}}
{{- define "owp.probes" -}}
{{- $v := .Values -}}
{{- $ns := .Release.Namespace -}}
{{- $svc := dict -}}
{{- range $c := list "openwebui" "lightllm" "graphrag-processor" "mcp-server" "qdrant" "neo4j" -}}
{{- $_ := set $svc $c (printf "%s.%s.svc" (include "owp.componentName" (list $ $c)) $ns) -}}
{{- end -}}
{{- $probes := list -}}
{{- $http := dict "job" "blackbox-http" "module" "http_2xx" -}}
{{- if $v.openwebui.enabled }}{{ $probes = append $probes (merge (dict "component" "openwebui" "url" (printf "http://%s:%v/health" $svc.openwebui $v.openwebui.service.port) "port" 8080) $http) }}{{ end -}}
{{- if $v.lightllm.enabled }}{{ $probes = append $probes (merge (dict "component" "lightllm" "url" (printf "http://%s:%v/health" $svc.lightllm $v.lightllm.port) "port" (int $v.lightllm.port)) $http) }}{{ end -}}
{{- if $v.graphrag.enabled }}{{ $probes = append $probes (merge (dict "component" "graphrag-processor" "url" (printf "http://%s:%v/health" (index $svc "graphrag-processor") $v.graphrag.port) "port" (int $v.graphrag.port)) $http) }}{{ end -}}
{{- if $v.mcp.enabled }}{{ $probes = append $probes (merge (dict "component" "mcp-server" "url" (printf "http://%s:%v/health" (index $svc "mcp-server") $v.mcp.port) "port" (int $v.mcp.port)) $http) }}{{ end -}}
{{- if and $v.qdrant.enabled (eq $v.qdrant.mode "internal") }}{{ $probes = append $probes (merge (dict "component" "qdrant" "url" (printf "http://%s:6333/readyz" $svc.qdrant) "port" 6333) $http) }}{{ end -}}
{{- if and $v.neo4j.enabled (eq $v.neo4j.mode "internal") }}
  {{- $probes = append $probes (merge (dict "component" "neo4j" "url" (printf "http://%s:7474/" $svc.neo4j) "port" 7474) $http) }}
  {{- $probes = append $probes (dict "job" "blackbox-tcp" "module" "tcp_connect" "component" "neo4j" "url" (printf "%s:7687" $svc.neo4j) "port" 7687) }}
{{- end -}}
{{- if and $v.monitoring.blackboxExporter.probeTLS $v.tls.enabled (or $v.ingress.enabled $v.gatewayAPI.enabled) }}
  {{- $probes = append $probes (dict "job" "blackbox-tls" "module" "https_cert" "component" "ingress" "url" (printf "https://%s/" $v.global.domain) "port" 443 "to" "external") }}
{{- end -}}
{{- toYaml $probes -}}
{{- end -}}

{{/* "true" when the chart runs the blackbox exporter (and renders Probe objects for it). */}}
{{- define "owp.blackbox.enabled" -}}
{{- if and .Values.monitoring.blackboxExporter.enabled (include "owp.monitoring.operator" .) (include "owp.probes" . | fromYamlArray) -}}true{{- end -}}
{{- end -}}

{{/* "true" when the chart runs the Pushgateway the backup CronJobs push their metrics to. */}}
{{- define "owp.pushgateway.enabled" -}}
{{- if and .Values.monitoring.pushgateway.enabled (include "owp.monitoring.operator" .) (include "owp.backup.stores" .) -}}true{{- end -}}
{{- end -}}

{{/* BACKUP_PUSHGATEWAY_URL of the backup CronJobs. */}}
{{- define "owp.pushgateway.url" -}}
{{- printf "http://%s:9091" (include "owp.componentName" (list . "pushgateway")) -}}
{{- end -}}

{{/*
Scrape targets of the ServiceMonitors, as a YAML list of {c, port, job, bearer?, honorLabels?}:
c selects the component's Service, job is the job label Prometheus gives its series.
*/}}
{{- define "owp.scrapeTargets" -}}
{{- $v := .Values -}}
{{- $t := list -}}
{{- if $v.lightllm.enabled }}{{ $t = append $t (dict "c" "lightllm" "port" "http" "job" "lightllm") }}{{ end -}}
{{- if $v.graphrag.enabled }}{{ $t = append $t (dict "c" "graphrag-processor" "port" "http" "job" "graphrag-processor") }}{{ end -}}
{{- if $v.mcp.enabled }}{{ $t = append $t (dict "c" "mcp-server" "port" "http" "job" "mcp-server") }}{{ end -}}
{{- if and $v.qdrant.enabled (eq $v.qdrant.mode "internal") }}{{ $t = append $t (dict "c" "qdrant" "port" "http" "job" "qdrant" "bearer" (include "owp.qdrant.secretName" .)) }}{{ end -}}
{{- if and $v.postgres.enabled (eq $v.postgres.mode "internal") $v.postgres.metrics.enabled }}{{ $t = append $t (dict "c" "postgres" "port" "metrics" "job" "postgres") }}{{ end -}}
{{- if and $v.redis.enabled (eq $v.redis.mode "internal") $v.redis.metrics.enabled }}{{ $t = append $t (dict "c" "redis" "port" "metrics" "job" "redis") }}{{ end -}}
{{- if and $v.celeryExporter.enabled $v.celeryWorker.enabled }}{{ $t = append $t (dict "c" "celery-exporter" "port" "metrics" "job" "celery-exporter") }}{{ end -}}
{{- /* Open WebUI's OTLP metrics, served by the collector's prometheus exporter */ -}}
{{- if include "owp.otelCollector.enabled" . }}{{ $t = append $t (dict "c" "otel-collector" "port" "metrics" "job" "openwebui") }}{{ end -}}
{{- if include "owp.blackbox.enabled" . }}{{ $t = append $t (dict "c" "blackbox-exporter" "port" "http" "job" "blackbox-exporter") }}{{ end -}}
{{- /* pushed series keep the job and store the backup job gave them */ -}}
{{- if include "owp.pushgateway.enabled" . }}{{ $t = append $t (dict "c" "pushgateway" "port" "http" "job" "pushgateway" "honorLabels" true) }}{{ end -}}
{{- toYaml $t -}}
{{- end -}}

{{/* Label that tells a headless Service apart, so that a ServiceMonitor never scrapes a pod twice. */}}
{{- define "owp.headlessLabelKey" -}}
openwebui-platform/headless
{{- end -}}

{{/* Labels of every monitoring.coreos.com object: the chart's, plus monitoring.labels (release: ...). */}}
{{- define "owp.monitoring.labels" -}}
{{- $ := index . 0 -}}
{{ include "owp.labels" . }}
{{- with $.Values.monitoring.labels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Alertmanager matcher strings (name="value", name=~"a|b") -> AlertmanagerConfig matchers */}}
{{- define "owp.amcfg.matchers" -}}
{{- $re := "^([A-Za-z_][A-Za-z0-9_]*)(=~|!~|!=|=)\"(.*)\"$" -}}
{{- range $m := . }}
{{- if not (regexMatch $re $m) }}{{ fail (printf "config/alertmanager/alertmanager.yml: matcher %q is not name<op>\"value\"" $m) }}{{ end }}
- name: {{ regexReplaceAll $re $m "${1}" }}
  matchType: {{ regexReplaceAll $re $m "${2}" | quote }}
  value: {{ regexReplaceAll $re $m "${3}" | quote }}
{{- end }}
{{- end -}}
