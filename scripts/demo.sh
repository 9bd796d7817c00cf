#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The main job, end to end, on the binaries a user deploys (build/bin), as
# root on Debian 12. Everything happens in network namespaces this script
# creates: a "node" netns holding a fake Kubernetes API server, the node agent
# and a bridge; one netns per pod. Traffic goes only to addresses inside them.
#
#   1. the API server holds an Istio-injected pod and an uninjected one;
#   2. a pod starts before istio-cni is installed (the bridge chain alone);
#   3. the agent installs istio-cni into the conf dir holding the bridge conflist;
#   4. cnitool runs the chain the agent wrote for both pods; the plugin's
#      decisions show up in the agent's log; the meshed pod's ruleset;
#   5. a connection from the meshed pod lands on its 15001 listener with its
#      original destination; the uninjected pod's goes straight through;
#   6. the early pod fails istio-cni-validate (126), the agent's repair loop
#      repairs it in place, and istio-cni-validate passes;
#   7. the meshed pod's rules are deleted at run time: the agent's capture
#      audit finds the drift within its interval and restores them.
#
# Usage: sudo [BUILD_DIR=DIR] scripts/demo.sh [--no-build]
#   BUILD_DIR   the build dir whose bin/ it runs (default build/), static or not
#   --no-build  install and build nothing: use the binaries in $BUILD_DIR
#               and $CNITOOL (default build/tools/cnitool).
# Everything it creates (processes, netns, temp dirs) goes on exit, Ctrl-C
# included.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

BUILD=1
for arg in "$@"; do
	case $arg in
	--no-build) BUILD=0 ;;
	-h | --help)
		sed -n '/^# Usage/,/^# included/s/^# \{0,1\}//p' "$0"
		exit 0
		;;
	*)
		echo "demo: unknown argument \"$arg\" (try --help)" >&2
		exit 2
		;;
	esac
done

if [[ $(id -u) -ne 0 ]]; then
	echo "demo: run as root (sudo scripts/demo.sh): it creates network namespaces" >&2
	exit 1
fi

BOLD='' PLAIN=''
[[ -t 1 ]] && BOLD=$'\033[1m' PLAIN=$'\033[0m'
STEP=0
say()
{
	STEP=$((STEP + 1))
	printf '\n%s== %d. %s%s\n' "$BOLD" "$STEP" "$*" "$PLAIN"
}
die()
{
	echo "demo: $*" >&2
	exit 1
}
# indent: the output of a tool, set off from the demo's own lines.
indent() { sed 's/^/    /'; }

export BUILD_DIR=${BUILD_DIR:-$ROOT/build}
if ((BUILD)); then
	printf '%s# Installing the Debian packages (a no-op when present)%s\n' "$BOLD" "$PLAIN"
	scripts/install-deps.sh || die "installing the packages failed"
	printf '%s# Building istio-cni, istio-cni-agent, istio-cni-validate into %s/bin%s\n' \
		"$BOLD" "$BUILD_DIR" "$PLAIN"
	# The cache keeps whatever the build dir was configured with (static or not).
	cmake -S . -B "$BUILD_DIR" >/dev/null || die "cmake failed"
	cmake --build "$BUILD_DIR" --target istio-cni istio-cni-agent istio-cni-validate \
		-j"$(nproc)" >/dev/null || die "the build failed"
	if [[ -z "${CNITOOL:-}" ]]; then
		printf '%s# Building cnitool (a no-op when built)%s\n' "$BOLD" "$PLAIN"
		scripts/build-cnitool.sh || die "building cnitool failed"
	fi
fi

TEST_NAME=demo
. "$ROOT/tests/integration/lib.sh"
VALIDATE=$BUILD_DIR/bin/istio-cni-validate
PROBE=$ROOT/tests/tools/capture_probe.py
for f in "$PLUGIN" "$BUILD_DIR/bin/istio-cni-agent" "$VALIDATE" "$CNITOOL" \
	"$CNI_PLUGINS_DIR/bridge"; do
	[[ -x "$f" ]] || die "$f missing (run without --no-build, or scripts/install-deps.sh)"
done
command -v setpriv >/dev/null || die "setpriv missing (util-linux)"

STARTED=$SECONDS
# A /24 for the pods that no other namespace on this machine is likely to use:
# the repair loop finds a pod's netns by its address.
NET=10.$((100 + RANDOM % 100)).$((RANDOM % 256))
AGENT_SUBNET=$NET.0/24
GATEWAY=$NET.1
. "$ROOT/tests/integration/agent_lib.bash"

# pod_json KIND NAME [IP]: a pod as the API server serves it (tests/fakeapi/pods.py):
# KIND injected, uninjected or broken (its istio-validation init container exited 126).
pod_json()
{
	"$PYTHON" - "$ROOT/tests/fakeapi" "$@" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
import pods
kind, name = sys.argv[2], sys.argv[3]
ip = sys.argv[4] if len(sys.argv) > 4 else None
if kind == "injected":
    pod = pods.istio_pod(name, "default", "node-1", app="productpage", pod_ip=ip)
elif kind == "uninjected":
    pod = pods.uninjected_pod(name, "default", "node-1", app="mysqldb", pod_ip=ip)
else:
    pod = pods.broken_pod(name, "default", "node-1", app="reviews", pod_ip=ip)
print(json.dumps(pod))
PY
}

