#!/usr/bin/env bash
# Load benchmark: the same upstream measured directly, through nginx
# proxy_pass and through lcw-auth-proxy, side by side in one run. The servers
# (upstream, nginx, proxy) share one pinned CPU and wrk runs on another, so a
# ratio compares how much work each path costs per request on one core.
#
# Usage: bench/run.sh            (from anywhere inside the checkout)
# Knobs (environment):
#   BENCH_DURATION=8s      measured wrk run per row
#   BENCH_WARMUP=2s        unrecorded wrk run before each measured one
#   BENCH_CONNECTIONS=32   wrk connections (same for every row)
#   BENCH_THREADS=1        wrk threads
#   BENCH_SERVER_CPU=0     CPU for upstream, nginx and the proxy
#   BENCH_CLIENT_CPU=1     CPU for wrk
#   BENCH_ROUNDS=3         passes over all rows; each row keeps its best round
#   BENCH_INJECT=true      the proxy's inject.enabled (page rows say whether the
#                          page really came back injected)
#   BENCH_LABEL=""         free text written into the results header
#   BENCH_KEEP_TMP=0       1 keeps the temp dir (configs, logs) for inspection
#   BENCH_ROWS=""          space-separated row names to measure (e.g. "nginx
#                          lcw-default"); empty measures every row
#   BENCH_BODIES="small page"  which bodies to measure
# Results: a table on stdout and in bench/out/results.txt; the raw wrk output
# of every row in bench/out/wrk/. See bench/README.md for how to read them.
set -euo pipefail

DURATION=${BENCH_DURATION:-8s}
WARMUP=${BENCH_WARMUP:-2s}
CONNS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-1}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
CLIENT_CPU=${BENCH_CLIENT_CPU:-1}
INJECT=${BENCH_INJECT:-true}
LABEL=${BENCH_LABEL:-}
KEEP_TMP=${BENCH_KEEP_TMP:-0}
ROUNDS=${BENCH_ROUNDS:-3}
ROWS=${BENCH_ROWS:-}
BODIES=${BENCH_BODIES:-small page}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$root/bench/out"
cd "$root"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

case $INJECT in true | false) ;; *) die "BENCH_INJECT must be true or false, not '$INJECT'" ;; esac
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive number, not '$ROUNDS'"
for b in $BODIES; do
	case $b in small | page) ;; *) die "BENCH_BODIES takes small and page, not '$b'" ;; esac
done

# --- tools -----------------------------------------------------------------

