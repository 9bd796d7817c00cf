#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# run-tests: asan
# istio-cni-repair against the fake API server:
#  - delete mode, one pass: the broken pod is deleted once with uid and
#    resourceVersion preconditions and a DeleteBrokenPod Event; pods on other
#    nodes, without the sidecar annotation, with another exit code, with a
#    completed validation, outside the selectors are never touched;
#  - a pod replaced under the same name while the DELETE is in flight: 409,
#    the new pod is not deleted and not retried against;
#  - label mode: one PATCH of pods/status, a LabelBrokenPod Event, a pod
#    already labelled skipped; a second pass writes nothing;
#  - daemon mode: a watch cut mid-stream, then 410 Gone: no broken pod missed,
#    none acted on twice;
#  - 500 pods break at once: all deleted, the write rate within the bucket.
# Traffic only on loopback; no root needed.

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/repair_lib.bash"

require_file "$REPAIR" "build first: cmake --build $BUILD_DIR"
tmpdir_new TMP

BROKEN=productpage-v1-7d6cfb7dfd-b7x2q

# --- delete mode, one pass ------------------------------------------------
pods_json "$TMP/pods1.json" '[
	p.broken_pod(),
	p.broken_pod("other-node-broken", node="node-2"),
	p.broken_pod("no-annotation-broken", annotations={"sidecar.istio.io/status": None}),
	p.broken_pod("exit-one", exit_code=1),
	p.istio_pod("healthy"),
	p.broken_pod("team-b-broken", namespace="team-b"),
	p.broken_pod("reviews-broken", app="reviews"),
	p.uninjected_pod(),
]'
fake_start "$TMP/f1" --pods-file "$TMP/pods1.json" || exit 1
ctl DELETE /requests >/dev/null
out=$(run_repair REPAIR_DELETE_PODS=true REPAIR_RUN_AS_DAEMON=false \
	REPAIR_FIELD_SELECTORS=" metadata.namespace=default, " \
	REPAIR_LABEL_SELECTORS="app=productpage" 2>&1)
rc=$?
assert_eq "$rc" 0 "one pass exits 0"
assert_eq "$(reqlog 'len(deletes)')" 1 "exactly one DELETE"
assert_eq "$(reqlog 'deletes[0]["path"]')" "/api/v1/namespaces/default/pods/$BROKEN" \
	"the broken pod is the one deleted"
want_uid=$(reqlog '[json.loads(x["body"]) for x in deletes][0]["preconditions"]["uid"]')
assert_eq "$want_uid" "$("$PYTHON" -c 'import sys; sys.path.insert(0, sys.argv[1]); import pods; print(pods.broken_pod()["metadata"]["uid"])' "$ROOT/tests/fakeapi")" \
	"DELETE carries the uid precondition"
assert_eq "$(reqlog 'json.loads(deletes[0]["body"])["preconditions"].get("resourceVersion") is not None')" \
	True "DELETE carries the resourceVersion precondition"
assert_eq "$(reqlog 'deletes[0]["status"]')" 200 "the DELETE succeeded"
assert_eq "$(reqlog '[(e["reason"], e["type"], e["involvedObject"]["name"], e["source"]["component"]) for e in ev]')" \
	"[('DeleteBrokenPod', 'Warning', '$BROKEN', 'istio-cni-repair')]" "one DeleteBrokenPod Event"
assert_eq "$(reqlog 'all(e.get("firstTimestamp") and e.get("lastTimestamp") and e.get("count") == 1 and e.get("reportingComponent") == "istio-cni-repair" for e in ev)')" \
	True "the Event has timestamps, count and reportingComponent"
lq=$(reqlog '[x["params"] for x in r if x["method"] == "GET" and x["path"] == "/api/v1/pods"][0]')
check "the list asks for this node and the configured selectors" \
	grep -q "'fieldSelector': 'metadata.namespace=default,spec.nodeName=node-1'.*'labelSelector': 'app=productpage'\|'labelSelector': 'app=productpage'.*'fieldSelector': 'metadata.namespace=default,spec.nodeName=node-1'" <<<"$lq"
