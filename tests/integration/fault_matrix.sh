#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# run-tests: asan
# Fault matrix: istio-cni-repair (daemon, delete mode) and the node agent
# (pod cache and repair thread) against the fake API server while it
# injects, one after the other: 5xx bursts, an outage of the write path
# longer than the per-pod retry budget, 429 with Retry-After, latency
# spikes, cut watches and a 410 storm. For each, pods break while the fault
# is on; at the end:
#  - nothing missed: every pod that broke was deleted (the one broken during
#    the write outage once its init container restarted again after it);
#  - nothing acted on twice: exactly one successful DELETE per broken pod,
#    none of a healthy pod;
#  - 429: the retry waited the server's Retry-After;
#  - the write rate stays within REPAIR_RATE_LIMIT/REPAIR_RATE_BURST in
#    every window, and a 410 storm is relisted with backoff, not in a loop;
#  - the agent's pod cache converges to the API's pod set (right
#    resourceVersion for each live pod, nothing for a deleted one) after
#    churn under faults, and its repair thread acts once per broken pod.
# Root for the agent part (its netns); traffic only on loopback.

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/repair_lib.bash"

require_root
require_file "$REPAIR" "build first: cmake --build $BUILD_DIR"
tmpdir_new TMP
RATE=20
BURST=6

# fault JSON: add a fault rule.
fault() { ctl POST /faults "$1" >/dev/null; }
clear_faults() { ctl DELETE /faults >/dev/null; }
# brk NAME [RESTARTS]: the pod's init container fails validation (again).
brk() { ctl POST "/pods/default/$1/broken" "{\"restart_count\": ${2:-3}}" >/dev/null; }
now() { date +%s.%N; }

# ok_deletes NAME: how many DELETEs of default/NAME succeeded.
ok_deletes() { reqlog "len([x for x in deletes if x['path'].endswith('/$1') and 200 <= x['status'] < 300])"; }
# deleted_once NAME...: each was deleted successfully exactly once.
deleted_once()
{
	local n
	for n in "$@"; do
		[[ $(ok_deletes "$n") == 1 ]] || return 1
	done
}
# in_window T0 T1 EXPR: reqlog EXPR with r limited to [T0, T1].
in_window() { reqlog "(lambda r: $3)([x for x in r if $1 <= x['time'] <= $2])"; }

# --- istio-cni-repair, daemon --------------------------------------------------
pods_json "$TMP/pods.json" '[p.istio_pod("fm-%02d" % i) for i in range(30)]'
fake_start "$TMP/f1" --pods-file "$TMP/pods.json" --bookmark-interval 1 || exit 1
start_repair "$TMP/r1.out" REPAIR_DELETE_PODS=true LOG_LEVEL=debug \
	REPAIR_RATE_LIMIT=$RATE REPAIR_RATE_BURST=$BURST
rpid=$RPID
WATCHES='[x for x in r if x["params"].get("watch") in ("1", "true")]'
LISTS='[x for x in r if x["verb"] == "list"]'
wait_for 10 "len($WATCHES) >= 1" || fail "the repair loop never watched"

# 5xx burst: the next DELETEs and the reconnecting watch answered 500/503.
t0=$(now)
fault '{"kind":"fail","status":500,"verb":"delete","count":3}'
fault '{"kind":"fail","status":503,"retry_after":1,"verb":"watch","count":2}'
ctl POST /watches/cut >/dev/null
brk fm-01
brk fm-02
brk fm-03
if wait_for 20 'all(any(x["path"].endswith("/" + n) and x["status"] == 200 for x in deletes) for n in ("fm-01", "fm-02", "fm-03"))'; then
	pass "5xx burst: the pods broken during it are deleted"
else
	fail "5xx burst: a pod broken during it was not deleted"
fi
t1=$(now)
assert_eq "$(in_window "$t0" "$t1" 'sorted(x["status"] for x in r if x["method"] == "DELETE")')" \
	"[200, 200, 200, 500, 500, 500]" "5xx burst: three 500s retried, one success per pod"
