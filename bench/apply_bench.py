#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Times one pod's rule programming, each run into a fresh netns.

Variants (median of RUNS runs each, interleaved so drift hits all alike):
  a  istio-cni apply of the default pod (the whole process)
  b  iptables-nft-restore of Istio's basic.txt.golden via nsenter --net
  c  iptables-legacy-restore of the same
  d  nft -f of Istio's nftables inbound-ports-wildcard.golden via nsenter --net
  e  a with 1,000 excluded CIDRs
Netns creation and teardown are not timed. No assertion on the numbers.

While the variants run, one more netns holds nat hooks of both families, as
the node's running meshed pods and kube-proxy do (see node_netns).
BENCH_COLD_NODE=1 leaves it out: every run then also pays for the kernel
enabling nat hooks machine-wide.
"""
import contextlib
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))


def sh(*args, **kw):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)


def fresh_netns(name):
    sh("ip", "netns", "add", name)
    sh("ip", "-n", name, "link", "set", "lo", "up")
    sh("ip", "-n", name, "link", "add", "b0", "type", "veth", "peer", "name", "b1")
    sh("ip", "-n", name, "link", "set", "b0", "up")
    sh("ip", "-n", name, "addr", "add", "10.244.1.5/24", "dev", "b0")


# The kernel keeps one switch per family and hook (a static key) that stays on
# while any netns on the machine has a hook there; turning it on patches kernel
# code on every CPU. On a node, the meshed pods already running (inet nat
# tables) and kube-proxy keep those switches on, so a pod's ADD never pays for
# it; on an idle test machine every fresh netns would, several ms each.
NODE_HOOKS = """table inet bench-node {
  chain prerouting { type nat hook prerouting priority -100; }
  chain input { type nat hook input priority 100; }
  chain output { type nat hook output priority -100; }
  chain postrouting { type nat hook postrouting priority 100; }
}
"""


def cold_node():
    return os.environ.get("BENCH_COLD_NODE") == "1"


@contextlib.contextmanager
def node_netns(ns_base):
    """A netns holding inet nat hooks for as long as the block runs (unless
    BENCH_COLD_NODE=1), standing for the node's running pods."""
    if cold_node():
        yield
        return
    ns = ns_base + "-node"
    sh("ip", "netns", "add", ns)
    try:
        subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=NODE_HOOKS.encode(),
                       check=True, stdout=subprocess.DEVNULL)
        yield
    finally:
        sh("ip", "netns", "delete", ns)


def node_note():
    return (", nat hooks off machine-wide (cold node)" if cold_node()
            else ", nat hooks held by another netns (a node's steady state)")


def timed(argv, stdin_path=None):
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    t0 = time.perf_counter()
    p = subprocess.run(argv, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t1 = time.perf_counter()
    if stdin_path:
        stdin.close()
    if p.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(argv), p.stderr.decode().strip()))
    return (t1 - t0) * 1000.0


def medians(variants, runs, ns_base):
    """Runs each variant runs + 1 times, interleaved, each into a fresh netns
    named ns_base-KEY-ROUND; the first round warms caches and loads modules
    and is not counted. Returns {key: median ms}."""
    samples = {k: [] for k in variants}
    with node_netns(ns_base):
        for i in range(runs + 1):
            for k, fn in variants.items():
                ns = "%s-%s-%d" % (ns_base, k, i)
                fresh_netns(ns)
                try:
                    ms = fn(ns)
                finally:
                    sh("ip", "netns", "delete", ns)
                if i > 0:
                    samples[k].append(ms)
    return {k: statistics.median(v) for k, v in samples.items()}


def main():
    cni, pod, pod1000, basic, nftgold, runs, n_cidrs = sys.argv[1:8]
    runs = int(runs)
    ns_base = "bench-%d" % os.getpid()
    variants = {
        "a": lambda ns: timed([cni, "apply", "--pod", pod, "--netns", "/var/run/netns/" + ns]),
        "b": lambda ns: timed(["nsenter", "--net=/var/run/netns/" + ns,
                               "iptables-nft-restore", "--noflush"], basic),
        "c": lambda ns: timed(["nsenter", "--net=/var/run/netns/" + ns,
                               "iptables-legacy-restore", "--noflush"], basic),
        "d": lambda ns: timed(["nsenter", "--net=/var/run/netns/" + ns, "nft", "-f", nftgold]),
        "e": lambda ns: timed([cni, "apply", "--pod", pod1000, "--netns",
                               "/var/run/netns/" + ns]),
    }
    med = medians(variants, runs, ns_base)
    names = {
        "a": "istio-cni apply, default pod",
        "b": "iptables-nft-restore basic.txt",
        "c": "iptables-legacy-restore basic.txt",
        "d": "nft -f inbound-ports-wildcard",
        "e": "istio-cni apply, %s excluded CIDRs" % n_cidrs,
    }
    print("median of %d runs, each into a fresh netns%s (ms):" % (runs, node_note()))
    for k in "abcde":
        print("  (%s) %-40s %7.2f" % (k, names[k], med[k]))
    print("ratios: a/b = %.2f (target <= 0.35)   a/d = %.2f (target <= 0.35)   "
          "e/a = %.2f (target <= 1.5)" % (med["a"] / med["b"], med["a"] / med["d"],
                                          med["e"] / med["a"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
