#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The plugin needs nothing from the host but the kernel: copied alone into an
# empty root filesystem (the binary, /etc/hosts and a kubeconfig; /proc, /dev
# and /run/netns bound in a private mount namespace) it answers VERSION,
# reads a meshed pod over TLS from the fake API server addressed by a host
# name that only the chroot's /etc/hosts knows, programs the capture in the
# pod's netns, fails closed on a host name nobody knows, on a kubeconfig
# whose CA did not sign the server and on a port that does not speak TLS
# (naming OpenSSL's reason),
# opens no shared object, NSS module or openssl.cnf on that path (strace),
# and DEL removes the tables. Skipped for a dynamic build (ISTIO_CNI_STATIC=OFF).
. "$(dirname "$0")/lib.sh"
require_root
require_file "$PLUGIN" "build first: cmake --build $BUILD_DIR"
if readelf -lW "$PLUGIN" | grep -q 'Requesting program interpreter'; then
	skip "istio-cni is dynamically linked (-DISTIO_CNI_STATIC=OFF)"
	summary
	exit
fi

API_HOST=kubernetes.default.svc
tmpdir_new T
netns_new NODE node
netns_new POD pod
ip -n "$POD" link add eth0 type veth peer name peer0
ip -n "$POD" addr add 10.78.1.9/24 dev eth0
ip -n "$POD" link set eth0 up

API=$T/api
mkdir -p "$API"
"$PYTHON" - "$ROOT/tests/fakeapi" "$T/pods.json" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
import pods
json.dump([pods.istio_pod("web", "default")], open(sys.argv[2], "w"))
PY
SA_USER=system:serviceaccount:istio-system:istio-cni
ip netns exec "$NODE" "$PYTHON" "$ROOT/tests/fakeapi/fake_apiserver.py" --dir "$API" \
	--pods-file "$T/pods.json" --token "cni-token=$SA_USER" \
	--allow "$SA_USER=get pods,list pods,watch pods" >"$T/api.log" 2>&1 &
on_exit kill "$!"
for _ in $(seq 100); do [[ -s "$API/server.json" ]] && break; sleep 0.1; done
require_file "$API/server.json" "the fake API server did not start (see $T/api.log)"
PORT=$(json_get "$API/server.json" '["port"]')

# The root filesystem: nothing but these files and the mount points.
R=$T/root
mkdir -p "$R/bin" "$R/etc" "$R/run/istio-cni" "$R/run/netns" "$R/proc" "$R/dev"
cp "$PLUGIN" "$R/bin/istio-cni"
printf '127.0.0.1 %s\n' "$API_HOST" >"$R/etc/hosts"
write_kubeconfig() # CA_FILE [HOST [PORT]]
{
	local host=${2:-$API_HOST} port=${3:-$PORT}
	(
		umask 077
		cat >"$R/run/istio-cni/istio-cni-kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: $(base64 -w0 <"$1")
    server: https://$host:$port
  name: local
contexts:
- context: {cluster: local, user: istio-cni}
  name: ctx
current-context: ctx
users:
- name: istio-cni
  user:
    token: cni-token
KC
	)
}
cat >"$T/conf.json" <<JSON
{"cniVersion": "1.0.0", "name": "chroot", "type": "istio-cni",
 "cni_agent_run_dir": "/run/istio-cni", "pod_namespace": "istio-system",
 "exclude_namespaces": ["kube-system"], "pod_lookup_timeout_seconds": 3,
 "prevResult": {"cniVersion": "1.0.0", "ips": [{"address": "10.78.1.9/24"}]}}
JSON

# in_chroot STDIN VAR=VALUE...: the plugin in the chroot with exactly these
# variables, in the node netns, in a mount namespace of its own. The host's
# chroot(8) enters the root and execs the plugin there. Sets RUN_RC, RUN_OUT,
# RUN_ERR.
CHROOT=$(command -v chroot)
WRAP=() # e.g. strace and its options, run outside the chroot
in_chroot()
{
	local input=$1
	shift
	[[ "$input" == - ]] && input=/dev/null
	RUN_SEQ=$((RUN_SEQ + 1))
	RUN_OUT=$T/run-$RUN_SEQ.out
	RUN_ERR=$T/run-$RUN_SEQ.err
	ip netns exec "$NODE" unshare -m --propagation private /bin/sh -c '
		r=$1 chroot=$2; shift 2
		mount --rbind /proc "$r/proc" && mount --rbind /dev "$r/dev" &&
		mount --rbind /run/netns "$r/run/netns" &&
		exec "$@" "$chroot" "$r" /bin/istio-cni' sh "$R" "$CHROOT" "${WRAP[@]}" /usr/bin/env -i "$@" \
		<"$input" >"$RUN_OUT" 2>"$RUN_ERR"
	RUN_RC=$?
}
has_tables() { ip netns exec "$POD" nft list tables 2>/dev/null | grep -q 'istio-proxy'; }

