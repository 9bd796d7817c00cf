#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The node agent over time: SOAK_SECONDS (600) of pod churn in the fake API
# server (a pod created every 0.5 s, the oldest of 60 deleted, one relabelled,
# a pod lookup and a plugin log line through the agent's socket), another CNI
# rewriting the primary conflist every 20 s and a service-account token
# rotation every 60 s (bench/soak_churn.py). The agent's RSS, open fds and
# CPU time are sampled every SAMPLE_SECONDS (10); the least-squares slopes
# per minute are printed (target: flat RSS and fds), over the whole run and
# over its second half (after the allocator's warm-up).
#
#   sudo bench/soak.sh                   # SOAK_SECONDS=600 SAMPLE_SECONDS=10 BUILD_DIR=build
#   SOAK_VALGRIND=1 bench/soak.sh        # the agent under valgrind (memcheck)
#   SOAK_REPORT=FILE                     # also write the numbers as JSON (tests read it)
#
# Prints the numbers; asserts nothing (tests/integration/soak_valgrind.sh does).
set -uo pipefail
TEST_NAME=bench-soak
. "$(dirname "$0")/../tests/integration/lib.sh"
. "$ROOT/tests/integration/agent_lib.bash"
require_root
require_file "$AGENT" "build the project first"
SOAK_SECONDS=${SOAK_SECONDS:-600}
SAMPLE_SECONDS=${SAMPLE_SECONDS:-10}
SOAK_VALGRIND=${SOAK_VALGRIND:-0}
SOAK_REPORT=${SOAK_REPORT:-}

agent_setup
"$PYTHON" - "$ROOT/tests/fakeapi" "$T/pods.json" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
import pods
json.dump(pods.bulk_pods(50, node="node-1", prefix="base"), open(sys.argv[2], "w"))
PY
ctl POST /pods "@$T/pods.json" >/dev/null

if [[ "$SOAK_VALGRIND" == 1 ]]; then
	AGENT_WRAPPER=(valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect
		--error-exitcode=99 --track-fds=no --log-file="$T/valgrind.log")
fi
agent_start LOG_LEVEL=info
agent_wait_ready 60 || exit 1
wait_for 60 grep -q 'pod cache: synced' "$T/agent.log" || true

fd_count() { find "/proc/$AGENT_PID/fd" -mindepth 1 -maxdepth 1 | wc -l; }
sample()
{
	awk -v t="$1" -v hz="$(getconf CLK_TCK)" -v fds="$(fd_count)" -v rss="$(awk '$1 == "VmRSS:" {print $2}' "/proc/$AGENT_PID/status")" \
		'{printf "%s %s %s %.2f\n", t, rss, fds, ($14 + $15) / hz}' "/proc/$AGENT_PID/stat"
}

FDS_START=$(fd_count)
TOKEN0=$(cat "$SA/token")
in_node "$PYTHON" "$ROOT/bench/soak_churn.py" "$SOAK_SECONDS" "$CONTROL" "$RUN/log.sock" "$SA" \
	"$T/api/ca.crt" "$NETD/10-bridge.conflist" "$T/original.conflist" "$AGENT_USER" "$TOKEN0" \
	>"$T/churn.json" 2>"$T/churn.err" &
CHURN_PID=$!
on_exit kill "$CHURN_PID"

: >"$T/samples"
start=$SECONDS
while kill -0 "$CHURN_PID" 2>/dev/null; do
	sample $((SECONDS - start)) >>"$T/samples"
	kill -0 "$AGENT_PID" 2>/dev/null || break
	sleep "$SAMPLE_SECONDS" &
	wait $!
done
wait "$CHURN_PID"
CHURN_RC=$?
sample $((SECONDS - start)) >>"$T/samples"

# After the churn: converged again (our entry back, ready) and as many fds as before.
installed=0
wait_for 20 istio_count_is 1 "$NETD/10-bridge.conflist" && installed=1
ready=$(readyz)
settled() { [[ $(fd_count) == "$FDS_START" ]]; }
wait_for 10 settled || true
FDS_END=$(fd_count)
agent_stop TERM

