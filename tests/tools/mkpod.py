#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes a realistic sidecar pod (tests/fakeapi/pods.py) with modifications.

  mkpod.py OUT [ann:KEY=VALUE]... [env:NAME=VALUE]... [uid=N] [gid=N]
               [kind=uninjected] [ns=NAMESPACE] [ips=A,B]
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fakeapi"))
import pods  # noqa: E402


def main():
    out = sys.argv[1]
    ann, env, opts = {}, {}, {}
    for arg in sys.argv[2:]:
        if arg.startswith("ann:"):
            k, v = arg[4:].split("=", 1)
            ann[k] = v
        elif arg.startswith("env:"):
            k, v = arg[4:].split("=", 1)
            env[k] = v
        else:
            k, v = arg.split("=", 1)
            opts[k] = v
    ns = opts.get("ns", "default")
    if opts.get("kind") == "uninjected":
        pod = pods.uninjected_pod(namespace=ns)
    else:
        kw = {"namespace": ns, "annotations": ann}
        if "ips" in opts:
            ips = opts["ips"].split(",")
            kw["pod_ip"] = ips[0]
            kw["pod_ips"] = ips
        pod = pods.istio_pod(**kw)
    for c in pod["spec"].get("containers", []) + pod["spec"].get("initContainers", []):
        if c["name"] != "istio-proxy":
            continue
        c.setdefault("env", []).extend({"name": k, "value": v} for k, v in env.items())
        sc = c.setdefault("securityContext", {})
        if "uid" in opts:
            sc["runAsUser"] = int(opts["uid"])
        if "gid" in opts:
            sc["runAsGroup"] = int(opts["gid"])
    with open(out, "w") as f:
        json.dump(pod, f)


if __name__ == "__main__":
    main()
