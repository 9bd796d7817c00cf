#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The plugin's whole ADD flow through the reference runtime: cnitool
# runs bridge + host-local + istio-cni inside a throwaway node netns; the
# plugin reads pods from the project's fake API server (HTTPS, own CA, bearer
# token) listening on the node netns' loopback. Injected pods get their
# capture, proven by real traffic; every skip path leaves no tables; API
# failures fail ADD closed with the right code.
# run-tests: asan
. "$(dirname "$0")/lib.sh"
require_root
require_file "$PLUGIN" "$CNITOOL"

tmpdir_new T
netns_new NODE node
ip -n "$NODE" link set lo up

CONF_NAME=e2e
RUN=$T/run
NETD=$T/net.d
API=$T/api
mkdir -p "$RUN" "$NETD" "$API" "$T/cni-state"
SA_USER=system:serviceaccount:istio-system:istio-cni

# --- pods the fake API server serves -------------------------------------
"$PYTHON" - "$ROOT/tests/fakeapi" "$T/pods.json" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
import pods
p = [
    pods.istio_pod("web", "default"),
    pods.uninjected_pod("plain", "default"),
    pods.istio_pod("sys", "kube-system"),
    pods.inject_disabled_pod("optout-label", "default", where="label"),
    pods.inject_disabled_pod("optout-ann", "default", where="annotation"),
    pods.istio_init_pod("legacy", "default"),
    pods.gateway_pod("gw", "istio-system"),
    pods.istio_pod("badann", "default", annotations={
        "traffic.sidecar.istio.io/excludeOutboundIPRanges": "10.0.0.0/33"}),
    pods.istio_pod("flaky", "default"),
]
json.dump(p, open(sys.argv[2], "w"))
PY

ip netns exec "$NODE" "$PYTHON" "$ROOT/tests/fakeapi/fake_apiserver.py" --dir "$API" \
	--pods-file "$T/pods.json" --token "cni-token=$SA_USER" --token "norbac-token=nobody" \
	--allow "$SA_USER=get pods,list pods,watch pods" >"$T/api.log" 2>&1 &
API_PID=$!
on_exit proc_stop "$API_PID"
for _ in $(seq 100); do [[ -s "$API/server.json" ]] && break; sleep 0.1; done
require_file "$API/server.json"
API_URL=$(json_get "$API/server.json" '["url"]')
CTL_URL=$(json_get "$API/server.json" '["control_url"]')

# ctl METHOD PATH [JSON]: the fake server's control API (inside the node netns).
ctl()
{
	ip netns exec "$NODE" "$PYTHON" - "$CTL_URL$2" "$1" "${3:-}" <<'PY'
import sys, urllib.request
url, method, body = sys.argv[1], sys.argv[2], sys.argv[3]
req = urllib.request.Request(url, method=method, data=body.encode() if body else None,
                             headers={"Content-Type": "application/json"})
print(urllib.request.urlopen(req, timeout=5).read().decode())
PY
}

write_kubeconfig()
{
	local server=$1 token=$2
	umask 077
	cat >"$RUN/istio-cni-kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: $(base64 -w0 <"$API/ca.crt")
    server: $server
  name: local
contexts:
- context:
    cluster: local
    user: istio-cni
  name: istio-cni-context
current-context: istio-cni-context
users:
- name: istio-cni
  user:
    token: $token
KC
}
write_kubeconfig "$API_URL" cni-token

cat >"$NETD/10-$CONF_NAME.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "$CONF_NAME",
  "plugins": [
    {"type": "bridge", "bridge": "cni-e2e", "isGateway": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.77.0.0/24"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "istio-cni", "cni_agent_run_dir": "$RUN", "exclude_namespaces": ["kube-system"],
     "pod_namespace": "istio-system", "pod_lookup_timeout_seconds": 3,
     "plugin_log_level": "debug"}
  ]
}
JSON

CNI_PATH_VAL=$BUILD_DIR/bin:$CNI_PLUGINS_DIR

# cni VERB NS NAME NETNS: cnitool in the node netns; sets RC, OUT, ERR.
cni()
{
	local verb=$1 ns=$2 name=$3 netns=$4
	OUT=$T/$verb-$name.out
	ERR=$T/$verb-$name.err
	# A private /var/lib/cni: libcni's cache and host-local's leases stay in $T.
	node_exec "$NODE" "$T/cni-state" env CNI_PATH="$CNI_PATH_VAL" NETCONFPATH="$NETD" \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=$ns;K8S_POD_NAME=$name" \
		"$CNITOOL" "$verb" "$CONF_NAME" "/var/run/netns/$netns" >"$OUT" 2>"$ERR"
	RC=$?
}

