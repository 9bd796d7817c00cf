#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# run-tests: asan
# The node agent's repair in place uses the backend of the plugin entry it
# installs: on a 1.7-template node whose CNI_NETWORK_CONFIG sets
# "redirect_backend": "iptables" (and no REDIRECT_BACKEND in the
# environment), a broken pod is repaired with iptables: our ISTIO_ chains in
# iptables-save, no nftables table of ours, `istio-cni check` with the
# installed entry passes.

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.bash"
require_root
require_file "$AGENT" "build the project first"
require_file "$PLUGIN" "build the project first"
command -v iptables-nft-save >/dev/null || { echo "$TEST_NAME: iptables-nft-save missing" >&2; exit 1; }

agent_setup
NAME=productpage-v1-7d6cfb7dfd-b7x2q
IP=10.$((200 + RANDOM % 50)).$((RANDOM % 250)).$((2 + RANDOM % 250))

netns_new POD apod
ip -n "$NODE" link add "ra$$" type veth peer name eth0 netns "$POD" || exit 1
ip -n "$NODE" link set "ra$$" up
ip -n "$POD" addr add "$IP/24" dev eth0
ip -n "$POD" link set eth0 up
# A process of ours in the pod netns makes it findable under /proc.
ip netns exec "$POD" sleep 600 &
on_exit proc_stop "$!"

"$PYTHON" - "$ROOT/tests/fakeapi" "$T/pod.json" "$IP" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
import pods
json.dump(pods.broken_pod(pod_ip=sys.argv[3]), open(sys.argv[2], "w"))
PY
ctl POST /pods @"$T/pod.json" >/dev/null || exit 1

TEMPLATE='{"cniVersion":"0.3.1","name":"istio-cni","type":"istio-cni","log_level":"info",
"redirect_backend":"iptables","kubernetes":{"kubeconfig":"__KUBECONFIG_FILEPATH__",
"cni_bin_dir":"/opt/cni/bin","exclude_namespaces":["istio-system"]}}'
agent_start REPAIR_ENABLED=true REPAIR_REPAIR_PODS=true HOST_PROC_DIR=/proc \
	CNI_NETWORK_CONFIG="$TEMPLATE"

if wait_for 30 grep -q "repaired broken pod=default/$NAME" "$T/agent.log"; then
	pass "the agent repaired the pod in place"
else
	fail "the agent repaired the pod in place"
	tail -n 20 "$T/agent.log" | sed 's/^/     | /'
fi
check "it logged backend=iptables" grep -q "repaired broken pod=default/$NAME.*backend=iptables" \
	"$T/agent.log"
check "iptables-save in the pod netns shows our ISTIO_ chains" \
	bash -c "ip netns exec '$POD' iptables-nft-save | grep -q '^:ISTIO_'"
check "no inet istio-proxy-nat nft table in the pod netns" \
	bash -c "! ip netns exec '$POD' nft list tables | grep -q 'inet istio-proxy-nat'"

# The entry the agent installed (chained into the primary conflist) is the conf CHECK uses.
"$PYTHON" - "$NETD/10-bridge.conflist" "$T/entry.json" <<'PY'
import json, sys
l = json.load(open(sys.argv[1]))
e = [p for p in l["plugins"] if p.get("type") == "istio-cni"][0]
e.setdefault("cniVersion", l.get("cniVersion", "0.3.1"))
e.setdefault("name", l.get("name", "k8s-pod-network"))
json.dump(e, open(sys.argv[2], "w"))
PY
check "istio-cni check with the installed entry passes" \
	"$PLUGIN" check --pod "$T/pod.json" --netns "/var/run/netns/$POD" --conf "$T/entry.json"

agent_stop TERM
assert_eq "$AGENT_RC" 0 "the agent exits 0 on SIGTERM"
summary
