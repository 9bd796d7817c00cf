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
#    turns it off (404, and the subcommand exits 2);
#  - an on-demand pass runs on the audit thread, not the health server's:
#    while one is in progress /healthz and /readyz answer (their answers
#    arrive before the audit's), requests that arrive during it share the
#    next pass, a request whose pass does not end within its timeout (30 s,
#    or timeoutSeconds) gets a 503,
#    and SIGTERM with a request waiting answers it and exits 0. The pass is
#    held in progress by a test-only hook, ISTIO_CNI_TEST_ONLY_AUDIT_HOLD_FILE:
#    every pass waits while the file it names exists (the agent honours it
#    only when the variable is set, and warns then; nothing sets it outside
#    the tests).
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
	in_node env -i HEALTH_PORT="$HEALTH_PORT" "${SANITIZER_ENV[@]}" "$AGENT" audit "$@"
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

# --- On demand: the pass runs on the audit thread; the probes still answer. ---
HOLD=$T/audit.hold
cat >"$T/ondemand.py" <<'PY'
# ondemand.py PORT LOG HOLD MODE: MODE "probe": holds a pass with an on-demand
# request A waiting for it, then records, in order of arrival, the answers of
# /healthz and /readyz, whether A is still unanswered, two more requests B and
# C (both queued while the pass is held), and A's, B's and C's answers once the
# hold file is gone. MODE "get": one GET /debug/audit, its status and body.
import select, socket, sys, time
port, log, hold, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

def count(s):
    return open(log, errors="replace").read().count(s)

def wait(cond, secs):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()

def send(path):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
    return s

def answer(s, secs):
    """(status, body) or None when nothing came within secs."""
    s.settimeout(secs)
    data = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except OSError:
        if not data:
            return None
    head, _, body = data.partition(b"\r\n\r\n")
    try:
        return int(head.split()[1]), body.decode(errors="replace")
    except (IndexError, ValueError):
        return 0, data.decode(errors="replace")

def answered(s):
    return bool(select.select([s], [], [], 0)[0])

HELD = "audit: test-only hold: the pass waits"
QUEUED = "waits for audit pass"
if mode == "get":
    a = answer(send("/debug/audit"), 120)
    print(a[0] if a else 0)
    print(a[1] if a else "no answer")
    sys.exit(0)

open(hold, "w").close()
held0, queued0 = count(HELD), count(QUEUED)
a = send("/debug/audit")
if not wait(lambda: count(HELD) > held0, 30):
    print("no pass was held")
    sys.exit(0)
print("a pass is in progress")
for path in ("/healthz", "/readyz"):
    r = answer(send(path), 5)
    print("%s %s" % (path, r[0] if r else "no answer within 5 s"))
print("A answered" if answered(a) else "A waiting")
b, c = send("/debug/audit"), send("/debug/audit")
if not wait(lambda: count(QUEUED) >= queued0 + 3, 30):
    print("B and C were not queued")
lines = [l for l in open(log, errors="replace") if QUEUED in l][queued0:]
tickets = [l.rsplit(" ", 1)[-1].strip() for l in lines]
print("B and C wait for one pass after A's" if len(tickets) == 3 and tickets[1] == tickets[2]
      and int(tickets[1]) == int(tickets[0]) + 1 else "queued: %s" % tickets)
passes0 = count("meshed pods of")
import os
os.unlink(hold)
for name, s in (("A", a), ("B", b), ("C", c)):
    r = answer(s, 60)
    print("%s %s" % (name, r[0] if r else "no answer"))
    if r:
        open("%s.%s" % (log, name), "w").write(r[1])
