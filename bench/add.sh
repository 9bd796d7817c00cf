#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The plugin's whole ADD against the project's fake API server over TLS on
# loopback, next to iptables-nft-restore and nft -f of Istio's rules, and the
# ADD of an excluded-namespace pod; with an agent binary built, also the ADD
# served from the agent's pod cache; a static no-op executable is the floor. Median of RUNS (>= 50), fresh netns each.
#
#   sudo bench/add.sh            # RUNS=50 BUILD_DIR=build
# With HOT_PATH_TRACE=DIR (scripts/hot-path.sh) it traces one ADD of each kind
# instead, for the plugin's layout.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
RUNS=${RUNS:-50}
PYTHON=${PYTHON:-/usr/bin/python3}
REF=${REFERENCE_DIR:-$ROOT/../shared/reference}

. "$ROOT/bench/lib.sh"
bench_require_root
((RUNS >= 50)) || { echo "RUNS must be >= 50" >&2; exit 1; }

TMP=$(mktemp -d /tmp/bench-add.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf -- "$TMP"; }
trap cleanup EXIT
[[ -n "${KEEP:-}" ]] && trap - EXIT

PLUGIN=$TMP/istio-cni
cp "$BUILD_DIR/bin/istio-cni" "$PLUGIN"

bench_goldens

"$PYTHON" - "$ROOT/tests/fakeapi" "$TMP/pods.json" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
import pods
json.dump([pods.istio_pod("web", "default")], open(sys.argv[2], "w"))
PY
mkdir -p "$TMP/api" "$TMP/run" "$TMP/run-agent"
"$PYTHON" "$ROOT/tests/fakeapi/fake_apiserver.py" --dir "$TMP/api" --pods-file "$TMP/pods.json" \
	--token "cni-token=cni" --allow "cni=get pods,list pods,watch pods" >"$TMP/api.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [[ -s "$TMP/api/server.json" ]] && break; sleep 0.1; done
URL=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$TMP/api/server.json")
PORT=${URL##*:}

kubeconfig()
{
	cat <<KC
apiVersion: v1
kind: Config
clusters:
- cluster: {certificate-authority-data: $(base64 -w0 <"$TMP/api/ca.crt"), server: "$URL"}
  name: local
contexts:
- context: {cluster: local, user: istio-cni}
  name: ctx
current-context: ctx
users:
- name: istio-cni
  user: {token: cni-token}
KC
}
(umask 077 && kubeconfig >"$TMP/run/istio-cni-kubeconfig" && cp "$TMP/run/istio-cni-kubeconfig" "$TMP/run-agent/")

conf()
{
	"$PYTHON" - "$1" "$2" >"$TMP/$3" <<'PY'
import json, sys
print(json.dumps({"cniVersion": "1.0.0", "name": "bench", "type": "istio-cni",
                  "cni_agent_run_dir": sys.argv[1], "exclude_namespaces": ["kube-system"],
                  "plugin_log_level": sys.argv[2],
                  "prevResult": {"cniVersion": "1.0.0",
                                 "interfaces": [{"name": "eth0", "sandbox": "/var/run/netns/x"}],
                                 "ips": [{"interface": 0, "address": "10.244.1.5/24",
                                          "gateway": "10.244.1.1"}]}}))
PY
}
conf "$TMP/run" warn api.json
conf "$TMP/run" warn excluded.json
conf "$TMP/run-agent" warn agent.json

# A TCP port nobody listens on now (the agent binds it right after).
free_port()
{
	"$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

AGENT_ARG=()
if [[ -x "$BUILD_DIR/bin/istio-cni-agent" ]]; then
	mkdir -p "$TMP/sa" "$TMP/netd" "$TMP/bin" "$TMP/src"
	cp "$TMP/api/ca.crt" "$TMP/sa/ca.crt"
	printf cni-token >"$TMP/sa/token"
	cp "$PLUGIN" "$TMP/src/istio-cni"
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin KUBERNETES_SERVICE_HOST=127.0.0.1 \
		KUBERNETES_SERVICE_PORT="$PORT" SERVICE_ACCOUNT_DIR="$TMP/sa" KUBERNETES_NODE_NAME=node-1 \
		CNI_AGENT_RUN_DIR="$TMP/run-agent" MOUNTED_CNI_NET_DIR="$TMP/netd" \
		MOUNTED_CNI_BIN_DIR="$TMP/bin" CNI_BIN_SOURCE_DIR="$TMP/src" CHAINED_CNI_PLUGIN=false \
		HEALTH_PORT="$(free_port)" MONITORING_PORT="$(free_port)" REPAIR_ENABLED=false \
		"$BUILD_DIR/bin/istio-cni-agent" >"$TMP/agent.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 100); do [[ -S "$TMP/run-agent/log.sock" ]] && break; sleep 0.1; done
	[[ -S "$TMP/run-agent/log.sock" ]] || { echo "the agent did not start:"; tail -n 5 "$TMP/agent.log"; exit 1; }
	# The cache answers once it has listed the node's pods.
	for _ in $(seq 100); do grep -q 'synced' "$TMP/agent.log" && break; sleep 0.1; done
	# The kubeconfig the agent wrote is the one the plugin would use on fallback.
	AGENT_ARG=("$TMP/run-agent/log.sock")
fi

# scripts/hot-path.sh: trace one ADD of each kind instead of timing them.
if [[ -n "${HOT_PATH_TRACE:-}" ]]; then
	"$PYTHON" "$ROOT/bench/add_bench.py" trace "$PLUGIN" "$TMP" "$HOT_PATH_MAP" "$HOT_PATH_TRACE" \
		"${AGENT_ARG[@]}"
	exit
fi

# The process-start floor: a static no-op, linked like our binaries.
printf 'int main(void) { return 0; }\n' >"$TMP/noop.c"
cc -O2 -static -o "$TMP/noop" "$TMP/noop.c"

echo "plugin: $PLUGIN; API server: $URL"
BENCH_NOOP=$TMP/noop "$PYTHON" "$ROOT/bench/add_bench.py" "$PLUGIN" "$TMP" "$BASIC" "$NFTG" "$RUNS" "${AGENT_ARG[@]}"

# --- N ADDs at once ---------------------------------------------------------
# p50/p99 of 1, 10 and 110 concurrent ADDs from the agent's cache against as
# many concurrent iptables-nft-restore, each into its own fresh netns.
bench_concurrent()
{
	if ((${#AGENT_ARG[@]} == 0)); then
		echo "concurrent ADDs: skipped (no agent binary in $BUILD_DIR/bin)"
		return 0
	fi
	"$PYTHON" "$ROOT/bench/add_bench.py" concurrent "$PLUGIN" "$TMP" "$BASIC" "$RUNS"
}
bench_concurrent
