#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A node's worth of pods at once: PODS (110, the kubelet's default maxPods)
# ADDs start together through cnitool (bridge + host-local + portmap + the
# istio-cni entry the agent installed), in a throwaway node netns where the
# agent serves every pod from its cache. Afterwards each pod netns holds
# exactly the ruleset a lone `istio-cni apply` programs, CHECK passes for
# every pod, real traffic is captured in a sample of them, the API server was
# never asked for a pod, and the agent holds as many fds as before; no plugin
# process is left. Then as many concurrent DELs leave no table, no veth, no
# lease and no process behind.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.bash"
require_root
require_file "$AGENT" "build the project first"
require_file "$CNITOOL" "scripts/build-cnitool.sh builds it"
require_file "$CNI_PLUGINS_DIR/bridge" "install containernetworking-plugins"

PODS=${PODS:-110}
TOOLS=$ROOT/tests/tools
NET=k8s-pod-network

agent_setup
"$PYTHON" - "$ROOT/tests/fakeapi" "$T/pods.json" "$PODS" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
import pods
json.dump(pods.bulk_pods(int(sys.argv[3]), node="node-1", prefix="load"), open(sys.argv[2], "w"))
PY
ctl POST /pods "@$T/pods.json" >/dev/null
agent_start LOG_LEVEL=info
agent_wait_ready || { summary; exit 1; }
if wait_for 20 grep -q "pod cache: synced, $PODS pods" "$T/agent.log"; then
	pass "the agent's cache holds the $PODS pods"
else fail "the agent's cache holds the $PODS pods"; fi
check "the agent installed its entry in the bridge conflist" istio_count_is 1 "$NETD/10-bridge.conflist"
ctl DELETE /requests >/dev/null

# The bridge exists on a node that already runs pods; the bridge plugin
# adopts it, so the ADDs below race for nothing but our own code paths. Its
# MAC is set: a bridge without one takes the lowest MAC among its ports, which
# changes while 110 veths join, and the bridge plugin's CHECK compares the
# bridge's MAC with the one its ADD reported.
in_node ip link add cni-agent0 address 02:00:00:1c:a0:01 type bridge
in_node ip link set cni-agent0 up

NAMES=()
NETNS=()
for ((i = 0; i < PODS; i++)); do
	NAMES+=("$(printf 'load-%05d' "$i")")
	# netns_new's random suffix could repeat among this many: number them.
	ns=cload-$$-$i
	ip netns add "$ns" || { fail "create pod netns $ns"; summary; exit 1; }
	on_exit ip netns delete "$ns"
	ip -n "$ns" link set lo up
	NETNS+=("$ns")
done
mkdir -p "$T/cni-state" "$T/out"

