#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The agent's pod cache: one watch of the node's pods, answered on
# <run_dir>/log.sock as GET /pod?namespace=&name=&uid=. Lookups come from
# the cache (no API request), a pod created just after the request started
# is found, an unknown pod is 404, a uid that differs from the cached one is
# 409, pods of other nodes are not cached, deletions and replacements are
# followed. While the watch is down (cut, and the API refusing to list or
# watch again), the cache answers 503 "not synced" rather than an entry
# that may be stale: an injected web-0 replaced by an uninjected web-0 (new
# uid) while the watch is down is never served for a lookup without a uid.
# run-tests: asan
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.bash"
require_root
require_file "$AGENT" "build the project first"

tmpdir_new P
"$PYTHON" - "$ROOT/tests/fakeapi" "$P/pods.json" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
import pods
json.dump([pods.istio_pod("web", "default", node="node-1"),
           pods.istio_pod("api", "shop", node="node-1"),
           pods.istio_pod("elsewhere", "default", node="node-2")], open(sys.argv[2], "w"))
PY
uid_of() { "$PYTHON" -c "import sys; sys.path.insert(0, '$ROOT/tests/fakeapi'); import pods; print(pods.pod_uid('$1', '$2', ${3:-0}))"; }

agent_setup
cp "$P/pods.json" "$T/pods.json"
ctl POST /pods "$(cat "$T/pods.json")" >/dev/null
agent_start
agent_wait_ready || { summary; exit 1; }
if wait_for 10 grep -q 'pod cache: synced' "$T/agent.log"; then pass "pod cache synced"; else
	fail "pod cache synced"; fi

WEB_UID=$(uid_of default web)
ctl DELETE /requests >/dev/null

# A cached pod: 200 and the fields of the Pod the plugin reads, as the API serves them.
sock_request GET "/pod?namespace=default&name=web&uid=$WEB_UID" >"$T/web.out"
assert_eq "$(sed -n 1p "$T/web.out")" 200 "cached pod: 200"
sed 1d "$T/web.out" >"$T/web.json"
assert_eq "$(sock_request GET '/pod?namespace=shop&name=api' | sed -n 1p)" 200 \
	"cached pod without a uid: 200"
# Served from the cache: the lookups above reached no API endpoint but the watch.
ctl GET /requests >"$T/requests.json"
gets=$("$PYTHON" -c '
import json, sys
print(sum(1 for r in json.load(open(sys.argv[1]))["items"] if "/pods/" in r["path"]))' "$T/requests.json")
assert_eq "$gets" 0 "lookups are served from the cache (no GET of a pod reached the API)"

in_node "$PYTHON" - "https://127.0.0.1:$API_PORT/api/v1/namespaces/default/pods/web" \
	"$T/api/ca.crt" "$TOKEN" >"$T/web.api.json" <<'PY'
import ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[2])
req = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[3]})
print(urllib.request.urlopen(req, context=ctx, timeout=5).read().decode())
PY
# Every value the cache answers is the API's (the cache keeps a decoded
# subset: names of the containers, the istio-proxy's args, env and
# runAsUser/Group, labels, annotations, IPs, phase, init container exits).
subset_of_api()
{
	"$PYTHON" - "$1" "$2" <<'PY'
import json, sys
got, api = (json.load(open(f)) for f in sys.argv[1:3])
def sub(a, b, path):
    if isinstance(a, dict):
        if not isinstance(b, dict):
            sys.exit("%s: not an object in the API's pod" % path)
        for k, v in a.items():
            if path.endswith(".env]") and k == "value" and v == "" and k not in b:
                continue  # valueFrom reads as ""
            if k not in b:
                sys.exit("%s.%s: not in the API's pod" % (path, k))
            sub(v, b[k], "%s.%s" % (path, k))
    elif isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            sys.exit("%s: not the API's list" % path)
        for i, (x, y) in enumerate(zip(a, b)):
            sub(x, y, path + "]" if path.endswith(".env") else "%s[%d]" % (path, i))
    elif a != b:
        sys.exit("%s: %r, the API says %r" % (path, a, b))
sub(got, api, "pod")
m, s = got["metadata"], got["spec"]
assert m["uid"] and m["resourceVersion"] and m["labels"] == api["metadata"]["labels"]
assert [c["name"] for c in s["containers"]] == [c["name"] for c in api["spec"]["containers"]]
PY
}
check "cached pod: the API's values of the fields the plugin reads" subset_of_api "$T/web.json" \
	"$T/web.api.json"

# Pods of other nodes are not watched.
assert_eq "$(sock_request GET '/pod?namespace=default&name=elsewhere' | sed -n 1p)" 404 \
	"a pod of another node: 404"
assert_eq "$(sock_request GET '/pod?namespace=default&name=nobody' | sed -n 1p)" 404 \
	"an unknown pod: 404"
assert_eq "$(sock_request GET "/pod?namespace=default&name=web&uid=not-$WEB_UID" | sed -n 1p)" 409 \
	"a stale entry with another uid: 409"
assert_eq "$(sock_request GET '/pod?namespace=default' | sed -n 1p)" 400 "no name: 400"
assert_eq "$(sock_request POST '/pod?namespace=default&name=web' '{}' | sed -n 1p)" 405 \
	"POST /pod: 405"

