#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# daemonset.yaml (Kubernetes) and daemonset-openshift.yaml (OpenShift with
# Multus) parse and hold what they must: least-privilege RBAC whose bound
# repair role matches the repair mode the ConfigMap configures, Istio's
# ConfigMap keys, the istio-cni-node DaemonSet with its probes, priority and
# tolerations; every variable they set is one the agent or istio-cni-repair
# reads (names taken from the sources) and every mount path is where the
# binaries look by default (the defaults taken from the sources too).
# OpenShift: kube-system, not chained, Multus paths and istio-cni.conf,
# exclusions, the privileged SCC, spc_t, privileged, the
# NetworkAttachmentDefinition.
. "$(dirname "$0")/lib.sh"

for manifest in daemonset.yaml daemonset-openshift.yaml; do
	out=$("$PYTHON" - "$ROOT" "$manifest" "$BUILD_DIR/bin" <<'PY'
import os, re, sys, yaml
root, name, bindir = sys.argv[1:4]
docs = [d for d in yaml.safe_load_all(open(os.path.join(root, name))) if d]
by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
openshift = "openshift" in name
def check(desc, cond):
    print(("ok   " if cond else "FAIL ") + name + ": " + desc)

# What the binaries read: the environment variables the shared extractor
# finds in the sources ("X*" is a family matched by prefix), and the sources'
# #defines for the default paths.
sys.path.insert(0, os.path.join(root, "tests", "tools"))
import config_names
env_read = config_names.code_names(root).kind("env")
prefixes = tuple(n[:-1] for n in env_read if n.endswith("*"))
is_read = lambda n: n in env_read or n.startswith(prefixes)
defines = config_names.defines(root)

ns = "kube-system" if openshift else "istio-system"
sa = by.get(("ServiceAccount", "istio-cni"))
check("ServiceAccount istio-cni in " + ns, sa and sa["metadata"]["namespace"] == ns)

# Effective permissions of the ServiceAccount: every bound ClusterRole's rules.
granted = set()
for d in docs:
    if d["kind"] != "ClusterRoleBinding":
        continue
    if {"kind": "ServiceAccount", "name": "istio-cni", "namespace": ns} not in d["subjects"]:
        continue
    role = by[("ClusterRole", d["roleRef"]["name"])]
    for r in role["rules"]:
        for g in r["apiGroups"]:
            for res in r["resources"]:
                for v in r["verbs"]:
                    granted.add((g, res, v, tuple(r.get("resourceNames", []))))
def has(res, verb, group=""):
    return any(g == group and r == res and v == verb for g, r, v, _ in granted)
check("pods get/list/watch, events create", all(has("pods", v) for v in ("get", "list", "watch")) and has("events", "create"))

cm = by[("ConfigMap", "istio-cni-config")]["data"]
for k in ("CHAINED_CNI_PLUGIN", "EXCLUDE_NAMESPACES", "REPAIR_ENABLED", "REPAIR_DELETE_PODS", "REPAIR_LABEL_PODS", "REPAIR_REPAIR_PODS", "REPAIR_INIT_CONTAINER_NAME", "REPAIR_BROKEN_POD_LABEL_KEY", "REPAIR_BROKEN_POD_LABEL_VALUE", "NATIVE_NFTABLES"):
    check("ConfigMap key %s" % k, k in cm and isinstance(cm[k], str))
true = lambda k: cm.get(k, "false").lower() in ("true", "1")
mode = "none"
if true("REPAIR_ENABLED"):
    mode = "repair" if true("REPAIR_REPAIR_PODS") else "delete" if true("REPAIR_DELETE_PODS") else "label" if true("REPAIR_LABEL_PODS") else "none"
check("repair mode %s: pod delete granted iff delete mode" % mode, has("pods", "delete") == (mode == "delete"))
check("repair mode %s: pods/status patch granted iff label mode" % mode, has("pods/status", "patch") == (mode == "label"))
check("no pod update or patch of whole pods", not has("pods", "update") and not has("pods", "patch"))

ds = by[("DaemonSet", "istio-cni-node")]
check("DaemonSet in " + ns, ds["metadata"]["namespace"] == ns)
spec = ds["spec"]["template"]["spec"]
c = spec["containers"][0]
check("DaemonSet runs install-cni", c["command"] == ["install-cni"])
check("readiness on /readyz :8000", c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 8000})
check("system-node-critical", spec["priorityClassName"] == "system-node-critical")
check("tolerates everything", {"operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"] and {"operator": "Exists", "effect": "NoExecute"} in spec["tolerations"])

