#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Times the plugin's whole ADD (process start to exit), each into a fresh netns.

  add_bench.py PLUGIN CONF_DIR BASIC NFT_GOLDEN RUNS [AGENT_SOCKET]

Variants (median of RUNS runs each, interleaved so drift hits all alike):
  b  iptables-nft-restore of Istio's basic.txt.golden via nsenter --net
  d  nft -f of Istio's nftables inbound-ports-wildcard.golden via nsenter --net
  f  ADD of an injected pod, the pod read from the API server over TLS
  g  ADD of a pod in an excluded namespace (no API call, no rules)
  h  ADD of the injected pod served from the node agent's pod cache (when given)
  t  exec of /bin/true: the machine's floor for any process start
  n  exec of the static no-op at $BENCH_NOOP (when set): the floor for a
     static executable like ours
CONF_DIR holds api.json / excluded.json / agent.json: the stdin of each ADD.
Netns creation and teardown are not timed. No assertion on the numbers.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apply_bench import medians, timed  # noqa: E402


def add(plugin, conf, ns, name):
    """One exec of the plugin, as a runtime does it (no wrapper process)."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": "ADD",
           "CNI_CONTAINERID": "bench", "CNI_NETNS": "/var/run/netns/" + ns,
           "CNI_IFNAME": "eth0", "CNI_PATH": "/opt/cni/bin",
           "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s" % name}
    with open(conf, "rb") as stdin:
        t0 = time.perf_counter()
        p = subprocess.run([plugin], stdin=stdin, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, env=env)
        t1 = time.perf_counter()
    if p.returncode != 0:
        raise RuntimeError("ADD failed: %s" % p.stderr.decode().strip())
    return (t1 - t0) * 1000.0


def main():
    plugin, conf_dir, basic, nftgold, runs = sys.argv[1:6]
    agent = len(sys.argv) > 6
    runs = int(runs)
    ns_base = "badd-%d" % os.getpid()
    variants = {
        "b": lambda ns: timed(["nsenter", "--net=/var/run/netns/" + ns,
                               "iptables-nft-restore", "--noflush"], basic),
        "d": lambda ns: timed(["nsenter", "--net=/var/run/netns/" + ns, "nft", "-f", nftgold]),
        "f": lambda ns: add(plugin, os.path.join(conf_dir, "api.json"), ns, ("default", "web")),
        "g": lambda ns: add(plugin, os.path.join(conf_dir, "excluded.json"), ns,
                            ("kube-system", "web")),
    }
    if agent:
        variants["h"] = lambda ns: add(plugin, os.path.join(conf_dir, "agent.json"), ns,
                                       ("default", "web"))
    variants["t"] = lambda ns: timed(["/bin/true"])
    noop = os.environ.get("BENCH_NOOP")
    if noop:
        variants["n"] = lambda ns: timed([noop])
    med = medians(variants, runs, ns_base)
    names = {
        "b": "iptables-nft-restore basic.txt",
        "d": "nft -f inbound-ports-wildcard",
        "f": "istio-cni ADD, pod from the API (TLS)",
        "g": "istio-cni ADD, excluded namespace",
        "h": "istio-cni ADD, pod from the agent cache",
        "t": "/bin/true (process start floor)",
        "n": "static no-op (static process start floor)",
    }
    print("median of %d runs, each into a fresh netns (ms):" % runs)
    for k in variants:
        print("  (%s) %-42s %7.2f" % (k, names[k], med[k]))
    print("ratios: f/b = %.2f (target < 1)   g = %.2f ms (target < 1 ms)" %
          (med["f"] / med["b"], med["g"]))
    if agent:
        print("        h/b = %.2f (target <= 0.5)" % (med["h"] / med["b"]))
    if noop:
        print("        g/n = %.2f (target <= 1.3)" % (med["g"] / med["n"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
