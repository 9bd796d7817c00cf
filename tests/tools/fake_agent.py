#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A stand-in for the node agent's UNIX socket, for the plugin's tests.

  fake_agent.py SOCKET PODS.json LOG.jsonl [MODE_FILE]

Serves GET /pod?namespace=&name=&uid= from the pods in PODS.json (404 when
unknown, 409 when the uid differs) and POST /log (appends each line to
LOG.jsonl); every request is appended to LOG.jsonl as {"req": METHOD, "path"}.
PODS.json is re-read on every request. MODE_FILE, when it exists, holds one
word read on every request: "unsynced" answers every lookup 503 (the agent's
answer while its watch is down), "ignore-uid" serves the entry of that name
whatever uid was asked (an old or broken agent); anything else is normal.
"""
import json
import os
import socketserver
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler

SOCK, PODS, LOG = sys.argv[1:4]
MODE = sys.argv[4] if len(sys.argv) > 4 else None


def load_pods():
    return {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in json.load(open(PODS))}


def mode():
    try:
        with open(MODE) as f:
            return f.read().strip()
    except (OSError, TypeError):
        return ""


def record(obj):
    with open(LOG, "a") as f:
        f.write(json.dumps(obj) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def address_string(self):
        return "unix"

    def log_message(self, *args):
        pass

    def reply(self, code, body=b""):
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        record({"req": "GET", "path": self.path})
        if url.path != "/pod":
            return self.reply(404)
        q = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        m = mode()
        if m == "unsynced":
            return self.reply(503, b'{"error":"pod cache not synced"}')
        pod = load_pods().get((q.get("namespace"), q.get("name")))
        if pod is None:
            return self.reply(404)
        if m != "ignore-uid" and q.get("uid") and q["uid"] != pod["metadata"]["uid"]:
            return self.reply(409)
        self.reply(200, json.dumps(pod).encode())

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        lines = json.loads(self.rfile.read(n))
        record({"req": "POST", "path": self.path, "lines": lines})
        self.reply(200)


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


if os.path.exists(SOCK):
    os.unlink(SOCK)
with Server(SOCK, Handler) as srv:
    print("ready", flush=True)
    srv.serve_forever()
