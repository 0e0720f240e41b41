{{- define "tracejob.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tracejob.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tracejob.labels" -}}
{{ include "tracejob.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: tracejob
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "tracejob.serviceAccountName" -}}
{{- default (include "tracejob.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "tracejob.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "tracejob.tracerImage" -}}
{{- $repository := default .Values.image.repository .Values.tracer.image.repository -}}
{{- $tag := default (default .Chart.AppVersion .Values.image.tag) .Values.tracer.image.tag -}}
{{- printf "%s:%s" $repository $tag -}}
{{- end -}}

{{- define "tracejob.leaseName" -}}
tracejob-operator
{{- end -}}
