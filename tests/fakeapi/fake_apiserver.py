#!/usr/bin/env python3
"""Fake Kubernetes API server for the istio-cni tests (standard library only).

Serves, over HTTPS with a CA it mints itself (``openssl`` CLI), the part of
the core API that the plugin, the node agent and the repair loop use: pods
(get, list, watch, delete, patch, update, create, ``pods/status``), events
(core ``v1`` and ``events.k8s.io/v1``) and namespaces.  Error bodies are
``Status`` objects shaped like the real server's; resourceVersion is a global
counter; watches replay a bounded history and stream newline-delimited JSON
events with chunked transfer encoding.

Start from a shell test::

    python3 tests/fakeapi/fake_apiserver.py --dir "$tmp/api" \\
        --token "$TOKEN=system:serviceaccount:istio-system:istio-cni" \\
        --allow "system:serviceaccount:istio-system:istio-cni=get pods,list pods,watch pods" \\
        --pods-file pods.json [--client-ca] [--plain-http] [--bookmark-interval 0.5] &
    # first stdout line (also written atomically to $tmp/api/server.json):
    # {"port": N, "ca": "DIR/ca.crt", "url": "https://127.0.0.1:N",
    #  "control_port": M, "control_url": "http://127.0.0.1:M", ...}

Without --token the table holds ``admin-token`` for user ``admin`` (all
permissions).  --allow takes ``USER=PERM,PERM`` where PERM is ``VERB RESOURCE``
(``get pods``, ``patch pods/status``, ``create events``,
``create events.events.k8s.io``) or ``*``.  The minted files in DIR: ca.crt,
server.crt/.key (SANs localhost, kubernetes.default.svc, 127.0.0.1, ::1), other-ca.crt (a CA that
signed nothing, for negative tests) and with --client-ca client-ca.crt and
client.crt/.key (CN = --client-cert-user).  An existing CA in DIR is reused.

Control API (plain HTTP on 127.0.0.1:control_port, JSON in and out; the same
operations are methods of FakeApiServer when used as a module):

    GET    /healthz                         "ok"
    GET    /state                           ports, current resourceVersion, counts
    GET    /pods                            PodList of everything stored
    POST   /pods                            create: a Pod, a PodList or a JSON list
    POST   /pods/bulk                       {"count":N,"broken":bool,"broken_every":K,
                                             "namespace","node","prefix","native_sidecar"}
    PUT    /pods/NS/NAME                    replace (new resourceVersion, MODIFIED)
    PATCH  /pods/NS/NAME                    JSON merge patch of the whole object
    PUT    /pods/NS/NAME/status             replace status; PATCH merges into status
    POST   /pods/NS/NAME/broken             make the pod broken (exit 126); /healthy
    DELETE /pods/NS/NAME                    delete (DELETED event)
    GET    /events   DELETE /events         Events recorded through the API
    GET    /requests DELETE /requests       request log (Authorization value redacted)
    GET    /requests/counts                 counters over that log: per verb, per
                                            "METHOD path", per status, and the
                                            peak count in any 1 s window per verb
                                            (and "all", "writes" = POST/PUT/PATCH/DELETE)
    POST   /tokens   {"token","user"}       add or rotate; DELETE /tokens/TOKEN
    PUT    /tokens   {"TOKEN":"USER",...}   replace the table
    PUT    /rbac/USER ["get pods",...]      replace a user's permissions
    POST   /faults   {"kind":...}           add a fault rule (below); GET lists them
    DELETE /faults                          clear all fault rules
    POST   /watches/cut                     abort every open watch mid-stream
    POST   /history/expire {"kill_watches":bool}   compact history (forces 410)
    PUT    /config   {"bookmark_interval","history_size","gone_mode","watch_max_seconds",
                      "list_rv_wait"}

Fault rules (``count`` = how many matching requests it hits, null = forever;
``path`` a regex searched in the path, ``verb`` a Kubernetes verb or HTTP
method, both optional)::

    {"kind":"fail","status":500|503|429|...,"count":N,"retry_after":S}
    {"kind":"drop","count":N,"rst":false}      close the socket, answer nothing
    {"kind":"latency","seconds":S,"count":null}
    {"kind":"cut","after_events":K,"count":1}  watch aborted after K events,
                                               without the terminating chunk

A 429 or 503 carries Retry-After (``retry_after``, default 1) in the header
and in details.retryAfterSeconds.  A "410 storm" is a fail rule with status
410 and verb watch: each watch answered 410 Expired, so the client relists.

Deliberate simplifications: strategic merge patch merges lists of objects
by ``name`` only; apply patches (YAML) answer 415; deletion is immediate
unless ``graceful_delete`` is configured; no protobuf.
"""

import argparse
import base64
import bisect
import copy
import datetime
import gc
import http.server
import json
import os
import random
import re
import secrets
import signal
import select
import socket
import struct
import ssl
import string
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pods as podlib  # noqa: E402

ALL_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete",
             "deletecollection")
POD_FIELDS = ("metadata.name", "metadata.namespace", "spec.nodeName", "spec.restartPolicy",
              "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork",
              "status.phase", "status.podIP", "status.nominatedNodeName")
PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json")
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "istio-system")

REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
           405: "MethodNotAllowed", 406: "NotAcceptable", 409: "Conflict", 410: "Expired",
           415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests",
           500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_obj(code, message, reason=None, details=None):
    """A metav1.Status failure body."""
    st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
          "message": message, "reason": reason if reason is not None else REASONS.get(code, ""),
          "code": code}
    if details is not None:
        st["details"] = details
    if not st["reason"]:
        del st["reason"]
    # Keep the key order of the real server: details before code.
    if details is not None:
        st = {k: st[k] for k in ("kind", "apiVersion", "metadata", "status", "message",
                                 "reason", "details", "code") if k in st}
    return st


