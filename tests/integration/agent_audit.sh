#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The agent's capture audit, end to end: a meshed pod captured by the plugin
# (`istio-cni apply`) in a real netns, an uninjected pod in another netns, a
# meshed pod of another node. With AUDIT_INTERVAL_SECONDS=1:
#  - the intact pod: `istio-cni-agent audit` exits 0 with "default/web ok",
#    no Event, and nothing written to its netns (nft monitor stays silent);
#  - its table deleted with nft from inside the pod netns: a repair-off agent
#    reports "drift missing", exits 1, posts one CaptureDrift Warning Event and
#    counts istio_cni_capture_drift_total{reason="missing"};
#  - a repairing agent (REPAIR_REPAIR_PODS) restores it within an interval,
#    first pass after the cache syncs (drift that happened while it was down),
#    with a CaptureRepaired Event; a changed rule is found and repaired too;
#  - the uninjected pod and the other node's pod are never audited;
#  - the iptables backend (REDIRECT_BACKEND=iptables): flushed chains found
#    and restored;
#  - /debug/audit answers loopback clients only; AUDIT_INTERVAL_SECONDS=0
#    turns it off (404, and the subcommand exits 2).
# AUDIT_MEMCHECK=1 runs the agent under valgrind and fails on any leak or
# memory error (agent_audit_valgrind.sh).
# run-tests: asan
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.bash"
require_root
require_file "$AGENT" "build the project first"
require_file "$PLUGIN" "build the project first"

if [[ "${AUDIT_MEMCHECK:-0}" == 1 ]]; then
	command -v valgrind >/dev/null || { skip "valgrind missing"; summary; exit 0; }
fi

# Addresses nobody else on this machine should have.
NET=10.$((200 + RANDOM % 50)).$((RANDOM % 250))
WEB_IP=$NET.5
PLAIN_IP=$NET.6
IPT_IP=$NET.7

agent_setup
"$PYTHON" - "$ROOT/tests/fakeapi" "$T" "$WEB_IP" "$PLAIN_IP" "$IPT_IP" "$NET.9" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
import pods
t, web, plain, ipt, other = sys.argv[2:7]
w = pods.istio_pod("web", "default", node="node-1", pod_ip=web)
p = pods.uninjected_pod("plain", "default", node="node-1", pod_ip=plain)
i = pods.istio_pod("legacy", "shop", node="node-1", pod_ip=ipt)
o = pods.istio_pod("elsewhere", "default", node="node-2", pod_ip=other)
json.dump(w, open(t + "/web.json", "w"))
json.dump(i, open(t + "/legacy.json", "w"))
json.dump([w, p, o], open(t + "/all.json", "w"))
PY
ctl POST /pods "$(cat "$T/all.json")" >/dev/null

# pod_netns VAR IP: a netns with eth0 (a veth whose peer stays inside) holding
# IP, and a process of ours in it, so that a /proc scan finds it.
pod_netns()
{
	netns_new "$1" apod || exit 1
	local ns=${!1}
	ip -n "$ns" link add eth0 type veth peer name peer0
	ip -n "$ns" addr add "$2/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" link set peer0 up
	spawn SLEEPER ip netns exec "$ns" sleep 3600
}
pod_netns WEB "$WEB_IP"
pod_netns PLAIN "$PLAIN_IP"

"$PLUGIN" apply --pod "$T/web.json" --netns "/var/run/netns/$WEB" >"$T/apply.out" 2>&1
assert_eq "$?" 0 "the plugin captures the meshed pod"
in_pod() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
in_pod "$WEB" nft list ruleset >"$T/web.rules"
check "its netns holds our table" grep -q "table inet istio-proxy-nat" "$T/web.rules"

AUDIT_ENV=(AUDIT_INTERVAL_SECONDS=1 HOST_PROC_DIR=/proc)
if [[ "${AUDIT_MEMCHECK:-0}" == 1 ]]; then
	AGENT_WRAPPER=(valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect
		--error-exitcode=99 --track-fds=no --log-file="$T/valgrind.%p.log")
fi
# The subcommand, as an operator runs it on the node; prints its output, then "rc=N".
audit_cmd()
{
	in_node env -i HEALTH_PORT="$HEALTH_PORT" "${SANITIZER_ENV[@]}" "$AGENT" audit
	echo "rc=$?"
}
events() # events PYTHON-EXPR over ev (the Events the fake API holds)
{
	ctl GET /events >"$T/events.json"
	"$PYTHON" - "$T/events.json" "$1" <<-'EOF'
		import json, sys
		ev = json.load(open(sys.argv[1]))["items"]
		print(eval(sys.argv[2]))
	EOF
}
first_pass() { grep -q 'audit: first pass done' "$T/agent.log"; }
metric() { prom_check "http://127.0.0.1:$MONITORING_PORT/metrics" | grep "^$1" || true; }

start()
{
	agent_start "${AUDIT_ENV[@]}" "$@"
	agent_wait_ready 60 || { summary; exit 1; }
	if wait_for 60 first_pass; then pass "first audit pass after the cache synced $*"; else
		fail "first audit pass after the cache synced $*"
		tail -n 20 "$T/agent.log" | sed 's/^/     | /'
	fi
}

