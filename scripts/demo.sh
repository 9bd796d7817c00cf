#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A short demo, as root on Debian 12: installs the packages, builds the plugin
# and cnitool, then in a throwaway "node" network namespace runs the plugin the
# way a container runtime does: VERSION, an ADD chained after the reference
# bridge + host-local plugins, and DEL. Nothing is left behind.
#
# The pod is in a namespace the conf excludes, so no Kubernetes API is
# needed: the plugin passes the bridge's result through, as it does for every
# pod it does not redirect.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { printf '\n\033[1m# %s\033[0m\n' "$*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
	echo "demo: run as root (sudo scripts/demo.sh): it creates network namespaces" >&2
	exit 1
fi

say "Installing the Debian packages (a no-op when present)"
scripts/install-deps.sh

say "Building istio-cni into build/bin"
cmake -S . -B build -DISTIO_CNI_WERROR=ON >/dev/null
cmake --build build --target istio-cni -j"$(nproc)" >/dev/null

say "Building cnitool, the CNI reference runtime CLI, from Debian's source package"
scripts/build-cnitool.sh

NODE=demo-node-$$
POD=demo-pod-$$
T=$(mktemp -d /tmp/istio-cni-demo.XXXXXX)
cleanup()
{
	ip netns delete "$POD" 2>/dev/null || true
	ip netns delete "$NODE" 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT
mkdir -p "$T/conf" "$T/state" "$T/ipam" "$T/run"

say "VERSION: which CNI versions the plugin speaks"
echo '{"cniVersion":"1.0.0"}' | env -i CNI_COMMAND=VERSION build/bin/istio-cni

say "Creating a node netns ($NODE) and a pod netns ($POD)"
ip netns add "$NODE"
ip netns add "$POD"
ip -n "$NODE" link set lo up

cat >"$T/conf/10-demo.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "demo",
  "plugins": [
    {"type": "bridge", "bridge": "demo0", "isGateway": true,
     "ipam": {"type": "host-local", "dataDir": "$T/ipam",
              "ranges": [[{"subnet": "10.251.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "istio-cni", "cni_agent_run_dir": "$T/run",
     "exclude_namespaces": ["demo-system"], "plugin_log_level": "debug"}
  ]
}
EOF
say "The conf list (bridge + host-local, then istio-cni chained):"
cat "$T/conf/10-demo.conflist" >&2

# cnitool inside the node netns, with its result cache on a private
# /var/lib/cni so the host's is never touched.
cnitool()
{
	ip netns exec "$NODE" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		CNI_PATH="$ROOT/build/bin:/usr/lib/cni" NETCONFPATH="$T/conf" \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=demo-system;K8S_POD_NAME=web-0" \
		/bin/sh -c 'mount -t tmpfs -o size=4m none /var/lib && mkdir /var/lib/cni &&
			mount --bind "$0" /var/lib/cni && exec "$@"' \
		"$T/state" build/tools/cnitool "$@"
}

say "ADD: the runtime runs bridge, then istio-cni; the printed result is istio-cni's"
cnitool add demo "/var/run/netns/$POD"
echo

say "The pod's interface, as bridge left it"
ip -n "$POD" -br addr show dev eth0 >&2

say "An Istio-injected pod: the decision and the rules, without touching anything"
"$ROOT/build/bin/istio-cni" plan --pod "$ROOT/tests/fixtures/pods/sidecar-default.json" | sed -n '1,12p'

say "The same pod programmed into the pod netns (what ADD does once it has read the pod)"
"$ROOT/build/bin/istio-cni" apply --pod "$ROOT/tests/fixtures/pods/sidecar-default.json" \
	--netns "/var/run/netns/$POD"
ip netns exec "$POD" nft list tables >&2

say "DEL, twice (DEL is idempotent; it removes our tables)"
cnitool del demo "/var/run/netns/$POD"
cnitool del demo "/var/run/netns/$POD"

say "Done; removing the namespaces"
