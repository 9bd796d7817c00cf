#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# scripts/demo.sh, run as README tells a new user to (but on the binaries of
# $BUILD_DIR, building nothing), shows what it claims: the plugin's decisions
# in the agent's log, the meshed pod's ruleset, the meshed pod's connection
# landing on 15001 with its original destination, the uninjected pod's going
# straight to the server, istio-cni-validate failing (126) in a pod started
# before the plugin and passing (0) once the repair loop repaired it; the
# capture audit restoring the meshed pod's deleted rules; and it
# leaves nothing behind.
. "$(dirname "$0")/lib.sh"
require_root
require_file "$BUILD_DIR/bin/istio-cni-agent" "build the project first"
require_file "$CNITOOL" "scripts/build-cnitool.sh builds it"
tmpdir_new TMP

OUT=$TMP/demo.out
BUILD_DIR=$BUILD_DIR PLUGIN=$PLUGIN CNITOOL=$CNITOOL bash "$ROOT/scripts/demo.sh" --no-build \
	>"$OUT" 2>&1 &
DEMO_PID=$!
on_exit kill -INT "$DEMO_PID"
wait "$DEMO_PID"
rc=$?
assert_eq "$rc" 0 "the demo exits 0"
((rc != 0)) && tail -n 30 "$OUT" | sed 's/^/     | /'

# has DESC REGEX: some line of the demo's output matches REGEX (grep -E).
has() { check "$1" grep -Eq -- "$2" "$OUT"; }

GW=$(sed -n 's/.*both pods connect to \([0-9.]*\):9080.*/\1/p' "$OUT")
[[ -n "$GW" ]] || GW=none
has "the plugin's capture decision, from the agent's log" \
	'plugin: programmed traffic capture \(REDIRECT.*nftables\) pod=default/productpage-'
has "the plugin's skip decision for the uninjected pod" \
	'plugin: skipping pod: pod has no istio-proxy container pod=default/mysqldb-'
has "the ruleset: table inet istio-proxy-nat" '^    table inet istio-proxy-nat \{'
has "the ruleset: outbound TCP redirected to 15001" 'redirect to :15001$'
has "the ruleset: the proxy's own traffic returns" 'meta skuid 1337 counter .* return$'
has "the meshed pod's connection lands on 15001 with its original destination" \
	"^meshed pod +-> $GW:9080 answered by: envoy-stand-in L=15001 O=$GW:9080\$"
has "the uninjected pod's connection goes straight to the server" \
	"^uninjected pod -> $GW:9080 answered by: server L=9080 "
check "istio-cni-validate exits 126, then 0 after the repair" \
	bash -c "[[ \$(grep '^istio-cni-validate exit status:' '$OUT' | tr '\n' ' ') == \
'istio-cni-validate exit status: 126 istio-cni-validate exit status: 0 ' ]]"
has "the repair loop repaired the early pod in place" \
	'repair: repaired broken pod=default/reviews-.* in place'
has "the audit, on demand, finds the meshed pod intact" \
	'^    default/productpage-[a-z0-9-]+ ok$'
has "the audit finds the deleted rules (drift: missing)" \
	'audit: pod=default/productpage-.* capture drift \(missing\)'
has "the audit restores them in place" \
	'audit: repaired pod=default/productpage-.* in place \(missing, backend nftables\)'
check "after the audit, the meshed pod's connection lands on 15001 again" \
	bash -c "[[ \$(grep -c '^meshed pod .*envoy-stand-in L=15001' '$OUT') == 2 ]]"

secs=$(sed -n 's/.*Done in \([0-9]*\) s;.*/\1/p' "$OUT")
if [[ -n "$secs" ]] && ((secs < 60)); then pass "the demo ran in under a minute (${secs} s)"; else
	fail "the demo ran in under a minute: '${secs:-no Done line}' s"; fi

# Nothing left: its namespaces carry its pid, its temp dir is in its output.
left=$(ip netns list | grep -c -- "-$DEMO_PID-")
assert_eq "$left" 0 "no network namespace left"
demo_tmp=$(grep -o '/tmp/demo\.[A-Za-z0-9]*' "$OUT" | head -n 1)
check "its temp dir ($demo_tmp) is gone" test -n "$demo_tmp" -a ! -e "${demo_tmp:-/nonexistent}"
no_process() { ! pgrep -f -- "$1" >/dev/null; }
check "no process of it left" no_process "${demo_tmp:-/nonexistent}/"
summary
