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

{{/* Extra pod labels (component values): never the selector's or the chart's own keys. */}}
{{- define "owp.podLabels" -}}
{{- with .podLabels }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{/* Extra pod annotations (component values), after the chart's checksum/* annotations. */}}
{{- define "owp.podAnnotations" -}}
{{- with omit (.podAnnotations | default dict) "checksum/secrets" "checksum/config" }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{/* (list $ repository) -> the repository under global.imageRegistry: the registry host is
replaced, the path kept (postgres -> mirror/postgres, ghcr.io/a/b -> mirror/a/b). scripts/lib/stack/mirror.ts maps the same way. */}}
{{- define "owp.repository" -}}
{{- $ := index . 0 -}}
{{- $repo := index . 1 -}}
{{- with $.Values.global.imageRegistry -}}
{{- $parts := splitList "/" $repo -}}
{{- $host := first $parts -}}
{{- if and (gt (len $parts) 1) (or (contains "." $host) (contains ":" $host) (eq $host "localhost")) }}{{ $parts = rest $parts }}{{ end -}}
{{- printf "%s/%s" (trimSuffix "/" .) (join "/" $parts) -}}
{{- else -}}
{{- $repo -}}
{{- end -}}
{{- end -}}

{{/* Pod-spec lines of the extension points: (list $ component-values) */}}
{{- define "owp.podExtras" -}}
{{- $ := index . 0 -}}
{{- $v := index . 1 -}}
{{- with ($v.priorityClassName | default $.Values.global.priorityClassName) }}
priorityClassName: {{ . }}
{{- end }}
{{- with $v.extraInitContainers }}
initContainers:
{{- range . }}
  - {{- toYaml (omit . "securityContext") | nindent 4 }}
    securityContext:
      {{- include "owp.containerSecurityContext" .securityContext | nindent 6 }}
{{- end }}
{{- end }}
{{- end -}}

{{/* VerticalPodAutoscaler in recommendation mode for one workload: (list $ "component" "Deployment|StatefulSet" name) */}}
{{- define "owp.vpa" -}}
{{- $ := index . 0 -}}
{{- $vpa := $.Values.verticalPodAutoscaler -}}
{{- if and $vpa.enabled ($.Capabilities.APIVersions.Has "autoscaling.k8s.io/v1") }}
---
apiVersion: autoscaling.k8s.io/v1
kind: VerticalPodAutoscaler
metadata:
  name: {{ index . 3 }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "owp.labels" (list $ (index . 1)) | nindent 4 }}
spec:
  targetRef:
    apiVersion: apps/v1
    kind: {{ index . 2 }}
    name: {{ index . 3 }}
  # Off: the recommender publishes targets in .status; nothing evicts or resizes a pod.
  updatePolicy:
    updateMode: "Off"
  resourcePolicy:
    containerPolicies:
      - containerName: "*"
        controlledResources: {{ toJson $vpa.controlledResources }}
{{- end }}
{{- end -}}
