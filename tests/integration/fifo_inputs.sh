#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A FIFO (or anything else) planted where the plugin expects a file or a
# network namespace fails at once with a clear CNI error instead of blocking
# in open(): CNI_NETNS for ADD and CHECK (DEL succeeds: nothing of ours can be
# in something that is no netns), the kubeconfig, its token file and its CA
# file (libcurl used to open the CA itself and block there). Every run is
# under `timeout`, so a regression fails instead of hanging.
#
# Needs root, python3. Prints "N passed, M failed".
. "$(dirname "$0")/lib.sh"
require_root
require_file "$PLUGIN" "build the project first"

tmpdir_new T
netns_new NODE fifo
ip -n "$NODE" link set lo up
netns_new POD fifopod
ip -n "$POD" link add eth0 type veth peer name peer0
ip -n "$POD" addr add 10.78.0.2/24 dev eth0
ip -n "$POD" link set eth0 up
RUN=$T/run
mkdir -p "$RUN"
mkfifo "$T/netns.fifo" "$T/kubeconfig.fifo" "$T/token.fifo" "$T/ca.fifo"
printf token >"$T/token"

# A TCP listener that accepts and says nothing: a client reaches its TLS
# set-up (where libcurl loads the CA file) and waits there.
ip netns exec "$NODE" "$PYTHON" -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
conns = []
while True:
    conns.append(s.accept())
' >"$T/listener.port" 2>&1 &
on_exit kill "$!"
for _ in $(seq 50); do [[ -s "$T/listener.port" ]] && break; sleep 0.1; done
PORT=$(head -n1 "$T/listener.port")

# The pod comes from a stand-in agent, so ADD and CHECK reach the netns.
"$PYTHON" - "$ROOT/tests/fakeapi" "$T/pods.json" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
import pods
json.dump([pods.istio_pod("web", "default")], open(sys.argv[2], "w"))
PY
WEB_UID=$(json_py "$T/pods.json" -- 'print(doc[0][0]["metadata"]["uid"])')
"$PYTHON" "$ROOT/tests/tools/fake_agent.py" "$RUN/log.sock" "$T/pods.json" "$T/agent.log" \
	>"$T/agent.out" 2>&1 &
on_exit kill "$!"
for _ in $(seq 50); do grep -q ready "$T/agent.out" && break; sleep 0.1; done

# conf FILE [KUBECONFIG]: the plugin's conf, with a prevResult for CHECK.
conf()
{
	"$PYTHON" - "$1" "$RUN" "${2:-}" <<'PY'
import json, sys
c = {"cniVersion": "1.0.0", "name": "fifo", "type": "istio-cni", "cni_agent_run_dir": sys.argv[2],
     "pod_lookup_timeout_seconds": 2,
     "prevResult": {"cniVersion": "1.0.0", "ips": [{"address": "10.78.0.2/24"}]}}
if sys.argv[3]:
    c["kubernetes"] = {"kubeconfig": sys.argv[3]}
json.dump(c, open(sys.argv[1], "w"))
PY
}
conf "$T/agent.json"

# plugin CONF VERB NETNS [UID]: the plugin in the node netns, under a 10 s timeout.
plugin()
{
	local args="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web"
	[[ -n "${4:-}" ]] && args+=";K8S_POD_UID=$4"
	RUN_SEQ=$((RUN_SEQ + 1))
	RUN_OUT=$T/run-$RUN_SEQ.out
	RUN_ERR=$T/run-$RUN_SEQ.err
	local start=$(date +%s%N)
	ip netns exec "$NODE" timeout 10 env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		"${SANITIZER_ENV[@]}" CNI_COMMAND="$2" CNI_CONTAINERID=fifo CNI_NETNS="$3" \
		CNI_IFNAME=eth0 CNI_PATH=/nonexistent CNI_ARGS="$args" "$PLUGIN" \
		<"$1" >"$RUN_OUT" 2>"$RUN_ERR"
	RUN_RC=$?
	MS=$((($(date +%s%N) - start) / 1000000))
	((RUN_RC == 124)) && printf '     | timed out: the plugin hung\n'
}

# --- CNI_NETNS ---------------------------------------------------------------
plugin "$T/agent.json" ADD "/var/run/netns/$POD" "$WEB_UID"
expect_ok "control: ADD into a real netns (pod from the agent)"
plugin "$T/agent.json" ADD "$T/netns.fifo" "$WEB_UID"
expect_error "CNI_NETNS a FIFO: ADD fails at once (${MS} ms) naming the path" "3" 'not a network namespace'
plugin "$T/agent.json" CHECK "$T/netns.fifo" "$WEB_UID"
expect_error "CNI_NETNS a FIFO: CHECK fails at once (${MS} ms)" "3" 'not a network namespace'
plugin "$T/agent.json" DEL "$T/netns.fifo"
expect_ok "CNI_NETNS a FIFO: DEL succeeds at once (${MS} ms)"
plugin "$T/agent.json" DEL "$T/token"
expect_ok "CNI_NETNS a regular file (an unmounted netns): DEL succeeds"
plugin "$T/agent.json" DEL "/var/run/netns/$POD"
expect_ok "control: DEL of the real netns"
if ip netns exec "$POD" nft list tables | grep -q istio-proxy; then
	fail "control: DEL removed our tables"
else pass "control: DEL removed our tables"; fi

# --- the kubeconfig and the files it names (no agent answer: no uid) -----------
kubeconfig() # FILE TOKEN_FILE CA_FILE
{
	umask 077
	cat >"$1" <<KC
apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: $3
    server: https://127.0.0.1:$PORT
  name: c
contexts:
- context: {cluster: c, user: u}
  name: x
current-context: x
users:
- name: u
  user:
    tokenFile: $2
KC
}
printf 'not a PEM file\n' >"$T/ca.crt"
kubeconfig "$T/kc-token" "$T/token.fifo" "$T/ca.crt"
kubeconfig "$T/kc-ca" "$T/token" "$T/ca.fifo"
# KUBECONFIG FIFO DESCRIPTION
for c in "kubeconfig.fifo kubeconfig.fifo the kubeconfig" "kc-token token.fifo the token file" \
	"kc-ca ca.fifo the CA file"; do
	read -r f fifo what <<<"$c"
	conf "$T/kc.json" "$T/$f"
	plugin "$T/kc.json" ADD "/var/run/netns/$POD"
	expect_error "$what a FIFO: ADD fails at once (${MS} ms) naming it" "5" "$fifo: not a regular file"
done

summary