clear_faults

# Write outage longer than the 5-attempt budget (~3 s): the pod is given up
# for now, and deleted on its next update once the API takes writes again.
fault '{"kind":"fail","status":500,"verb":"delete","count":null}'
brk fm-04
wait_for 15 'len([x for x in deletes if x["path"].endswith("/fm-04")]) >= 5' ||
	fail "write outage: fewer than 5 attempts"
sleep 1.5
n=$(reqlog 'len([x for x in deletes if x["path"].endswith("/fm-04")])')
assert_eq "$n" 5 "write outage: 5 attempts for the pod, then it waits"
check "... and says it could not delete it" grep -q 'could not delete broken pod=default/fm-04' "$TMP/r1.out"
clear_faults
brk fm-04 4
if wait_for 10 'any(x["path"].endswith("/fm-04") and x["status"] == 200 for x in deletes)'; then
	pass "write outage over: the pod's next update gets it deleted (not missed)"
else
	fail "write outage over: fm-04 was never deleted"
fi

# 429 with Retry-After: 2 s: each retry waits at least that.
fault '{"kind":"fail","status":429,"retry_after":2,"verb":"delete","count":2}'
brk fm-05
wait_for 15 'any(x["path"].endswith("/fm-05") and x["status"] == 200 for x in deletes)' ||
	fail "429: fm-05 was not deleted"
assert_eq "$(reqlog '[x["status"] for x in deletes if x["path"].endswith("/fm-05")]')" \
	"[429, 429, 200]" "429: retried after each, then deleted"
gaps=$(reqlog '(lambda t: ["%.2f" % (b - a) for a, b in zip(t, t[1:])])([x["time"] for x in deletes if x["path"].endswith("/fm-05")])')
check "429: each retry waited the Retry-After of 2 s (gaps $gaps)" \
	"$PYTHON" -c 'import ast, sys; sys.exit(0 if all(float(g) >= 1.95 for g in ast.literal_eval(sys.argv[1])) else 1)' "$gaps"
clear_faults

# Latency spikes: every request held 1.5 s for a while, the watch cut too.
fault '{"kind":"latency","seconds":1.5,"count":8}'
ctl POST /watches/cut >/dev/null
brk fm-06
brk fm-07
if wait_for 20 'all(any(x["path"].endswith("/" + n) and x["status"] == 200 for x in deletes) for n in ("fm-06", "fm-07"))'; then
	pass "latency spikes: the pods broken meanwhile are deleted"
else
	fail "latency spikes: fm-06/fm-07 not deleted"
fi
clear_faults

# Cut watches: cut three times while pods break, once after one event.
t0=$(now)
nl=$(reqlog "len($LISTS)")
fault '{"kind":"cut","after_events":1,"count":2}'
for n in fm-08 fm-09 fm-10; do
	ctl POST /watches/cut >/dev/null
	brk "$n"
	sleep 0.5
done
if wait_for 15 'all(any(x["path"].endswith("/" + n) and x["status"] == 200 for x in deletes) for n in ("fm-08", "fm-09", "fm-10"))'; then
	pass "cut watches: the pods broken across the cuts are deleted"
else
	fail "cut watches: a pod broken across the cuts was not deleted"
fi
assert_eq "$(reqlog "len($LISTS)")" "$nl" "cut watches: resumed from the resourceVersion, no relist"
clear_faults

# 410 storm: six watches in a row answered 410 Expired.
t0=$(now)
fault '{"kind":"fail","status":410,"verb":"watch","count":6}'
ctl POST /watches/cut >/dev/null
brk fm-11
if wait_for 20 'any(x["path"].endswith("/fm-11") and x["status"] == 200 for x in deletes)'; then
	pass "410 storm: the pod broken during it is deleted"
else
	fail "410 storm: fm-11 not deleted"
