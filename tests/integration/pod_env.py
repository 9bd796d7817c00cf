#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""What the kubelet would give one container of a DaemonSet manifest.

pod_env.py MANIFEST CONTAINER [--configmap FILE] [--node NAME] [--pod NAME]
           [--memory BYTES] [--cpu N]

Prints one JSON object: command, args, env (envFrom ConfigMaps first, then
env, later entries winning, as the kubelet does; fieldRef, resourceFieldRef
and configMapKeyRef resolved), mounts (mountPath, hostPath, readOnly),
capabilities (added), privileged, selinux_type, namespace. ConfigMaps come
from MANIFEST and any --configmap file (a later one replaces an earlier one
of the same name). Without resource limits the downward API gives the
node's allocatable: --memory and --cpu stand for it.
"""
import argparse
import json
import sys

import yaml


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("manifest")
    ap.add_argument("container")
    ap.add_argument("--configmap", action="append", default=[])
    ap.add_argument("--node", default="node-1")
    ap.add_argument("--pod", default="istio-cni-node-x7k2p")
    ap.add_argument("--memory", default="8221884416")
    ap.add_argument("--cpu", default="2")
    a = ap.parse_args()

    docs = [d for d in yaml.safe_load_all(open(a.manifest)) if d]
    for f in a.configmap:
        docs += [d for d in yaml.safe_load_all(open(f)) if d]
    cms = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    ds = [d for d in docs if d["kind"] == "DaemonSet"][0]
    ns = ds["metadata"].get("namespace", "default")
    spec = ds["spec"]["template"]["spec"]
    c = [x for x in spec["containers"] if x["name"] == a.container][0]

    def field(path):
        return {"spec.nodeName": a.node, "metadata.name": a.pod, "metadata.namespace": ns,
                "spec.serviceAccountName": spec.get("serviceAccountName", "default")}[path]

    def resource(ref):
        limits = c.get("resources", {}).get("limits", {})
        name = ref["resource"]
        if name == "limits.memory":
            v = limits.get("memory")
            return str(parse_quantity(v)) if v else a.memory
        if name == "limits.cpu":
            v = limits.get("cpu")
            return str(max(1, -(-parse_quantity(v) // 1))) if v else a.cpu
        sys.exit("unsupported resourceFieldRef " + name)

    env = {}
    for src in c.get("envFrom", []):
        env.update(cms[src["configMapRef"]["name"]])
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = str(e["value"])
            continue
        vf = e["valueFrom"]
        if "fieldRef" in vf:
            env[e["name"]] = field(vf["fieldRef"]["fieldPath"])
        elif "resourceFieldRef" in vf:
            env[e["name"]] = resource(vf["resourceFieldRef"])
        elif "configMapKeyRef" in vf:
            ref = vf["configMapKeyRef"]
            env[e["name"]] = cms[ref["name"]][ref["key"]]
        else:
            sys.exit("unsupported valueFrom in " + e["name"])

    vols = {v["name"]: v for v in spec.get("volumes", [])}
    mounts = []
    for m in c.get("volumeMounts", []):
        v = vols[m["name"]]
        mounts.append({"name": m["name"], "mountPath": m["mountPath"],
                       "hostPath": v["hostPath"]["path"] if "hostPath" in v else None,
                       "readOnly": bool(m.get("readOnly", False))})
    sc = c.get("securityContext", {})
    psc = spec.get("securityContext", {})
    json.dump({
        "namespace": ns,
        "command": c.get("command", []),
        "args": c.get("args", []),
        "env": env,
        "mounts": mounts,
        "capabilities": sc.get("capabilities", {}).get("add", []),
        "privileged": bool(sc.get("privileged", False)),
        "selinux_type": sc.get("seLinuxOptions", psc.get("seLinuxOptions", {})).get("type"),
    }, sys.stdout)


def parse_quantity(q):
    """A Kubernetes quantity as a number (bytes, or cores with m)."""
    q = str(q)
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40,
             "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    for u, m in units.items():
        if q.endswith(u):
            return int(float(q[:-len(u)]) * m)
    if q.endswith("m"):
        return float(q[:-1]) / 1000
    return int(q)


if __name__ == "__main__":
    main()
