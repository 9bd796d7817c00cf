#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The iptables backend and the backend choice, on real
# kernel state and real traffic, with iptables-nft and iptables-legacy.
#
# A netns "pod" joined by a veth pair to a netns "peer" (as in
# redirect_traffic.sh, same probe). For each variant, a fresh pod netns is
# programmed by `istio-cni apply --conf` with `redirect_backend: iptables`;
# the legacy variant is what Istio picks when the netns already has legacy
# tables, so that netns gets one first. Then:
#   - capture by traffic (15001 with SO_ORIGINAL_DST, 15006, proxy UID exempt)
#   - the nat rules equal Istio's basic.txt golden applied by the same binary
#   - a second apply is a no-op: "unchanged", and packet counters survive it
#     (a restore would have recreated the chains with zero counters)
#   - CHECK passes, and after `iptables -t nat -D ISTIO_OUTPUT 1` fails naming it
#   - remove leaves no ISTIO chain and keeps other people's rules
# `auto` picks iptables-legacy where the netns holds legacy nat rules and
# nftables elsewhere; native_nftables and an explicit nftables win over it.
# A lookup that would hang (/etc/nsswitch.conf a FIFO nobody writes) cannot
# hang the apply: the sandbox masks the file.
#
# Needs root, nf_tables, ip_tables, iptables 1.8 (nft and legacy), python3, setpriv.
# run-tests: asan
. "$(dirname "$0")/lib.sh"
require_root

TOOLS=$ROOT/tests/tools
PROBE="$PYTHON $TOOLS/capture_probe.py"
GOLDEN=${REFERENCE_DIR:-$ROOT/../shared/reference}/istio/cni/pkg/plugin/testdata/basic.txt.golden
CNI=$PLUGIN
require_file "$CNI" "build the project first"
for b in iptables-nft-restore iptables-legacy-restore iptables-nft-save iptables-legacy-save; do
	command -v "$b" >/dev/null || { echo "$TEST_NAME: $b missing"; exit 1; }
done

tmpdir_new TMP
printf '{"cniVersion":"1.0.0","name":"k8s-pod-network","type":"istio-cni","redirect_backend":"iptables"}' >"$TMP/ipt.conf"
printf '{"cniVersion":"1.0.0","name":"k8s-pod-network","type":"istio-cni"}' >"$TMP/auto.conf"
printf '{"cniVersion":"1.0.0","name":"k8s-pod-network","type":"istio-cni","native_nftables":true}' >"$TMP/native.conf"
printf '{"cniVersion":"1.0.0","name":"k8s-pod-network","type":"istio-cni","redirect_backend":"nftables"}' >"$TMP/nft.conf"
"$PYTHON" "$TOOLS/mkpod.py" "$TMP/default.json"

netns_new PEER peer
APP_PORTS=8080,15008,15020
ip netns exec "$PEER" $PROBE serve peer --tcp 80,15020 >"$TMP/peer.log" 2>&1 &
on_exit proc_stop "$!"

# pod_new VAR N: a pod netns 10.N.0.2 wired to the peer (10.N.0.1, and
# 10.20.N.1 behind it), running the probe on the capture and app ports.
pod_new()
{
	local var=$1 n=$2 pn
	netns_new pn "pod$n" || return 1
	ip link add "p$n" netns "$pn" type veth peer name "q$n" netns "$PEER"
	ip -n "$pn" link set "p$n" up
	ip -n "$PEER" link set "q$n" up
	ip -n "$pn" addr add "10.$n.0.2/24" dev "p$n"
	ip -n "$PEER" addr add "10.$n.0.1/24" dev "q$n"
	ip -n "$PEER" addr add "10.20.$n.1/32" dev "q$n"
	ip -n "$pn" route add default via "10.$n.0.1"
	ip netns exec "$pn" $PROBE serve pod --tcp "15001,15006,$APP_PORTS" >"$TMP/$pn.log" 2>&1 &
	on_exit proc_stop "$!"
	for _ in $(seq 100); do grep -q ready "$TMP/$pn.log" && break; sleep 0.05; done
	grep -q ready "$TMP/$pn.log" || { echo "probe in $pn did not start"; return 1; }
	printf -v "$var" '%s' "$pn"
}

