#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# daemonset.yaml parses, and holds what SPEC 12 asks of it: least-privilege
# RBAC, Istio's ConfigMap keys, the istio-cni-node DaemonSet with its mounts,
# capabilities, readiness probe, priority and tolerations.
. "$(dirname "$0")/lib.sh"

out=$("$PYTHON" - "$ROOT/daemonset.yaml" "$BUILD_DIR/bin" <<'PY'
import os, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
def check(desc, cond):
    print(("ok   " if cond else "FAIL ") + desc)

sa = by.get(("ServiceAccount", "istio-cni"))
check("ServiceAccount istio-cni in istio-system", sa and sa["metadata"]["namespace"] == "istio-system")
base = by[("ClusterRole", "istio-cni")]["rules"]
verbs = {(r["resources"][0], v) for r in base for v in r["verbs"]}
check("base role: pods get/list/watch, events create", {("pods", "get"), ("pods", "list"), ("pods", "watch"), ("events", "create")} <= verbs)
check("base role: no pod delete or patch", not any(res.startswith("pods") and v in ("delete", "patch", "update") for res, v in verbs))
check("delete only in the delete-mode role", by[("ClusterRole", "istio-cni-repair-delete")]["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]}])
check("pods/status patch only in the label-mode role", by[("ClusterRole", "istio-cni-repair-label")]["rules"] == [{"apiGroups": [""], "resources": ["pods/status"], "verbs": ["patch"]}])
for b in ("istio-cni", "istio-cni-repair-delete"):
    rb = by[("ClusterRoleBinding", b)]
    check("binding %s names the ServiceAccount" % b, rb["subjects"] == [{"kind": "ServiceAccount", "name": "istio-cni", "namespace": "istio-system"}])
cm = by[("ConfigMap", "istio-cni-config")]["data"]
for k in ("CHAINED_CNI_PLUGIN", "EXCLUDE_NAMESPACES", "REPAIR_ENABLED", "REPAIR_DELETE_PODS", "REPAIR_LABEL_PODS", "REPAIR_REPAIR_PODS", "REPAIR_INIT_CONTAINER_NAME", "REPAIR_BROKEN_POD_LABEL_KEY", "REPAIR_BROKEN_POD_LABEL_VALUE", "NATIVE_NFTABLES"):
    check("ConfigMap key %s" % k, k in cm and isinstance(cm[k], str))
ds = by[("DaemonSet", "istio-cni-node")]
spec = ds["spec"]["template"]["spec"]
c = spec["containers"][0]
check("DaemonSet runs install-cni", c["command"] == ["install-cni"])
check("readiness on /readyz :8000", c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 8000})
check("system-node-critical", spec["priorityClassName"] == "system-node-critical")
check("tolerates everything", {"operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"] and {"operator": "Exists", "effect": "NoExecute"} in spec["tolerations"])
caps = set(c["securityContext"]["capabilities"]["add"])
check("capabilities NET_ADMIN NET_RAW SYS_ADMIN SYS_PTRACE DAC_OVERRIDE", caps == {"NET_ADMIN", "NET_RAW", "SYS_ADMIN", "SYS_PTRACE", "DAC_OVERRIDE"})
check("not privileged", c["securityContext"]["privileged"] is False)
paths = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"] if "hostPath" in v}
check("hostPath mounts: bin, conf, run dir, /proc", paths == {"cni-bin-dir": "/opt/cni/bin", "cni-net-dir": "/etc/cni/net.d", "cni-socket-dir": "/var/run/istio-cni", "cni-host-procfs": "/proc"})
mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
check("mounted where the agent's defaults look", mounts["cni-bin-dir"] == "/host/opt/cni/bin" and mounts["cni-net-dir"] == "/host/etc/cni/net.d" and mounts["cni-socket-dir"] == "/var/run/istio-cni" and mounts["cni-host-procfs"] == "/host/proc")
env = {e["name"] for e in c["env"]}
check("node name and pod namespace from the downward API", {"KUBERNETES_NODE_NAME", "REPAIR_NODE_NAME", "POD_NAMESPACE"} <= env)
nad = by.get(("NetworkAttachmentDefinition", "istio-cni"))
check("OpenShift NetworkAttachmentDefinition istio-cni without config", nad is not None and "spec" not in nad)
agent = os.path.join(sys.argv[2], "install-cni")
check("the image's install-cni command exists in the build", os.path.exists(agent))
PY
)
while IFS= read -r line; do
	case "$line" in
	ok*) pass "${line#ok   }" ;;
	FAIL*) fail "${line#FAIL }" ;;
	esac
done <<<"$out"
summary
