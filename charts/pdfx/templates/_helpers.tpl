{{/* The release's base name: the release name, with the chart's name unless already in it. */}}
{{- define "pdfx.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "pdfx.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: pdfx
{{- end -}}

{{/* Selector labels of one component: include "pdfx.selector" (list . "operator") */}}
{{- define "pdfx.selector" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ $root.Chart.Name }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* An image reference: include "pdfx.image" (list . .Values.operator.image) */}}
{{- define "pdfx.image" -}}
{{- $root := index . 0 -}}
{{- $image := index . 1 -}}
{{- $registry := $root.Values.global.imageRegistry -}}
{{- $ref := printf "%s:%s" $image.repository (default $root.Chart.AppVersion $image.tag) -}}
{{- if $image.digest -}}{{- $ref = printf "%s@%s" $ref $image.digest -}}{{- end -}}
{{- if $registry -}}{{- printf "%s/%s" $registry $ref -}}{{- else -}}{{- $ref -}}{{- end -}}
{{- end -}}

{{/* Namespaces where extractions live (tenants): the listed ones, else the release's. As JSON. */}}
{{- define "pdfx.tenantNamespaces" -}}
{{- if .Values.namespaces -}}
{{- .Values.namespaces | uniq | toJson -}}
{{- else -}}
{{- list .Release.Namespace | toJson -}}
{{- end -}}
{{- end -}}

{{- define "pdfx.operatorServiceAccount" -}}{{ include "pdfx.fullname" . }}-operator{{- end -}}
{{- define "pdfx.gatewayServiceAccount" -}}{{ include "pdfx.fullname" . }}-gateway{{- end -}}

{{/* The Secret holding PDFX_S3_* credentials, or nothing when the pods use none. */}}
{{- define "pdfx.storageSecret" -}}
{{- if .Values.storage.credentials.existingSecret -}}
{{- .Values.storage.credentials.existingSecret -}}
{{- else if .Values.storage.credentials.accessKeyId -}}
{{- include "pdfx.fullname" . }}-storage
{{- end -}}
{{- end -}}

{{/* The gateway's API keys Secret name. */}}
{{- define "pdfx.apiKeysSecret" -}}
{{- default (printf "%s-api-keys" (include "pdfx.fullname" .)) .Values.gateway.auth.existingSecret -}}
{{- end -}}

{{/* Environment every component shares: where storage is and how to reach it. */}}
{{- define "pdfx.storageEnv" -}}
- name: PDFX_STORAGE_URL
  value: {{ .Values.storage.url | quote }}
{{- with .Values.storage.s3.endpoint }}
- name: PDFX_S3_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with .Values.storage.s3.region }}
- name: PDFX_S3_REGION
  value: {{ . | quote }}
{{- end }}
{{- if ne .Values.storage.s3.forcePathStyle nil }}
- name: PDFX_S3_FORCE_PATH_STYLE
  value: {{ .Values.storage.s3.forcePathStyle | quote }}
{{- end }}
{{- end -}}

{{/* The restricted Pod Security profile, for the pod and for each container. */}}
{{- define "pdfx.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsUser }}
fsGroup: {{ .Values.securityContext.runAsUser }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}
{{- define "pdfx.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsUser }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
