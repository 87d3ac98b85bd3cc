{{- define "statusagg-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "statusagg-agent.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "statusagg-agent.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "statusagg-agent.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "statusagg-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "statusagg-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "statusagg-agent.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "statusagg-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: agent
app.kubernetes.io/part-of: statusagg
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "statusagg-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "statusagg-agent.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "statusagg-agent.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "statusagg-agent.fullname" .)) .Values.tls.secretName }}
{{- end }}


{{/* A flag value as text: whole numbers without an exponent (Helm reads numbers as floats). */}}
{{- define "statusagg-agent.flagValue" -}}
{{- if and (kindIs "float64" .) (eq . (floor .)) }}{{ int64 . }}{{ else }}{{ . }}{{ end }}
{{- end }}

{{/* The image: repository@digest when a digest is given, else repository:tag. */}}
{{- define "statusagg-agent.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}