# ours NETNS VARIANT: our chains and rules as iptables-save prints them (nat, mangle, raw).
ours() { ip netns exec "$1" "iptables-$2-save" | grep -E '^(\*|:ISTIO|-A .*ISTIO)' | sed 's/ \[[0-9]*:[0-9]*\]$//'; }

# --- explicit iptables, both variants ---------------------------------------

n=30
for v in nft legacy; do
	n=$((n + 1))
	pod_new POD "$n" || exit 1
	NSP=/var/run/netns/$POD
	if [[ $v == legacy ]]; then
		# legacy tables in use: Istio's binary choice (and ours) is legacy
		ip netns exec "$POD" iptables-legacy -t filter -S >/dev/null
	fi
	out=$("$CNI" apply --pod "$TMP/default.json" --netns "$NSP" --conf "$TMP/ipt.conf" 2>&1)
	if [[ $? -eq 0 && "$out" == *"backend iptables-$v"* ]]; then
		pass "$v: apply with redirect_backend iptables uses iptables-$v"
	else
		fail "$v: apply: $out"
		continue
	fi
	expect_line "$v: outbound TCP lands on 15001 with original dst" "pod L=15001 O=10.20.$n.1:80" \
		ip netns exec "$POD" $PROBE connect "10.20.$n.1" 80
	expect_line "$v: inbound TCP lands on 15006 with original dst" "pod L=15006 O=10.$n.0.2:8080" \
		ip netns exec "$PEER" $PROBE connect "10.$n.0.2" 8080
	expect_line "$v: inbound 15008 not captured" "pod L=15008" \
		ip netns exec "$PEER" $PROBE connect "10.$n.0.2" 15008
	expect_line "$v: proxy UID/GID to the peer not captured" "peer L=80" \
		ip netns exec "$POD" setpriv --reuid 1337 --regid 1337 --clear-groups \
		$PROBE connect "10.20.$n.1" 80
	expect_line "$v: proxy to its own IP over lo goes to 15006" "pod L=15006 O=10.$n.0.2:8080" \
		ip netns exec "$POD" setpriv --reuid 1337 --regid 1337 --clear-groups \
		$PROBE connect "10.$n.0.2" 8080
	expect_line "$v: outbound 15020 excluded" "peer L=15020" \
		ip netns exec "$POD" $PROBE connect "10.20.$n.1" 15020
	assert_eq "$(ip netns exec "$POD" nft list tables 2>/dev/null | grep -c istio-proxy)" 0 \
		"$v: no nftables tables of ours"

	# The same rules as Istio's golden document applied by the same binary.
	if [[ -r "$GOLDEN" ]]; then
		netns_new SCRATCH "scratch$n"
		[[ $v == legacy ]] && ip netns exec "$SCRATCH" iptables-legacy -t filter -S >/dev/null
		ip netns exec "$SCRATCH" "iptables-$v-restore" --noflush <"$GOLDEN"
		if diff <(ours "$SCRATCH" "$v") <(ours "$POD" "$v") >"$TMP/golden.diff"; then
			pass "$v: iptables-save equals Istio's basic.txt golden applied by iptables-$v-restore"
		else
			fail "$v: rules differ from basic.txt.golden"
			sed 's/^/     | /' "$TMP/golden.diff"
		fi
	else
		skip "$v: $GOLDEN missing"
	fi

	# A second apply is a no-op: no restore, so the counters survive.
	ip netns exec "$POD" "iptables-$v-save" -c -t nat >"$TMP/c1"
	grep -q '^\[[1-9][0-9]*:[0-9]*\] -A ISTIO_REDIRECT' "$TMP/c1" &&
		pass "$v: traffic counted in ISTIO_REDIRECT" || fail "$v: no counters in ISTIO_REDIRECT"
	out=$("$CNI" apply --pod "$TMP/default.json" --netns "$NSP" --conf "$TMP/ipt.conf" 2>&1)
	[[ $? -eq 0 && "$out" == *unchanged* ]] && pass "$v: second apply says unchanged" ||
		fail "$v: second apply: $out"
	ip netns exec "$POD" "iptables-$v-save" -c -t nat >"$TMP/c2"
	check "$v: second apply left every rule and counter as it was" \
		diff <(grep -v '^#' "$TMP/c1") <(grep -v '^#' "$TMP/c2")

	check "$v: CHECK passes" "$CNI" check --pod "$TMP/default.json" --netns "$NSP" --conf "$TMP/ipt.conf"
	ip netns exec "$POD" "iptables-$v" -t nat -D ISTIO_OUTPUT 1
	out=$("$CNI" check --pod "$TMP/default.json" --netns "$NSP" --conf "$TMP/ipt.conf" 2>&1)
	rc=$?
	if [[ $rc -ne 0 && "$out" == *"missing rule in nat ISTIO_OUTPUT: -A ISTIO_OUTPUT -p tcp --dport 15020 -j RETURN"* ]]; then
		pass "$v: CHECK after deleting ISTIO_OUTPUT 1 fails naming the rule"
	else
		fail "$v: CHECK after tampering: rc=$rc out=$out"
	fi
	out=$("$CNI" apply --pod "$TMP/default.json" --netns "$NSP" --conf "$TMP/ipt.conf" 2>&1)
	[[ $? -eq 0 && "$out" != *unchanged* ]] && pass "$v: apply after tampering reprograms" ||
		fail "$v: apply after tampering: $out"
	check "$v: CHECK passes again" "$CNI" check --pod "$TMP/default.json" --netns "$NSP" --conf "$TMP/ipt.conf"
	assert_eq "$(ip netns exec "$POD" "iptables-$v-save" -t nat | grep -c '^-A OUTPUT -j ISTIO_OUTPUT')" 1 \
		"$v: one jump from OUTPUT after re-apply"

	# Someone else's rule survives our removal.
	ip netns exec "$POD" "iptables-$v" -t nat -I OUTPUT 1 -p tcp --dport 9999 -j RETURN
	check "$v: remove" "$CNI" remove --netns "$NSP" --conf "$TMP/ipt.conf"
	assert_eq "$(ip netns exec "$POD" "iptables-$v-save" | grep -c ISTIO)" 0 "$v: remove leaves no ISTIO chain or jump"
	assert_eq "$(ip netns exec "$POD" "iptables-$v-save" -t nat | grep -c -- '--dport 9999 -j RETURN')" 1 \
		"$v: remove keeps other rules"
	check "$v: remove again is success" "$CNI" remove --netns "$NSP" --conf "$TMP/ipt.conf"
	expect_line "$v: after remove outbound is not captured" "peer L=80" \
		ip netns exec "$POD" $PROBE connect "10.20.$n.1" 80
