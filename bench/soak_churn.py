#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The load bench/soak.sh puts on the node agent until SECONDS have passed.

  soak_churn.py SECONDS CONTROL_URL LOG_SOCK SA_DIR CA CONF ORIGINAL USER OLD_TOKEN

Every 0.5 s: one pod created on node-1 and, past 60 live pods, the oldest
deleted; one live pod relabelled (MODIFIED); a pod lookup and a plugin log
line through the agent's socket. Every 20 s another CNI rewrites CONF back
to ORIGINAL (temp+rename and truncate+write in turn). Every 60 s the token
rotates: the API server learns a new one, the service-account dir swaps
..data to it as the kubelet does, and the token before the previous stops
working. Prints one JSON object of counts at the end.
"""
import json
import os
import shutil
import socket
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "fakeapi"))
import pods  # noqa: E402

LIVE = 60


def ctl(base, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, method=method, data=data,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read()


def sock_request(path, method, url, body=b""):
    """HTTP/1.1 over the agent's UNIX socket; returns the status code (0 on error)."""
    head = "%s %s HTTP/1.1\r\nHost: unix\r\nConnection: close\r\n" % (method, url)
    if body:
        head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(path)
            s.sendall(head.encode() + b"\r\n" + body)
            resp = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                resp += chunk
        return int(resp.split(b" ", 2)[1])
    except (OSError, ValueError, IndexError):
        return 0


def sa_rotate(d, token, ca):
    """Writes a new timestamped data dir and swaps ..data to it atomically."""
    ts = "..%s.%09d" % (time.strftime("%Y_%m_%d_%H_%M_%S", time.gmtime()), time.time_ns() % 10**9)
    os.mkdir(os.path.join(d, ts))
    with open(os.path.join(d, ts, "token"), "w") as f:
        f.write(token)
    shutil.copy(ca, os.path.join(d, ts, "ca.crt"))
    with open(os.path.join(d, ts, "namespace"), "w") as f:
        f.write("istio-system")
    old = os.readlink(os.path.join(d, "..data"))
    os.symlink(ts, os.path.join(d, "..data_tmp"))
    os.rename(os.path.join(d, "..data_tmp"), os.path.join(d, "..data"))
    shutil.rmtree(os.path.join(d, old))


def rewrite(conf, text, in_place):
    if in_place:
        with open(conf, "wb", buffering=0) as f:
            f.write(text)
    else:
        tmp = os.path.join(os.path.dirname(conf), ".rival.tmp")
        with open(tmp, "wb") as f:
            f.write(text)
        os.rename(tmp, conf)


def main():
    seconds, base, sock, sa, ca, conf, original, user, token = sys.argv[1:10]
    end = time.monotonic() + float(seconds)
    text = open(original, "rb").read()
    counts = {"created": 0, "deleted": 0, "modified": 0, "lookups": 0, "lookup_failures": 0,
              "log_posts": 0, "log_failures": 0, "rewrites": 0, "rotations": 0}
    live = []  # (name, uid, created_at)
    tokens = [token]
    seq = 0
    next_rewrite = time.monotonic() + 20
    next_rotate = time.monotonic() + 60
    while time.monotonic() < end:
        tick = time.monotonic()
        pod = pods.istio_pod("soak-%06d" % seq, "default", "node-1")
        seq += 1
        ctl(base, "POST", "/pods", pod)
        live.append((pod["metadata"]["name"], pod["metadata"]["uid"], tick))
        counts["created"] += 1
        if len(live) > LIVE:
            name = live.pop(0)[0]
            ctl(base, "DELETE", "/pods/default/" + name)
            counts["deleted"] += 1
        name = live[len(live) // 2][0]
        ctl(base, "PATCH", "/pods/default/" + name,
            {"metadata": {"labels": {"soak-tick": str(seq)}}})
        counts["modified"] += 1
        # A pod listed more than 2 s ago: the cache has seen it by now.
        old = [p for p in live if tick - p[2] > 2]
        if old:
            name, uid, _ = old[0]
            counts["lookups"] += 1
            if sock_request(sock, "GET", "/pod?namespace=default&name=%s&uid=%s"
                            % (name, uid)) != 200:
                counts["lookup_failures"] += 1
        line = json.dumps({"level": "info", "msg": "programmed traffic capture (soak)",
                           "pod": "default/soak", "duration_ms": 3})
        counts["log_posts"] += 1
        if sock_request(sock, "POST", "/log", json.dumps([line]).encode()) != 200:
            counts["log_failures"] += 1
        if tick >= next_rewrite:
            rewrite(conf, text, counts["rewrites"] % 2 == 1)
            counts["rewrites"] += 1
            next_rewrite += 20
        if tick >= next_rotate:
            new = os.urandom(16).hex()
            ctl(base, "POST", "/tokens", {"token": new, "user": user})
            sa_rotate(sa, new, ca)
            tokens.append(new)
            if len(tokens) > 2:
                ctl(base, "DELETE", "/tokens/" + tokens.pop(0))
            counts["rotations"] += 1
            next_rotate += 60
        time.sleep(max(0.0, 0.5 - (time.monotonic() - tick)))
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
