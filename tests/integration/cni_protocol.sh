#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The CNI protocol of the plugin, end to end, as root:
#  - chained after the real bridge + host-local + tuning plugins, driven by the
#    reference runtime (cnitool) for cniVersion 0.3.1, 0.4.0 and 1.0.0, inside
#    a throwaway "node" netns so bridges never touch the host;
#  - standalone (Multus-like) and bad input, invoking the binary directly;
#  - then the same plugin inputs again under valgrind, for errors and leaks.
# Pods are in an excluded namespace or carry no Kubernetes keys, so no
# Kubernetes API is needed.
#
# Env: PLUGIN (default build/bin/istio-cni), CNITOOL (build/tools/cnitool),
# VALGRIND=0 skips the valgrind pass.
#
# run-tests: asan (scripts/run-tests.sh runs this again against build-asan/)

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_root
require_file "$PLUGIN" "build first: cmake -S . -B build && cmake --build build"
require_file "$CNITOOL" "run scripts/build-cnitool.sh"
require_file "$CNI_PLUGINS_DIR/bridge" "install containernetworking-plugins"

ALL_VERSIONS=(0.1.0 0.2.0 0.3.0 0.3.1 0.4.0 1.0.0 1.1.0)
CHAIN_VERSIONS=(0.3.1 0.4.0 1.0.0)
EXCLUDED_NS=istio-cni-test-excluded
K8S_ARGS="K8S_POD_NAMESPACE=$EXCLUDED_NS;K8S_POD_NAME=app-0;K8S_POD_INFRA_CONTAINER_ID=c0ffee"

tmpdir_new T
mkdir -p "$T/conf" "$T/state" "$T/ipam" "$T/run" "$T/tap" "$T/in" "$T/prev" "$T/vg" "$T/vgbin"
netns_new NODE icni-node
netns_new POD icni-pod
POD_PATH=/var/run/netns/$POD

# --- a tap plugin: records the prevResult istio-cni is about to get -------

cat >"$T/tap/cni-tap" <<'PY'
#!/usr/bin/python3
# Test-only CNI plugin: on ADD, save stdin to the conf's "tapFile" and pass
# prevResult through untouched; every other verb succeeds silently.
import json, os, sys
cmd = os.environ.get("CNI_COMMAND", "")
data = sys.stdin.read()
if cmd == "VERSION":
    print(json.dumps({"cniVersion": "1.0.0",
                      "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0"]}))
elif cmd == "ADD":
    conf = json.loads(data)
    with open(conf["tapFile"], "w") as f:
        f.write(data)
    print(json.dumps(conf.get("prevResult", {"cniVersion": conf["cniVersion"]})))
PY
chmod 0755 "$T/tap/cni-tap"

# --- confs ---------------------------------------------------------------

# istio_conf VERSION [EXTRA_JSON_MEMBERS]: the plugin's own conf, printed.
istio_conf()
{
	printf '{"cniVersion":"%s","name":"istio-cni","type":"istio-cni",' "$1"
	printf '"cni_agent_run_dir":"%s","exclude_namespaces":["%s","kube-system"]%s}\n' \
		"$T/run" "$EXCLUDED_NS" "${2:+,$2}"
}

