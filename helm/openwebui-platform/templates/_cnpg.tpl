{{/* CloudNativePG: a Cluster (the chart's own, or one recovered from its backups beside it),
its object store and its ScheduledBackup. Backups and WAL go to backup.destination.s3 under
<url>/cnpg, one folder per Cluster name (serverName), with the kit's S3 endpoint and Secret. */}}

{{- define "owp.cnpg.backupEnabled" -}}
{{- $ := . -}}
{{- if $.Values.postgres.cnpg.backup.enabled -}}
{{- $d := $.Values.backup.destination -}}
{{- if or (ne $d.type "s3") (not $d.s3.url) (not $d.s3.existingSecret) -}}
{{- fail "postgres.cnpg.backup.enabled needs backup.destination.type=s3 with s3.url and s3.existingSecret (CloudNativePG backs up to an object store), or set postgres.cnpg.backup.enabled=false" -}}
{{- end -}}
true
{{- end -}}
{{- end -}}

{{/* barmanObjectStore of a Cluster: (list $ serverName) */}}
{{- define "owp.cnpg.objectStore" -}}
{{- $ := index . 0 -}}
{{- $s3 := $.Values.backup.destination.s3 -}}
destinationPath: {{ printf "%s/cnpg" (trimSuffix "/" $s3.url) | quote }}
{{- with $s3.endpoint }}
endpointURL: {{ . | quote }}
{{- end }}
serverName: {{ index . 1 | quote }}
s3Credentials:
  accessKeyId:
    name: {{ $s3.existingSecret }}
    key: {{ $s3.accessKeyIdKey }}
  secretAccessKey:
    name: {{ $s3.existingSecret }}
    key: {{ $s3.secretAccessKeyKey }}
wal:
  compression: gzip
data:
  compression: gzip
{{- end -}}

{{/* (dict "root" $ "name" clusterName ["recovery" $.Values.postgres.cnpg.recovery]) */}}
{{- define "owp.cnpg.cluster" -}}
{{- $ := .root -}}
{{- $v := $.Values.postgres -}}
{{- $rec := .recovery -}}
{{- $backup := include "owp.cnpg.backupEnabled" $ }}
---
# CloudNativePG (operator in helm/infra.yaml) runs an HA cluster: primary <name>-rw, Secret <name>-app.
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata:
  name: {{ .name }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "owp.labels" (list $ "postgres") | nindent 4 }}
spec:
  instances: {{ $v.cnpg.instances }}
  {{- $tag := regexFind "[:@][^/]+$" $v.cnpg.imageName }}
  imageName: {{ printf "%s%s" (include "owp.repository" (list $ (trimSuffix $tag $v.cnpg.imageName))) $tag | quote }}
  primaryUpdateStrategy: unsupervised
  enablePDB: true
  # on the pods too: the NetworkPolicies select every Cluster of the release, the running and a recovered one
  inheritedMetadata:
    labels:
      {{- include "owp.selectorLabels" (list $ "postgres") | nindent 6 }}
  bootstrap:
    {{- if $rec }}
    # recovered from the backups and WAL of {{ $rec.source }}; the running Cluster is never written to
    recovery:
      source: {{ $rec.source }}
      database: {{ $v.database | quote }}
      owner: {{ $v.user | quote }}
      {{- with $rec.targetTime }}
      recoveryTarget:
        targetTime: {{ . | quote }}
      {{- end }}
    {{- else }}
    initdb:
      database: {{ $v.database | quote }}
      owner: {{ $v.user | quote }}
    {{- end }}
  {{- if $rec }}
  externalClusters:
    - name: {{ $rec.source }}
      barmanObjectStore:
        {{- include "owp.cnpg.objectStore" (list $ $rec.source) | nindent 8 }}
  {{- end }}
  postgresql:
    parameters:
      archive_timeout: {{ $v.cnpg.backup.archiveTimeout | quote }}
      {{- include "owp.postgres.parameters" (list $ $v.cnpg.resources.limits.memory) | nindent 6 }}
  storage:
    size: {{ $v.cnpg.size }}
    {{- with (default $.Values.global.storageClass $v.cnpg.storageClass) }}
    storageClass: {{ . }}
    {{- end }}
  resources:
    {{- toYaml $v.cnpg.resources | nindent 4 }}
  {{- if $backup }}
  backup:
    retentionPolicy: {{ $v.cnpg.backup.retentionPolicy | quote }}
    barmanObjectStore:
      {{- include "owp.cnpg.objectStore" (list $ .name) | nindent 6 }}
