#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The Kubernetes client (common/kube/kube_client.c and its kube_*.c siblings) against the fake API server
# over real HTTPS: starts tests/fakeapi/fake_apiserver.py on 127.0.0.1 with
# its own CA, a token for the istio-cni ServiceAccount (the RBAC the repair
# loop needs), a token without RBAC and 40 pods on node-1, then runs
# build/tests/test_kube_live with KUBE_LIVE_* pointing at it (GET, 404, 401,
# 403, LIST with fieldSelector, WATCH with bookmarks, DELETE preconditions,
# PATCH pods/status, POST Event, wrong CA, timeout, 503/429 Retry-After,
# size cap, token rotation, 410 Gone).
#
# No root needed; traffic only on loopback. Env: BUILD_DIR (default build).

# run-tests: asan
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LIVE=$BUILD_DIR/tests/test_kube_live
FAKE=$ROOT/tests/fakeapi/fake_apiserver.py
require_file "$LIVE" "build first: cmake --build $BUILD_DIR"
require_file "$FAKE" "the fake API server is missing"
for tool in "$PYTHON" openssl; do
	command -v "$tool" >/dev/null 2>&1 || { echo "$TEST_NAME: $tool not found" >&2; exit 1; }
done

tmpdir_new TMP
TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
CNI_USER=system:serviceaccount:istio-system:istio-cni
NODE=node-1
PODS=40

"$PYTHON" "$FAKE" --dir "$TMP/api" \
	--token "$TOKEN=$CNI_USER" --token "no-rbac-token=system:serviceaccount:default:nobody" \
	--allow "$CNI_USER=get pods,list pods,watch pods,delete pods,patch pods/status,create events" \
	--bulk "$PODS" --node "$NODE" --bookmark-interval 0.2 \
	>"$TMP/fake.out" 2>"$TMP/fake.err" &
FAKE_PID=$!
on_exit proc_stop "$FAKE_PID"

# The server writes server.json atomically once it listens.
for ((i = 0; i < 300; i++)); do
	[[ -s "$TMP/api/server.json" ]] && break
	if ! kill -0 "$FAKE_PID" 2>/dev/null; then
		cat "$TMP/fake.err" >&2
		echo "$TEST_NAME: the fake API server exited" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
	sleep 0.1
done
if [[ ! -s "$TMP/api/server.json" ]]; then
	echo "$TEST_NAME: the fake API server did not start" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
field() { "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
	"$TMP/api/server.json" "$1"; }
URL=$(field url)
CA=$(field ca)
CONTROL=$(field control_url)
OTHER_CA=$TMP/api/other-ca.crt
log "fake API server at $URL (control $CONTROL)"

# --- the live client tests ------------------------------------------------
out=$TMP/live.out
KUBE_LIVE_SERVER=$URL KUBE_LIVE_CA=$CA KUBE_LIVE_TOKEN=$TOKEN \
	KUBE_LIVE_FORBIDDEN_TOKEN=no-rbac-token KUBE_LIVE_OTHER_CA=$OTHER_CA \
	KUBE_LIVE_CONTROL=$CONTROL KUBE_LIVE_NODE=$NODE KUBE_LIVE_PODS=$PODS \
	timeout 300 "$LIVE" >"$out" 2>&1
rc=$?
while read -r name; do
	pass "kube_client live: $name"
done < <(sed -n 's/^\[       OK \] //p' "$out")
while read -r name; do
	fail "kube_client live: $name"
done < <(sed -n 's/^\[  FAILED  \] \([a-z_0-9]*\)$/\1/p' "$out" | sort -u)
while read -r name; do
	fail "kube_client live: $name was skipped (all KUBE_LIVE_* are set)"
done < <(sed -n 's/^\[  SKIPPED \] //p' "$out" | sort -u)
if ((rc != 0)) || grep -q 'ERROR\|FAILED' "$out"; then
	sed 's/^/     | /' "$out"
	((rc != 0)) && ! grep -q '^\[  FAILED  \]' "$out" && fail "test_kube_live exited $rc"
fi
# The token never shows up in anything the tests printed.
check "the token is never printed" bash -c "! grep -qF -- '$TOKEN' '$out'"

summary
