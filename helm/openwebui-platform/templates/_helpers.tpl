{{/* Names, labels, images and security contexts: the one place every template takes them from. */}}

{{- define "owp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Prefix of every object: the release name (owp -> owp-openwebui), short enough for suffixes. */}}
{{- define "owp.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* (list $ "component") -> <fullname>-<component> */}}
{{- define "owp.componentName" -}}
{{- printf "%s-%s" (include "owp.fullname" (index . 0)) (index . 1) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "owp.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* (list $ "component") -> the labels selectors use (never helm.sh/chart or version). */}}
{{- define "owp.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: {{ include "owp.name" $ }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* (list $ "component") -> every label of an object of that component. */}}
{{- define "owp.labels" -}}
{{- $ := index . 0 -}}
helm.sh/chart: {{ include "owp.chart" $ }}
{{ include "owp.selectorLabels" . }}
app.kubernetes.io/version: {{ $.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $.Release.Service }}
app.kubernetes.io/part-of: openwebui-platform
{{- with $.Values.global.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels that select every pod of this release (default-deny NetworkPolicy). */}}
{{- define "owp.releasePodLabels" -}}
app.kubernetes.io/name: {{ include "owp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* image dict -> repository:tag, or repository:tag@digest when a digest pins it. */}}
{{- define "owp.image" -}}
{{- if .digest -}}
{{- printf "%s:%s@%s" .repository (toString .tag) .digest -}}
{{- else -}}
{{- printf "%s:%s" .repository (toString .tag) -}}
{{- end -}}
{{- end -}}

{{/* Container image lines: (list $ image-dict); global.imageRegistry applies */}}
{{- define "owp.imageLines" -}}
{{- $img := index . 1 -}}
image: {{ include "owp.image" (merge (dict "repository" (include "owp.repository" (list (index . 0) $img.repository))) $img) | quote }}
imagePullPolicy: {{ $img.pullPolicy }}
{{- end -}}

{{/* Pod security context: PSS restricted base + the component's user/group values. */}}
{{- define "owp.podSecurityContext" -}}
{{- $base := dict "runAsNonRoot" true "seccompProfile" (dict "type" "RuntimeDefault") "fsGroupChangePolicy" "OnRootMismatch" -}}
{{- toYaml (mustMergeOverwrite $base (deepCopy (default (dict) .))) -}}
{{- end -}}

{{/* Container security context: PSS restricted on every container; values may only tighten or pick the user. */}}
{{- define "owp.containerSecurityContext" -}}
{{- $base := dict "runAsNonRoot" true "allowPrivilegeEscalation" false "privileged" false "readOnlyRootFilesystem" true "capabilities" (dict "drop" (list "ALL")) "seccompProfile" (dict "type" "RuntimeDefault") -}}
{{- toYaml (mustMergeOverwrite $base (deepCopy (default (dict) .))) -}}
{{- end -}}

{{/* Pod-level lines shared by every workload: (list $ component-values) */}}
{{- define "owp.podCommon" -}}
{{- $ := index . 0 -}}
{{- $v := index . 1 -}}
automountServiceAccountToken: false
{{- with concat ($.Values.global.imagePullSecrets | default list) ($v.imagePullSecrets | default list) | uniq }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- include "owp.podExtras" (list $ $v) }}
securityContext:
  {{- include "owp.podSecurityContext" $v.podSecurityContext | nindent 2 }}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* topologySpreadConstraints with the component's selector filled in: (list $ component values) */}}
{{- define "owp.topologySpread" -}}
{{- $ := index . 0 -}}
{{- $component := index . 1 -}}
{{- $v := index . 2 -}}
{{- with $v.topologySpreadConstraints -}}
topologySpreadConstraints:
{{- range . }}
  - {{- toYaml (omit . "labelSelector") | nindent 4 }}
    labelSelector:
      {{- if .labelSelector }}
      {{- toYaml .labelSelector | nindent 6 }}
      {{- else }}
      matchLabels:
        {{- include "owp.selectorLabels" (list $ $component) | nindent 8 }}
      {{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* ServiceAccount of a component: (list $ "component") */}}
{{- define "owp.serviceAccount" -}}
{{- $ := index . 0 -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "owp.componentName" . }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "owp.labels" . | nindent 4 }}
  {{- include "owp.serviceAccountAnnotations" . | nindent 2 }}
automountServiceAccountToken: false
{{- end -}}

{{/* A writable /tmp for read-only root filesystems. */}}
{{- define "owp.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 1Gi
{{- end -}}

{{/* True when a workload runs more than one pod (PDB needed): (component values) */}}
{{- define "owp.multiReplica" -}}
{{- if or .autoscaling.enabled (gt (int .replicas) 1) -}}true{{- end -}}
{{- end -}}

{{/* Checksum annotations so pods roll when their Secret or ConfigMap changes. */}}
{{- define "owp.checksums" -}}
checksum/secrets: {{ include (print .Template.BasePath "/secrets.yaml") . | sha256sum }}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- end -}}

{{/* port of a URL: explicit, else 443 for https and 80 for http */}}
{{- define "owp.urlPort" -}}
{{- $u := urlParse . -}}
{{- $hostport := splitList ":" $u.host -}}
{{- if gt (len $hostport) 1 -}}{{ last $hostport }}{{- else if eq $u.scheme "https" -}}443{{- else -}}80{{- end -}}
{{- end -}}
