#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end: the agent installs into a conf dir holding a bridge conflist;
# cnitool loads the conflist the agent wrote and runs the chain, with the
# binary the agent installed, into a throwaway pod netns inside a throwaway
# "node" netns (the fake API server and the agent run there). The plugin
# reaches the agent's pod cache, programs the capture, and its log lines
# arrive at the agent's log socket and show up in the agent's log with the
# pod name; the ADD is counted in /metrics. SIGTERM then restores the conf.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.bash"
require_root
require_file "$AGENT" "build the project first"
require_file "$CNITOOL" "scripts/build-cnitool.sh builds it"
require_file "$CNI_PLUGINS_DIR/bridge" "install containernetworking-plugins"

agent_setup
"$PYTHON" - "$ROOT/tests/fakeapi" "$T/web.json" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
import pods
json.dump(pods.istio_pod("web", "default", node="node-1"), open(sys.argv[2], "w"))
PY
ctl POST /pods "$(cat "$T/web.json")" >/dev/null
WEB_UID=$(json_get "$T/web.json" '["metadata"]["uid"]')
in_node ip link set lo up

agent_start
agent_wait_ready || { summary; exit 1; }
wait_for 10 grep -q 'pod cache: synced' "$T/agent.log" || true
check "the agent wrote our entry into the bridge conflist" istio_count_is 1 "$NETD/10-bridge.conflist"
ctl DELETE /requests >/dev/null

netns_new POD pod
# cni VERB NAME: cnitool in the node netns over the agent's conf and binary.
cni()
{
	OUT=$T/$1.out
	ERR=$T/$1.err
	mkdir -p "$T/cni-state"
	node_exec "$NODE" "$T/cni-state" env CNI_PATH="$BIN:$CNI_PLUGINS_DIR" NETCONFPATH="$NETD" \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=$2;K8S_POD_UID=$WEB_UID" \
		"$CNITOOL" "$1" k8s-pod-network "/var/run/netns/$POD" >"$OUT" 2>"$ERR"
	RC=$?
}
show() { printf '     | exit %s\n' "$RC"; sed 's/^/     | /' "$OUT" "$ERR" | tail -n 15; }

cni add web
if ((RC == 0)); then pass "ADD through the conflist the agent wrote"; else
	fail "ADD through the conflist the agent wrote"; show; fi
if json_py "$OUT" -- 'assert doc[0]["ips"][0]["address"].startswith("10.78.0.")'; then
	pass "ADD prints the bridge result"
else fail "ADD prints the bridge result"; show; fi
tables=$(ip netns exec "$POD" nft list tables 2>/dev/null; ip netns exec "$POD" iptables-save -t nat 2>/dev/null)
if grep -q 'istio-proxy-nat\|ISTIO_REDIRECT\|ISTIO_OUTPUT' <<<"$tables"; then
	pass "our plugin ran: capture programmed in the pod netns"
else fail "our plugin ran: capture programmed in the pod netns"; fi

if wait_for 5 grep -q 'plugin: .*pod=default/web' "$T/agent.log"; then
	pass "plugin log lines arrive in the agent's log with the pod name"
else fail "plugin log lines arrive in the agent's log with the pod name"; tail -n 20 "$T/agent.log" | sed 's/^/     | /'; fi
check "the plugin's capture line is among them" \
	grep -q 'plugin: programmed traffic capture.*pod=default/web' "$T/agent.log"
ctl GET /requests >"$T/requests.json"
gets=$("$PYTHON" -c '
import json, sys
print(sum(1 for r in json.load(open(sys.argv[1]))["items"] if r["path"].endswith("/pods/web")))' "$T/requests.json")
assert_eq "$gets" 0 "the plugin read the pod from the agent's cache, not the API server"

prom_check "http://127.0.0.1:$MONITORING_PORT/metrics" >"$T/metrics.txt" 2>&1
check "the ADD is counted" grep -q '^istio_cni_plugin_add_total{result="success"} 1.0$' "$T/metrics.txt"
check "plugin lines counted" grep -Eq '^istio_cni_plugin_log_lines_total\{\} [1-9]' "$T/metrics.txt"
check "the lookup was a cache hit" grep -q '^istio_cni_pod_cache_lookups_total{result="hit"} 1.0$' \
	"$T/metrics.txt"

cni del web
if ((RC == 0)); then pass "DEL through the same chain"; else fail "DEL through the same chain"; show; fi

agent_stop TERM
assert_eq "$AGENT_RC" 0 "SIGTERM: exit 0"
check "SIGTERM: the bridge conflist as before" same_json "$NETD/10-bridge.conflist" "$T/original.conflist"
check "SIGTERM: binary removed" test ! -e "$BIN/istio-cni"
summary
