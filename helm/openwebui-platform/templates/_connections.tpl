{{/* Where each data store is and which Secret holds its credential, whatever its mode. */}}

{{/* The CloudNativePG Cluster the applications use: the chart's own, or a recovered one once switched to. */}}
{{- define "owp.postgres.cnpgName" -}}
{{- $rec := .Values.postgres.cnpg.recovery -}}
{{- if and $rec.name $rec.active -}}{{ $rec.name }}{{- else -}}{{ include "owp.componentName" (list . "postgres") }}{{- end -}}
{{- end -}}

{{/* The CloudNativePG Pooler's Service: one name whichever Cluster is active */}}
{{- define "owp.postgres.poolerName" -}}{{ include "owp.componentName" (list . "postgres") }}-pooler-rw{{- end -}}

{{- define "owp.postgres.host" -}}
{{- if eq .Values.postgres.mode "external" -}}{{ .Values.postgres.external.host }}
{{- else if and (eq .Values.postgres.mode "cnpg") .Values.postgres.cnpg.pooler.enabled -}}{{ include "owp.postgres.poolerName" . }}
{{- else if eq .Values.postgres.mode "cnpg" -}}{{ include "owp.postgres.cnpgName" . }}-rw
{{- else -}}{{ include "owp.componentName" (list . "postgres") }}
{{- end -}}
{{- end -}}

{{- define "owp.postgres.port" -}}
{{- if eq .Values.postgres.mode "external" -}}{{ .Values.postgres.external.port }}{{- else -}}5432{{- end -}}
{{- end -}}

{{- define "owp.postgres.secretName" -}}
{{- if eq .Values.postgres.mode "cnpg" -}}{{ include "owp.postgres.cnpgName" . }}-app
{{- else -}}{{ default (include "owp.componentName" (list . "postgres")) .Values.postgres.existingSecret }}
{{- end -}}
{{- end -}}

{{/* libpq URL; $(POSTGRES_PASSWORD) is expanded by the kubelet from the env var defined before it. */}}
{{- define "owp.postgres.url" -}}
{{- $q := "" -}}
{{- if eq .Values.postgres.mode "external" }}{{ $q = printf "?sslmode=%s" .Values.postgres.external.sslMode }}{{ end -}}
postgresql://{{ .Values.postgres.user }}:$(POSTGRES_PASSWORD)@{{ include "owp.postgres.host" . }}:{{ include "owp.postgres.port" . }}/{{ .Values.postgres.database }}{{ $q }}
{{- end -}}

{{- define "owp.redis.host" -}}
{{- if eq .Values.redis.mode "external" -}}{{ .Values.redis.external.host }}{{- else -}}{{ include "owp.componentName" (list . "redis") }}{{- end -}}
{{- end -}}

{{- define "owp.redis.port" -}}
{{- if eq .Values.redis.mode "external" -}}{{ .Values.redis.external.port }}{{- else -}}6379{{- end -}}
{{- end -}}

{{- define "owp.redis.secretName" -}}
{{- default (include "owp.componentName" (list . "redis")) .Values.redis.existingSecret -}}
{{- end -}}

{{/* (list $ db) -> redis URL with $(REDIS_PASSWORD) */}}
{{- define "owp.redis.url" -}}
{{- $ := index . 0 -}}
{{- $scheme := ternary "rediss" "redis" (and (eq $.Values.redis.mode "external") $.Values.redis.external.tls) -}}
{{ $scheme }}://:$(REDIS_PASSWORD)@{{ include "owp.redis.host" $ }}:{{ include "owp.redis.port" $ }}/{{ index . 1 }}
{{- end -}}

{{- define "owp.qdrant.url" -}}
{{- if eq .Values.qdrant.mode "external" -}}
{{ ternary "https" "http" .Values.qdrant.external.tls }}://{{ .Values.qdrant.external.host }}:{{ .Values.qdrant.external.port }}
{{- else -}}
http://{{ include "owp.componentName" (list . "qdrant") }}:6333
{{- end -}}
{{- end -}}

{{- define "owp.qdrant.secretName" -}}
{{- default (include "owp.componentName" (list . "qdrant")) .Values.qdrant.existingSecret -}}
{{- end -}}

{{- define "owp.neo4j.url" -}}
{{- if eq .Values.neo4j.mode "external" -}}
{{ ternary "neo4j+s" "bolt" .Values.neo4j.external.tls }}://{{ .Values.neo4j.external.host }}:{{ .Values.neo4j.external.port }}
{{- else -}}
bolt://{{ include "owp.componentName" (list . "neo4j") }}:7687
{{- end -}}
{{- end -}}