class ApiError(Exception):
    def __init__(self, code, message, reason=None, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.status = status_obj(code, message, reason, details)
        self.headers = headers or {}


def _gr(resource, group):
    return resource if not group else "%s.%s" % (resource, group)


def _details(resource, group, name=None):
    d = {}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    d["kind"] = resource
    return d


def not_found(resource, group, name):
    return ApiError(404, '%s "%s" not found' % (_gr(resource, group), name), "NotFound",
                    _details(resource, group, name))


def conflict(resource, group, name, why):
    return ApiError(409, 'Operation cannot be fulfilled on %s "%s": %s'
                    % (_gr(resource, group), name, why), "Conflict",
                    _details(resource, group, name))


def invalid(kind, group, name, field_errors, resource):
    gk = kind if not group else "%s.%s" % (kind, group)
    msg = '%s "%s" is invalid: %s' % (gk, name, ", ".join(
        "%s: %s" % (f, m) for f, m in field_errors))
    return ApiError(422, msg, "Invalid", dict(_details(resource, group, name), causes=[
        {"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in field_errors]))


def bad_request(msg):
    return ApiError(400, msg, "BadRequest")


# --------------------------------------------------------------------------- PKI

OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = fake
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,DNS:kubernetes.default.svc,IP:127.0.0.1,IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""


def _openssl(*args):
    r = subprocess.run(["openssl"] + list(args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (args[0], r.stderr.decode(errors="replace")))


def _ec_key_args():
    return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _mint_ca(d, cnf, base, cn):
    crt, key = os.path.join(d, base + ".crt"), os.path.join(d, base + ".key")
    _openssl("req", "-x509", "-new", *_ec_key_args(), "-keyout", key, "-out", crt,
             "-days", "3650", "-subj", "/CN=" + cn, "-config", cnf, "-extensions", "ca_ext")
    os.chmod(key, 0o600)
    return crt, key


def _mint_leaf(d, cnf, base, subj, ca_crt, ca_key, ext):
    crt, key = os.path.join(d, base + ".crt"), os.path.join(d, base + ".key")
    csr = os.path.join(d, base + ".csr")
    _openssl("req", "-new", *_ec_key_args(), "-keyout", key, "-out", csr, "-subj", subj,
             "-config", cnf)
    _openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-set_serial",
             "0x" + secrets.token_hex(8), "-days", "825", "-sha256", "-extfile", cnf,
             "-extensions", ext, "-out", crt)
    os.unlink(csr)
    os.chmod(key, 0o600)
    return crt, key


def mint_pki(d, client_ca=False, client_user="system:serviceaccount:istio-system:istio-cni",
             client_groups=("system:serviceaccounts",)):
    """Create (or reuse) the CA, server cert and optional client CA/cert in d."""
    os.makedirs(d, exist_ok=True)
    cnf = os.path.join(d, "openssl.cnf")
    with open(cnf, "w") as f:
        f.write(OPENSSL_CNF)
    out = {"ca": os.path.join(d, "ca.crt")}
    if not (os.path.exists(out["ca"]) and os.path.exists(os.path.join(d, "ca.key"))):
        _mint_ca(d, cnf, "ca", "fake-kube-apiserver-ca")
        for f in ("server.crt", "server.key"):
            if os.path.exists(os.path.join(d, f)):
                os.unlink(os.path.join(d, f))
    if not os.path.exists(os.path.join(d, "server.crt")):
        _mint_leaf(d, cnf, "server", "/CN=localhost", out["ca"], os.path.join(d, "ca.key"),
                   "server_ext")
    out["server_crt"] = os.path.join(d, "server.crt")
    out["server_key"] = os.path.join(d, "server.key")
    if not os.path.exists(os.path.join(d, "other-ca.crt")):
        _mint_ca(d, cnf, "other-ca", "unrelated-ca")
    out["other_ca"] = os.path.join(d, "other-ca.crt")
    if client_ca:
        if not os.path.exists(os.path.join(d, "client-ca.crt")):
            _mint_ca(d, cnf, "client-ca", "fake-kube-client-ca")
        subj = "".join("/O=" + g for g in client_groups) + "/CN=" + client_user
        _mint_leaf(d, cnf, "client", subj, os.path.join(d, "client-ca.crt"),
                   os.path.join(d, "client-ca.key"), "client_ext")
        out.update(client_ca=os.path.join(d, "client-ca.crt"),
                   client_crt=os.path.join(d, "client.crt"),
                   client_key=os.path.join(d, "client.key"))
    return out


# --------------------------------------------------------------------- selectors

class SelectorError(Exception):
    pass


_LABEL_KEY = re.compile(r"^([a-z0-9A-Z]([-a-z0-9A-Z_./]*[a-z0-9A-Z])?)$")


def parse_label_selector(text):
    """Parse a label selector into [(key, op, values)]; ops: = != in notin exists !exists
    gt lt."""
    reqs = []
    s = text or ""
    i, n = 0, len(s)

    def skip_ws():
        nonlocal i
        while i < n and s[i] == " ":
            i += 1

    def read_word():
        nonlocal i
        skip_ws()
        j = i
        while i < n and s[i] not in " ,=!()<>":
            i += 1
        return s[j:i]

    while True:
        skip_ws()
        if i >= n:
            break
        neg = False
        if s[i] == "!":
            neg = True
            i += 1
        key = read_word()
        if not key or not _LABEL_KEY.match(key):
            raise SelectorError("unable to parse requirement: invalid label key %r" % key)
        skip_ws()
        if neg:
            reqs.append((key, "!exists", []))
        elif i >= n or s[i] == ",":
            reqs.append((key, "exists", []))
        elif s.startswith("==", i) or s.startswith("!=", i):
            op = "=" if s[i] == "=" else "!="
            i += 2
            reqs.append((key, op, [read_word()]))
        elif s[i] == "=":
            i += 1
            reqs.append((key, "=", [read_word()]))
        elif s[i] in "<>":
            op = "gt" if s[i] == ">" else "lt"
            i += 1
            v = read_word()
            if not re.match(r"^-?\d+$", v):
                raise SelectorError("unable to parse requirement: for 'gt', 'lt' operators, "
                                    "the value must be an integer")
            reqs.append((key, op, [v]))
        else:
            word = read_word()
            if word not in ("in", "notin"):
                raise SelectorError("unable to parse requirement: found '%s', expected: "
                                    "in, notin, =, ==, !=, gt, lt" % word)
            skip_ws()
            if i >= n or s[i] != "(":
                raise SelectorError("unable to parse requirement: found '%s', expected: '('"
                                    % s[i:i + 1])
            i += 1
            vals = []
            while True:
                v = read_word()
                vals.append(v)
                skip_ws()
                if i < n and s[i] == ",":
                    i += 1
                    continue
                if i < n and s[i] == ")":
                    i += 1
                    break
                raise SelectorError("unable to parse requirement: found '%s', expected: ',', ')'"
                                    % s[i:i + 1])
            reqs.append((key, word, vals))
        skip_ws()
        if i < n:
            if s[i] != ",":
                raise SelectorError("unable to parse requirement: found '%s', expected: ','"
                                    % s[i])
            i += 1
            skip_ws()
            if i >= n:
                raise SelectorError("unable to parse requirement: found '', expected: "
                                    "identifier")
    return reqs


def label_match(reqs, labels):
    labels = labels or {}
    for key, op, vals in reqs:
        has = key in labels
        v = labels.get(key)
        if op == "exists" and not has:
            return False
        if op == "!exists" and has:
            return False
        if op == "=" and v != vals[0]:
            return False
        if op == "!=" and v == vals[0]:
            return False
        if op == "in" and v not in vals:
            return False
        if op == "notin" and v in vals:
            return False
        if op in ("gt", "lt"):
            if not has or not re.match(r"^-?\d+$", v):
                return False
            if op == "gt" and not int(v) > int(vals[0]):
                return False
            if op == "lt" and not int(v) < int(vals[0]):
                return False
    return True


def parse_field_selector(text, allowed=None):
    """[(field, op, value)] with op '=' or '!='; backslash escapes ',', '=', '\\'."""
    out = []
    if not text:
        return out
    terms, cur, esc = [], "", False
    for ch in text:
        if esc:
            cur += "\\" + ch
            esc = False
        elif ch == "\\":
            esc = True
        elif ch == ",":
            terms.append(cur)
            cur = ""
        else:
            cur += ch
    terms.append(cur)
    for t in terms:
        m = re.match(r"^([^=!]+?)\s*(==|!=|=)(.*)$", t)
        if not m:
            raise SelectorError("invalid selector: '%s'; can't understand '%s'" % (text, t))
        field, op, val = m.group(1).strip(), m.group(2), m.group(3)
        val = re.sub(r"\\(.)", r"\1", val)
        if allowed is not None and field not in allowed:
            raise SelectorError('field label not supported: %s' % field)
        out.append((field, "!=" if op == "!=" else "=", val))
    return out


def pod_field(pod, field):
    cur = pod
    for part in field.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    if field == "spec.hostNetwork":
        return "true" if cur else "false"
    if field == "spec.restartPolicy" and cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return "" if cur is None else str(cur)


def field_match(reqs, obj):
    for field, op, val in reqs:
        v = pod_field(obj, field)
        if (op == "=") != (v == val):
            return False
    return True


# ----------------------------------------------------------------------- patches

def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def strategic_merge_patch(target, patch):
    """Merge patch where lists of objects carrying "name" merge by name."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k.startswith("$"):
            continue
        if v is None:
            out.pop(k, None)
        elif (isinstance(v, list) and isinstance(out.get(k), list) and v
              and all(isinstance(e, dict) and "name" in e for e in v + out[k])):
            merged = [copy.deepcopy(e) for e in out[k]]
            for e in v:
                idx = next((j for j, o in enumerate(merged) if o["name"] == e["name"]), None)
                if e.get("$patch") == "delete":
                    if idx is not None:
                        merged.pop(idx)
                elif idx is None:
                    merged.append(copy.deepcopy(e))
                else:
                    merged[idx] = strategic_merge_patch(merged[idx], e)
            out[k] = merged
        else:
            out[k] = strategic_merge_patch(out.get(k), v)
    return out


def _ptr(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request("invalid JSON pointer %r" % path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc, parts):
    cur = doc
    for p in parts:
        if isinstance(cur, list):
            cur = cur[int(p)]
        else:
            cur = cur[p]
    return cur


def json_patch(doc, ops):
    """RFC 6902 JSON patch (add, remove, replace, move, copy, test)."""
    doc = copy.deepcopy(doc)
    if not isinstance(ops, list):
        raise bad_request("json patch must be a list of operations")
    for op in ops:
        try:
            kind = op["op"]
            parts = _ptr(op["path"])
            if kind in ("move", "copy"):
                val = copy.deepcopy(_walk(doc, _ptr(op["from"])))
                if kind == "move":
                    fp = _ptr(op["from"])
                    par = _walk(doc, fp[:-1])
                    if isinstance(par, list):
                        par.pop(int(fp[-1]))
                    else:
                        del par[fp[-1]]
                kind = "add"
            else:
                val = copy.deepcopy(op.get("value"))
            if kind == "test":
                if _walk(doc, parts) != val:
                    raise ApiError(422, "the server rejected our request due to an error in "
                                   "our request: testing value %s failed" % op["path"],
                                   "Invalid")
                continue
            if not parts:
                if kind in ("add", "replace"):
                    doc = val
                    continue
                raise bad_request("cannot remove the root")
            par = _walk(doc, parts[:-1])
            last = parts[-1]
            if kind == "add":
                if isinstance(par, list):
                    par.insert(len(par) if last == "-" else int(last), val)
                else:
                    par[last] = val
            elif kind == "remove":
                if isinstance(par, list):
                    par.pop(int(last))
                else:
                    del par[last]
            elif kind == "replace":
                if isinstance(par, list):
                    par[int(last)] = val
                else:
                    if last not in par:
                        raise KeyError(last)
                    par[last] = val
            else:
                raise bad_request("Unexpected kind: %s" % kind)
        except ApiError:
            raise
        except (KeyError, IndexError, ValueError, TypeError) as e:
            raise ApiError(422, "the server rejected our request due to an error in our "
                           "request: %s" % e, "Invalid") from None
    return doc


# ------------------------------------------------------------------------- store

class Watcher:
    def __init__(self, handler):
        self.handler = handler
        self.cut = False
        self.killed = False


class Store:
    """All state, guarded by one lock; self.cond is notified on every change."""

    def __init__(self, history_size=1000):
        self.cond = threading.Condition(threading.RLock())
        self.rv = 1
        self.pods = {}
        self.namespaces = {}
        self.events = {}            # (group, ns, name) -> event
        self.hist = []              # (rv, type, old, new)
        self.hist_rvs = []
        self.history_size = history_size
        self.compacted_rv = 0       # events with rv <= this are gone
        self.watchers = set()
        self.closing = False
        self.ser_cache = {}         # id(obj) -> (obj, JSON bytes); stored objects never mutate
        for ns in DEFAULT_NAMESPACES:
            self.ensure_namespace(ns)

    def next_rv(self):
        self.rv += 1
        return self.rv

    def ensure_namespace(self, ns):
        with self.cond:
            if ns not in self.namespaces:
                self.namespaces[ns] = {
                    "kind": "Namespace", "apiVersion": "v1",
                    "metadata": {"name": ns, "uid": str(uuid.uuid4()),
                                 "resourceVersion": str(self.next_rv()),
                                 "creationTimestamp": now_rfc3339(),
                                 "labels": {"kubernetes.io/metadata.name": ns}},
                    "spec": {"finalizers": ["kubernetes"]},
                    "status": {"phase": "Active"}}
            return self.namespaces[ns]

    def record(self, etype, old, new):
        rv = int((new or old)["metadata"]["resourceVersion"])
        self.hist.append((rv, etype, old, new))
        self.hist_rvs.append(rv)
        excess = len(self.hist) - self.history_size
        if excess > 0:
            self.compacted_rv = max(self.compacted_rv, self.hist_rvs[excess - 1])
            del self.hist[:excess]
            del self.hist_rvs[:excess]
        self.cond.notify_all()

    def ser(self, obj):
        """Compact JSON of a stored (immutable) object, cached."""
        with self.cond:
            hit = self.ser_cache.get(id(obj))
            if hit is not None and hit[0] is obj:
                return hit[1]
            data = json.dumps(obj, separators=(",", ":")).encode()
            if len(self.ser_cache) > 2 * (len(self.pods) + len(self.hist)) + 256:
                live = {id(o): o for o in self.pods.values()}
                for _, _, old, new in self.hist:
                    for o in (old, new):
                        if o is not None:
                            live[id(o)] = o
                self.ser_cache = {k: v for k, v in self.ser_cache.items()
                                  if live.get(k) is v[0]}
            self.ser_cache[id(obj)] = (obj, data)
            return data

    def events_after(self, rv):
        i = bisect.bisect_right(self.hist_rvs, rv)
        return self.hist[i:]

    def put_pod(self, pod, etype=None):
        """Store pod (already carrying its new resourceVersion), record the event."""
        meta = pod["metadata"]
        key = (meta["namespace"], meta["name"])
        old = self.pods.get(key)
        self.pods[key] = pod
        self.record(etype or ("MODIFIED" if old else "ADDED"), old, pod)

    def remove_pod(self, key):
        old = self.pods.pop(key)
        gone = copy.deepcopy(old)
        gone["metadata"]["resourceVersion"] = str(self.next_rv())
        self.record("DELETED", old, gone)
        return gone

    def expire(self, kill_watches=False):
        with self.cond:
            self.compacted_rv = self.rv
            self.hist.clear()
            self.hist_rvs.clear()
            if kill_watches:
                for w in self.watchers:
                    w.killed = True
            self.cond.notify_all()


def new_pod_meta(store, pod, namespace=None, copy_pod=True):
    pod = copy.deepcopy(pod) if copy_pod else dict(pod, metadata=dict(pod.get("metadata") or {}))
    pod.setdefault("kind", "Pod")
    pod.setdefault("apiVersion", "v1")
    meta = pod.setdefault("metadata", {})
    if namespace:
        meta["namespace"] = namespace
    meta.setdefault("namespace", "default")
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = meta["generateName"] + "".join(
            random.choice(string.ascii_lowercase + string.digits) for _ in range(5))
    meta["uid"] = meta.get("uid") or str(uuid.uuid4())
    if not meta.get("creationTimestamp"):
        meta["creationTimestamp"] = now_rfc3339()
    meta["resourceVersion"] = str(store.next_rv())
    pod.setdefault("spec", {})
    pod.setdefault("status", {"phase": "Pending", "qosClass": "BestEffort"})
    return pod


# ---------------------------------------------------------------------- handler

class _Abort(Exception):
    """Close the connection without answering."""


def _chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


class ApiHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube-apiserver"
    sys_version = ""
    timeout = 120

    # -- plumbing -------------------------------------------------------------
    def setup(self):
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (ssl.SSLError, OSError):
                self.close_connection = True
                self._handshake_failed = True
                return
        self._handshake_failed = False

    def handle(self):
        if getattr(self, "_handshake_failed", False):
            return
        try:
            super().handle()
        except (ConnectionError, ssl.SSLError, socket.timeout, TimeoutError):
            pass

    def log_message(self, fmt, *args):  # quiet; the request log is the record
        pass

    def _method(self):
        self.api = self.server.api
        self.t0 = time.monotonic()
        self.entry = None
        try:
            self.dispatch()
        except _Abort:
            self.close_connection = True
            self._log(0)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _method

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline(65537)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _log(self, status):
        api = self.api
        hdrs = {}
        for k, v in self.headers.items():
            if k.lower() == "authorization":
                v = (v.split(" ", 1)[0] + " <redacted>") if v else "<redacted>"
            hdrs[k] = v
        u = urllib.parse.urlsplit(self.path)
        entry = {"time": time.time(), "method": self.command, "path": u.path,
                 "query": u.query,
                 "params": {k: v[0] for k, v in urllib.parse.parse_qs(
                     u.query, keep_blank_values=True).items()},
                 "headers": hdrs, "status": status,
                 "user": getattr(self, "user", None), "verb": getattr(self, "verb", None),
                 "duration": round(time.monotonic() - self.t0, 6)}
        body = getattr(self, "body", b"")
        if body:
            entry["body"] = body[:65536].decode("utf-8", errors="replace")
        with api.lock:
            api.request_log.append(entry)

    def _headers(self, code, ctype, length=None, extra=None):
        self.send_response(code)
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Type", ctype)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.send_header("X-Kubernetes-Pf-Flowschema-Uid", self.api.flowschema_uid)
        self.send_header("X-Kubernetes-Pf-Prioritylevel-Uid", self.api.prioritylevel_uid)
        for k, v in (extra or {}).items():
            self.send_header(k, str(v))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def send_json(self, code, obj, extra=None):
        data = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
        self._log(code)     # before answering: a client that got the answer sees the entry
        self._headers(code, "application/json", len(data), extra)
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()

    def send_raw_json(self, code, data):
        self._log(code)
        self._headers(code, "application/json", len(data))
        self.wfile.write(data)
        self.wfile.flush()

    def send_text(self, code, text):
        data = text.encode()
        self._log(code)
        self._headers(code, "text/plain; charset=utf-8", len(data),
                      {"X-Content-Type-Options": "nosniff"})
        self.wfile.write(data)
        self.wfile.flush()

    def send_error_status(self, err):
        self.send_json(err.code, err.status, err.headers)

    # -- request pipeline -----------------------------------------------------
    def dispatch(self):
        api = self.api
        self.user = None
        self.verb = None
        u = urllib.parse.urlsplit(self.path)
        self.url_path = u.path
        self.params = {k: v[-1] for k, v in urllib.parse.parse_qs(
            u.query, keep_blank_values=True).items()}
        self.body = self._read_body()
        route = self.route()      # (verb, ns, resource, group, name, sub) or error
        if isinstance(route, tuple):
            self.verb = route[0]
        api.apply_faults(self, "latency")
        if api.apply_faults(self, "drop"):
            raise _Abort()
        failing = api.apply_faults(self, "fail")
        if failing:
            return self.send_error_status(failing)
        try:
            self.user = api.authenticate(self)
            if self.user is None:
                raise ApiError(401, "Unauthorized", "Unauthorized")
            if isinstance(route, ApiError):
                raise route
            if route == "text404":
                return self.send_text(404, "404 page not found\n")
            verb, ns, resource, group, name, sub = route
            if verb is None:
                return self.discovery(resource)
            api.authorize(self.user, verb, ns, resource, group, name, sub)
            accept = self.headers.get("Accept", "")
            if accept and not any(t in accept for t in ("json", "*/*", "application/*")):
                raise ApiError(406, "only the following media types are accepted: "
                               "application/json, application/yaml, "
                               "application/vnd.kubernetes.protobuf", "NotAcceptable")
            handler = getattr(self, "h_%s_%s" % (resource, verb))
            handler(ns, group, name, sub)
        except ApiError as e:
            self.send_error_status(e)

    def route(self):
        """Map method + path onto (verb, namespace, resource, group, name, subresource)."""
        p = [x for x in self.url_path.split("/") if x]
        m = self.command
        if self.url_path in ("/api", "/apis", "/version", "/healthz", "/livez", "/readyz"):
            if m != "GET":
                return ApiError(405, "the server does not allow this method on the requested "
                                "resource", "MethodNotAllowed", {})
            return (None, None, self.url_path, None, None, None)
        if p[:2] == ["api", "v1"]:
            group, rest = "", p[2:]
        elif p[:3] == ["apis", "events.k8s.io", "v1"]:
            group, rest = "events.k8s.io", p[3:]
        elif p and p[0] in ("api", "apis"):
            return ApiError(404, "the server could not find the requested resource",
                            "NotFound", {})
        else:
            return "text404"
        watch_path = False
        if rest[:1] == ["watch"]:
            watch_path, rest = True, rest[1:]
        ns = None
        if rest[:1] == ["namespaces"] and len(rest) >= 3:
            ns, rest = rest[1], rest[2:]
        elif rest[:1] == ["namespaces"] and group == "":
            # the namespaces resource itself
            name = rest[1] if len(rest) == 2 else None
            if len(rest) > 2:
                return ApiError(404, "the server could not find the requested resource",
                                "NotFound", {})
            verb = self._verb(name is not None, watch_path, item_verbs=("get",),
                              coll_verbs=("list",))
            if isinstance(verb, ApiError):
                return verb
            return (verb, None, "namespaces", "", name, None)
        if not rest:
            return ApiError(404, "the server could not find the requested resource",
                            "NotFound", {})
        resource, rest = rest[0], rest[1:]
        known = {"": ("pods", "events"), "events.k8s.io": ("events",)}[group]
        if resource not in known or len(rest) > 2:
            return ApiError(404, "the server could not find the requested resource",
                            "NotFound", {})
        name = rest[0] if rest else None
        sub = rest[1] if len(rest) > 1 else None
        if sub is not None and not (resource == "pods" and sub == "status"):
            return ApiError(404, "the server could not find the requested resource",
                            "NotFound", {})
        if sub == "status":
            verb = self._verb(True, False, item_verbs=("get", "patch", "update"), coll_verbs=())
        elif ns is None and name is None:
            # cluster-wide collections of namespaced resources: list and watch only
            verb = self._verb(False, watch_path, coll_verbs=("list", "watch")
                              if resource == "pods" else ("list",))
        elif resource == "pods":
            verb = self._verb(name is not None, watch_path)
        else:
            verb = self._verb(name is not None, watch_path,
                              item_verbs=("get", "patch", "update", "delete"),
                              coll_verbs=("list", "create"))
        if isinstance(verb, ApiError):
            return verb
        return (verb, ns, resource, group, name, sub)

    def _verb(self, item, watch_path, item_verbs=("get", "patch", "update", "delete"),
              coll_verbs=("list", "watch", "create", "deletecollection")):
        m = self.command
        if m == "GET" and (watch_path or self.params.get("watch") in ("true", "1")):
            verb, ok = "watch", "watch" in coll_verbs
        elif item:
            verb = {"GET": "get", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}.get(m)
            ok = verb in item_verbs
        else:
            verb = {"GET": "list", "POST": "create", "DELETE": "deletecollection"}.get(m)
            ok = verb in coll_verbs
        if not ok:
            return ApiError(405, "the server does not allow this method on the requested "
                            "resource", "MethodNotAllowed", {})
        return verb

    def discovery(self, path):
        if path in ("/healthz", "/livez", "/readyz"):
            return self.send_text(200, "ok")
        if path == "/version":
            return self.send_json(200, {
                "major": "1", "minor": "31", "gitVersion": "v1.31.0-fake",
                "gitCommit": "0" * 40, "gitTreeState": "clean",
                "buildDate": "2024-08-13T07:28:49Z", "goVersion": "go1.22.5",
                "compiler": "gc", "platform": "linux/amd64"})
        if path == "/api":
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                        "serverAddressByClientCIDRs": [
                                            {"clientCIDR": "0.0.0.0/0",
                                             "serverAddress": "127.0.0.1:%d"
                                             % self.api.port}]})
        return self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": "events.k8s.io",
             "versions": [{"groupVersion": "events.k8s.io/v1", "version": "v1"}],
             "preferredVersion": {"groupVersion": "events.k8s.io/v1", "version": "v1"}}]})

    # -- helpers --------------------------------------------------------------
    def json_body(self, what="the body of the request"):
        try:
            obj = json.loads(self.body.decode("utf-8")) if self.body else None
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise bad_request("%s was in an unknown format - accepted media types include: "
                              "application/json, application/yaml, "
                              "application/vnd.kubernetes.protobuf (%s)" % (what, e)) from None
        return obj

    def selectors(self, resource="pods"):
        try:
            labels = parse_label_selector(self.params.get("labelSelector", ""))
            allowed = POD_FIELDS if resource == "pods" else None
            fields = parse_field_selector(self.params.get("fieldSelector", ""), allowed)
        except SelectorError as e:
            raise bad_request(str(e)) from None
        return labels, fields

    def matcher(self, ns, labels, fields):
        def match(obj):
            if obj is None:
                return False
            meta = obj["metadata"]
            if ns and meta.get("namespace") != ns:
                return False
            return label_match(labels, meta.get("labels")) and field_match(fields, obj)
        return match

    def _rv_param(self, name="resourceVersion"):
        v = self.params.get(name)
        if v in (None, ""):
            return None
        try:
            r = int(v)
            if r < 0:
                raise ValueError
            return r
        except ValueError:
            raise bad_request("invalid resource version: %s" % v) from None

    def gone(self, rv, store):
        return ApiError(410, "too old resource version: %d (%d)" % (rv, store.compacted_rv + 1),
                        self.api.gone_reason)

    # -- pods -----------------------------------------------------------------
    def h_pods_get(self, ns, group, name, sub):
        st = self.api.store
        with st.cond:
            pod = st.pods.get((ns, name))
        if pod is None:
            raise not_found("pods", "", name)
        self.send_json(200, pod)

    def h_pods_list(self, ns, group, name, sub):
        st = self.api.store
        labels, fields = self.selectors()
        match = self.matcher(ns, labels, fields)
        rv = self._rv_param()
        limit = int(self.params.get("limit") or 0)
        cont = self.params.get("continue")
        start_key = None
        if cont:
            try:
                c = json.loads(base64.b64decode(cont))
                start_key, list_rv = tuple(c["start"]), int(c["rv"])
            except (ValueError, KeyError, TypeError):
                raise bad_request("continue key is not valid: incorrect encoded start "
                                  "resourceVersion (version meta.k8s.io/v1)") from None
            with st.cond:
                if list_rv < st.compacted_rv:
                    raise ApiError(410, "The provided continue parameter is too old to display "
                                   "a consistent list result. You can start a new list without "
                                   "the continue parameter.", "Expired")
        if rv is not None and rv > 0:
            deadline = time.monotonic() + self.api.list_rv_wait
            with st.cond:
                while st.rv < rv and time.monotonic() < deadline:
                    st.cond.wait(0.05)
                if st.rv < rv:
                    raise ApiError(504, "Too large resource version: %d, current: %d"
                                   % (rv, st.rv), "Timeout",
                                   {"causes": [{"reason": "ResourceVersionTooLarge",
                                                "message": "Too large resource version"}],
                                    "retryAfterSeconds": 1})
                if (self.params.get("resourceVersionMatch") == "Exact"
                        and rv < st.compacted_rv):
                    raise self.gone(rv, st)
        with st.cond:
            keys = sorted(st.pods)
            items = [st.pods[k] for k in keys if (start_key is None or k > start_key)
                     and match(st.pods[k])]
            cur_rv = st.rv if not cont else list_rv
        meta = {"resourceVersion": str(cur_rv)}
        if limit > 0 and len(items) > limit:
            last = items[limit - 1]["metadata"]
            meta["continue"] = base64.b64encode(json.dumps(
                {"v": "meta.k8s.io/v1", "rv": cur_rv,
                 "start": [last["namespace"], last["name"]]}).encode()).decode()
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        head = json.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": meta},
                          separators=(",", ":")).encode()
        data = head[:-1] + b',"items":[' + b",".join(st.ser(p) for p in items) + b"]}\n"
        self.send_raw_json(200, data)

    def h_pods_watch(self, ns, group, name, sub):
        labels, fields = self.selectors()
        if name:
            fields = fields + [("metadata.name", "=", name)]
        self.serve_watch(self.matcher(ns, labels, fields), lambda st: st.pods, "Pod")

    def serve_watch(self, match, objects, kind):
        api, st = self.api, self.api.store
        rv = self._rv_param()
        bookmarks = self.params.get("allowWatchBookmarks") in ("true", "1")
        timeout = self.params.get("timeoutSeconds")
        limit_s = float(timeout) if timeout not in (None, "") else None
        if api.watch_max_seconds:
            limit_s = min(limit_s or api.watch_max_seconds, api.watch_max_seconds)
        deadline = time.monotonic() + limit_s if limit_s else None
        cut_rule = api.apply_faults(self, "cut")
        cut_after = cut_rule.get("after_events", 0) if cut_rule else None
        initial, expired = [], None
        with st.cond:
            if rv is None or rv == 0:
                initial = [o for _, o in sorted(objects(st).items()) if match(o)]
                pos = st.rv
            elif rv < st.compacted_rv:
                expired = self.gone(rv, st)
                pos = rv
            else:
                pos = rv
        if expired is not None and api.gone_mode == "http":
            raise expired
        w = Watcher(self)
        self._log(200)
        self._headers(200, "application/json", None, {"Transfer-Encoding": "chunked"})
        sent = 0

        def emit(etype, obj, stored=False):
            nonlocal sent
            if cut_after is not None and sent >= cut_after:
                raise _Abort()
            body = st.ser(obj) if stored else json.dumps(obj, separators=(",", ":")).encode()
            line = b'{"type":"%s","object":%s}\n' % (etype.encode(), body)
            self.wfile.write(_chunk(line))
            self.wfile.flush()
            sent += 1

        with st.cond:
            st.watchers.add(w)
        try:
            if expired is not None:
                emit("ERROR", expired.status)
                return self._end_chunked()
            for o in initial:
                emit("ADDED", o, True)
            if cut_after is not None and sent >= cut_after:
                raise _Abort()
            next_bm = time.monotonic() + api.bookmark_interval
            while True:
                out, end = [], None
                with st.cond:
                    while True:
                        now = time.monotonic()
                        if self._client_gone():
                            end = "cut"
                        elif st.closing:
                            end = "close"
                        elif w.cut:
                            end = "cut"
                        elif w.killed or pos < st.compacted_rv:
                            end = "gone"
                        elif st.hist_rvs and st.hist_rvs[-1] > pos:
                            break
                        elif deadline is not None and now >= deadline:
                            end = "timeout"
                        elif bookmarks and now >= next_bm:
                            break
                        if end:
                            break
                        waits = [1.0]
                        if deadline is not None:
                            waits.append(deadline - now)
                        if bookmarks:
                            waits.append(next_bm - now)
                        st.cond.wait(max(0.001, min(waits)))
                    if end == "gone":
                        gone_err = self.gone(pos, st)
                    elif end is None:
                        for erv, etype, old, new in st.events_after(pos):
                            ev = self._filter_event(etype, old, new, match)
                            if ev:
                                out.append(ev + (ev[1] is new,))
                        pos = st.rv
                        if bookmarks and time.monotonic() >= next_bm:
                            out.append(("BOOKMARK", {"kind": kind, "apiVersion": "v1",
                                                     "metadata": {"resourceVersion":
                                                                  str(pos)}}, False))
                            next_bm = time.monotonic() + api.bookmark_interval
                if end == "cut":
                    raise _Abort()
                if end == "gone":
                    emit("ERROR", gone_err.status)
                    return self._end_chunked()
                if end in ("timeout", "close"):
                    return self._end_chunked()
                for etype, obj, stored in out:
                    emit(etype, obj, stored)
        except _Abort:
            self._abort_socket()
        finally:
            with st.cond:
                st.watchers.discard(w)

    @staticmethod
    def _filter_event(etype, old, new, match):
        if etype == "ADDED":
            return ("ADDED", new) if match(new) else None
        if etype == "DELETED":
            return ("DELETED", new) if match(old) else None
        mo, mn = match(old), match(new)
        if mo and mn:
            return ("MODIFIED", new)
        if mn:
            return ("ADDED", new)
        if mo:
            gone = copy.deepcopy(old)
            gone["metadata"]["resourceVersion"] = new["metadata"]["resourceVersion"]
            return ("DELETED", gone)
        return None

    def _client_gone(self):
        """A watch client sends nothing; readability means it closed (or sent close_notify)."""
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(r)

    def _end_chunked(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _abort_socket(self):
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _delete_options(self):
        opts = self.json_body("DeleteOptions") or {}
        if not isinstance(opts, dict):
            raise bad_request("DeleteOptions must be an object")
        if "gracePeriodSeconds" in self.params:
            opts["gracePeriodSeconds"] = int(self.params["gracePeriodSeconds"])
        return opts

    def h_pods_delete(self, ns, group, name, sub):
        api, st = self.api, self.api.store
        opts = self._delete_options()
        pre = opts.get("preconditions") or {}
        with st.cond:
            pod = st.pods.get((ns, name))
            if pod is None:
                raise not_found("pods", "", name)
            meta = pod["metadata"]
            if pre.get("uid") and pre["uid"] != meta["uid"]:
                raise conflict("pods", "", name, "Precondition failed: UID in precondition: "
                               "%s, UID in object meta: %s" % (pre["uid"], meta["uid"]))
            if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
                raise conflict("pods", "", name, "Precondition failed: ResourceVersion in "
                               "precondition: %s, ResourceVersion in object meta: %s"
                               % (pre["resourceVersion"], meta["resourceVersion"]))
            grace = opts.get("gracePeriodSeconds")
            if api.graceful_delete and grace != 0 and pod["spec"].get("nodeName"):
                if meta.get("deletionTimestamp"):
                    return self.send_json(200, pod)
                new = copy.deepcopy(pod)
                new["metadata"]["deletionTimestamp"] = now_rfc3339()
                new["metadata"]["deletionGracePeriodSeconds"] = (
                    grace if grace is not None else pod["spec"].get(
                        "terminationGracePeriodSeconds", 30))
                new["metadata"]["resourceVersion"] = str(st.next_rv())
                st.put_pod(new)
                return self.send_json(200, new)
            gone = st.remove_pod((ns, name))
        self.send_json(200, gone)

    def h_pods_deletecollection(self, ns, group, name, sub):
        st = self.api.store
        labels, fields = self.selectors()
        match = self.matcher(ns, labels, fields)
        with st.cond:
            gone = [st.remove_pod(k) for k in sorted(st.pods) if match(st.pods[k])]
            rv = st.rv
        self.send_json(200, {"kind": "PodList", "apiVersion": "v1",
                             "metadata": {"resourceVersion": str(rv)}, "items": gone})

    def _patch_doc(self, current):
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype not in PATCH_TYPES:
            raise ApiError(415, "the body of the request was in an unknown format - accepted "
                           "media types include: application/json-patch+json, "
                           "application/merge-patch+json, application/apply-patch+yaml, "
                           "application/strategic-merge-patch+json", "UnsupportedMediaType")
        patch = self.json_body()
        if ctype == "application/json-patch+json":
            return json_patch(current, patch)
        if not isinstance(patch, dict):
            raise bad_request("the body of the request must be a JSON object for a merge patch")
        if ctype == "application/merge-patch+json":
            return merge_patch(current, patch)
        return strategic_merge_patch(current, patch)

    def _commit_pod_update(self, st, old, new, sub, name, require_rv):
        """Validate and store new as the next version of old; return what is stored."""
        nm, om = new.get("metadata") or {}, old["metadata"]
        if nm.get("name", name) != name:
            raise bad_request("the name of the object (%s) does not match the name on the URL "
                              "(%s)" % (nm.get("name"), name))
        if nm.get("namespace", om["namespace"]) != om["namespace"]:
            raise bad_request("the namespace of the provided object does not match the "
                              "namespace sent on the request")
        rv = nm.get("resourceVersion")
        if require_rv and not rv:
            raise invalid("Pod", "", name, [("metadata.resourceVersion",
                                             "Invalid value: 0x0: must be specified for an "
                                             "update")], "pods")
        if rv and rv != om["resourceVersion"]:
            raise conflict("pods", "", name, "the object has been modified; please apply your "
                           "changes to the latest version and try again")
        for f in ("uid", "creationTimestamp"):
            if nm.get(f, om.get(f)) != om.get(f):
                raise invalid("Pod", "", name, [("metadata.%s" % f, "Invalid value: %s: field "
                                                 "is immutable" % json.dumps(nm.get(f)))],
                              "pods")
        new = copy.deepcopy(new)
        new["kind"], new["apiVersion"] = "Pod", "v1"
        for f in ("name", "namespace", "uid", "creationTimestamp", "resourceVersion"):
            new["metadata"][f] = om.get(f)
        if sub == "status":
            new["spec"] = old["spec"]
            new["metadata"]["ownerReferences"] = om.get("ownerReferences")
            if new["metadata"]["ownerReferences"] is None:
                del new["metadata"]["ownerReferences"]
        else:
            new["status"] = old.get("status")

            def masked(spec):
                s = copy.deepcopy(spec or {})
                for key in ("containers", "initContainers"):
                    for c in s.get(key, []):
                        c.pop("image", None)
                s.pop("activeDeadlineSeconds", None)
                s.pop("tolerations", None)
                return s
            if masked(new.get("spec")) != masked(old.get("spec")):
                raise invalid("Pod", "", name, [("spec", "Forbidden: pod updates may not "
                                                 "change fields other than "
                                                 "`spec.containers[*].image`,"
                                                 "`spec.initContainers[*].image`,"
                                                 "`spec.activeDeadlineSeconds`,"
                                                 "`spec.tolerations` (only additions to "
                                                 "existing tolerations)")], "pods")
        if new == old:
            return old
        new["metadata"]["resourceVersion"] = str(st.next_rv())
        st.put_pod(new)
        return new

    def h_pods_patch(self, ns, group, name, sub):
        st = self.api.store
        with st.cond:
            pod = st.pods.get((ns, name))
            if pod is None:
                raise not_found("pods", "", name)
            new = self._patch_doc(pod)
            if not isinstance(new, dict):
                raise bad_request("patched object is not a JSON object")
            stored = self._commit_pod_update(st, pod, new, sub, name, False)
        self.send_json(200, stored)

    def h_pods_update(self, ns, group, name, sub):
        st = self.api.store
        body = self.json_body()
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a Pod object")
        with st.cond:
            pod = st.pods.get((ns, name))
            if pod is None:
                raise not_found("pods", "", name)
            stored = self._commit_pod_update(st, pod, body, sub, name, True)
        self.send_json(200, stored)

    def h_pods_create(self, ns, group, name, sub):
        st = self.api.store
        body = self.json_body()
        if not isinstance(body, dict) or body.get("kind", "Pod") != "Pod":
            raise bad_request("the body of the request must be a Pod object")
        meta = body.get("metadata") or {}
        if meta.get("namespace") and meta["namespace"] != ns:
            raise bad_request("the namespace of the provided object does not match the "
                              "namespace sent on the request")
        if not meta.get("name") and not meta.get("generateName"):
            raise invalid("Pod", "", "", [("metadata.name", "Required value: name or "
                                           "generateName is required")], "pods")
        with st.cond:
            if ns not in st.namespaces:
                raise not_found("namespaces", "", ns)
            if meta.get("name") and (ns, meta["name"]) in st.pods:
                raise ApiError(409, 'pods "%s" already exists' % meta["name"], "AlreadyExists",
                               _details("pods", "", meta["name"]))
            body = dict(body, metadata=dict(meta, uid=None, resourceVersion=None,
                                            creationTimestamp=None))
            pod = new_pod_meta(st, body, ns)
            st.put_pod(pod, "ADDED")
        self.send_json(201, pod)

    # -- namespaces -----------------------------------------------------------
    def h_namespaces_get(self, ns, group, name, sub):
        with self.api.store.cond:
            obj = self.api.store.namespaces.get(name)
        if obj is None:
            raise not_found("namespaces", "", name)
        self.send_json(200, obj)

    def h_namespaces_list(self, ns, group, name, sub):
        st = self.api.store
        with st.cond:
            items = [st.namespaces[k] for k in sorted(st.namespaces)]
            rv = st.rv
        self.send_json(200, {"kind": "NamespaceList", "apiVersion": "v1",
                             "metadata": {"resourceVersion": str(rv)}, "items": items})

    # -- events ---------------------------------------------------------------
    def h_events_create(self, ns, group, name, sub):
        st = self.api.store
        body = self.json_body()
        api_version = "events.k8s.io/v1" if group else "v1"
        if not isinstance(body, dict) or body.get("kind", "Event") != "Event":
            raise bad_request("the body of the request must be an Event object")
        meta = body.get("metadata") or {}
        if meta.get("namespace") and meta["namespace"] != ns:
            raise bad_request("the namespace of the provided object does not match the "
                              "namespace sent on the request")
        if not meta.get("name") and not meta.get("generateName"):
            raise invalid("Event", group, "", [("metadata.name", "Required value: name or "
                                                "generateName is required")], "events")
        with st.cond:
            if ns not in st.namespaces:
                raise not_found("namespaces", "", ns)
            ev = copy.deepcopy(body)
            ev["kind"], ev["apiVersion"] = "Event", api_version
            m = ev.setdefault("metadata", {})
            m["namespace"] = ns
            if not m.get("name"):
                m["name"] = m["generateName"] + "".join(
                    random.choice(string.ascii_lowercase + string.digits) for _ in range(5))
            key = (group, ns, m["name"])
            if key in st.events:
                raise ApiError(409, '%s "%s" already exists' % (_gr("events", group),
                                                                m["name"]),
                               "AlreadyExists", _details("events", group, m["name"]))
            m["uid"] = str(uuid.uuid4())
            m["resourceVersion"] = str(st.next_rv())
            m["creationTimestamp"] = now_rfc3339()
            st.events[key] = ev
        self.send_json(201, ev)

    def _event(self, ns, group, name):
        ev = self.api.store.events.get((group, ns, name))
        if ev is None:
            raise not_found("events", group, name)
        return ev

    def h_events_get(self, ns, group, name, sub):
        with self.api.store.cond:
            ev = self._event(ns, group, name)
        self.send_json(200, ev)

    def h_events_list(self, ns, group, name, sub):
        st = self.api.store
        labels, fields = self.selectors("events")
        match = self.matcher(ns, labels, fields)
        with st.cond:
            items = [e for k, e in sorted(st.events.items()) if k[0] == group and match(e)]
            rv = st.rv
        self.send_json(200, {"kind": "EventList", "apiVersion": "events.k8s.io/v1"
                             if group else "v1", "metadata": {"resourceVersion": str(rv)},
                             "items": items})

    def h_events_patch(self, ns, group, name, sub):
        st = self.api.store
        with st.cond:
            ev = self._event(ns, group, name)
            new = self._patch_doc(ev)
            new["metadata"] = dict(new.get("metadata") or {}, name=name, namespace=ns,
                                   uid=ev["metadata"]["uid"],
                                   creationTimestamp=ev["metadata"]["creationTimestamp"],
                                   resourceVersion=str(st.next_rv()))
            st.events[(group, ns, name)] = new
        self.send_json(200, new)

    def h_events_update(self, ns, group, name, sub):
        st = self.api.store
        body = self.json_body()
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be an Event object")
        with st.cond:
            ev = self._event(ns, group, name)
            rv = (body.get("metadata") or {}).get("resourceVersion")
            if rv and rv != ev["metadata"]["resourceVersion"]:
                raise conflict("events", group, name, "the object has been modified; please "
                               "apply your changes to the latest version and try again")
            new = copy.deepcopy(body)
            new["metadata"] = dict(new.get("metadata") or {}, name=name, namespace=ns,
                                   uid=ev["metadata"]["uid"],
                                   creationTimestamp=ev["metadata"]["creationTimestamp"],
                                   resourceVersion=str(st.next_rv()))
            st.events[(group, ns, name)] = new
        self.send_json(200, new)

    def h_events_delete(self, ns, group, name, sub):
        st = self.api.store
        with st.cond:
            self._event(ns, group, name)
            del st.events[(group, ns, name)]
        self.send_json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                             "status": "Success",
                             "details": _details("events", group, name)})


# ----------------------------------------------------------------------- servers

class _ApiHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, api, ssl_ctx, family):
        self.address_family = family
        self.api = api
        self.ssl_ctx = ssl_ctx
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_ctx is not None:
            sock = self.ssl_ctx.wrap_socket(sock, server_side=True,
                                            do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        pass


class ControlHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _reply(self, code, obj):
        data = json.dumps(obj).encode() + b"\n"
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _method(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            body = json.loads(raw) if raw else None
            code, out = self.server.api.control(self.command, urllib.parse.urlsplit(
                self.path).path, body)
        except ApiError as e:
            code, out = e.code, e.status
        except (ValueError, KeyError, TypeError) as e:
            code, out = 400, {"error": "%s: %s" % (type(e).__name__, e)}
        self._reply(code, out)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _method


class FakeApiServer:
    """The fake API server; in-process methods mirror the control API."""

    def __init__(self, directory, *, tls=True, client_ca=False,
                 client_cert_user="system:serviceaccount:istio-system:istio-cni",
                 host="127.0.0.1", port=0, control_port=None, tokens=None, rbac=None,
                 history_size=1000, bookmark_interval=60.0, gone_mode="event",
                 gone_reason="Expired", watch_max_seconds=None, graceful_delete=False,
                 list_rv_wait=3.0):
        self.dir = os.path.abspath(directory)
        self.tls = tls
        self.host = host
        self.lock = threading.Lock()
        self.store = Store(history_size)
        self.tokens = dict(tokens) if tokens is not None else {"admin-token": "admin"}
        self.rbac = {}
        for user, perms in (rbac if rbac is not None else {"admin": ["*"]}).items():
            self.set_rbac(user, perms)
        self.faults = []
        self.request_log = []
        self.bookmark_interval = bookmark_interval
        self.gone_mode = gone_mode
        self.gone_reason = gone_reason
        self.watch_max_seconds = watch_max_seconds
        self.graceful_delete = graceful_delete
        self.list_rv_wait = list_rv_wait
        self.flowschema_uid = str(uuid.uuid4())
        self.prioritylevel_uid = str(uuid.uuid4())
        self.pki = mint_pki(self.dir, client_ca, client_cert_user) if tls else {}
        ctx = None
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(self.pki["server_crt"], self.pki["server_key"])
            # Go's crypto/tls (the kube-apiserver's) sends one TLS 1.3 session
            # ticket after the handshake; OpenSSL's default is two.
            ctx.num_tickets = 1
            if client_ca:
                ctx.verify_mode = ssl.CERT_OPTIONAL
                ctx.load_verify_locations(self.pki["client_ca"])
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.httpd = _ApiHTTPServer((host, port), ApiHandler, self, ctx, family)
        self.port = self.httpd.server_address[1]
        self.control_httpd = None
        if control_port is not None:
            self.control_httpd = http.server.ThreadingHTTPServer(("127.0.0.1", control_port),
                                                                 ControlHandler)
            self.control_httpd.daemon_threads = True
            self.control_httpd.api = self
        self.threads = []

    # -- lifecycle --------------------------------------------------------------
    @property
    def url(self):
        h = "[%s]" % self.host if ":" in self.host else self.host
        return "%s://%s:%d" % ("https" if self.tls else "http", h, self.port)

    @property
    def ca(self):
        return self.pki.get("ca")

    @property
    def control_port(self):
        return self.control_httpd.server_address[1] if self.control_httpd else None

    def info(self):
        out = {"port": self.port, "url": self.url, "ca": self.ca, "dir": self.dir,
               "tls": self.tls, "pid": os.getpid(), "tokens": dict(self.tokens)}
        if self.control_httpd:
            out["control_port"] = self.control_port
            out["control_url"] = "http://127.0.0.1:%d" % self.control_port
        for k in ("other_ca", "client_ca", "client_crt", "client_key", "server_crt"):
            if k in self.pki:
                out[k] = self.pki[k]
        return out

    def start(self):
        for srv in (self.httpd, self.control_httpd):
            if srv is None:
                continue
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1},
                                 daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def stop(self):
        with self.store.cond:
            self.store.closing = True
            self.store.cond.notify_all()
        for srv in (self.httpd, self.control_httpd):
            if srv is not None:
                srv.shutdown()
                srv.server_close()
        for t in self.threads:
            t.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- authn / authz ------------------------------------------------------------
    def authenticate(self, handler):
        """x509 client certificate first, then the bearer token (union authenticator)."""
        conn = handler.connection
        if isinstance(conn, ssl.SSLSocket):
            cert = conn.getpeercert()
            for rdn in (cert or {}).get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        return v
        auth = handler.headers.get("Authorization", "")
        if auth:
            scheme, _, token = auth.partition(" ")
            if scheme.lower() != "bearer":
                return None
            with self.lock:
                return self.tokens.get(token.strip())
        return None

    def set_rbac(self, user, perms):
        """perms: iterable of "VERB RESOURCE" / "RESOURCE VERB" / "*" / (verb, resource)."""
        out = set()
        for p in perms:
            if isinstance(p, (list, tuple)):
                a, b = p
            elif p.strip() == "*":
                a, b = "*", "*"
            else:
                parts = p.replace(":", " ").split()
                if len(parts) != 2:
                    raise ValueError("bad permission %r" % p)
                a, b = parts
            verb, res = (a, b) if (a in ALL_VERBS or a == "*") else (b, a)
            if verb not in ALL_VERBS and verb != "*":
                raise ValueError("bad verb in permission %r" % (p,))
            out.add((verb, res))
        with self.lock:
            self.rbac[user] = out

    def authorize(self, user, verb, ns, resource, group, name, sub):
        res = resource + ("/" + sub if sub else "")
        key = _gr(res, group)
        with self.lock:
            perms = self.rbac.get(user, set())
        for v, r in perms:
            if v in (verb, "*") and r in (key, "*"):
                return
        scope = ('in the namespace "%s"' % ns) if ns else "at the cluster scope"
        target = _gr(resource, group) + (' "%s"' % name if name else "")
        raise ApiError(403, '%s is forbidden: User "%s" cannot %s resource "%s" in API group '
                       '"%s" %s' % (target, user, verb, res, group, scope), "Forbidden",
                       _details(resource, group, name))

    # -- faults ---------------------------------------------------------------------
    def add_fault(self, kind, count=1, path=None, verb=None, **kw):
        if kind not in ("fail", "drop", "latency", "cut"):
            raise ValueError("unknown fault kind %r" % kind)
        rule = dict(kw, kind=kind, count=count, path=path, verb=verb)
        with self.lock:
            self.faults.append(rule)
        return rule

    def clear_faults(self):
        with self.lock:
            self.faults.clear()

    def apply_faults(self, handler, kind):
        """Consume the first matching rule of kind; act on it."""
        verb = getattr(handler, "verb", None)
        with self.lock:
            rule = None
            for r in self.faults:
                if r["kind"] != kind or r["count"] == 0:
                    continue
                if r["path"] and not re.search(r["path"], handler.url_path):
                    continue
                if r["verb"] and r["verb"].lower() not in ((verb or "").lower(),
                                                           handler.command.lower()):
                    continue
                rule = r
                break
            if rule is None:
                return None
            if rule["count"] is not None:
                rule["count"] -= 1
            rule = dict(rule)
        if kind == "latency":
            time.sleep(float(rule.get("seconds", 0)))
            return rule
        if kind == "drop":
            if rule.get("rst"):
                handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                              struct.pack("ii", 1, 0))
            return rule
        if kind == "cut":
            return rule
        code = int(rule.get("status", 500))
        ra = rule.get("retry_after", 1)
        hdrs = {}
        if code == 429:
            hdrs["Retry-After"] = ra
            return ApiError(429, "Too many requests, please try again later.",
                            "TooManyRequests", {"retryAfterSeconds": ra}, hdrs)
        if code == 503:
            hdrs["Retry-After"] = ra
            return ApiError(503, "the server is currently unable to handle the request",
                            "ServiceUnavailable", {"retryAfterSeconds": ra}, hdrs)
        if code == 500:
            msg = rule.get("message", "injected fault")
            return ApiError(500, "Internal error occurred: %s" % msg, "InternalError",
                            {"causes": [{"message": msg}]})
        if code == 504:
            return ApiError(504, "The request timed out", "Timeout",
                            {"retryAfterSeconds": ra}, {"Retry-After": ra})
        return ApiError(code, rule.get("message", "injected fault"))

    # -- state manipulation ---------------------------------------------------------
    def add_pod(self, pod, _copy=True):
        """Create (ADDED) or replace (MODIFIED) a pod; returns the stored object."""
        st = self.store
        with st.cond:
            ns = (pod.get("metadata") or {}).get("namespace", "default")
            st.ensure_namespace(ns)
            key = (ns, pod["metadata"]["name"])
            old = st.pods.get(key)
            new = new_pod_meta(st, pod, copy_pod=_copy)
            if old is not None:
                new["metadata"]["uid"] = pod["metadata"].get("uid") or old["metadata"]["uid"]
            st.put_pod(new)
            return new

    create_pod = update_pod = add_pod

    def add_pods(self, pods, _copy=True):
        gc_was = gc.isenabled()
        gc.disable()        # thousands of nested dicts: collections dominate otherwise
        try:
            return [self.add_pod(p, _copy) for p in pods]
        finally:
            if gc_was:
                gc.enable()

    def bulk_create(self, count, **kw):
        """Create count generated pods (pods.bulk_pods keywords); returns them."""
        gc_was = gc.isenabled()
        gc.disable()
        try:
            return self.add_pods(podlib.bulk_pods(count, **kw), _copy=False)
        finally:
            if gc_was:
                gc.enable()

    def get_pod(self, ns, name):
        with self.store.cond:
            pod = self.store.pods.get((ns, name))
            return copy.deepcopy(pod) if pod else None

    def list_pods(self):
        with self.store.cond:
            return [copy.deepcopy(self.store.pods[k]) for k in sorted(self.store.pods)]

    def _modify(self, ns, name, fn):
        st = self.store
        with st.cond:
            pod = st.pods.get((ns, name))
            if pod is None:
                raise not_found("pods", "", name)
            new = fn(copy.deepcopy(pod))
            new["metadata"]["resourceVersion"] = str(st.next_rv())
            st.put_pod(new)
            return new

    def patch_pod(self, ns, name, patch):
        return self._modify(ns, name, lambda p: merge_patch(p, patch))

    def set_pod_status(self, ns, name, status, merge=False):
        def fn(p):
            p["status"] = merge_patch(p.get("status"), status) if merge else status
            return p
        return self._modify(ns, name, fn)

    def make_pod_broken(self, ns, name, **kw):
        return self._modify(ns, name, lambda p: podlib.make_broken(p, **kw))

    def make_pod_healthy(self, ns, name):
        return self._modify(ns, name, podlib.make_healthy)

    def delete_pod(self, ns, name):
        st = self.store
        with st.cond:
            if (ns, name) not in st.pods:
                raise not_found("pods", "", name)
            return st.remove_pod((ns, name))

    def recorded_events(self):
        with self.store.cond:
            return [copy.deepcopy(e) for _, e in sorted(self.store.events.items())]

    def clear_events(self):
        with self.store.cond:
            self.store.events.clear()

    def requests(self):
        with self.lock:
            return copy.deepcopy(self.request_log)

    def clear_requests(self):
        with self.lock:
            self.request_log.clear()

    def request_counts(self):
        """Counters over the request log; peak_per_second is the most requests
        of a kind that started within any one second."""
        log = self.requests()
        out = {"total": len(log), "by_verb": {}, "by_path": {}, "by_status": {},
               "peak_per_second": {}}
        times = {}
        for e in log:
            verb = e.get("verb") or e["method"].lower()
            out["by_verb"][verb] = out["by_verb"].get(verb, 0) + 1
            key = "%s %s" % (e["method"], e["path"])
            out["by_path"][key] = out["by_path"].get(key, 0) + 1
            st = str(e["status"])
            out["by_status"][st] = out["by_status"].get(st, 0) + 1
            kinds = ["all", verb]
            if e["method"] in ("POST", "PUT", "PATCH", "DELETE"):
                kinds.append("writes")
            for k in kinds:
                times.setdefault(k, []).append(e["time"])
        for k, ts in times.items():
            ts.sort()
            peak, lo = 0, 0
            for hi, t in enumerate(ts):
                while t - ts[lo] >= 1.0:
                    lo += 1
                peak = max(peak, hi - lo + 1)
            out["peak_per_second"][k] = peak
        return out

    def set_token(self, token, user):
        with self.lock:
            self.tokens[token] = user

    def remove_token(self, token):
        with self.lock:
            self.tokens.pop(token, None)

    def set_tokens(self, table):
        with self.lock:
            self.tokens = dict(table)

    def cut_watches(self):
        with self.store.cond:
            for w in self.store.watchers:
                w.cut = True
            n = len(self.store.watchers)
            self.store.cond.notify_all()
        return n

    def expire_history(self, kill_watches=False):
        self.store.expire(kill_watches)

    def active_watches(self):
        with self.store.cond:
            return len(self.store.watchers)

    def configure(self, **kw):
        for k, v in kw.items():
            if k == "history_size":
                with self.store.cond:
                    self.store.history_size = int(v)
            elif k in ("bookmark_interval", "gone_mode", "gone_reason", "watch_max_seconds",
                       "graceful_delete", "list_rv_wait"):
                setattr(self, k, v)
            else:
                raise ValueError("unknown setting %r" % k)
        with self.store.cond:
            self.store.cond.notify_all()

    def state(self):
        st = self.store
        with st.cond:
            out = dict(self.info(), resourceVersion=str(st.rv), pods=len(st.pods),
                       events=len(st.events), watches=len(st.watchers),
                       compacted_rv=st.compacted_rv, history=len(st.hist))
        with self.lock:
            out["faults"] = copy.deepcopy(self.faults)
        return out

    # -- control API ------------------------------------------------------------------
    def control(self, method, path, body):
        p = [urllib.parse.unquote(x) for x in path.split("/") if x]
        if p == ["healthz"]:
            return 200, "ok"
        if p == ["state"] and method == "GET":
            return 200, self.state()
        if p == ["pods"] and method == "GET":
            return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {
                "resourceVersion": str(self.store.rv)}, "items": self.list_pods()}
        if p == ["pods"] and method == "POST":
            items = body.get("items") if isinstance(body, dict) and "items" in body else body
            items = items if isinstance(items, list) else [items]
            return 201, {"kind": "PodList", "apiVersion": "v1", "metadata": {},
                         "items": self.add_pods(items)}
        if p == ["pods", "bulk"] and method == "POST":
            body = dict(body or {})
            made = self.bulk_create(int(body.pop("count")), **body)
            return 201, {"created": len(made), "resourceVersion": str(self.store.rv)}
        if len(p) in (3, 4) and p[0] == "pods":
            ns, name = p[1], p[2]
            sub = p[3] if len(p) == 4 else None
            if sub is None and method == "PUT":
                pod = dict(body, metadata=dict(body.get("metadata") or {}, namespace=ns,
                                               name=name))
                return 200, self.add_pod(pod)
            if sub is None and method == "PATCH":
                return 200, self.patch_pod(ns, name, body)
            if sub is None and method == "DELETE":
                return 200, self.delete_pod(ns, name)
            if sub is None and method == "GET":
                pod = self.get_pod(ns, name)
                if pod is None:
                    raise not_found("pods", "", name)
                return 200, pod
            if sub == "status" and method in ("PUT", "PATCH"):
                return 200, self.set_pod_status(ns, name, body, merge=(method == "PATCH"))
            if sub == "broken" and method == "POST":
                return 200, self.make_pod_broken(ns, name, **(body or {}))
            if sub == "healthy" and method == "POST":
                return 200, self.make_pod_healthy(ns, name)
        if p == ["events"]:
            if method == "GET":
                return 200, {"items": self.recorded_events()}
            if method == "DELETE":
                self.clear_events()
                return 200, {}
        if p == ["requests", "counts"] and method == "GET":
            return 200, self.request_counts()
        if p == ["requests"]:
            if method == "GET":
                return 200, {"items": self.requests()}
            if method == "DELETE":
                self.clear_requests()
                return 200, {}
        if p == ["tokens"] and method == "POST":
            self.set_token(body["token"], body["user"])
            return 200, {}
        if p == ["tokens"] and method == "PUT":
            self.set_tokens(body)
            return 200, {}
        if len(p) == 2 and p[0] == "tokens" and method == "DELETE":
            self.remove_token(p[1])
            return 200, {}
        if len(p) == 2 and p[0] == "rbac" and method == "PUT":
            self.set_rbac(p[1], body)
            return 200, {}
        if p == ["faults"]:
            if method == "POST":
                body = dict(body)
                return 201, self.add_fault(body.pop("kind"), **body)
            if method == "GET":
                with self.lock:
                    return 200, {"items": copy.deepcopy(self.faults)}
            if method == "DELETE":
                self.clear_faults()
                return 200, {}
        if p == ["watches", "cut"] and method == "POST":
            return 200, {"cut": self.cut_watches()}
        if p == ["history", "expire"] and method == "POST":
            self.expire_history(bool((body or {}).get("kill_watches")))
            return 200, {"compacted_rv": self.store.compacted_rv}
        if p == ["config"] and method == "PUT":
            self.configure(**body)
            return 200, {}
        return 404, {"error": "no such control endpoint: %s %s" % (method, path)}


# --------------------------------------------------------------------------- CLI

def _load_pods_file(path):
    with open(path) as f:
        doc = json.load(f)
    if isinstance(doc, dict) and doc.get("kind", "").endswith("List"):
        return doc.get("items") or []
    return doc if isinstance(doc, list) else [doc]


def main(argv=None):
    ap = argparse.ArgumentParser(description="Fake Kubernetes API server for tests")
    ap.add_argument("--dir", required=True, help="directory for certificates and server.json")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--control-port", type=int, default=0, help="-1 disables the control API")
    ap.add_argument("--plain-http", action="store_true")
    ap.add_argument("--client-ca", action="store_true",
                    help="mint a client CA and client cert, accept client certificates")
    ap.add_argument("--client-cert-user", default="system:serviceaccount:istio-system:istio-cni")
    ap.add_argument("--token", action="append", default=[], metavar="TOKEN=USER")
    ap.add_argument("--token-file", action="append", default=[], metavar="FILE=USER",
                    help="read the token from FILE")
    ap.add_argument("--allow", action="append", default=[], metavar="USER=PERM,PERM")
    ap.add_argument("--pods-file", action="append", default=[])
    ap.add_argument("--bulk", type=int, default=0, help="also create N generated pods")
    ap.add_argument("--bulk-broken", action="store_true")
    ap.add_argument("--node", default="node-1")
    ap.add_argument("--history-size", type=int, default=1000)
    ap.add_argument("--bookmark-interval", type=float, default=60.0)
    ap.add_argument("--gone-mode", choices=("event", "http"), default="event")
    ap.add_argument("--watch-max-seconds", type=float, default=None)
    ap.add_argument("--graceful-delete", action="store_true")
    a = ap.parse_args(argv)

    tokens = None
    if a.token or a.token_file:
        tokens = {}
        for t in a.token:
            k, _, u = t.partition("=")
            tokens[k] = u
        for t in a.token_file:
            f, _, u = t.partition("=")
            with open(f) as fh:
                tokens[fh.read().strip()] = u
    rbac = None
    if a.allow:
        rbac = {}
        for spec in a.allow:
            u, _, perms = spec.partition("=")
            rbac.setdefault(u, []).extend(x for x in perms.split(",") if x.strip())
    elif tokens is not None:
        rbac = {}
    if tokens is None and rbac is None:
        rbac = {"admin": ["*"]}

    api = FakeApiServer(a.dir, tls=not a.plain_http, client_ca=a.client_ca,
                        client_cert_user=a.client_cert_user, host=a.host, port=a.port,
                        control_port=None if a.control_port < 0 else a.control_port,
                        tokens=tokens, rbac=rbac, history_size=a.history_size,
                        bookmark_interval=a.bookmark_interval, gone_mode=a.gone_mode,
                        watch_max_seconds=a.watch_max_seconds,
                        graceful_delete=a.graceful_delete)
    for f in a.pods_file:
        api.add_pods(_load_pods_file(f))
    if a.bulk:
        api.bulk_create(a.bulk, node=a.node, broken=a.bulk_broken)
    api.start()
    info = api.info()
    tmp = os.path.join(api.dir, ".server.json.tmp")
    with open(tmp, "w") as f:
        json.dump(info, f)
    os.rename(tmp, os.path.join(api.dir, "server.json"))
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
