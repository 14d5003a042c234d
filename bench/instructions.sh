#!/usr/bin/env bash
# bench/instructions.sh counts the instructions the middle box spends per
# signed-in small request, with valgrind's callgrind: lcw-floor+cookie (our
# reverse proxy alone, sent the same cookie), lcw-signed-in (access log
# off) and lcw-default (the default configuration). Unlike run.sh's req/s,
# the count does not move with what else the machine runs, so it shows a
# change of a few per cent that run.sh's noise hides. It counts user-space
# instructions only (not the kernel's share of each request, nor cache
# misses), so it complements run.sh rather than replacing it. The proxy's
# configurations are run.sh's (bench/lib.sh).
#
#   bench/instructions.sh                      # about a minute
#   BENCH_REQUESTS_SECONDS=20 bench/instructions.sh
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${BENCH_REQUESTS_SECONDS:-8}
rows=${BENCH_ROWS:-lcw-floor+cookie lcw-signed-in lcw-default}

die() { echo "instructions.sh: $*" >&2; exit 1; }
. bench/lib.sh
need=()
command -v valgrind >/dev/null || need+=(valgrind)
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
((${#need[@]} == 0)) || apt_install "${need[@]}"

scratch instructions

# The configurations of run.sh's lcw-signed-in and lcw-default rows.
INJECT=true
free_port up_port
free_port floor_port
upstream="http://127.0.0.1:$up_port"

build_all
new_secrets
proxy_config lcw-signed required false signed_port
proxy_config lcw-default required true default_port
cookie=$("$tmp/sessioncookie" -secret "$secret" -name _lcw -sub user1)

"$tmp/upstream" -listen "127.0.0.1:$up_port" >"$tmp/upstream.log" 2>&1 &
pids+=($!)

# count ROW PORT CMD... runs CMD under callgrind, warms it, then counts the
# instructions of $seconds of wrk's requests and prints them per request.
count() {
	local row=$1 port=$2
	shift 2
	GOMAXPROCS=1 valgrind --tool=callgrind --callgrind-out-file="$tmp/$row.cg" "$@" >"$tmp/$row.log" 2>&1 &
	local vg=$!
	pids+=("$vg")
	signed_in_ready "$row" "$port"
	wrk -t1 -c8 -d3s -H "Cookie: $cookie" "http://127.0.0.1:$port/small" >/dev/null
	callgrind_control -z "$vg" >/dev/null 2>&1
	local n
	n=$(wrk -t1 -c8 -d"${seconds}s" -H "Cookie: $cookie" "http://127.0.0.1:$port/small" | awk '/requests in/ { print $1 }')
	callgrind_control -d "$vg" >/dev/null 2>&1
	kill "$vg" 2>/dev/null || true
	wait "$vg" 2>/dev/null || true
	# The dump after zeroing is the largest file (the exit's is near empty).
	local f ir
	f=$(ls -S "$tmp/$row.cg"* | head -1)
	ir=$(callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
	per[$row]=$((ir / n))
	printf '%-18s %9d requests %9d instructions/request\n' "$row" "$n" "${per[$row]}"
}

declare -A per
echo "==> callgrind, GOMAXPROCS=1, ${seconds}s of wrk -c8 per row"
for row in $rows; do
	case $row in
	lcw-floor+cookie) count "$row" "$floor_port" "$tmp/reverseproxy" -lcw -listen "127.0.0.1:$floor_port" -upstream "$upstream" ;;
	lcw-signed-in) count "$row" "$signed_port" "$tmp/lcw-auth-proxy" --config "$tmp/lcw-signed.yaml" ;;
	lcw-default) count "$row" "$default_port" "$tmp/lcw-auth-proxy" --config "$tmp/lcw-default.yaml" ;;
	*) die "unknown row $row (rows: lcw-floor+cookie lcw-signed-in lcw-default)" ;;
	esac
done
if [[ -n ${per[lcw-floor+cookie]:-} && -n ${per[lcw-default]:-} ]]; then
	awk -v f="${per[lcw-floor+cookie]}" -v d="${per[lcw-default]}" 'BEGIN {
		printf "default config vs lcw-floor+cookie: %.3fx the instructions, %.3fx the rate were instructions all (target >= 0.9x)\n", d / f, f / d }'
fi