done

# --- excluded ranges: the plan's list rule, one iptables rule per range -----

# Two ranges: the second apply must find the document unchanged, CHECK must
# name the range whose rule is gone, and traffic must follow both.
"$PYTHON" "$TOOLS/mkpod.py" "$TMP/excl.json" \
	"ann:traffic.sidecar.istio.io/excludeOutboundIPRanges=10.77.0.0/16,10.20.0.0/16"
n=50
for v in nft legacy; do
	n=$((n + 1))
	pod_new XPOD "$n" || exit 1
	NSP=/var/run/netns/$XPOD
	[[ $v == legacy ]] && ip netns exec "$XPOD" iptables-legacy -t filter -S >/dev/null
	out=$("$CNI" apply --pod "$TMP/excl.json" --netns "$NSP" --conf "$TMP/ipt.conf" 2>&1)
	[[ $? -eq 0 && "$out" == *"backend iptables-$v"* ]] && pass "$v ranges: apply" ||
		fail "$v ranges: apply: $out"
	expect_line "$v ranges: an excluded range is not captured" "peer L=80" \
		ip netns exec "$XPOD" $PROBE connect "10.20.$n.1" 80
	expect_line "$v ranges: elsewhere is captured" "pod L=15001 O=10.99.0.1:80" \
		ip netns exec "$XPOD" $PROBE connect 10.99.0.1 80
	assert_eq "$(ip netns exec "$XPOD" "iptables-$v-save" -t nat | grep -- '-A ISTIO_OUTPUT -d 10\.[0-9]*\.0\.0/16 -j RETURN')" \
		"$(printf '%s\n' '-A ISTIO_OUTPUT -d 10.77.0.0/16 -j RETURN' '-A ISTIO_OUTPUT -d 10.20.0.0/16 -j RETURN')" \
		"$v ranges: one rule per range, in the annotation's order"
	out=$("$CNI" apply --pod "$TMP/excl.json" --netns "$NSP" --conf "$TMP/ipt.conf" 2>&1)
	[[ $? -eq 0 && "$out" == *unchanged* ]] && pass "$v ranges: second apply says unchanged" ||
		fail "$v ranges: second apply: $out"
	ip netns exec "$XPOD" "iptables-$v" -t nat -D ISTIO_OUTPUT -d 10.20.0.0/16 -j RETURN
	out=$("$CNI" check --pod "$TMP/excl.json" --netns "$NSP" --conf "$TMP/ipt.conf" 2>&1)
	[[ $? -ne 0 && "$out" == *"-A ISTIO_OUTPUT -d 10.20.0.0/16 -j RETURN"* ]] &&
		pass "$v ranges: CHECK names the range whose rule is gone" || fail "$v ranges: CHECK: $out"
	check "$v ranges: remove" "$CNI" remove --netns "$NSP" --conf "$TMP/ipt.conf"
