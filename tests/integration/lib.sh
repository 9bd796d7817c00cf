# SPDX-License-Identifier: Apache-2.0
# Shared helpers for the integration tests. Source it; it does not run anything.
#
#   . "$(dirname "$0")/lib.sh"
#   require_root
#   netns_new NODE node           # sets $NODE to a unique netns name, deleted on exit
#   check "VERSION succeeds" run_plugin VERSION ...
#   summary                       # "N passed, M failed"; non-zero on failure
#
# Tests create everything they touch (netns, temp dirs) with unique names and
# register its removal with on_exit; the EXIT trap undoes it in reverse order.

set -uo pipefail

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$LIB_DIR/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
PLUGIN=${PLUGIN:-$BUILD_DIR/bin/istio-cni}
CNITOOL=${CNITOOL:-$ROOT/build/tools/cnitool}
CNI_PLUGINS_DIR=${CNI_PLUGINS_DIR:-/usr/lib/cni}
PYTHON=${PYTHON:-/usr/bin/python3}
TEST_NAME=${TEST_NAME:-$(basename "$0" .sh)}

PASSED=0
FAILED=0
SKIPPED=0
_CLEANUPS=()

log() { printf '%s: %s\n' "$TEST_NAME" "$*" >&2; }

# --- cleanup -------------------------------------------------------------

# on_exit CMD...: run CMD (one simple command) at exit, last registered first.
on_exit()
{
	local q
	printf -v q '%q ' "$@"
	_CLEANUPS+=("$q")
}