has_tables() { ip netns exec "$1" nft list tables 2>/dev/null | grep -q 'istio-proxy-nat'; }

show() { printf '     | exit %s\n' "$RC"; sed 's/^/     | /' "$OUT" "$ERR" | tail -n 15; }

# --- an injected pod: capture programmed, real traffic redirected ---------
netns_new POD pod
cni add default web "$POD"
if ((RC == 0)) && has_tables "$POD"; then pass "injected pod: ADD programs the capture"; else
	fail "injected pod: ADD programs the capture"; show; fi
if json_py "$OUT" -- 'assert doc[0]["ips"][0]["address"].startswith("10.77.0.")'; then
	pass "injected pod: ADD prints the bridge result"
else fail "injected pod: ADD prints the bridge result"; show; fi

ip netns exec "$POD" "$PYTHON" "$ROOT/tests/tools/capture_probe.py" serve proxy --tcp 15001,15006 \
	>"$T/probe.out" 2>&1 &
PROBE=$!
on_exit proc_stop "$PROBE"
for _ in $(seq 50); do grep -q ready "$T/probe.out" && break; sleep 0.1; done
got=$(ip netns exec "$POD" setpriv --reuid 1000 --regid 1000 --clear-groups \
	"$PYTHON" "$ROOT/tests/tools/capture_probe.py" connect 10.77.0.1 8080 --timeout 3)
assert_eq "$got" "proxy L=15001 O=10.77.0.1:8080" \
	"injected pod: app's outbound TCP lands on 15001 with its original destination"
