#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Times the plugin's whole ADD (process start to exit), each into a fresh netns.

  add_bench.py PLUGIN CONF_DIR BASIC NFT_GOLDEN RUNS [AGENT_SOCKET]
  add_bench.py trace PLUGIN CONF_DIR MAP OUT_DIR [AGENT_SOCKET]   (see trace_main)

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
import math
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apply_bench import ROOT, fresh_netns, medians, node_netns, node_note, sh, timed  # noqa: E402
import concurrent_run  # noqa: E402  (tests/tools, on the path apply_bench sets)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fakeapi"))
from pods import pod_uid  # noqa: E402



CNI_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": "ADD", "CNI_IFNAME": "eth0",
           "CNI_PATH": "/opt/cni/bin"}


def add(plugin, conf, ns, name, wrap=(), pass_fds=()):
    """One exec of the plugin, as a runtime does it (no wrapper process unless
    wrap, a command prefix, is given)."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": "ADD",
           "CNI_CONTAINERID": "bench", "CNI_NETNS": "/var/run/netns/" + ns,
           "CNI_IFNAME": "eth0", "CNI_PATH": "/opt/cni/bin",
           "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s;K8S_POD_UID=%s"
           % (name[0], name[1], pod_uid(name[0], name[1]))}
    with open(conf, "rb") as stdin:
        t0 = time.perf_counter()
        p = subprocess.run(list(wrap) + [plugin], stdin=stdin, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, env=env, pass_fds=pass_fds)
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
    print("median of %d runs, each into a fresh netns%s (ms):" % (runs, node_note()))
    for k in variants:
        print("  (%s) %-42s %7.2f" % (k, names[k], med[k]))
    print("ratios: f/b = %.2f (target <= 1.0)" % (med["f"] / med["b"]))
    if agent:
        print("        h/b = %.2f (target <= 0.5)" % (med["h"] / med["b"]))
    if noop:
        print("        g/n = %.2f (target <= 1.3)" % (med["g"] / med["n"]))
    return 0


# --- the hot path's trace -----------------------------------------------------


def traced_add(plugin, conf, ns, name, mode, map_path, out_path):
    """add() under valgrind's lackey (MODE), its trace read by hot_path.py into
    out_path as it is written."""
    hot = os.path.join(ROOT, "scripts", "hot_path.py")
    with open(out_path, "w") as out:
        reader = subprocess.Popen([sys.executable, hot, "trace", map_path],
                                  stdin=subprocess.PIPE, stdout=out)
    fd = reader.stdin.fileno()
    try:
        add(plugin, conf, ns, name, pass_fds=(fd,),
            wrap=("valgrind", "--tool=lackey", mode, "--log-fd=%d" % fd))
    finally:
        reader.stdin.close()
        if reader.wait() != 0:
            raise RuntimeError("hot_path.py trace failed")


def trace_main(plugin, conf_dir, map_path, out_dir, agent):
    """One ADD of g, h (with an agent) and f, each into a fresh netns;
    OUT_DIR/KEY.order lists the plugin's input sections it touched, first
    touch first. g, which makes no API call, traces data too; the others trace
    code only, since tracing every access makes the API read outlast the
    plugin's timeouts."""
    variants = [("g", "excluded.json", ("kube-system", "web"), "--trace-mem=yes")]
    if agent:
        variants.append(("h", "agent.json", ("default", "web"), "--trace-superblocks=yes"))
    variants.append(("f", "api.json", ("default", "web"), "--trace-superblocks=yes"))
    ns_base = "btrace-%d" % os.getpid()
    with node_netns(ns_base):
        for key, conf, name, mode in variants:
            ns = "%s-%s" % (ns_base, key)
            fresh_netns(ns)
            try:
                traced_add(plugin, os.path.join(conf_dir, conf), ns, name, mode, map_path,
                           os.path.join(out_dir, key + ".order"))
            finally:
                sh("ip", "netns", "delete", ns)
    print("traced %s into %s" % (" ".join(v[0] for v in variants), out_dir))
    return 0


# --- N ADDs at once -----------------------------------------------------------