# fd_count: open fds of the agent. fd_list: what they are, for a failure.
fd_count() { find "/proc/$AGENT_PID/fd" -mindepth 1 -maxdepth 1 | wc -l; }
fd_list() { for f in "/proc/$AGENT_PID/fd"/*; do readlink "$f"; done | sort | uniq -c; }
# node_pids: the processes in the node netns (the agent and the API server).
node_pids() { ip netns pids "$NODE" | sort -n | tr '\n' ' '; }
# strays: processes running a CNI binary (ours, the reference plugins, cnitool).
strays()
{
	local p exe
	for p in /proc/[0-9]*; do
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		case $exe in
		"$BIN"/* | "$CNI_PLUGINS_DIR"/* | "$CNITOOL") echo "${p#/proc/} $exe" ;;
		esac
	done
}
# pod_procs: processes inside any pod netns.
pod_procs() { for ns in "${NETNS[@]}"; do ip netns pids "$ns"; done; }

FDS0=$(fd_count)
fd_list >"$T/fds.before"
PIDS0=$(node_pids)

# run_verb VERB: VERB for every pod at once; $T/out/VERB-I.{out,err}, results in $T/VERB.json.
run_verb()
{
	"$PYTHON" - "$1" "$T" "$NODE" "$BIN:$CNI_PLUGINS_DIR" "$NETD" "$CNITOOL" "$NET" \
		"${NAMES[*]}" "${NETNS[*]}" "$ROOT/tests/fakeapi" >"$T/$1.jobs" <<'PY'
import json, sys
verb, t, node, cni_path, netd, cnitool, net, names, netns, fakeapi = sys.argv[1:11]
sys.path.insert(0, fakeapi)
import pods
# node_exec of lib.sh: a private /var/lib whose cni/ is the shared state dir.
script = ('mount -t tmpfs -o size=16m none /var/lib && mkdir /var/lib/cni && '
          'mount --bind "$0" /var/lib/cni && exec "$@"')
jobs = []
for i, (name, ns) in enumerate(zip(names.split(), netns.split())):
    jobs.append({"argv": ["ip", "netns", "exec", node, "/bin/sh", "-c", script, t + "/cni-state",
                          "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                          "CNI_PATH=" + cni_path, "NETCONFPATH=" + netd,
                          "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=%s;"
                          "K8S_POD_UID=%s" % (name, pods.pod_uid("default", name)),
                          cnitool, verb, net, "/var/run/netns/" + ns],
                 "env": {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                 "stdout": "%s/out/%s-%d.out" % (t, verb, i),
                 "stderr": "%s/out/%s-%d.err" % (t, verb, i)})
json.dump(jobs, sys.stdout)
PY
	"$PYTHON" "$TOOLS/concurrent_run.py" "$T/$1.jobs" "$T/$1.json"
}

# verb_report VERB: "ok" when every job exited 0, else the first failures;
# the latencies on stderr.
verb_report()
{
	"$PYTHON" - "$T/$1.json" "$T/out" "$1" <<'PY'
import json, statistics, sys
res = json.load(open(sys.argv[1]))
ms = sorted(r["ms"] for r in res)
sys.stderr.write("%s: %d at once, p50 %.0f ms, p99 %.0f ms, max %.0f ms\n" % (
    sys.argv[3], len(ms), statistics.median(ms), ms[min(len(ms) - 1, int(0.99 * len(ms)))], ms[-1]))
bad = [i for i, r in enumerate(res) if r["rc"] != 0]
for i in bad[:3]:
    print("pod %d: exit %d: %s" % (i, res[i]["rc"],
          open("%s/%s-%d.err" % (sys.argv[2], sys.argv[3], i)).read().strip()[-400:]))
if bad:
    print("%d of %d failed" % (len(bad), len(res)))
else:
    print("ok")
PY
}

expect_all_ok()
{
	local got
	got=$(verb_report "$1" 2>>"$T/latency.txt")
	if [[ "$got" == ok ]]; then pass "$2"; else
		fail "$2"
		printf '%s\n' "$got" | sed 's/^/     | /'
	fi
}

# --- PODS ADDs at once ----------------------------------------------------
run_verb add
expect_all_ok add "$PODS concurrent ADDs through cnitool succeed"

# The reference: what a lone apply programs into a netns with an address.
netns_new REF ref
ip -n "$REF" link add r0 type veth peer name r1
ip -n "$REF" link set r0 up
ip -n "$REF" addr add 10.78.0.250/24 dev r0
"$PYTHON" -c 'import json,sys; json.dump(json.load(open(sys.argv[1]))[0], open(sys.argv[2], "w"))' \
	"$T/pods.json" "$T/pod0.json"
"$PLUGIN" apply --pod "$T/pod0.json" --netns "/var/run/netns/$REF" >/dev/null
ip netns exec "$REF" nft -s list ruleset >"$T/ruleset.ref"
check "the reference ruleset holds our nat table" grep -q 'table inet istio-proxy-nat' "$T/ruleset.ref"

wrong=()
for ((i = 0; i < PODS; i++)); do
	ip netns exec "${NETNS[i]}" nft -s list ruleset >"$T/ruleset.$i" 2>&1
	cmp -s "$T/ruleset.ref" "$T/ruleset.$i" || wrong+=("$i")
done
if ((${#wrong[@]} == 0)); then
	pass "every pod netns holds exactly the reference ruleset"
else
	fail "every pod netns holds exactly the reference ruleset: ${#wrong[@]} differ (${wrong[*]:0:10})"
	diff "$T/ruleset.ref" "$T/ruleset.${wrong[0]}" | head -n 20 | sed 's/^/     | /'
fi

ips=$("$PYTHON" - "$T/out" "$PODS" <<'PY'
import ipaddress, json, sys
ips = []
for i in range(int(sys.argv[2])):
    try:
        ips.append(json.load(open("%s/add-%d.out" % (sys.argv[1], i)))["ips"][0]["address"])
    except Exception:
        ips.append("none")
ok = all(a != "none" and ipaddress.ip_interface(a) in ipaddress.ip_network("10.78.0.0/24")
         for a in ips)
print("%d %d" % (ok, len(set(ips))))
PY
)
assert_eq "$ips" "1 $PODS" "every ADD prints the bridge result, each with its own address"

run_verb check
expect_all_ok check "$PODS concurrent CHECKs pass (our CHECK compares the netns to the plan)"

# Real traffic in a sample: the first, a middle and the last pod.
probe_pod()
{
	local i=$1 ns=${NETNS[$1]} ip got probe
	ip=$(ip -n "$ns" -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
	ip netns exec "$ns" "$PYTHON" "$TOOLS/capture_probe.py" serve proxy --tcp 15001,15006 \
		>"$T/probe.$i" 2>&1 &
	probe=$!
	on_exit kill "$probe"
	wait_for 5 grep -q ready "$T/probe.$i"
	got=$(ip netns exec "$ns" setpriv --reuid 1000 --regid 1000 --clear-groups \
		"$PYTHON" "$TOOLS/capture_probe.py" connect 10.78.0.1 8080 --timeout 3)
	assert_eq "$got" "proxy L=15001 O=10.78.0.1:8080" "pod $i: the app's outbound TCP lands on 15001"
	got=$(in_node "$PYTHON" "$TOOLS/capture_probe.py" connect "$ip" 9080 --timeout 3)
	assert_eq "$got" "proxy L=15006 O=$ip:9080" "pod $i: inbound TCP lands on 15006"
	kill "$probe" 2>/dev/null
	wait "$probe" 2>/dev/null
}
for i in 0 $((PODS / 2)) $((PODS - 1)); do probe_pod "$i"; done

prom_check "http://127.0.0.1:$MONITORING_PORT/metrics" >"$T/metrics.txt" 2>&1
# ADD and CHECK both read the pod.
check "every lookup was a cache hit" \
	grep -q "^istio_cni_pod_cache_lookups_total{result=\"hit\"} $((2 * PODS)).0$" "$T/metrics.txt"
check "every ADD reported its capture to the agent" \
	grep -q "^istio_cni_plugin_add_total{result=\"success\"} $PODS.0$" "$T/metrics.txt"
ctl GET /requests >"$T/requests.json"
gets=$("$PYTHON" -c '
import json, sys
print(sum(1 for r in json.load(open(sys.argv[1]))["items"] if "/pods/load-" in r["path"]))' \
	"$T/requests.json")
assert_eq "$gets" 0 "no ADD asked the API server for its pod"

# settled FDS: the agent is back to FDS fds (libmicrohttpd closes finished
# connections on its next poll).
settled() { [[ $(fd_count) == "$1" ]]; }
if wait_for 10 settled "$FDS0"; then pass "after the ADDs the agent holds as many fds as before ($FDS0)"; else
	fail "after the ADDs the agent holds as many fds as before: $(fd_count), was $FDS0"
	fd_list | diff "$T/fds.before" - | sed 's/^/     | /'
fi
assert_eq "$(strays)" "" "no CNI process left after the ADDs"
assert_eq "$(pod_procs)" "" "no process left in any pod netns"
assert_eq "$(node_pids)" "$PIDS0" "the node netns runs only the agent and the API server"

# --- PODS DELs at once ----------------------------------------------------
run_verb del
expect_all_ok del "$PODS concurrent DELs succeed"
left=()
for ((i = 0; i < PODS; i++)); do
	[[ -z $(ip netns exec "${NETNS[i]}" nft list ruleset 2>&1) ]] || left+=("$i")
done
assert_eq "${#left[@]}" 0 "DEL leaves no table in any pod netns"
veths=$(for ns in "${NETNS[@]}"; do ip -n "$ns" -o link show type veth; done)
assert_eq "$veths" "" "DEL leaves no interface in any pod netns"
assert_eq "$(in_node ip -o link show master cni-agent0)" "" "no veth left on the node's bridge"
leases=$(find "$T/cni-state/networks/$NET" -name '10.*' | wc -l)
assert_eq "$leases" 0 "host-local holds no lease"
if wait_for 10 settled "$FDS0"; then pass "after the DELs the agent holds as many fds as before ($FDS0)"; else
	fail "after the DELs the agent holds as many fds as before: $(fd_count), was $FDS0"
	fd_list | diff "$T/fds.before" - | sed 's/^/     | /'
fi
assert_eq "$(strays)" "" "no CNI process left after the DELs"
assert_eq "$(node_pids)" "$PIDS0" "the node netns still runs only the agent and the API server"

sed 's/^/     | /' "$T/latency.txt"
agent_stop TERM
assert_eq "$AGENT_RC" 0 "SIGTERM: the agent exits 0"
summary
