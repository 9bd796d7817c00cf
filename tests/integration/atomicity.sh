#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A pod gets all of its rules or none: `istio-cni apply` is killed with
# SIGKILL at random moments (random sleeps in microseconds), 100 times; after
# each kill the pod netns holds all three of our tables or none of them
# (fresh netns), or still all three (netns programmed before). Whenever the
# tables are there, CHECK must pass: never a half-built table.
#
# TRIALS overrides the count. Prints "N passed, M failed".
# run-tests: asan
. "$(dirname "$0")/lib.sh"
require_root

TRIALS=${TRIALS:-100}
TOOLS=$ROOT/tests/tools
tmpdir_new TMP
redirect_cli

# TPROXY + DNS capture + INVALID_DROP: rules in nat, mangle and raw; a long
# exclusion list makes the batch big enough to be caught mid-way if it could be.
cidrs=$("$PYTHON" -c 'print(",".join("172.%d.%d.0/24" % (16 + i // 200, i % 200) for i in range(200)))')
"$PYTHON" "$TOOLS/mkpod.py" "$TMP/pod.json" ann:sidecar.istio.io/interceptionMode=TPROXY \
	env:ISTIO_META_DNS_CAPTURE=true env:INVALID_DROP=true \
	"ann:traffic.sidecar.istio.io/excludeOutboundIPRanges=$cidrs"

count_tables() { ip netns exec "$1" nft list tables 2>/dev/null | grep -c 'inet istio-proxy-' ; }

# new_pod VAR: a netns with an address (IPv6 detection needs one).
new_pod()
{
	local -n _v=$1
	netns_new _v atom || return 1
	ip -n "$_v" link add a0 type veth peer name a1
	ip -n "$_v" link set a0 up
	ip -n "$_v" addr add 10.99.0.2/24 dev a0
}

saw_none=0
saw_all=0
for ((i = 0; i < TRIALS; i++)); do
	new_pod NS || { fail "trial $i: netns setup"; continue; }
	pre=0
	if ((i % 2 == 1)); then
		"$CNI" apply --pod "$TMP/pod.json" --netns "/var/run/netns/$NS" >/dev/null 2>&1
		pre=$(count_tables "$NS")
	fi
	us=$((RANDOM % 8000))
	"$CNI" apply --pod "$TMP/pod.json" --netns "/var/run/netns/$NS" >/dev/null 2>&1 &
	pid=$!
	sleep "$(printf '0.%06d' "$us")"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	n=$(count_tables "$NS")
	if ((pre == 3)); then
		want="3"
	else
		want="0 or 3"
	fi
	if [[ "$n" == 0 && $pre -ne 3 ]] || [[ "$n" == 3 ]]; then
		if [[ "$n" == 3 ]]; then
			saw_all=$((saw_all + 1))
			if "$CNI" check --pod "$TMP/pod.json" --netns "/var/run/netns/$NS" >"$TMP/check.out" 2>&1; then
				pass "trial $i (kill after ${us}us, pre=$pre): all tables, CHECK passes"
			else
				fail "trial $i (kill after ${us}us): tables present but CHECK fails"
				sed 's/^/     | /' "$TMP/check.out" | head -n 5
			fi
		else
			saw_none=$((saw_none + 1))
			pass "trial $i (kill after ${us}us): no tables"
		fi
	else
		fail "trial $i (kill after ${us}us, pre=$pre): $n tables, want $want"
	fi
	ip netns delete "$NS"
done
log "outcomes: $saw_none killed before the batch, $saw_all with all tables"
summary
