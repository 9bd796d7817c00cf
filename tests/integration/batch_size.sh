#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Large plans either commit with every reply read or are refused before
# anything is sent. A pod with 16,384 excluded interfaces is 32,788 rules:
# both backends program it and the apply succeeds (nftables used to lose the
# per-message acks and fail after the kernel had committed). Duplicates
# collapse. A plan over the rule cap (includeOutboundIPRanges times
# reroute-virtual-interfaces) is refused fast with a clear error and nothing
# programmed; so is a plan the iptables backend cannot remove in time. A
# batch the kernel refuses (a table owned by another process) names the
# message it refused.
#
# Needs root, nf_tables, iptables-nft, python3. Prints "N passed, M failed".
. "$(dirname "$0")/lib.sh"
require_root
CNI=$PLUGIN
require_file "$CNI" "build the project first"

tmpdir_new TMP
TOOLS=$ROOT/tests/tools
printf '{"cniVersion":"1.0.0","name":"k8s-pod-network","type":"istio-cni","redirect_backend":"iptables"}' >"$TMP/ipt.conf"
printf '{"cniVersion":"1.0.0","name":"k8s-pod-network","type":"istio-cni","redirect_backend":"nftables"}' >"$TMP/nft.conf"

# Pod JSONs with long annotation values (built in python: too long for argv).
"$PYTHON" "$TOOLS/mkpod.py" "$TMP/base.json"
"$PYTHON" - "$TMP" <<'PY'
import json, sys
d = sys.argv[1]
base = json.load(open(d + "/base.json"))
def mk(name, ann):
    p = json.loads(json.dumps(base))
    p["metadata"]["annotations"].update(ann)
    json.dump(p, open("%s/%s.json" % (d, name), "w"))
