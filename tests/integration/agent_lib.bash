# SPDX-License-Identifier: Apache-2.0
# Helpers for the node agent tests (tests/integration/agent_*.sh) and
# bench/agent.sh. Source after lib.sh.
#
#   agent_setup             # $NODE netns, $T dirs, fake API server, SA dir, primary conf
#   agent_start [VAR=V...]  # the agent in $NODE with the test env (+ overrides); $AGENT_PID
#   agent_wait_ready        # until /readyz answers 200
#   agent_stop              # SIGTERM and wait; $AGENT_RC
#
# Everything runs inside a fresh network namespace, so the agent's ports
# (8000, 15014) cannot collide with anything on the host.

AGENT=${AGENT:-$BUILD_DIR/bin/istio-cni-agent}
FAKE=$ROOT/tests/fakeapi/fake_apiserver.py
AGENT_USER=system:serviceaccount:istio-system:istio-cni
AGENT_PERMS="get pods,list pods,watch pods,delete pods,patch pods/status,create events"
AGENT_WRAPPER=()
HEALTH_PORT=8000
MONITORING_PORT=15014
AGENT_SUBNET=${AGENT_SUBNET:-10.78.0.0/24}

# in_node CMD...: run CMD in the node netns.
in_node() { ip netns exec "$NODE" "$@"; }

# sa_write DIR TOKEN CA: a kubelet-style projected service-account volume:
# a timestamped data dir, ..data pointing at it, and token/ca.crt/namespace
# pointing through ..data. Swaps ..data atomically when DIR already has one
# (what the kubelet does on rotation) and removes the old data dir.
sa_write()
{
	local dir=$1 token=$2 ca=$3 ts old=
	ts="..$(date -u +%Y_%m_%d_%H_%M_%S).$(date +%N)"
	mkdir -p "$dir/$ts"
	printf '%s' "$token" >"$dir/$ts/token"
	cp "$ca" "$dir/$ts/ca.crt"
	printf 'istio-system' >"$dir/$ts/namespace"
	[[ -L "$dir/..data" ]] && old=$(readlink "$dir/..data")
	ln -s "$ts" "$dir/..data_tmp"
	mv -T "$dir/..data_tmp" "$dir/..data"
	for f in token ca.crt namespace; do
		[[ -L "$dir/$f" ]] || ln -s "..data/$f" "$dir/$f"
	done
	[[ -n "$old" ]] && rm -rf -- "${dir:?}/$old"
	return 0
}

# agent_setup: netns, temp dirs, the fake API server (pods from $T/pods.json
# when it exists), a service-account dir with a fresh token, a bridge
# conflist as the primary conf (host-local hands out $AGENT_SUBNET).
agent_setup()
{
	tmpdir_new T
	netns_new NODE node
	NETD=$T/net.d
	BIN=$T/bin
	SRC=$T/src
	RUN=$T/run
	SA=$T/sa
	mkdir -p "$NETD" "$BIN" "$SRC" "$RUN" "$SA" "$T/api"
	cp "$PLUGIN" "$SRC/istio-cni"
	# Private copies: the build dir may be rebuilt while a test runs.
	cp "$AGENT" "$T/istio-cni-agent"
	AGENT=$T/istio-cni-agent
	[[ -e "$T/pods.json" ]] || echo '[]' >"$T/pods.json"
	TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
	# spawn, not in_node: a function run with & is a subshell whose pid is
	# not the server's, and killing it orphaned the server.
	spawn FAKE_PID ip netns exec "$NODE" "$PYTHON" "$FAKE" --dir "$T/api" \
		--pods-file "$T/pods.json" --token "$TOKEN=$AGENT_USER" \
		--allow "$AGENT_USER=$AGENT_PERMS" ${FAKE_ARGS:-} >"$T/fake.out" 2>"$T/fake.err"
	local i
	for ((i = 0; i < 300; i++)); do
		[[ -s "$T/api/server.json" ]] && break
		kill -0 "$FAKE_PID" 2>/dev/null || break
		sleep 0.1
	done
	if [[ ! -s "$T/api/server.json" ]]; then
		cat "$T/fake.err" >&2
		echo "$TEST_NAME: the fake API server did not start" >&2
		exit 1
	fi
	API_PORT=$(json_get "$T/api/server.json" '["port"]')
	CONTROL=$(json_get "$T/api/server.json" '["control_url"]')
	sa_write "$SA" "$TOKEN" "$T/api/ca.crt"
	cat >"$NETD/10-bridge.conflist" <<-JSON
	{
	  "cniVersion": "1.0.0",
	  "name": "k8s-pod-network",
	  "plugins": [
	    {"type": "bridge", "bridge": "cni-agent0", "isGateway": true,
	     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$AGENT_SUBNET"}]],
	              "routes": [{"dst": "0.0.0.0/0"}]}},
	    {"type": "portmap", "capabilities": {"portMappings": true}}
	  ]
	}
	JSON
	cp "$NETD/10-bridge.conflist" "$T/original.conflist"
}