done

# --- auto -------------------------------------------------------------------

pod_new LPOD 41 || exit 1
ip netns exec "$LPOD" iptables-legacy -t nat -A POSTROUTING -s 10.41.0.0/24 -j RETURN
out=$("$CNI" apply --pod "$TMP/default.json" --netns "/var/run/netns/$LPOD" --conf "$TMP/auto.conf" 2>&1)
[[ $? -eq 0 && "$out" == *"backend iptables-legacy"* ]] &&
	pass "auto: a netns with legacy nat rules gets iptables-legacy" || fail "auto with legacy nat: $out"
expect_line "auto/legacy: outbound captured" "pod L=15001 O=10.20.41.1:80" \
	ip netns exec "$LPOD" $PROBE connect 10.20.41.1 80
expect_line "auto/legacy: inbound captured" "pod L=15006" ip netns exec "$PEER" $PROBE connect 10.41.0.2 8080
assert_eq "$(ip netns exec "$LPOD" nft list tables 2>/dev/null | grep -c istio-proxy)" 0 \
	"auto/legacy: no nftables tables"
check "auto/legacy: CHECK passes" "$CNI" check --pod "$TMP/default.json" --netns "/var/run/netns/$LPOD" --conf "$TMP/auto.conf"
out=$("$CNI" apply --pod "$TMP/default.json" --netns "/var/run/netns/$LPOD" 2>&1)
[[ "$out" == *"backend iptables-legacy, unchanged"* ]] && pass "auto is the default without --conf" ||
	fail "apply without --conf: $out"
