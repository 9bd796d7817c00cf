#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The image run as the DaemonSet runs it: scripts/image-rootfs.sh writes the
# image's tree; the install-cni container's command, args, env, envFrom
# ConfigMap, capabilities, privileges and volume mounts are read out of
# daemonset.yaml and daemonset-openshift.yaml (pod_env.py), and
# `podman run --rootfs` (runc, cgroupfs, storage and config in a temp dir,
# no events) starts it in a throwaway node netns with `--network host` of
# that netns, host paths as temp dirs and a service-account dir holding the
# fake API server's token and CA. Checks: the plugin lands in the host bin
# dir, the primary conflist gains our entry (OpenShift: istio-cni.conf in
# the Multus conf dir), /readyz answers 200, and `podman stop` restores the
# conflist and removes what was installed.
# IMAGE_BIN_DIR (default $BUILD_DIR/bin) must hold static binaries; if they
# are not, the test fails saying so.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.bash"
require_root
IMAGE_BIN_DIR=${IMAGE_BIN_DIR:-$BUILD_DIR/bin}
command -v podman >/dev/null || { echo "$TEST_NAME: podman missing; run scripts/install-deps.sh" >&2; exit 1; }

tmpdir_new W
if ! BIN_DIR=$IMAGE_BIN_DIR "$ROOT/scripts/image-rootfs.sh" "$W/rootfs" 2>"$W/rootfs.err"; then
	fail "image-rootfs.sh: $(cat "$W/rootfs.err")"
	summary
	exit 1
fi
pass "image-rootfs.sh wrote the image tree from static binaries"
log "image size (rootfs): $(du -sh "$W/rootfs" | cut -f1) ($(du -sb "$W/rootfs" | cut -f1) bytes)"

# podman with everything in $W: storage, run root, config; runc and cgroupfs.
mkdir -p "$W/podman"
cat >"$W/podman/containers.conf" <<-EOF
	[containers]
	log_driver = "k8s-file"
	[engine]
	cgroup_manager = "cgroupfs"
	events_logger = "none"
	[network]
	network_config_dir = "$W/podman/networks"
	EOF