EXIF = "traffic.sidecar.istio.io/excludeInterfaces"
names = ["x%d" % i for i in range(16384)]
mk("big", {EXIF: ",".join(names)})
# 16,384 entries, 100 distinct: the same plan as 100 names.
mk("dups", {EXIF: ",".join("x%d" % (i % 100) for i in range(16384))})
mk("big_tproxy", {EXIF: ",".join(names), "sidecar.istio.io/interceptionMode": "TPROXY"})
mk("over", {"traffic.sidecar.istio.io/includeOutboundIPRanges":
            ",".join("10.%d.%d.0/24" % (i // 256, i % 256) for i in range(16384)),
            "istio.io/reroute-virtual-interfaces": ",".join("v%d" % i for i in range(16384))})
mk("toomany", {EXIF: ",".join(names + ["y"])})
PY

netns_new POD batch
ip -n "$POD" link add p0 type veth peer name q0
ip -n "$POD" addr add 10.9.0.2/24 dev p0
ip -n "$POD" link set p0 up
NSP=/var/run/netns/$POD

# The rules naming an excluded interface x<N>.
nft_rules() { ip netns exec "$POD" nft list ruleset 2>/dev/null | grep -c 'ifname "x'; }
ipt_rules() { ip netns exec "$POD" iptables-nft-save 2>/dev/null | grep -c -- ' -[io] x[0-9]'; }
nothing() { ! ip netns exec "$POD" nft list tables 2>/dev/null | grep -q istio-proxy &&
	! ip netns exec "$POD" iptables-nft-save 2>/dev/null | grep -q ISTIO; }

# run NAME TIMEOUT ARGS...: the plugin's redirect command under a timeout; sets RC, OUT.
run() { OUT=$(timeout "$2" "$CNI" "${@:3}" 2>&1); RC=$?; }

# big_apply NAME CONF RULES_FN: the 16,384-interface pod applied, every rule in the kernel.
big_apply()
{
	run big 60 apply --pod "$TMP/big.json" --netns "$NSP" --conf "$TMP/$2.conf"
	if ((RC == 0)) && [[ "$OUT" == *"32788 IPv4"* ]]; then
		pass "$1: 16,384 excluded interfaces (32,788 rules) apply succeeds"
	else fail "$1: big apply: rc=$RC $OUT"; fi
	assert_eq "$("$3")" 32768 "$1: every interface rule is in the kernel"
	run big 60 apply --pod "$TMP/big.json" --netns "$NSP" --conf "$TMP/$2.conf"
}

# --- nftables ---------------------------------------------------------------
big_apply nftables nft nft_rules
((RC == 0)) && pass "nftables: the big plan applies again (replace)" || fail "nftables: re-apply: $OUT"
run big 60 check --pod "$TMP/big.json" --netns "$NSP" --conf "$TMP/nft.conf"
((RC == 0)) && pass "nftables: CHECK of the big plan passes" || fail "nftables: check: $OUT"
run big 60 apply --pod "$TMP/big_tproxy.json" --netns "$NSP" --conf "$TMP/nft.conf"
if ((RC == 0)) && [[ "$OUT" == *"65568 IPv4"* ]]; then
	pass "nftables: TPROXY with 16,384 interfaces (65,568 rules) applies"
else fail "nftables: big TPROXY: rc=$RC $OUT"; fi
run dups 30 apply --pod "$TMP/dups.json" --netns "$NSP" --conf "$TMP/nft.conf"
((RC == 0)) && pass "nftables: 16,384 entries with 100 distinct names apply" || fail "dups: $OUT"
assert_eq "$(nft_rules)" 200 "nftables: duplicates collapse (200 interface rules)"
run remove 30 remove --netns "$NSP" --conf "$TMP/nft.conf"
((RC == 0)) && nothing && pass "nftables: remove" || fail "nftables: remove: $OUT"

# A table owned by another process: the kernel refuses the delete and every
# message after it; the error names the first refused message.
( echo 'add table inet istio-proxy-nat { flags owner; }'; sleep 4 ) |
	ip netns exec "$POD" nft -i >/dev/null 2>&1 &
OWNER=$!
on_exit kill "$OWNER"
for _ in $(seq 50); do ip netns exec "$POD" nft list tables | grep -q istio-proxy-nat && break; sleep 0.05; done
run owned 30 apply --pod "$TMP/big.json" --netns "$NSP" --conf "$TMP/nft.conf"
if ((RC == 1)) && [[ "$OUT" == *'rejected "delete table inet istio-proxy-nat"'* ]]; then
	pass "nftables: a refused big batch names the refused message"
else fail "nftables: owned table: rc=$RC $OUT"; fi
wait "$OWNER" 2>/dev/null

# --- over the caps: refused before anything is sent -----------------------------
for b in nft ipt; do
	start=$(date +%s%N)
	run over 30 apply --pod "$TMP/over.json" --netns "$NSP" --conf "$TMP/$b.conf"
	ms=$((($(date +%s%N) - start) / 1000000))
	if ((RC == 1)) && [[ "$OUT" == *"more than 66560 rules"* ]] && nothing && ((ms < 5000)); then
		pass "$b: 16,384 ranges x 16,384 reroute interfaces refused in $ms ms, nothing programmed"
	else fail "$b: over the cap: rc=$RC ${ms} ms $OUT"; fi
	run toomany 30 apply --pod "$TMP/toomany.json" --netns "$NSP" --conf "$TMP/$b.conf"
	if ((RC == 1)) && [[ "$OUT" == *"more than 16384 entries"* ]] && nothing; then
		pass "$b: 16,385 list entries refused naming the limit, nothing programmed"
	else fail "$b: too many entries: rc=$RC $OUT"; fi
done

# --- iptables ---------------------------------------------------------------
big_apply iptables ipt ipt_rules
((RC == 0)) && [[ "$OUT" == *unchanged* ]] && pass "iptables: the big plan again is unchanged" ||
	fail "iptables: re-apply: $OUT"
run tproxy 60 apply --pod "$TMP/big_tproxy.json" --netns "$NSP" --conf "$TMP/ipt.conf"
if ((RC == 1)) && [[ "$OUT" == *"iptables backend takes at most 33792"* ]] && ((\
	$(ipt_rules) == 32768)); then
	pass "iptables: 65,568 rules refused before iptables-restore runs, the old rules kept"
else fail "iptables: over its cap: rc=$RC $OUT"; fi
run remove 30 remove --netns "$NSP" --conf "$TMP/ipt.conf"
((RC == 0)) && nothing && pass "iptables: remove of 32,788 rules within the restore timeout" ||
	fail "iptables: remove: $OUT"

summary