# cni VERB CONFDIR POD NETNS: cnitool in the node netns runs the conflist
# "k8s-pod-network" from CONFDIR for pod default/POD; the plugins come from the
# agent's bin dir, then the reference ones. Prints the pod's first address.
cni()
{
	local verb=$1 confdir=$2 pod=$3 netns=$4 uid
	uid=$(pod_uid "$pod")
	node_exec "$NODE" "$T/cni-state" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		CNI_PATH="$BIN:$CNI_PLUGINS_DIR" NETCONFPATH="$confdir" \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=$pod;K8S_POD_UID=$uid" \
		"$CNITOOL" "$verb" k8s-pod-network "/var/run/netns/$netns" >"$T/$pod.$verb" \
		2>"$T/$pod.$verb.err"
	local rc=$? ip
	ip=$(json_get "$T/$pod.$verb" '["ips"][0]["address"]')
	if ((rc != 0)) || [[ -z "$ip" ]]; then
		indent <"$T/$pod.$verb"
		indent <"$T/$pod.$verb.err"
		die "cnitool $verb for $pod failed (exit $rc)"
	fi
	echo "${ip%/*}"
}
pod_uid()
{
	"$PYTHON" -c 'import sys; sys.path.insert(0, sys.argv[1]); import pods
print(pods.pod_uid("default", sys.argv[2]))' "$ROOT/tests/fakeapi" "$1"
}

# tables_of NETNS: the nftables tables in NETNS, or "(none)".
tables_of()
{
	local t
	t=$(ip netns exec "$1" nft list tables)
	printf '%s\n' "${t:-(none)}" | indent
}

validate_in()
{
	ip netns exec "$1" setpriv --reuid 1337 --regid 1337 --clear-groups "$VALIDATE" \
		--timeout 2 >"$T/validate.out" 2>&1
	local rc=$?
	indent <"$T/validate.out"
	echo "istio-cni-validate exit status: $rc"
}

MESHED=productpage-v1-7d6cfb7dfd-x7kqp
PLAIN_POD=mysqldb-v1-6c5b8f7d94-q2w3e
EARLY=reviews-v2-5b667bcbf8-r4t5y

