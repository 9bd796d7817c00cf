#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The capture audit's cost: one pass over 110 captured pods (110 network
# namespaces, each with a process in it, captured by `istio-cni apply`), on
# nftables and on iptables. Each pass is an on-demand GET /debug/audit to a
# running agent (fake API server, AUDIT_INTERVAL_SECONDS=86400 so no periodic
# pass interferes); its CPU time is the agent's (all threads, plus the
# iptables-save children it waited for) across the request, its wall time
# the request's. Median of PASSES passes.
#
# Baseline, timed in the same run: the plugin's own CNI CHECK run once per
# pod (what checking every pod without the agent costs: 110 plugin
# processes, each looking its pod up in the agent's cache and comparing the
# netns with the plan). Ratios are audit / baseline.
#
#   sudo bench/audit.sh            # PASSES=7 N=110 BUILD_DIR=build
#
# Target: under 50 ms CPU per pass on nftables. Prints the numbers; asserts nothing.
set -uo pipefail
TEST_NAME=bench-audit
. "$(dirname "$0")/../tests/integration/lib.sh"
. "$ROOT/tests/integration/agent_lib.bash"
require_root
require_file "$AGENT" "build the project first"
require_file "$PLUGIN" "build the project first"
PASSES=${PASSES:-7}
N=${N:-110}
NET=10.$((200 + RANDOM % 50))

