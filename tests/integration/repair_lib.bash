# SPDX-License-Identifier: Apache-2.0
# Helpers for the repair loop tests and bench/repair.sh: start the fake API
# server, write a kubeconfig for it, query its control API. Source after lib.sh.

FAKE=$ROOT/tests/fakeapi/fake_apiserver.py
REPAIR=${REPAIR:-$BUILD_DIR/bin/istio-cni-repair}
VALIDATE=${VALIDATE:-$BUILD_DIR/bin/istio-cni-validate}
CNI_USER=system:serviceaccount:istio-system:istio-cni
REPAIR_PERMS="get pods,list pods,watch pods,delete pods,patch pods/status,create events"

# fake_start DIR [fake_apiserver args...]: starts the server with a fresh
# token; sets FAKE_PID, URL, CA, CONTROL, TOKEN and writes DIR/kubeconfig.
fake_start()
{
	local dir=$1 i
	shift
	TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
	mkdir -p "$dir"
	spawn FAKE_PID "$PYTHON" "$FAKE" --dir "$dir/api" --token "$TOKEN=$CNI_USER" \
		--allow "$CNI_USER=$REPAIR_PERMS" "$@" >"$dir/fake.out" 2>"$dir/fake.err"
	for ((i = 0; i < 300; i++)); do
		[[ -s "$dir/api/server.json" ]] && break
		kill -0 "$FAKE_PID" 2>/dev/null || break
		sleep 0.1
	done
	if [[ ! -s "$dir/api/server.json" ]]; then
		cat "$dir/fake.err" >&2
		echo "$TEST_NAME: the fake API server did not start" >&2
		return 1
	fi
	URL=$(jfield "$dir/api/server.json" url)
	CA=$(jfield "$dir/api/server.json" ca)
	CONTROL=$(jfield "$dir/api/server.json" control_url)
	cat >"$dir/kubeconfig" <<-EOF
		apiVersion: v1
		kind: Config
		clusters:
		- name: fake
		  cluster:
		    server: $URL
		    certificate-authority: $CA
		users:
		- name: repair
		  user:
		    token: $TOKEN
		contexts:
		- name: fake
		  context:
		    cluster: fake
		    user: repair
		current-context: fake
	EOF
	chmod 600 "$dir/kubeconfig"
	KUBECONFIG_FILE=$dir/kubeconfig
}

fake_stop() { proc_stop -g "$FAKE_PID"; }

jfield() { "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# ctl METHOD PATH [JSON]: the control API; prints the answer.
ctl()
{
	"$PYTHON" - "$CONTROL" "$@" <<-'EOF'
		import json, sys, urllib.request
		base, method, path = sys.argv[1:4]
		data = sys.argv[4].encode() if len(sys.argv) > 4 else None
		req = urllib.request.Request(base + path, data=data, method=method,
		                             headers={"Content-Type": "application/json"})
		with urllib.request.urlopen(req, timeout=30) as r:
		    sys.stdout.write(r.read().decode())
	EOF
}

# pods_json OUT PYTHON-EXPR: writes a JSON list of pods built with pods.py (as p).
pods_json()
{
	"$PYTHON" - "$ROOT/tests/fakeapi" "$1" "$2" <<-'EOF'
		import json, sys
		sys.path.insert(0, sys.argv[1])
		import pods as p
		json.dump(eval(sys.argv[3]), open(sys.argv[2], "w"))
	EOF
}

# reqlog PYTHON-EXPR: evaluates EXPR over the request log (r: the list of
# entries) and the recorded events (ev) and prints the result.
reqlog()
{
	"$PYTHON" - "$CONTROL" "$1" <<-'EOF'
		import json, sys, urllib.request
		base = sys.argv[1]
		r = json.load(urllib.request.urlopen(base + "/requests", timeout=30))["items"]
		ev = json.load(urllib.request.urlopen(base + "/events", timeout=30))["items"]
		writes = [x for x in r if x["method"] in ("DELETE", "PATCH", "POST", "PUT")]
		deletes = [x for x in r if x["method"] == "DELETE"]
		patches = [x for x in r if x["method"] == "PATCH"]
		print(eval(sys.argv[2]))
	EOF
}

# run_repair VAR=VALUE...: istio-cni-repair in a clean environment (env
# execs it, so "run_repair ... &" leaves its pid in $!).
run_repair()
{
	env -i PATH=/usr/bin:/bin KUBECONFIG="$KUBECONFIG_FILE" REPAIR_NODE_NAME=node-1 \
		LOG_LEVEL="${LOG_LEVEL:-info}" ASAN_OPTIONS="${ASAN_OPTIONS:-}" \
		UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" "$@" "$REPAIR"
}

# start_repair OUTFILE VAR=VALUE...: the same in the background, as a daemon
# unless VARs say otherwise (istio-cni-repair makes one pass by default, as
# 1.7's did); sets RPID.
start_repair()
{
	local out=$1
	shift
	spawn RPID env -i PATH=/usr/bin:/bin KUBECONFIG="$KUBECONFIG_FILE" REPAIR_NODE_NAME=node-1 \
		REPAIR_RUN_AS_DAEMON=true \
		LOG_LEVEL="${LOG_LEVEL:-info}" ASAN_OPTIONS="${ASAN_OPTIONS:-}" \
		UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" "$@" "$REPAIR" >"$out" 2>&1
}

# wait_for SECONDS PYTHON-EXPR-OVER-LOG: polls reqlog until EXPR is True.
wait_for()
{
	local secs=$1 i
	for ((i = 0; i < secs * 10; i++)); do
		[[ $(reqlog "$2" 2>/dev/null) == True ]] && return 0
		sleep 0.1
	done
	return 1
}