POD_IP=$(ip -n "$POD" -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
got=$(ip netns exec "$NODE" "$PYTHON" "$ROOT/tests/tools/capture_probe.py" connect "$POD_IP" 9080 --timeout 3)
assert_eq "$got" "proxy L=15006 O=$POD_IP:9080" "injected pod: inbound TCP lands on 15006"

cni check default web "$POD"
if ((RC == 0)); then pass "injected pod: CHECK succeeds"; else fail "injected pod: CHECK succeeds"; show; fi
ip netns exec "$POD" nft flush chain inet istio-proxy-nat istio-redirect
cni check default web "$POD"
if ((RC != 0)) && grep -q 'istio-redirect' "$ERR"; then pass "injected pod: CHECK after tampering fails naming the chain"
else fail "injected pod: CHECK after tampering fails naming the chain"; show; fi
cni del default web "$POD"
if ((RC == 0)) && ! has_tables "$POD"; then pass "injected pod: DEL removes our tables"; else
	fail "injected pod: DEL removes our tables"; show; fi
cni del default web "$POD"
if ((RC == 0)); then pass "injected pod: DEL again succeeds"; else fail "injected pod: DEL again succeeds"; show; fi

# --- pods that pass through with no tables --------------------------------
for c in "default plain uninjected pod" "kube-system sys excluded namespace" \
	"default optout-label inject=false label" "default optout-ann inject=false annotation" \
	"default legacy pod with istio-init" "istio-system gw gateway (proxy router)"; do
	read -r ns name desc <<<"$c"
	netns_new P pass
	cni add "$ns" "$name" "$P"
	if ((RC == 0)) && ! has_tables "$P"; then pass "$desc: passes through with no tables"
	else fail "$desc: passes through with no tables"; show; fi
	cni del "$ns" "$name" "$P"
done

# The excluded namespace never reaches the API server (checked before a client exists).
if ctl GET /requests | "$PYTHON" -c 'import json,sys; r=json.load(sys.stdin)["items"]; sys.exit(any("/namespaces/kube-system/" in e["path"] for e in r))'; then
	pass "excluded namespace: no API request"
else fail "excluded namespace: no API request"; fi

# --- failures, invoking the plugin directly to see the CNI code -----------
netns_new F fail
# A pod netns needs an address: Istio picks the rule families from it.
ip -n "$F" link add eth0 type veth peer name peer0
ip -n "$F" addr add 10.77.1.9/24 dev eth0
ip -n "$F" link set eth0 up
direct_conf()
{
	"$PYTHON" - "$NETD/10-$CONF_NAME.conflist" "$T/direct.json" "${1:-3}" <<'PY'
import json, sys
lst = json.load(open(sys.argv[1]))
conf = dict(lst["plugins"][1], cniVersion="1.0.0", name=lst["name"])
conf["pod_lookup_timeout_seconds"] = int(sys.argv[3])
conf["prevResult"] = {"cniVersion": "1.0.0", "ips": [{"address": "10.77.0.9/24"}]}
json.dump(conf, open(sys.argv[2], "w"))
PY
}
# direct_add CONF NETNS NS NAME, direct_del CONF: the plugin alone, for pod NS/NAME.
direct_add()
{
	run_plugin_in_node "$1" CNI_COMMAND=ADD CNI_CONTAINERID=e2e CNI_NETNS="$2" \
		CNI_IFNAME=eth0 CNI_PATH="$CNI_PATH_VAL" CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=$3;K8S_POD_NAME=$4"
}
direct_del()
{
	run_plugin_in_node "$1" CNI_COMMAND=DEL CNI_CONTAINERID=e2e CNI_NETNS="/var/run/netns/$F" \
		CNI_IFNAME=eth0 CNI_PATH="$CNI_PATH_VAL"
}
run_add() { direct_add "$T/direct.json" "/var/run/netns/$F" "$1" "$2"; } # NS NAME
# backend_conf BACKEND OUT: the direct conf with redirect_backend BACKEND.
backend_conf()
{
	"$PYTHON" - "$T/direct.json" "$2" "$1" <<'PY'
import json, sys
conf = json.load(open(sys.argv[1]))
conf["redirect_backend"] = sys.argv[3]
json.dump(conf, open(sys.argv[2], "w"))
PY
}
run_plugin_in_node()
{
	local input=$1
	shift
	[[ "$input" == - ]] && input=/dev/null
	RUN_SEQ=$((RUN_SEQ + 1))
	RUN_OUT=$T/direct-$RUN_SEQ.out
	RUN_ERR=$T/direct-$RUN_SEQ.err
	ip netns exec "$NODE" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "${SANITIZER_ENV[@]}" "$@" \
		"$PLUGIN" <"$input" >"$RUN_OUT" 2>"$RUN_ERR"
	RUN_RC=$?
}
direct_conf 2

run_add default badann
expect_error "invalid annotation: code 7 naming it" 7 'excludeOutboundIPRanges.*10\.0\.0\.0/33'
has_tables "$F" && fail "invalid annotation: no tables" || pass "invalid annotation: no tables"

ctl POST /faults '{"kind":"fail","status":503,"count":3,"retry_after":0,"path":"/pods/flaky$"}' >/dev/null
run_add default flaky
expect_ok "three 503 answers then success: ADD succeeds"
has_tables "$F" && pass "three 503 then success: capture programmed" || fail "three 503 then success: capture programmed"
n=$(ctl GET /requests | "$PYTHON" -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin)["items"] if e["path"].endswith("/pods/flaky")))')
assert_eq "$n" 4 "three 503 then success: four GETs"
direct_del "$T/direct.json"

# The plugin opens the pod netns while the API server answers the lookup. A
# netns that is gone still fails an injected pod's ADD with code 3, and never
# matters to a pod that passes through.
GONE=/var/run/netns/icni-gone-$$
direct_add "$T/direct.json" "$GONE" default web
expect_error "netns gone: an injected pod's ADD fails with code 3" 3 'icni-gone'
direct_add "$T/direct.json" "$GONE" default plain
expect_ok "netns gone: an uninjected pod passes through"

write_kubeconfig "$API_URL" norbac-token
run_add default web
expect_error "403: fails at once naming RBAC" "103" 'RBAC|forbidden'
write_kubeconfig "$API_URL" wrong-token
run_add default web
expect_error "401: fails at once naming the token" "103" 'token|Unauthorized'

write_kubeconfig "https://127.0.0.1:9" cni-token
start=$(date +%s%N)
run_add default web
ms=$((($(date +%s%N) - start) / 1000000))
expect_error "API unreachable: code 11 after the deadline" 11 'within 2 s'
((ms >= 1500 && ms < 6000)) && pass "API unreachable: gave up after the 2 s deadline (${ms} ms)" ||
	fail "API unreachable: gave up after the 2 s deadline (${ms} ms)"
