#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/soak.sh for SOAK_SECONDS (120) with the agent under valgrind: pod
# churn, conflist rewrites by another CNI and token rotations. No valgrind
# error, nothing definitely or indirectly lost, the agent as many fds after
# the churn as before it and no fd growth over the samples, every lookup of a
# listed pod and every plugin log line answered, the conf converged, exit 0.
# Skipped with VALGRIND=0 (the sanitizer build's pass).
. "$(dirname "$0")/lib.sh"
require_root
require_file "$BUILD_DIR/bin/istio-cni-agent" "build the project first"

if [[ "${VALGRIND:-1}" == 0 ]] || ! command -v valgrind >/dev/null; then
	skip "soak under valgrind (VALGRIND=0 or valgrind missing)"
	summary
	exit 0
fi

tmpdir_new T
env SOAK_SECONDS="${SOAK_SECONDS:-120}" SAMPLE_SECONDS=10 SOAK_VALGRIND=1 \
	SOAK_REPORT="$T/report.json" BUILD_DIR="$BUILD_DIR" PLUGIN="$PLUGIN" \
	bash "$ROOT/bench/soak.sh" >"$T/soak.out" 2>&1
rc=$?
sed 's/^/     | /' "$T/soak.out" | tail -n 8
assert_eq "$rc" 0 "bench/soak.sh ran to the end"
if [[ ! -s "$T/report.json" ]]; then
	fail "the soak wrote its report"
	summary
	exit 1
fi

# report EXPR: prints the report's doc[0] EXPR.
report() { json_get "$T/report.json" "$1"; }
assert_eq "$(report '["agent_rc"]')" 0 "the agent exits 0 under valgrind (99: an error or a leak)"
assert_eq "$(report '["valgrind_errors"]')" 0 "valgrind: ERROR SUMMARY 0 errors"
assert_eq "$(report '["valgrind_definitely_lost"]')" 0 "valgrind: nothing definitely lost"
assert_eq "$(report '["valgrind_indirectly_lost"]')" 0 "valgrind: nothing indirectly lost"
assert_eq "$(report '["fds_end"]')" "$(report '["fds_start"]')" "as many fds after the churn as before"
check "no fd growth over the samples (slope < 0.5/min)" \
	json_py "$T/report.json" -- 'assert doc[0]["fds_per_min"] < 0.5, doc[0]["fds_per_min"]'
check "pods churned, the conf rewritten and the token rotated" json_py "$T/report.json" -- '
c = doc[0]["churn"]
assert c["created"] > 100 and c["deleted"] > 0 and c["rewrites"] >= 3 and c["rotations"] >= 1, c'
check "every lookup of a listed pod and every log line answered" json_py "$T/report.json" -- '
c = doc[0]["churn"]
assert c["lookup_failures"] == 0 and c["log_failures"] == 0 and c["lookups"] > 0, c'
assert_eq "$(report '["reinstalled"]')" true "our conf entry back after the last rewrite"
assert_eq "$(report '["readyz"]')" 200 "/readyz 200 after the churn"
summary
