{{/*
How the stateless workloads update (values: rollout). Rolling by default: RollingUpdate with
maxUnavailable 0, so no pod stops before its successor is ready. blueGreen and canary hand the
pods to an Argo Rollout that references the chart's Deployment (workloadRef), only where the
cluster serves argoproj.io/v1alpha1; elsewhere the Deployments keep rolling.
*/}}

{{/* component name -> its values key (the components a Rollout may drive) */}}
{{- define "owp.rollout.key" -}}
{{- get (dict "openwebui" "openwebui" "graphrag-processor" "graphrag" "mcp-server" "mcp") . -}}
{{- end -}}

{{/* (list $ component) -> "true" when an Argo Rollout drives the component's pods */}}
{{- define "owp.rollout.argo" -}}
{{- $ := index . 0 -}}
{{- $r := $.Values.rollout -}}
{{- $key := include "owp.rollout.key" (index . 1) -}}
{{- if and $key (has $r.strategy (list "blueGreen" "canary")) (has (index . 1) $r.components) (index $.Values $key).enabled ($.Capabilities.APIVersions.Has "argoproj.io/v1alpha1") -}}true{{- end -}}
{{- end -}}

{{/* (list $ component values) -> replicas line of the Deployment: 0 under a Rollout (Argo scales the pods), none under an HPA */}}
{{- define "owp.rollout.deploymentReplicas" -}}
{{- $v := index . 2 -}}
{{- if include "owp.rollout.argo" (list (index . 0) (index . 1)) -}}
# an Argo Rollout runs these pods (workloadRef): the Deployment is only their template
replicas: 0
{{- else if not $v.autoscaling.enabled -}}
replicas: {{ $v.replicas }}
{{- end -}}
{{- end -}}

{{/* RollingUpdate that never lowers the serving pods: (root) */}}
{{- define "owp.rollout.rolling" -}}
strategy:
  type: RollingUpdate
  rollingUpdate: { maxSurge: {{ .Values.rollout.maxSurge }}, maxUnavailable: 0 }
{{- end -}}

{{/* Open WebUI's data volume allows two pods at once: RWX, or no claim (S3 uploads, emptyDir) */}}
{{- define "owp.openwebui.canRoll" -}}
{{- $p := .Values.openwebui.persistence -}}
{{- if or (not $p.enabled) (eq $p.accessMode "ReadWriteMany") -}}true{{- end -}}
{{- end -}}

{{/* Labels of a Service that Argo points at one ReplicaSet (preview, canary): ServiceMonitors skip it */}}
{{- define "owp.rollout.roleLabelKey" -}}
openwebui-platform/rollout-service
{{- end -}}

{{/* The Services Argo needs beside the component's own (active / stable): (list $ component port) */}}
{{- define "owp.rollout.services" -}}
{{- $ := index . 0 -}}
{{- $c := index . 1 -}}
{{- $name := include "owp.componentName" (list $ $c) -}}
{{- if include "owp.rollout.argo" (list $ $c) }}
{{- $role := ternary "preview" "canary" (eq $.Values.rollout.strategy "blueGreen") }}
---
# {{ $role }}: Argo Rollouts adds the new ReplicaSet's rollouts-pod-template-hash to the selector
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}-{{ $role }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "owp.labels" (list $ $c) | nindent 4 }}
    {{ include "owp.rollout.roleLabelKey" $ }}: {{ $role }}
spec:
  type: ClusterIP
  selector:
    {{- include "owp.selectorLabels" (list $ $c) | nindent 4 }}
  ports:
    - name: http
      port: {{ index . 2 }}
      targetPort: http
      protocol: TCP
{{- end }}
{{- end -}}

{{/* Render-time refusals of upgrades that cannot roll (called from owp.validate) */}}
{{- define "owp.rollout.validate" -}}
{{- $v := .Values -}}
{{- $r := $v.rollout -}}
{{- $ow := $v.openwebui -}}
{{- if and $ow.enabled (not (include "owp.openwebui.canRoll" .)) -}}
  {{- if and (has $r.strategy (list "blueGreen" "canary")) (has "openwebui" $r.components) -}}
    {{- fail (printf "rollout.strategy=%s runs the old and the new Open WebUI pods at once, but openwebui.persistence.accessMode=%s attaches its volume to one node only: set openwebui.persistence.accessMode=ReadWriteMany, or openwebui.persistence.enabled=false with openwebui.storage.provider=s3 (and postgres.enabled=true), or drop openwebui from rollout.components" $r.strategy $ow.persistence.accessMode) -}}
  {{- end -}}
  {{- if not $r.recreateOnReadWriteOnce -}}
    {{- fail (printf "rollout.recreateOnReadWriteOnce=false refuses an Open WebUI that cannot roll: openwebui.persistence.accessMode=%s cannot hold the old and the new pod at once (a RollingUpdate would hang on the volume). Set openwebui.persistence.accessMode=ReadWriteMany, or openwebui.persistence.enabled=false with openwebui.storage.provider=s3, or rollout.recreateOnReadWriteOnce=true to accept an outage per upgrade" $ow.persistence.accessMode) -}}
  {{- end -}}
{{- end -}}
{{- if and (eq $r.strategy "canary") (eq $r.canary.trafficRouting "gatewayAPI") (not $v.gatewayAPI.enabled) -}}
  {{- fail "rollout.canary.trafficRouting=gatewayAPI moves HTTPRoute weights, but gatewayAPI.enabled=false renders no HTTPRoute: set gatewayAPI.enabled=true, or rollout.canary.trafficRouting=replicas" -}}
{{- end -}}
{{- if and (has $r.strategy (list "blueGreen" "canary")) $r.analysis.enabled (not $v.monitoring.prometheusRule.enabled) -}}
  {{- fail "rollout.analysis.enabled queries the kit's recording rules (job:http_requests_errors:ratio_rate5m ...), which monitoring.prometheusRule renders: set monitoring.prometheusRule.enabled=true (with kube-prometheus-stack from helm/infra.yaml), or rollout.analysis.enabled=false" -}}
{{- end -}}
{{- end -}}