has_tables "$F" && fail "API unreachable: no tables" || pass "API unreachable: no tables"

# --- the iptables backend chosen by the conf --------------------------------
write_kubeconfig "$API_URL" cni-token
backend_conf iptables "$T/ipt.json"
direct_add "$T/ipt.json" "/var/run/netns/$F" default web
expect_ok "redirect_backend iptables: ADD succeeds"
if ip netns exec "$F" iptables-nft-save -t nat | grep -q -- '-A ISTIO_OUTPUT' && ! has_tables "$F"; then
	pass "redirect_backend iptables: ISTIO chains, no nftables tables"
else fail "redirect_backend iptables: ISTIO chains, no nftables tables"; fi
direct_del "$T/ipt.json"
expect_ok "redirect_backend iptables: DEL succeeds"
if ip netns exec "$F" iptables-nft-save -t nat | grep -q ISTIO; then
	fail "redirect_backend iptables: DEL removes the chains"
else pass "redirect_backend iptables: DEL removes the chains"; fi

# --- the nftables backend alone, chosen by the conf -------------------------
backend_conf nftables "$T/nft.json"
direct_add "$T/nft.json" "/var/run/netns/$F" default web
expect_ok "redirect_backend nftables: ADD succeeds"
has_tables "$F" && pass "redirect_backend nftables: tables programmed" ||
	fail "redirect_backend nftables: tables programmed"
direct_add "$T/nft.json" "$GONE" default web
expect_error "redirect_backend nftables: netns gone fails with code 3" 3 'icni-gone'
direct_del "$T/nft.json"
expect_ok "redirect_backend nftables: DEL succeeds"
has_tables "$F" && fail "redirect_backend nftables: DEL removes the tables" ||
	pass "redirect_backend nftables: DEL removes the tables"

# --- runtime-passed annotations and the agent's pod cache ------------------
write_kubeconfig "$API_URL" cni-token
ctl DELETE /requests >/dev/null
"$PYTHON" - "$T/direct.json" "$T/annot.json" <<'PY'
import json, sys
conf = json.load(open(sys.argv[1]))
conf["runtimeConfig"] = {"io.kubernetes.cri.pod-annotations": {"kubectl.kubernetes.io/default-container": "app"}}
json.dump(conf, open(sys.argv[2], "w"))
PY
direct_add "$T/annot.json" "/var/run/netns/$F" default plain
expect_ok "runtime annotations without sidecar status: ADD passes"
n=$(ctl GET /requests | "$PYTHON" -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')
assert_eq "$n" 0 "runtime annotations without sidecar status: no API request"

# A stand-in agent serving the pod cache on <run dir>/log.sock.
"$PYTHON" - "$T/pods.json" "$T/agent-pods.json" <<'PY'
import json, sys
pods = json.load(open(sys.argv[1]))
json.dump([p for p in pods if p["metadata"]["name"] == "web"], open(sys.argv[2], "w"))
PY
"$PYTHON" "$ROOT/tests/tools/fake_agent.py" "$RUN/log.sock" "$T/agent-pods.json" "$T/agent.log" \
	"$T/agent.mode" >"$T/agent.out" 2>&1 &
AGENT_PID=$!
on_exit proc_stop "$AGENT_PID"
for _ in $(seq 50); do grep -q ready "$T/agent.out" && break; sleep 0.1; done
WEB_UID=$(json_py "$T/agent-pods.json" -- 'print(doc[0][0]["metadata"]["uid"])')
run_add_uid() # NAME UID
{
	run_plugin_in_node "$T/direct.json" CNI_COMMAND=ADD CNI_CONTAINERID=e2e CNI_NETNS="/var/run/netns/$F" \
		CNI_IFNAME=eth0 CNI_PATH="$CNI_PATH_VAL" \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=$1;K8S_POD_UID=$2"
}
ctl DELETE /requests >/dev/null
run_add_uid web "$WEB_UID"
expect_ok "agent cache: ADD served from the agent"
has_tables "$F" && pass "agent cache: capture programmed" || fail "agent cache: capture programmed"
n=$(ctl GET /requests | "$PYTHON" -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')
assert_eq "$n" 0 "agent cache: no API request"
grep -q '"POST"' "$T/agent.log" && pass "agent: plugin log lines posted to log.sock" ||
	fail "agent: plugin log lines posted to log.sock"
run_add_uid web 0000aaaa-0000-0000-0000-000000000000
expect_error "agent cache: stale entry with another uid is not used (API says replaced)" 103 'replaced'
run_add_uid flaky ""
expect_ok "agent cache: unknown pod falls back to the API server"

# The cache holds an earlier incarnation of web (another uid, no sidecar): the
# API server holds the injected one. Whatever the agent answers, the capture
# follows the API server's pod.
api_web_gets() { ctl GET /requests | "$PYTHON" -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin)["items"] if e["path"].endswith("/pods/web")))'; }
"$PYTHON" - "$T/pods.json" "$T/agent-pods.json" <<'PY'
import json, sys
web = [p for p in json.load(open(sys.argv[1])) if p["metadata"]["name"] == "web"][0]
old = json.loads(json.dumps(web))
old["metadata"]["uid"] = "0ld0ld00-0000-4000-8000-000000000001"
old["metadata"]["annotations"].pop("sidecar.istio.io/status", None)
json.dump([old], open(sys.argv[2], "w"))
PY
uid_case() # DESC MODE UID: ADD of web must capture, read from the API server
{
	echo "$2" >"$T/agent.mode"
	direct_del "$T/direct.json"
	ctl DELETE /requests >/dev/null
	run_add_uid web "$3"
	expect_ok "$1: ADD succeeds"
	has_tables "$F" && pass "$1: capture programmed (the API server's pod)" ||
		fail "$1: capture programmed (the API server's pod)"
	assert_eq "$(api_web_gets)" 1 "$1: asked the API server"
}
uid_case "stale cache entry, no K8S_POD_UID" normal ""
uid_case "agent serving another uid with 200, K8S_POD_UID known" ignore-uid "$WEB_UID"
uid_case "agent not synced (503)" unsynced "$WEB_UID"
uid_case "agent not synced (503), no K8S_POD_UID" unsynced ""
rm -f "$T/agent.mode"
kill "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
ctl DELETE /requests >/dev/null
run_add_uid web "$WEB_UID"
expect_ok "agent stopped: ADD falls back to the API server"
n=$(ctl GET /requests | "$PYTHON" -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin)["items"] if e["path"].endswith("/pods/web")))')
assert_eq "$n" 1 "agent stopped: one API GET"