agent_setup
"$PYTHON" - "$ROOT/tests/fakeapi" "$T" "$N" "$NET" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
import pods
t, n, net = sys.argv[2], int(sys.argv[3]), sys.argv[4]
all_pods = []
for i in range(n):
    p = pods.istio_pod("bench-%03d" % i, "default", node="node-1",
                       pod_ip="%s.%d.%d" % (net, i // 200, 2 + i % 200))
    json.dump(p, open("%s/pod-%03d.json" % (t, i), "w"))
    all_pods.append(p)
json.dump(all_pods, open(t + "/all.json", "w"))
PY
ctl POST /pods "@$T/all.json" >/dev/null

echo "setting up $N pod network namespaces..."
PODS=()
for ((i = 0; i < N; i++)); do
	netns_new ns "ab$i" || exit 1
	ip=$(json_get "$T/pod-$(printf %03d "$i").json" '["status"]["podIP"]')
	ip -n "$ns" link add eth0 type veth peer name peer0 &&
		ip -n "$ns" addr add "$ip/16" dev eth0 &&
		ip -n "$ns" link set eth0 up && ip -n "$ns" link set peer0 up || exit 1
	spawn sleeper ip netns exec "$ns" sleep 3600
	PODS+=("$ns")
done

# capture BACKEND: every pod captured by the plugin with that backend (its
# rules of the other backend removed first).
capture()
{
	echo "{\"cniVersion\":\"0.3.1\",\"name\":\"istio-cni\",\"type\":\"istio-cni\",\"redirect_backend\":\"$1\"}" >"$T/conf.json"
	local i
	for ((i = 0; i < N; i++)); do
		ip netns exec "${PODS[$i]}" nft flush ruleset 2>/dev/null
		ip netns exec "${PODS[$i]}" iptables -t nat -F 2>/dev/null
		ip netns exec "${PODS[$i]}" iptables -t nat -X 2>/dev/null
		"$PLUGIN" apply --pod "$T/pod-$(printf %03d "$i").json" --netns "/var/run/netns/${PODS[$i]}" \
			--conf "$T/conf.json" >/dev/null || { echo "apply failed for pod $i" >&2; exit 1; }
	done
}

# measure BACKEND: prints "audit_cpu_ms audit_wall_ms base_cpu_ms base_wall_ms" (medians).
measure()
{
	agent_start AUDIT_INTERVAL_SECONDS=86400 HOST_PROC_DIR=/proc REDIRECT_BACKEND="$1" \
		LOG_LEVEL=info
	agent_wait_ready 60 || exit 1
	wait_for 120 grep -q 'audit: first pass done' "$T/agent.log" || { echo "no first pass" >&2; exit 1; }
	local entry
	entry=$("$PYTHON" -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["plugins"][-1]))' \
		"$NETD/10-bridge.conflist")
	in_node "$PYTHON" - "$AGENT_PID" "$HEALTH_PORT" "$PASSES" "$PLUGIN" "$BIN" "$T" "$entry" \
		"${PODS[@]}" <<'PY'
import json, os, resource, statistics, subprocess, sys, time, urllib.request
pid, port, passes, plugin, cni_path, t, entry = sys.argv[1:8]
nss = sys.argv[8:]
passes = int(passes)
hz = os.sysconf("SC_CLK_TCK")
def cpu():  # utime + stime + cutime + cstime of the agent, seconds
    f = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in f[11:15]) / hz
audit_cpu, audit_wall = [], []
for k in range(passes):
    time.sleep(1.1)  # on-demand passes: at most one a second
    c0, w0 = cpu(), time.monotonic()
    body = json.load(urllib.request.urlopen("http://127.0.0.1:%s/debug/audit" % port, timeout=120))
    w1, c1 = time.monotonic(), cpu()
    if body["ok"] != len(nss):
        sys.exit("pass %d: %d ok of %d: %s" % (k, body["ok"], len(nss), body)[:2000])
    audit_cpu.append((c1 - c0) * 1000)
    audit_wall.append((w1 - w0) * 1000)
# Baseline: the plugin's CHECK once per pod.
entry = json.loads(entry)
base_cpu, base_wall = [], []
for k in range(max(1, passes // 2)):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.monotonic()
    for i, ns in enumerate(nss):
        pod = json.load(open("%s/pod-%03d.json" % (t, i)))
        conf = dict(entry, cniVersion="1.0.0", name="k8s-pod-network",
                    prevResult={"cniVersion": "1.0.0",
                                "interfaces": [{"name": "eth0", "sandbox": "/var/run/netns/" + ns}],
                                "ips": [{"address": pod["status"]["podIP"] + "/16",
                                         "interface": 0}]})
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": "CHECK",
               "CNI_CONTAINERID": "bench%03d" % i, "CNI_NETNS": "/var/run/netns/" + ns,
               "CNI_IFNAME": "eth0", "CNI_PATH": cni_path,
               "CNI_ARGS": "K8S_POD_NAMESPACE=default;K8S_POD_NAME=%s;K8S_POD_UID=%s;"
                           "K8S_POD_INFRA_CONTAINER_ID=bench%03d"
                           % (pod["metadata"]["name"], pod["metadata"]["uid"], i)}
        p = subprocess.run([plugin], input=json.dumps(conf).encode(), env=env,
                           capture_output=True)
        if p.returncode != 0:
            sys.exit("baseline CHECK failed for pod %d: %s %s" % (i, p.stdout[:500], p.stderr[:500]))
    w1 = time.monotonic()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    base_cpu.append((r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) * 1000)
    base_wall.append((w1 - w0) * 1000)
print("%.1f %.1f %.1f %.1f" % (statistics.median(audit_cpu), statistics.median(audit_wall),
                               statistics.median(base_cpu), statistics.median(base_wall)))
PY
	local rc=$?
	agent_stop TERM
	return $rc
}

report()
{
	local backend=$1 a_cpu a_wall b_cpu b_wall
	read -r a_cpu a_wall b_cpu b_wall <<<"$2"
	printf '%-9s audit pass over %d pods: CPU %7.1f ms, wall %7.1f ms (median of %d)\n' \
		"$backend" "$N" "$a_cpu" "$a_wall" "$PASSES"
	printf '%-9s baseline (plugin CHECK x %d): CPU %7.1f ms, wall %7.1f ms\n' \
		"$backend" "$N" "$b_cpu" "$b_wall"
	"$PYTHON" -c 'import sys; a,b,c,d = map(float, sys.argv[1:5]); print("%-9s ratio audit/baseline: CPU %.3f, wall %.3f" % (sys.argv[5], a / c, b / d))' \
		"$a_cpu" "$a_wall" "$b_cpu" "$b_wall" "$backend"
}

capture nftables
echo "nftables: $N pods captured"
nft_res=$(measure nftables) || { echo "nftables measurement failed: $nft_res"; tail -n 20 "$T/agent.log"; exit 1; }
capture iptables
echo "iptables: $N pods captured"
ipt_res=$(measure iptables) || { echo "iptables measurement failed: $ipt_res"; tail -n 20 "$T/agent.log"; exit 1; }

echo
report nftables "$nft_res"
report iptables "$ipt_res"
echo "target: under 50 ms CPU per pass on nftables"