left=$(ctl GET /pods | "$PYTHON" -c 'import json,sys; print(" ".join(sorted(p["metadata"]["name"] for p in json.load(sys.stdin)["items"])))')
assert_eq "$left" "exit-one healthy no-annotation-broken other-node-broken productpage-v1-7d6cfb7dfd-n0s1d reviews-broken team-b-broken" \
	"every other pod is still there"
check "one log line for the action" grep -q "deleted broken pod=default/$BROKEN" <<<"$out"
check "no 'nothing to do' lines" bash -c "! grep -qi 'nothing to do' <<<'$out'"
fake_stop

# --- a pod replaced while the DELETE is in flight -------------------------
pods_json "$TMP/pods2.json" '[p.broken_pod()]'
fake_start "$TMP/f2" --pods-file "$TMP/pods2.json" || exit 1
ctl POST /faults '{"kind":"latency","seconds":4,"verb":"delete","count":1}' >/dev/null
start_repair "$TMP/r2.out" REPAIR_DELETE_PODS=true REPAIR_RUN_AS_DAEMON=false
rpid=$RPID
wait_for 10 'len(deletes) >= 0 and any(x["method"] == "GET" and x["path"] == "/api/v1/pods" for x in r)' || true
sleep 0.5
ctl DELETE "/pods/default/$BROKEN" >/dev/null
pods_json "$TMP/new.json" "[p.broken_pod(uid='11111111-2222-3333-4444-555555555555')]"
ctl POST /pods "$(cat "$TMP/new.json")" >/dev/null
wait "$rpid"
assert_eq "$?" 0 "one pass exits 0 after a 409"
assert_eq "$(reqlog '[x["status"] for x in deletes]')" "[409]" \
	"one DELETE, refused with 409 by the preconditions"
assert_eq "$(ctl GET "/pods/default/$BROKEN" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["uid"])')" \
	"11111111-2222-3333-4444-555555555555" "the replacement pod is not deleted"
fake_stop

# --- label mode -------------------------------------------------------------
pods_json "$TMP/pods3.json" '[
	p.broken_pod(),
	p.broken_pod("already-labelled", labels={"cni.istio.io/uninitialized": "true"}),
]'
fake_start "$TMP/f3" --pods-file "$TMP/pods3.json" || exit 1
ctl DELETE /requests >/dev/null
run_repair REPAIR_LABEL_PODS=true REPAIR_RUN_AS_DAEMON=false >"$TMP/r3.out" 2>&1
assert_eq "$?" 0 "label pass exits 0"
assert_eq "$(reqlog '[x["path"] for x in patches]')" \
	"['/api/v1/namespaces/default/pods/$BROKEN/status']" "one PATCH, on pods/status"
assert_eq "$(reqlog 'json.loads(patches[0]["body"])')" \
	"{'metadata': {'labels': {'cni.istio.io/uninitialized': 'true'}}}" "the patch sets the label"
assert_eq "$(reqlog 'patches[0]["headers"].get("Content-Type")')" "application/merge-patch+json" \
	"a JSON merge patch"
assert_eq "$(reqlog '[e["reason"] for e in ev]')" "['LabelBrokenPod']" "one LabelBrokenPod Event"
assert_eq "$(ctl GET "/pods/default/$BROKEN" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["labels"].get("cni.istio.io/uninitialized"))')" \
	true "the pod is labelled"
ctl DELETE /requests >/dev/null
run_repair REPAIR_LABEL_PODS=true REPAIR_RUN_AS_DAEMON=false >"$TMP/r3b.out" 2>&1
assert_eq "$(reqlog 'len(writes)')" 0 "a second pass writes nothing"
fake_stop

