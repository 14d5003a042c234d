# bench/lib.sh, sourced by run.sh, instructions.sh and profile.sh: their
# tools, ports, secrets, the proxy configurations they measure with and, for
# the last two, their scratch directory, build and readiness check. The
# caller defines die.

# apt_install PKG... installs the Debian packages with apt-get (through sudo
# when not root), keeping the ones that ship a service (nginx on :80, redis
# on :6379) from starting it: the scripts start their own on free ports.
apt_install() {
	local sudo=() own_policy=0
	[[ $(id -u) == 0 ]] || sudo=(sudo)
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
		"${sudo[@]}" chmod +x /usr/sbin/policy-rc.d
		own_policy=1
	fi
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$@" >/dev/null
	((own_policy == 0)) || "${sudo[@]}" rm -f /usr/sbin/policy-rc.d
}

# new_secrets writes the proxies' token signing key to $tmp/signing-key.pem
# and sets secret, their session secret (bench/sessioncookie seals with it).
new_secrets() {
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/signing-key.pem" 2>/dev/null
	chmod 600 "$tmp/signing-key.pem"
	secret=$(openssl rand -base64 32)
}

# free_port VAR sets VAR to a loopback TCP port nobody listens on and that
# this run has not handed out yet. (It assigns rather than prints because a
# $(...) subshell would lose the record of ports already taken.) It stays
# below the kernel's ephemeral range, where an outgoing connection made in the
# meantime (the proxies' upstream pools, anything else on the machine) could
# take the port before our server binds it.
taken=" "
read -r eph_lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || eph_lo=32768
((eph_lo > 11000)) || eph_lo=32768
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((10000 + RANDOM % (eph_lo - 10000)))
		[[ $taken == *" $p "* ]] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			taken+="$p "
			printf -v "$1" '%s' "$p"
			return
		fi
	done
	die "no free port found"
}

# proxy_config NAME MODE ACCESS_LOG PORTVAR [STORE] writes $tmp/NAME.yaml for
# a proxy listening on a fresh port, stored in PORTVAR; STORE redis keeps its
# sessions in the run's redis-server. It reads the caller's tmp, upstream
# (also the IdP: bench/upstream serves a discovery document under /idp),
# secret, INJECT and, for redis, redis_port.
proxy_config() {
	local name=$1 mode=$2 access_log=$3 store=${5:-cookie} port
	free_port port
	printf -v "$4" '%s' "$port"
	cat >"$tmp/$name.yaml" <<EOF
listen: 127.0.0.1:$port
public_url: http://127.0.0.1:$port
upstream:
  url: $upstream
oidc:
  issuer: $upstream/idp
  client_id: lcw-bench
session:
  secret: $secret
  store: $store
$([[ $store == redis ]] && printf '  redis:\n    url: redis://127.0.0.1:%s\n' "$redis_port")
access:
  mode: $mode
token:
  issuer: bench.example.com
  signing_keys:
    - file: $tmp/signing-key.pem
inject:
  enabled: $INJECT
log:
  level: info
  access_log: $access_log
EOF
}

# scratch NAME makes $tmp (/tmp/lcw-NAME.XXXXXX) and an empty pids list;
# on exit every process in pids is killed and $tmp removed, unless
# BENCH_KEEP_TMP=1 keeps it.
scratch() {
	tmp=$(mktemp -d "/tmp/lcw-$1.XXXXXX")
	pids=()
	trap scratch_cleanup EXIT
}
scratch_cleanup() {
	local pid
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [[ ${BENCH_KEEP_TMP:-0} == 1 ]]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}

# build_all builds the upstream, the floor, the session cookie maker and the
# proxy into $tmp, with symbols (plain go build) so that profilers can name
# what they count.
build_all() {
	echo "==> building into $tmp"
	local b
	for b in upstream reverseproxy sessioncookie; do go build -o "$tmp/$b" "./bench/$b"; done
	go build -o "$tmp/lcw-auth-proxy" ./cmd/lcw-auth-proxy
}

# signed_in_ready ROW PORT waits (up to a minute: valgrind starts slowly)
# until the server on PORT answers, then dies unless the signed-in request
# ($cookie) gets 200: a fast 302 or 401 must never be measured as a fast
# proxy.
signed_in_ready() {
	local row=$1 port=$2 code
	for _ in $(seq 300); do
		curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/small" && break
		sleep 0.2
	done
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" "http://127.0.0.1:$port/small")
	[[ $code == 200 ]] || die "$row answered $code to the signed-in request (log: $tmp/$row.log)"
}
