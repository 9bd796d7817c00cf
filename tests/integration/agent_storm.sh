#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Another CNI that keeps rewriting its conf (Cilium with cni.exclusive=true,
# a known install loop in Istio): 1,000 rewrites, half by temp file + rename, half by
# truncating and writing in place (in two writes, so partial states exist).
# Meanwhile a reader parses the file in a tight loop: it may see the rival's
# partial writes, never one of ours (ours contain "istio-cni"). Afterwards
# our entry is back exactly once within 2 seconds, the re-installs were
# throttled, and the agent warned about the loop naming cni.exclusive=false.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.bash"
require_root
require_file "$AGENT" "build the project first"

REWRITES=${REWRITES:-1000}
INTERVAL_MS=${INTERVAL_MS:-10}

agent_setup
agent_start
agent_wait_ready || { summary; exit 1; }
CONF=$NETD/10-bridge.conflist

"$PYTHON" - "$CONF" "$T/stop" >"$T/reader.out" <<'PY' &
import json, os, sys
path, stop = sys.argv[1:3]
reads = ours_partial = rival_partial = 0
sample = b""
while not os.path.exists(stop):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        continue
    reads += 1
    try:
        json.loads(data)
    except ValueError:
        if b"istio-cni" in data:
            ours_partial += 1
            sample = data
        else:
            rival_partial += 1
print(reads, ours_partial, rival_partial)
if sample:
    sys.stderr.write(sample.decode(errors="replace"))
PY
READER=$!
on_exit proc_stop "$READER"

t0=$SECONDS
"$PYTHON" - "$CONF" "$T/original.conflist" "$REWRITES" "$INTERVAL_MS" <<'PY'
import os, sys, time
path, orig, n, interval = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) / 1000
text = open(orig, "rb").read()
half = len(text) // 2
tmp = os.path.join(os.path.dirname(path), ".rival.tmp")
for i in range(n):
    if i % 2 == 0:
        with open(tmp, "wb") as f:
            f.write(text)
        os.rename(tmp, path)
    else:
        with open(path, "wb", buffering=0) as f:   # O_TRUNC, then two writes
            f.write(text[:half])
            f.write(text[half:])
    time.sleep(interval)
PY
storm_s=$((SECONDS - t0))

if wait_for 2 istio_count_is 1 "$CONF"; then
	pass "after $REWRITES rewrites: our entry present exactly once within 2 s"
else
	fail "after $REWRITES rewrites: our entry present exactly once within 2 s (count $(count_istio "$CONF"))"
fi
sleep 1
assert_eq "$(count_istio "$CONF")" 1 "and it stays that way (no rewrite loop of our own)"
check "the conf still holds the rival's plugins" "$PYTHON" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert [p["type"] for p in d["plugins"]] == ["bridge", "portmap", "istio-cni"], d' "$CONF"

touch "$T/stop"
wait "$READER"
read -r reads ours rival <"$T/reader.out"
log "reader: $reads reads, $rival partial rival writes seen, $ours partial writes of ours"
assert_eq "$ours" 0 "the reader never saw a partial file written by us ($reads reads)"
if ((reads > REWRITES)); then pass "the reader really raced the storm"; else
	fail "the reader really raced the storm: only $reads reads"; fi

installs=$(grep -c 'inserted the istio-cni entry' "$T/agent.log")
log "storm took ${storm_s}s; the agent re-inserted its entry $installs times"
if ((installs < REWRITES / 10)); then pass "re-installs throttled ($installs for $REWRITES rewrites)"
else fail "re-installs throttled ($installs for $REWRITES rewrites)"; fi
check "warned about a CNI rewriting its conf, naming cni.exclusive=false" \
	grep -q 'reconciled multiple times.*cni.exclusive=false' "$T/agent.log"
check "ready after the storm" agent_wait_ready 5

agent_stop TERM
assert_eq "$AGENT_RC" 0 "SIGTERM after the storm: exit 0"
check "SIGTERM after the storm: conf as the rival left it" same_json "$CONF" "$T/original.conflist"
summary
