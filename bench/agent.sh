#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The node agent's footprint: peak RSS (VmHWM) and CPU time while another CNI
# rewrites its conf 1,000 times (temp+rename and truncate+write in place, as
# fast as it can), and while idle with every watch armed (the pod cache
# watch of the fake API server included).
#
#   sudo bench/agent.sh                  # IDLE_SECONDS=60 REWRITES=1000 BUILD_DIR=build
#   sudo PODS=110 REPAIR=false bench/agent.sh
#
# PODS (5000) pods on this node are in the fake API server; REPAIR (true) runs
# the repair loop too (label mode; none of the pods is broken). The API
# requests the agent made up to the end of the idle period are counted by the
# fake API server (per verb: list pages, watches, the rest).
#
# Targets: peak RSS < 10 MB, idle CPU near zero. Prints the numbers; asserts nothing.
# RSS counts every resident page of the shared libraries mapped; PSS (their
# share) and the anonymous memory (our own) are printed too.
set -uo pipefail
TEST_NAME=bench-agent
. "$(dirname "$0")/../tests/integration/lib.sh"
. "$ROOT/tests/integration/agent_lib.bash"
require_root
require_file "$AGENT" "build the project first"
IDLE_SECONDS=${IDLE_SECONDS:-60}
REWRITES=${REWRITES:-1000}
PODS=${PODS:-5000}
REPAIR=${REPAIR:-true}

# CPU seconds (user + system, all threads) of a pid.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f\n", ($14 + $15) / hz}' "/proc/$1/stat"; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

# The fake API server makes the pods itself (a 5,000-pod POST takes longer
# than the control API's timeout).
FAKE_ARGS="--bulk $PODS --node node-1"
agent_setup
ctl DELETE /requests >/dev/null
if [[ $REPAIR == true ]]; then
	agent_start LOG_LEVEL=info REPAIR_ENABLED=true REPAIR_LABEL_PODS=true REPAIR_REPAIR_PODS=false
else
	agent_start LOG_LEVEL=info
fi
agent_wait_ready 120 || exit 1
wait_for 120 grep -q 'pod cache: synced' "$T/agent.log" || true
start_cpu=$(cpu_s "$AGENT_PID")
start_rss=$(status_kb "$AGENT_PID" VmRSS)

# --- idle ---------------------------------------------------------------
c0=$(cpu_s "$AGENT_PID")
sleep "$IDLE_SECONDS"
c1=$(cpu_s "$AGENT_PID")
idle_rss=$(status_kb "$AGENT_PID" VmRSS)
idle_hwm=$(status_kb "$AGENT_PID" VmHWM)
# Requests to the API server from the start to the end of the idle period.
ctl GET /requests/counts >"$T/counts.json"
reqs=$("$PYTHON" - "$T/counts.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
v = c["by_verb"]
rest = c["total"] - v.get("list", 0) - v.get("watch", 0)
print("%d requests: %d list (pages), %d watch, %d other" % (c["total"], v.get("list", 0),
      v.get("watch", 0), rest))
PY
)

# --- storm ----------------------------------------------------------------
CONF=$NETD/10-bridge.conflist
t0=$(date +%s.%N)
"$PYTHON" - "$CONF" "$T/original.conflist" "$REWRITES" <<'PY'
import os, sys
path, orig, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
text = open(orig, "rb").read()
half = len(text) // 2
tmp = os.path.join(os.path.dirname(path), ".rival.tmp")
for i in range(n):
    if i % 2 == 0:
        with open(tmp, "wb") as f:
            f.write(text)
        os.rename(tmp, path)
    else:
        with open(path, "wb", buffering=0) as f:
            f.write(text[:half])
            f.write(text[half:])
PY
t1=$(date +%s.%N)
wait_for 5 istio_count_is 1 "$CONF"
t2=$(date +%s.%N)
sleep 1
c2=$(cpu_s "$AGENT_PID")
hwm=$(status_kb "$AGENT_PID" VmHWM)
pss=$(awk '$1 == "Pss:" {print $2}' "/proc/$AGENT_PID/smaps_rollup")
anon=$(awk '$1 == "Anonymous:" {print $2}' "/proc/$AGENT_PID/smaps_rollup")
installs=$(grep -c 'inserted the istio-cni entry' "$T/agent.log")
agent_stop TERM

awk -v sc="$start_cpu" -v srss="$start_rss" -v c0="$c0" -v c1="$c1" -v c2="$c2" \
	-v idle="$IDLE_SECONDS" -v irss="$idle_rss" -v hwm="$hwm" -v t0="$t0" -v t1="$t1" \
	-v t2="$t2" -v n="$REWRITES" -v inst="$installs" -v rc="$AGENT_RC" -v pss="$pss" -v anon="$anon" \
	-v pods="$PODS" -v repair="$REPAIR" -v reqs="$reqs" -v ihwm="$idle_hwm" 'BEGIN {
	printf "%d pods on the node, repair %s\n", pods, repair == "true" ? "on" : "off"
	printf "API requests until the end of idle:           %s\n", reqs
	printf "peak RSS (VmHWM) at the end of idle:          %.1f MB\n", ihwm / 1024
	printf "agent start-up (install, pod cache sync): %.2f s CPU, RSS %.1f MB\n", sc, srss / 1024
	printf "idle %d s with watches armed:                 %.2f s CPU (%.3f%%), RSS %.1f MB\n",
		idle, c1 - c0, 100 * (c1 - c0) / idle, irss / 1024
	printf "storm of %d rewrites in %.2f s:             %.2f s CPU (incl. 1 s settle), converged %.2f s after it, %d re-installs\n",
		n, t1 - t0, c2 - c1, t2 - t1, inst
	printf "peak RSS (VmHWM):                             %.1f MB (target < 10 MB)\n", hwm / 1024
	printf "  of which PSS %.1f MB, anonymous %.1f MB (the rest: pages of the executable and any shared library)\n",
		pss / 1024, anon / 1024
	printf "exit status after SIGTERM:                    %d\n", rc
}'
