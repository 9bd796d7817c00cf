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
"""
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
    print("median of %d runs, each into a fresh netns (ms):" % runs)
    for k in "abcde":
        print("  (%s) %-40s %7.2f" % (k, names[k], med[k]))
    print("ratios: a/b = %.2f (target <= 0.35)   a/d = %.2f (target <= 0.35)   "
          "e/a = %.2f (target <= 1.5)" % (med["a"] / med["b"], med["a"] / med["d"],
                                          med["e"] / med["a"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