_run_cleanups()
{
	local i
	for ((i = ${#_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${_CLEANUPS[i]}" >/dev/null 2>&1 || true
	done
	_CLEANUPS=()
}
trap _run_cleanups EXIT
trap 'exit 130' INT TERM

# spawn VAR CMD...: start CMD in the background in a session (and process
# group) of its own and set VAR to its pid, which is CMD's own pid (setsid
# execs in place), so "wait $VAR" gives CMD's exit status; proc_stop (run at
# exit) ends it and everything it started. Call spawn itself in the
# foreground, with CMD's redirections after it: spawn PID cmd >log 2>&1.
# CMD must be a program, not a shell function (its pid would be a subshell's
# and killing that orphans what the function ran).
spawn()
{
	local var=$1 pid
	shift
	# With job control on, a background job leads its own process group and
	# setsid would fork, leaving us the pid of a parent that exits at once.
	if [[ $- == *m* ]]; then
		echo "$TEST_NAME: spawn needs job control off (set +m)" >&2
		return 1
	fi
	setsid "$@" <&0 &
	pid=$!
	on_exit proc_stop -g "$pid"
	printf -v "$var" '%s' "$pid"
}

# proc_stop [-g] PID [SECONDS]: SIGTERM PID (with -g its whole process
# group, which outlives PID while anything PID started is still in it), wait
# up to SECONDS (default 5) for it to go, then SIGKILL; reaps PID when it is
# our child. Succeeds when it (and with -g its group) is gone.
proc_stop()
{
	local group=0 pid secs i
	[[ "$1" == -g ]] && { group=1; shift; }
	pid=$1 secs=${2:-5}
	kill -TERM "$pid" 2>/dev/null
	((group)) && kill -TERM -- "-$pid" 2>/dev/null
	for ((i = 0; i < secs * 20; i++)); do
		_proc_gone "$pid" && { ((group == 0)) || ! pgrep -g "$pid" >/dev/null; } && break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null
	((group)) && kill -KILL -- "-$pid" 2>/dev/null
	# Reap it when it is ours and not yet reaped (wait on any other pid
	# complains even with stderr redirected).
	jobs -p | grep -qx "$pid" && wait "$pid" 2>/dev/null
	for ((i = 0; i < 40; i++)); do
		_proc_gone "$pid" && { ((group == 0)) || ! pgrep -g "$pid" >/dev/null; } && return 0
		sleep 0.05
	done
	return 1
}

# _proc_gone PID: PID has exited (a zombie awaiting its parent counts as gone).
_proc_gone()
{
	local state
	[[ -r /proc/$1/stat ]] || return 0
	state=$(sed -E 's/^.*\) (.).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 0
	[[ -z "$state" || "$state" == Z || "$state" == X ]]
}

# A short name unique to this process: PREFIX-PID-RANDOM.
unique_name() { printf '%s-%d-%04x\n' "$1" "$$" "$((RANDOM & 0xffff))"; }

# These set a variable instead of printing, because a cleanup registered in a
# command substitution's subshell would be lost.

# tmpdir_new VAR: set VAR to a private temp dir removed at exit.
tmpdir_new()
{
	local d
	d=$(mktemp -d "/tmp/${TEST_NAME}.XXXXXX") || return 1
	on_exit rm -rf -- "$d"
	printf -v "$1" '%s' "$d"
}

# netns_new VAR PREFIX: create a uniquely named netns (loopback up), deleted
# at exit, and set VAR to its name.
netns_new()
{
	local name
	name=$(unique_name "$2")
	ip netns add "$name" || return 1
	on_exit ip netns delete "$name"
	ip -n "$name" link set lo up || return 1
	printf -v "$1" '%s' "$name"
}

# node_exec NODE STATE_DIR CMD...: run CMD in netns NODE with a private
# /var/lib (tmpfs) whose cni/ is STATE_DIR, so libcni's result cache and
# host-local's default dataDir live in STATE_DIR and the host's /var/lib/cni is
# never written. The mounts vanish with CMD (ip netns exec gives it its own
# mount namespace). The environment is passed as is: wrap CMD in env -i.
node_exec()
{
	local node=$1 state=$2
	shift 2
	ip netns exec "$node" /bin/sh -c 'mount -t tmpfs -o size=16m none /var/lib &&
		mkdir /var/lib/cni && mount --bind "$0" /var/lib/cni && exec "$@"' "$state" "$@"
}

require_root()
{
	if [[ $(id -u) -ne 0 ]]; then
		echo "$TEST_NAME: must run as root" >&2
		exit 1
	fi
}

# require_file PATH HINT: fail the whole test early with a hint when missing.
require_file()
{
	if [[ ! -e "$1" ]]; then
		echo "$TEST_NAME: $1 missing; $2" >&2
		exit 1
	fi
}

# --- assertions ----------------------------------------------------------

pass() { PASSED=$((PASSED + 1)); printf 'ok   %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL %s\n' "$*"; }
skip() { SKIPPED=$((SKIPPED + 1)); printf 'skip %s\n' "$*"; }

# check DESC CMD...: pass when CMD exits 0; on failure show its output.
check()
{
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then
		pass "$desc"
	else
		fail "$desc"
		[[ -n "$out" ]] && printf '%s\n' "$out" | sed 's/^/     | /'
	fi
}

assert_eq()
{
	if [[ "$1" == "$2" ]]; then
		pass "$3"
	else
		fail "$3: got '$1', want '$2'"
	fi
}

# expect_line DESC WANT CMD...: pass when the first line CMD prints (stdout
# and stderr together) starts with WANT.
expect_line()
{
	local desc=$1 want=$2 got
	shift 2
	got=$("$@" 2>&1 | head -n 1)
	if [[ "$got" == "$want"* ]]; then
		pass "$desc"
	else
		fail "$desc: got '$got', want '$want'"
	fi
}

# summary: "N passed, M failed" alone on a line; returns 1 on any failure
# and also when nothing passed (a test that ran nothing is not green).
summary()
{
	if ((SKIPPED > 0)); then
		printf '%d passed, %d failed, %d skipped\n' "$PASSED" "$FAILED" "$SKIPPED"
	else
		printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
	fi
	((FAILED == 0 && PASSED > 0))
}

# --- running the plugin directly ----------------------------------------

# Sanitizer settings survive the clean environments the tests run plugins in
# (scripts/run-tests.sh runs the tests against an ASan build too).
SANITIZER_ENV=()
[[ -n "${ASAN_OPTIONS:-}" ]] && SANITIZER_ENV+=("ASAN_OPTIONS=$ASAN_OPTIONS")
[[ -n "${UBSAN_OPTIONS:-}" ]] && SANITIZER_ENV+=("UBSAN_OPTIONS=$UBSAN_OPTIONS")

# run_plugin STDIN_FILE VAR=VALUE...: exec the plugin with exactly these
# environment variables (plus PATH) and STDIN_FILE on stdin ("-" for none).
# Sets RUN_RC, RUN_OUT (stdout file) and RUN_ERR (stderr file).
# PLUGIN_WRAPPER (an array, e.g. valgrind and its options) prefixes the command.
RUN_DIR=
RUN_SEQ=0
PLUGIN_WRAPPER=()
run_plugin()
{
	local input=$1
	shift
	if [[ -z "$RUN_DIR" ]]; then
		RUN_DIR=$(mktemp -d "/tmp/${TEST_NAME}-run.XXXXXX")
		on_exit rm -rf -- "$RUN_DIR"
	fi
	RUN_SEQ=$((RUN_SEQ + 1))
	RUN_OUT=$RUN_DIR/$RUN_SEQ.out
	RUN_ERR=$RUN_DIR/$RUN_SEQ.err
	[[ "$input" == - ]] && input=/dev/null
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "${SANITIZER_ENV[@]}" "$@" \
		"${PLUGIN_WRAPPER[@]}" "$PLUGIN" <"$input" >"$RUN_OUT" 2>"$RUN_ERR"
	RUN_RC=$?
	return 0
}

# show_run: the last run's exit code, stdout and stderr, indented.
show_run()
{
	printf '     | exit %s\n' "$RUN_RC"
	sed 's/^/     | out: /' "$RUN_OUT" | head -n 20
	sed 's/^/     | err: /' "$RUN_ERR" | head -n 20
}

# --- the redirect commands (plan, apply, check, remove) -----------------

# redirect_cli: CNI is the plugin binary whose plan/apply/check/remove
# subcommands the redirect tests drive.
redirect_cli()
{
	CNI=$PLUGIN
	require_file "$CNI" "build the project first"
}

# --- JSON checks (python3, no jq) ---------------------------------------

# json_py FILE... -- PYTHON: run PYTHON with the parsed files as doc[0..].
# Prints what PYTHON prints; exit 0 when it runs without raising.
json_py()
{
	local files=()
	while [[ $# -gt 0 && "$1" != -- ]]; do
		files+=("$1")
		shift
	done
	shift
	"$PYTHON" - "$1" "${files[@]}" <<'PY'
import json, sys
code = sys.argv[1]
doc = []
for path in sys.argv[2:]:
    with open(path) as f:
        doc.append(json.load(f))
exec(code)
PY
}

# json_get FILE EXPR: print doc[0] EXPR (a python subscript like '["code"]').
json_get()
{
	json_py "$1" -- "v = doc[0]$2
print(v if isinstance(v, str) else json.dumps(v))" 2>/dev/null
}

# The CNI error object contract: stdout is exactly one JSON object
# with cniVersion, an integer code and a non-empty msg (details optional, a
# string), exit status non-zero. expect_error DESC CODES ["REGEX"]: CODES is
# a list like "4" or "4 7"; REGEX (python, case-insensitive) must match
# msg + details.
expect_error()
{
	local desc=$1 codes=$2 regex=${3:-} why
	if ((RUN_RC == 0)); then
		fail "$desc: exit 0, want an error"
		show_run
		return
	fi
	why=$("$PYTHON" - "$RUN_OUT" "$codes" "$regex" <<'PY'
import json, re, sys
path, codes, regex = sys.argv[1], sys.argv[2].split(), sys.argv[3]
text = open(path).read()
try:
    err = json.loads(text)
except ValueError as e:
    print("stdout is not exactly one JSON value: %s" % e)
    sys.exit(0)
if not isinstance(err, dict):
    print("stdout is JSON but not an object")
elif not isinstance(err.get("cniVersion"), str):
    print("no string cniVersion")
elif not isinstance(err.get("code"), int) or isinstance(err.get("code"), bool):
    print("no integer code")
elif not isinstance(err.get("msg"), str) or not err["msg"]:
    print("no msg")
elif "details" in err and not isinstance(err["details"], str):
    print("details is not a string")
elif str(err["code"]) not in codes:
    print("code %d, want %s" % (err["code"], " or ".join(codes)))
elif regex and not re.search(regex, err["msg"] + " " + err.get("details", ""), re.I):
    print("msg/details do not match /%s/" % regex)
PY
)
	if [[ -n "$why" ]]; then
		fail "$desc: $why"
		show_run
	else
		pass "$desc"
	fi
}

# expect_ok DESC: the last run exited 0.
expect_ok()
{
	if ((RUN_RC == 0)); then
		pass "$1"
	else
		fail "$1: exit $RUN_RC"
		show_run
	fi
}

# --- CNI result conversion (the reference for "converted to the conf's
# cniVersion"): 0.3.x/0.4.0 results carry ips[].version, 1.x do not. ------

# result_convert_check OUT_FILE PREV_FILE VERSION: OUT_FILE holds exactly
# one JSON object equal to PREV_FILE's result converted to VERSION (an empty
# "dns" object counts as absent).
result_convert_check()
{
	"$PYTHON" - "$1" "$2" "$3" <<'PY'
import copy, ipaddress, json, sys
out_path, prev_path, version = sys.argv[1:4]
try:
    out = json.loads(open(out_path).read())
except ValueError as e:
    sys.exit("output is not one JSON value: %s" % e)
prev = json.load(open(prev_path))

def convert(res, to):
    res = copy.deepcopy(res)
    res["cniVersion"] = to
    for ip in res.get("ips", []):
        if to.startswith("0."):
            if "version" not in ip:
                addr = ipaddress.ip_interface(ip["address"])
                ip["version"] = str(addr.version)
        else:
            ip.pop("version", None)
    return res

def normalize(res):
    # An empty "dns" object and no "dns" say the same thing; libcni prints
    # the former, a C encoder may leave it out.
    res = copy.deepcopy(res)
    if res.get("dns") == {}:
        del res["dns"]
    return res

want = convert(prev, version)
if normalize(out) != normalize(want):
    sys.exit("result differs from prevResult converted to %s:\n got: %s\nwant: %s"
             % (version, json.dumps(out, sort_keys=True), json.dumps(want, sort_keys=True)))
PY
}