# --- Intact, repair off. ---
start
spawn MONITOR ip netns exec "$WEB" nft monitor >"$T/monitor.out" 2>&1
sleep 3 # three passes
audit_cmd >"$T/a1.out"
assert_eq "$(cat "$T/a1.out")" "default/web ok
rc=0" "intact: 'istio-cni-agent audit' prints one ok line and exits 0"
proc_stop -g "$MONITOR"
check "intact: nothing written to the pod netns during the passes (nft monitor silent)" \
	bash -c '! grep -q . "$1"' _ "$T/monitor.out"
assert_eq "$(events 'len(ev)')" 0 "intact: no Event"
http_get "http://127.0.0.1:$HEALTH_PORT/debug/audit" >"$T/a1.http"
assert_eq "$(sed -n 1p "$T/a1.http")" 200 "GET /debug/audit: 200"
assert_eq "$(sed 1d "$T/a1.http" | "$PYTHON" -c 'import json,sys; d=json.load(sys.stdin); print([(p["namespace"],p["name"],p["status"]) for p in d["pods"]], d["ok"], d["drift"], d["unchecked"])')" \
	"[('default', 'web', 'ok')] 1 0 0" "GET /debug/audit: the same as JSON"
check "the uninjected pod and the other node's pod are not audited" \
	bash -c '! grep -Eq "plain|elsewhere" "$1"' _ "$T/a1.http"
in_pod "$PLAIN" nft list ruleset >"$T/plain.rules"
check "the uninjected pod's netns is untouched" bash -c '! grep -q . "$1"' _ "$T/plain.rules"

# Loopback only: from another netns, the node's address answers 403.
LINK=172.31.$((RANDOM % 250))
ip link add "av$$" netns "$NODE" type veth peer name eth1 netns "$PLAIN"
ip -n "$NODE" addr add "$LINK.1/24" dev "av$$"
ip -n "$NODE" link set "av$$" up
ip -n "$PLAIN" addr add "$LINK.2/24" dev eth1
ip -n "$PLAIN" link set eth1 up
in_pod "$PLAIN" "$PYTHON" - "http://$LINK.1:$HEALTH_PORT/debug/audit" >"$T/remote.out" <<'PY'
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=5).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception as e:
    print(0, e)
PY
assert_eq "$(cat "$T/remote.out")" 403 "/debug/audit from a non-loopback address: 403"
ip -n "$NODE" link del "av$$"

# --- Drift, repair off: reported, an Event, counted; nothing written. ---
in_pod "$WEB" nft delete table inet istio-proxy-nat
sleep 1.1 # on demand, one fresh pass a second: not the report of the last request
audit_cmd >"$T/a2.out"
if grep -q '^default/web drift missing: ' "$T/a2.out" && grep -qx 'rc=1' "$T/a2.out"; then
	pass "drift: reported as missing, the subcommand exits 1"
else
	fail "drift: reported as missing, the subcommand exits 1"
	sed 's/^/     | /' "$T/a2.out"
fi
drift_event() { [[ $(events '[(e["reason"], e["type"], e["involvedObject"]["name"]) for e in ev]') == "[('CaptureDrift', 'Warning', 'web')]" ]]; }
if wait_for 10 drift_event; then pass "drift: one CaptureDrift Warning Event on the pod"; else
	fail "drift: one CaptureDrift Warning Event on the pod: $(events 'ev')"; fi
check "drift: the difference is logged" grep -q 'audit: pod=default/web .*capture drift (missing)' "$T/agent.log"
assert_eq "$(metric 'istio_cni_capture_drift_total')" 'istio_cni_capture_drift_total{reason="missing"} 1.0' \
	"drift: istio_cni_capture_drift_total{reason=missing} 1"
sleep 2
assert_eq "$(events 'len(ev)')" 1 "a drift that persists is announced once"
check "repair off: the table stays missing" bash -c '! ip netns exec "$1" nft list tables | grep -q istio' _ "$WEB"
agent_stop TERM
assert_eq "$AGENT_RC" 0 "SIGTERM: exit 0"

# --- Repair on: the first pass after start-up puts it back. ---
ctl DELETE /events >/dev/null
start REPAIR_ENABLED=true REPAIR_REPAIR_PODS=true
restored() { ip netns exec "$WEB" nft list tables | grep -q istio-proxy-nat; }
if wait_for 10 restored; then pass "repair: the table is back"; else fail "repair: the table is back"; fi
in_pod "$WEB" nft list ruleset >"$T/web.rules2"
check "repair: the rules are those the plugin programmed" diff "$T/web.rules" "$T/web.rules2"
repaired_event() { [[ $(events 'sorted((e["reason"], e["type"]) for e in ev)') == "[('CaptureDrift', 'Warning'), ('CaptureRepaired', 'Normal')]" ]]; }
if wait_for 10 repaired_event; then pass "repair: CaptureDrift then CaptureRepaired Events"; else
	fail "repair: CaptureDrift then CaptureRepaired Events: $(events '[e["reason"] for e in ev]')"; fi
