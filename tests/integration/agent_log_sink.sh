#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The agent's log socket under big bodies: concurrent 1 MiB POST /log bodies
# (with a Content-Length, and chunked without one) are refused with 413, and
# concurrent bodies just under the cap, made of the smallest JSON strings
# (the most decoded objects per byte), are taken; through all of it the
# agent's peak RSS (VmHWM) stays far below the manifest's 64Mi limit.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.bash"
require_root
require_file "$AGENT" "build the project first"

agent_setup
agent_start
agent_wait_ready || { summary; exit 1; }

hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$AGENT_PID/status"; }
log "VmHWM before: $(hwm_kb) kB"

# post_many N BYTES CHUNKED: N concurrent POST /log of a BYTES-long JSON array
# of one-letter strings; prints the status codes, sorted and counted.
post_many()
{
	"$PYTHON" - "$RUN/log.sock" "$@" <<'PY'
import collections, socket, sys, threading
path, n, size, chunked = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
body = b"[" + b'"a",' * ((size - 6) // 4) + b'"a"]'
codes = []
def post():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    try:
        s.connect(path)
        head = b"POST /log HTTP/1.1\r\nHost: unix\r\nConnection: close\r\nContent-Type: application/json\r\n"
        if chunked:
            s.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n")
            for i in range(0, len(body), 65536):
                part = body[i:i + 65536]
                s.sendall(b"%x\r\n%s\r\n" % (len(part), part))
            s.sendall(b"0\r\n\r\n")
        else:
            s.sendall(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    except OSError:
        pass
    resp = b""
    try:
        while True:
            c = s.recv(65536)
            if not c:
                break
            resp += c
    except OSError:
        pass
    parts = resp.split(b" ", 2)
    codes.append(parts[1].decode() if len(parts) > 1 else "0")
ts = [threading.Thread(target=post) for _ in range(n)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(" ".join("%s*%d" % kv for kv in sorted(collections.Counter(codes).items())))
PY
}

assert_eq "$(post_many 8 $((1024 * 1024)) 0)" "413*8" \
	"8 concurrent 1 MiB bodies with a Content-Length: all 413"
assert_eq "$(post_many 8 $((1024 * 1024)) 1)" "413*8" "8 concurrent chunked 1 MiB bodies: all 413"
assert_eq "$(post_many 8 $((300 * 1024)) 0)" "200*8" \
	"8 concurrent 300 KiB bodies (the plugin sends up to 256 KiB of lines): all 200"
assert_eq "$(post_many 8 $((300 * 1024)) 1)" "200*8" "8 concurrent chunked 300 KiB bodies: all 200"
assert_eq "$(sock_request POST /log '["programmed traffic capture"]' | sed -n 1p)" 200 \
	"a small body after the big ones: 200"

hwm=$(hwm_kb)
log "VmHWM after: $hwm kB"
if ((hwm < 40 * 1024)); then pass "peak RSS stays under 40 MB ($hwm kB)"; else
	fail "peak RSS stays under 40 MB ($hwm kB)"; fi

agent_stop TERM
assert_eq "$AGENT_RC" 0 "SIGTERM: exit 0"
summary
