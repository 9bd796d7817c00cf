#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The test command: `sudo scripts/run-tests.sh` on Debian 12 (root needed for
# the packages and the network-namespace tests). Runs every step even after a
# failure, prints one line per step, the skipped tests by name and a final
# "N passed, M failed, K skipped" that adds up the tests of all steps; exits
# non-zero on any failure. It ends by checking that no process, network
# namespace, mount or /tmp entry the run created survives
# (scripts/leak-check.bash); a leak fails the run.
#
# Steps: install packages; clang-format (fails on any difference unless
# STRICT_FORMAT=0) and clang-tidy (fails on any finding unless STRICT_TIDY=0);
# -Werror build (static, the default) + unit tests; a dynamic build (build-dyn/) and its unit tests
# under valgrind; ASan+UBSan build + unit tests; cnitool; every
# tests/integration/*.sh against the build, the ones that use valgrind again
# against build-dyn/, and those marked for it against the ASan build; the
# fuzz corpora. Valgrind cannot follow malloc in a static executable, and the
# sanitizer runtimes are shared libraries: both run on dynamic builds.
#
# Env: JOBS (parallel build jobs, default nproc), FUZZ_SECONDS (bounded fuzz
# run per harness, default 20, two at a time), SKIP_DEPS=1, SKIP_FUZZ=1, SKIP_ASAN=1,
# SKIP_TIDY=1, STRICT_FORMAT=0 (report formatting only), STRICT_TIDY=0 (report tidy only),
# LEAK_CHECK=0 (no leak check: for a machine other tests run on meanwhile).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
JOBS=${JOBS:-$(nproc)}
export JOBS

if [[ $(id -u) -ne 0 ]]; then
	echo "run-tests: run as root (sudo scripts/run-tests.sh): the integration tests create network namespaces" >&2
	exit 1
fi

# A child subreaper, so every orphan of the run is ours to find at the end.
. "$ROOT/scripts/leak-check.bash"
leak_subreaper_exec "$ROOT/scripts/run-tests.sh" "$@"

LOGDIR=$(mktemp -d /tmp/run-tests.XXXXXX)
trap 'rm -rf "$LOGDIR"' EXIT
leak_snapshot "$LOGDIR/leak"
TOTAL_PASSED=0
TOTAL_FAILED=0
TOTAL_SKIPPED=0
SKIP_LINES=()
STEP_LINES=()
declare -A STEP_OK=()
START=$SECONDS