fi
wait_for 20 "len([x for x in $WATCHES if x['status'] == 200 and x['time'] > $t0]) >= 1" ||
	fail "410 storm: no watch after it"
t1=$(now)
assert_eq "$(in_window "$t0" "$t1" 'len([x for x in r if x["verb"] == "list"])')" 6 \
	"410 storm: one relist per 410"
gaps=$(in_window "$t0" "$t1" '(lambda t: ["%.2f" % (b - a) for a, b in zip(t, t[1:])])([x["time"] for x in r if x["verb"] == "list"])')
check "410 storm: relists after the first back off, doubling (gaps $gaps s)" \
	"$PYTHON" -c '
import ast, sys
g = [float(x) for x in ast.literal_eval(sys.argv[1])]
ok = len(g) == 5 and all(b >= 0.15 * 2 ** i for i, b in enumerate(g))
sys.exit(0 if ok else 1)' "$gaps"
clear_faults

# Nothing acted on twice, no healthy pod touched.
BROKEN="fm-01 fm-02 fm-03 fm-04 fm-05 fm-06 fm-07 fm-08 fm-09 fm-10 fm-11"
check "each broken pod deleted exactly once ($BROKEN)" deleted_once $BROKEN
assert_eq "$(reqlog "sorted(set(x['path'].rsplit('/', 1)[1] for x in deletes))")" \
	"$("$PYTHON" -c 'import sys; print(sorted(sys.argv[1:]))' $BROKEN)" \
	"no DELETE of a pod that was never broken"
assert_eq "$(reqlog 'len([e for e in ev if e["reason"] == "DeleteBrokenPod" and e["type"] == "Warning" and "failed" not in e["message"]])')" \
	11 "one DeleteBrokenPod Event per deletion"

# The write rate within the bucket in every window: at most
# BURST + RATE * (t_j - t_i) writes between two writes i and j (each action
# takes two tokens: the write and its Event).
excess=$(reqlog "(lambda t: max([0] + [(j - i + 1) - ($BURST + $RATE * (t[j] - t[i])) for i in range(len(t)) for j in range(i, len(t))]))(sorted(x['time'] for x in writes))")
check "writes within rate $RATE/s, burst $BURST in every window (worst excess $excess)" \
	"$PYTHON" -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 1.0 else 1)' "$excess"
counts=$(ctl GET /requests/counts)
peak=$("$PYTHON" -c 'import json, sys; print(json.loads(sys.argv[1])["peak_per_second"])' "$counts")
check "reads never exceed 4 LISTs in a second (peaks $peak)" \
	"$PYTHON" -c 'import json, sys; sys.exit(0 if json.loads(sys.argv[1])["peak_per_second"].get("list", 0) <= 4 else 1)' "$counts"
log "request counts: $("$PYTHON" -c 'import json, sys; d = json.loads(sys.argv[1]); print(d["by_verb"], d["by_status"])' "$counts")"

kill -TERM "$rpid"
wait "$rpid"
assert_eq "$?" 0 "the repair daemon exits 0 after all of it"
fake_stop

# --- the node agent: pod cache and repair thread -------------------------------
. "$(dirname "${BASH_SOURCE[0]}")/agent_lib.bash"
require_file "$AGENT" "build the project first"
FAKE_ARGS="--bookmark-interval 1"
agent_setup
pods_json "$T/pods.json" '[p.istio_pod("ag-%02d" % i) for i in range(20)]'
ctl POST /pods "@$T/pods.json" >/dev/null
agent_start REPAIR_ENABLED=true REPAIR_DELETE_PODS=true REPAIR_RATE_LIMIT=$RATE \
	REPAIR_RATE_BURST=$BURST LOG_LEVEL=debug
agent_wait_ready || { summary; exit 1; }
wait_for 10 grep -q 'pod cache: synced' "$T/agent.log" || fail "the agent's pod cache did not sync"

