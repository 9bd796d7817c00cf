#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The agent's probe and metrics ports under a slow-connection flood: 70
# connections from 127.0.0.2 that send half a request header and then
# trickle a byte now and then (what a pod on the cluster network can do to
# the agent's host-network ports) must not keep the kubelet's probes from
# 127.0.0.1 from being answered: every /healthz, /readyz and /metrics probe
# answers 200 within the client's timeout, and a connection still sending
# its request header 10 s after it opened is closed.
# /healthz follows the main loop: with the loop's thread stopped (ptrace
# interrupts that one thread; the HTTP threads run on) it fails, and it
# answers 200 again once the loop runs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.bash"
require_root
require_file "$AGENT" "build the project first"

agent_setup
agent_start
agent_wait_ready || { summary; exit 1; }

# flood PORT N SECONDS: N connections from 127.0.0.2 to PORT, each with half a
# request header, one more header byte every 2 s, for SECONDS; prints "ready",
# then how many the server still held open after 3 s and at the end.
flood()
{
	in_node "$PYTHON" - "$@" <<'PY'
import socket, sys, time
port, n, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
socks = []
for _ in range(n):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        s.settimeout(0)  # from here on, recv and send never wait
        socks.append(s)
    except OSError:
        s.close()
print("ready", flush=True)
def prune():
    for s in list(socks):
        try:
            if s.recv(1) != b"":
                continue  # an answer: still open
        except BlockingIOError:
            continue
        except OSError:
            pass
        socks.remove(s)
        s.close()
start = time.monotonic()
early = None
while time.monotonic() < start + secs:
    time.sleep(1)
    prune()
    if early is None and time.monotonic() >= start + 3:
        early = len(socks)
    for s in socks:
        try:
            s.sendall(b"a")
        except OSError:
            pass
prune()
print(early, flush=True)
print(len(socks), flush=True)
PY
}

# probes URL N: N probes from 127.0.0.1, one after the other, each with a 5 s
# client timeout; prints how many answered 200.
probes()
{
	in_node "$PYTHON" - "$@" <<'PY'
import sys, time, urllib.request
url, n = sys.argv[1], int(sys.argv[2])
ok = 0
for _ in range(n):
    try:
        if urllib.request.urlopen(url, timeout=5).status == 200:
            ok += 1
    except Exception as e:
        print("probe failed:", e, file=sys.stderr)
    time.sleep(0.1)
print(ok)
PY
}

for port in "$HEALTH_PORT" "$MONITORING_PORT"; do
	flood "$port" 70 14 >"$T/flood.$port" &
	fpid=$!
	on_exit kill "$fpid"
	wait_for 10 grep -q '^ready' "$T/flood.$port"
	if [[ $port == "$HEALTH_PORT" ]]; then
		assert_eq "$(probes "http://127.0.0.1:$port/healthz" 20)" 20 \
			"70 slow connections to :$port: 20/20 /healthz probes answered"
		assert_eq "$(probes "http://127.0.0.1:$port/readyz" 20)" 20 \
			"70 slow connections to :$port: 20/20 /readyz probes answered"
	else
		assert_eq "$(probes "http://127.0.0.1:$port/metrics" 20)" 20 \
			"70 slow connections to :$port: 20/20 /metrics scrapes answered"
	fi
	wait "$fpid"
	held=$(sed -n 2p "$T/flood.$port")
	if [[ -n $held ]] && ((held <= 16)); then
		pass "one address holds at most a few connections to :$port ($held of 70)"
	else
		fail "one address holds at most a few connections to :$port (${held:-?} of 70)"
	fi
	assert_eq "$(sed -n 3p "$T/flood.$port")" 0 \
		"no slow connection to :$port outlives the 10 s request-header deadline"
done

kill -0 "$AGENT_PID" 2>/dev/null && pass "the agent survived the flood" ||
	fail "the agent survived the flood"

# The agent's pid is the one ip-netns-exec and env exec'd into.
in_node "$PYTHON" - "$AGENT_PID" 16 >"$T/wedge.out" 2>&1 <<'PY' &
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
tid, secs = int(sys.argv[1]), float(sys.argv[2])
PTRACE_SEIZE, PTRACE_INTERRUPT, PTRACE_DETACH = 0x4206, 0x4207, 17
if libc.ptrace(PTRACE_SEIZE, tid, None, None) < 0 or \
   libc.ptrace(PTRACE_INTERRUPT, tid, None, None) < 0:
    sys.exit("ptrace: " + os.strerror(ctypes.get_errno()))
os.waitpid(tid, 0x40000000)  # __WALL: the main thread is stopped, no other
print("stopped", flush=True)
time.sleep(secs)
libc.ptrace(PTRACE_DETACH, tid, None, None)
print("released", flush=True)
PY
wpid=$!
on_exit kill "$wpid"
healthz() { http_code "http://127.0.0.1:$HEALTH_PORT/healthz"; }
healthz_is() { [[ $(healthz) == "$1" ]]; }
if wait_for 5 grep -q '^stopped' "$T/wedge.out"; then
	if wait_for 14 healthz_is 503; then pass "/healthz fails while the main loop is stopped"
	else fail "/healthz fails while the main loop is stopped (got $(healthz))"; fi
	wait "$wpid"
	if wait_for 5 healthz_is 200; then pass "/healthz answers 200 once the loop runs again"
	else fail "/healthz answers 200 once the loop runs again"; fi
else
	fail "stopping the agent's main thread: $(cat "$T/wedge.out")"
fi
agent_stop TERM
assert_eq "$AGENT_RC" 0 "SIGTERM: exit 0"
summary
