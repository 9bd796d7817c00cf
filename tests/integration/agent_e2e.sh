#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end: the agent installs into a conf dir holding a bridge conflist;
# cnitool loads the conflist the agent wrote and runs the chain, with the
# binary the agent installed, into a throwaway pod netns inside a throwaway
# "node" netns (the fake API server and the agent run there). The plugin
# reaches the agent's pod cache, programs the capture, and its log lines
# arrive at the agent's log socket and show up in the agent's log with the
# pod name; the ADD is counted in /metrics. With the agent's watch down, an
# injected web-0 replaced by an uninjected web-0 (new uid) is not captured
# by an ADD without K8S_POD_UID: the stale cache entry is not used. SIGTERM
# then restores the conf.
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
# cni VERB NAME [UID [NETNS]]: cnitool in the node netns over the agent's conf
# and binary (UID "-": no K8S_POD_UID).
cni()
{
	OUT=$T/$1.out
	ERR=$T/$1.err
	local uid=${3:-$WEB_UID} args="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=$2"
	[[ $uid == - ]] || args+=";K8S_POD_UID=$uid"
	mkdir -p "$T/cni-state"
	node_exec "$NODE" "$T/cni-state" env CNI_PATH="$BIN:$CNI_PLUGINS_DIR" NETCONFPATH="$NETD" \
		CNI_ARGS="$args" "$CNITOOL" "$1" k8s-pod-network "/var/run/netns/${4:-$POD}" \
		>"$OUT" 2>"$ERR"
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

# The watch goes down (cut; the API refuses to list or watch again) while an
# injected web-0 is replaced by an uninjected one; the runtime passes no uid.
web0_pods "$T/web0.json" "$T/web0-new.json"
ctl POST /pods "$(cat "$T/web0.json")" >/dev/null
web0_cached() { [[ $(sock_request GET '/pod?namespace=default&name=web-0' | sed -n 1p) == 200 ]]; }
wait_for 5 web0_cached || fail "injected web-0 cached"
ctl POST /faults '{"kind":"fail","status":500,"count":null,"path":"^/api/v1/pods$"}' >/dev/null
ctl POST /watches/cut >/dev/null
ctl DELETE /pods/default/web-0 >/dev/null
ctl POST /pods "$(cat "$T/web0-new.json")" >/dev/null
ctl DELETE /requests >/dev/null
netns_new POD2 pod2
cni add web-0 - "$POD2"
if ((RC == 0)); then pass "watch down, no K8S_POD_UID: ADD of the new web-0"; else
	fail "watch down, no K8S_POD_UID: ADD of the new web-0"; show; fi
tables=$(ip netns exec "$POD2" nft list tables 2>/dev/null; ip netns exec "$POD2" iptables-save -t nat 2>/dev/null)
if grep -q 'istio-proxy-nat\|ISTIO_REDIRECT\|ISTIO_OUTPUT' <<<"$tables"; then
	fail "watch down: the uninjected web-0 is not captured (the stale entry was used)"
else pass "watch down: the uninjected web-0 is not captured (the stale entry was not used)"; fi
ctl GET /requests >"$T/requests.json"
gets=$("$PYTHON" -c '
import json, sys
print(sum(1 for r in json.load(open(sys.argv[1]))["items"] if r["path"].endswith("/pods/web-0")))' "$T/requests.json")
if ((gets >= 1)); then pass "watch down: the plugin asked the API server"; else
	fail "watch down: the plugin asked the API server"; fi
cni del web-0 - "$POD2"
ctl DELETE /faults >/dev/null

agent_stop TERM
assert_eq "$AGENT_RC" 0 "SIGTERM: exit 0"
check "SIGTERM: the bridge conflist as before" same_json "$NETD/10-bridge.conflist" "$T/original.conflist"
check "SIGTERM: binary removed" test ! -e "$BIN/istio-cni"
summary