# agent_env: the variables every test gives the agent.
agent_env()
{
	AGENT_ENV=(PATH=/usr/sbin:/usr/bin:/sbin:/bin
		MOUNTED_CNI_NET_DIR="$NETD" MOUNTED_CNI_BIN_DIR="$BIN" CNI_BIN_SOURCE_DIR="$SRC"
		CNI_AGENT_RUN_DIR="$RUN" SERVICE_ACCOUNT_DIR="$SA"
		KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$API_PORT"
		HEALTH_PORT="$HEALTH_PORT" MONITORING_PORT="$MONITORING_PORT"
		KUBERNETES_NODE_NAME=node-1 POD_NAMESPACE=istio-system LOG_LEVEL=debug
		REPAIR_ENABLED=false "${SANITIZER_ENV[@]}")
}

# agent_start [VAR=VALUE...]: starts the agent (AGENT_WRAPPER prefixes it);
# its stderr goes to $T/agent.log.
agent_start()
{
	agent_env
	: >"$T/agent.log"
	spawn AGENT_PID ip netns exec "$NODE" env -i "${AGENT_ENV[@]}" "$@" \
		"${AGENT_WRAPPER[@]}" "$AGENT" >>"$T/agent.log" 2>&1
}

# agent_stop [SIGNAL]: signals the agent (TERM) and waits; sets AGENT_RC.
agent_stop()
{
	kill -"${1:-TERM}" "$AGENT_PID" 2>/dev/null
	wait "$AGENT_PID"
	AGENT_RC=$?
}

# fake_stop: ends the fake API server now (spawn registered the same stop at
# exit; a second one finds nothing to do).
fake_stop() { proc_stop -g "$FAKE_PID"; }

# web0_pods OLD NEW: writes an injected web-0 to OLD and, to NEW, the pod a
# StatefulSet recreates under the same name: uninjected, with a new uid.
web0_pods()
{
	"$PYTHON" - "$ROOT/tests/fakeapi" "$1" "$2" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
import pods
json.dump(pods.istio_pod("web-0", "default", node="node-1"), open(sys.argv[2], "w"))
json.dump(pods.uninjected_pod("web-0", "default", node="node-1",
                              uid=pods.pod_uid("default", "web-0", 1)), open(sys.argv[3], "w"))
PY
}

# http_get URL: prints the status code, then the body (in the node netns).
http_get()
{
	in_node "$PYTHON" - "$1" <<'PY'
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=5)
    print(r.status); sys.stdout.write(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code); sys.stdout.write(e.read().decode())
except Exception as e:
    print(0); print(e)
PY
}

http_code() { http_get "$1" | sed -n 1p; }
readyz() { http_code "http://127.0.0.1:$HEALTH_PORT/readyz"; }