# --- daemon: a watch cut, then 410 Gone -------------------------------------
pods_json "$TMP/pods4.json" '[p.istio_pod("pod-a"), p.istio_pod("pod-b"), p.istio_pod("pod-c"), p.istio_pod("pod-d")]'
fake_start "$TMP/f4" --pods-file "$TMP/pods4.json" --bookmark-interval 0.2 || exit 1
start_repair "$TMP/r4.out" REPAIR_DELETE_PODS=true
rpid=$RPID
watching='any(x["params"].get("watch") in ("1", "true") for x in r)'
wait_for 10 "$watching" || fail "the repair loop never watched"
ctl POST /pods/default/pod-a/broken '{}' >/dev/null
wait_for 10 'len(deletes) == 1' || fail "pod-a was not deleted"
# Cut the watch mid-stream after its next event and break pod-b meanwhile.
ctl POST /faults '{"kind":"cut","after_events":0,"count":1}' >/dev/null
ctl POST /watches/cut >/dev/null
ctl POST /pods/default/pod-b/broken '{}' >/dev/null
wait_for 10 'len(deletes) == 2' || fail "pod-b (broken across a cut) was not deleted"
# Expire the history (the next resume answers 410) and break pod-c meanwhile.
ctl POST /history/expire '{"kill_watches":true}' >/dev/null
ctl POST /pods/default/pod-c/broken '{}' >/dev/null
wait_for 10 'len(deletes) == 3' || fail "pod-c (broken across a 410) was not deleted"
ctl POST /history/expire '{"kill_watches":true}' >/dev/null
sleep 2
assert_eq "$(reqlog 'sorted(x["path"].rsplit("/", 1)[1] for x in deletes)')" \
	"['pod-a', 'pod-b', 'pod-c']" "each broken pod deleted once, across a cut and a 410"
assert_eq "$(reqlog 'any(x["status"] == 410 or (x["params"].get("watch") and x["status"] == 200) for x in r)')" \
	True "the loop kept watching"
assert_eq "$(reqlog 'sum(1 for x in r if x["method"] == "GET" and x["path"] == "/api/v1/pods" and not x["params"].get("watch")) >= 2')" \
	True "it relisted after the 410"
check "pod-d (healthy) is still there" ctl GET /pods/default/pod-d
kill -TERM "$rpid"
wait "$rpid"
assert_eq "$?" 0 "SIGTERM stops the daemon cleanly"
fake_stop

# --- 500 pods break at once -------------------------------------------------
RATE=100
BURST=50
fake_start "$TMP/f5" --bookmark-interval 0.5 || exit 1
start_repair "$TMP/r5.out" REPAIR_DELETE_PODS=true REPAIR_RATE_LIMIT=$RATE \
	REPAIR_RATE_BURST=$BURST
rpid=$RPID
wait_for 10 "$watching" || fail "the repair loop never watched"
ctl DELETE /requests >/dev/null
ctl POST /pods/bulk '{"count":500,"broken":true,"prefix":"mass","node":"node-1"}' >/dev/null
wait_for 60 'sum(1 for x in deletes if x["status"] == 200) >= 500 and len(ev) >= 500' ||
	fail "not all 500 broken pods were handled in 60 s"
assert_eq "$(reqlog 'len(set(x["path"] for x in deletes if x["status"] == 200))')" 500 \
	"all 500 deleted, each once"
assert_eq "$(reqlog 'len(deletes)')" 500 "no DELETE repeated"
assert_eq "$(reqlog 'sum(1 for e in ev if e["reason"] == "DeleteBrokenPod")')" 500 \
	"500 DeleteBrokenPod Events"
# For every window of writes [i, j]: j - i + 1 <= burst + rate * (t_j - t_i),
# with two writes of slack: an action takes its two tokens (the DELETE and its
# Event) at once before the first of them, and the server logs each request
# when it reads it, after a variable delay.
over=$(reqlog "(lambda t: max((j - i + 1) - ($BURST + $RATE * (t[j] - t[i])) for i in range(len(t)) for j in range(i, len(t))))(sorted(x['time'] for x in writes))")
rate_ok=$("$PYTHON" -c "print(float('$over') <= 2.0)")
assert_eq "$rate_ok" True "the API write rate stays within ${RATE}/s, burst $BURST (excess $over)"
log "writes: $(reqlog 'len(writes)') over $(reqlog '"%.2f s" % (max(x["time"] for x in writes) - min(x["time"] for x in writes))')"
kill -TERM "$rpid"
wait "$rpid"
fake_stop

summary
