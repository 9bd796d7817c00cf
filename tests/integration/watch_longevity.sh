#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# run-tests: asan
# Long-lived watches (pod_watch.h): a watcher holds one WATCH request for
# minutes instead of opening a new one every second, and still acts at once.
# Against the fake API server's request log:
#  - istio-cni-repair (daemon, delete mode) idle for 10 s: one WATCH, with
#    timeoutSeconds in [300, 600), bookmarks and the list's resourceVersion;
#  - a pod broken while that watch is open is deleted within a second, by
#    the same watch;
#  - a DELETE answered 503 is retried after its backoff by the watch's tick,
#    the watch staying open; a pod whose DELETE always fails is tried
#    exactly REPAIR_MAX_ATTEMPTS (5) times;
#  - a watch the server ends is resumed from the last resourceVersion, with
#    no new LIST;
#  - SIGTERM stops it within 2 s;
#  - the node agent (pod cache + repair thread, fed by one pod watch) idle
#    for 10 s: one WATCH; its repair thread deletes a pod broken meanwhile
#    within a second; SIGTERM stops it within 2 s.
# Root for the agent part (its netns); traffic only on loopback.

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/repair_lib.bash"

require_root
require_file "$REPAIR" "build first: cmake --build $BUILD_DIR"
tmpdir_new TMP
IDLE=${IDLE:-10}

WATCHES='[x for x in r if x["params"].get("watch") in ("1", "true")]'
LISTS='[x for x in r if x["method"] == "GET" and x["path"] == "/api/v1/pods" and not x["params"].get("watch")]'

# break_and_time NAME: breaks default/NAME through the control API and prints
# the seconds from just before that call to the DELETE of the pod in the
# request log (or "none" after 10 s).
break_and_time()
{
	"$PYTHON" - "$CONTROL" "$1" <<-'EOF'
		import json, sys, time, urllib.request
		base, name = sys.argv[1:3]
		t0 = time.time()
		req = urllib.request.Request(base + "/pods/default/%s/broken" % name, data=b"{}",
		                             method="POST", headers={"Content-Type": "application/json"})
		urllib.request.urlopen(req, timeout=10).read()
		deadline = time.time() + 10
		while time.time() < deadline:
		    log = json.load(urllib.request.urlopen(base + "/requests", timeout=10))["items"]
		    d = [x for x in log if x["method"] == "DELETE" and x["path"].endswith("/" + name)]
		    if d:
		        print("%.3f" % (d[0]["time"] - t0))
		        sys.exit(0)
		    time.sleep(0.02)
		print("none")
	EOF
}

# under SECONDS LIMIT: SECONDS is a number below LIMIT.
under() { "$PYTHON" -c 'import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)' "$1" "$2" 2>/dev/null; }

# --- istio-cni-repair, daemon ------------------------------------------------
pods_json "$TMP/pods.json" '[p.istio_pod("pod-%s" % c) for c in "abcdef"]'
fake_start "$TMP/f1" --pods-file "$TMP/pods.json" --bookmark-interval 1 || exit 1
start_repair "$TMP/r1.out" REPAIR_DELETE_PODS=true LOG_LEVEL=debug
rpid=$RPID
wait_for 10 "len($WATCHES) >= 1" || fail "the repair loop never watched"
sleep "$IDLE"
assert_eq "$(reqlog "len($WATCHES)")" 1 "repair idle for ${IDLE} s: one WATCH request (not one a second)"
assert_eq "$(reqlog "len($LISTS)")" 1 "repair idle: one LIST"
w=$(reqlog "$WATCHES[0]['params']")
check "the WATCH asks for a timeoutSeconds in [300, 600)" \
	"$PYTHON" -c 'import ast, sys; p = ast.literal_eval(sys.argv[1]); sys.exit(0 if 300 <= int(p["timeoutSeconds"]) < 600 else 1)' "$w"
check "the WATCH asks for bookmarks from the list's resourceVersion" \
	"$PYTHON" -c 'import ast, sys; p = ast.literal_eval(sys.argv[1]); sys.exit(0 if p.get("allowWatchBookmarks") == "true" and p.get("resourceVersion") not in (None, "", "0") else 1)' "$w"

lat=$(break_and_time pod-a)
check "a pod broken during the open watch is deleted within 1 s (took $lat s)" under "$lat" 1.0
assert_eq "$(reqlog "len($WATCHES)")" 1 "... by the same WATCH request"

# One 503, then success: the retry comes from the tick after the backoff.
ctl POST /faults '{"kind":"fail","status":503,"verb":"delete","path":"/pod-b$","count":1}' >/dev/null
ctl POST /pods/default/pod-b/broken '{}' >/dev/null
wait_for 10 'any(x["status"] == 200 for x in deletes if x["path"].endswith("/pod-b"))' ||
	fail "pod-b was not deleted after its 503"
assert_eq "$(reqlog '[x["status"] for x in deletes if x["path"].endswith("/pod-b")]')" "[503, 200]" \
	"a DELETE answered 503 is retried once and succeeds"