# churn GONE NEW BROKEN: with the watches cut under the faults just added,
# delete default/GONE, create default/NEW (a fresh uid; the same name as GONE
# is a pod recreated), break default/BROKEN.
churn()
{
	ctl POST /watches/cut >/dev/null
	ctl DELETE "/pods/default/$1" >/dev/null
	pods_json "$T/one.json" "[p.istio_pod('$2')]"
	ctl POST /pods "@$T/one.json" >/dev/null
	brk "$3"
	sleep 1
}

fault '{"kind":"fail","status":503,"retry_after":1,"verb":"watch","count":3}'
churn ag-00 ag-new-1 ag-01
fault '{"kind":"fail","status":429,"retry_after":1,"verb":"list","count":2}'
fault '{"kind":"fail","status":410,"verb":"watch","count":4}'
churn ag-02 ag-02 ag-03
fault '{"kind":"latency","seconds":1,"count":4}'
fault '{"kind":"cut","after_events":1,"count":2}'
churn ag-04 ag-new-2 ag-05
sleep 1
clear_faults

# converged: every pod of the API on node-1 is in the cache with its
# resourceVersion; the deleted ones are not.
converged()
{
	ctl GET /pods >"$T/api-pods.json"
	"$PYTHON" - "$RUN/log.sock" "$T/api-pods.json" ag-00 ag-01 ag-03 ag-04 ag-05 <<-'EOF'
		import http.client, json, socket, sys

		class Conn(http.client.HTTPConnection):
		    def __init__(self, path):
		        super().__init__("localhost", timeout=5)
		        self.path = path
		    def connect(self):
		        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
		        self.sock.settimeout(5)
		        self.sock.connect(self.path)

		def lookup(name):
		    c = Conn(sys.argv[1])
		    c.request("GET", "/pod?namespace=default&name=" + name)
		    r = c.getresponse()
		    body = r.read()
		    c.close()
		    return r.status, body

		pods = [p for p in json.load(open(sys.argv[2]))["items"]
		        if p["spec"].get("nodeName") == "node-1"]
		bad = []
		for p in pods:
		    m = p["metadata"]
		    code, body = lookup(m["name"])
		    got = json.loads(body)["metadata"] if code == 200 else {}
		    if (code, got.get("uid"), got.get("resourceVersion")) != (200, m["uid"], m["resourceVersion"]):
		        bad.append("%s: %s %s/%s, want %s/%s" % (m["name"], code, got.get("uid"),
		                   got.get("resourceVersion"), m["uid"], m["resourceVersion"]))
		live = {p["metadata"]["name"] for p in pods}
		for name in sys.argv[3:]:
		    if name not in live and lookup(name)[0] != 404:
		        bad.append("%s: deleted but still served" % name)
		print("\n".join(bad))
		sys.exit(1 if bad else 0)
	EOF
}
if wait_for 30 converged; then
	pass "agent: after churn under 5xx, 429, 410, latency and cuts the cache holds exactly the API's pods"
else
	fail "agent: the pod cache did not converge"
	converged | head -n 10 | sed 's/^/     | /'
fi
acted() { [[ $(agent_log "sorted(x['path'].rsplit('/', 1)[1] for x in deletes if x['status'] == 200)") == "['ag-01', 'ag-03', 'ag-05']" ]]; }
if wait_for 20 acted; then
	pass "agent: its repair thread deleted each pod broken during the faults once"
else
	fail "agent: deletes $(agent_log "sorted((x['path'].rsplit('/', 1)[1], x['status']) for x in deletes)"), want ag-01, ag-03, ag-05 once"
fi
# The deletions themselves are churn: the cache follows them too.
if wait_for 15 converged; then
	pass "agent: ... and the cache follows those deletions"
else
	fail "agent: the cache did not follow the repair's deletions"
fi
agent_stop TERM
assert_eq "$AGENT_RC" 0 "the agent exits 0 after all of it"

summary
