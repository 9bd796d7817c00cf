#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# run-tests: asan
# `istio-cni check` names the kind of drift it found, on both backends:
# "drift: missing" (a captured pod without our rules), "drift: changed"
# (one of our rules deleted), "drift: unexpected" (a skipped pod, here one
# without the sidecar status annotation, with our rules); none on a match.

. "$(dirname "$0")/lib.sh"
require_root
require_file "$PLUGIN" "build the project first"
command -v iptables-nft >/dev/null || { echo "$TEST_NAME: iptables-nft missing" >&2; exit 1; }
tmpdir_new TMP
CNI=$PLUGIN

"$PYTHON" "$ROOT/tests/tools/mkpod.py" "$TMP/pod.json"
"$PYTHON" "$ROOT/tests/tools/mkpod.py" "$TMP/skipped.json" kind=uninjected
printf '{"cniVersion":"1.0.0","name":"n","type":"istio-cni","redirect_backend":"%s"}' nftables \
	>"$TMP/nftables.conf"
printf '{"cniVersion":"1.0.0","name":"n","type":"istio-cni","redirect_backend":"%s"}' iptables \
	>"$TMP/iptables.conf"

# drift_is DESC WANT POD NETNS CONF: check's first line is "drift: WANT" and it exits 1.
drift_is()
{
	local out rc
	out=$("$CNI" check --pod "$3" --netns "$4" --conf "$5" 2>&1)
	rc=$?
	if [[ $rc -eq 1 && $(head -n 1 <<<"$out") == "drift: $2" ]]; then
		pass "$1"
	else
		fail "$1: exit $rc"
		sed 's/^/     | /' <<<"$out" | head -n 4
	fi
}

for be in nftables iptables; do
	netns_new NS "drift$be"
	ip -n "$NS" link add v0 type veth peer name v1
	ip -n "$NS" addr add 10.9.9.2/24 dev v0
	ip -n "$NS" link set v0 up
	ip -n "$NS" link set v1 up
	P=/var/run/netns/$NS
	C=$TMP/$be.conf

	drift_is "$be: no rules yet: missing" missing "$TMP/pod.json" "$P" "$C"
	check "$be: apply" "$CNI" apply --pod "$TMP/pod.json" --netns "$P" --conf "$C"
	out=$("$CNI" check --pod "$TMP/pod.json" --netns "$P" --conf "$C" 2>&1)
	[[ $? -eq 0 && $out != *drift:* ]] && pass "$be: a match prints no drift" ||
		fail "$be: match: $out"
	drift_is "$be: a skipped pod with our rules: unexpected" unexpected "$TMP/skipped.json" \
		"$P" "$C"
	if [[ $be == nftables ]]; then
		h=$(ip netns exec "$NS" nft -a list table inet istio-proxy-nat |
			awk '/chain /{c=$2} /# handle/ && !/chain|table/ {print c, $NF; exit}')
		ip netns exec "$NS" nft delete rule inet istio-proxy-nat "${h% *}" handle "${h#* }"
	else
		ip netns exec "$NS" iptables-nft -t nat -D ISTIO_OUTPUT 1
	fi
	drift_is "$be: one rule deleted: changed" changed "$TMP/pod.json" "$P" "$C"
	check "$be: remove" "$CNI" remove --netns "$P" --conf "$C"
	check "$be: a skipped pod without rules passes" \
		"$CNI" check --pod "$TMP/skipped.json" --netns "$P" --conf "$C"
done

summary
