#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Self-test of the leak check scripts/run-tests.sh ends with
# (scripts/leak-check.bash): a dummy run that leaves a process (a direct
# child, an orphan started with a cleared environment, an orphan with the
# marker, and a fake API server started the way agent_setup used to), a
# network namespace, a mount and a temp dir behind is caught, each named; a
# run that cleans up with lib.sh's spawn/proc_stop is not. What the leaky run
# left is removed here afterwards.
. "$(dirname "$0")/lib.sh"
require_root
for tool in python3 ip setsid; do
	command -v "$tool" >/dev/null 2>&1 || { echo "$TEST_NAME: $tool not found" >&2; exit 1; }
done

tmpdir_new T
TAG=leakself-$$
LEAK_NS=$TAG-ns
LEAK_TMP=/tmp/$TAG-tmp
LEAK_MNT=$T/mnt
mkdir -p "$LEAK_MNT"
on_exit rm -rf -- "$LEAK_TMP"
on_exit ip netns delete "$LEAK_NS"
on_exit umount "$LEAK_MNT"
# Whatever the leaky run leaves, even if the check under test failed to kill it.
on_exit pkill -f -- "$T/api-leaky"

# The dummy run: a script of its own (a subreaper with a fresh marker, as
# run-tests.sh is), one step, then the check.
cat >"$T/run.sh" <<'EOF'
#!/bin/bash
. "$ROOT/scripts/leak-check.bash"
leak_subreaper_exec "$0" "$@"
mode=$1 snap=$2
leak_snapshot "$snap"
echo "marker $ISTIO_CNI_TEST_RUN"
case $mode in
leaky)
	env -i /bin/sleep 300 &
	(env -i setsid /bin/sleep 301 &)
	(/bin/sleep 302 &)
	# agent_setup's old way: a function run with & is a subshell, and
	# killing that subshell orphans the server.
	server() { ip netns exec "$LEAK_NS" python3 "$FAKE" --dir "$API_DIR" >/dev/null 2>&1; }
	ip netns add "$LEAK_NS"
	server &
	pid=$!
	for _ in $(seq 100); do [[ -s "$API_DIR/server.json" ]] && break; sleep 0.1; done
	kill "$pid"
	mkdir "$LEAK_TMP"
	mount -t tmpfs -o size=1m none "$LEAK_MNT"
	;;
clean)
	TEST_NAME=leak-clean
	. "$ROOT/tests/integration/lib.sh"
	netns_new NS leakclean
	tmpdir_new D
	spawn P ip netns exec "$NS" python3 "$FAKE" --dir "$D/api" >/dev/null 2>&1
	for _ in $(seq 100); do [[ -s "$D/api/server.json" ]] && break; sleep 0.1; done
	spawn Q /bin/sleep 303
	_run_cleanups
	;;
esac
leak_report "$snap"
EOF

dummy_run() # MODE OUT
{
	# LEAK_CHECK=1: the check under test runs whatever the caller's run says.
	env -u ISTIO_CNI_TEST_RUN -u ISTIO_CNI_SUBREAPER LEAK_CHECK=1 ROOT="$ROOT" \
		FAKE="$ROOT/tests/fakeapi/fake_apiserver.py" API_DIR="$T/api-$1" \
		LEAK_NS="$LEAK_NS" LEAK_TMP="$LEAK_TMP" LEAK_MNT="$LEAK_MNT" \
		bash "$T/run.sh" "$1" "$T/snap-$1" >"$2" 2>&1
}

has() { grep -qE "$1" "$OUT"; }

OUT=$T/leaky.out
dummy_run leaky "$OUT"
rc=$?
sed 's/^/     | /' "$OUT"
((rc != 0)) && pass "a leaky run fails the check (exit $rc)" || fail "a leaky run passed the check"
has '^leak: process [0-9]+ /bin/sleep 300' && pass "a child still running is listed" ||
	fail "sleep 300 (a child still running) not listed"
has '^leak: process [0-9]+ /bin/sleep 301' && pass "an orphan without the marker is listed (adopted)" ||
	fail "sleep 301 (orphan, env -i) not listed"
has '^leak: process [0-9]+ /bin/sleep 302' && pass "an orphan with the marker is listed" ||
	fail "sleep 302 (orphan with the marker) not listed"
has '^leak: process [0-9]+ python3 .*fake_apiserver.py' &&
	pass "the fake API server orphaned by a killed subshell is listed" ||
	fail "the orphaned fake API server not listed"
has "^leak: network namespace $LEAK_NS\$" && pass "the netns is listed" || fail "netns $LEAK_NS not listed"
has "^leak: mount point $LEAK_MNT\$" && pass "the mount is listed" || fail "mount $LEAK_MNT not listed"
has "^leak: temp entry $LEAK_TMP " && pass "the temp dir is listed" || fail "$LEAK_TMP not listed"
n=$(sed -n 's/^leaks: \([0-9]*\)$/\1/p' "$OUT")
((${n:-0} >= 7)) && pass "the count covers them ($n)" || fail "leaks: ${n:-none}, want >= 7"

# The check kills the processes it found (exactly the run's, by pid).
marker=$(sed -n 's/^marker //p' "$OUT")
left=0
for p in /proc/[0-9]*; do
	grep -qz "^ISTIO_CNI_TEST_RUN=$marker\$" "$p/environ" 2>/dev/null && left=$((left + 1))
done
for pid in $(sed -n 's/^leak: process \([0-9]*\) .*/\1/p' "$OUT"); do
	[[ -d /proc/$pid ]] && ! _proc_gone "$pid" && left=$((left + 1))
done
assert_eq "$left" 0 "the leaked processes were killed by the check"

OUT=$T/clean.out
dummy_run clean "$OUT"
rc=$?
sed 's/^/     | /' "$OUT"
if has '^leak: process' || has "leakclean|leak-clean"; then
	fail "a run that cleans up with spawn/proc_stop leaked"
else
	pass "a run that cleans up with spawn/proc_stop leaks nothing of its own"
fi
# Other tests running on this machine meanwhile can add netns or /tmp
# entries; only a machine to itself makes the whole check pass here.
if ((rc == 0)); then
	pass "the clean run passes the check"
elif ! grep '^leak: ' "$OUT" | grep -qv -e '^leak: network namespace' -e '^leak: temp entry'; then
	skip "the clean run saw other activity on this machine (netns or /tmp entries)"
else
	fail "the clean run failed the check (exit $rc)"
fi

summary
