#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A whole agent scenario under valgrind: start-up, install, pod cache sync,
# a conf rewrite by another CNI (re-install), a token rotation, plugin log
# lines, pod lookups (hit, miss, uid mismatch, a pod created meanwhile),
# /metrics, /readyz, then SIGTERM: no leak (definite or indirect) and no
# memory error. Skipped with VALGRIND=0 (the sanitizer build's pass).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.bash"
require_root
require_file "$AGENT" "build the project first"

if [[ "${VALGRIND:-1}" == 0 ]] || ! command -v valgrind >/dev/null; then
	skip "valgrind scenario (VALGRIND=0 or valgrind missing)"
	summary
	exit 0
fi

agent_setup
"$PYTHON" - "$ROOT/tests/fakeapi" "$T/web.json" "$T/late.json" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
import pods
json.dump(pods.istio_pod("web", "default", node="node-1"), open(sys.argv[2], "w"))
json.dump(pods.istio_pod("late", "default", node="node-1"), open(sys.argv[3], "w"))
PY
ctl POST /pods "$(cat "$T/web.json")" >/dev/null
WEB_UID=$(json_get "$T/web.json" '["metadata"]["uid"]')

AGENT_WRAPPER=(valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect
	--error-exitcode=99 --track-fds=no --log-file="$T/valgrind.log")
agent_start
if agent_wait_ready 60; then pass "ready under valgrind"; else fail "ready under valgrind"; fi
wait_for 30 grep -q 'pod cache: synced' "$T/agent.log" || true

# Another CNI rewrites its conf: re-installed.
cp "$T/original.conflist" "$NETD/.x" && mv "$NETD/.x" "$NETD/10-bridge.conflist"
if wait_for 20 istio_count_is 1 "$NETD/10-bridge.conflist"; then pass "re-installed"; else
	fail "re-installed"; fi

# Token rotation.
NEW_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
ctl POST /tokens "{\"token\":\"$NEW_TOKEN\",\"user\":\"$AGENT_USER\"}" >/dev/null
sa_write "$SA" "$NEW_TOKEN" "$T/api/ca.crt"
if wait_for 20 grep -q "$NEW_TOKEN" "$RUN/istio-cni-kubeconfig"; then
	pass "kubeconfig rewritten on rotation"
else fail "kubeconfig rewritten on rotation"; fi

# The log socket and the pod cache.
BODY='["{\"level\":\"info\",\"msg\":\"programmed traffic capture (x)\",\"pod\":\"default/web\",\"duration_ms\":2}","plain","{\"level\":\"error\",\"msg\":\"ADD failed: y\"}"]'
assert_eq "$(sock_request POST /log "$BODY" | sed -n 1p)" 200 "POST /log"
assert_eq "$(sock_request POST /log '[1,' | sed -n 1p)" 400 "POST /log garbage"
hit() { [[ $(sock_request GET "/pod?namespace=default&name=web&uid=$WEB_UID" | sed -n 1p) == 200 ]]; }
if wait_for 20 hit; then pass "GET /pod hit"; else fail "GET /pod hit"; fi
assert_eq "$(sock_request GET '/pod?namespace=default&name=nobody' | sed -n 1p)" 404 "GET /pod miss"
assert_eq "$(sock_request GET '/pod?namespace=default&name=web&uid=x' | sed -n 1p)" 409 "GET /pod uid mismatch"
ctl POST /pods "$(cat "$T/late.json")" >/dev/null
late() { [[ $(sock_request GET '/pod?namespace=default&name=late' | sed -n 1p) == 200 ]]; }
if wait_for 20 late; then pass "GET /pod of a pod created later"; else fail "GET /pod of a pod created later"; fi
ctl DELETE /pods/default/late >/dev/null
if prom_check "http://127.0.0.1:$MONITORING_PORT/metrics" >/dev/null 2>&1; then
	pass "/metrics"
else fail "/metrics"; fi
assert_eq "$(readyz)" 200 "/readyz"

agent_stop TERM
assert_eq "$AGENT_RC" 0 "valgrind: exit 0 (99 would be an error or a leak)"
if grep -Eq 'definitely lost: [1-9]|indirectly lost: [1-9]|Invalid (read|write)|uninitialised' \
	"$T/valgrind.log"; then
	fail "valgrind: no leak and no error"
	grep -E -A12 'definitely lost in|indirectly lost in|Invalid|uninitialised' "$T/valgrind.log" |
		head -n 60 | sed 's/^/     | /'
else
	pass "valgrind: no leak and no error"
fi
check "valgrind: ERROR SUMMARY 0 errors" grep -q 'ERROR SUMMARY: 0 errors' "$T/valgrind.log"
check "SIGTERM under valgrind: conf restored" same_json "$NETD/10-bridge.conflist" "$T/original.conflist"
summary
