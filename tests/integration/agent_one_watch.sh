#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One pod watch per agent: with the repair loop on (label mode, a namespace
# field selector and a label selector the agent evaluates itself), the
# agent makes exactly one WATCH request on pods and one paged LIST, counted
# at the fake API server, and both consumers work from it: the plugin's ADD
# finds its pod in the agent's cache (no GET of the pod reaches the API),
# and the broken pods the selectors take are labelled, those they leave are
# not, including a pod made broken after the list. With a selector the
# agent cannot evaluate, repair falls back to its own watch and says why.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.bash"
require_root
require_file "$AGENT" "build the project first"
require_file "$CNITOOL" "scripts/build-cnitool.sh builds it"
require_file "$CNI_PLUGINS_DIR/bridge" "install containernetworking-plugins"

agent_setup
"$PYTHON" - "$ROOT/tests/fakeapi" "$T/pods.list.json" "$T/web.json" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
import pods as p
web = p.istio_pod("web", "default", node="node-1")
json.dump(web, open(sys.argv[3], "w"))
json.dump([web, p.broken_pod(), p.broken_pod("team-b-broken", namespace="team-b"),
           p.broken_pod("reviews-broken", app="reviews"), p.istio_pod("later")]
          + p.bulk_pods(60, node="node-1"), open(sys.argv[2], "w"))
PY
ctl POST /pods "@$T/pods.list.json" >/dev/null
WEB_UID=$(json_get "$T/web.json" '["metadata"]["uid"]')
in_node ip link set lo up
ctl DELETE /requests >/dev/null

REPAIR_ON=(REPAIR_ENABLED=true REPAIR_LABEL_PODS=true REPAIR_REPAIR_PODS=false
	REPAIR_DELETE_PODS=false REPAIR_FIELD_SELECTORS=metadata.namespace=default
	REPAIR_LABEL_SELECTORS=app=productpage)
agent_start "${REPAIR_ON[@]}"
agent_wait_ready || { summary; exit 1; }
wait_for 10 grep -q 'pod cache: synced' "$T/agent.log" || true
check "repair is fed by the agent's pod watch" grep -q 'fed by the agent.s pod watch' "$T/agent.log"

labelled() # NS NAME: the pod carries the broken-pod label
{
	ctl GET "/pods" | "$PYTHON" -c '
import json, sys
ns, name = sys.argv[1:3]
for x in json.load(sys.stdin)["items"]:
    m = x["metadata"]
    if m["namespace"] == ns and m["name"] == name:
        sys.exit(0 if (m.get("labels") or {}).get("cni.istio.io/uninitialized") == "true" else 1)
sys.exit(1)' "$1" "$2"
}
check "repair: the broken pod its selectors take is labelled" \
	wait_for 15 labelled default productpage-v1-7d6cfb7dfd-b7x2q

# A pod made broken after the list: the watch's MODIFIED reaches repair.
ctl POST /pods/default/later/broken >/dev/null
check "repair: a pod broken after the list is labelled" wait_for 15 labelled default later

# The plugin's ADD looks the pod up in the agent's cache.
netns_new POD pod
mkdir -p "$T/cni-state"
node_exec "$NODE" "$T/cni-state" env CNI_PATH="$BIN:$CNI_PLUGINS_DIR" NETCONFPATH="$NETD" \
	CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_UID=$WEB_UID" \
	"$CNITOOL" add k8s-pod-network "/var/run/netns/$POD" >"$T/add.out" 2>"$T/add.err"
RC=$?
if ((RC == 0)); then pass "plugin ADD of web"; else
	fail "plugin ADD of web"; sed 's/^/     | /' "$T/add.out" "$T/add.err" | tail -n 15; fi
hits() { http_get "http://127.0.0.1:$MONITORING_PORT/metrics" | grep -q 'result="hit"} [1-9]'; }
check "the plugin's lookup was a cache hit" hits
sleep 2 # the selectors' other pods had their chance
unlabelled() { ! labelled "$@"; }
check "repair: a broken pod of another namespace is left alone" unlabelled team-b team-b-broken
check "repair: a broken pod its label selector leaves is left alone" unlabelled default reviews-broken

STATE=$(ctl GET /state)
assert_eq "$("$PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1])["watches"])' "$STATE")" 1 \
	"one watch open at the API server"
agent_stop TERM
assert_eq "$AGENT_RC" 0 "SIGTERM: exit 0"
assert_eq "$(agent_log 'sum(1 for x in r if x["verb"] == "watch" and x["path"].endswith("/pods"))')" 1 \
	"exactly one WATCH request on pods over the agent's life"
assert_eq "$(agent_log 'sum(1 for x in r if x["verb"] == "list" and not x["params"].get("continue"))')" 1 \
	"one LIST of pods (its first page; the rest continue it)"
assert_eq "$(agent_log 'sum(1 for x in r if x["verb"] == "list")')" 3 \
	"the LIST in pages of 25 (66 pods: 3 pages)"
assert_eq "$(agent_log 'sorted({x["params"].get("fieldSelector", "") + "|" + x["params"].get("labelSelector", "") for x in r if x["verb"] in ("list", "watch")})')" \
	"['spec.nodeName=node-1|']" "the watch is the node's pods, no repair selector"
assert_eq "$(agent_log 'sum(1 for x in r if x["method"] == "GET" and "/pods/" in x["path"])')" 0 \
	"no GET of a pod reached the API"
assert_eq "$(agent_log 'sum(1 for x in r if x["method"] == "PATCH")')" 2 "two PATCHes (two labels)"

# A selector the agent does not evaluate: repair watches on its own.
ctl DELETE /requests >/dev/null
agent_start REPAIR_ENABLED=true REPAIR_LABEL_PODS=true REPAIR_REPAIR_PODS=false \
	REPAIR_FIELD_SELECTORS=spec.schedulerName=default-scheduler
agent_wait_ready || { summary; exit 1; }
check "fallback: repair says why it watches on its own" \
	wait_for 10 grep -q 'spec.schedulerName is not evaluated here; repair watches the pods itself' \
	"$T/agent.log"
two_watches() { [[ $(agent_log 'sum(1 for x in r if x["verb"] == "watch")') == 2 ]]; }
check "fallback: two watches (the cache's and repair's)" wait_for 15 two_watches
agent_stop TERM
assert_eq "$AGENT_RC" 0 "fallback: SIGTERM exits 0"
summary
