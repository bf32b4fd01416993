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

{{/*
A duration written as a whole number of seconds, minutes or hours (30s, 15m, 1h), in seconds.
*/}}
{{- define "keyrotator.seconds" -}}
{{- $d := toString . -}}
{{- if regexMatch "^[0-9]+s$" $d -}}{{ trimSuffix "s" $d | int }}
{{- else if regexMatch "^[0-9]+m$" $d -}}{{ trimSuffix "m" $d | int | mul 60 }}
{{- else if regexMatch "^[0-9]+h$" $d -}}{{ trimSuffix "h" $d | int | mul 3600 }}
{{- else -}}{{ fail (printf "%q is not a whole number of seconds, minutes or hours (for example 30s, 15m, 1h)" $d) }}
{{- end -}}
{{- end -}}