{{- define "owp.neo4j.secretName" -}}
{{- default (include "owp.componentName" (list . "neo4j")) .Values.neo4j.existingSecret -}}
{{- end -}}

{{- define "owp.graphrag.secretName" -}}
{{- default (include "owp.componentName" (list . "graphrag-processor")) .Values.graphrag.existingSecret -}}
{{- end -}}

{{- define "owp.openwebui.secretName" -}}
{{- default (include "owp.componentName" (list . "openwebui")) .Values.openwebui.existingSecret -}}
{{- end -}}

{{/* OpenAI-compatible base URL Open WebUI and GraphRAG use. */}}
{{- define "owp.llm.baseUrl" -}}
{{- if .Values.openwebui.llm.baseUrl -}}{{ .Values.openwebui.llm.baseUrl }}
{{- else -}}http://{{ include "owp.componentName" (list . "lightllm") }}:{{ .Values.lightllm.port }}/v1
{{- end -}}
{{- end -}}

{{/* (list secretName key) -> valueFrom block */}}
{{- define "owp.secretRef" -}}
valueFrom:
  secretKeyRef:
    name: {{ index . 0 }}
    key: {{ index . 1 }}
{{- end -}}

{{/* Credential env vars of the enabled stores, defined before the URLs that expand them. */}}
{{- define "owp.storeCredentialEnv" -}}
{{- if .Values.postgres.enabled }}
- name: POSTGRES_PASSWORD
  {{- include "owp.secretRef" (list (include "owp.postgres.secretName" .) "password") | nindent 2 }}
{{- end }}
{{- if .Values.redis.enabled }}
- name: REDIS_PASSWORD
  {{- include "owp.secretRef" (list (include "owp.redis.secretName" .) "password") | nindent 2 }}
{{- end }}
{{- if .Values.qdrant.enabled }}
- name: QDRANT_API_KEY
  {{- include "owp.secretRef" (list (include "owp.qdrant.secretName" .) "api-key") | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Environment of the GraphRAG API, Celery worker and beat (one image, one contract). */}}
{{- define "owp.graphrag.env" -}}
{{- include "owp.storeCredentialEnv" . }}
- name: NEO4J_PASSWORD
  {{- include "owp.secretRef" (list (include "owp.neo4j.secretName" .) "password") | nindent 2 }}
- name: GRAPHRAG_API_KEY
  {{- include "owp.secretRef" (list (include "owp.graphrag.secretName" .) "api-key") | nindent 2 }}
- name: OPENAI_API_KEY
  {{- include "owp.llm.apiKeyRef" . | nindent 2 }}
- name: DATABASE_URL
  value: {{ include "owp.postgres.url" . | quote }}
- name: REDIS_URL
  value: {{ include "owp.redis.url" (list . 2) | quote }}
- name: CELERY_BROKER_URL
  value: {{ include "owp.redis.url" (list . 1) | quote }}
- name: CELERY_RESULT_BACKEND
  value: {{ include "owp.redis.url" (list . 2) | quote }}
{{- end -}}

{{- define "owp.tls.secretName" -}}
{{- default (printf "%s-tls" (include "owp.fullname" .)) .Values.tls.secretName -}}
{{- end -}}

{{/* Stores the backup CronJobs cover: the enabled internal ones (external and CloudNativePG stores have their own backups). */}}
{{- define "owp.backup.stores" -}}
{{- if .Values.backup.enabled -}}
{{- $s := list -}}
{{- range $store := list "postgres" "redis" "qdrant" "neo4j" -}}
{{- $v := index $.Values $store -}}
{{- if and $v.enabled (eq $v.mode "internal") }}{{ $s = append $s $store }}{{ end -}}
{{- end -}}
{{- if $s }}{{ toYaml $s }}{{ end -}}
{{- end -}}
{{- end -}}

{{- define "owp.publicUrl" -}}
{{ ternary "https" "http" .Values.tls.enabled }}://{{ .Values.global.domain }}
{{- end -}}

{{/* /var/lib/graphrag of the GraphRAG API and workers: the shared RWX claim, or an emptyDir per pod. */}}
{{- define "owp.graphrag.dataVolume" -}}
- name: data
{{- if .Values.graphrag.sharedData.enabled }}
  persistentVolumeClaim:
    claimName: {{ include "owp.componentName" (list . "graphrag-processor") }}-data
{{- else }}
  emptyDir:
    sizeLimit: 10Gi
{{- end }}
{{- end -}}