# A pod created just after the request started (within the 200 ms wait).
"$PYTHON" - "$ROOT/tests/fakeapi" "$T/late.json" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
import pods
json.dump(pods.istio_pod("late", "default", node="node-1"), open(sys.argv[2], "w"))
PY
in_node "$PYTHON" - "$RUN/log.sock" "$CONTROL" "$T/late.json" >"$T/late.out" <<'PY'
import http.client, socket, sys, threading, time, urllib.request
sock, control, pod_file = sys.argv[1:4]
result = {}
def lookup():
    class C(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(5)
            self.sock.connect(sock)
    c = C("unix")
    c.request("GET", "/pod?namespace=default&name=late")
    r = c.getresponse()
    result["code"] = r.status
    result["body"] = r.read()
t = threading.Thread(target=lookup)
t.start()
time.sleep(0.02)   # the request is in, the pod does not exist yet
req = urllib.request.Request(control + "/pods", method="POST", data=open(pod_file, "rb").read(),
                             headers={"Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=5).read()
t.join()
print(result["code"])
PY
assert_eq "$(cat "$T/late.out")" 200 "a pod created just after the request started is found"

# Deletion, then a new pod under the same name (new uid).
ctl DELETE /pods/default/web >/dev/null
gone() { [[ $(sock_request GET "/pod?namespace=default&name=web&uid=$WEB_UID" | sed -n 1p) == 404 ]]; }
if wait_for 5 gone; then pass "a deleted pod: 404"; else fail "a deleted pod: 404"; fi
NEW_UID=$(uid_of default web 1)
"$PYTHON" - "$ROOT/tests/fakeapi" "$T/web2.json" "$NEW_UID" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
import pods
json.dump(pods.istio_pod("web", "default", node="node-1", uid=sys.argv[3]), open(sys.argv[2], "w"))
PY
ctl POST /pods "$(cat "$T/web2.json")" >/dev/null
assert_eq "$(sock_request GET "/pod?namespace=default&name=web&uid=$NEW_UID" | sed -n 1p)" 200 \
	"the pod re-created under the same name: 200 with its new uid"
assert_eq "$(sock_request GET "/pod?namespace=default&name=web&uid=$WEB_UID" | sed -n 1p)" 409 \
	"the old uid: 409"

prom_check "http://127.0.0.1:$MONITORING_PORT/metrics" >"$T/metrics.txt" 2>&1
check "pod cache size exported" grep -q '^istio_cni_pod_cache_pods{} 3.0$' "$T/metrics.txt"
check "lookup outcomes counted" grep -q '^istio_cni_pod_cache_lookups_total{result="hit"}' \
	"$T/metrics.txt"

# The watch survives a cut: a pod created afterwards is still found.
ctl POST /watches/cut >/dev/null
"$PYTHON" - "$ROOT/tests/fakeapi" "$T/after.json" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
import pods
json.dump(pods.istio_pod("after-cut", "default", node="node-1"), open(sys.argv[2], "w"))
PY
ctl POST /pods "$(cat "$T/after.json")" >/dev/null
found() { [[ $(sock_request GET '/pod?namespace=default&name=after-cut' | sed -n 1p) == 200 ]]; }
if wait_for 10 found; then pass "after a watch cut, new pods are still cached"; else
	fail "after a watch cut, new pods are still cached"; fi

# The watch goes down and stays down: the cache must stop answering.
web0_pods "$T/web0.json" "$T/web0-new.json"
ctl POST /pods "$(cat "$T/web0.json")" >/dev/null
web0() { sock_request GET '/pod?namespace=default&name=web-0' | sed -n 1p; }
web0_is() { [[ $(web0) == "$1" ]]; }
if wait_for 5 web0_is 200; then pass "injected web-0 cached"; else fail "injected web-0 cached"; fi
ctl POST /faults '{"kind":"fail","status":500,"count":null,"path":"^/api/v1/pods$"}' >/dev/null
ctl POST /watches/cut >/dev/null
ctl DELETE /pods/default/web-0 >/dev/null
ctl POST /pods "$(cat "$T/web0-new.json")" >/dev/null
if wait_for 5 web0_is 503; then pass "watch down: 503 not synced, not the stale web-0"; else
	fail "watch down: 503 not synced, not the stale web-0 (got $(web0))"; fi
sock_request GET '/pod?namespace=default&name=web-0' >"$T/web0.out"
check "watch down: the stale injected web-0 is never served" \
	bash -c '! grep -q "$1" "$2"' _ "$(json_get "$T/web0.json" '["metadata"]["uid"]')" "$T/web0.out"
ctl DELETE /faults >/dev/null
new_web0() { sock_request GET '/pod?namespace=default&name=web-0' | grep -q "$(json_get "$T/web0-new.json" '["metadata"]["uid"]')"; }
if wait_for 40 new_web0; then pass "watch back: the new web-0 is served"; else
	fail "watch back: the new web-0 is served"; fi

agent_stop TERM
assert_eq "$AGENT_RC" 0 "SIGTERM: exit 0"
summary
