{{/* Wiring from outside the chart, one helper per concern: which values a component reads, its
ServiceAccount annotations, its envFrom. */}}

{{/* component name -> its top-level values key ("" for components configured under monitoring.*) */}}
{{- define "owp.valuesKey" -}}
{{- $keys := dict "openwebui" "openwebui" "lightllm" "lightllm" "graphrag-processor" "graphrag" "celery-worker" "celeryWorker" "celery-beat" "celeryBeat" "mcp-server" "mcp" "postgres" "postgres" "redis" "redis" "qdrant" "qdrant" "neo4j" "neo4j" "celery-exporter" "celeryExporter" "backup" "backup" -}}
{{- index $keys . | default "" -}}
{{- end -}}

{{/* (list $ "component") -> metadata annotations lines of its ServiceAccount, or nothing */}}
{{- define "owp.serviceAccountAnnotations" -}}
{{- $ := index . 0 -}}
{{- $key := include "owp.valuesKey" (index . 1) -}}
{{- $v := ternary (index $.Values $key) (dict) (ne $key "") -}}
{{- with (($v.serviceAccount | default dict).annotations) }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The component's extraEnvFrom as EnvFromSource list items (appended after the chart's own), or nothing: (component values) */}}
{{- define "owp.extraEnvFrom" -}}
{{- with .extraEnvFrom }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{/* The LLM API key as an EnvVarSource: the chart's owp-llm Secret or openwebui.llm.existingSecret */}}
{{- define "owp.llm.apiKeyRef" -}}
{{- $llm := .Values.openwebui.llm -}}
{{- if $llm.existingSecret -}}
{{- include "owp.secretRef" (list $llm.existingSecret $llm.existingSecretKey) -}}
{{- else -}}
{{- include "owp.secretRef" (list (include "owp.componentName" (list . "llm")) "api-key") -}}
{{- end -}}
{{- end -}}
