#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Build the libFuzzer harnesses (tests/fuzz/fuzz_*.c) with clang into
# build-fuzz/ and run each over its checked-in seed corpus
# tests/fuzz/corpus/<harness>/ (or corpus/<harness without fuzz_>/): first a
# replay of every seed, then a short bounded fuzzing run whose new inputs go to
# a scratch dir, never into the checked-in corpus. Fails on any crash, leak,
# timeout or sanitizer report.
#
# Env: FUZZ_SECONDS (default 20) per harness for the bounded run, 0 to only
# replay; FUZZ_BUILD_DIR (default build-fuzz).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FUZZ_DIR=$ROOT/tests/fuzz
BUILD=${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-20}
JOBS=${JOBS:-$(nproc)}

shopt -s nullglob
sources=("$FUZZ_DIR"/fuzz_*.c)
if [[ ${#sources[@]} -eq 0 ]]; then
	echo "fuzz: no harnesses in tests/fuzz/"
	exit 0
fi

scratch=$(mktemp -d /tmp/fuzz-run.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

echo "fuzz: building ${#sources[@]} harnesses in $BUILD" >&2
if ! { CC=clang cmake -S "$ROOT" -B "$BUILD" -DISTIO_CNI_FUZZ=ON -DISTIO_CNI_TESTS=OFF \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build "$BUILD" -j"$JOBS"; } \
	>"$scratch/build.log" 2>&1; then
	tail -n 60 "$scratch/build.log"
	echo "FAIL fuzz: building the harnesses"
	echo "0 passed, 1 failed"
	exit 1
fi

passed=0
failed=0
for src in "${sources[@]}"; do
	name=$(basename "$src" .c)
	bin=$BUILD/fuzz/$name
	corpus=$FUZZ_DIR/corpus/$name
	[[ -d "$corpus" ]] || corpus=$FUZZ_DIR/corpus/${name#fuzz_}
	if [[ ! -x "$bin" ]]; then
		echo "FAIL $name: $bin was not built"
		failed=$((failed + 1))
		continue
	fi
	seeds=()
	if [[ -d "$corpus" ]]; then
		seeds=("$corpus")
	else
		echo "warning: $name has no corpus in tests/fuzz/corpus/" >&2
	fi
	art=$scratch/$name-artifacts/
	work=$scratch/$name-corpus
	mkdir -p "$art" "$work"
	log=$scratch/$name.log

	# Replay: -runs=0 executes every seed once and fuzzes nothing.
	if ((${#seeds[@]} > 0)); then
		if "$bin" -runs=0 -timeout=10 -artifact_prefix="$art" "${seeds[@]}" >"$log" 2>&1; then
			echo "ok   $name: replayed $(find "${seeds[@]}" -type f | wc -l) seeds"
			passed=$((passed + 1))
		else
			echo "FAIL $name: replaying the corpus"
			tail -n 40 "$log"
			failed=$((failed + 1))
			continue
		fi
	fi

	if ((SECONDS_EACH > 0)); then
		if "$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
			-print_final_stats=1 -artifact_prefix="$art" "$work" "${seeds[@]}" \
			>"$log" 2>&1; then
			execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
			echo "ok   $name: fuzzed ${SECONDS_EACH}s, ${execs:-?} executions"
			passed=$((passed + 1))
		else
			echo "FAIL $name: crash while fuzzing"
			tail -n 40 "$log"
			for a in "$art"*; do
				echo "     reproducer (base64): $(base64 -w0 "$a" | head -c 2000)"
			done
			failed=$((failed + 1))
		fi
	fi
done

echo "$passed passed, $failed failed"
((failed == 0))