need_pkgs=()
command -v wrk >/dev/null || need_pkgs+=(wrk)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need_pkgs+=(nginx-light)
command -v curl >/dev/null || need_pkgs+=(curl)
command -v openssl >/dev/null || need_pkgs+=(openssl)
command -v taskset >/dev/null || need_pkgs+=(util-linux)
command -v pgrep >/dev/null || need_pkgs+=(procps)
command -v redis-server >/dev/null || need_pkgs+=(redis-server)
# apt_install (and, below, free_port, new_secrets and proxy_config) are
# shared with instructions.sh and profile.sh.
. "$root/bench/lib.sh"
if ((${#need_pkgs[@]})); then
	log "installing ${need_pkgs[*]}"
	apt_install "${need_pkgs[@]}"
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
command -v go >/dev/null || die "go is not on PATH"
taskset -c "$SERVER_CPU" true 2>/dev/null || die "cannot pin to CPU $SERVER_CPU (BENCH_SERVER_CPU)"
taskset -c "$CLIENT_CPU" true 2>/dev/null || die "cannot pin to CPU $CLIENT_CPU (BENCH_CLIENT_CPU); this benchmark needs two CPUs"
[[ $SERVER_CPU != "$CLIENT_CPU" ]] || die "BENCH_SERVER_CPU and BENCH_CLIENT_CPU must differ"

# --- temp dir, process bookkeeping, cleanup --------------------------------

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lcw-bench.XXXXXX")
pids=()        # servers, all on the server CPU
client_pid=""  # the running wrk, if any

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	local pid
	[[ -z $client_pid ]] || kill -TERM "$client_pid" 2>/dev/null || true
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in $client_pid "${pids[@]}"; do
		# Give each process a moment to exit cleanly, then insist.
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [[ $KEEP_TMP == 1 ]]; then log "kept $tmp"; else rm -rf "$tmp"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME CMD... runs CMD pinned to the server CPU, output to $tmp/NAME.log.
declare -A pid_of
start() {
	local name=$1
	shift
	taskset -c "$SERVER_CPU" "$@" >"$tmp/$name.log" 2>&1 &
	pids+=($!)
	pid_of[$name]=$! # taskset execs the command: same pid
}

# cpu_ticks PID prints the user+system CPU ticks of PID and its children
# (nginx's worker does nginx's work).
cpu_ticks() {
	local p total=0 t
	for p in "$1" $(awk -v ppid="$1" '$4 == ppid { print $1 }' /proc/[0-9]*/stat 2>/dev/null); do
		t=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null) || continue
		total=$((total + ${t:-0}))
	done
	echo "$total"
}
clk_tck=$(getconf CLK_TCK)

# client ARGS... runs wrk with ARGS on the client CPU. It runs as a
# background job that the script waits for, so Ctrl-C is handled at once
# instead of after wrk's full duration.
client() {
	taskset -c "$CLIENT_CPU" timeout 120 wrk "$@" &
	client_pid=$!
	local rc=0
	wait "$client_pid" || rc=$?
	client_pid=""
	return "$rc"
}

# wait_http URL [CURL ARGS...] waits until URL answers at all (any status).
wait_http() {
	local url=$1
	shift
	for _ in $(seq 100); do
		curl -s -o /dev/null --max-time 1 "$@" "$url" && return 0
		sleep 0.1
	done
	die "$url did not come up; logs in $tmp (set BENCH_KEEP_TMP=1 to keep them)"
}

# --- build -----------------------------------------------------------------

log "building (go build) into $tmp"
go build -o "$tmp/upstream" ./bench/upstream
go build -o "$tmp/lcw-auth-proxy" ./cmd/lcw-auth-proxy
go build -o "$tmp/reverseproxy" ./bench/reverseproxy
signed_in=0
signed_in_why=""
if [[ -d auth/session && -f bench/sessioncookie/main.go ]]; then
	if go build -o "$tmp/sessioncookie" ./bench/sessioncookie 2>"$tmp/sessioncookie-build.log"; then
		signed_in=1
	else
		signed_in_why="bench/sessioncookie does not build against auth/session (see below)"
		cat "$tmp/sessioncookie-build.log" >&2
	fi
else
	signed_in_why="package auth/session is not in the tree yet, so there is no session cookie to send"
fi

# --- secrets and configs ---------------------------------------------------

new_secrets

free_port up_port
free_port nginx_port
free_port rp_port
free_port floor_port
upstream="http://127.0.0.1:$up_port"

free_port redis_port

proxy_config lcw-anon optional false anon_port
proxy_config lcw-anon-log optional true anonlog_port
proxy_config lcw-signed required false signed_port
proxy_config lcw-default required true default_port
proxy_config lcw-redis required false redis_proxy_port redis

# nginx: foreground, one worker, every path inside $tmp/nginx. Temp paths
# are set only for modules this nginx has, or it would refuse the directive.
mkdir -p "$tmp/nginx"
chmod 711 "$tmp"  # a root master runs its worker as nobody, which must reach its temp dirs
chmod 755 "$tmp/nginx"
nginx_v=$("$NGINX" -V 2>&1)
temp_paths="client_body_temp_path $tmp/nginx/body; proxy_temp_path $tmp/nginx/proxy;"
for m in fastcgi uwsgi scgi; do
	[[ $nginx_v == *"--without-http_${m}_module"* ]] || temp_paths+=" ${m}_temp_path $tmp/nginx/$m;"
done
cat >"$tmp/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  $temp_paths
  upstream bench_upstream {
    server 127.0.0.1:$up_port;
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:$nginx_port;
    keepalive_requests 1000000;
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF

# --- start everything ------------------------------------------------------

log "starting upstream :$up_port, nginx :$nginx_port, redis :$redis_port, proxies :$anon_port :$anonlog_port :$signed_port :$default_port :$redis_proxy_port (CPU $SERVER_CPU)"
start upstream "$tmp/upstream" -listen "127.0.0.1:$up_port"
start redis redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp"
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null && break; sleep 0.1; done
wait_http "$upstream/small"
"$NGINX" -t -q -p "$tmp/nginx" -e "$tmp/nginx/error.log" -c "$tmp/nginx/nginx.conf" ||
	die "nginx rejected its config: $(cat "$tmp/nginx/error.log")"
start nginx "$NGINX" -p "$tmp/nginx" -e "$tmp/nginx/error.log" -c "$tmp/nginx/nginx.conf"
start reverseproxy "$tmp/reverseproxy" -listen "127.0.0.1:$rp_port" -upstream "$upstream"
start lcw-floor "$tmp/reverseproxy" -lcw -listen "127.0.0.1:$floor_port" -upstream "$upstream"
start lcw-anon "$tmp/lcw-auth-proxy" --config "$tmp/lcw-anon.yaml"
start lcw-anon-log "$tmp/lcw-auth-proxy" --config "$tmp/lcw-anon-log.yaml"
start lcw-signed "$tmp/lcw-auth-proxy" --config "$tmp/lcw-signed.yaml"
start lcw-default "$tmp/lcw-auth-proxy" --config "$tmp/lcw-default.yaml"
start lcw-redis "$tmp/lcw-auth-proxy" --config "$tmp/lcw-redis.yaml"
for port in "$nginx_port" "$rp_port" "$floor_port" "$anon_port" "$anonlog_port" "$signed_port" "$default_port" "$redis_proxy_port"; do
	wait_http "http://127.0.0.1:$port/small"
done

cookie=""
if ((signed_in)); then
	cookie=$("$tmp/sessioncookie" -secret "$secret" -name _lcw -sub user1) ||
		die "bench/sessioncookie failed"
	redis_cookie=$("$tmp/sessioncookie" -secret "$secret" -name _lcw -sub user1 -redis "redis://127.0.0.1:$redis_port") ||
		die "bench/sessioncookie -redis failed"
fi

# --- measuring -------------------------------------------------------------

mkdir -p "$out/wrk"
rm -f "$out"/wrk/*.txt
order=()             # row keys "NAME|BODY" in table order
declare -A rps_of    # best req/s of a row over the rounds
declare -A p50_of p99_of noise_of errs_of note_of rounds_of

# to_ms VALUE prints a wrk latency (e.g. 512.00us, 1.20ms, 1.01s) in ms.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
		printf "%.2f", n }'
}

# cpu_counters CPU prints "BUSY STEAL TOTAL" for one CPU from /proc/stat, in
# clock ticks.
cpu_counters() {
	local user nice system idle iowait irq softirq steal
	read -r _ user nice system idle iowait irq softirq steal _ < <(grep "^cpu$1 " /proc/stat)
	echo "$((user + nice + system)) $steal $((user + nice + system + idle + iowait + irq + softirq + steal))"
}

# cpu_sample prints two triples of cpu_counters (server CPU, client CPU),
# then the CPU time so far of the servers this script started (nginx's worker
# included), then that of this shell's reaped children, which between two
# samples is the wrk run. Between two samples, BUSY - OURS + STEAL of a CPU is
# time it gave to somebody else: the run's noise.
cpu_sample() {
	local ours=0 pid
	local all=("${pids[@]}")
	for pid in "${pids[@]}"; do
		mapfile -t -O "${#all[@]}" all < <(pgrep -P "$pid" 2>/dev/null || true)
	done
	for pid in "${all[@]}"; do
		ours=$((ours + $(proc_ticks "$pid" 12 13)))
	done
	echo "$(cpu_counters "$SERVER_CPU") $(cpu_counters "$CLIENT_CPU") $ours $(proc_ticks $$ 14 15)"
}

# proc_ticks PID I J sums fields I and J of /proc/PID/stat, counted after the
# ")" that ends the command name (12, 13: utime, stime; 14, 15: the same for
# reaped children). A process that is gone counts 0.
proc_ticks() {
	awk -v i="$2" -v j="$3" '{ s = $0; sub(/.*\) /, "", s); split(s, f, " "); print f[i] + f[j] }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# noise_pct BEFORE AFTER prints "SERVER/CLIENT": the share of each CPU that
# went to other processes (or the hypervisor) between two cpu_samples.
noise_pct() {
	local b=($1) a=($2)
	awk -v sb=$((a[0] - b[0])) -v ss=$((a[1] - b[1])) -v st=$((a[2] - b[2])) -v so=$((a[6] - b[6])) \
		-v cb=$((a[3] - b[3])) -v cs=$((a[4] - b[4])) -v ct=$((a[5] - b[5])) -v co=$((a[7] - b[7])) '
		function pct(busy, steal, total, ours,   f) { f = busy - ours; if (f < 0) f = 0; return (total > 0 ? 100 * (f + steal) / total : 0) }
		BEGIN { printf "%.0f/%.0f", pct(sb, ss, st, so), pct(cb, cs, ct, co) }'
}

# check KEY URL EXPECT [HEADER] makes sure a row measures what it claims:
# a 200 with at least EXPECT body bytes (else the row is "check failed" and
# skipped), whether a page came back injected, and for a signed-in row that
# the same request without the cookie is turned away.
check() {
	local key=$1 url=$2 expect=$3 header=${4:-} hdr=() note="" out status size
	[[ -n $header ]] && hdr=(-H "$header")
	out=$(curl -s -o "$tmp/check.body" -w '%{http_code} %{size_download}' "${hdr[@]}" "$url") || out="000 0"
	read -r status size <<<"$out"
	if [[ $status != 200 || $size -lt $expect ]]; then
		log "${key/|/ }: check failed (status $status, $size bytes, want 200 and >= $expect bytes); not measured"
		note_of[$key]="check failed: status $status, $size bytes"
		return 1
	fi
	if [[ $key == lcw*"|page" ]]; then
		if grep -q 'bootstrap.js' "$tmp/check.body"; then note="injected"; else note="passed through (not injected)"; fi
	fi
	if [[ -n $header && $key != lcw-floor* ]]; then
		local anon
		anon=$(curl -s -o /dev/null -w '%{http_code}' "$url") || anon=000
		if [[ $anon == 200 ]]; then
			note+="${note:+; }access NOT enforced: anonymous also got 200"
		else
			note+="${note:+; }anonymous gets $anon"
		fi
	fi
	note_of[$key]=$note
}

# measure NAME BODY URL EXPECT [HEADER] checks the row (first round only),
# then warms up and runs wrk once, keeping the round with the best req/s:
# noise only ever takes throughput away.
# server_of maps a row to the process whose CPU it costs: the middle box,
# or the upstream itself for the direct row.
declare -A server_of=([direct]=upstream [nginx]=nginx [go-reverseproxy]=reverseproxy [lcw-floor]=lcw-floor [lcw-floor+cookie]=lcw-floor
	[lcw-anon]=lcw-anon [lcw-anon+accesslog]=lcw-anon-log [lcw-signed-in]=lcw-signed
	[lcw-default]=lcw-default [lcw-redis]=lcw-redis)
declare -A cpu_of
measure() {
	local name=$1 body=$2 url=$3 expect=$4 header=${5:-} key="$1|$2" hdr=()
	[[ -z $ROWS || " $ROWS " == *" $name "* ]] || return 0
	[[ -n $header ]] && hdr=(-H "$header")
	if ((round == 1)); then
		order+=("$key")
		check "$key" "$url" "$expect" "$header" || return 0
	elif [[ ${note_of[$key]:-} == "check failed"* ]]; then
		return 0
	fi
	log "round $round/$ROUNDS $name $body: warm-up $WARMUP, then $DURATION with $CONNS connections"
	client -t"$THREADS" -c"$CONNS" -d"$WARMUP" "${hdr[@]}" "$url" >/dev/null
	local f="$out/wrk/$name-$body.round$round.txt" before after ticks0 ticks1 server=${server_of[$name]}
	before=$(cpu_sample)
	ticks0=$(cpu_ticks "${pid_of[$server]}")
	client -t"$THREADS" -c"$CONNS" -d"$DURATION" --timeout 5s --latency "${hdr[@]}" "$url" >"$f"
	ticks1=$(cpu_ticks "${pid_of[$server]}")
	after=$(cpu_sample)
	local rps non2xx sock noise
	noise=$(noise_pct "$before" "$after")
	echo "noise% (share of server CPU $SERVER_CPU / client CPU $CLIENT_CPU taken by others during this run): $noise" >>"$f"
	rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$f")
	rounds_of[$key]+="${rounds_of[$key]:+/}${rps:-?}"
	non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$f")
	sock=$(awk -F'[ ,]+' '/Socket errors:/ { print $5 + $7 + $9 + $11 }' "$f")
	errs_of[$key]=$((${errs_of[$key]:-0} + ${non2xx:-0} + ${sock:-0}))
	if ((${rps:-0} > ${rps_of[$key]:-0})); then
		rps_of[$key]=$rps
		p50_of[$key]=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$f")")
		p99_of[$key]=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$f")")
		noise_of[$key]=$noise
		cpu_of[$key]=$(awk -v t=$((ticks1 - ticks0)) -v hz="$clk_tck" '/ requests in / { if ($1 > 0) printf "%.0f", t / hz * 1e6 / $1 }' "$f")
	fi
}

browser_ua="User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for round in $(seq "$ROUNDS"); do
	for body in $BODIES; do
		case $body in small) expect=100 ;; page) expect=51200 ;; esac
		measure direct "$body" "$upstream/$body" "$expect"
		measure nginx "$body" "http://127.0.0.1:$nginx_port/$body" "$expect"
		measure go-reverseproxy "$body" "http://127.0.0.1:$rp_port/$body" "$expect"
		# lcw's reverse proxy alone: what net/http and ReverseProxy cost it.
		measure lcw-floor "$body" "http://127.0.0.1:$floor_port/$body" "$expect"
		# A browser's User-Agent on both, so the access line carries what
		# it carries for real traffic (every field of it: client, host,
		# route, user agent, request id).
		measure lcw-anon "$body" "http://127.0.0.1:$anon_port/$body" "$expect" "$browser_ua"
		measure lcw-anon+accesslog "$body" "http://127.0.0.1:$anonlog_port/$body" "$expect" "$browser_ua"
		if ((signed_in)); then
			# The floor given the signed-in rows' very request, session
			# cookie included: the same bytes to read and the same cookie
			# to strip before the upstream, so what lies between this row
			# and lcw-default is the product's own work alone.
			measure lcw-floor+cookie "$body" "http://127.0.0.1:$floor_port/$body" "$expect" "Cookie: $cookie"
			measure lcw-signed-in "$body" "http://127.0.0.1:$signed_port/$body" "$expect" "Cookie: $cookie"
			# The default configuration: signed in, access log on.
			measure lcw-default "$body" "http://127.0.0.1:$default_port/$body" "$expect" "Cookie: $cookie"
			measure lcw-redis "$body" "http://127.0.0.1:$redis_proxy_port/$body" "$expect" "Cookie: $redis_cookie"
		fi
	done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report ----------------------------------------------------------------

noisiest() { # noisiest S/C prints the larger of the two noise figures
	local s=${1%/*} c=${1#*/}
	echo $((s > c ? s : c))
}

ratio() { # ratio A B prints A/B with two decimals, or - when either is missing
	if [[ -z $1 || $1 == - || -z $2 || $2 == - || $2 == 0 ]]; then echo -; else awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; fi
}

# target NAME BODY WHAT prints one DESIGN.md target line: NAME's rate vs nginx.
target() {
	local key="$1|$2" what=$3 r note
	r=$(ratio "${rps_of[$key]:-}" "${rps_of[nginx|$2]:-}")
	note=${note_of[$key]:-}
	local n1=${noise_of[$key]:-0/0} n2=${noise_of[nginx|$2]:-0/0}
	if (($(noisiest "$n1") > 10 || $(noisiest "$n2") > 10)); then
		note+="${note:+; }UNRELIABLE: noise $n1% on this row, $n2% on nginx's"
	fi
	if [[ $r == - ]]; then
		printf '  %-58s not measured%s\n' "$what" "${note:+ ($note)}"
	else
		printf '  %-58s %s x nginx  %s%s\n' "$what" "$r" "$(awk -v r="$r" 'BEGIN { print ((r >= 0.5) ? "meets >= 0.5" : "BELOW 0.5") }')" "${note:+ ($note)}"
	fi
}

# row_note KEY is the note column: the row's note and, with several
# rounds, every round's req/s (a collapsed round points at a stall).
row_note() {
	local note=${note_of[$1]:-}
	if ((ROUNDS > 1)) && [[ -n ${rounds_of[$1]:-} ]]; then
		note+="${note:+; }rounds ${rounds_of[$1]}"
	fi
	echo "$note"
}

report() {
	local commit dirty
	commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	dirty=$(git status --porcelain 2>/dev/null | grep -q . && echo " (working tree has uncommitted changes)" || true)
	echo "lcw-auth-proxy load benchmark  $started  commit $commit$dirty"
	echo "wrk -t$THREADS -c$CONNS -d$DURATION --latency on CPU $CLIENT_CPU; upstream, nginx and proxy on CPU $SERVER_CPU; $(nproc) CPUs; best of $ROUNDS round(s) per row"
	echo "inject.enabled=$INJECT; load average before: $load_before, after: $load_after"
	awk -v l="${load_before%% *}" 'BEGIN { if (l + 0 > 0.3) print "NOISY: the machine was busy before the run (1-min load " l "); see the noise% column, compare ratios rather than absolute numbers, and rerun on a quiet machine" }'
	[[ -z $LABEL ]] || echo "note: $LABEL"
	echo
	local fmt='%-20s %-5s %9s %8s %8s %8s %8s %7s %6s %7s  %s\n'
	printf "$fmt" scenario body 'req/s' 'p50 ms' 'p99 ms' 'x direct' 'x nginx' 'cpu us' errors 'noise%' note
	local key name body rps
	for key in "${order[@]}"; do
		IFS='|' read -r name body <<<"$key"
		rps=${rps_of[$key]:--}
		printf "$fmt" "$name" "$body" "$rps" "${p50_of[$key]:--}" "${p99_of[$key]:--}" \
			"$(ratio "$rps" "${rps_of[direct|$body]:-}")" "$(ratio "$rps" "${rps_of[nginx|$body]:-}")" \
			"${cpu_of[$key]:--}" "${errs_of[$key]:--}" "${noise_of[$key]:--}" "$(row_note "$key")"
	done
	echo
	echo "cpu us = CPU time per request of the row's own process (the middle box; the upstream for direct), from /proc over the kept run; steadier than req/s on a shared machine"
	echo "noise% = share of server CPU $SERVER_CPU / client CPU $CLIENT_CPU taken by other processes or the hypervisor during the kept run (0/0 on an idle machine)"
	echo
	echo "DESIGN.md targets:"
	if ((signed_in)); then
		target lcw-signed-in small "signed-in small responses >= 0.5x nginx"
		target lcw-signed-in page "signed-in 50 KiB page (injection $INJECT) >= 0.5x nginx"
		target lcw-default small "default config (access log on), small responses, vs nginx"
		target lcw-default page "default config (access log on), 50 KiB page, vs nginx"
		local r
		r=$(ratio "${rps_of[lcw-redis|small]:-}" "${rps_of[lcw-signed-in|small]:-}")
		printf '  %-58s %s x cookie store  %s\n' "session.store: redis, small responses >= 0.8x cookie" "$r" \
			"$(awk -v r="$r" 'BEGIN { if (r == "-") print "not measured"; else print ((r >= 0.8) ? "meets >= 0.8" : "BELOW 0.8") }')"
		# req/s and CPU per request both: the CPU ratio holds on a shared
		# machine, where req/s wanders.
		r=$(ratio "${rps_of[lcw-default|small]:-}" "${rps_of[lcw-floor+cookie|small]:-}")
		local c
		c=$(ratio "${cpu_of[lcw-floor+cookie|small]:-}" "${cpu_of[lcw-default|small]:-}")
		printf '  %-58s %s x floor (cpu/req: %s x)  %s\n' "default config, small responses >= 0.9x lcw-floor+cookie" "$r" "$c" \
			"$(awk -v r="$r" 'BEGIN { if (r == "-") print "not measured"; else print ((r >= 0.9) ? "meets >= 0.9" : "BELOW 0.9") }')"
	else
		echo "  signed-in rows SKIPPED: $signed_in_why"
		target lcw-anon small "anonymous small responses (stand-in) vs nginx"
		target lcw-anon page "anonymous 50 KiB page (stand-in) vs nginx"
	fi
	# Not a target: the ceiling the targets sit under. With nothing of the
	# product's own in the path, this is what net/http's server and
	# ReverseProxy leave.
	target lcw-floor small "for reference: lcw's reverse proxy alone, small responses"
	if grep -q 'temporary file' "$tmp/nginx/error.log" 2>/dev/null; then
		echo "note: nginx buffered responses to temporary files (see its error log); its page rows include that disk cost"
	fi
}

report | tee "$out/results.txt"
log "results in bench/out/results.txt, raw wrk output in bench/out/wrk/"