# wait_for SECONDS CMD...: polls CMD every 20 ms until it succeeds.
wait_for()
{
	local deadline=$((SECONDS + $1))
	shift
	while ((SECONDS < deadline)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.02
	done
	"$@" >/dev/null 2>&1
}

is_ready() { [[ $(readyz) == 200 ]]; }
is_not_ready() { [[ $(readyz) == 503 ]]; }

agent_wait_ready()
{
	if wait_for "${1:-20}" is_ready; then
		return 0
	fi
	echo "$TEST_NAME: the agent did not become ready; its log:" >&2
	tail -n 30 "$T/agent.log" >&2
	return 1
}

# sock_request METHOD PATH [BODY|@FILE]: HTTP over $RUN/log.sock; prints code, then
# body. A raw socket, so an answer sent before the whole body (413) is read.
sock_request()
{
	"$PYTHON" - "$RUN/log.sock" "$1" "$2" "${3:-}" <<'PY'
import socket, sys
path, method, url, body = sys.argv[1:5]
data = open(body[1:], "rb").read() if body.startswith("@") else body.encode()
head = "%s %s HTTP/1.1\r\nHost: unix\r\nConnection: close\r\n" % (method, url)
if data:
    head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(data)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(path)
try:
    s.sendall(head.encode() + b"\r\n" + data)
except (BrokenPipeError, ConnectionResetError):
    pass
resp = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        resp += chunk
except (ConnectionResetError, socket.timeout):
    pass
status, _, rest = resp.partition(b"\r\n")
code = status.split()[1].decode() if len(status.split()) > 1 else "0"
body = rest.partition(b"\r\n\r\n")[2].decode(errors="replace")
print(code); sys.stdout.write(body)
PY
}

# ctl METHOD PATH [JSON|@FILE]: the fake API server's control API.
ctl()
{
	in_node "$PYTHON" - "$CONTROL$2" "$1" "${3:-}" <<'PY'
import sys, urllib.request
url, method, body = sys.argv[1], sys.argv[2], sys.argv[3]
if body.startswith("@"):
    body = open(body[1:]).read()
req = urllib.request.Request(url, method=method, data=body.encode() if body else None,
                             headers={"Content-Type": "application/json"})
print(urllib.request.urlopen(req, timeout=5).read().decode())
PY
}

# agent_log PYTHON-EXPR: evaluates EXPR over the fake API server's request
# log (r: its entries, deletes: the DELETEs) and prints the result.
agent_log()
{
	ctl GET /requests >"$T/requests.json"
	"$PYTHON" - "$T/requests.json" "$1" <<-'EOF'
		import json, sys
		r = json.load(open(sys.argv[1]))["items"]
		deletes = [x for x in r if x["method"] == "DELETE"]
		print(eval(sys.argv[2]))
	EOF
}

# istio_count_is N FILE: FILE holds exactly N istio-cni entries.
istio_count_is() { [[ $(count_istio "$2") == "$1" ]]; }

# count_istio FILE: how many plugins of type istio-cni FILE's conflist holds.
count_istio()
{
	"$PYTHON" - "$1" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    print(sum(1 for p in d.get("plugins", []) if p.get("type") == "istio-cni"))
except Exception:
    print(-1)
PY
}

# same_json A B: A and B parse to the same JSON value.
same_json()
{
	"$PYTHON" -c 'import json,sys; sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))' "$1" "$2"
}

# fs_watch_start OUT DIR...: records, in the order the kernel queued them,
# the file events in DIRs ("DIR/NAME EVENT" lines) to OUT until killed;
# returns once the watches are armed. Sets FS_WATCH_PID.
fs_watch_start()
{
	local out=$1
	shift
	spawn FS_WATCH_PID "$PYTHON" -u - "$@" >"$out" <<'PY'
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(os.O_CLOEXEC)
names = {0x2: "MODIFY", 0x8: "CLOSE_WRITE", 0x40: "MOVED_FROM", 0x80: "MOVED_TO",
         0x100: "CREATE", 0x200: "DELETE"}
mask = sum(names)
wds = {}
for d in sys.argv[1:]:
    wd = libc.inotify_add_watch(fd, d.encode(), mask)
    if wd < 0:
        sys.exit("cannot watch " + d)
    wds[wd] = d
print("ready")
while True:
    buf = os.read(fd, 65536)
    i = 0
    while i < len(buf):
        wd, m, _, n = struct.unpack_from("iIII", buf, i)
        name = buf[i + 16:i + 16 + n].rstrip(b"\0").decode()
        i += 16 + n
        for bit, label in names.items():
            if m & bit:
                print("%s/%s %s" % (wds[wd], name, label))
PY
	local i
	for ((i = 0; i < 100; i++)); do
		grep -q '^ready' "$out" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# prom_check URL: fetches URL and parses it with prometheus_client's parser;
# prints "name{labels} value" per sample.
prom_check()
{
	in_node "$PYTHON" - "$1" <<'PY'
import sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families
text = urllib.request.urlopen(sys.argv[1], timeout=5).read().decode()
for fam in text_string_to_metric_families(text):
    for s in fam.samples:
        labels = ",".join('%s="%s"' % kv for kv in sorted(s.labels.items()))
        print("%s{%s} %s" % (s.name, labels, s.value))
PY
}
