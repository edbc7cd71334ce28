{{/* HPA (autoscaling/v2, with behavior) and PDB of a workload: (list $ component values kind) */}}
{{- define "owp.hpaAndPdb" -}}
{{- $ := index . 0 -}}
{{- $c := index . 1 -}}
{{- $v := index . 2 -}}
{{- $name := include "owp.componentName" (list $ $c) -}}
{{- if $v.autoscaling.enabled }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $name }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "owp.labels" (list $ $c) | nindent 4 }}
spec:
  scaleTargetRef:
    {{- if include "owp.rollout.argo" (list $ $c) }}
    # the Rollout owns the pods (its Deployment stays at 0)
    apiVersion: argoproj.io/v1alpha1
    kind: Rollout
    {{- else }}
    apiVersion: apps/v1
    kind: {{ index . 3 }}
    {{- end }}
    name: {{ $name }}
  minReplicas: {{ $v.autoscaling.minReplicas }}
  maxReplicas: {{ $v.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $v.autoscaling.targetCPUUtilizationPercentage }}
    {{- if $v.autoscaling.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ $v.autoscaling.targetMemoryUtilizationPercentage }}
    {{- end }}
  {{- with $v.autoscaling.behavior }}
  behavior:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- if include "owp.multiReplica" $v }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $name }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "owp.labels" (list $ $c) | nindent 4 }}
spec:
  maxUnavailable: {{ $v.pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "owp.selectorLabels" (list $ $c) | nindent 6 }}
{{- end }}
{{- end -}}
