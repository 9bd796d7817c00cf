#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Self-test of the fake Kubernetes API server (tests/fakeapi): runs its
# unittest suite, which talks to the server over real HTTPS with the CA it
# mints, and ends with one line "N passed, M failed[, K skipped]".
# Needs python3 and openssl; no root, no network beyond 127.0.0.1/::1.

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PYTHON=${PYTHON:-python3}

for tool in "$PYTHON" openssl; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "fakeapi_selftest: $tool not found" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
done

out=$(mktemp)
trap 'rm -f "$out"' EXIT

cd "$ROOT/tests/fakeapi" || exit 1
PYTHONDONTWRITEBYTECODE=1 timeout 900 "$PYTHON" -m unittest discover -s . -p 'test_*.py' -v >"$out" 2>&1
rc=$?
cat "$out"

ran=$(sed -n 's/^Ran \([0-9]*\) tests\{0,1\} in .*/\1/p' "$out" | tail -n 1)
if [ -z "$ran" ]; then
	echo "fakeapi_selftest: the unittest run did not finish (exit $rc)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
# Each skipped test by name, for scripts/run-tests.sh's list.
grep -E ' \.\.\. skipped ' "$out" | sed -E 's/^([^ ]+) \(([^)]*)\).*\.\.\. skipped (.*)/skip \2: \3/'
last=$(grep -E '^(OK|FAILED)' "$out" | tail -n 1)
count() { printf '%s\n' "$last" | sed -n "s/.*$1=\([0-9]*\).*/\1/p"; }
failures=$(count failures)
errors=$(count errors)
skipped=$(count skipped)
unexpected=$(count 'unexpected successes')
failed=$(( ${failures:-0} + ${errors:-0} + ${unexpected:-0} ))
skipped=${skipped:-0}
passed=$(( ran - failed - skipped ))
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
	failed=1
fi
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