# This machine lets no process raise a resource limit (no CAP_SYS_RESOURCE,
# even for root), and podman always asks runc for some: runc goes through a
# wrapper that drops process.rlimits from the bundle's config.json.
cat >"$W/podman/runc" <<-'WRAP'
	#!/bin/bash
	args=("$@")
	for ((i = 0; i < $#; i++)); do
		if [[ "${args[i]}" == --bundle || "${args[i]}" == -b ]]; then
			python3 -c 'import json, sys
	p = sys.argv[1]; c = json.load(open(p)); c["process"].pop("rlimits", None)
	json.dump(c, open(p, "w"))' "${args[i + 1]}/config.json"
		fi
	done
	exec runc "$@"
WRAP
chmod +x "$W/podman/runc"
: >"$W/podman/registries.conf"
export CONTAINERS_CONF=$W/podman/containers.conf CONTAINERS_REGISTRIES_CONF=$W/podman/registries.conf
PODMAN=(podman --root "$W/podman/root" --runroot "$W/podman/runroot" --storage-driver vfs
	--cgroup-manager cgroupfs --events-backend none --runtime "$W/podman/runc")

# run_manifest MANIFEST LABEL: a node (netns, fake API server, SA dir), then
# the container as the manifest describes it; sets CTR and HOSTDIR.
run_manifest()
{
	local manifest=$1 label=$2 json extra
	agent_setup
	json=$("$PYTHON" "$LIB_DIR/pod_env.py" "$ROOT/$manifest" install-cni) || return 1
	HOSTDIR=$T/host
	CTR=$(unique_name istio-cni-node)
	cp -a "$W/rootfs" "$W/rootfs-$label"
	# The primary conf the node's network plugin wrote.
	mkdir -p "$HOSTDIR/etc/cni/net.d"
	cp "$T/original.conflist" "$HOSTDIR/etc/cni/net.d/10-bridge.conflist"
	mapfile -d '' -t extra < <("$PYTHON" - "$json" "$HOSTDIR" <<-'PY'
		import json, os, sys
		d, host = json.loads(sys.argv[1]), sys.argv[2]
		out = []
		for k, v in d["env"].items():
		    out += ["--env", "%s=%s" % (k, v)]
		if d["privileged"]:
		    out += ["--privileged"]
		else:
		    out += ["--cap-drop", "ALL"] + sum((["--cap-add", c] for c in d["capabilities"]), [])
		for m in d["mounts"]:
		    if m["hostPath"] is None:
		        continue
		    src = "/proc" if m["hostPath"] == "/proc" else host + m["hostPath"]
		    os.makedirs(src, exist_ok=True)
		    out += ["-v", "%s:%s%s" % (src, m["mountPath"], ":ro" if m["readOnly"] else "")]
		cmd = d["command"] + d["args"]
		out += ["--entrypoint", json.dumps(cmd[:1])]
		sys.stdout.write("".join(x + "\0" for x in out))
		sys.stdout.write("".join(x + "\0" for x in cmd[1:]))
	PY
	)
	local args=(run -d --name "$CTR" --network host --user 0:0 
		--env PATH=/usr/local/bin:/opt/cni/bin
		--env KUBERNETES_SERVICE_HOST=127.0.0.1 --env KUBERNETES_SERVICE_PORT="$API_PORT"
		--security-opt label=disable --read-only --tmpfs /tmp
		-v "$SA:/var/run/secrets/kubernetes.io/serviceaccount:ro")
	# Everything up to --entrypoint's value are options; the rest, arguments.
	local i opts=() rest=()
	for ((i = 0; i < ${#extra[@]}; i++)); do
		opts+=("${extra[i]}")
		if [[ "${extra[i]}" == --entrypoint ]]; then
			opts+=("${extra[i + 1]}")
			rest=("${extra[@]:i+2}")
			break
		fi
	done
	# Removed at exit even when the run fails half-way.
	on_exit nsenter --net="/run/netns/$NODE" "${PODMAN[@]}" rm -f -t 0 "$CTR"
	if ! nsenter --net="/run/netns/$NODE" "${PODMAN[@]}" "${args[@]}" "${opts[@]}" \
		--rootfs "$W/rootfs-$label" "${rest[@]}" >"$T/podman.out" 2>&1; then
		sed 's/^/     | /' "$T/podman.out"
		return 1
	fi
}

ctr_logs() { nsenter --net="/run/netns/$NODE" "${PODMAN[@]}" logs "$CTR" 2>&1 | tail -n 30 | sed 's/^/     | /'; }
ctr_exit() { nsenter --net="/run/netns/$NODE" "${PODMAN[@]}" inspect -f '{{.State.ExitCode}}' "$CTR" 2>&1; }
ctr_stop() { nsenter --net="/run/netns/$NODE" "${PODMAN[@]}" stop -t 30 "$CTR" >/dev/null 2>&1; }

# --- daemonset.yaml ----------------------------------------------------------
if run_manifest daemonset.yaml k8s; then
	pass "daemonset.yaml: podman run --rootfs with the DaemonSet's container spec"
	if agent_wait_ready 30; then
		pass "daemonset.yaml: /readyz answers 200"
	else
		fail "daemonset.yaml: /readyz answers 200"
		ctr_logs
	fi
	check "daemonset.yaml: the plugin landed in the host bin dir" test -x "$HOSTDIR/opt/cni/bin/istio-cni"
	check "daemonset.yaml: the primary conflist gained our entry" \
		istio_count_is 1 "$HOSTDIR/etc/cni/net.d/10-bridge.conflist"
	check "daemonset.yaml: the plugin's kubeconfig in the run dir" \
		test -s "$HOSTDIR/var/run/istio-cni/istio-cni-kubeconfig"
	ctr_stop
	assert_eq "$(ctr_exit)" 0 "daemonset.yaml: podman stop: exit 0"
	check "daemonset.yaml: conflist restored" same_json "$HOSTDIR/etc/cni/net.d/10-bridge.conflist" "$T/original.conflist"
	check "daemonset.yaml: plugin removed" test ! -e "$HOSTDIR/opt/cni/bin/istio-cni"
	check "daemonset.yaml: kubeconfig removed" test ! -e "$HOSTDIR/var/run/istio-cni/istio-cni-kubeconfig"
else
	fail "daemonset.yaml: podman run"
fi

# --- daemonset-openshift.yaml -------------------------------------------------
if run_manifest daemonset-openshift.yaml openshift; then
	pass "daemonset-openshift.yaml: podman run --rootfs with the DaemonSet's container spec"
	MULTUS=$HOSTDIR/etc/cni/multus/net.d
	if agent_wait_ready 30; then
		pass "daemonset-openshift.yaml: /readyz answers 200"
	else
		fail "daemonset-openshift.yaml: /readyz answers 200"
		ctr_logs
	fi
	check "daemonset-openshift.yaml: the plugin landed in /var/lib/cni/bin" test -x "$HOSTDIR/var/lib/cni/bin/istio-cni"
	check "daemonset-openshift.yaml: istio-cni.conf in the Multus conf dir" "$PYTHON" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["type"] == "istio-cni" and d["name"] == "istio-cni", d
assert sorted(d["exclude_namespaces"]) == ["istio-system", "kube-system"], d
' "$MULTUS/istio-cni.conf"
	check "daemonset-openshift.yaml: the node's primary conf untouched" \
		same_json "$HOSTDIR/etc/cni/net.d/10-bridge.conflist" "$T/original.conflist"
	ctr_stop
	assert_eq "$(ctr_exit)" 0 "daemonset-openshift.yaml: podman stop: exit 0"
	check "daemonset-openshift.yaml: istio-cni.conf removed" test ! -e "$MULTUS/istio-cni.conf"
	check "daemonset-openshift.yaml: plugin removed" test ! -e "$HOSTDIR/var/lib/cni/bin/istio-cni"
else
	fail "daemonset-openshift.yaml: podman run"
fi

summary
