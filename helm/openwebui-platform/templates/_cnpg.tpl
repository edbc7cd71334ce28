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
    key: access-key-id
  secretAccessKey:
    name: {{ $s3.existingSecret }}
    key: secret-access-key
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