check "auto/legacy: remove (DEL)" "$CNI" remove --netns "/var/run/netns/$LPOD" --conf "$TMP/auto.conf"
assert_eq "$(ip netns exec "$LPOD" iptables-legacy-save | grep -c ISTIO)" 0 "auto/legacy: DEL removes our chains"
assert_eq "$(ip netns exec "$LPOD" iptables-legacy-save -t nat | grep -c '10.41.0.0/24 -j RETURN')" 1 \
	"auto/legacy: DEL keeps the existing legacy rule"

out=$("$CNI" apply --pod "$TMP/default.json" --netns "/var/run/netns/$LPOD" --conf "$TMP/native.conf" 2>&1)
[[ "$out" == *"backend nftables"* ]] && pass "native_nftables: true wins over legacy nat" || fail "native: $out"
assert_eq "$(ip netns exec "$LPOD" iptables-legacy-save | grep -c ISTIO)" 0 "native_nftables: no legacy chains"
check "native_nftables: remove" "$CNI" remove --netns "/var/run/netns/$LPOD" --conf "$TMP/native.conf"
out=$("$CNI" apply --pod "$TMP/default.json" --netns "/var/run/netns/$LPOD" --conf "$TMP/nft.conf" 2>&1)
[[ "$out" == *"backend nftables"* ]] && pass "redirect_backend nftables wins over legacy nat" || fail "nftables: $out"
check "redirect_backend nftables: remove" "$CNI" remove --netns "/var/run/netns/$LPOD" --conf "$TMP/nft.conf"

pod_new APOD 42 || exit 1
out=$("$CNI" apply --pod "$TMP/default.json" --netns "/var/run/netns/$APOD" --conf "$TMP/auto.conf" 2>&1)
[[ $? -eq 0 && "$out" == *"backend nftables"* ]] && pass "auto: a clean netns gets nftables" ||
	fail "auto clean: $out"
assert_eq "$(ip netns exec "$APOD" nft list tables | grep -c istio-proxy-nat)" 1 "auto/nftables: table inet istio-proxy-nat"
assert_eq "$(ip netns exec "$APOD" cat /proc/net/ip_tables_names | grep -c nat)" 0 \
	"auto/nftables: no legacy table instantiated by the probe"
expect_line "auto/nftables: outbound captured" "pod L=15001 O=10.20.42.1:80" \
	ip netns exec "$APOD" $PROBE connect 10.20.42.1 80
check "auto/nftables: CHECK passes" "$CNI" check --pod "$TMP/default.json" --netns "/var/run/netns/$APOD" --conf "$TMP/auto.conf"
check "auto/nftables: remove" "$CNI" remove --netns "/var/run/netns/$APOD" --conf "$TMP/auto.conf"
assert_eq "$(ip netns exec "$APOD" nft list tables | grep -c istio-proxy)" 0 "auto/nftables: remove deletes our tables"

# --- excludeInterfaces: the same names mean the same on both backends ---------
# A trailing '+' is iptables' prefix wildcard; nftables compares the prefix
# without the trailing NUL (nft's "p*"). The pod's only interface is p<N>.