# fails_closed CASE PATTERN [CHECK]: an ADD in the chroot (with the kubeconfig
# as written) fails with a CNI error matching PATTERN, CHECK (a command) holds
# too, and the pod netns is left without tables.
fails_closed()
{
	local what=$1 pattern=$2
	shift 2
	in_chroot "$T/conf.json" CNI_COMMAND=ADD "${cni_env[@]}"
	if ((RUN_RC != 0)) && grep -q '"code"' "$RUN_OUT" && grep -qi -- "$pattern" "$RUN_OUT" &&
		"${@:-true}"; then
		pass "$what: ADD fails closed naming $pattern"
	else
		fail "$what: ADD fails closed naming $pattern"
		show_run
	fi
	has_tables && fail "$what: nothing programmed" || pass "$what: nothing programmed"
}
cni_env=(CNI_CONTAINERID=chroot "CNI_NETNS=/run/netns/$POD" CNI_IFNAME=eth0 CNI_PATH=/bin
	"CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web")

# --- VERSION ---------------------------------------------------------------
in_chroot - CNI_COMMAND=VERSION
if ((RUN_RC == 0)) && grep -q '"supportedVersions"' "$RUN_OUT"; then
	pass "VERSION answers in an empty root"
else
	fail "VERSION answers in an empty root"
	show_run
fi

# --- a host name nobody knows: fail closed, promptly -------------------------
# Not in the chroot's /etc/hosts, and the chroot has no resolv.conf: c-ares
# asks 127.0.0.1:53 of the node netns, which refuses at once; the plugin
# retries until its 3 s lookup deadline and names the host it could not resolve.
write_kubeconfig "$API/ca.crt" unknown.cluster.invalid
t0=$SECONDS
within_10s() { ((SECONDS - t0 < 10)); }
fails_closed "unknown host name" 'Could not resolve host: unknown.cluster.invalid' within_10s

# --- a kubeconfig whose CA did not sign the server: fail closed -------------
write_kubeconfig "$API/other-ca.crt"
fails_closed "wrong CA" certificate

# --- TLS to a port that speaks plain HTTP: fail closed, the reason named ----
# The plugin skips OpenSSL's error strings; the reason must still be named.
ip netns exec "$NODE" "$PYTHON" -m http.server --bind 127.0.0.1 18080 >"$T/http.log" 2>&1 &
on_exit kill "$!"
for _ in $(seq 50); do ip netns exec "$NODE" ss -ltn | grep -q ':18080 ' && break; sleep 0.1; done
write_kubeconfig "$API/ca.crt" "$API_HOST" 18080
fails_closed "plain-HTTP port" 'wrong version number'

# --- the pod read over TLS by host name, the capture programmed -------------
write_kubeconfig "$API/ca.crt"
in_chroot "$T/conf.json" CNI_COMMAND=ADD "${cni_env[@]}"
if ((RUN_RC == 0)) && grep -q '"ips"' "$RUN_OUT"; then
	pass "ADD reads the pod from https://$API_HOST (chroot's /etc/hosts) and succeeds"
else
	fail "ADD reads the pod from https://$API_HOST (chroot's /etc/hosts) and succeeds"
	show_run
fi
has_tables && pass "ADD: capture programmed in the pod netns" ||
	fail "ADD: capture programmed in the pod netns"

# --- no shared object, NSS module, iconv module or openssl.cnf is opened ---
if command -v strace >/dev/null; then
	ip netns exec "$POD" nft delete table inet istio-proxy-nat 2>/dev/null
	ip netns exec "$POD" nft flush ruleset 2>/dev/null
	WRAP=(strace -f -qq -e trace=%file -o "$T/strace.log")
	in_chroot "$T/conf.json" CNI_COMMAND=ADD "${cni_env[@]}"
	WRAP=()
	# Only what the plugin does after chroot's exec of it. c-ares reads the
	# hosts: line of /etc/nsswitch.conf itself; glibc's NSS would go on to
	# load a libnss_*.so, which the pattern catches.
	opened=$(sed -n '/execve("\/bin\/istio-cni"/,$p' "$T/strace.log" |
		grep -E '\.so[."]|libnss|gconv|openssl\.cnf|/etc/ssl')
	if ((RUN_RC == 0)) && grep -q 'execve("/bin/istio-cni"' "$T/strace.log" && [[ -z "$opened" ]]; then
		pass "API path: no shared object, NSS or iconv module, OpenSSL config opened"
	else
		fail "API path: no shared object, NSS or iconv module, OpenSSL config opened"
		printf '     | %s\n' "$opened"
		show_run
	fi
else
	skip "strace not installed"
fi

# --- DEL ---------------------------------------------------------------------
in_chroot "$T/conf.json" CNI_COMMAND=DEL "${cni_env[@]}"
if ((RUN_RC == 0)) && ! has_tables; then
	pass "DEL removes the tables"
else
	fail "DEL removes the tables"
	show_run
fi

summary
