#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Repair loop benchmark against the fake API server (no root needed):
#  1. latency from the watch event that marks a pod broken (the control API
#     call that breaks it, timed just before it is sent) to the DELETE
#     request in the server's request log: median and p90 of 100 pods, each
#     broken alone;
#  2. the daemon's CPU time and peak RSS while it lists and watches a cluster
#     of 5,000 pods (control API /pods/bulk) for WATCH_SECONDS, and how many
#     WATCH requests it made meanwhile (one: a watch lasts 5 to 10 minutes;
#     the daemon acts from inside it).
# Prints the numbers and the targets (median under 50 ms; RSS under 10 MB).
#   bench/repair.sh [BUILD_DIR]

BUILD_DIR=${1:-${BUILD_DIR:-build}}
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
TEST_NAME=bench-repair
. "$(dirname "${BASH_SOURCE[0]}")/../tests/integration/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../tests/integration/repair_lib.bash"
require_file "$REPAIR" "build first: cmake --build $BUILD_DIR"
tmpdir_new TMP
N=${N:-100}
WATCH_SECONDS=${WATCH_SECONDS:-10}

# --- 1. event → DELETE latency --------------------------------------------
fake_start "$TMP/f1" --bulk "$N" --node node-1 || exit 1
start_repair "$TMP/r1.out" REPAIR_DELETE_PODS=true REPAIR_RATE_LIMIT=1000 REPAIR_RATE_BURST=1000
wait_for 20 'any(x["params"].get("watch") in ("1", "true") for x in r)' || { echo "no watch"; exit 1; }
"$PYTHON" - "$CONTROL" "$N" <<'PY'
import json, statistics, sys, time, urllib.request
base, n = sys.argv[1], int(sys.argv[2])
def call(method, path, body=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=30))
sent = {}
for i in range(n):
    name = "bench-%05d" % i
    sent[name] = time.time()
    call("POST", "/pods/default/%s/broken" % name, {})
    # Wait for its DELETE before breaking the next one.
    deadline = time.time() + 10
    while time.time() < deadline:
        log = call("GET", "/requests")["items"]
        if any(x["method"] == "DELETE" and x["path"].endswith("/" + name) for x in log):
            break
        time.sleep(0.02)
log = call("GET", "/requests")["items"]
lat = []
for x in log:
    if x["method"] == "DELETE":
        name = x["path"].rsplit("/", 1)[1]
        if name in sent:
            lat.append((x["time"] - sent[name]) * 1000)
lat.sort()
if len(lat) < n:
    print("only %d of %d pods were deleted" % (len(lat), n))
print("event -> DELETE latency over %d pods: median %.1f ms, p90 %.1f ms, max %.1f ms "
      "(target: median under 50 ms)" % (len(lat), statistics.median(lat),
                                        lat[int(len(lat) * 0.9) - 1], lat[-1]))
PY
kill -TERM "$RPID"; wait "$RPID" 2>/dev/null
fake_stop

# --- 2. CPU and peak RSS over 5,000 pods ------------------------------------
fake_start "$TMP/f2" --bookmark-interval 1 || exit 1
ctl POST /pods/bulk '{"count":5000,"node":"node-1","prefix":"big"}' >/dev/null
ctl POST /pods/bulk '{"count":500,"node":"node-2","prefix":"other"}' >/dev/null
ctl DELETE /requests >/dev/null
t0=$(date +%s.%N)
start_repair "$TMP/r2.out" REPAIR_DELETE_PODS=true
wait_for 60 'any(x["params"].get("watch") in ("1", "true") for x in r)' || { echo "no watch"; exit 1; }
t1=$(date +%s.%N)
read -r ut1 st1 < <(awk '{print $14, $15}' "/proc/$RPID/stat")
sleep "$WATCH_SECONDS"
hz=$(getconf CLK_TCK)
read -r ut st < <(awk '{print $14, $15}' "/proc/$RPID/stat")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$RPID/status")
pages=$(reqlog 'sum(1 for x in r if x["path"] == "/api/v1/pods" and not x["params"].get("watch"))')
watches=$(reqlog 'sum(1 for x in r if x["path"] == "/api/v1/pods" and x["params"].get("watch"))')
kill -TERM "$RPID"; wait "$RPID" 2>/dev/null
"$PYTHON" - "$ut" "$st" "$hz" "$hwm" "$t0" "$t1" "$WATCH_SECONDS" "$pages" "$ut1" "$st1" \
	"$watches" <<'PY'
import sys
ut, st, hz, hwm, t0, t1, w, pages, ut1, st1, watches = sys.argv[1:]
cpu = (int(ut) + int(st)) / int(hz)
cpu_watch = (int(ut) + int(st) - int(ut1) - int(st1)) / int(hz)
print("5,000 pods: list (%s pages) to first watch %.2f s; CPU %.2f s over %.1f s of run "
      "(list + %s s watching; %.2f s of it while watching, %s WATCH requests); "
      "peak RSS %.1f MB (target: under 10 MB)"
      % (pages, float(t1) - float(t0), cpu, float(t1) - float(t0) + float(w), w, cpu_watch,
         watches, int(hwm) / 1024))
PY
fake_stop