EXIF=traffic.sidecar.istio.io/excludeInterfaces
"$PYTHON" "$TOOLS/mkpod.py" "$TMP/exwild.json" "ann:$EXIF=lo9,p+"  # every p<N>
"$PYTHON" "$TOOLS/mkpod.py" "$TMP/exprefix.json" "ann:$EXIF=p4+" # p44, p45
"$PYTHON" "$TOOLS/mkpod.py" "$TMP/exother.json" "ann:$EXIF=pa+,p4"
n=43
for b in ipt nft; do
	n=$((n + 1))
	pod_new WPOD "$n" || exit 1
	NSP=/var/run/netns/$WPOD
	for c in exwild exprefix; do
		check "$b: apply $c" "$CNI" apply --pod "$TMP/$c.json" --netns "$NSP" --conf "$TMP/$b.conf"
		expect_line "$b $c: outbound over p$n untouched" "peer L=80" \
			ip netns exec "$WPOD" $PROBE connect "10.20.$n.1" 80
		expect_line "$b $c: inbound over p$n untouched" "pod L=8080" \
			ip netns exec "$PEER" $PROBE connect "10.$n.0.2" 8080
		check "$b $c: CHECK passes" "$CNI" check --pod "$TMP/$c.json" --netns "$NSP" --conf "$TMP/$b.conf"
	done
	check "$b: apply $EXIF=pa+,p4 (neither matches p$n)" \
		"$CNI" apply --pod "$TMP/exother.json" --netns "$NSP" --conf "$TMP/$b.conf"
	expect_line "$b exother: outbound captured" "pod L=15001 O=10.20.$n.1:80" \
		ip netns exec "$WPOD" $PROBE connect "10.20.$n.1" 80
	expect_line "$b exother: inbound captured" "pod L=15006 O=10.$n.0.2:8080" \
		ip netns exec "$PEER" $PROBE connect "10.$n.0.2" 8080
	check "$b: remove" "$CNI" remove --netns "$NSP" --conf "$TMP/$b.conf"
done
if [[ "$("$CNI" plan --pod "$TMP/exwild.json" 2>&1)" == *'iifname "p*"'*'-i p+'* ]]; then
	pass "plan: p+ is iifname \"p*\" for nftables and -i p+ for iptables"
else fail "plan: p+ rendering"; fi

# Names iptables-restore would read as syntax, and "+" alone (every
# interface), are refused before anything is programmed.
for v in 'p0"' '+' '"p0' '!p0' 'p+0' '-j' 'p*'; do
	"$PYTHON" "$TOOLS/mkpod.py" "$TMP/exbad.json" "ann:$EXIF=$v"
	for b in ipt nft; do
		out=$("$CNI" apply --pod "$TMP/exbad.json" --netns "$NSP" --conf "$TMP/$b.conf" 2>&1)
		rc=$?
		if ((rc != 0)) && [[ "$out" == *"$EXIF"*"has invalid value"* ]] &&
			! ip netns exec "$WPOD" iptables-nft-save | grep -q ISTIO &&
			! ip netns exec "$WPOD" nft list tables | grep -q istio-proxy; then
			pass "$b: $EXIF=$v refused naming the annotation, nothing programmed"
		else
			fail "$b: $EXIF=$v: rc=$rc $out"
		fi
	done
done

# --- a lookup that would hang ---------------------------------------------------
# In a private mount namespace of the test, /etc/nsswitch.conf becomes a FIFO
# nobody writes: whoever opens it to resolve a name blocks for good.

pod_new HPOD 43 || exit 1
mkfifo "$TMP/nsswitch.fifo"
cat >"$TMP/hang.sh" <<EOF
mount --bind "$TMP/nsswitch.fifo" /etc/nsswitch.conf || exit 90
# control: iptables itself blocks on the owner lookup without the mask
timeout 3 ip netns exec "$HPOD" iptables-nft -t nat -A OUTPUT -m owner --uid-owner 1337 -j RETURN
echo "control=\$?"
timeout 20 "$CNI" apply --pod "$TMP/default.json" --netns "/var/run/netns/$HPOD" --conf "$TMP/ipt.conf"
echo "apply=\$?"
EOF
out=$(unshare -m --propagation private /bin/sh "$TMP/hang.sh" 2>&1)
if [[ "$out" == *"control=124"* ]]; then
	pass "hang control: iptables blocks on a name lookup when nsswitch.conf cannot be read"
else
	skip "hang control did not block here ($(printf '%s' "$out" | tr '\n' ' '))"
fi
[[ "$out" == *"apply=0"* && "$out" == *"backend iptables-nft"* ]] &&
	pass "apply completes although nsswitch.conf would hang a lookup" || fail "apply under a hanging nsswitch.conf: $out"
expect_line "hang: capture works" "pod L=15001" ip netns exec "$HPOD" $PROBE connect 10.20.43.1 80

summary
