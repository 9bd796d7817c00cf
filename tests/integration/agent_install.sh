#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The node agent's life cycle (install, watch, health, cleanup) with real
# inotify, sockets and signals: readiness before and after install, our
# entry re-inserted when removed, the binary restored, the kubeconfig
# rewritten on a kubelet-style token rotation, /metrics parsed by
# prometheus_client, the log socket, the kept capabilities, and SIGTERM
# restoring the conf, then removing the kubeconfig, then the binary.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.bash"
require_root
require_file "$AGENT" "build the project first"
require_file "$PLUGIN" "build the project first"

# --- the command line ---------------------------------------------------
check "--help exits 0 and names the variables" \
	bash -c "'$AGENT' --help | grep -q MOUNTED_CNI_NET_DIR"
check "--version prints the version" bash -c "'$AGENT' --version | grep -Eq '[0-9]+\.[0-9]+'"
check "runs as install-cni too" bash -c "'$BUILD_DIR/bin/install-cni' --version | grep -q install-cni"
if "$AGENT" --bogus >/dev/null 2>&1; then fail "an unknown argument is refused"; else
	pass "an unknown argument is refused"; fi

agent_setup
if env -i PATH=/usr/bin:/bin HEALTH_PORT=99999 "$AGENT" >"$T/bad.log" 2>&1; then
	fail "an invalid HEALTH_PORT refuses start-up"
else
	check "an invalid HEALTH_PORT refuses start-up, naming it" grep -q HEALTH_PORT "$T/bad.log"
fi

# --- not ready before install: no primary conf yet -----------------------
mv "$NETD/10-bridge.conflist" "$T/held.conflist"
# The capture audit off: the capabilities below are the installer's alone.
agent_start AUDIT_INTERVAL_SECONDS=0
if wait_for 10 is_not_ready; then pass "/readyz 503 while no primary conf exists"; else
	fail "/readyz 503 while no primary conf exists: got $(readyz)"; fi
assert_eq "$(http_code "http://127.0.0.1:$HEALTH_PORT/healthz")" 200 "/healthz 200 before install"
assert_eq "$(http_code "http://127.0.0.1:$HEALTH_PORT/nope")" 404 "unknown path 404"

# The primary CNI drops its conf (temp + rename): the agent sees it and installs.
cp "$T/held.conflist" "$NETD/.10-bridge.tmp"
mv "$NETD/.10-bridge.tmp" "$NETD/10-bridge.conflist"
if agent_wait_ready 10; then pass "/readyz 200 once installed and watching"; else
	fail "/readyz 200 once installed and watching"; fi
assert_eq "$(count_istio "$NETD/10-bridge.conflist")" 1 "our entry inserted once"
check "binary installed" cmp "$SRC/istio-cni" "$BIN/istio-cni"
KC=$RUN/istio-cni-kubeconfig
assert_eq "$(stat -c %a "$KC" 2>/dev/null)" 600 "plugin kubeconfig written 0600"
check "plugin kubeconfig holds the service-account token" grep -q "$TOKEN" "$KC"
assert_eq "$(stat -c %a "$RUN/log.sock" 2>/dev/null)" 600 "log socket is 0600"
check "log socket is a socket" test -S "$RUN/log.sock"

# --- /metrics parses as Prometheus text ------------------------------------
if prom_check "http://127.0.0.1:$MONITORING_PORT/metrics" >"$T/metrics.txt" 2>"$T/metrics.err"; then
	pass "/metrics parses with prometheus_client"
else
	fail "/metrics parses with prometheus_client"; sed 's/^/     | /' "$T/metrics.err"
fi
check "istio_cni_installs_total{result=SUCCESS} counted" \
	grep -Eq '^istio_cni_installs_total\{result="SUCCESS"\} [1-9]' "$T/metrics.txt"
check "istio_cni_install_ready 1" grep -q '^istio_cni_install_ready{} 1.0$' "$T/metrics.txt"
check "istio_cni_plugin_add_duration_seconds is a histogram" \
	grep -q '^istio_cni_plugin_add_duration_seconds_bucket{le="+Inf"}' "$T/metrics.txt"
assert_eq "$(http_code "http://127.0.0.1:$MONITORING_PORT/readyz")" 404 \
	"the monitoring port serves only /metrics"

