#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Starts many commands at once and times each from its start to its exit.

  concurrent_run.py JOBS_JSON RESULTS_JSON

JOBS_JSON is a list of {"argv": [...], "env": {...}, "stdin": PATH or null,
"stdout": PATH, "stderr": PATH}; RESULTS_JSON receives, in the same order,
[{"rc": N, "ms": F}, ...] (rc is negative for a signal). Every job is
spawned back to back (posix_spawn, no shell) while a reaper thread collects
the exits, so a job that ends while others are still being spawned is timed
when it ends. Exits non-zero when any job failed. Also a module: run_all().
"""
import json
import os
import sys
import threading
import time


def _spawn(job):
    actions = [(os.POSIX_SPAWN_OPEN, 0, job.get("stdin") or os.devnull, os.O_RDONLY, 0),
               (os.POSIX_SPAWN_OPEN, 1, job.get("stdout") or os.devnull,
                os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
               (os.POSIX_SPAWN_OPEN, 2, job.get("stderr") or os.devnull,
                os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)]
    return os.posix_spawnp(job["argv"][0], job["argv"], job.get("env", {}),
                           file_actions=actions)


def run_all(jobs):
    """Runs every job concurrently; returns [(rc, ms), ...] in job order."""
    ended = {}
    done = threading.Event()
    spawned = threading.Event()
    total = len(jobs)

    def reap():
        while len(ended) < total:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                # Every child so far has ended; more may still be spawned.
                if spawned.is_set():
                    break
                time.sleep(0.001)
                continue
            ended[pid] = (os.waitstatus_to_exitcode(status), time.perf_counter())
        done.set()

    started = []
    reaper = threading.Thread(target=reap, daemon=True)
    try:
        for job in jobs:
            t0 = time.perf_counter()
            started.append((_spawn(job), t0))
            if len(started) == 1:
                reaper.start()
    finally:
        # A spawn that failed leaves fewer children than jobs: wait for those.
        total = len(started)
        spawned.set()
    if started:
        done.wait()
    return [(ended[pid][0], (ended[pid][1] - t0) * 1000.0) for pid, t0 in started]


def main():
    jobs = json.load(open(sys.argv[1]))
    results = run_all(jobs)
    with open(sys.argv[2], "w") as f:
        json.dump([{"rc": rc, "ms": ms} for rc, ms in results], f)
    return 0 if all(rc == 0 for rc, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