# step NAME CMD...: run CMD, its output shown live and kept; then add its
# counts: a closing "N passed, M failed" line, or ctest's "x% tests passed, M
# tests failed out of N", or else one pass/fail for the step itself.
step()
{
	local name=$1 log rc t0 p=0 f=0 line
	shift
	log=$LOGDIR/$(printf '%s' "$name" | tr -c 'a-zA-Z0-9-' '_').log
	printf '\n==== %s\n' "$name"
	t0=$SECONDS
	# Shown live by tail, not through a pipe: a process the step leaves
	# behind holding its output must neither hang the run nor hide from
	# the leak check.
	: >"$log"
	"$@" >>"$log" 2>&1 </dev/null &
	local pid=$!
	tail -n +1 -s 0.1 -f --pid="$pid" "$log"
	wait "$pid"
	rc=$?

	line=$(grep -E '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [[ -n "$line" ]]; then
		line=${line#*: }
		p=${line%% passed*}
		f=${line#*passed, }
		f=${f%% failed*}
	else
		line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
		if [[ -n "$line" ]]; then
			local total=${line##*out of }
			f=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
			p=$((total - f))
		elif ((rc == 0)); then
			p=1
		fi
	fi
	# A step that failed without counting a failure still counts as one.
	if ((rc != 0 && f == 0)); then
		f=1
	fi
	TOTAL_PASSED=$((TOTAL_PASSED + p))
	TOTAL_FAILED=$((TOTAL_FAILED + f))
	step_skips "$name" "$log"
	if ((rc == 0)); then
		STEP_OK[$name]=1
		STEP_LINES+=("$(printf 'ok   %-40s %4ds  %d passed' "$name" $((SECONDS - t0)) "$p")")
	else
		STEP_LINES+=("$(printf 'FAIL %-40s %4ds  %d passed, %d failed (exit %d)' \
			"$name" $((SECONDS - t0)) "$p" "$f" "$rc")")
	fi
	return 0
}

# blocked NAME WHY: a step that could not run because an earlier one failed.
blocked()
{
	TOTAL_FAILED=$((TOTAL_FAILED + 1))
	STEP_LINES+=("$(printf 'FAIL %-40s        not run: %s' "$1" "$2")")
}

ok() { [[ -n "${STEP_OK[$1]:-}" ]]; }

# step_skips NAME LOG: adds a step's skipped tests to the run's. Every skip is
# a "skip WHAT" line in the log (lib.sh's skip, unit_skips for cmocka, the
# fake API server's self-test); a closing "..., K skipped" line that counts
# more than the named ones adds the rest unnamed.
step_skips()
{
	local name=$1 log=$2 names=() k=0 line
	mapfile -t names < <(grep -E '^skip ' "$log" | sed 's/^skip //')
	line=$(grep -E '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' "$log" | tail -n 1)
	[[ -n "$line" ]] && k=$(sed -E 's/.* ([0-9]+) skipped.*/\1/' <<<"$line")
	((k < ${#names[@]})) && k=${#names[@]}
	for line in "${names[@]}"; do
		SKIP_LINES+=("$name: $line")
	done
	if ((k > ${#names[@]})); then
		SKIP_LINES+=("$name: $((k - ${#names[@]})) more, unnamed")
	fi
	TOTAL_SKIPPED=$((TOTAL_SKIPPED + k))
}

# unit_skips BUILD_DIR: "skip TEST: CASE" for each cmocka case the last ctest
# run in BUILD_DIR skipped (ctest counts those tests as passed). Not
# test_kube_live: under ctest it has no server and skips every case; they run
# in tests/integration/kube_client.sh, which fails when any is skipped.
unit_skips()
{
	local log=$1/Testing/Temporary/LastTest.log
	[[ -f "$log" ]] || return 0
	awk '/^[0-9]+\/[0-9]+ Testing: / { exe = $3 }
		/^\[  SKIPPED \] / && !/ test\(s\)/ && exe != "test_kube_live" {
			print "skip " exe ": " $4 }' "$log" | sort -u
}

# Our C sources: tracked and untracked, never build output.
c_sources()
{
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files --cached --others --exclude-standard -- '*.c' '*.h'
	else
		find . -name '*.[ch]' -not -path './build*' -not -path './.git/*' | sed 's|^\./||'
	fi | grep -Ev '^(build|build-[^/]*)/' | sort -u
}

format_check()
{
	local bad=()
	mapfile -t bad < <(c_sources | xargs -r -P "$JOBS" -I{} sh -c \
		'[ ! -f "$1" ] || clang-format --dry-run -Werror "$1" >/dev/null 2>&1 || echo "$1"' \
		sh {} | sort)
	if ((${#bad[@]} == 0)); then
		echo "format: every file matches .clang-format"
		return 0
	fi
	echo "format: ${#bad[@]} files differ from .clang-format (see: clang-format --dry-run FILE):"
	printf '  %s\n' "${bad[@]}"
	if [[ "${STRICT_FORMAT:-1}" == 1 ]]; then
		return 1
	fi
	echo "format: report only (STRICT_FORMAT=0 was given)"
}

tidy_check()
{
	local files out n
	mapfile -t files < <(c_sources | grep -E '^(common|plugin|agent|install|repair|validate)/.*\.c$')
	if ((${#files[@]} == 0)); then
		echo "tidy: no sources"
		return 0
	fi
	out=$LOGDIR/tidy.out
	printf '%s\n' "${files[@]}" |
		xargs -P "$JOBS" -n 1 clang-tidy -p build --quiet \
			--extra-arg=-Wno-unknown-warning-option >"$out" 2>/dev/null
	n=$(grep -cE ': (warning|error): ' "$out")
	grep -E ': (warning|error): ' "$out" | sort -u
	echo "tidy: $n findings in ${#files[@]} files"
	if ((n > 0)) && [[ "${STRICT_TIDY:-1}" == 1 ]]; then
		return 1
	fi
	((n == 0)) || echo "tidy: report only (STRICT_TIDY=0 was given)"
}

build()
{
	local dir=$1
	shift
	cmake -S . -B "$dir" -DISTIO_CNI_WERROR=ON "$@" && cmake --build "$dir" -j"$JOBS"
}

unit_tests()
{
	local rc
	(cd "$1" && ctest --output-on-failure -j"$JOBS")
	rc=$?
	unit_skips "$1"
	return $rc
}

# unit_valgrind BUILD_DIR: every unit test executable under valgrind: errors
# or definite/indirect leaks fail it.
unit_valgrind()
{
	local t passed=0 failed=0
	shopt -s nullglob
	for t in "$1"/tests/test_*; do
		[[ -x "$t" ]] || continue
		if valgrind --quiet --leak-check=full --error-exitcode=99 \
			--errors-for-leak-kinds=definite,indirect \
			--show-leak-kinds=definite,indirect "$t" >"$LOGDIR/vg.out" 2>&1; then
			echo "ok   $(basename "$t")"
			passed=$((passed + 1))
		else
			echo "FAIL $(basename "$t")"
			tail -n 60 "$LOGDIR/vg.out"
			failed=$((failed + 1))
		fi
	done
	echo "$passed passed, $failed failed"
	((failed == 0))
}

# integration BUILD_DIR [VAR=VALUE...]: every tests/integration/*.sh but the
# library, each a step of its own. For build-asan/ only the tests that say
# "# run-tests: asan" (the ones that build nothing of their own against the
# build dir's libraries: those would need the sanitizer flags too).
integration()
{
	local dir=$1 t name
	shift
	shopt -s nullglob
	for t in tests/integration/*.sh; do
		name=$(basename "$t" .sh)
		[[ "$name" == lib ]] && continue
		if [[ "$dir" == build-asan ]] && ! grep -q '^# run-tests: asan' "$t"; then
			continue
		fi
		step "integration $name${dir:+ ($dir)}" \
			env BUILD_DIR="$ROOT/$dir" PLUGIN="$ROOT/$dir/bin/istio-cni" "$@" bash "$t"
	done
}

if [[ "${SKIP_DEPS:-0}" != 1 ]]; then
	step "install packages" scripts/install-deps.sh
fi

step "format (clang-format)" format_check

step "build (-Werror)" build build
if ok "build (-Werror)"; then
	step "unit tests" unit_tests build
	if [[ "${SKIP_TIDY:-0}" != 1 ]]; then
		step "static checks (clang-tidy)" tidy_check
	fi
else
	blocked "unit tests" "build failed"
fi

step "build (dynamic, for valgrind)" build build-dyn -DISTIO_CNI_STATIC=OFF
if ok "build (dynamic, for valgrind)"; then
	step "unit tests under valgrind" unit_valgrind build-dyn
else
	blocked "unit tests under valgrind" "build failed"
fi

if [[ "${SKIP_ASAN:-0}" != 1 ]]; then
	step "build (ASan+UBSan)" build build-asan -DISTIO_CNI_SANITIZE=ON
	if ok "build (ASan+UBSan)"; then
		step "unit tests (ASan+UBSan)" unit_tests build-asan
	else
		blocked "unit tests (ASan+UBSan)" "build failed"
	fi
fi

step "build cnitool" scripts/build-cnitool.sh

if ok "build (-Werror)" && ok "build cnitool"; then
	integration build VALGRIND=0
	if ok "build (dynamic, for valgrind)"; then
		for t in $(grep -l 'VALGRIND' tests/integration/*.sh | grep -v '/lib\.sh$'); do
			step "integration $(basename "$t" .sh) (build-dyn)" env BUILD_DIR="$ROOT/build-dyn" \
				PLUGIN="$ROOT/build-dyn/bin/istio-cni" bash "$t"
		done
	fi
	# The plugin built with sanitizers, same inputs; valgrind does not mix
	# with ASan, so that pass is skipped here.
	if [[ "${SKIP_ASAN:-0}" != 1 ]] && ok "build (ASan+UBSan)"; then
		integration build-asan VALGRIND=0 \
			ASAN_OPTIONS=exitcode=97:detect_leaks=1:abort_on_error=0 \
			UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
	fi
else
	blocked "integration tests" "the build or cnitool failed"
fi

if [[ "${SKIP_FUZZ:-0}" != 1 ]]; then
	step "fuzz corpora" tests/fuzz/run-corpora.sh
fi

# Last: nothing the run started may survive it.
step "leak check" leak_report "$LOGDIR/leak"

printf '\n==== summary (%ds)\n' $((SECONDS - START))
printf '%s\n' "${STEP_LINES[@]}"
if ((TOTAL_SKIPPED > 0)); then
	printf 'skipped:\n'
	printf '  %s\n' "${SKIP_LINES[@]}"
fi
printf '%d passed, %d failed, %d skipped\n' "$TOTAL_PASSED" "$TOTAL_FAILED" "$TOTAL_SKIPPED"
((TOTAL_FAILED == 0))
