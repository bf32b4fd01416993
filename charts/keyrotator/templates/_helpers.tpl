{{- define "keyrotator.name" -}}keyrotator{{- end -}}

{{- define "keyrotator.fullname" -}}
{{- if contains "keyrotator" .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{- else -}}{{ printf "%s-keyrotator" .Release.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "keyrotator.labels" -}}
app.kubernetes.io/name: keyrotator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "keyrotator.selectorLabels" -}}
app.kubernetes.io/name: keyrotator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "keyrotator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}{{ default (include "keyrotator.fullname" .) .Values.serviceAccount.name }}{{- else -}}{{ required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}{{- end -}}
{{- end -}}
