#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Regenerates plugin/hot_path.ld, the plugin's layout: the code and data a CNI
# request runs through, placed ahead of the rest of the static executable.
#
# The plugin is started once per pod, and on a virtual machine the first
# touch of each page costs several microseconds, so an ADD's run time follows
# the number of distinct pages it touches. This traces the runs the
# benchmarks time (bench/add.sh: an excluded namespace, the agent's cache, the
# API over TLS; bench/apply.sh's apply, of the default pod and of one with
# 1,000 excluded ranges; a remove) under valgrind's lackey,
# maps every address touched to its input section through the linker map of
# the build, and lists those sections, first touched first, in a script that
# augments the default one (INSERT). Run it after changes to the plugin's
# path; a stale list costs speed only, never correctness.
#
#   sudo scripts/hot-path.sh          # BUILD_DIR=build, a static build
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=$(cd "${BUILD_DIR:-$ROOT/build}" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
MAP=$BUILD_DIR/istio-cni.map
CNI=$BUILD_DIR/bin/istio-cni
OUT=$ROOT/plugin/hot_path.ld # what the build links with (CMakeLists.txt)

((EUID == 0)) || { echo "run as root (network namespaces)" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "valgrind not found" >&2; exit 1; }
[[ -f "$MAP" && -x "$CNI" ]] ||
	{ echo "no static build in $BUILD_DIR (cmake -S . -B build && cmake --build build)" >&2; exit 1; }

TMP=$(mktemp -d /tmp/hot-path.XXXXXX)
NS=hot-path-$$
cleanup() { ip netns delete "$NS" 2>/dev/null || true; rm -rf -- "$TMP"; }
trap cleanup EXIT

# trace DIR NAME MODE CMD...: the input sections CMD touches, into DIR/NAME.order.
trace()
{
	local dir=$1 name=$2 mode=$3
	shift 3
	mkfifo "$TMP/lackey"
	"$PYTHON" "$ROOT/scripts/hot_path.py" trace "$MAP" <"$TMP/lackey" >"$dir/$name.order" &
	local reader=$!
	valgrind --tool=lackey "$mode" --log-file="$TMP/lackey" "$@" >"$dir/$name.out" 2>&1 ||
		{ cat "$dir/$name.out" >&2; exit 1; }
	wait "$reader"
	rm -f "$TMP/lackey"
}

# trace_all DIR: every traced run, into DIR.
trace_all()
{
	local dir=$1
	mkdir -p "$dir"
	# A pod's netns as bench/apply.sh makes it; apply programs it, remove empties it.
	"$PYTHON" -c 'import sys; sys.path.insert(0, sys.argv[1]); import apply_bench
apply_bench.fresh_netns(sys.argv[2])' "$ROOT/bench" "$NS"
	trace "$dir" apply --trace-mem=yes "$CNI" apply --pod "$TMP/pod.json" \
		--netns "/var/run/netns/$NS"
	trace "$dir" remove --trace-mem=yes "$CNI" remove --netns "/var/run/netns/$NS"
	trace "$dir" cidrs --trace-mem=yes "$CNI" apply --pod "$TMP/pod1000.json" \
		--netns "/var/run/netns/$NS"
	ip netns delete "$NS"
	HOT_PATH_TRACE=$dir HOT_PATH_MAP=$MAP BUILD_DIR=$BUILD_DIR RUNS=50 "$ROOT/bench/add.sh"
}

"$PYTHON" "$ROOT/tests/tools/mkpod.py" "$TMP/pod.json"
# bench/apply.sh's (e): 1,000 excluded ranges, which the plan folds into a set.
"$PYTHON" "$ROOT/tests/tools/mkpod.py" "$TMP/pod1000.json" \
	"ann:traffic.sidecar.istio.io/excludeOutboundIPRanges=$("$PYTHON" -c "
print(','.join('10.%d.%d.0/24' % (i // 250, i % 250) for i in range(1000)))")"
# Twice: the linker merges identical strings and constants, so a run's
# address names whichever section kept the copy; in the second pass, traced
# against the first pass's layout, the copies the hot path reads are named.
for pass in 1 2; do
	trace_all "$TMP/$pass"
	# Most frequent first: every ADD starts as g does; h and f add the
	# capture (h only with an agent binary built).
	orders=()
	for k in g h apply f cidrs remove; do
		for p in $(seq "$pass"); do
			[[ -f "$TMP/$p/$k.order" ]] && orders+=("$TMP/$p/$k.order")
		done
	done
	"$PYTHON" "$ROOT/scripts/hot_path.py" emit "${orders[@]}" >"$TMP/hot_path.ld"
	mv "$TMP/hot_path.ld" "$OUT"
	cmake --build "$BUILD_DIR" --target istio-cni >"$TMP/build.log" 2>&1 ||
		{ cat "$TMP/build.log" >&2; exit 1; }
done
echo "wrote $OUT: $(grep -c '^    \*' "$OUT") input sections"