"$PYTHON" - "$T/samples" "$T/churn.json" "$SOAK_SECONDS" "$SAMPLE_SECONDS" "$FDS_START" "$FDS_END" \
	"$AGENT_RC" "$CHURN_RC" "$installed" "$ready" "$SOAK_VALGRIND" "$T/valgrind.log" "$SOAK_REPORT" <<'PY'
import json, re, sys
(samples, churn, seconds, every, fds_start, fds_end, agent_rc, churn_rc, installed, ready,
 vg, vg_log, report) = sys.argv[1:14]
rows = [tuple(float(x) for x in line.split()) for line in open(samples) if line.strip()]
try:
    counts = json.load(open(churn))
except ValueError:
    counts = {}

def slope(pts):
    """Least-squares slope of (seconds, value) points, per minute."""
    n = len(pts)
    if n < 2:
        return 0.0
    mx = sum(p[0] for p in pts) / n
    my = sum(p[1] for p in pts) / n
    den = sum((p[0] - mx) ** 2 for p in pts)
    return 60.0 * sum((p[0] - mx) * (p[1] - my) for p in pts) / den if den else 0.0

half = rows[len(rows) // 2:]
out = {
    "samples": len(rows), "seconds": rows[-1][0] if rows else 0,
    "rss_kb_first": rows[0][1], "rss_kb_last": rows[-1][1], "rss_kb_max": max(r[1] for r in rows),
    "rss_kb_per_min": slope([(r[0], r[1]) for r in rows]),
    "rss_kb_per_min_second_half": slope([(r[0], r[1]) for r in half]),
    "fds_first": rows[0][2], "fds_last": rows[-1][2],
    "fds_per_min": slope([(r[0], r[2]) for r in rows]),
    "fds_per_min_second_half": slope([(r[0], r[2]) for r in half]),
    "cpu_s": rows[-1][3] - rows[0][3],
    "cpu_s_per_min": slope([(r[0], r[3]) for r in rows]),
    "fds_start": int(fds_start), "fds_end": int(fds_end), "agent_rc": int(agent_rc),
    "churn_rc": int(churn_rc), "reinstalled": installed == "1", "readyz": ready,
    "churn": counts,
}
if vg == "1":
    text = open(vg_log).read() if vg_log else ""
    m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
    out["valgrind_errors"] = int(m.group(1)) if m else -1
    # No leak summary at all counts as a leak unless valgrind says all was freed.
    freed = 0 if "All heap blocks were freed" in text else -1
    for kind in ("definitely", "indirectly"):
        lost = re.search(kind + r" lost: ([\d,]+) bytes", text)
        out["valgrind_%s_lost" % kind] = int(lost.group(1).replace(",", "")) if lost else freed
if report:
    json.dump(out, open(report, "w"), indent=1)

print("soak of %d s%s, %d samples every %s s; churn: %s" % (
    out["seconds"], " under valgrind" if vg == "1" else "", out["samples"], every,
    ", ".join("%s %d" % kv for kv in counts.items())))
print("RSS   %.1f -> %.1f MB (max %.1f); slope %+.1f KB/min, second half %+.1f KB/min (target flat)"
      % (out["rss_kb_first"] / 1024, out["rss_kb_last"] / 1024, out["rss_kb_max"] / 1024,
         out["rss_kb_per_min"], out["rss_kb_per_min_second_half"]))
print("fds   %d -> %d; slope %+.3f /min, second half %+.3f /min; %d before the churn, %d after"
      " (target flat)" % (out["fds_first"], out["fds_last"], out["fds_per_min"],
                         out["fds_per_min_second_half"], out["fds_start"], out["fds_end"]))
print("CPU   %.2f s over the run: %.3f s/min (%.2f%% of a core)" % (
    out["cpu_s"], out["cpu_s_per_min"], 100 * out["cpu_s_per_min"] / 60))
print("after: our conf entry back %s, /readyz %s, exit status after SIGTERM %d" % (
    "yes" if out["reinstalled"] else "NO", ready, out["agent_rc"]))
if vg == "1":
    print("valgrind: %d errors, %d bytes definitely and %d indirectly lost" % (
        out["valgrind_errors"], out["valgrind_definitely_lost"], out["valgrind_indirectly_lost"]))
PY
