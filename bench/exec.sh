#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# One command: each binary's size (as built, and stripped) and the median time
# of one exec of it (`--version`: start-up and exit, no work) against a static
# no-op linked like our binaries, interleaved, RUNS (>= 100) of each.
#
#   bench/exec.sh            # RUNS=300 BUILD_DIR=build
#
# Prints the sizes, the medians and the ratios; asserts nothing. No root needed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
RUNS=${RUNS:-300}
PYTHON=${PYTHON:-/usr/bin/python3}
((RUNS >= 100)) || { echo "RUNS must be >= 100" >&2; exit 1; }

TMP=$(mktemp -d /tmp/bench-exec.XXXXXX)
trap 'rm -rf -- "$TMP"' EXIT

printf 'int main(void) { return 0; }\n' >"$TMP/noop.c"
cc -O2 -static -o "$TMP/noop" "$TMP/noop.c"

bins=()
for b in istio-cni istio-cni-agent istio-cni-repair istio-cni-validate; do
	[[ -x "$BUILD_DIR/bin/$b" ]] || { echo "$BUILD_DIR/bin/$b missing: build first" >&2; exit 1; }
	cp "$BUILD_DIR/bin/$b" "$TMP/$b"
	strip -o "$TMP/$b.stripped" "$TMP/$b"
	bins+=("$TMP/$b")
done

"$PYTHON" - "$RUNS" "$TMP/noop" "${bins[@]}" <<'PY'
import os, statistics, subprocess, sys, time

runs = int(sys.argv[1])
noop, bins = sys.argv[2], sys.argv[3:]


def once(argv):
    t0 = time.perf_counter()
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    t1 = time.perf_counter()
    if p.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(argv), p.stderr.decode().strip()))
    return (t1 - t0) * 1000.0


cmds = {"static no-op": [noop]}
for b in bins:
    cmds[os.path.basename(b)] = [b, "--version"]
samples = {k: [] for k in cmds}
for i in range(runs + 1):
    for k, argv in cmds.items():
        ms = once(argv)
        if i > 0:  # the first round warms the page cache
            samples[k].append(ms)
med = {k: statistics.median(v) for k, v in samples.items()}
floor = med["static no-op"]
print("median of %d execs each, interleaved (ms); sizes in bytes:" % runs)
print("  %-20s %10s %10s %8s %8s" % ("binary", "size", "stripped", "exec", "/no-op"))
print("  %-20s %10s %10s %8.2f %8.2f" % ("static no-op", os.path.getsize(noop), "-", floor, 1.0))
for b in bins:
    k = os.path.basename(b)
    print("  %-20s %10d %10d %8.2f %8.2f" % (k, os.path.getsize(b),
                                               os.path.getsize(b + ".stripped"), med[k],
                                               med[k] / floor))
PY