# netns_kill NETNS: SIGKILL every process in NETNS (all of them ours), by pid.
netns_kill()
{
	local pids
	mapfile -t pids < <(ip netns pids "$1" 2>/dev/null)
	((${#pids[@]} == 0)) || kill -KILL "${pids[@]}"
	return 0
}

say "A throwaway node: a network namespace holding a fake Kubernetes API server"
agent_setup
# Before the netns goes: the API server started in it runs under a subshell
# whose pid is all agent_setup keeps.
on_exit netns_kill "$NODE"
mkdir -p "$T/cni-state"
ctl POST /pods "[$(pod_json injected "$MESHED"), $(pod_json uninjected "$PLAIN_POD")]" >/dev/null ||
	die "the fake API server refused the pods"
echo "node netns $NODE; pods on node-1 in the API server:"
echo "  default/$MESHED   Istio-injected (sidecar.istio.io/status, istio-proxy)"
echo "  default/$PLAIN_POD   not injected"

say "The node's CNI conf dir before istio-cni: a bridge conflist"
echo "$NETD/10-bridge.conflist:"
indent <"$NETD/10-bridge.conflist"

say "A pod that starts before istio-cni is installed (bridge chain only)"
netns_new EARLY_NS pod
on_exit netns_kill "$EARLY_NS"
EARLY_IP=$(cni add "$NETD" "$EARLY" "$EARLY_NS") || exit 1
echo "default/$EARLY: netns $EARLY_NS, eth0 $EARLY_IP; nftables tables in it:"
tables_of "$EARLY_NS"
# A process of the pod's, so the repair loop finds its netns under /proc.
ip netns exec "$EARLY_NS" sleep 600 &
on_exit kill $!

say "The agent installs istio-cni into the conf dir and starts its pod cache and repair loop"
agent_start LOG_LEVEL=info REPAIR_ENABLED=true REPAIR_REPAIR_PODS=true HOST_PROC_DIR=/proc \
	AUDIT_INTERVAL_SECONDS=2
agent_wait_ready || die "the agent did not become ready"
wait_for 10 grep -q 'pod cache: synced' "$T/agent.log" || die "the pod cache did not sync"
echo "/readyz answers $(readyz); the agent copied $(ls "$BIN") into the bin dir and"
echo "appended its entry to the bridge conflist (everything else kept):"
"$PYTHON" - "$NETD/10-bridge.conflist" <<'PY' | indent
import json, sys
conf = json.load(open(sys.argv[1]))
print("chain: " + " -> ".join(p["type"] for p in conf["plugins"]))
ours = [p for p in conf["plugins"] if p["type"] == "istio-cni"]
print(json.dumps(ours[0], indent=2, sort_keys=True) if ours else "no istio-cni entry!")
PY

say "cnitool runs that chain (bridge, portmap, istio-cni) for the two pods"
netns_new MESHED_NS pod
on_exit netns_kill "$MESHED_NS"
netns_new PLAIN_NS pod
MESHED_IP=$(cni add "$NETD" "$MESHED" "$MESHED_NS") || exit 1
PLAIN_IP=$(cni add "$NETD" "$PLAIN_POD" "$PLAIN_NS") || exit 1
echo "default/$MESHED: eth0 $MESHED_IP (netns $MESHED_NS)"
# As the kubelet does once the sandbox is up: the pod's status carries its IP.
ctl PATCH "/pods/default/$MESHED/status" \
	"{\"phase\":\"Running\",\"podIP\":\"$MESHED_IP\",\"podIPs\":[{\"ip\":\"$MESHED_IP\"}]}" \
	>/dev/null || die "the fake API server refused the status update"
echo "default/$PLAIN_POD: eth0 $PLAIN_IP (netns $PLAIN_NS)"

say "The plugin's decisions, as they arrive in the agent's log (plugin -> log socket)"
wait_for 5 grep -q "plugin: .*pod=default/$PLAIN_POD" "$T/agent.log" ||
	die "the plugin's log lines did not reach the agent"
grep 'plugin: ' "$T/agent.log" | indent

say "The meshed pod's ruleset (nft list table inet istio-proxy-nat, in its netns)"
ip netns exec "$MESHED_NS" nft list table inet istio-proxy-nat | indent
echo "the uninjected pod's tables:"
tables_of "$PLAIN_NS"

say "Traffic: both pods connect to $GATEWAY:9080, a server in the node netns"
start_probe()
{
	ip netns exec "$1" "$PYTHON" -u "$PROBE" serve "$2" --tcp "$3" >"$T/probe.$2" 2>&1 &
	on_exit kill $!
	wait_for 5 grep -q '^ready' "$T/probe.$2" || die "the $2 listener did not start"
}
start_probe "$NODE" server 9080
start_probe "$MESHED_NS" envoy-stand-in 15001
echo "listening: server on $GATEWAY:9080 (node netns); envoy-stand-in on :15001 in the meshed pod"
echo "(each answers \"NAME L=<port it listens on> O=<original destination (SO_ORIGINAL_DST)>\")"
got=$(ip netns exec "$MESHED_NS" "$PYTHON" "$PROBE" connect "$GATEWAY" 9080)
echo "meshed pod     -> $GATEWAY:9080 answered by: $got"
got=$(ip netns exec "$PLAIN_NS" "$PYTHON" "$PROBE" connect "$GATEWAY" 9080)
echo "uninjected pod -> $GATEWAY:9080 answered by: $got"

say "The pod started before istio-cni: its istio-validation check fails"
validate_in "$EARLY_NS"

say "The kubelet reports that (exit 126); the agent's repair loop repairs the pod in place"
ctl POST /pods "$(pod_json broken "$EARLY" "$EARLY_IP")" >/dev/null ||
	die "the fake API server refused the pod"
wait_for 15 grep -q "repair: repaired broken pod=default/$EARLY" "$T/agent.log" || {
	tail -n 20 "$T/agent.log" | indent
	die "the repair loop did not repair the pod"
}
grep "repair: .*pod=default/$EARLY" "$T/agent.log" | indent
echo "tables in its netns now:"
tables_of "$EARLY_NS"

say "istio-cni-validate in the repaired pod"
validate_in "$EARLY_NS"

say "Someone flushes the meshed pod's rules at run time; the agent's capture audit puts them back"
audit_now() { in_node env -i HEALTH_PORT="$HEALTH_PORT" "$BUILD_DIR/bin/istio-cni-agent" audit; }
echo "istio-cni-agent audit (asks the running agent for a fresh pass):"
audit_now 2>&1 | indent
ip netns exec "$MESHED_NS" nft delete table inet istio-proxy-nat
echo "after 'nft delete table inet istio-proxy-nat' in the meshed pod, its tables:"
tables_of "$MESHED_NS"
wait_for 10 grep -q "audit: repaired pod=default/$MESHED" "$T/agent.log" || {
	tail -n 20 "$T/agent.log" | indent
	die "the audit did not restore the pod's rules"
}
grep -E "audit: (pod|repaired pod)=default/$MESHED" "$T/agent.log" | indent
echo "tables in its netns now:"
tables_of "$MESHED_NS"
got=$(ip netns exec "$MESHED_NS" "$PYTHON" "$PROBE" connect "$GATEWAY" 9080)
echo "meshed pod     -> $GATEWAY:9080 answered by: $got"

say "Done in $((SECONDS - STARTED)) s; removing the namespaces, processes and temp files"