gap=$(reqlog '(lambda d: "%.3f" % (d[1]["time"] - d[0]["time"]))([x for x in deletes if x["path"].endswith("/pod-b")])')
check "the retry waited its backoff and came from the tick (after $gap s)" \
	"$PYTHON" -c 'import sys; sys.exit(0 if 0.15 <= float(sys.argv[1]) < 2.5 else 1)' "$gap"
assert_eq "$(reqlog "len($WATCHES)")" 1 "the watch stayed open meanwhile"

# Always 503: exactly REPAIR_MAX_ATTEMPTS DELETEs, then a failure Event.
ctl POST /faults '{"kind":"fail","status":503,"verb":"delete","path":"/pod-c$","count":null}' >/dev/null
ctl POST /pods/default/pod-c/broken '{}' >/dev/null
wait_for 15 'any(e["involvedObject"]["name"] == "pod-c" for e in ev)' ||
	fail "pod-c: no Event after its failed DELETEs"
sleep 1.5
assert_eq "$(reqlog 'len([x for x in deletes if x["path"].endswith("/pod-c")])')" 5 \
	"a DELETE that always fails is tried 5 times"
check "then given up with a Warning Event" grep -q 'could not delete broken pod=default/pod-c' "$TMP/r1.out"
assert_eq "$(reqlog "len($WATCHES)")" 1 "all of that within the one WATCH request"
ctl DELETE /faults >/dev/null

# The server ends watches after 2 s: each is resumed from the last
# resourceVersion, without a LIST, and events are still acted on.
ctl PUT /config '{"watch_max_seconds":2}' >/dev/null
ctl POST /watches/cut >/dev/null
sleep 5
nw=$(reqlog "len($WATCHES)")
check "watches the server ends are renewed ($nw WATCH requests)" test "$nw" -ge 3
assert_eq "$(reqlog "len($LISTS)")" 1 "... with no new LIST"
assert_eq "$(reqlog "all(x['params'].get('resourceVersion') not in (None, '', '0') for x in $WATCHES)")" \
	True "... each from a resourceVersion"
lat=$(break_and_time pod-d)
check "a pod broken across renewed watches is still deleted within 1 s (took $lat s)" under "$lat" 1.0
assert_eq "$(reqlog 'len([x for x in deletes if x["path"].endswith("/pod-d")])')" 1 "... once"
ctl PUT /config '{"watch_max_seconds":null}' >/dev/null

t0=$(date +%s.%N)
kill -TERM "$rpid"
wait "$rpid"
rc=$?
t1=$(date +%s.%N)
assert_eq "$rc" 0 "SIGTERM: the repair daemon exits 0"
took=$("$PYTHON" -c "print('%.3f' % ($t1 - $t0))")
check "SIGTERM stops the repair daemon within 2 s (took $took s)" under "$took" 2.0
fake_stop

# --- the node agent: pod cache and repair thread -------------------------------
. "$(dirname "${BASH_SOURCE[0]}")/agent_lib.bash"
require_file "$AGENT" "build the project first"
FAKE_ARGS="--bookmark-interval 1"
agent_setup
pods_json "$T/pods.json" '[p.istio_pod("web-%d" % i) for i in range(3)]'
ctl POST /pods "@$T/pods.json" >/dev/null

one_watch() { [[ $(agent_log "len($WATCHES)") -ge 1 ]]; }

agent_start REPAIR_ENABLED=true REPAIR_DELETE_PODS=true LOG_LEVEL=info
agent_wait_ready || { summary; exit 1; }
wait_for 15 one_watch || fail "the agent did not open its pod watch"
sleep "$IDLE"
assert_eq "$(agent_log "len($WATCHES)")" 1 \
	"agent idle for ${IDLE} s: one WATCH request, shared by the pod cache and repair"
assert_eq "$(agent_log "sorted(300 <= int(x['params']['timeoutSeconds']) < 600 for x in $WATCHES)")" \
	"[True]" "with a timeoutSeconds in [300, 600)"

t0=$(date +%s.%N)
ctl POST /pods/default/web-1/broken '{}' >/dev/null
deleted() { [[ $(agent_log 'len([x for x in deletes if x["path"].endswith("/web-1")])') == 1 ]]; }
if wait_for 5 deleted; then
	lat=$(agent_log "'%.3f' % ([x['time'] for x in deletes if x['path'].endswith('/web-1')][0] - $t0)")
	check "the agent's repair thread deletes a pod broken during the open watch within 1 s (took $lat s)" \
		under "$lat" 1.0
else
	fail "the agent's repair thread did not delete web-1"
fi
assert_eq "$(agent_log "len($WATCHES)")" 1 "... with no new WATCH request"

t0=$(date +%s.%N)
agent_stop TERM
t1=$(date +%s.%N)
assert_eq "$AGENT_RC" 0 "SIGTERM: the agent exits 0"
took=$("$PYTHON" -c "print('%.3f' % ($t1 - $t0))")
check "SIGTERM stops the agent (uninstall, the watch and repair threads joined) within 2 s (took $took s)" \
	under "$took" 2.0

summary