audit_cmd >"$T/a3.out"
assert_eq "$(cat "$T/a3.out")" "default/web ok
rc=0" "repaired: the subcommand exits 0"

# A changed rule (one deleted from a chain) is drift too, and repaired.
handle=$(in_pod "$WEB" nft -a list chain inet istio-proxy-nat istio-output | grep 'saddr 127.0.0.6' | sed 's/.*# handle //')
in_pod "$WEB" nft delete rule inet istio-proxy-nat istio-output handle "$handle"
changed() { grep -q 'capture drift (changed)' "$T/agent.log"; }
if wait_for 10 changed; then pass "a changed chain: drift changed"; else fail "a changed chain: drift changed"; fi
back() { ip netns exec "$WEB" nft list ruleset | diff -q "$T/web.rules" - >/dev/null; }
if wait_for 10 back; then pass "a changed chain: repaired"; else fail "a changed chain: repaired"; fi
check "the uninjected pod got no Event" bash -c '[[ $('"$PYTHON"' -c "
import json,sys; print(sum(1 for e in json.load(open(sys.argv[1]))[\"items\"] if e[\"involvedObject\"][\"name\"] != \"web\"))" "$1") == 0 ]]' _ "$T/events.json"
in_pod "$PLAIN" nft list ruleset >"$T/plain.rules"
check "the uninjected pod's netns is still untouched" bash -c '! grep -q . "$1"' _ "$T/plain.rules"
agent_stop TERM
assert_eq "$AGENT_RC" 0 "SIGTERM: exit 0"

# --- The iptables backend. ---
if command -v iptables-nft-save >/dev/null || command -v iptables-save >/dev/null; then
	pod_netns LEGACY "$IPT_IP"
	ctl POST /pods "$(cat "$T/legacy.json")" >/dev/null
	echo '{"cniVersion":"0.3.1","name":"istio-cni","type":"istio-cni","redirect_backend":"iptables"}' >"$T/ipt.conf"
	"$PLUGIN" apply --pod "$T/legacy.json" --netns "/var/run/netns/$LEGACY" --conf "$T/ipt.conf" >"$T/apply2.out" 2>&1
	assert_eq "$?" 0 "iptables: the plugin captures the pod"
	ctl DELETE /events >/dev/null
	start REPAIR_ENABLED=true REPAIR_REPAIR_PODS=true REDIRECT_BACKEND=iptables
	audit_cmd >"$T/a4.out"
	check "iptables: intact, both pods ok" grep -qx 'shop/legacy ok' "$T/a4.out"
	in_pod "$LEGACY" iptables -t nat -F ISTIO_OUTPUT
	ipt_back() { [[ $(ip netns exec "$LEGACY" iptables -t nat -S ISTIO_OUTPUT | wc -l) -gt 1 ]]; }
	if wait_for 10 ipt_back; then pass "iptables: a flushed chain is restored"; else
		fail "iptables: a flushed chain is restored"; fi
	check "iptables: the drift was logged" grep -q 'pod=shop/legacy .*capture drift' "$T/agent.log"
	agent_stop TERM
	assert_eq "$AGENT_RC" 0 "SIGTERM: exit 0"
else
	skip "iptables backend (no iptables-save)"
fi

# --- Off. ---
start_off()
{
	agent_start AUDIT_INTERVAL_SECONDS=0 HOST_PROC_DIR=/proc
	agent_wait_ready 60 || { summary; exit 1; }
}
start_off
assert_eq "$(http_code "http://127.0.0.1:$HEALTH_PORT/debug/audit")" 404 "AUDIT_INTERVAL_SECONDS=0: 404"
audit_cmd >"$T/a5.out" 2>&1
check "AUDIT_INTERVAL_SECONDS=0: the subcommand exits 2" grep -qx 'rc=2' "$T/a5.out"
agent_stop TERM

agent_start AUDIT_INTERVAL_SECONDS=86401
wait "$AGENT_PID"
assert_eq "$?" 1 "AUDIT_INTERVAL_SECONDS=86401: exit 1"
check "AUDIT_INTERVAL_SECONDS=86401 refuses start-up" grep -q 'AUDIT_INTERVAL_SECONDS="86401"' "$T/agent.log"

if [[ "${AUDIT_MEMCHECK:-0}" == 1 ]]; then
	bad=$(grep -lE 'ERROR SUMMARY: [1-9]|definitely lost: [1-9]|indirectly lost: [1-9]' "$T"/valgrind.*.log 2>/dev/null)
	if [[ -z "$bad" ]] && ls "$T"/valgrind.*.log >/dev/null 2>&1; then
		pass "valgrind: no memory error, no leak ($(ls "$T"/valgrind.*.log | wc -l) runs)"
	else
		fail "valgrind: $bad"
		for f in $bad; do sed 's/^/     | /' "$f" | head -n 60; done
	fi
fi
summary
