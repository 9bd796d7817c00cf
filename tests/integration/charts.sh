#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Drop-in for Istio's charts: our binaries started with exactly the argv and
# environment that Istio's charts give their containers
# (tests/fixtures/charts, resolved by pod_env.py), against the fake API
# server, in a throwaway node netns. Only the hostPath mount points are
# redirected to temp dirs (MOUNTED_CNI_*_DIR, CNI_BIN_SOURCE_DIR,
# CNI_AGENT_RUN_DIR, SERVICE_ACCOUNT_DIR, HOST_PROC_DIR) and the API server
# is the fake one (KUBERNETES_SERVICE_HOST/PORT, as the kubelet sets them).
#  - current chart: install-cni --log_output_level=info with the ConfigMap;
#    the variant with --log_as_json and scoped levels; the ConfigMap that
#    wrote EXCLUDED_NAMESPACES: installs, ready, levels and exclusions as
#    configured, uninstalls on SIGTERM;
#  - Istio 1.7: install-cni with the cni_network_config template; repair-cni
#    (istio-cni-repair with REPAIR_DELETE-PODS=true ...) deletes a broken pod
#    exactly once, as a daemon and in one pass; 1.7's flags do the same.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.bash"
require_root
REPAIR=${REPAIR:-$BUILD_DIR/bin/istio-cni-repair}
require_file "$AGENT" "build first"
require_file "$REPAIR" "build first"
CHARTS=$ROOT/tests/fixtures/charts

# chart_env MANIFEST CONTAINER [pod_env args]: sets CHART_CMD and CHART_ENV.
chart_env()
{
	local json
	json=$("$PYTHON" "$LIB_DIR/pod_env.py" "$@") || return 1
	mapfile -d '' -t CHART_CMD < <("$PYTHON" -c 'import json,sys; d=json.loads(sys.argv[1]); sys.stdout.write("".join(x+"\0" for x in d["command"]+d["args"]))' "$json")
	mapfile -d '' -t CHART_ENV < <("$PYTHON" -c 'import json,sys; d=json.loads(sys.argv[1]); sys.stdout.write("".join("%s=%s\0" % kv for kv in d["env"].items()))' "$json")
}

# The mount points and the API server, as the pod would see them.
mount_env()
{
	MOUNT_ENV=(PATH=/usr/sbin:/usr/bin:/sbin:/bin
		MOUNTED_CNI_NET_DIR="$NETD" MOUNTED_CNI_BIN_DIR="$BIN" CNI_BIN_SOURCE_DIR="$SRC"
		CNI_AGENT_RUN_DIR="$RUN" SERVICE_ACCOUNT_DIR="$SA" HOST_PROC_DIR=/proc
		KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$API_PORT"
		"${SANITIZER_ENV[@]}")
}

# chart_agent_start: install-cni from CHART_CMD/CHART_ENV.
chart_agent_start()
{
	mount_env
	: >"$T/agent.log"
	ip netns exec "$NODE" env -i "${MOUNT_ENV[@]}" "${CHART_ENV[@]}" \
		"$AGENT" "${CHART_CMD[@]:1}" >>"$T/agent.log" 2>&1 &
	AGENT_PID=$!
	on_exit kill -9 "$AGENT_PID"
}

