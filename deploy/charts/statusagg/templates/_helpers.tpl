{{- define "statusagg.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "statusagg.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "statusagg.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "statusagg.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "statusagg.selectorLabels" -}}
app.kubernetes.io/name: {{ include "statusagg.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "statusagg.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "statusagg.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: service
app.kubernetes.io/part-of: statusagg
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "statusagg.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "statusagg.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "statusagg.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "statusagg.fullname" .)) .Values.tls.secretName }}
{{- end }}

{{/* A flag value as text: whole numbers without an exponent (Helm reads numbers as floats). */}}
{{- define "statusagg.flagValue" -}}
{{- if and (kindIs "float64" .) (eq . (floor .)) }}{{ int64 . }}{{ else }}{{ . }}{{ end }}
{{- end }}

{{/* Non-empty when the replicas share the resources through Leases. */}}
{{- define "statusagg.sharded" -}}
{{- if or .Values.sharding.enabled (gt (int .Values.replicas) 1) }}true{{ end }}
{{- end }}

{{/* The image: repository@digest when a digest is given, else repository:tag. */}}
{{- define "statusagg.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}