# --- our entry removed: re-inserted; readiness drops meanwhile -------------
cp "$T/original.conflist" "$NETD/.x" && mv "$NETD/.x" "$NETD/10-bridge.conflist"
if wait_for 5 istio_count_is 1 "$NETD/10-bridge.conflist"; then
	pass "entry removed by another CNI: re-inserted"
else fail "entry removed by another CNI: re-inserted"; fi
# Right after a re-install the throttle holds the next one back for up to a
# second: a second removal is visible as 503 while the entry is missing.
cp "$T/original.conflist" "$NETD/10-bridge.conflist"
if wait_for 3 is_not_ready; then pass "/readyz 503 while our entry is missing"; else
	fail "/readyz 503 while our entry is missing"; fi
if agent_wait_ready 5; then pass "/readyz 200 again after the re-install"; else
	fail "/readyz 200 again after the re-install"; fi
assert_eq "$(count_istio "$NETD/10-bridge.conflist")" 1 "entry present exactly once again"

# An unparsable primary conf is never rewritten: not ready until it is fixed.
printf '{"cniVersion": "1.0.0", "plugins": [' >"$NETD/10-bridge.conflist"
if wait_for 5 is_not_ready; then pass "/readyz 503 with an unparsable primary conf"; else
	fail "/readyz 503 with an unparsable primary conf"; fi
sleep 1.5
assert_eq "$(cat "$NETD/10-bridge.conflist")" '{"cniVersion": "1.0.0", "plugins": [' \
	"an unparsable primary conf is left alone"
cp "$T/original.conflist" "$NETD/10-bridge.conflist"
if agent_wait_ready 5; then pass "ready again once the conf is valid"; else
	fail "ready again once the conf is valid"; fi

# --- the binary removed: restored -----------------------------------------
rm -f "$BIN/istio-cni"
if wait_for 5 cmp -s "$SRC/istio-cni" "$BIN/istio-cni"; then pass "deleted binary restored"; else
	fail "deleted binary restored"; fi

# --- token rotation, the kubelet way ----------------------------------------
NEW_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
ctl POST /tokens "{\"token\":\"$NEW_TOKEN\",\"user\":\"$AGENT_USER\"}" >/dev/null
sa_write "$SA" "$NEW_TOKEN" "$T/api/ca.crt"
if wait_for 5 grep -q "$NEW_TOKEN" "$KC"; then pass "token rotation: kubeconfig rewritten"; else
	fail "token rotation: kubeconfig rewritten"; fi
check "token rotation: old token gone from the kubeconfig" bash -c "! grep -q '$TOKEN' '$KC'"
assert_eq "$(stat -c %a "$KC")" 600 "token rotation: kubeconfig still 0600"
check "agent still ready after the rotation" is_ready

# --- the log socket -------------------------------------------------------
LINE1='{"time":"t","level":"info","scope":"istio-cni","msg":"programmed traffic capture (nftables, 20 IPv4 and 0 IPv6 rules)","pod":"default/web-1","containerID":"c0ffee","duration_ms":3.5}'
LINE2='{"time":"t","level":"error","scope":"istio-cni","msg":"ADD failed: boom","pod":"default/web-2"}'
BODY=$("$PYTHON" -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "$LINE1" "$LINE2")
got=$(sock_request POST /log "$BODY" | sed -n 1p)
assert_eq "$got" 200 "POST /log accepted"
check "plugin line re-logged with its pod" \
	grep -q 'plugin: programmed traffic capture.*pod=default/web-1' "$T/agent.log"
check "plugin error re-logged at error level with its pod" \
	grep -Eq 'error.*plugin: ADD failed: boom pod=default/web-2' "$T/agent.log"
assert_eq "$(sock_request POST /log '{"not":"an array"}' | sed -n 1p)" 400 "POST /log: non-array 400"
"$PYTHON" -c 'print("[\"" + "x" * (2 * 1024 * 1024) + "\"]")' >"$T/big.json"
assert_eq "$(sock_request POST /log "@$T/big.json" 2>/dev/null | sed -n 1p)" 413 "POST /log: over the cap 413"
assert_eq "$(sock_request GET /log | sed -n 1p)" 405 "GET /log 405"
prom_check "http://127.0.0.1:$MONITORING_PORT/metrics" >"$T/metrics2.txt" 2>&1
check "plugin lines counted" grep -q '^istio_cni_plugin_log_lines_total{} 2.0$' "$T/metrics2.txt"
check "plugin ADD outcomes counted" grep -q '^istio_cni_plugin_add_total{result="failure"} 1.0$' \
	"$T/metrics2.txt"
