#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The agent's pod cache syncs whatever the size of the pods, and says so
# when it cannot: 60 pods with 100 KB annotations (a LIST page of 50 of them
# is over the client's 4 MiB answer cap) are listed in smaller pages and
# served; with the API refusing every LIST, /readyz answers 503 naming the
# pod cache, a warning is logged, and istio_cni_pod_cache_synced is 0 while
# istio_cni_pod_cache_sync_failures_total counts; once the API answers again
# the cache syncs and /readyz is 200.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.bash"
require_root
require_file "$AGENT" "build the project first"

agent_setup
"$PYTHON" - "$ROOT/tests/fakeapi" "$T/big.json" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
import pods
items = []
for i in range(60):
    p = pods.istio_pod("big-%d" % i, "default", node="node-1")
    p["metadata"]["annotations"]["example.com/blob"] = "x" * (100 * 1000)
    items.append(p)
json.dump(items, open(sys.argv[2], "w"))
PY
ctl POST /pods @"$T/big.json" >/dev/null

metrics() { prom_check "http://127.0.0.1:$MONITORING_PORT/metrics" 2>&1; }

agent_start
agent_wait_ready || { summary; exit 1; }
if wait_for 20 grep -q 'pod cache: synced, 60 pods' "$T/agent.log"; then
	pass "60 pods of 100 KB: the cache syncs"
else
	fail "60 pods of 100 KB: the cache syncs"
fi
assert_eq "$(sock_request GET '/pod?namespace=default&name=big-59' | sed -n 1p)" 200 \
	"a 100 KB pod is served from the cache"
metrics >"$T/m1.txt"
check "istio_cni_pod_cache_synced 1" grep -q '^istio_cni_pod_cache_synced{} 1.0$' "$T/m1.txt"
agent_stop TERM

# The API refuses every LIST: the cache cannot sync, and says so.
ctl POST /faults '{"kind":"fail","status":500,"count":null,"path":"^/api/v1/pods$"}' >/dev/null
agent_start
is_cache_not_ready() { http_get "http://127.0.0.1:$HEALTH_PORT/readyz" >"$T/readyz.out"; \
	[[ $(sed -n 1p "$T/readyz.out") == 503 ]] && grep -q 'pod cache' "$T/readyz.out"; }
if wait_for 15 is_cache_not_ready; then pass "cannot list: /readyz 503 naming the pod cache"
else fail "cannot list: /readyz 503 naming the pod cache (got $(tr '\n' ' ' <"$T/readyz.out"))"; fi
check "cannot list: a warning" grep -q 'warn.*pod cache.*not synced' "$T/agent.log"
metrics >"$T/m2.txt"
check "cannot list: istio_cni_pod_cache_synced 0" \
	grep -q '^istio_cni_pod_cache_synced{} 0.0$' "$T/m2.txt"
check "cannot list: istio_cni_pod_cache_sync_failures_total counts" \
	grep -Eq '^istio_cni_pod_cache_sync_failures_total\{\} [1-9]' "$T/m2.txt"
ctl DELETE /faults >/dev/null
if agent_wait_ready 40; then pass "the API back: the cache syncs and /readyz is 200"; else
	fail "the API back: the cache syncs and /readyz is 200"; fi

agent_stop TERM
assert_eq "$AGENT_RC" 0 "SIGTERM: exit 0"
summary
