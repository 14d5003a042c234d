{{/* Names and labels, the usual way. */}}
{{- define "lcw.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "lcw.fullname" -}}
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

{{- define "lcw.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lcw.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "lcw.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "lcw.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Where the pod finds its files; config.yaml names them. */}}
{{- define "lcw.configDir" -}}/etc/lcw-auth-proxy{{- end }}
{{- define "lcw.secretDir" -}}/run/secrets/lcw-auth-proxy{{- end }}

{{- define "lcw.store" -}}
{{- dig "session" "store" "cookie" .Values.config }}
{{- end }}

{{/*
lcw.secretFiles: every secret file the proxy reads, as JSON {"files": [{secret, key, path, kid}]}.
The path is the file's name in the mounted directory, fixed by its role, so two Secrets may use
the same key names. The Deployment mounts exactly these; lcw.config points the *_file keys at
them.
*/}}
{{- define "lcw.secretFiles" -}}
{{- $s := .Values.secrets }}
{{- $files := list }}
{{- if $s.oidcClientSecret.key }}
{{- $files = append $files (dict "secret" ($s.oidcClientSecret.name | default $s.name) "key" $s.oidcClientSecret.key "path" "oidc-client-secret") }}
{{- end }}
{{- $files = append $files (dict "secret" ($s.cookieSecret.name | default $s.name) "key" $s.cookieSecret.key "path" "cookie-secret") }}
{{- range $i, $p := $s.previousCookieSecrets }}
{{- $files = append $files (dict "secret" ($p.name | default $s.name) "key" $p.key "path" (printf "cookie-secret-previous-%d" $i)) }}
{{- end }}
{{- range $i, $k := $s.signingKeys }}
{{- $files = append $files (dict "secret" ($k.name | default $s.name) "key" $k.key "path" (printf "signing-key-%d.pem" $i) "kid" ($k.kid | default "")) }}
{{- end }}
{{- if and (eq (include "lcw.store" .) "redis") $s.redisPassword.key }}
{{- $files = append $files (dict "secret" ($s.redisPassword.name | default $s.name) "key" $s.redisPassword.key "path" "redis-password") }}
{{- end }}
{{- toJson (dict "files" $files) }}
{{- end }}

{{/*
lcw.config: config.yaml, i.e. .Values.config plus the keys that depend on the pod: the
listeners (the container ports) and the secret files (the mount).
*/}}
{{- define "lcw.config" -}}
{{- $cfg := deepCopy .Values.config }}
{{- $_ := set $cfg "listen" ":4180" }}
{{- if .Values.metrics.enabled }}
{{- $_ := set $cfg "metrics_listen" ":9090" }}
{{- end }}
{{- range list "oidc" "session" "token" }}
{{- $_ := set $cfg . (get $cfg . | default dict) }}
{{- end }}
{{- $dir := include "lcw.secretDir" . }}
{{- $previous := list }}
{{- $keys := list }}
{{- range (include "lcw.secretFiles" . | fromJson).files }}
{{- $file := printf "%s/%s" $dir .path }}
{{- if eq .path "oidc-client-secret" }}
{{- $_ := set $cfg.oidc "client_secret_file" $file }}
{{- else if eq .path "cookie-secret" }}
{{- $_ := set $cfg.session "secret_file" $file }}
{{- else if hasPrefix "cookie-secret-previous-" .path }}
{{- $previous = append $previous $file }}
{{- else if hasPrefix "signing-key-" .path }}
{{- $key := dict "file" $file }}
{{- if .kid }}{{ $_ := set $key "kid" .kid }}{{ end }}
{{- $keys = append $keys $key }}
{{- else if eq .path "redis-password" }}
{{- $redis := get $cfg.session "redis" | default dict }}
{{- $_ := set $redis "password_file" $file }}
{{- $_ := set $cfg.session "redis" $redis }}
{{- end }}
{{- end }}
{{- if $previous }}
{{- $_ := set $cfg.session "previous_secret_files" $previous }}
{{- end }}
{{- $_ := set $cfg.token "signing_keys" $keys }}
{{- toYaml $cfg }}
{{- end }}

{{- define "lcw.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- .Values.serviceAccount.name | default (include "lcw.fullname" .) }}
{{- else }}
{{- .Values.serviceAccount.name | default "default" }}
{{- end }}
{{- end }}

{{/*
lcw.seconds: a Go duration of whole hours, minutes and seconds ("1m30s", "20s") as a number of
seconds, rounded up; the chart checks terminationGracePeriodSeconds against it.
*/}}
{{- define "lcw.seconds" -}}
{{- $total := 0.0 }}
{{- range regexFindAll "[0-9.]+(h|ms|us|µs|ns|m|s)" (toString .) -1 }}
{{- $n := regexFind "^[0-9.]+" . | float64 }}
{{- $unit := trimPrefix (regexFind "^[0-9.]+" .) . }}
{{- $total = addf $total (mulf $n (get (dict "h" 3600.0 "m" 60.0 "s" 1.0 "ms" 0.001 "us" 0.000001 "µs" 0.000001 "ns" 0.000000001) $unit)) }}
{{- end }}
{{- ceil $total | int }}
{{- end }}

{{/*
lcw.topologySpread: topologySpreadConstraints, each without a labelSelector given this release's
pod labels, so a spread counts only this release's pods whatever the release is called.
*/}}
{{- define "lcw.topologySpread" -}}
{{- $out := list }}
{{- range .Values.topologySpreadConstraints }}
{{- $c := deepCopy . }}
{{- if not (hasKey $c "labelSelector") }}
{{- $_ := set $c "labelSelector" (dict "matchLabels" (include "lcw.selectorLabels" $ | fromYaml)) }}
{{- end }}
{{- $out = append $out $c }}
{{- end }}
{{- toYaml $out }}
{{- end }}