def percentile(sorted_ms, q):
    """Nearest-rank percentile of an ascending list."""
    return sorted_ms[max(0, math.ceil(q * len(sorted_ms)) - 1)]


def concurrent_round(jobs_for, n, tag, err_dir):
    """One round: n fresh netns, one job each started at once; returns the ms."""
    names = ["cadd-%d-%s-%d" % (os.getpid(), tag, i) for i in range(n)]
    made = []
    try:
        for ns in names:
            fresh_netns(ns)
            made.append(ns)
        jobs = [dict(job, stdout=os.devnull, stderr=os.path.join(err_dir, "%s-%d.err" % (tag, i)))
                for i, job in enumerate(jobs_for(names))]
        res = concurrent_run.run_all(jobs)
    finally:
        for ns in made:
            sh("ip", "netns", "delete", ns)
    for i, (rc, _) in enumerate(res):
        if rc != 0:
            raise RuntimeError("%s job %d exited %d: %s" % (
                tag, i, rc, open(jobs[i]["stderr"]).read().strip()[-300:]))
    return [ms for _, ms in res]


def concurrent_main(plugin, conf_dir, basic, runs):
    """add_bench.py concurrent PLUGIN CONF_DIR BASIC RUNS

    N = 1, 10 and 110 ADDs of the pod served from the agent's cache
    (CONF_DIR/agent.json) started at once, each into its own fresh netns,
    against N iptables-nft-restore of basic.txt started at once the same way;
    rounds alternate between the two until each has RUNS samples (at least 2
    rounds after a warm-up round). Prints p50 and p99 of each and their ratios.
    """
    agent_conf = os.path.join(conf_dir, "agent.json")

    def adds(names):
        return [{"argv": [plugin], "stdin": agent_conf,
                 "env": dict(CNI_ENV, CNI_CONTAINERID="bench-%d" % i,
                             CNI_NETNS="/var/run/netns/" + ns,
                             CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;"
                             "K8S_POD_UID=" + pod_uid("default", "web"))}
                for i, ns in enumerate(names)]

    def restores(names):
        return [{"argv": ["nsenter", "--net=/var/run/netns/" + ns, "iptables-nft-restore",
                          "--noflush"], "stdin": basic, "env": {"PATH": CNI_ENV["PATH"]}}
                for ns in names]

    print("N at once, each into its own fresh netns: ADD of the pod from the agent's cache (h)"
          " against iptables-nft-restore of basic.txt (b), ms:")
    print("  %4s %7s  %8s %8s  %8s %8s  %9s %9s" % ("N", "samples", "h p50", "h p99", "b p50",
                                                    "b p99", "p50 h/b", "p99 h/b"))
    with node_netns("cadd-%d" % os.getpid()):
        for n in (1, 10, 110):
            concurrent_n(n, runs, adds, restores, conf_dir)
    return 0


def concurrent_n(n, runs, adds, restores, conf_dir):
    """One line of the concurrent table: N jobs at once, rounds alternating."""
    rounds = max(2, math.ceil(runs / n))
    h, b = [], []
    # The first round of each warms caches and is not counted.
    for r in range(rounds + 1):
        pair = [("h", adds, h), ("b", restores, b)]
        if r % 2:
            pair.reverse()
        for tag, jobs_for, out in pair:
            ms = concurrent_round(jobs_for, n, tag, conf_dir)
            if r > 0:
                out.extend(ms)
    h.sort()
    b.sort()
    hp50, hp99, bp50, bp99 = (statistics.median(h), percentile(h, 0.99),
                              statistics.median(b), percentile(b, 0.99))
    print("  %4d %7d  %8.1f %8.1f  %8.1f %8.1f  %9.2f %9.2f" % (
        n, len(h), hp50, hp99, bp50, bp99, hp50 / bp50, hp99 / bp99))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "trace":
        sys.exit(trace_main(*sys.argv[2:6], len(sys.argv) > 6))
    if len(sys.argv) > 1 and sys.argv[1] == "concurrent":
        sys.exit(concurrent_main(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])))
    sys.exit(main())
