# SPDX-License-Identifier: Apache-2.0
# What a test run leaves behind. Source it; it runs nothing.
#
#   leak_subreaper_exec "$0" "$@"  # re-exec the script as a child subreaper
#   leak_snapshot DIR              # before: marks the run, records the machine
#   ...run things...
#   leak_report DIR [IGNORE...]    # after: lists what survived, non-zero if any
#
# Processes are the run's when they carry the run's marker in their
# environment (ISTIO_CNI_TEST_RUN, exported by leak_snapshot and inherited by
# everything not started with a cleared environment) or when they are children
# of the script: as a child subreaper it adopts every orphan of the run, the
# ones started with env -i included. Network namespaces (ip netns list),
# mount points (/proc/self/mountinfo) and /tmp entries are compared with the
# snapshot: anything new that is still there leaked. Those three are global,
# so a concurrent run of other tests on the same machine shows up as well;
# LEAK_CHECK=0 turns the check off for such a machine.

# leak_subreaper_exec SCRIPT ARGS...: exec SCRIPT again (once) with bash as a
# child subreaper, the attribute surviving the exec; without python3 (before
# the packages are installed) it returns and orphans go to init, found only
# by the marker.
leak_subreaper_exec()
{
	[[ -n "${ISTIO_CNI_SUBREAPER:-}" ]] && return 0
	command -v python3 >/dev/null 2>&1 || return 0
	export ISTIO_CNI_SUBREAPER=1
	exec python3 -c '
import ctypes, os, sys
PR_SET_CHILD_SUBREAPER = 36
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.stderr.write("leak check: cannot become a child subreaper\n")
os.execv("/bin/bash", ["bash"] + sys.argv[1:])' "$@"
}

# leak_snapshot DIR: exports the run's marker and records the netns, mounts
# and /tmp entries in DIR.
leak_snapshot()
{
	local dir=$1
	mkdir -p "$dir" || return 1
	if [[ -z "${ISTIO_CNI_TEST_RUN:-}" ]]; then
		ISTIO_CNI_TEST_RUN=$$-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
		export ISTIO_CNI_TEST_RUN
	fi
	_leak_state >"$dir/before"
}

# _leak_state: "netns NAME", "mount PATH" and "tmp PATH" lines, sorted.
_leak_state()
{
	{
		ip netns list 2>/dev/null | awk '{print "netns " $1}'
		# Mount points, with the octal escapes of mountinfo kept; the
		# netns bind mounts are counted as netns.
		awk '$5 !~ "^/run/netns/" {print "mount " $5}' /proc/self/mountinfo
		find /tmp -mindepth 1 -maxdepth 1 -printf 'tmp %p\n' 2>/dev/null
	} | LC_ALL=C sort -u
}

# _leak_new BEFORE: the state lines not in BEFORE, now and still a second
# later (what a compiler or test elsewhere on the machine has open for a
# moment does not count).
_leak_new()
{
	local now
	now=$(LC_ALL=C comm -13 "$1" <(_leak_state))
	[[ -z "$now" ]] && return 0
	sleep 1
	LC_ALL=C comm -12 <(printf '%s\n' "$now") <(LC_ALL=C comm -13 "$1" <(_leak_state))
}

# leak_report DIR [IGNORE_PATH...]: prints one line per leaked process,
# netns, mount point and /tmp entry (IGNORE_PATHs excepted), then
# "leaks: none" or "leaks: N"; returns 1 when anything leaked. Leaked
# processes (exactly the run's: by marker or adoption) are then killed, so
# the next run starts clean; the rest is left for a human to look at.
leak_report()
{
	local dir=$1 n=0 line what ign skipit
	shift
	if [[ "${LEAK_CHECK:-1}" == 0 ]]; then
		echo "leaks: not checked (LEAK_CHECK=0)"
		return 0
	fi
	local procs=()
	mapfile -t procs < <(_leak_processes)
	for line in "${procs[@]}"; do
		echo "leak: process $line"
		n=$((n + 1))
	done
	while read -r what line; do
		skipit=
		for ign in "$@"; do
			[[ "$what" == tmp && "$line" == "$ign" ]] && skipit=1
		done
		[[ -n "$skipit" ]] && continue
		case $what in
		netns) echo "leak: network namespace $line" ;;
		mount) echo "leak: mount point $line" ;;
		tmp) echo "leak: temp entry $line ($(stat -c '%U %y' "$line" 2>/dev/null | cut -d. -f1))" ;;
		esac
		n=$((n + 1))
	done < <(_leak_new "$dir/before")
	for line in "${procs[@]}"; do
		kill -KILL "${line%% *}" 2>/dev/null
	done
	if ((n == 0)); then
		echo "leaks: none"
		return 0
	fi
	echo "leaks: $n"
	return 1
}

# _leak_processes: "PID CMDLINE" of every live process (zombies aside) with
# the run's marker or whose parent is this shell, except the ones started
# for this check: the scan, and the subshells and pipeline (tee) that run the
# check, all started no earlier than the child of this shell the scan runs
# under.
_leak_processes()
{
	python3 - "$$" "${ISTIO_CNI_TEST_RUN:-}" <<'PY' 2>/dev/null
import os, sys
me, marker = int(sys.argv[1]), sys.argv[2]
mark = ("ISTIO_CNI_TEST_RUN=" + marker).encode() if marker else None

def stat(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return fields[0], int(fields[1]), int(fields[19])  # state, ppid, starttime

# The check's own start: the ancestor of this scan whose parent is the shell.
pid = os.getpid()
while True:
    _, ppid, start = stat(pid)
    if ppid in (me, 0, 1):
        break
    pid = ppid
cutoff = start

for d in os.listdir("/proc"):
    if not d.isdigit():
        continue
    pid = int(d)
    if pid == me:
        continue
    try:
        state, ppid, start = stat(pid)
        env = open("/proc/%d/environ" % pid, "rb").read().split(b"\0")
        cmd = open("/proc/%d/cmdline" % pid, "rb").read()
    except (OSError, ValueError, IndexError):
        continue
    if state in ("Z", "X") or start >= cutoff:
        continue
    if ppid == me or (mark and mark in env):
        print(pid, cmd.replace(b"\0", b" ").decode(errors="replace").strip()[:200])
PY
}
