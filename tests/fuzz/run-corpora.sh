#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Build the libFuzzer harnesses (tests/fuzz/fuzz_*.c) with clang into
# build-fuzz/ and run each over its checked-in seed corpus
# tests/fuzz/corpus/<harness>/ (or corpus/<harness without fuzz_>/): first a
# replay of every seed, then a bounded fuzzing run of FUZZ_SECONDS, FUZZ_JOBS
# harnesses at a time. The inputs a run finds new (new coverage) go to a
# scratch dir and are counted; with --merge they are minimised into the
# checked-in corpus (libFuzzer -merge=1: only inputs that add coverage over
# what the corpus has are copied), for a local run whose new entries are then
# committed. Fails on any crash, leak, timeout or sanitizer report, printing
# the report and the reproducer.
#
#   tests/fuzz/run-corpora.sh            # CI: replay, fuzz, report
#   tests/fuzz/run-corpora.sh --merge    # also grow tests/fuzz/corpus/
#
# Env: FUZZ_SECONDS (default 20) per harness for the bounded run, 0 to only
# replay; FUZZ_JOBS (default 2) harnesses fuzzing at once; FUZZ_BUILD_DIR
# (default build-fuzz).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FUZZ_DIR=$ROOT/tests/fuzz
BUILD=${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-20}
FUZZ_JOBS=${FUZZ_JOBS:-2}
JOBS=${JOBS:-$(nproc)}
MERGE=0
case "${1:-}" in
--merge) MERGE=1 ;;
"") ;;
*)
	echo "usage: $0 [--merge]" >&2
	exit 2
	;;
esac

shopt -s nullglob
sources=("$FUZZ_DIR"/fuzz_*.c)
if [[ ${#sources[@]} -eq 0 ]]; then
	echo "fuzz: no harnesses in tests/fuzz/"
	exit 0
fi

scratch=$(mktemp -d /tmp/fuzz-run.XXXXXX)
pids=()
cleanup()
{
	local p
	for p in "${pids[@]}"; do
		pkill -TERM -P "$p" 2>/dev/null
		kill -TERM "$p" 2>/dev/null
	done
	wait
	rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "fuzz: building ${#sources[@]} harnesses in $BUILD" >&2
if ! { CC=clang cmake -S "$ROOT" -B "$BUILD" -DISTIO_CNI_FUZZ=ON -DISTIO_CNI_TESTS=OFF \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build "$BUILD" -j"$JOBS"; } \
	>"$scratch/build.log" 2>&1; then
	tail -n 60 "$scratch/build.log"
	echo "FAIL fuzz: building the harnesses"
	echo "0 passed, 1 failed"
	exit 1
fi

# corpus_of NAME: the checked-in corpus dir of a harness.
corpus_of()
{
	local c=$FUZZ_DIR/corpus/$1
	[[ -d "$c" ]] || c=$FUZZ_DIR/corpus/${1#fuzz_}
	printf '%s\n' "$c"
}

# crash_report LOG ART: the sanitizer report and each reproducer.
crash_report()
{
	local a
	# From the first report line (sanitizer, UBSan, libFuzzer's own: timeout,
	# leak, out of memory) on; the whole log when there is none.
	if grep -qE 'DEADLYSIGNAL|^==[0-9]+==ERROR|runtime error:|ERROR: libFuzzer' "$1"; then
		sed -n -E '/DEADLYSIGNAL|^==[0-9]+==ERROR|runtime error:|ERROR: libFuzzer/,$p' "$1" |
			head -n 80
	else
		tail -n 40 "$1"
	fi
	for a in "$2"*; do
		[[ -f "$a" ]] || continue
		echo "     reproducer $a (base64): $(base64 -w0 "$a" | head -c 2000)"
	done
}

# fuzz_one NAME: replay and fuzz one harness; its report goes to
# $scratch/NAME.result ("ok ..."/"FAIL ..." lines, then details).
fuzz_one()
{
	local name=$1 bin=$BUILD/fuzz/$1 corpus seeds=() art work log out new execs
	out=$scratch/$name.result
	corpus=$(corpus_of "$name")
	art=$scratch/$name-artifacts/
	work=$scratch/$name-new
	log=$scratch/$name.log
	mkdir -p "$art" "$work"
	if [[ ! -x "$bin" ]]; then
		echo "FAIL $name: $bin was not built" >"$out"
		return
	fi
	if [[ -d "$corpus" ]]; then
		seeds=("$corpus")
	else
		echo "warning: $name has no corpus in tests/fuzz/corpus/" >&2
	fi
	: >"$out"

	# Replay: -runs=0 executes every seed once and fuzzes nothing.
	if ((${#seeds[@]} > 0)); then
		if "$bin" -runs=0 -timeout=10 -artifact_prefix="$art" "${seeds[@]}" >"$log" 2>&1; then
			echo "ok   $name: replayed $(find "${seeds[@]}" -type f | wc -l) seeds" >>"$out"
		else
			{
				echo "FAIL $name: replaying the corpus"
				crash_report "$log" "$art"
			} >>"$out"
			return
		fi
	fi
	((SECONDS_EACH > 0)) || return

	# The first dir gets what the run finds new; the seeds are read only.
	if "$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$art" "$work" "${seeds[@]}" \
		>"$log" 2>&1; then
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		new=$(find "$work" -type f | wc -l)
		echo "ok   $name: fuzzed ${SECONDS_EACH}s, ${execs:-?} executions, $new new inputs" >>"$out"
	else
		{
			echo "FAIL $name: crash while fuzzing"
			crash_report "$log" "$art"
		} >>"$out"
		return
	fi
	if ((MERGE)) && ((new > 0)); then
		local before after
		mkdir -p "$corpus"
		before=$(find "$corpus" -type f | wc -l)
		if "$bin" -merge=1 -timeout=10 -artifact_prefix="$art" "$corpus" "$work" \
			>"$log" 2>&1; then
			after=$(find "$corpus" -type f | wc -l)
			echo "ok   $name: merged, $((after - before)) new corpus entries in ${corpus#"$ROOT"/}" >>"$out"
		else
			{
				echo "FAIL $name: merging into ${corpus#"$ROOT"/}"
				crash_report "$log" "$art"
			} >>"$out"
		fi
	fi
}

# FUZZ_JOBS at a time; the reports are printed in harness order.
names=()
for src in "${sources[@]}"; do
	names+=("$(basename "$src" .c)")
done
for name in "${names[@]}"; do
	while (($(jobs -rp | wc -l) >= FUZZ_JOBS)); do
		wait -n
	done
	fuzz_one "$name" &
	pids+=($!)
done
wait
pids=()

passed=0
failed=0
for name in "${names[@]}"; do
	[[ -s "$scratch/$name.result" ]] || echo "FAIL $name: no result" >"$scratch/$name.result"
	cat "$scratch/$name.result"
	passed=$((passed + $(grep -c '^ok ' "$scratch/$name.result")))
	failed=$((failed + $(grep -c '^FAIL ' "$scratch/$name.result")))
done

echo "$passed passed, $failed failed"
((failed == 0))
