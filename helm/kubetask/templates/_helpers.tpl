{{/* Names, labels and the etcd wiring shared by the templates. */}}

{{- define "kubetask.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kubetask.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "kubetask.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kubetask
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{- define "kubetask.operatorSelector" -}}
app.kubernetes.io/name: kubetask-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kubetask.etcdSelector" -}}
app.kubernetes.io/name: kubetask-etcd
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kubetask.serviceAccountName" -}}
{{- default (printf "%s-operator" (include "kubetask.fullname" .)) .Values.serviceAccount.name }}
{{- end }}

{{- define "kubetask.etcdName" -}}
{{- printf "%s-etcd" (include "kubetask.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The clients' Secret for etcd TLS (ca.crt, tls.crt, tls.key: a client certificate), or "".
The operator mounts it and hands it to the worker Deployments (--etcd-tls-secret). */}}
{{- define "kubetask.etcdTlsSecret" -}}
{{- if .Values.etcd.enabled }}
{{- if and .Values.etcd.tls.secret (not .Values.etcd.tls.clientSecret) }}
{{- fail "etcd.tls.clientSecret: with your own etcd.tls.secret, also name the Secret with the clients' certificate (ca.crt, tls.crt, tls.key)" }}
{{- end }}
{{- default (printf "%s-client-tls" (include "kubetask.etcdName" .)) .Values.etcd.tls.clientSecret }}
{{- else }}
{{- .Values.externalEtcd.tlsSecret }}
{{- end }}
{{- end }}

{{/* The engine's etcd endpoints, comma-separated. */}}
{{- define "kubetask.etcdEndpoints" -}}
{{- if .Values.etcd.enabled }}
{{- printf "%s.%s.svc:2379" (include "kubetask.etcdName" .) .Release.Namespace }}
{{- else }}
{{- required "externalEtcd.endpoints: set at least one endpoint, or etcd.enabled=true" (join "," .Values.externalEtcd.endpoints | default "") }}
{{- end }}
{{- end }}

{{- define "kubetask.operatorImage" -}}
{{- printf "%s:%s" .Values.operator.image.repository (default .Chart.AppVersion .Values.operator.image.tag) }}
{{- end }}

{{- define "kubetask.workerImage" -}}
{{- printf "%s:%s" .Values.operator.workerImage.repository (default .Chart.AppVersion .Values.operator.workerImage.tag) }}
{{- end }}

{{/* Pod security "restricted" for a container. */}}
{{- define "kubetask.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "kubetask.podSecurity" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The name label alone, beside kubetask.labels (which has the instance label already). */}}
{{- define "kubetask.operatorName" -}}
app.kubernetes.io/name: kubetask-operator
{{- end }}

{{- define "kubetask.etcdNameLabel" -}}
app.kubernetes.io/name: kubetask-etcd
{{- end }}
