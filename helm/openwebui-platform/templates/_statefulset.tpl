{{/* A data store's headless + client Service pair: (list $ component ports) ports = list of dict name port */}}
{{- define "owp.storeServices" -}}
{{- $ := index . 0 -}}
{{- $c := index . 1 -}}
{{- $ports := index . 2 -}}
{{- $name := include "owp.componentName" (list $ $c) -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "owp.labels" (list $ $c) | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "owp.selectorLabels" (list $ $c) | nindent 4 }}
  ports:
    {{- range $ports }}
    - name: {{ .name }}
      port: {{ .port }}
      targetPort: {{ .name }}
      protocol: TCP
    {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}-headless
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "owp.labels" (list $ $c) | nindent 4 }}
    {{ include "owp.headlessLabelKey" $ }}: "true"
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector:
    {{- include "owp.selectorLabels" (list $ $c) | nindent 4 }}
  ports:
    {{- range $ports }}
    - name: {{ .name }}
      port: {{ .port }}
      targetPort: {{ .name }}
      protocol: TCP
    {{- end }}
{{- end -}}

{{/* volumeClaimTemplates entry: (list $ name persistence) */}}
{{- define "owp.volumeClaimTemplate" -}}
{{- $ := index . 0 -}}
{{- $p := index . 2 -}}
- metadata:
    name: {{ index . 1 }}
  spec:
    accessModes: [ReadWriteOnce]
    {{- with (default $.Values.global.storageClass $p.storageClass) }}
    storageClassName: {{ . }}
    {{- end }}
    resources:
      requests:
        storage: {{ $p.size }}
{{- end -}}