print("passes after the hold: %d" % (count("meshed pods of") - passes0))
PY
ondemand() { in_node "$PYTHON" "$T/ondemand.py" "$HEALTH_PORT" "$T/agent.log" "$HOLD" "$@"; }
rm -f "$HOLD"
start AUDIT_INTERVAL_SECONDS=86400 ISTIO_CNI_TEST_ONLY_AUDIT_HOLD_FILE="$HOLD"
check "the test-only hold hook warns that it is set" grep -q 'ISTIO_CNI_TEST_ONLY_AUDIT_HOLD_FILE is set' "$T/agent.log"
ondemand probe >"$T/ondemand.out" 2>&1
rm -f "$HOLD"
assert_eq "$(sed -n 1,4p "$T/ondemand.out")" "a pass is in progress
/healthz 200
/readyz 200
A waiting" "while an on-demand pass runs, /healthz and /readyz answer before it does"
assert_eq "$(sed -n 5p "$T/ondemand.out")" "B and C wait for one pass after A's" \
	"requests that arrive during a pass share the next one"
assert_eq "$(sed -n 6,9p "$T/ondemand.out")" "A 200
B 200
C 200
passes after the hold: 2" "A's pass and B's and C's shared one answer all three: two passes, 200"
same_body() { "$PYTHON" -c 'import json,sys; d=[json.load(open(f)) for f in sys.argv[1:]]; sys.exit(not (d[0] == d[1] == d[2] and ("default", "web", "ok") in [(p["namespace"], p["name"], p["status"]) for p in d[0]["pods"]]))' "$@"; }
check "the waiting requests get the same JSON report as before" \
	same_body "$T/agent.log.A" "$T/agent.log.B" "$T/agent.log.C"

# A pass that does not end within the request's timeout: the request gets a
# 503 and the subcommand says why; the pass itself goes on. (Each request
# comes more than a second after the last on-demand pass: within it, the
# latest report.) The default timeout is 30 s; the request asks for 2.
sleep 1.1
touch "$HOLD"
audit_cmd --timeout 2 >"$T/a6.out" 2>&1
rm -f "$HOLD"
if grep -q '^audit: HTTP 503: the audit pass did not finish within 2 s' "$T/a6.out" &&
	grep -qx 'rc=2' "$T/a6.out"; then
	pass "a pass held past the request's 2 s: 503, the subcommand exits 2 and says why"
else
	fail "a pass held past the request's 2 s: 503, the subcommand exits 2 and says why"
	sed 's/^/     | /' "$T/a6.out"
fi
assert_eq "$(http_code "http://127.0.0.1:$HEALTH_PORT/healthz")" 200 "after the 503: /healthz 200"
for bad in 0 301 1.5 x; do
	assert_eq "$(http_code "http://127.0.0.1:$HEALTH_PORT/debug/audit?timeoutSeconds=$bad")" 400 \
		"/debug/audit?timeoutSeconds=$bad: 400"
done
audit_cmd --timeout 0 >"$T/a6b.out" 2>&1
check "audit --timeout 0: refused, exit 2" grep -qx 'rc=2' "$T/a6b.out"

# SIGTERM while a request waits for a held pass: answered, and a clean exit.
sleep 1.1
touch "$HOLD"
held=$(grep -c 'audit: test-only hold: the pass waits' "$T/agent.log")
ondemand get >"$T/a7.out" 2>&1 &
GETTER=$!
more_held() { [[ $(grep -c 'audit: test-only hold: the pass waits' "$T/agent.log") -gt $held ]]; }
wait_for 30 more_held
kill -TERM "$AGENT_PID"
gone() { ! kill -0 "$AGENT_PID" 2>/dev/null || [[ $(ps -o stat= -p "$AGENT_PID") == Z* ]]; }
if wait_for 60 gone; then pass "SIGTERM with a request waiting: the agent exits"; else
	fail "SIGTERM with a request waiting: the agent exits (still running after 60 s)"
	kill -KILL "$AGENT_PID" 2>/dev/null
fi
wait "$AGENT_PID"
assert_eq "$?" 0 "SIGTERM with a request waiting: exit 0"
wait "$GETTER"
rm -f "$HOLD"
if [[ $(sed -n 1p "$T/a7.out") == 503 ]] && grep -q 'the agent is stopping' "$T/a7.out"; then
	pass "SIGTERM with a request waiting: it gets 503 \"the agent is stopping\""
else
	fail "SIGTERM with a request waiting: it gets 503 \"the agent is stopping\""
	sed 's/^/     | /' "$T/a7.out"
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