check "plugin ADD duration observed" \
	grep -q '^istio_cni_plugin_add_duration_seconds_bucket{le="0.005"} 1.0$' "$T/metrics2.txt"

# --- capabilities: install only ---------------------------------------------
capmask() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
assert_eq "$(capmask "$AGENT_PID" CapEff)" 0000000000000002 "install only: CapEff = cap_dac_override"
assert_eq "$(capmask "$AGENT_PID" CapBnd)" 0000000000000002 "install only: CapBnd = cap_dac_override"
assert_eq "$(capmask "$AGENT_PID" CapPrm)" 0000000000000002 "install only: CapPrm = cap_dac_override"
bad_thread=
for st in /proc/"$AGENT_PID"/task/*/status; do
	[[ $(awk '$1 == "CapEff:" {print $2}' "$st") == 0000000000000002 ]] || bad_thread=$st
done
assert_eq "$bad_thread" "" "every thread has the reduced set"

# --- SIGTERM: conf restored first, then kubeconfig, then binary -------------
fs_watch_start "$T/events" "$NETD" "$RUN" "$BIN"
agent_stop TERM
sleep 0.3
assert_eq "$AGENT_RC" 0 "SIGTERM: exit 0"
check "SIGTERM: primary conf as before install (same JSON)" same_json "$NETD/10-bridge.conflist" \
	"$T/original.conflist"
check "SIGTERM: kubeconfig removed" test ! -e "$KC"
check "SIGTERM: binary removed" test ! -e "$BIN/istio-cni"
check "SIGTERM: log socket removed" test ! -e "$RUN/log.sock"
order=$(awk -v netd="$NETD" -v kc="$KC" -v bin="$BIN/istio-cni" '
	$1 == netd "/10-bridge.conflist" && ($2 == "MOVED_TO" || $2 == "CLOSE_WRITE") && !c { c = NR }
	$1 == kc && $2 == "DELETE" && !k { k = NR }
	$1 == bin && $2 == "DELETE" && !b { b = NR }
	END { print (c && k && b && c < k && k < b) ? "conf,kubeconfig,binary" : "c=" c " k=" k " b=" b }' \
	"$T/events")
assert_eq "$order" "conf,kubeconfig,binary" "SIGTERM: removal order"

# --- capabilities with in-place repair -----------------------------------
agent_start REPAIR_ENABLED=true REPAIR_REPAIR_PODS=true HOST_PROC_DIR=/proc
agent_wait_ready 10 || true
# cap_dac_override(1) net_admin(12) net_raw(13) sys_ptrace(19) sys_admin(21)
assert_eq "$(capmask "$AGENT_PID" CapEff)" 0000000000283002 "repair in place: CapEff"
assert_eq "$(capmask "$AGENT_PID" CapBnd)" 0000000000283002 "repair in place: CapBnd"
check "kept set logged" grep -q 'capabilities kept: cap_dac_override,cap_net_admin,cap_net_raw,cap_sys_ptrace,cap_sys_admin' "$T/agent.log"
agent_stop INT
assert_eq "$AGENT_RC" 0 "SIGINT: exit 0"
check "SIGINT: primary conf as before install" same_json "$NETD/10-bridge.conflist" \
	"$T/original.conflist"

agent_start REPAIR_ENABLED=true REPAIR_REPAIR_PODS=false REPAIR_DELETE_PODS=true \
	AUDIT_INTERVAL_SECONDS=0
agent_wait_ready 10 || true
assert_eq "$(capmask "$AGENT_PID" CapEff)" 0000000000000002 "repair by deletion: CapEff"
agent_stop TERM

# The audit (on by default) enters pod netns and reads their rules: it keeps
# what in-place repair keeps, with the repair loop off.
agent_start REPAIR_ENABLED=false
agent_wait_ready 10 || true
assert_eq "$(capmask "$AGENT_PID" CapEff)" 0000000000283002 "audit on, repair off: CapEff"
agent_stop TERM

summary
