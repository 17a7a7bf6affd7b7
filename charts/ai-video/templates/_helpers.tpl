{{/*
Names, labels and the pieces api, worker and migration share.
*/}}

{{- define "ai-video.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ai-video.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "ai-video.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ai-video.labels" -}}
helm.sh/chart: {{ include "ai-video.chart" . }}
{{ include "ai-video.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "ai-video.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ai-video.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of one role: (dict "root" $ "component" "api") */}}
{{- define "ai-video.componentLabels" -}}
{{ include "ai-video.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "ai-video.componentSelectorLabels" -}}
{{ include "ai-video.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "ai-video.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The Secret api and worker read their secret variables from. */}}
{{- define "ai-video.secretName" -}}
{{- default (include "ai-video.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{/*
Fails early on values that cannot work together (values.schema.json checks
types; these are the rules across values).
*/}}
{{- define "ai-video.validate" -}}
{{- if not .Values.secrets.existingSecret -}}
{{- $_ := required "secrets.databaseUrl (DATABASE_URL) is required, or name a Secret in secrets.existingSecret" .Values.secrets.databaseUrl -}}
{{- $_ := required "secrets.redisUrl (REDIS_URL) is required, or name a Secret in secrets.existingSecret" .Values.secrets.redisUrl -}}
{{- if and .Values.secrets.jwtSecret .Values.secrets.jwtPublicKey -}}
{{- fail "set one of secrets.jwtSecret (JWT_SECRET) and secrets.jwtPublicKey (JWT_PUBLIC_KEY), not both" -}}
{{- end -}}
{{- if not (or .Values.secrets.jwtSecret .Values.secrets.jwtPublicKey) -}}
{{- fail "secrets.jwtSecret (JWT_SECRET) or secrets.jwtPublicKey (JWT_PUBLIC_KEY) is required, or name a Secret in secrets.existingSecret" -}}
{{- end -}}
{{- end -}}
{{- if .Values.storage.local.enabled -}}
{{- if .Values.storage.s3.endpoint -}}
{{- fail "storage.local.enabled and storage.s3.endpoint exclude each other" -}}
{{- end -}}
{{- $_ := required "storage.local.existingClaim (a ReadWriteMany PersistentVolumeClaim) is required with storage.local.enabled" .Values.storage.local.existingClaim -}}
{{- else -}}
{{- $_ := required "storage.s3.endpoint (MINIO_ENDPOINT) is required; storage.local is not for production" .Values.storage.s3.endpoint -}}
{{- if not .Values.secrets.existingSecret -}}
{{- $_ := required "secrets.minioAccessKey (MINIO_ACCESS_KEY) is required with storage.s3.endpoint" .Values.secrets.minioAccessKey -}}
{{- $_ := required "secrets.minioSecretKey (MINIO_SECRET_KEY) is required with storage.s3.endpoint" .Values.secrets.minioSecretKey -}}
{{- end -}}
{{- end -}}
{{- $as := .Values.worker.autoscaling -}}
{{- if and (eq $as.engine "keda") (not $as.keda.serverAddress) -}}
{{- fail "worker.autoscaling.keda.serverAddress (the Prometheus KEDA queries) is required with worker.autoscaling.engine keda" -}}
{{- end -}}
{{- if and (ne $as.engine "none") (gt (int $as.minReplicas) (int $as.maxReplicas)) -}}
{{- fail "worker.autoscaling.minReplicas must not exceed maxReplicas" -}}
{{- end -}}
{{- end -}}

{{/* Pod-level settings shared by every pod of the chart. */}}
{{- define "ai-video.podCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.serviceAccountName }}
serviceAccountName: {{ . }}
{{- end }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{/* Scheduling of one role: pass its values (.Values.api or .Values.worker). */}}
{{- define "ai-video.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Where api and worker get their environment: the ConfigMap and the Secret. */}}
{{- define "ai-video.envFrom" -}}
envFrom:
  - configMapRef:
      name: {{ include "ai-video.fullname" . }}
  - secretRef:
      name: {{ include "ai-video.secretName" . }}
{{- end -}}

{{/* extraEnv of one role as a container env list: (dict "env" .Values.api.extraEnv) */}}
{{- define "ai-video.extraEnv" -}}
{{- range $name, $value := .env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* Checksums that roll the pods when their configuration changes. */}}
{{- define "ai-video.configChecksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- if not .Values.secrets.existingSecret }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
{{- end -}}

{{/* The backlog of ready jobs: max across workers per state, summed over states. */}}
{{- define "ai-video.backlogQuery" -}}
sum(max by (state) (ai_video_queue_jobs{ {{- tpl .Values.monitoring.matchers.worker . -}} ,state=~"waiting|prioritized"}))
{{- end -}}

{{- define "ai-video.workerMatchers" -}}
{{- tpl .Values.monitoring.matchers.worker . -}}
{{- end -}}

{{- define "ai-video.apiMatchers" -}}
{{- tpl .Values.monitoring.matchers.api . -}}
{{- end -}}