env = set(cm) | {e["name"] for e in c["env"]}
unknown = sorted(n for n in env if not is_read(n))
check("every variable set is read by the agent or repair%s" % (" (not: %s)" % unknown if unknown else ""), not unknown)
check("node name and pod namespace from the downward API", {"KUBERNETES_NODE_NAME", "REPAIR_NODE_NAME", "POD_NAMESPACE"} <= {e["name"] for e in c["env"]})

mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
paths = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"] if "hostPath" in v}
want = {"cni-bin-dir": defines["DEFAULT_MOUNTED_CNI_BIN_DIR"], "cni-net-dir": defines["DEFAULT_MOUNTED_CNI_NET_DIR"], "cni-socket-dir": defines["DEFAULT_CNI_AGENT_RUN_DIR"]}
if mode == "repair":
    want["cni-host-procfs"] = defines["REPAIR_DEFAULT_HOST_PROC_DIR"]
for vol, path in want.items():
    check("%s mounted at the binaries' default %s" % (vol, path), mounts.get(vol) == path)
check("the run dir is the same path on the host", paths.get("cni-socket-dir") == defines["DEFAULT_CNI_AGENT_RUN_DIR"])
check("no setting overrides a mount path", not ({"MOUNTED_CNI_NET_DIR", "MOUNTED_CNI_BIN_DIR", "CNI_AGENT_RUN_DIR", "HOST_PROC_DIR"} & env))
sc = c["securityContext"]
if openshift:
    check("not chained, istio-cni.conf", cm["CHAINED_CNI_PLUGIN"] == "false" and cm.get("CNI_CONF_NAME") == "istio-cni.conf")
    check("Multus host paths", paths.get("cni-bin-dir") == "/var/lib/cni/bin" and paths.get("cni-net-dir") == "/etc/cni/multus/net.d")
    check("istio-system and kube-system excluded", set(cm["EXCLUDE_NAMESPACES"].split(",")) == {"istio-system", "kube-system"})
    check("SCC privileged: use", ("security.openshift.io", "securitycontextconstraints", "use", ("privileged",)) in granted)
    check("privileged, seLinuxOptions.type spc_t", sc.get("privileged") is True and sc.get("seLinuxOptions", {}).get("type") == "spc_t")
    nad = by.get(("NetworkAttachmentDefinition", "istio-cni"))
    check("NetworkAttachmentDefinition istio-cni without config", nad is not None and "spec" not in nad)
else:
    check("chained into the primary conf", cm["CHAINED_CNI_PLUGIN"] == "true" and "CNI_CONF_NAME" not in cm)
    check("host paths /opt/cni/bin, /etc/cni/net.d, /proc", paths.get("cni-bin-dir") == "/opt/cni/bin" and paths.get("cni-net-dir") == "/etc/cni/net.d" and paths.get("cni-host-procfs") == "/proc")
    caps = set(sc["capabilities"]["add"])
    check("capabilities NET_ADMIN NET_RAW SYS_ADMIN SYS_PTRACE DAC_OVERRIDE, not privileged", caps == {"NET_ADMIN", "NET_RAW", "SYS_ADMIN", "SYS_PTRACE", "DAC_OVERRIDE"} and sc["privileged"] is False)
    check("no OpenShift objects", not any(d["kind"] == "NetworkAttachmentDefinition" for d in docs))
check("the image's install-cni command exists in the build", os.path.exists(os.path.join(bindir, "install-cni")))
PY
)
	while IFS= read -r line; do
		case "$line" in
		ok*) pass "${line#ok   }" ;;
		FAIL*) fail "${line#FAIL }" ;;
		*) [[ -n "$line" ]] && fail "$manifest: $line" ;;
		esac
	done <<<"$out"
done
summary
