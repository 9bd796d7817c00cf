#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# run-tests: asan
# Repair in place honours the node's redirect backend: istio-cni-repair with
# REDIRECT_BACKEND=iptables programs a broken pod's netns with iptables (our
# ISTIO_ chains in iptables-save, no nftables table of ours), and with
# REDIRECT_BACKEND=nftables with nftables; in both cases `istio-cni check`
# with the matching conf passes against the repaired netns, and
# istio-cni-validate passes in it. Without REDIRECT_BACKEND (auto), a netns
# that already holds legacy nat rules gets iptables-legacy, as ADD would.

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/repair_lib.bash"

require_root
require_file "$REPAIR" "build first: cmake --build $BUILD_DIR"
require_file "$VALIDATE" "build first: cmake --build $BUILD_DIR"
require_file "$PLUGIN" "build first: cmake --build $BUILD_DIR"
command -v setpriv >/dev/null || { echo "$TEST_NAME: setpriv not found" >&2; exit 1; }
for b in iptables-nft-save iptables-legacy-save; do
	command -v "$b" >/dev/null || { echo "$TEST_NAME: $b missing" >&2; exit 1; }
done
tmpdir_new TMP

NAME=productpage-v1-7d6cfb7dfd-b7x2q

# A pod IP nobody else on this machine should have.
IP=10.$((200 + RANDOM % 50)).$((RANDOM % 250)).$((2 + RANDOM % 250))
pods_json "$TMP/pods.json" "[p.broken_pod(pod_ip='$IP')]"
"$PYTHON" -c 'import json,sys; json.dump(json.load(open(sys.argv[1]))[0], open(sys.argv[2], "w"))' \
	"$TMP/pods.json" "$TMP/pod.json"
fake_start "$TMP/f" --pods-file "$TMP/pods.json" || exit 1

# Both families' iptables-save of the pod netns (iptables-nft and legacy).
ipt_save()
{
	ip netns exec "$1" iptables-nft-save 2>/dev/null
	ip netns exec "$1" iptables-legacy-save 2>/dev/null
}

# repair_case BACKEND [legacy]: a fresh pod netns holding IP (with a legacy
# nat rule when asked), repaired with REDIRECT_BACKEND=BACKEND (unset for auto).
repair_case()
{
	local be=$1 legacy=${2:-} pod node veth rc want env=()
	netns_new node "rbn$be"
	netns_new pod "rbp$be"
	veth=rb$$${be:0:1}
	ip -n "$node" link add "$veth" type veth peer name eth0 netns "$pod" || return 1
	ip -n "$node" link set "$veth" up
	ip -n "$pod" addr add "$IP/24" dev eth0
	ip -n "$pod" link set eth0 up
	printf '{"cniVersion":"1.0.0","name":"k8s-pod-network","type":"istio-cni","redirect_backend":"%s"}' \
		"$be" >"$TMP/$be.conf"
	want=$be
	[[ $be != auto ]] && env=(REDIRECT_BACKEND="$be")
	if [[ $legacy ]]; then
		ip netns exec "$pod" iptables-legacy -t nat -A POSTROUTING -s "$IP/32" -j RETURN || return 1
		want=iptables
	fi

	# A process of ours in the pod netns makes it findable under /proc.
	ip netns exec "$pod" sleep 600 &
	local sleeper=$!

	run_repair REPAIR_REPAIR_PODS=true REPAIR_RUN_AS_DAEMON=false HOST_PROC_DIR=/proc \
		"${env[@]}" >"$TMP/r-$be.out" 2>&1
	rc=$?
	proc_stop "$sleeper"
	assert_eq "$rc" 0 "$be: istio-cni-repair (one pass) exits 0"
	if grep -q "repaired broken pod=default/$NAME" "$TMP/r-$be.out"; then
		pass "$be: it logged the repair"
	else
		fail "$be: it logged the repair"
		sed 's/^/     | /' "$TMP/r-$be.out" | tail -n 5
	fi

	ipt_save "$pod" >"$TMP/ipt-$be.txt"
	ip netns exec "$pod" nft list tables >"$TMP/nft-$be.txt" 2>&1
	if [[ $legacy ]]; then
		check "$be/legacy: iptables-legacy-save shows our ISTIO_ chains" \
			bash -c "ip netns exec '$pod' iptables-legacy-save | grep -q '^:ISTIO_'"
		check "$be/legacy: no inet istio-proxy-nat nft table" \
			bash -c "! grep -q 'inet istio-proxy-nat' '$TMP/nft-$be.txt'"
	elif [[ $want == iptables ]]; then
		check "iptables: iptables-save shows our ISTIO_ chains" grep -q '^:ISTIO_' "$TMP/ipt-$be.txt"
		check "iptables: no inet istio-proxy-nat nft table" \
			bash -c "! grep -q 'inet istio-proxy-nat' '$TMP/nft-$be.txt'"
	else
		check "nftables: the inet istio-proxy-nat nft table is there" \
			grep -q 'inet istio-proxy-nat' "$TMP/nft-$be.txt"
		check "nftables: no ISTIO_ chains in iptables-save" \
			bash -c "! grep -q '^:ISTIO_' '$TMP/ipt-$be.txt'"
	fi
	check "$be: istio-cni check passes against the repaired pod" \
		"$PLUGIN" check --pod "$TMP/pod.json" --netns "/var/run/netns/$pod" --conf "$TMP/$be.conf"
	ip netns exec "$pod" setpriv --reuid 1337 --regid 1337 --clear-groups \
		"$VALIDATE" --timeout 2 >"$TMP/v-$be.out" 2>&1
	assert_eq "$?" 0 "$be: istio-cni-validate passes after the repair"
	if [[ $want == iptables ]]; then
		# the repaired netns keeps no nftables state of ours for a later DEL to miss
		check "$be: remove with the same conf" \
			"$PLUGIN" remove --netns "/var/run/netns/$pod" --conf "$TMP/$be.conf"
		ipt_save "$pod" >"$TMP/ipt2-$be.txt"
		check "$be: iptables-save has no ISTIO_ chains after remove" \
			bash -c "! grep -q 'ISTIO_' '$TMP/ipt2-$be.txt'"
	fi
}

repair_case iptables
repair_case nftables
repair_case auto legacy

summary
