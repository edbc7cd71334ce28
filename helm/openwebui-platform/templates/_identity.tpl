{{/* Identity of Open WebUI users: OIDC login and trusted-header authentication (openwebui.sso). */}}

{{/* EnvVars of openwebui.sso. The switches are always set so that values, not what an earlier start
saved in the database, decide (ENABLE_OAUTH_PERSISTENT_CONFIG=false). */}}
{{- define "owp.openwebui.identityEnv" -}}
{{- $sso := .Values.openwebui.sso -}}
{{- $oidc := $sso.oidc -}}
- name: ENABLE_LOGIN_FORM
  value: {{ $sso.loginForm | quote }}
- name: ENABLE_OAUTH_PERSISTENT_CONFIG
  value: "false"
- name: ENABLE_OAUTH_SIGNUP
  value: {{ and $oidc.enabled $oidc.signup | quote }}
- name: OAUTH_MERGE_ACCOUNTS_BY_EMAIL
  value: {{ and $oidc.enabled $oidc.mergeAccountsByEmail | quote }}
- name: ENABLE_OAUTH_ROLE_MANAGEMENT
  value: {{ and $oidc.enabled $oidc.roleManagement.enabled | quote }}
- name: ENABLE_OAUTH_GROUP_MANAGEMENT
  value: {{ and $oidc.enabled $oidc.groupManagement.enabled | quote }}
- name: ENABLE_OAUTH_GROUP_CREATION
  value: {{ and $oidc.enabled $oidc.groupManagement.enabled $oidc.groupManagement.createGroups | quote }}
{{- if $oidc.enabled }}
- name: OPENID_PROVIDER_URL
  value: {{ $oidc.providerUrl | quote }}
- name: OAUTH_PROVIDER_NAME
  value: {{ $oidc.providerName | quote }}
- name: OAUTH_CLIENT_ID
  value: {{ $oidc.clientId | quote }}
- name: OAUTH_CLIENT_SECRET
  {{- include "owp.secretRef" (list $oidc.existingSecret $oidc.clientSecretKey) | nindent 2 }}
- name: OAUTH_SCOPES
  value: {{ $oidc.scopes | quote }}
- name: OPENID_REDIRECT_URI
  value: {{ printf "%s/oauth/oidc/callback" (include "owp.publicUrl" .) | quote }}
- name: OAUTH_ROLES_CLAIM
  value: {{ $oidc.roleManagement.rolesClaim | quote }}
- name: OAUTH_ALLOWED_ROLES
  value: {{ $oidc.roleManagement.allowedRoles | quote }}
- name: OAUTH_ADMIN_ROLES
  value: {{ $oidc.roleManagement.adminRoles | quote }}
- name: OAUTH_GROUP_CLAIM
  value: {{ $oidc.groupManagement.groupsClaim | quote }}
{{- end }}
{{- if $sso.trustedHeader.enabled }}
- name: WEBUI_AUTH_TRUSTED_EMAIL_HEADER
  value: {{ $sso.trustedHeader.emailHeader | quote }}
{{- with $sso.trustedHeader.nameHeader }}
- name: WEBUI_AUTH_TRUSTED_NAME_HEADER
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The identity provider as a NetworkPolicy edge target: "idp" (its own peers) or "external". */}}
{{- define "owp.openwebui.idpPeer" -}}
{{- if .Values.openwebui.sso.oidc.networkPolicyPeers -}}idp{{- else -}}external{{- end -}}
{{- end -}}
