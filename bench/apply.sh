#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# One command: time our apply against iptables-nft-restore, iptables-legacy-restore
# and nft -f of Istio's goldens, each into a fresh netns, median of RUNS (>= 30).
#
#   sudo bench/apply.sh            # RUNS=30 BUILD_DIR=build
#
# Uses Istio's goldens from ../shared/reference when present, else our own
# equivalent fixtures in bench/fixtures/ (written by `istio-cni plan`).
# Prints the medians and the ratios; asserts nothing.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
RUNS=${RUNS:-30}
PYTHON=${PYTHON:-/usr/bin/python3}
REF=${REFERENCE_DIR:-$ROOT/../shared/reference}

. "$ROOT/bench/lib.sh"
bench_require_root
((RUNS >= 30)) || { echo "RUNS must be >= 30" >&2; exit 1; }

TMP=$(mktemp -d /tmp/bench-apply.XXXXXX)
trap 'rm -rf -- "$TMP"' EXIT

# A private copy: the build dir may be rebuilt while we measure.
CNI=$TMP/istio-cni
cp "$BUILD_DIR/bin/istio-cni" "$CNI"

bench_goldens

"$PYTHON" "$ROOT/tests/tools/mkpod.py" "$TMP/pod.json"
n=1000
cidrs() { "$PYTHON" -c "import sys
print(','.join('10.%d.%d.0/24' % (i // 250, i % 250) for i in range(int(sys.argv[1]))))" "$1"; }
"$PYTHON" "$ROOT/tests/tools/mkpod.py" "$TMP/pod1000.json" \
	"ann:traffic.sidecar.istio.io/excludeOutboundIPRanges=$(cidrs $n)"
plan_out=$("$CNI" plan --pod "$TMP/pod1000.json" 2>&1 || true)
if [[ "$plan_out" =~ more\ than\ ([0-9]+)\ entries ]]; then
	n=${BASH_REMATCH[1]}
	echo "note: the pod parser caps annotation lists at $n entries; (e) uses $n CIDRs"
	"$PYTHON" "$ROOT/tests/tools/mkpod.py" "$TMP/pod1000.json" \
		"ann:traffic.sidecar.istio.io/excludeOutboundIPRanges=$(cidrs "$n")"
fi

echo "apply: $CNI"
"$PYTHON" "$ROOT/bench/apply_bench.py" "$CNI" "$TMP/pod.json" "$TMP/pod1000.json" \
	"$BASIC" "$NFTG" "$RUNS" "$n"
