#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# run-tests: asan
# Repair in place, end to end (validate, then repair): a pod netns with a veth address
# and none of our tables fails istio-cni-validate (126, as the proxy UID); the
# fake API reports that pod broken with that IP; istio-cni-repair with
# REPAIR_REPAIR_PODS=true finds the netns by scanning /proc (a sleeper of ours
# lives in it) and programs the capture; istio-cni-validate then passes.

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/repair_lib.bash"

require_root
require_file "$REPAIR" "build first: cmake --build $BUILD_DIR"
require_file "$VALIDATE" "build first: cmake --build $BUILD_DIR"
command -v setpriv >/dev/null || { echo "$TEST_NAME: setpriv not found" >&2; exit 1; }
tmpdir_new TMP

# A pod IP nobody else on this machine should have.
IP=10.$((200 + RANDOM % 50)).$((RANDOM % 250)).$((2 + RANDOM % 250))
NAME=productpage-v1-7d6cfb7dfd-b7x2q
netns_new NODE rnode
netns_new POD rpod
VETH=rv$$
ip -n "$NODE" link add "$VETH" type veth peer name eth0 netns "$POD" || exit 1
ip -n "$NODE" link set "$VETH" up
ip -n "$POD" addr add "$IP/24" dev eth0
ip -n "$POD" link set eth0 up

validate_in_pod()
{
	ip netns exec "$POD" setpriv --reuid 1337 --regid 1337 --clear-groups \
		"$VALIDATE" --timeout 2
}

validate_in_pod >"$TMP/v1.out" 2>&1
assert_eq "$?" 126 "istio-cni-validate fails (126) before the repair"
check "and explains why" grep -q "workload is not ready for Istio" "$TMP/v1.out"
check "the pod netns has none of our tables" bash -c "! ip netns exec '$POD' nft list tables | grep -q istio"

# A process of ours in the pod netns makes it findable under /proc.
ip netns exec "$POD" sleep 600 &
SLEEPER=$!
on_exit proc_stop "$SLEEPER"

pods_json "$TMP/pods.json" "[p.broken_pod(pod_ip='$IP')]"
fake_start "$TMP/f" --pods-file "$TMP/pods.json" || exit 1
run_repair REPAIR_REPAIR_PODS=true REPAIR_DELETE_PODS=true REPAIR_RUN_AS_DAEMON=false \
	HOST_PROC_DIR=/proc >"$TMP/r.out" 2>&1
rc=$?
assert_eq "$rc" 0 "istio-cni-repair (one pass) exits 0"
check "it logged the repair" grep -q "repaired broken pod=default/$NAME" "$TMP/r.out"
check "our tables are in the pod netns" bash -c "ip netns exec '$POD' nft list tables | grep -q istio-proxy-nat"
check "no table was added to the node netns" bash -c "! ip netns exec '$NODE' nft list tables | grep -q istio"
assert_eq "$(reqlog 'len(deletes)')" 0 "repair wins over delete: nothing deleted"
assert_eq "$(reqlog '[(e["reason"], e["type"]) for e in ev]')" "[('RepairedBrokenPod', 'Normal')]" \
	"one RepairedBrokenPod Event"

validate_in_pod >"$TMP/v2.out" 2>&1
rc=$?
assert_eq "$rc" 0 "istio-cni-validate passes after the repair"
[[ $rc -ne 0 ]] && sed 's/^/     | /' "$TMP/v2.out" "$TMP/r.out"

# A second pass finds the pod already repaired in this process's memory only;
# a new process repairs again, idempotently.
run_repair REPAIR_REPAIR_PODS=true REPAIR_RUN_AS_DAEMON=false HOST_PROC_DIR=/proc \
	>"$TMP/r2.out" 2>&1
assert_eq "$?" 0 "a second repair is idempotent"
validate_in_pod >/dev/null 2>&1
assert_eq "$?" 0 "istio-cni-validate still passes"

# HOST_PROC_DIR need not be procfs: a FIFO where a pid's ns/net should be is
# skipped without blocking (run_repair's last word is the command env runs:
# the repair under a timeout).
mkdir -p "$TMP/fakeproc/4242/ns"
mkfifo "$TMP/fakeproc/4242/ns/net"
run_repair REPAIR_REPAIR_PODS=true REPAIR_RUN_AS_DAEMON=false HOST_PROC_DIR="$TMP/fakeproc" \
	timeout 20 >"$TMP/r3.out" 2>&1
rc=$?
if ((rc != 124)) && grep -q "$NAME" "$TMP/r3.out"; then
	pass "a FIFO under HOST_PROC_DIR does not block the netns scan (exit $rc)"
else
	fail "a FIFO under HOST_PROC_DIR: exit $rc"
	sed 's/^/     | /' "$TMP/r3.out" | tail -n 5
fi

summary