entry() { "$PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(json.dumps([p for p in d["plugins"] if p["type"]=="istio-cni"][0].get(sys.argv[2]), sort_keys=True))' "$NETD/10-bridge.conflist" "$1"; }

# --- the current chart ---------------------------------------------------
current()
{
	local manifest=$1 label=$2 want_excl=$3
	shift 3
	agent_setup
	chart_env "$manifest" install-cni "$@" || { fail "$label: pod_env"; return; }
	check "$label: install-cni is the command" test "${CHART_CMD[0]}" = install-cni
	chart_agent_start
	if ! agent_wait_ready 20; then
		fail "$label: ready"
		return
	fi
	pass "$label: ready with the chart's argv and env"
	check "$label: plugin installed" test -x "$BIN/istio-cni"
	check "$label: conflist holds one istio-cni entry" istio_count_is 1 "$NETD/10-bridge.conflist"
	assert_eq "$(entry exclude_namespaces)" "$want_excl" "$label: exclude_namespaces"
	assert_eq "$(entry pod_namespace)" '"istio-system"' "$label: pod_namespace from the downward API"
	check "$label: node name from NODE_NAME" grep -Eq 'node=.?"node-1' "$T/agent.log"
	check "$label: no argument or variable refused" bash -c "! grep -Eqi 'unknown argument|invalid configuration' '$T/agent.log'"
	agent_stop
	assert_eq "$AGENT_RC" 0 "$label: SIGTERM exits 0"
	check "$label: conflist restored" same_json "$NETD/10-bridge.conflist" "$T/original.conflist"
	check "$label: plugin removed" test ! -e "$BIN/istio-cni"
}

current "$CHARTS/istio-current/daemonset.yaml" "current chart" '["kube-system"]'
check "current chart: ambient keys not warned about while ambient is off" \
	bash -c "! grep -q 'AMBIENT_.*not supported' '$T/agent.log'"

current "$CHARTS/istio-current/daemonset.yaml" "EXCLUDED_NAMESPACES ConfigMap" \
	'["kube-system", "istio-system"]' --configmap "$CHARTS/istio-current/configmap-excluded.yaml"

current "$CHARTS/istio-current/daemonset-json-logs.yaml" "JSON logs" '["kube-system"]' \
	--configmap "$CHARTS/istio-current/daemonset.yaml"
check "JSON logs: every log line is a JSON object" "$PYTHON" -c '
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
assert lines and all(isinstance(json.loads(l), dict) for l in lines)
assert any(json.loads(l).get("level") == "debug" for l in lines), "no debug line"
' "$T/agent.log"
check "JSON logs: the plugin level comes from the cni-plugin scope" \
	grep -q 'plugin_log_level=warn' "$T/agent.log"

# --- Istio 1.7 -------------------------------------------------------------
agent_setup
chart_env "$CHARTS/istio-1.7/daemonset.yaml" install-cni --node node-1
chart_agent_start
if agent_wait_ready 20; then
	pass "1.7 install-cni: ready"
else
	fail "1.7 install-cni: ready"
fi
check "1.7 install-cni: conflist holds one istio-cni entry" istio_count_is 1 "$NETD/10-bridge.conflist"
assert_eq "$(entry kubernetes)" \
	'{"cni_bin_dir": "/opt/cni/bin", "exclude_namespaces": ["istio-system"], "kubeconfig": "/etc/cni/net.d/ZZZ-istio-cni-kubeconfig"}' \
	"1.7 install-cni: the template, substituted"
assert_eq "$(entry log_level)" '"info"' "1.7 install-cni: log_level from the template"
assert_eq "$(stat -c %a "$NETD/ZZZ-istio-cni-kubeconfig" 2>/dev/null)" 600 \
	"1.7 install-cni: kubeconfig in the conf dir, 0600"
agent_stop
assert_eq "$AGENT_RC" 0 "1.7 install-cni: SIGTERM exits 0"
check "1.7 install-cni: conflist restored" same_json "$NETD/10-bridge.conflist" "$T/original.conflist"

# repair-cni: in-cluster credentials from the service-account dir, as in a pod.
broken_json()
{
	"$PYTHON" - "$ROOT/tests/fakeapi" "$1" <<-'PY'
		import json, sys
		sys.path.insert(0, sys.argv[1])
		import pods
		print(json.dumps([pods.broken_pod(sys.argv[2]), pods.istio_pod(sys.argv[2] + "-ok")]))
	PY
}
deletes() { ctl GET /requests | "$PYTHON" -c 'import json,sys; print(len([r for r in json.load(sys.stdin)["items"] if r["method"]=="DELETE" and r["path"].endswith("/"+sys.argv[1])]))' "$1"; }
delete_events() { ctl GET /events | "$PYTHON" -c 'import json,sys; print(len([e for e in json.load(sys.stdin)["items"] if e["reason"]=="DeleteBrokenPod" and e["involvedObject"]["name"]==sys.argv[1]]))' "$1"; }
has_deleted() { [[ $(deletes "$1") -ge 1 ]]; }

chart_env "$CHARTS/istio-1.7/daemonset.yaml" repair-cni --node node-1
check "1.7 repair-cni runs /opt/cni/bin/istio-cni-repair" test "${CHART_CMD[0]}" = /opt/cni/bin/istio-cni-repair
mount_env
ctl POST /pods "$(broken_json broken-a)" >/dev/null
ip netns exec "$NODE" env -i "${MOUNT_ENV[@]}" "${CHART_ENV[@]}" "$REPAIR" "${CHART_CMD[@]:1}" \
	>"$T/repair.log" 2>&1 &
RPID=$!
on_exit kill -9 "$RPID"
if wait_for 15 has_deleted broken-a; then
	sleep 2
	assert_eq "$(deletes broken-a)" 1 "1.7 repair-cni (daemon): the broken pod deleted exactly once"
	assert_eq "$(delete_events broken-a)" 1 "1.7 repair-cni (daemon): one DeleteBrokenPod Event"
	assert_eq "$(deletes broken-a-ok)" 0 "1.7 repair-cni (daemon): the healthy pod untouched"
else
	fail "1.7 repair-cni (daemon): no DELETE"
	sed 's/^/     | /' "$T/repair.log" | tail -n 20
fi
check "1.7 repair-cni (daemon): still running" kill -0 "$RPID"
kill -TERM "$RPID"
wait "$RPID"
assert_eq "$?" 0 "1.7 repair-cni (daemon): SIGTERM exits 0"

# RUN-AS-DAEMON=false: one pass, exit 0.
ctl POST /pods "$(broken_json broken-b)" >/dev/null
ip netns exec "$NODE" env -i "${MOUNT_ENV[@]}" "${CHART_ENV[@]}" REPAIR_RUN-AS-DAEMON=false \
	timeout 30 "$REPAIR" >"$T/repair-b.log" 2>&1
assert_eq "$?" 0 "1.7 repair-cni (REPAIR_RUN-AS-DAEMON=false): one pass exits 0"
assert_eq "$(deletes broken-b)" 1 "1.7 repair-cni (one pass): deleted exactly once"

# 1.7's flags instead of the environment.
ctl POST /pods "$(broken_json broken-c)" >/dev/null
ip netns exec "$NODE" env -i "${MOUNT_ENV[@]}" timeout 30 "$REPAIR" --delete-pods \
	--node-name node-1 --init-container-name=istio-validation >"$T/repair-c.log" 2>&1
assert_eq "$?" 0 "1.7 flags: one pass (the default) exits 0"
assert_eq "$(deletes broken-c)" 1 "1.7 flags: deleted exactly once"

summary
