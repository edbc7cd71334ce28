{{/* Corporate networks and air-gapped sites (global.caBundle, global.proxy, global.airGapped):
what every component that calls out over TLS or HTTP is given. */}}

{{- define "owp.ca.path" -}}/etc/owp/ca/ca-bundle.crt{{- end -}}

{{/* Host names that must never go through the proxy: loopback, the cluster's domains and every
Service of the release (clients use their short names), then global.proxy.noProxy. */}}
{{- define "owp.noProxy" -}}
{{- $names := list "localhost" "127.0.0.1" ".svc" ".svc.cluster.local" ".cluster.local" -}}
{{- range $c := include "owp.netpol.components" . | fromYamlArray }}{{ $names = append $names (include "owp.componentName" (list $ $c)) }}{{ end -}}
{{- if eq .Values.postgres.mode "cnpg" }}{{ $names = append $names (printf "%s-rw" (include "owp.componentName" (list . "postgres"))) }}{{ end -}}
{{- with .Values.global.proxy.noProxy }}{{ $names = concat $names (splitList "," . | compact) }}{{ end -}}
{{- join "," (uniq $names) -}}
{{- end -}}

{{/* EnvVars: the CA bundle for Python (requests, ssl), curl and Node, the proxy, offline model hubs. */}}
{{- define "owp.outboundEnv" -}}
{{- $g := .Values.global -}}
{{- if $g.caBundle.configMap }}
- name: SSL_CERT_FILE
  value: {{ include "owp.ca.path" . }}
- name: REQUESTS_CA_BUNDLE
  value: {{ include "owp.ca.path" . }}
- name: CURL_CA_BUNDLE
  value: {{ include "owp.ca.path" . }}
- name: NODE_EXTRA_CA_CERTS
  value: {{ include "owp.ca.path" . }}
{{- end }}
{{- if or $g.proxy.httpProxy $g.proxy.httpsProxy }}
{{- range $n := list "HTTP_PROXY" "http_proxy" }}
- name: {{ $n }}
  value: {{ $g.proxy.httpProxy | quote }}
{{- end }}
{{- range $n := list "HTTPS_PROXY" "https_proxy" }}
- name: {{ $n }}
  value: {{ $g.proxy.httpsProxy | quote }}
{{- end }}
{{- $np := include "owp.noProxy" . }}
{{- range $n := list "NO_PROXY" "no_proxy" }}
- name: {{ $n }}
  value: {{ $np | quote }}
{{- end }}
{{- end }}
{{- if $g.airGapped }}
- name: HF_HUB_OFFLINE
  value: "1"
- name: TRANSFORMERS_OFFLINE
  value: "1"
{{- end }}
{{- end -}}

{{- define "owp.ca.volumeMount" -}}
{{- if .Values.global.caBundle.configMap }}
- name: ca-bundle
  mountPath: /etc/owp/ca
  readOnly: true
{{- end }}
{{- end -}}

{{- define "owp.ca.volume" -}}
{{- with .Values.global.caBundle }}{{ if .configMap }}
- name: ca-bundle
  configMap:
    name: {{ .configMap }}
    items:
      - key: {{ .key }}
        path: ca-bundle.crt
{{- end }}{{ end }}
{{- end -}}

{{/* Proxy port(s) for the egress NetworkPolicy */}}
{{- define "owp.proxyPorts" -}}
{{- $ports := list -}}
{{- range $u := list .Values.global.proxy.httpProxy .Values.global.proxy.httpsProxy }}{{ if $u }}{{ $ports = append $ports (int (include "owp.urlPort" $u)) }}{{ end }}{{ end -}}
{{- toYaml (uniq $ports) -}}
{{- end -}}