# --- only the path that needs the pod talks to the API server ------------
# libcurl is linked in, so what is checked is the traffic: the fake API
# server logs every request it gets.
api_requests() { ctl GET /requests | "$PYTHON" -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))'; }
no_api() # DESC: the last run succeeded without a request to the API server
{
	local n
	n=$(api_requests)
	if ((RUN_RC == 0)) && [[ "$n" == 0 ]]; then pass "$1"; else fail "$1 ($n requests)"; show_run; fi
	ctl DELETE /requests >/dev/null
}
ctl DELETE /requests >/dev/null
run_add kube-system sys
no_api "no API request: excluded namespace ADD"
run_add istio-system istio-cni-node-x7k2p
no_api "no API request: own pod ADD"
direct_add "$T/annot.json" "/var/run/netns/$F" default plain
no_api "no API request: ADD skipped from runtime annotations"
run_plugin_in_node "$T/direct.json" CNI_COMMAND=CHECK CNI_CONTAINERID=e2e CNI_NETNS="/var/run/netns/$F" \
	CNI_IFNAME=eth0 CNI_PATH="$CNI_PATH_VAL" CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=sys"
no_api "no API request: CHECK of an unmeshed pod"
direct_del "$T/direct.json"
no_api "no API request: DEL"
run_plugin_in_node - CNI_COMMAND=VERSION
no_api "no API request: VERSION"
run_add default web
n=$(api_requests)
if ((RUN_RC == 0)) && ((n > 0)); then pass "the API path is seen by the check ($n requests)"
else fail "the API path is seen by the check ($n requests)"; show_run; fi
ctl DELETE /requests >/dev/null

rm -f "$RUN/istio-cni-kubeconfig"
run_add istio-system istio-cni-node-x7k2p
expect_ok "kubeconfig missing: the agent's own pod still passes"
run_add default web
expect_error "kubeconfig missing: other pods fail closed (try again later)" 11 'kubeconfig'

summary
