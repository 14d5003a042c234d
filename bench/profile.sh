#!/usr/bin/env bash
# bench/profile.sh shows where the server core's time goes per signed-in
# small request, in lcw-floor+cookie and lcw-default side by side: the
# proxy's kernel time, the Go runtime, the standard library and each of the
# product's packages, and the upstream's share. run.sh gives the rate and
# instructions.sh the instruction count; this is the time, sampled with
# perf's cpu-clock (a timer, so it works on VMs without hardware counters),
# kernel included. The servers share CPU 0 and wrk runs on CPU 1, as in
# run.sh; the configurations are run.sh's (bench/lib.sh).
#
#   bench/profile.sh                            # about a minute and a half
#   BENCH_ROUNDS=5 BENCH_PROFILE_SECONDS=8 bench/profile.sh
set -euo pipefail

rounds=${BENCH_ROUNDS:-3}
seconds=${BENCH_PROFILE_SECONDS:-5}
hz=4000

cd "$(dirname "$0")/.."
die() { echo "profile.sh: $*" >&2; exit 1; }
. bench/lib.sh

need=()
command -v perf >/dev/null || need+=(linux-perf)
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
((${#need[@]} == 0)) || apt_install "${need[@]}"
[[ $(id -u) == 0 ]] || (($(cat /proc/sys/kernel/perf_event_paranoid) <= 0)) ||
	die "perf must see CPU 0 system-wide: run as root or set kernel.perf_event_paranoid=0"
taskset -c 1 true 2>/dev/null || die "needs two CPUs (servers on 0, wrk on 1)"

scratch profile
build_all

INJECT=true
new_secrets
free_port up_port
free_port floor_port
upstream="http://127.0.0.1:$up_port"
proxy_config lcw-default required true default_port
cookie=$("$tmp/sessioncookie" -secret "$secret" -name _lcw -sub user1)
taskset -c 0 "$tmp/upstream" -listen "127.0.0.1:$up_port" >"$tmp/upstream.log" 2>&1 &
pids+=($!)

# sample ROW ROUND PORT CMD... runs CMD on CPU 0 under wrk's load and
# records CPU 0 for $seconds in the middle of the measured run; it appends
# "ROW requests-in-the-window" to $tmp/requests.
sample() {
	local row=$1 round=$2 port=$3
	shift 3
	taskset -c 0 "$@" >"$tmp/$row.log" 2>&1 &
	local pid=$!
	pids+=("$pid")
	signed_in_ready "$row" "$port"
	taskset -c 1 wrk -t1 -c32 -d2s -H "Cookie: $cookie" "http://127.0.0.1:$port/small" >/dev/null
	taskset -c 1 wrk -t1 -c32 -d$((seconds + 2))s -H "Cookie: $cookie" "http://127.0.0.1:$port/small" >"$tmp/$row.$round.wrk" &
	local w=$!
	sleep 1
	perf record -q -C 0 -e cpu-clock -F "$hz" -o "$tmp/$row.$round.data" -- sleep "$seconds" 2>/dev/null
	wait "$w"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	awk -v row="$row" -v s="$seconds" '/Requests\/sec/ { printf "%s %d\n", row, $2 * s }' "$tmp/$row.$round.wrk" >>"$tmp/requests"
	perf report -i "$tmp/$row.$round.data" --sort comm,dso,sym --stdio -q -n 2>/dev/null |
		awk -v row="$row" '$1 ~ /%$/ { sym = $6; for (i = 7; i <= NF; i++) sym = sym " " $i; print row "\t" $2 "\t" $3 "\t" $4 "\t" sym }' >>"$tmp/samples"
}

echo "==> $rounds rounds, ${seconds}s of perf cpu-clock at ${hz} Hz per row"
for round in $(seq "$rounds"); do
	sample lcw-floor+cookie "$round" "$floor_port" "$tmp/reverseproxy" -lcw -listen "127.0.0.1:$floor_port" -upstream "$upstream"
	sample lcw-default "$round" "$default_port" "$tmp/lcw-auth-proxy" --config "$tmp/lcw-default.yaml"
done

# Samples become microseconds per request (a sample is 1e6/hz µs) and fall
# into groups: the proxy's kernel time, the Go runtime's collector and the
# rest of it, each standard or third-party package, each of the product's
# packages; the upstream, and anything else on CPU 0, as one line each.
# Printed largest difference first, then the totals.
awk -F'\t' -v hz="$hz" -v windows="$((seconds * rounds))" '
FNR == NR { split($0, w, " "); n[w[1]] += w[2]; next }
{
	row = $1; comm = $3; dso = $4; sym = $5
	if (comm == "upstream") g = "upstream (all of it)"
	else if (comm != "reverseproxy" && comm != "lcw-auth-proxy") g = "other processes, idle"
	else if (dso ~ /kernel/) g = "proxy: kernel"
	else if (dso ~ /vdso/) g = "proxy: vdso (clock reads)"
	else if (sym ~ /lcw-auth-proxy\/lcw-auth-proxy\//) { sub(/.*lcw-auth-proxy\/lcw-auth-proxy\//, "", sym); sub(/\..*/, "", sym); g = "product: " sym }
	else if (sym ~ /^(runtime|internal\/runtime)/ || sym ~ /^(aeshashbody|memeqbody|indexbytebody|cmpbody|gcWriteBarrier)/) g = (sym ~ /gc|[Ss]can|[Mm]ark|[Ss]weep|[Ss]pan/ ? "runtime: garbage collector" : "runtime: other")
	else { p = sym; sub(/\[.*/, "", p); sub(/\.[^\/]*$/, "", p); g = p }
	t[g, row] += $2 * 1e6 / hz; groups[g] = 1
}
END {
	f = "lcw-floor+cookie"; d = "lcw-default"
	for (g in groups) {
		a = t[g, f] / n[f]; b = t[g, d] / n[d]; ta += a; tb += b
		if (a >= 0.1 || b >= 0.1) printf "%s\t%.2f\t%.2f\t%+.2f\n", g, a, b, b - a
	}
	printf "~total (1 / rate on one core)\t%.2f\t%.2f\t%+.2f\n", ta, tb, tb - ta
	printf "~rate in the sampled windows, req/s\t%.0f\t%.0f\t%.3fx\n", n[f] / windows, n[d] / windows, n[d] / n[f]
}' "$tmp/requests" "$tmp/samples" | sort -t$'\t' -k1,1 | sort -s -t$'\t' -k4,4gr | awk -F'\t' '
BEGIN { printf "%-38s %16s %12s %8s\n", "µs per request on CPU 0", "lcw-floor+cookie", "lcw-default", "diff" }
$1 ~ /^~/ { last[++k] = $0; next }
{ printf "%-38s %16s %12s %8s\n", substr($1, 1, 38), $2, $3, $4 }
END { for (i = 1; i <= k; i++) { split(last[i], x, "\t"); printf "%-38s %16s %12s %8s\n", substr(x[1], 2), x[2], x[3], x[4] } }'