---
apiVersion: postgresql.cnpg.io/v1
kind: ScheduledBackup
metadata:
  name: {{ .name }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "owp.labels" (list $ "postgres") | nindent 4 }}
spec:
  schedule: {{ $v.cnpg.backup.schedule | quote }}
  backupOwnerReference: self
  immediate: true
  method: barmanObjectStore
  cluster:
    name: {{ .name }}
  {{- end }}
{{- end -}}

{{/* A memory quantity (512Mi, 4Gi, 2G, 1073741824) -> whole MiB */}}
{{- define "owp.memMiB" -}}
{{- $q := toString . -}}
{{- $num := regexFind "^[0-9.]+" $q -}}
{{- $unit := trimPrefix $num $q -}}
{{- $f := dict "Ki" (divf 1 1024) "Mi" 1.0 "Gi" 1024.0 "Ti" 1048576.0 "k" (divf 1000 1048576) "M" (divf 1000000 1048576) "G" (divf 1000000000 1048576) "T" (divf 1000000000000 1048576) "" (divf 1 1048576) -}}
{{- if not (hasKey $f $unit) }}{{ fail (printf "memory limit %q: use a unit of Ki, Mi, Gi, Ti, k, M, G or T" $q) }}{{ end -}}
{{- mulf (float64 $num) (index $f $unit) | floor | int -}}
{{- end -}}

{{/* PostgreSQL settings from the server's memory limit, as compose sets them: (list $ memoryLimit) -> YAML map */}}
{{- define "owp.postgres.parameters" -}}
{{- $ := index . 0 -}}
{{- $mem := int (include "owp.memMiB" (index . 1)) -}}
max_connections: {{ $.Values.postgres.maxConnections | quote }}
shared_buffers: {{ printf "%dMB" (div $mem 4) | quote }}
effective_cache_size: {{ printf "%dMB" (div (mul $mem 3) 4) | quote }}
maintenance_work_mem: {{ printf "%dMB" (min 2048 (div $mem 16)) | quote }}
log_min_duration_statement: "1000"
{{- end -}}

{{/* Pods a component runs at most: its HPA maximum, or its replica count */}}
{{- define "owp.maxPods" -}}
{{- if .autoscaling.enabled }}{{ .autoscaling.maxReplicas }}{{ else }}{{ .replicas }}{{ end -}}
{{- end -}}

{{/* PgBouncer sizing from the replica and worker counts -> YAML {clients, maxClientConn, defaultPoolSize} */}}
{{- define "owp.pooler.sizing" -}}
{{- $v := .Values -}}
{{- $p := $v.postgres.cnpg.pooler -}}
{{- $clients := 0 -}}
{{- /* each client's own pool: SQLAlchemy's 5 + 10 overflow in Open WebUI, 10 in the GraphRAG API, 2 per Celery process */ -}}
{{- if $v.openwebui.enabled }}{{ $clients = add $clients (mul 15 (int (include "owp.maxPods" $v.openwebui))) }}{{ end -}}
{{- if $v.graphrag.enabled }}{{ $clients = add $clients (mul 10 (int (include "owp.maxPods" $v.graphrag))) }}{{ end -}}
{{- if $v.celeryWorker.enabled }}{{ $clients = add $clients (mul 2 (int $v.celeryWorker.concurrency) (int (include "owp.maxPods" $v.celeryWorker))) }}{{ end -}}
{{- $instances := int $p.instances -}}
{{- $serverMax := div (sub (int $v.postgres.maxConnections) 20) $instances -}}
{{- $maxClient := int $p.maxClientConn -}}
{{- if not $maxClient }}{{ $maxClient = max 100 (mul 2 $clients) }}{{ end -}}
{{- $pool := int $p.defaultPoolSize -}}
{{- if not $pool }}{{ $pool = min $serverMax (max 10 (div (add $clients (sub (mul 2 $instances) 1)) (mul 2 $instances))) }}{{ end -}}
{{- if gt $pool $serverMax -}}
{{- fail (printf "postgres.cnpg.pooler: %d PgBouncer pods x default_pool_size %d server connections exceed postgres.maxConnections %d less 20 reserved: raise postgres.maxConnections, or lower postgres.cnpg.pooler.defaultPoolSize or .instances" $instances $pool (int $v.postgres.maxConnections)) -}}
{{- end -}}
clients: {{ $clients }}
maxClientConn: {{ $maxClient }}
defaultPoolSize: {{ $pool }}
{{- end -}}