# chain_conflist VERSION INDEX: bridge + host-local + tuning + tap + istio-cni.
chain_conflist()
{
	local v=$1 i=$2
	cat >"$T/conf/$i-chain.conflist" <<EOF
{
  "cniVersion": "$v",
  "name": "icni-chain-$i",
  "plugins": [
    {"type": "bridge", "bridge": "icni$i", "isGateway": true, "ipMasq": false,
     "ipam": {"type": "host-local", "dataDir": "$T/ipam",
              "ranges": [[{"subnet": "10.250.$i.0/24"}], [{"subnet": "fd00:250:$i::/64"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "tuning", "sysctl": {"net.ipv4.conf.eth0.accept_local": "1"}},
    {"type": "cni-tap", "tapFile": "$T/tap/$i.json"},
    $(istio_conf "$v")
  ]
}
EOF
}

# cnitool_run CMD NET NETNS_PATH CNI_ARGS: cnitool inside the node netns, with
# a private /var/lib/cni (its result cache) bound from $T/state so nothing is
# written to the host. Sets RUN_RC, RUN_OUT, RUN_ERR like run_plugin.
CNI_PATH_LIST=$T/tap:$(dirname "$PLUGIN"):$CNI_PLUGINS_DIR
cnitool_run()
{
	RUN_SEQ=$((RUN_SEQ + 1))
	RUN_OUT=$T/cnitool.$RUN_SEQ.out
	RUN_ERR=$T/cnitool.$RUN_SEQ.err
	node_exec "$NODE" "$T/state" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		"${SANITIZER_ENV[@]}" CNI_PATH="$CNI_PATH_LIST" NETCONFPATH="$T/conf" \
		CNI_ARGS="$4" "$CNITOOL" "$1" "$2" "$3" >"$RUN_OUT" 2>"$RUN_ERR"
	RUN_RC=$?
}

# --- valgrind ------------------------------------------------------------

VG_OPTS=(--quiet --leak-check=full --error-exitcode=99
	--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect
	--log-file="$T/vg/%p.log")

# Valgrind notes that are not findings: the namespace ioctls (NS_GET_NSTYPE
# and friends) it has no wrapper for take no pointers.
VG_BENIGN='Warning: noted but unhandled ioctl 0xb7|This could cause spurious value errors|See README_MISSING_SYSCALL_OR_IOCTL|^==[0-9]+== *$'

# vg_check DESC: no valgrind log reports anything but benign notes; clear them.
vg_check()
{
	local f bad=0
	for f in "$T"/vg/*.log; do
		[[ -s "$f" ]] || continue
		if grep -Evq "$VG_BENIGN" "$f"; then
			bad=1
			sed 's/^/     | /' "$f" | head -n 60
		fi
	done
	rm -f "$T"/vg/*.log
	if ((bad)); then
		fail "valgrind: $1: errors or leaks"
	fi
}

# --- the direct-invocation suite (run plainly, then under valgrind) -----

DIRECT_CNI_PATH=$(dirname "$PLUGIN"):$CNI_PLUGINS_DIR
CNI_ENV_BASE=(CNI_CONTAINERID=c0ffee CNI_IFNAME=eth0 CNI_PATH="$DIRECT_CNI_PATH")

# ok_run DESC STDIN ENV...: run the plugin and expect success.
ok_run()
{
	local desc=$1
	shift
	run_plugin "$@"
	expect_ok "$desc"
	[[ -n "$VG" ]] && vg_check "$desc"
}

# err_run DESC CODES REGEX STDIN ENV...: run the plugin and expect an error.
err_run()
{
	local desc=$1 codes=$2 regex=$3
	shift 3
	run_plugin "$@"
	expect_error "$desc" "$codes" "$regex"
	if ((RUN_RC != 0 && RUN_RC != 1)); then
		fail "$desc: exit status $RUN_RC, an error must exit 1"
	fi
	[[ -n "$VG" ]] && vg_check "$desc"
}

direct_suite()
{
	local tag=$1 v f
	local in=$T/in

	# VERSION
	echo '{"cniVersion":"0.4.0"}' >"$in/version.json"
	ok_run "$tag VERSION" "$in/version.json" CNI_COMMAND=VERSION
	check "$tag VERSION answers in the input version with all supported versions" \
		json_py "$RUN_OUT" -- "
assert doc[0]['cniVersion'] == '0.4.0', doc[0]
assert sorted(doc[0]['supportedVersions']) == sorted('${ALL_VERSIONS[*]}'.split()), doc[0]"
	ok_run "$tag VERSION without input" - CNI_COMMAND=VERSION
	check "$tag VERSION without input answers 1.1.0" \
		json_py "$RUN_OUT" -- "assert doc[0]['cniVersion'] == '1.1.0', doc[0]"

	# No CNI_COMMAND: about line on stderr, nothing on stdout, exit 0.
	ok_run "$tag CNI_COMMAND unset exits 0" -
	check "$tag CNI_COMMAND unset: about line on stderr, stdout empty" \
		bash -c "[[ ! -s '$RUN_OUT' && -s '$RUN_ERR' ]]"

	# STATUS and GC (CNI 1.1)
	istio_conf 1.1.0 >"$in/conf-1.1.0.json"
	ok_run "$tag STATUS succeeds" "$in/conf-1.1.0.json" CNI_COMMAND=STATUS \
		CNI_PATH="$DIRECT_CNI_PATH"
	istio_conf 1.1.0 '"cni.dev/valid-attachments":[{"containerID":"x","ifname":"eth0"}]' \
		>"$in/gc.json"
	ok_run "$tag GC succeeds" "$in/gc.json" CNI_COMMAND=GC \
		CNI_PATH="$DIRECT_CNI_PATH"
	# STATUS succeeds; nothing in it or in GC needs CNI_PATH.
	ok_run "$tag STATUS without CNI_PATH succeeds" "$in/conf-1.1.0.json" CNI_COMMAND=STATUS
	ok_run "$tag GC without CNI_PATH succeeds" "$in/gc.json" CNI_COMMAND=GC

	# Standalone (Multus-like): no prevResult, CNI_IFNAME=net1 → empty result.
	for v in "${ALL_VERSIONS[@]}"; do
		istio_conf "$v" >"$in/standalone-$v.json"
		ok_run "$tag standalone ADD $v" "$in/standalone-$v.json" "${CNI_ENV_BASE[@]}" \
			CNI_COMMAND=ADD CNI_NETNS="$POD_PATH" CNI_IFNAME=net1 \
			CNI_ARGS="IgnoreUnknown=true;$K8S_ARGS"
		check "$tag standalone ADD $v prints an empty $v result" json_py "$RUN_OUT" -- "
r = doc[0]
assert 'code' not in r, r
assert r['cniVersion'] == '$v', r
for k in ('ips', 'interfaces', 'routes', 'ip4', 'ip6'):
    assert not r.get(k), (k, r)"
	done

	# Pass-through without Kubernetes keys, and podman's lone K8S_POD_NAME.
	istio_conf 1.0.0 >"$in/conf-1.0.0.json"
	ok_run "$tag ADD without CNI_ARGS (not a Kubernetes pod)" "$in/conf-1.0.0.json" \
		"${CNI_ENV_BASE[@]}" CNI_COMMAND=ADD CNI_NETNS="$POD_PATH"
	ok_run "$tag ADD with only K8S_POD_NAME (podman)" "$in/conf-1.0.0.json" \
		"${CNI_ENV_BASE[@]}" CNI_COMMAND=ADD CNI_NETNS="$POD_PATH" CNI_ARGS="K8S_POD_NAME=web"
	ok_run "$tag ADD with an unknown CNI_ARGS key and IgnoreUnknown=1" \
		"$in/conf-1.0.0.json" "${CNI_ENV_BASE[@]}" CNI_COMMAND=ADD CNI_NETNS="$POD_PATH" \
		CNI_ARGS="IgnoreUnknown=1;FOO=bar;$K8S_ARGS"

	# prevResult from each version converted to each conf version. The
	# prevResults are what bridge returned in the chained runs. Within a
	# result family (0.3.0-0.4.0, 1.x) the result must come out converted.
	# Across families libcni's own decoder refuses the prevResult, which a
	# runtime never sends; the result must be "converted", so either an exact
	# conversion or a clean error object passes, and the log says which.
	local from to
	for from in "${CHAIN_VERSIONS[@]}"; do
		[[ -s "$T/prev/$from.json" ]] || continue
		for to in 0.3.0 0.3.1 0.4.0 1.0.0 1.1.0; do
			f=$in/convert-$from-$to.json
			"$PYTHON" - "$T/prev/$from.json" "$to" "$T/run" "$EXCLUDED_NS" >"$f" <<'PY'
import json, sys
prev, to, rundir, ns = sys.argv[1:5]
print(json.dumps({"cniVersion": to, "name": "istio-cni", "type": "istio-cni",
                  "cni_agent_run_dir": rundir, "exclude_namespaces": [ns],
                  "prevResult": json.load(open(prev))}))
PY
			if [[ "${from:0:2}" == "${to:0:2}" ]]; then
				ok_run "$tag ADD with a $from prevResult in a $to conf" "$f" \
					"${CNI_ENV_BASE[@]}" CNI_COMMAND=ADD CNI_NETNS="$POD_PATH" \
					CNI_ARGS="IgnoreUnknown=1;$K8S_ARGS"
				check "$tag ADD $from → $to result is prevResult converted" \
					result_convert_check "$RUN_OUT" "$T/prev/$from.json" "$to"
				continue
			fi
			run_plugin "$f" "${CNI_ENV_BASE[@]}" CNI_COMMAND=ADD CNI_NETNS="$POD_PATH" \
				CNI_ARGS="IgnoreUnknown=1;$K8S_ARGS"
			if ((RUN_RC == 0)); then
				check "$tag ADD $from → $to (across families) converts" \
					result_convert_check "$RUN_OUT" "$T/prev/$from.json" "$to"
			else
				expect_error "$tag ADD $from → $to (across families) is refused cleanly" \
					"1 6 7"
			fi
			[[ -n "$VG" ]] && vg_check "$tag ADD $from → $to"
		done
	done

	# CHECK with a prevResult, for a pod ADD passed through.
	if [[ -s "$T/prev/1.0.0.json" ]]; then
		f=$in/convert-1.0.0-1.0.0.json
		ok_run "$tag CHECK of a passed-through pod" "$f" "${CNI_ENV_BASE[@]}" \
			CNI_COMMAND=CHECK CNI_NETNS="$POD_PATH" CNI_ARGS="IgnoreUnknown=1;$K8S_ARGS"
	fi

	# DEL is tolerant: netns gone, CNI_NETNS empty, no prevResult, repeated.
	ok_run "$tag DEL without prevResult" "$in/conf-1.0.0.json" "${CNI_ENV_BASE[@]}" \
		CNI_COMMAND=DEL CNI_NETNS="$POD_PATH" CNI_ARGS="IgnoreUnknown=1;$K8S_ARGS"
	ok_run "$tag DEL repeated" "$in/conf-1.0.0.json" "${CNI_ENV_BASE[@]}" \
		CNI_COMMAND=DEL CNI_NETNS="$POD_PATH" CNI_ARGS="IgnoreUnknown=1;$K8S_ARGS"
	ok_run "$tag DEL with a netns that does not exist" "$in/conf-1.0.0.json" \
		"${CNI_ENV_BASE[@]}" CNI_COMMAND=DEL CNI_NETNS=/var/run/netns/icni-gone-$$ \
		CNI_ARGS="IgnoreUnknown=1;$K8S_ARGS"
	ok_run "$tag DEL with CNI_NETNS empty" "$in/conf-1.0.0.json" "${CNI_ENV_BASE[@]}" \
		CNI_COMMAND=DEL CNI_NETNS= CNI_ARGS="IgnoreUnknown=1;$K8S_ARGS"
	ok_run "$tag DEL of a pod that is not excluded, netns gone" "$in/conf-1.0.0.json" \
		"${CNI_ENV_BASE[@]}" CNI_COMMAND=DEL CNI_NETNS=/var/run/netns/icni-gone-$$ \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=gone-0"

	# Bad input, each one JSON error object on stdout.
	local add_env=("${CNI_ENV_BASE[@]}" CNI_COMMAND=ADD CNI_NETNS="$POD_PATH"
		CNI_ARGS="IgnoreUnknown=1;$K8S_ARGS")
	"$PYTHON" -c "
import json
print(json.dumps({'cniVersion': '1.0.0', 'name': 'istio-cni', 'type': 'istio-cni',
                  'pad': 'x' * (1024 * 1024 + 16)}))" >"$in/big.json"
	err_run "$tag stdin over 1 MiB" 5 '' "$in/big.json" "${add_env[@]}"
	printf '{"cniVersion":"1.0.0","name":"istio-cni",' >"$in/truncated.json"
	err_run "$tag invalid JSON" 6 '' "$in/truncated.json" "${add_env[@]}"
	err_run "$tag empty stdin" 6 '' - "${add_env[@]}"
	printf '{\n  "cniVersion": "1.0.0",\n  "name": "a",\n  "name": "b",\n  "type": "istio-cni"\n}\n' \
		>"$in/dup.json"
	err_run "$tag duplicate keys (line/column reported)" 6 \
		'(?s)(?=.*line\D{0,3}\d)(?=.*col(umn)?\D{0,3}\d)' "$in/dup.json" "${add_env[@]}"
	echo '{"cniVersion":"1.0.0","type":"istio-cni"}' >"$in/noname.json"
	err_run "$tag missing name" 7 'name' "$in/noname.json" "${add_env[@]}"
	istio_conf 9.9.9 >"$in/badver.json"
	err_run "$tag unsupported cniVersion" 1 '' "$in/badver.json" "${add_env[@]}"
	err_run "$tag ADD with CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME missing" 4 \
		'(?s)(?=.*CNI_CONTAINERID)(?=.*CNI_NETNS)(?=.*CNI_IFNAME)' \
		"$in/conf-1.0.0.json" CNI_COMMAND=ADD CNI_PATH=/usr/lib/cni
	err_run "$tag DEL with CNI_CONTAINERID missing" 4 'CNI_CONTAINERID' \
		"$in/conf-1.0.0.json" CNI_COMMAND=DEL CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni
	err_run "$tag unknown CNI_COMMAND" 4 'CNI_COMMAND' "$in/conf-1.0.0.json" \
		"${CNI_ENV_BASE[@]}" CNI_COMMAND=FROB CNI_NETNS="$POD_PATH"
	err_run "$tag malformed CNI_ARGS" 4 'CNI_ARGS' "$in/conf-1.0.0.json" \
		"${CNI_ENV_BASE[@]}" CNI_COMMAND=ADD CNI_NETNS="$POD_PATH" CNI_ARGS="K8S_POD_NAME"
	# Unknown CNI_ARGS keys are an error of no prescribed code; env → 4,
	# config → 7 are both defensible.
	err_run "$tag unknown CNI_ARGS key without IgnoreUnknown" "4 7" 'FOO' \
		"$in/conf-1.0.0.json" "${CNI_ENV_BASE[@]}" CNI_COMMAND=ADD CNI_NETNS="$POD_PATH" \
		CNI_ARGS="FOO=bar;$K8S_ARGS"
}

# --- chained under cnitool -----------------------------------------------

# chain_suite TAG: ADD/CHECK/DEL for each version, each in a fresh pod netns.
chain_suite()
{
	local tag=$1 v i=0 pod net
	for v in "${CHAIN_VERSIONS[@]}"; do
		i=$((i + 1))
		chain_conflist "$v" "$i"
		net=icni-chain-$i
		netns_new pod icni-p$i
		cnitool_run add "$net" "/var/run/netns/$pod" "IgnoreUnknown=1;$K8S_ARGS"
		expect_ok "$tag $v chained ADD"
		if [[ -s "$T/tap/$i.json" ]]; then
			json_py "$T/tap/$i.json" -- "print(json.dumps(doc[0]['prevResult']))" \
				>"$T/prev/$v.json"
			check "$tag $v chained ADD prints bridge's result, converted" \
				result_convert_check "$RUN_OUT" "$T/prev/$v.json" "$v"
		else
			fail "$tag $v: the chain never reached istio-cni"
		fi
		check "$tag $v pod has its address" \
			bash -c "ip -n '$pod' -o addr show dev eth0 | grep -q '10\.250\.$i\.'"
		if [[ "$v" != 0.3.* ]]; then
			cnitool_run check "$net" "/var/run/netns/$pod" "IgnoreUnknown=1;$K8S_ARGS"
			expect_ok "$tag $v chained CHECK"
		fi
		cnitool_run del "$net" "/var/run/netns/$pod" "IgnoreUnknown=1;$K8S_ARGS"
		expect_ok "$tag $v chained DEL"
		cnitool_run del "$net" "/var/run/netns/$pod" "IgnoreUnknown=1;$K8S_ARGS"
		expect_ok "$tag $v chained DEL again"

		# No Kubernetes keys at all: not a Kubernetes pod, pass-through.
		cnitool_run add "$net" "/var/run/netns/$pod" ""
		expect_ok "$tag $v chained ADD without Kubernetes keys"
		[[ -s "$T/tap/$i.json" ]] && json_py "$T/tap/$i.json" -- \
			"print(json.dumps(doc[0]['prevResult']))" >"$T/prev/$v-nok8s.json" &&
			check "$tag $v chained ADD without Kubernetes keys passes the result through" \
				result_convert_check "$RUN_OUT" "$T/prev/$v-nok8s.json" "$v"
		ip netns delete "$pod"
		cnitool_run del "$net" "/var/run/netns/$pod" ""
		expect_ok "$tag $v chained DEL after the pod netns is gone"
		[[ -n "$VG" ]] && vg_check "$tag $v chained"
	done
}

VG=
chain_suite plain
direct_suite plain

if [[ "${VALGRIND:-1}" != 0 ]]; then
	if command -v valgrind >/dev/null; then
		VG=1
		PLUGIN_WRAPPER=(valgrind "${VG_OPTS[@]}")
		direct_suite valgrind
		# The chain again, with the plugin wrapped: libcni finds the wrapper
		# first in CNI_PATH.
		{
			echo '#!/bin/sh'
			printf 'exec valgrind'
			printf ' %q' "${VG_OPTS[@]}" "$PLUGIN"
			echo
		} >"$T/vgbin/istio-cni"
		chmod 0755 "$T/vgbin/istio-cni"
		CNI_PATH_LIST=$T/tap:$T/vgbin:$CNI_PLUGINS_DIR
		chain_suite valgrind
	else
		skip "valgrind not installed"
	fi
fi

summary
