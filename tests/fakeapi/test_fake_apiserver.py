"""Tests of the fake API server, over real HTTPS with the CA it minted.

Run: python3 -m unittest discover -s tests/fakeapi -p 'test_*.py' -v
"""

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fake_apiserver as fa  # noqa: E402
import pods as podlib  # noqa: E402

CNI_USER = "system:serviceaccount:istio-system:istio-cni"
PKI_DIR = None


def setUpModule():
    global PKI_DIR
    PKI_DIR = tempfile.mkdtemp(prefix="fakeapi-test-")


def tearDownModule():
    shutil.rmtree(PKI_DIR, ignore_errors=True)


class RawResponse:
    """Status line and headers of a response read off a raw socket."""

    def __init__(self, f):
        line = f.readline()
        if not line:
            raise http.client.RemoteDisconnected("no answer")
        self.status = int(line.split()[1])
        self.headers = {}
        while True:
            h = f.readline().decode()
            if h in ("\r\n", "\n", ""):
                break
            k, _, v = h.partition(":")
            self.headers[k.strip().lower()] = v.strip()

    def getheader(self, name):
        return self.headers.get(name.lower())


class Watch:
    """A watch read off the socket with its own chunked decoder, so that a stream cut
    without the terminating chunk is told apart from a clean end (http.client hides it)."""

    def __init__(self, sock):
        self.sock = sock
        self.f = sock.makefile("rb")
        self.resp = RawResponse(self.f)
        self.buf = b""
        self.done = False

    def _chunk(self):
        size_line = self.f.readline()
        if not size_line.endswith(b"\n"):
            raise http.client.IncompleteRead(self.buf)
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            self.f.readline()
            self.done = True
            return
        data = self.f.read(size + 2)
        if len(data) != size + 2:
            raise http.client.IncompleteRead(data)
        self.buf += data[:-2]

    def next(self):
        """Next event dict; None on a clean end (terminating chunk seen).
        Raises http.client.IncompleteRead when the stream was cut."""
        while b"\n" not in self.buf:
            if self.done:
                return None
            self._chunk()
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def take(self, n):
        return [self.next() for _ in range(n)]

    def rest(self):
        out = []
        while True:
            ev = self.next()
            if ev is None:
                return out
            out.append(ev)

    def close(self):
        self.f.close()
        self.sock.close()


class Client:
    def __init__(self, api, token="admin-token", ca=None, host="127.0.0.1", cert=None,
                 timeout=10):
        self.api, self.token, self.host, self.timeout = api, token, host, timeout
        self.ctx = None
        if api.tls:
            self.ctx = ssl.create_default_context(cafile=ca or api.ca)
            if cert:
                self.ctx.load_cert_chain(*cert)

    def conn(self):
        if self.ctx is None:
            return http.client.HTTPConnection(self.host, self.api.port, timeout=self.timeout)
        return http.client.HTTPSConnection(self.host, self.api.port, context=self.ctx,
                                           timeout=self.timeout)

    def _send(self, c, method, path, body, ctype, headers):
        h = dict(headers or {})
        if self.token is not None:
            h["Authorization"] = "Bearer " + self.token
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            h["Content-Type"] = ctype
        c.request(method, path, body=data, headers=h)
        return c.getresponse()

    def req(self, method, path, body=None, ctype="application/json", headers=None):
        c = self.conn()
        try:
            r = self._send(c, method, path, body, ctype, headers)
            raw = r.read()
            if r.getheader("Content-Type", "").startswith("application/json"):
                return r.status, r, json.loads(raw)
            return r.status, r, raw.decode()
        finally:
            c.close()

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def patch(self, path, body, ctype="application/merge-patch+json"):
        return self.req("PATCH", path, body, ctype)

    def watch(self, path):
        s = socket.create_connection((self.host, self.api.port), self.timeout)
        if self.ctx is not None:
            s = self.ctx.wrap_socket(s, server_hostname=self.host)
        auth = "Authorization: Bearer %s\r\n" % self.token if self.token else ""
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\n%s\r\n"
                   % (path, self.host, auth)).encode())
        return Watch(s)


def pod_path(ns, name, sub=None):
    return "/api/v1/namespaces/%s/pods/%s%s" % (ns, name, "/" + sub if sub else "")


class Base(unittest.TestCase):
    server_kw = {}

    def setUp(self):
        kw = dict(tokens={"admin-token": "admin", "cni-token": CNI_USER,
                          "nobody-token": "nobody"},
                  rbac={"admin": ["*"], CNI_USER: ["get pods", "list pods", "watch pods",
                                                   "delete pods", "patch pods/status",
                                                   "create events"]},
                  control_port=0)
        kw.update(self.server_kw)
        self.api = fa.FakeApiServer(PKI_DIR, **kw).start()
        self.addCleanup(self.api.stop)
        self.c = Client(self.api)
        self.sidecar = self.api.add_pod(podlib.istio_pod("app-1", "default", "node-1",
                                                         pod_ip="10.244.1.5"))
        self.broken = self.api.add_pod(podlib.broken_pod("broken-1", "default", "node-1",
                                                         pod_ip="10.244.1.6"))
        self.other_node = self.api.add_pod(podlib.istio_pod("app-2", "default", "node-2",
                                                            pod_ip="10.244.2.5"))
        self.gateway = self.api.add_pod(podlib.gateway_pod("gw-1", "istio-system", "node-1"))

    def assertStatus(self, body, code, reason, message=None, details=None):
        self.assertEqual(body["kind"], "Status")
        self.assertEqual(body["apiVersion"], "v1")
        self.assertEqual(body["metadata"], {})
        self.assertEqual(body["status"], "Failure")
        self.assertEqual(body["code"], code)
        self.assertEqual(body["reason"], reason)
        if message is not None:
            self.assertEqual(body["message"], message)
        if details is not None:
            self.assertEqual(body["details"], details)


class TestTLS(Base):
    def test_minted_files(self):
        for f in ("ca.crt", "server.crt", "server.key", "other-ca.crt"):
            self.assertTrue(os.path.exists(os.path.join(PKI_DIR, f)), f)
        self.assertEqual(os.stat(os.path.join(PKI_DIR, "server.key")).st_mode & 0o777, 0o600)

    def test_verified_by_hostname_and_ip(self):
        for host in ("127.0.0.1", "localhost"):
            with self.subTest(host=host):
                code, _, _ = Client(self.api, host=host).get("/version")
                self.assertEqual(code, 200)

    def test_ipv6_san(self):
        try:
            api = fa.FakeApiServer(PKI_DIR, host="::1").start()
        except OSError:
            self.skipTest("no IPv6 loopback")
        self.addCleanup(api.stop)
        code, _, body = Client(api, host="::1").get("/api/v1/namespaces/default")
        self.assertEqual(code, 200)
        self.assertEqual(body["kind"], "Namespace")

    def test_other_ca_rejected(self):
        c = Client(self.api, ca=os.path.join(PKI_DIR, "other-ca.crt"))
        with self.assertRaises(ssl.SSLCertVerificationError):
            c.get("/version")

    def test_urllib_with_ca(self):
        ctx = ssl.create_default_context(cafile=self.api.ca)
        req = urllib.request.Request(self.api.url + pod_path("default", "app-1"),
                                     headers={"Authorization": "Bearer admin-token"})
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers["Content-Type"], "application/json")
            self.assertEqual(json.load(r)["metadata"]["name"], "app-1")

    def test_tls12_minimum(self):
        ctx = ssl.create_default_context(cafile=self.api.ca)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        with socket.create_connection(("127.0.0.1", self.api.port), 5) as s:
            with ctx.wrap_socket(s, server_hostname="localhost") as t:
                self.assertEqual(t.version(), "TLSv1.2")

    def test_garbage_instead_of_handshake_does_not_kill_server(self):
        with socket.create_connection(("127.0.0.1", self.api.port), 5) as s:
            s.sendall(b"GET / HTTP/1.1\r\n\r\n")
            s.recv(100)
        self.assertEqual(self.c.get("/version")[0], 200)


class TestClientCert(Base):
    server_kw = {"client_ca": True, "client_cert_user": CNI_USER}

    def test_client_cert_authenticates(self):
        c = Client(self.api, token=None, cert=(self.api.pki["client_crt"],
                                               self.api.pki["client_key"]))
        code, _, body = c.get(pod_path("default", "app-1"))
        self.assertEqual(code, 200)
        self.assertEqual(self.api.requests()[-1]["user"], CNI_USER)
        code, _, body = c.get("/api/v1/namespaces/default")
        self.assertEqual(code, 403)
        self.assertIn('User "%s" cannot get resource "namespaces"' % CNI_USER, body["message"])

    def test_no_cert_no_token_is_401(self):
        code, _, body = Client(self.api, token=None).get(pod_path("default", "app-1"))
        self.assertEqual(code, 401)


class TestPlainHTTP(Base):
    server_kw = {"tls": False}

    def test_plain_http(self):
        self.assertIsNone(self.api.ca)
        self.assertTrue(self.api.url.startswith("http://"))
        code, _, body = self.c.get(pod_path("default", "app-1"))
        self.assertEqual(code, 200)

    def test_https_client_against_plain_fails(self):
        ctx = ssl.create_default_context(cafile=os.path.join(PKI_DIR, "ca.crt"))
        c = http.client.HTTPSConnection("127.0.0.1", self.api.port, context=ctx, timeout=5)
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            c.request("GET", "/version")
            c.getresponse()
        c.close()


class TestAuth(Base):
    def test_missing_token(self):
        code, r, body = Client(self.api, token=None).get(pod_path("default", "app-1"))
        self.assertEqual(code, 401)
        self.assertEqual(r.getheader("Content-Type"), "application/json")
        self.assertEqual(body, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                "status": "Failure", "message": "Unauthorized",
                                "reason": "Unauthorized", "code": 401})

    def test_unknown_token_and_wrong_scheme(self):
        self.assertEqual(Client(self.api, token="nope").get("/version")[0], 401)
        code, _, _ = Client(self.api, token=None).get(
            "/version", headers={"Authorization": "Basic YTpi"})
        self.assertEqual(code, 401)

    def test_forbidden_messages(self):
        nob = Client(self.api, token="nobody-token")
        cni = Client(self.api, token="cni-token")
        cases = [
            (nob, "GET", pod_path("default", "x"), None, None,
             'pods "x" is forbidden: User "nobody" cannot get resource "pods" in API group "" '
             'in the namespace "default"', {"name": "x", "kind": "pods"}),
            (nob, "GET", "/api/v1/pods", None, None,
             'pods is forbidden: User "nobody" cannot list resource "pods" in API group "" at '
             'the cluster scope', {"kind": "pods"}),
            (nob, "GET", "/api/v1/namespaces/default/pods?watch=true", None, None,
             'pods is forbidden: User "nobody" cannot watch resource "pods" in API group "" in '
             'the namespace "default"', {"kind": "pods"}),
            (cni, "PATCH", pod_path("default", "app-1"), {}, "application/merge-patch+json",
             'pods "app-1" is forbidden: User "%s" cannot patch resource "pods" in API group "" '
             'in the namespace "default"' % CNI_USER, {"name": "app-1", "kind": "pods"}),
            (nob, "PATCH", pod_path("default", "app-1", "status"), {},
             "application/merge-patch+json",
             'pods "app-1" is forbidden: User "nobody" cannot patch resource "pods/status" in '
             'API group "" in the namespace "default"', {"name": "app-1", "kind": "pods"}),
            (cni, "POST", "/apis/events.k8s.io/v1/namespaces/default/events", {}, None,
             'events.events.k8s.io is forbidden: User "%s" cannot create resource "events" in '
             'API group "events.k8s.io" in the namespace "default"' % CNI_USER,
             {"group": "events.k8s.io", "kind": "events"}),
            (nob, "GET", "/api/v1/namespaces/default", None, None,
             'namespaces "default" is forbidden: User "nobody" cannot get resource "namespaces"'
             ' in API group "" at the cluster scope', {"name": "default", "kind": "namespaces"}),
        ]
        for c, method, path, body, ctype, msg, details in cases:
            with self.subTest(path=path, method=method):
                code, _, out = c.req(method, path, body, ctype or "application/json")
                self.assertEqual(code, 403)
                self.assertStatus(out, 403, "Forbidden", msg, details)

    def test_rbac_allows_listed_pairs(self):
        cni = Client(self.api, token="cni-token")
        self.assertEqual(cni.get(pod_path("default", "app-1"))[0], 200)
        self.assertEqual(cni.get("/api/v1/pods")[0], 200)
        code, _, _ = cni.patch(pod_path("default", "app-1", "status"),
                               {"metadata": {"labels": {"a": "b"}}})
        self.assertEqual(code, 200)
        code, _, _ = cni.req("POST", "/api/v1/namespaces/default/events",
                             {"metadata": {"generateName": "x."}, "reason": "R"})
        self.assertEqual(code, 201)

    def test_token_rotation_in_process(self):
        self.api.set_token("new-token", CNI_USER)
        self.api.remove_token("cni-token")
        self.assertEqual(Client(self.api, token="cni-token").get("/api/v1/pods")[0], 401)
        self.assertEqual(Client(self.api, token="new-token").get("/api/v1/pods")[0], 200)

    def test_rbac_change_at_runtime(self):
        nob = Client(self.api, token="nobody-token")
        self.assertEqual(nob.get("/api/v1/pods")[0], 403)
        self.api.set_rbac("nobody", ["pods:list"])
        self.assertEqual(nob.get("/api/v1/pods")[0], 200)
        self.assertEqual(nob.get(pod_path("default", "app-1"))[0], 403)


class TestPods(Base):
    def test_get(self):
        code, r, body = self.c.get(pod_path("default", "app-1"))
        self.assertEqual(code, 200)
        self.assertEqual(r.getheader("Content-Type"), "application/json")
        self.assertTrue(r.getheader("Audit-Id"))
        self.assertEqual(body["kind"], "Pod")
        self.assertEqual(body["metadata"]["uid"], self.sidecar["metadata"]["uid"])
        self.assertIsInstance(body["metadata"]["resourceVersion"], str)
        self.assertEqual(body["status"]["podIP"], "10.244.1.5")

    def test_get_status_subresource(self):
        code, _, body = self.c.get(pod_path("default", "app-1", "status"))
        self.assertEqual(code, 200)
        self.assertEqual(body["metadata"]["name"], "app-1")

    def test_not_found(self):
        code, _, body = self.c.get(pod_path("default", "nope"))
        self.assertEqual(code, 404)
        self.assertStatus(body, 404, "NotFound", 'pods "nope" not found',
                          {"name": "nope", "kind": "pods"})
        code, _, body = self.c.get(pod_path("istio-system", "app-1"))
        self.assertEqual(code, 404)

    def test_list(self):
        code, _, body = self.c.get("/api/v1/pods")
        self.assertEqual(code, 200)
        self.assertEqual(body["kind"], "PodList")
        self.assertEqual(body["apiVersion"], "v1")
        self.assertEqual(body["metadata"]["resourceVersion"], str(self.api.store.rv))
        names = [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in body["items"]]
        self.assertEqual(names, sorted(names))
        self.assertEqual(len(names), 4)
        code, _, body = self.c.get("/api/v1/namespaces/default/pods")
        self.assertEqual({p["metadata"]["name"] for p in body["items"]},
                         {"app-1", "app-2", "broken-1"})
        code, _, body = self.c.get("/api/v1/namespaces/empty/pods")
        self.assertEqual((code, body["items"]), (200, []))

    def test_field_selectors(self):
        cases = [
            ("spec.nodeName=node-1", {"app-1", "broken-1", "gw-1"}),
            ("spec.nodeName==node-1", {"app-1", "broken-1", "gw-1"}),
            ("spec.nodeName!=node-1", {"app-2"}),
            ("metadata.name=app-2", {"app-2"}),
            ("metadata.namespace=istio-system", {"gw-1"}),
            ("metadata.namespace!=istio-system,spec.nodeName=node-1", {"app-1", "broken-1"}),
            ("status.phase=Pending", {"broken-1"}),
            ("status.phase!=Pending,spec.nodeName=node-1", {"app-1", "gw-1"}),
            ("status.podIP=10.244.2.5", {"app-2"}),
            ("spec.hostNetwork=false,metadata.name=app-1", {"app-1"}),
            ("spec.nodeName=", set()),
        ]
        for sel, want in cases:
            with self.subTest(sel=sel):
                code, _, body = self.c.get("/api/v1/pods?" + urllib.parse.urlencode(
                    {"fieldSelector": sel}))
                self.assertEqual(code, 200)
                self.assertEqual({p["metadata"]["name"] for p in body["items"]}, want)

    def test_bad_field_selector(self):
        for sel in ("spec.foo=bar", "nonsense"):
            with self.subTest(sel=sel):
                code, _, body = self.c.get("/api/v1/pods?fieldSelector=" +
                                           urllib.parse.quote(sel))
                self.assertEqual(code, 400)
                self.assertStatus(body, 400, "BadRequest")
        code, _, body = self.c.get("/api/v1/pods?fieldSelector=spec.foo%3Dbar")
        self.assertEqual(body["message"], "field label not supported: spec.foo")

    def test_label_selectors(self):
        self.api.add_pod(podlib.uninjected_pod("plain-1", "default", "node-1"))
        self.api.add_pod(podlib.inject_disabled_pod("optout-1", "default", "node-1"))
        cases = [
            ("app=productpage", {"app-1", "app-2", "broken-1", "plain-1", "optout-1"}),
            ("app==istio-ingressgateway", {"gw-1"}),
            ("app!=productpage", {"gw-1"}),
            ("security.istio.io/tlsMode", {"app-1", "app-2", "broken-1", "gw-1"}),
            ("!security.istio.io/tlsMode", {"plain-1", "optout-1"}),
            ("sidecar.istio.io/inject in (false)", {"optout-1"}),
            ("sidecar.istio.io/inject in (true,false)", {"optout-1", "gw-1"}),
            ("sidecar.istio.io/inject notin (false)",
             {"app-1", "app-2", "broken-1", "plain-1", "gw-1"}),
            ("app=productpage,!security.istio.io/tlsMode,sidecar.istio.io/inject",
             {"optout-1"}),
            ("app in (productpage, istio-ingressgateway) , version=v1",
             {"app-1", "app-2", "broken-1", "plain-1", "optout-1", "gw-1"}),
        ]
        for sel, want in cases:
            with self.subTest(sel=sel):
                code, _, body = self.c.get("/api/v1/pods?" + urllib.parse.urlencode(
                    {"labelSelector": sel}))
                self.assertEqual(code, 200, body)
                self.assertEqual({p["metadata"]["name"] for p in body["items"]}, want)

    def test_bad_label_selectors(self):
        for sel in ("app in productpage", "app=(x", "a,", "app foo (x)", "-bad"):
            with self.subTest(sel=sel):
                code, _, body = self.c.get("/api/v1/pods?" + urllib.parse.urlencode(
                    {"labelSelector": sel}))
                self.assertEqual(code, 400)
                self.assertStatus(body, 400, "BadRequest")

    def test_pagination(self):
        self.api.bulk_create(7, namespace="bulk", prefix="p")
        seen, cont, rvs = [], None, set()
        while True:
            q = {"limit": "3"}
            if cont:
                q["continue"] = cont
            code, _, body = self.c.get("/api/v1/namespaces/bulk/pods?" +
                                       urllib.parse.urlencode(q))
            self.assertEqual(code, 200)
            seen += [p["metadata"]["name"] for p in body["items"]]
            rvs.add(body["metadata"]["resourceVersion"])
            cont = body["metadata"].get("continue")
            if not cont:
                break
            self.assertIn("remainingItemCount", body["metadata"])
        self.assertEqual(seen, ["p-%05d" % i for i in range(7)])
        self.assertEqual(len(rvs), 1)

    def test_expired_continue(self):
        self.api.bulk_create(4, namespace="bulk", prefix="p")
        code, _, body = self.c.get("/api/v1/namespaces/bulk/pods?limit=2")
        self.api.add_pod(podlib.istio_pod("later", "bulk"))
        self.api.expire_history()
        code, _, body = self.c.get("/api/v1/namespaces/bulk/pods?limit=2&continue=" +
                                   urllib.parse.quote(body["metadata"]["continue"]))
        self.assertEqual(code, 410)
        self.assertStatus(body, 410, "Expired")

    def test_list_resource_version_too_large(self):
        self.api.configure(list_rv_wait=0.2)
        code, _, body = self.c.get("/api/v1/pods?resourceVersion=999999")
        self.assertEqual(code, 504)
        self.assertStatus(body, 504, "Timeout")
        code, _, body = self.c.get("/api/v1/pods?resourceVersion=0")
        self.assertEqual(code, 200)

    def test_method_not_allowed(self):
        cases = [("POST", pod_path("default", "app-1")),
                 ("PUT", "/api/v1/namespaces/default/pods"),
                 ("DELETE", pod_path("default", "app-1", "status")),
                 ("POST", "/api/v1/pods"),
                 ("DELETE", "/api/v1/namespaces/default")]
        for method, path in cases:
            with self.subTest(method=method, path=path):
                code, _, body = self.c.req(method, path, {})
                self.assertEqual(code, 405)
                self.assertStatus(body, 405, "MethodNotAllowed",
                                  "the server does not allow this method on the requested "
                                  "resource", {})

    def test_unknown_paths(self):
        code, _, body = self.c.get("/api/v1/namespaces/default/secrets")
        self.assertEqual(code, 404)
        self.assertStatus(body, 404, "NotFound",
                          "the server could not find the requested resource")
        code, _, body = self.c.get(pod_path("default", "app-1", "log"))
        self.assertEqual(code, 404)
        code, r, body = self.c.get("/nothing-here")
        self.assertEqual((code, body), (404, "404 page not found\n"))

    def test_not_acceptable(self):
        code, _, body = self.c.get(pod_path("default", "app-1"), headers={
            "Accept": "application/vnd.kubernetes.protobuf"})
        self.assertEqual(code, 406)
        self.assertStatus(body, 406, "NotAcceptable")

    def test_discovery_and_namespace(self):
        self.assertEqual(self.c.get("/version")[2]["major"], "1")
        self.assertEqual(self.c.get("/api")[2]["versions"], ["v1"])
        code, _, body = self.c.get("/api/v1/namespaces/istio-system")
        self.assertEqual((code, body["kind"], body["status"]["phase"]),
                         (200, "Namespace", "Active"))
        code, _, body = self.c.get("/api/v1/namespaces/nope")
        self.assertStatus(body, 404, "NotFound", 'namespaces "nope" not found',
                          {"name": "nope", "kind": "namespaces"})
        code, _, body = self.c.get("/api/v1/namespaces")
        self.assertEqual(body["kind"], "NamespaceList")

    def test_keep_alive(self):
        c = self.c.conn()
        for _ in range(3):
            c.request("GET", pod_path("default", "app-1"),
                      headers={"Authorization": "Bearer admin-token"})
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            r.read()
        c.close()

    def test_create(self):
        pod = podlib.istio_pod("made-1", "default", "node-1")
        del pod["metadata"]["uid"]
        code, _, body = self.c.req("POST", "/api/v1/namespaces/default/pods", pod)
        self.assertEqual(code, 201)
        self.assertTrue(body["metadata"]["uid"])
        self.assertEqual(body["metadata"]["resourceVersion"], str(self.api.store.rv))
        code, _, body = self.c.req("POST", "/api/v1/namespaces/default/pods", pod)
        self.assertStatus(body, 409, "AlreadyExists", 'pods "made-1" already exists')
        code, _, body = self.c.req("POST", "/api/v1/namespaces/nons/pods",
                                   podlib.istio_pod("x", "nons"))
        self.assertStatus(body, 404, "NotFound", 'namespaces "nons" not found')
        code, _, body = self.c.req("POST", "/api/v1/namespaces/default/pods",
                                   podlib.istio_pod("x", "other"))
        self.assertStatus(body, 400, "BadRequest")
        gen = podlib.istio_pod("x")
        gen["metadata"]["name"] = ""
        code, _, body = self.c.req("POST", "/api/v1/namespaces/default/pods", gen)
        self.assertEqual(code, 201)
        self.assertTrue(body["metadata"]["name"].startswith(
            gen["metadata"]["generateName"]))
        self.assertEqual(len(body["metadata"]["name"]), len(gen["metadata"]["generateName"]) + 5)


class TestWrites(Base):
    def test_status_merge_patch_labels(self):
        rv0 = self.broken["metadata"]["resourceVersion"]
        code, _, body = self.c.patch(pod_path("default", "broken-1", "status"),
                                     {"metadata": {"labels": {
                                         "cni.istio.io/uninitialized": "true"}}})
        self.assertEqual(code, 200)
        self.assertEqual(body["metadata"]["labels"]["cni.istio.io/uninitialized"], "true")
        self.assertNotEqual(body["metadata"]["resourceVersion"], rv0)
        self.assertEqual(self.api.get_pod("default", "broken-1")["metadata"]["labels"][
            "cni.istio.io/uninitialized"], "true")

    def test_status_patch_cannot_change_spec_main_cannot_change_status(self):
        code, _, body = self.c.patch(pod_path("default", "app-1", "status"),
                                     {"spec": {"nodeName": "elsewhere"},
                                      "status": {"phase": "Failed"}})
        self.assertEqual(code, 200)
        self.assertEqual(body["spec"]["nodeName"], "node-1")
        self.assertEqual(body["status"]["phase"], "Failed")
        code, _, body = self.c.patch(pod_path("default", "app-1"),
                                     {"metadata": {"labels": {"x": "y"}},
                                      "status": {"phase": "Running"}})
        self.assertEqual(code, 200)
        self.assertEqual(body["status"]["phase"], "Failed")
        self.assertEqual(body["metadata"]["labels"]["x"], "y")

    def test_spec_change_is_invalid(self):
        code, _, body = self.c.patch(pod_path("default", "app-1"),
                                     {"spec": {"nodeName": "elsewhere"}})
        self.assertEqual(code, 422)
        self.assertStatus(body, 422, "Invalid")
        self.assertTrue(body["message"].startswith('Pod "app-1" is invalid: spec: Forbidden'))

    def test_image_change_allowed_strategic(self):
        code, _, body = self.c.patch(pod_path("default", "app-1"),
                                     {"spec": {"containers": [{"name": "istio-proxy",
                                                               "image": "proxyv2:new"}]}},
                                     "application/strategic-merge-patch+json")
        self.assertEqual(code, 200, body)
        imgs = {c["name"]: c["image"] for c in body["spec"]["containers"]}
        self.assertEqual(imgs["istio-proxy"], "proxyv2:new")
        self.assertEqual(imgs["productpage"], podlib.APP_IMAGE)

    def test_json_patch(self):
        code, _, body = self.c.patch(pod_path("default", "app-1"), [
            {"op": "test", "path": "/metadata/name", "value": "app-1"},
            {"op": "add", "path": "/metadata/labels/cni.istio.io~1uninitialized",
             "value": "true"}], "application/json-patch+json")
        self.assertEqual(code, 200, body)
        self.assertEqual(body["metadata"]["labels"]["cni.istio.io/uninitialized"], "true")
        code, _, body = self.c.patch(pod_path("default", "app-1"), [
            {"op": "test", "path": "/metadata/name", "value": "other"}],
            "application/json-patch+json")
        self.assertEqual(code, 422)

    def test_stale_resource_version_conflicts(self):
        code, _, body = self.c.patch(pod_path("default", "app-1"),
                                     {"metadata": {"resourceVersion": "1",
                                                   "labels": {"a": "b"}}})
        self.assertEqual(code, 409)
        self.assertStatus(body, 409, "Conflict",
                          'Operation cannot be fulfilled on pods "app-1": the object has been '
                          'modified; please apply your changes to the latest version and try '
                          'again', {"name": "app-1", "kind": "pods"})
        cur = self.api.get_pod("default", "app-1")
        cur["metadata"]["labels"]["a"] = "b"
        code, _, body = self.c.req("PUT", pod_path("default", "app-1"), cur)
        self.assertEqual(code, 200)
        code, _, body = self.c.req("PUT", pod_path("default", "app-1"), cur)
        self.assertEqual(code, 409)

    def test_noop_patch_keeps_resource_version(self):
        rv = self.api.store.rv
        code, _, body = self.c.patch(pod_path("default", "app-1"),
                                     {"metadata": {"labels": {"app": "productpage"}}})
        self.assertEqual(code, 200)
        self.assertEqual(self.api.store.rv, rv)
        self.assertEqual(body["metadata"]["resourceVersion"],
                         self.sidecar["metadata"]["resourceVersion"])

    def test_patch_errors(self):
        code, _, body = self.c.patch(pod_path("default", "app-1"), {"a": 1},
                                     "application/json")
        self.assertStatus(body, 415, "UnsupportedMediaType")
        code, _, body = self.c.patch(pod_path("default", "nope", "status"), {})
        self.assertStatus(body, 404, "NotFound", 'pods "nope" not found')
        code, _, body = self.c.req("PATCH", pod_path("default", "app-1"), b"{not json",
                                   "application/merge-patch+json")
        self.assertStatus(body, 400, "BadRequest")

    def test_delete(self):
        code, _, body = self.c.req("DELETE", pod_path("default", "app-1"))
        self.assertEqual(code, 200)
        self.assertEqual(body["kind"], "Pod")
        self.assertEqual(self.c.get(pod_path("default", "app-1"))[0], 404)
        code, _, body = self.c.req("DELETE", pod_path("default", "app-1"))
        self.assertStatus(body, 404, "NotFound", 'pods "app-1" not found')

    def test_delete_preconditions(self):
        meta = self.broken["metadata"]
        cases = [
            ({"uid": "11111111-2222-3333-4444-555555555555"},
             'Operation cannot be fulfilled on pods "broken-1": Precondition failed: UID in '
             'precondition: 11111111-2222-3333-4444-555555555555, UID in object meta: %s'
             % meta["uid"]),
            ({"uid": meta["uid"], "resourceVersion": "1"},
             'Operation cannot be fulfilled on pods "broken-1": Precondition failed: '
             'ResourceVersion in precondition: 1, ResourceVersion in object meta: %s'
             % meta["resourceVersion"]),
        ]
        for pre, msg in cases:
            with self.subTest(pre=pre):
                code, _, body = self.c.req("DELETE", pod_path("default", "broken-1"), {
                    "kind": "DeleteOptions", "apiVersion": "v1", "preconditions": pre})
                self.assertEqual(code, 409)
                self.assertStatus(body, 409, "Conflict", msg,
                                  {"name": "broken-1", "kind": "pods"})
        code, _, body = self.c.req("DELETE", pod_path("default", "broken-1"), {
            "kind": "DeleteOptions", "apiVersion": "v1",
            "preconditions": {"uid": meta["uid"], "resourceVersion": meta["resourceVersion"]}})
        self.assertEqual(code, 200)
        self.assertIsNone(self.api.get_pod("default", "broken-1"))

    def test_replaced_pod_is_not_deleted(self):
        old_uid = self.broken["metadata"]["uid"]
        self.api.delete_pod("default", "broken-1")
        self.api.add_pod(podlib.broken_pod("broken-1", "default", "node-1",
                                           uid=podlib.pod_uid("default", "broken-1", 1)))
        code, _, body = self.c.req("DELETE", pod_path("default", "broken-1"),
                                   {"preconditions": {"uid": old_uid}})
        self.assertEqual(code, 409)
        self.assertIsNotNone(self.api.get_pod("default", "broken-1"))

    def test_graceful_delete(self):
        self.api.configure(graceful_delete=True)
        code, _, body = self.c.req("DELETE", pod_path("default", "app-1"))
        self.assertEqual(code, 200)
        self.assertIn("deletionTimestamp", body["metadata"])
        self.assertEqual(body["metadata"]["deletionGracePeriodSeconds"], 30)
        self.assertIsNotNone(self.api.get_pod("default", "app-1"))
        code, _, body = self.c.req("DELETE", pod_path("default", "app-1") +
                                   "?gracePeriodSeconds=0")
        self.assertIsNone(self.api.get_pod("default", "app-1"))

    def test_events_core_and_events_k8s_io(self):
        core = {"apiVersion": "v1", "kind": "Event",
                "metadata": {"generateName": "broken-1.", "namespace": "default"},
                "involvedObject": {"kind": "Pod", "namespace": "default", "name": "broken-1",
                                   "uid": self.broken["metadata"]["uid"]},
                "reason": "DeleteBrokenPod", "message": "pod detected as broken, deleted",
                "type": "Warning", "source": {"component": "cni-repair"}}
        code, _, body = self.c.req("POST", "/api/v1/namespaces/default/events", core)
        self.assertEqual(code, 201)
        self.assertTrue(body["metadata"]["name"].startswith("broken-1."))
        new = {"apiVersion": "events.k8s.io/v1", "kind": "Event",
               "metadata": {"name": "broken-1.17f0"}, "reason": "LabelBrokenPod",
               "regarding": {"kind": "Pod", "name": "broken-1"}, "type": "Warning",
               "action": "Label", "reportingController": "istio-cni",
               "reportingInstance": "node-1", "eventTime": "2024-11-05T09:13:00.000000Z"}
        code, _, body = self.c.req("POST", "/apis/events.k8s.io/v1/namespaces/default/events",
                                   new)
        self.assertEqual(code, 201)
        self.assertEqual(body["apiVersion"], "events.k8s.io/v1")
        recorded = self.api.recorded_events()
        self.assertEqual(sorted(e["reason"] for e in recorded),
                         ["DeleteBrokenPod", "LabelBrokenPod"])
        code, _, body = self.c.get("/api/v1/namespaces/default/events?fieldSelector=" +
                                   "reason%3DDeleteBrokenPod")
        self.assertEqual([e["reason"] for e in body["items"]], ["DeleteBrokenPod"])
        code, _, body = self.c.patch("/api/v1/namespaces/default/events/" +
                                     recorded[0]["metadata"]["name"], {"count": 2})
        self.assertEqual((code, body["count"]), (200, 2))
        self.api.clear_events()
        self.assertEqual(self.api.recorded_events(), [])

    def test_event_errors(self):
        cases = [
            ("/api/v1/namespaces/default/events", {"reason": "x"}, 422, "Invalid"),
            ("/api/v1/namespaces/default/events",
             {"metadata": {"name": "e", "namespace": "other"}}, 400, "BadRequest"),
            ("/api/v1/namespaces/missing/events", {"metadata": {"name": "e"}}, 404, "NotFound"),
            ("/apis/events.k8s.io/v1/namespaces/default/events", {"reason": "x"}, 422,
             "Invalid"),
        ]
        for path, body, code, reason in cases:
            with self.subTest(path=path, body=body):
                got, _, out = self.c.req("POST", path, body)
                self.assertEqual(got, code)
                self.assertStatus(out, code, reason)
        got, _, out = self.c.req("POST", "/api/v1/namespaces/missing/events",
                                 {"metadata": {"name": "e"}})
        self.assertEqual(out["message"], 'namespaces "missing" not found')


class TestWatch(Base):
    server_kw = {"bookmark_interval": 0.2}

    def test_initial_state_then_live_events(self):
        w = self.c.watch("/api/v1/pods?watch=true&fieldSelector=spec.nodeName%3Dnode-1")
        self.addCleanup(w.close)
        self.assertEqual(w.resp.status, 200)
        self.assertEqual(w.resp.getheader("Transfer-Encoding"), "chunked")
        self.assertEqual(w.resp.getheader("Content-Type"), "application/json")
        first = w.take(3)
        self.assertEqual([e["type"] for e in first], ["ADDED"] * 3)
        self.assertEqual({e["object"]["metadata"]["name"] for e in first},
                         {"app-1", "broken-1", "gw-1"})
        self.api.add_pod(podlib.istio_pod("new-1", "default", "node-1"))
        self.api.add_pod(podlib.istio_pod("new-2", "default", "node-2"))   # filtered out
        self.api.make_pod_healthy("default", "broken-1")
        self.api.delete_pod("default", "app-1")
        evs = w.take(3)
        self.assertEqual([(e["type"], e["object"]["metadata"]["name"]) for e in evs],
                         [("ADDED", "new-1"), ("MODIFIED", "broken-1"), ("DELETED", "app-1")])
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in evs]
        self.assertEqual(rvs, sorted(rvs))
        self.assertEqual(rvs[-1], self.api.store.rv)

    def test_raw_wire_format(self):
        s = socket.create_connection(("127.0.0.1", self.api.port), 5)
        ctx = ssl.create_default_context(cafile=self.api.ca)
        t = ctx.wrap_socket(s, server_hostname="localhost")
        t.sendall(b"GET /api/v1/namespaces/default/pods?watch=1&timeoutSeconds=1&"
                  b"fieldSelector=metadata.name%3Dapp-1 HTTP/1.1\r\nHost: localhost\r\n"
                  b"Authorization: Bearer admin-token\r\n\r\n")
        data = b""
        while not data.endswith(b"\r\n0\r\n\r\n"):
            chunk = t.recv(65536)
            if not chunk:
                break
            data += chunk
        t.close()
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertIn(b"Transfer-Encoding: chunked", head)
        self.assertNotIn(b"Content-Length", head)
        size, _, rest = body.partition(b"\r\n")
        line = rest[:int(size, 16)]
        self.assertTrue(line.endswith(b"}\n"))
        self.assertEqual(json.loads(line)["type"], "ADDED")
        self.assertTrue(body.endswith(b"\r\n0\r\n\r\n"))

    def test_resume_from_resource_version(self):
        rv = self.api.store.rv
        self.api.patch_pod("default", "app-1", {"metadata": {"labels": {"x": "1"}}})
        self.api.add_pod(podlib.istio_pod("new-1", "default", "node-1"))
        w = self.c.watch("/api/v1/namespaces/default/pods?watch=true&resourceVersion=%d" % rv)
        self.addCleanup(w.close)
        evs = w.take(2)
        self.assertEqual([(e["type"], e["object"]["metadata"]["name"]) for e in evs],
                         [("MODIFIED", "app-1"), ("ADDED", "new-1")])

    def test_selector_transitions(self):
        w = self.c.watch("/api/v1/pods?watch=true&resourceVersion=%d&labelSelector=%s" % (
            self.api.store.rv, urllib.parse.quote("!cni.istio.io/uninitialized")))
        self.addCleanup(w.close)
        self.api.patch_pod("default", "broken-1", {"metadata": {"labels": {
            "cni.istio.io/uninitialized": "true"}}})
        ev = w.next()
        self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("DELETED", "broken-1"))
        self.assertNotIn("cni.istio.io/uninitialized", ev["object"]["metadata"]["labels"])
        self.assertEqual(ev["object"]["metadata"]["resourceVersion"], str(self.api.store.rv))
        self.api.patch_pod("default", "broken-1", {"metadata": {"labels": {
            "cni.istio.io/uninitialized": None}}})
        ev = w.next()
        self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("ADDED", "broken-1"))

    def test_bookmarks(self):
        w = self.c.watch("/api/v1/pods?watch=true&allowWatchBookmarks=true&resourceVersion=%d"
                         % self.api.store.rv)
        self.addCleanup(w.close)
        t0 = time.monotonic()
        ev = w.next()
        self.assertLess(time.monotonic() - t0, 2)
        self.assertEqual(ev, {"type": "BOOKMARK", "object": {
            "kind": "Pod", "apiVersion": "v1",
            "metadata": {"resourceVersion": str(self.api.store.rv)}}})
        self.api.add_pod(podlib.istio_pod("new-1"))
        types = []
        while "ADDED" not in types:
            types.append(w.next()["type"])
        ev = w.next()
        self.assertEqual(ev["type"], "BOOKMARK")
        self.assertEqual(ev["object"]["metadata"]["resourceVersion"], str(self.api.store.rv))

    def test_no_bookmarks_unless_asked(self):
        w = self.c.watch("/api/v1/pods?watch=true&timeoutSeconds=1&resourceVersion=%d"
                         % self.api.store.rv)
        self.addCleanup(w.close)
        self.assertEqual(w.rest(), [])

    def test_timeout_seconds_ends_cleanly(self):
        w = self.c.watch("/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1")
        self.addCleanup(w.close)
        t0 = time.monotonic()
        evs = w.rest()      # raises IncompleteRead if the terminating chunk were missing
        dt = time.monotonic() - t0
        self.assertEqual(len(evs), 3)
        self.assertGreaterEqual(dt, 0.8)
        self.assertLess(dt, 3)

    def test_too_old_resource_version_error_event(self):
        self.api.add_pod(podlib.istio_pod("new-1"))
        self.api.expire_history()
        w = self.c.watch("/api/v1/pods?watch=true&resourceVersion=2")
        self.addCleanup(w.close)
        self.assertEqual(w.resp.status, 200)
        evs = w.rest()
        self.assertEqual(len(evs), 1)
        self.assertEqual(evs[0]["type"], "ERROR")
        self.assertStatus(evs[0]["object"], 410, "Expired",
                          "too old resource version: 2 (%d)" % (self.api.store.rv + 1))

    def test_too_old_resource_version_http(self):
        self.api.configure(gone_mode="http")
        self.api.expire_history()
        code, _, body = self.c.get("/api/v1/pods?watch=true&resourceVersion=1")
        self.assertEqual(code, 410)
        self.assertStatus(body, 410, "Expired")

    def test_history_window_is_bounded(self):
        self.api.configure(history_size=3)
        rv = self.api.store.rv
        for i in range(5):
            self.api.add_pod(podlib.istio_pod("n-%d" % i))
        w = self.c.watch("/api/v1/pods?watch=true&resourceVersion=%d" % rv)
        self.addCleanup(w.close)
        evs = w.rest()
        self.assertEqual([(e["type"], e["object"]["code"]) for e in evs], [("ERROR", 410)])
        w = self.c.watch("/api/v1/pods?watch=true&resourceVersion=%d" % (self.api.store.rv - 3))
        self.addCleanup(w.close)
        self.assertEqual([e["object"]["metadata"]["name"] for e in w.take(3)],
                         ["n-2", "n-3", "n-4"])

    def test_expiry_mid_watch(self):
        w = self.c.watch("/api/v1/pods?watch=true&resourceVersion=%d" % self.api.store.rv)
        self.addCleanup(w.close)
        self._wait_watches(1)
        self.api.expire_history(kill_watches=True)
        evs = w.rest()
        self.assertEqual(len(evs), 1)
        self.assertEqual(evs[0]["type"], "ERROR")
        self.assertEqual(evs[0]["object"]["code"], 410)

    def test_slow_watcher_falls_out_of_window(self):
        self.api.configure(history_size=2)
        w = self.c.watch("/api/v1/pods?watch=true&resourceVersion=%d" % self.api.store.rv)
        self.addCleanup(w.close)
        self._wait_watches(1)
        with self.api.store.cond:          # the watcher cannot run while we hold the lock
            for i in range(4):
                self.api.add_pod(podlib.istio_pod("n-%d" % i))
        evs = w.rest()
        self.assertEqual(evs[-1]["type"], "ERROR")
        self.assertEqual(evs[-1]["object"]["reason"], "Expired")

    def _wait_watches(self, n):
        for _ in range(200):
            if self.api.active_watches() >= n:
                return
            time.sleep(0.01)
        self.fail("watch did not start")

    def test_cut_mid_stream(self):
        w = self.c.watch("/api/v1/namespaces/default/pods?watch=true")
        self.addCleanup(w.close)
        w.take(3)
        self._wait_watches(1)
        self.assertEqual(self.api.cut_watches(), 1)
        with self.assertRaises(http.client.IncompleteRead):
            w.rest()

    def test_cut_fault_after_events(self):
        self.api.add_fault("cut", count=1, after_events=2, verb="watch")
        w = self.c.watch("/api/v1/namespaces/default/pods?watch=true")
        self.addCleanup(w.close)
        self.assertEqual(len(w.take(2)), 2)
        with self.assertRaises(http.client.IncompleteRead):
            w.next()
        w2 = self.c.watch("/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1")
        self.addCleanup(w2.close)
        self.assertEqual(len(w2.rest()), 3)

    def test_watch_single_pod_path(self):
        w = self.c.watch("/api/v1/watch/namespaces/default/pods/app-1?timeoutSeconds=1")
        self.addCleanup(w.close)
        self.api.patch_pod("default", "app-2", {"metadata": {"labels": {"x": "1"}}})
        self.api.patch_pod("default", "app-1", {"metadata": {"labels": {"x": "1"}}})
        evs = w.rest()
        self.assertEqual([(e["type"], e["object"]["metadata"]["name"]) for e in evs],
                         [("ADDED", "app-1"), ("MODIFIED", "app-1")])

    def test_watch_from_zero_and_status_patch_over_api(self):
        w = self.c.watch("/api/v1/pods?watch=true&resourceVersion=0&"
                         "fieldSelector=metadata.name%3Dbroken-1")
        self.addCleanup(w.close)
        self.assertEqual(w.next()["type"], "ADDED")
        self.c.patch(pod_path("default", "broken-1", "status"),
                     {"metadata": {"labels": {"cni.istio.io/uninitialized": "true"}}})
        ev = w.next()
        self.assertEqual(ev["type"], "MODIFIED")
        self.assertEqual(ev["object"]["metadata"]["labels"]["cni.istio.io/uninitialized"],
                         "true")

    def test_client_disconnect_releases_watch(self):
        w = self.c.watch("/api/v1/pods?watch=true&resourceVersion=%d" % self.api.store.rv)
        self._wait_watches(1)
        w.close()
        for _ in range(300):
            if self.api.active_watches() == 0:
                break
            time.sleep(0.01)
        self.assertEqual(self.api.active_watches(), 0)

    def test_watch_max_seconds(self):
        self.api.configure(watch_max_seconds=0.5)
        w = self.c.watch("/api/v1/pods?watch=true&resourceVersion=%d&timeoutSeconds=100"
                         % self.api.store.rv)
        self.addCleanup(w.close)
        t0 = time.monotonic()
        self.assertEqual(w.rest(), [])
        self.assertLess(time.monotonic() - t0, 3)

    def test_bad_resource_version(self):
        code, _, body = self.c.get("/api/v1/pods?watch=true&resourceVersion=abc")
        self.assertStatus(body, 400, "BadRequest")


class TestFaults(Base):
    def test_fail_next_n_matching(self):
        self.api.add_fault("fail", count=2, status=500, path=r"/pods/app-1$", verb="get")
        cases = [(pod_path("default", "app-1"), 500), (pod_path("default", "app-2"), 200),
                 (pod_path("default", "app-1"), 500), (pod_path("default", "app-1"), 200)]
        for path, want in cases:
            code, _, body = self.c.get(path)
            self.assertEqual(code, want)
        self.assertEqual(self.c.get(pod_path("default", "app-1"))[0], 200)

    def test_fail_bodies(self):
        cases = [(500, "InternalError", None), (503, "ServiceUnavailable", "3"),
                 (429, "TooManyRequests", "3"), (504, "Timeout", "3")]
        for code, reason, retry in cases:
            with self.subTest(code=code):
                self.api.add_fault("fail", count=1, status=code, retry_after=3)
                got, r, body = self.c.get("/api/v1/pods")
                self.assertEqual(got, code)
                self.assertStatus(body, code, reason)
                self.assertEqual(r.getheader("Retry-After"), retry)
        self.assertEqual(body["details"]["retryAfterSeconds"], 3)

    def test_unlimited_until_cleared(self):
        self.api.add_fault("fail", count=None, status=503, verb="list")
        for _ in range(3):
            self.assertEqual(self.c.get("/api/v1/pods")[0], 503)
        self.assertEqual(self.c.get(pod_path("default", "app-1"))[0], 200)
        self.api.clear_faults()
        self.assertEqual(self.c.get("/api/v1/pods")[0], 200)

    def test_drop(self):
        for rst in (False, True):
            with self.subTest(rst=rst):
                self.api.add_fault("drop", count=1, rst=rst)
                with self.assertRaises((http.client.RemoteDisconnected, ConnectionError,
                                        ssl.SSLError)):
                    self.c.get("/api/v1/pods")
                self.assertEqual(self.c.get("/api/v1/pods")[0], 200)
        self.assertIn(0, [e["status"] for e in self.api.requests()])

    def test_latency(self):
        self.api.add_fault("latency", count=1, seconds=0.4, verb="DELETE")
        t0 = time.monotonic()
        self.assertEqual(self.c.get("/api/v1/pods")[0], 200)
        self.assertLess(time.monotonic() - t0, 0.35)
        t0 = time.monotonic()
        self.assertEqual(self.c.req("DELETE", pod_path("default", "app-1"))[0], 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.4)

    def test_unknown_fault_kind(self):
        with self.assertRaises(ValueError):
            self.api.add_fault("explode")

    def test_request_log(self):
        self.api.clear_requests()
        self.c.req("DELETE", pod_path("default", "broken-1"),
                   {"preconditions": {"uid": "u"}})
        self.c.get("/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1")
        log = self.api.requests()
        self.assertEqual(len(log), 2)
        d, g = log
        self.assertEqual((d["method"], d["path"], d["status"], d["verb"], d["user"]),
                         ("DELETE", pod_path("default", "broken-1"), 409, "delete", "admin"))
        self.assertEqual(json.loads(d["body"])["preconditions"], {"uid": "u"})
        self.assertEqual(d["headers"]["Authorization"], "Bearer <redacted>")
        self.assertNotIn("admin-token", json.dumps(log))
        self.assertEqual(g["params"], {"fieldSelector": "spec.nodeName=node-1"})
        self.assertEqual(g["query"], "fieldSelector=spec.nodeName%3Dnode-1")
        self.assertGreater(g["time"], 0)
        self.api.clear_requests()
        self.assertEqual(self.api.requests(), [])

    def test_request_counts(self):
        self.api.clear_requests()
        self.api.add_fault("fail", count=1, status=429, retry_after=2, verb="list")
        for _ in range(3):
            self.c.get("/api/v1/pods")
        self.c.req("DELETE", pod_path("default", "app-1"))
        body = self.api.request_counts()
        self.assertEqual(body["total"], 4)
        self.assertEqual(body["by_verb"], {"list": 3, "delete": 1})
        self.assertEqual(body["by_path"], {"GET /api/v1/pods": 3,
                                           "DELETE " + pod_path("default", "app-1"): 1})
        self.assertEqual(body["by_status"], {"429": 1, "200": 3})
        self.assertEqual(body["peak_per_second"], {"all": 4, "list": 3, "delete": 1,
                                                   "writes": 1})

    def test_watch_410_storm(self):
        self.api.add_fault("fail", count=2, status=410, verb="watch")
        path = "/api/v1/pods?watch=true&resourceVersion=%d" % self.api.store.rv
        for _ in range(2):
            code, _, body = self.c.get(path)
            self.assertEqual(code, 410)
            self.assertStatus(body, 410, "Expired")


class TestControlAPI(Base):
    def ctl(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.api.control_port, timeout=10)
        try:
            c.request(method, path, body=json.dumps(body) if body is not None else None,
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            return r.status, json.loads(r.read())
        finally:
            c.close()

    def test_pods_lifecycle(self):
        code, out = self.ctl("POST", "/pods", {"kind": "PodList", "items": [
            podlib.istio_pod("c-1", "ctl"), podlib.uninjected_pod("c-2", "ctl")]})
        self.assertEqual((code, len(out["items"])), (201, 2))
        self.assertEqual(self.c.get("/api/v1/namespaces/ctl")[0], 200)
        code, out = self.ctl("POST", "/pods/ctl/c-1/broken", {"restart_count": 5})
        self.assertEqual(out["status"]["initContainerStatuses"][0]["restartCount"], 5)
        code, out = self.ctl("PATCH", "/pods/ctl/c-1/status", {"phase": "Failed"})
        self.assertEqual(out["status"]["phase"], "Failed")
        self.assertIn("initContainerStatuses", out["status"])
        code, out = self.ctl("PUT", "/pods/ctl/c-1/status", {"phase": "Running"})
        self.assertEqual(out["status"], {"phase": "Running"})
        code, out = self.ctl("POST", "/pods/ctl/c-1/healthy")
        self.assertEqual(out["status"]["phase"], "Running")
        code, out = self.ctl("PATCH", "/pods/ctl/c-1", {"metadata": {"labels": {"k": "v"}}})
        self.assertEqual(out["metadata"]["labels"]["k"], "v")
        code, out = self.ctl("PUT", "/pods/ctl/c-1", podlib.istio_pod("ignored", "x"))
        self.assertEqual(out["metadata"]["name"], "c-1")
        code, out = self.ctl("DELETE", "/pods/ctl/c-2")
        self.assertEqual(code, 200)
        code, out = self.ctl("DELETE", "/pods/ctl/c-2")
        self.assertEqual(code, 404)
        self.assertEqual(out["reason"], "NotFound")
        code, out = self.ctl("GET", "/pods")
        self.assertEqual(len(out["items"]), 5)

    def test_bulk_500_broken(self):
        t0 = time.monotonic()
        code, out = self.ctl("POST", "/pods/bulk", {"count": 500, "broken": True,
                                                    "namespace": "bench", "node": "node-9"})
        self.assertEqual((code, out["created"]), (201, 500))
        code, _, body = self.c.get("/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-9")
        self.assertEqual(len(body["items"]), 500)
        ips = {p["status"]["podIP"] for p in body["items"]}
        self.assertEqual(len(ips), 500)
        self.assertTrue(all(p["status"]["initContainerStatuses"][0]["lastState"]["terminated"]
                            ["exitCode"] == 126 for p in body["items"]))
        self.assertLess(time.monotonic() - t0, 30)

    def test_tokens_rbac_faults_config(self):
        self.assertEqual(self.ctl("POST", "/tokens", {"token": "t2", "user": "u2"})[0], 200)
        self.assertEqual(self.ctl("PUT", "/rbac/u2", ["get pods"])[0], 200)
        u2 = Client(self.api, token="t2")
        self.assertEqual(u2.get(pod_path("default", "app-1"))[0], 200)
        self.assertEqual(self.ctl("DELETE", "/tokens/t2")[0], 200)
        self.assertEqual(u2.get(pod_path("default", "app-1"))[0], 401)
        self.ctl("PUT", "/tokens", {"only": "admin"})
        self.assertEqual(Client(self.api, token="only").get("/api/v1/pods")[0], 200)
        self.assertEqual(self.c.get("/api/v1/pods")[0], 401)
        self.c.token = "only"
        code, rule = self.ctl("POST", "/faults", {"kind": "fail", "status": 429, "count": 1})
        self.assertEqual((code, rule["status"]), (201, 429))
        self.assertEqual(len(self.ctl("GET", "/faults")[1]["items"]), 1)
        self.assertEqual(self.c.get("/api/v1/pods")[0], 429)
        self.ctl("POST", "/faults", {"kind": "fail", "status": 500, "count": 1})
        self.ctl("DELETE", "/faults")
        self.assertEqual(self.c.get("/api/v1/pods")[0], 200)
        self.assertEqual(self.ctl("PUT", "/config", {"bookmark_interval": 0.1,
                                                     "history_size": 5})[0], 200)
        self.assertEqual(self.api.store.history_size, 5)
        self.assertEqual(self.ctl("PUT", "/config", {"bogus": 1})[0], 400)
        self.assertEqual(self.ctl("GET", "/nope")[0], 404)

    def test_events_requests_state_watch_control(self):
        self.c.req("POST", "/api/v1/namespaces/default/events",
                   {"metadata": {"name": "e1"}, "reason": "RepairedBrokenPod"})
        self.assertEqual([e["reason"] for e in self.ctl("GET", "/events")[1]["items"]],
                         ["RepairedBrokenPod"])
        self.ctl("DELETE", "/events")
        self.assertEqual(self.ctl("GET", "/events")[1]["items"], [])
        reqs = self.ctl("GET", "/requests")[1]["items"]
        self.assertEqual(reqs[0]["path"], "/api/v1/namespaces/default/events")
        self.ctl("DELETE", "/requests")
        self.assertEqual(self.ctl("GET", "/requests")[1]["items"], [])
        w = self.c.watch("/api/v1/pods?watch=true&resourceVersion=%d" % self.api.store.rv)
        self.addCleanup(w.close)
        for _ in range(200):
            if self.ctl("GET", "/state")[1]["watches"] == 1:
                break
            time.sleep(0.01)
        state = self.ctl("GET", "/state")[1]
        self.assertEqual((state["pods"], state["watches"], state["port"]),
                         (4, 1, self.api.port))
        self.assertEqual(self.ctl("POST", "/watches/cut")[1], {"cut": 1})
        with self.assertRaises(http.client.IncompleteRead):
            w.rest()
        code, out = self.ctl("POST", "/history/expire", {})
        self.assertEqual(out["compacted_rv"], self.api.store.rv)


class TestCLI(unittest.TestCase):
    def test_cli_start_serve_stop(self):
        d = tempfile.mkdtemp(prefix="fakeapi-cli-")
        self.addCleanup(shutil.rmtree, d, True)
        pods_file = os.path.join(d, "pods.json")
        with open(pods_file, "w") as f:
            json.dump({"kind": "PodList", "apiVersion": "v1",
                       "items": [podlib.istio_pod("cli-1"), podlib.broken_pod("cli-2")]}, f)
        tok_file = os.path.join(d, "token")
        with open(tok_file, "w") as f:
            f.write("file-token\n")
        p = subprocess.Popen([sys.executable, os.path.join(HERE, "fake_apiserver.py"),
                              "--dir", os.path.join(d, "api"), "--pods-file", pods_file,
                              "--token", "tok=" + CNI_USER,
                              "--token-file", tok_file + "=reader",
                              "--allow", CNI_USER + "=get pods,list pods",
                              "--allow", "reader=pods:get", "--bulk", "3", "--node", "n9",
                              "--client-ca"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        info = json.loads(p.stdout.readline())
        with open(os.path.join(d, "api", "server.json")) as f:
            self.assertEqual(json.load(f), info)
        self.assertTrue(os.path.exists(info["client_crt"]))

        class Srv:
            tls, port, ca = True, info["port"], info["ca"]
        c = Client(Srv, token="tok")
        code, _, body = c.get("/api/v1/pods")
        self.assertEqual(code, 200)
        self.assertEqual(len(body["items"]), 5)
        self.assertEqual(c.get("/api/v1/namespaces/default")[0], 403)
        self.assertEqual(Client(Srv, token="file-token").get(
            pod_path("default", "cli-2"))[0], 200)
        code, _, _ = Client(Srv, token="admin-token").get("/api/v1/pods")
        self.assertEqual(code, 401)
        cc = http.client.HTTPConnection("127.0.0.1", info["control_port"], timeout=5)
        cc.request("GET", "/healthz")
        self.assertEqual(cc.getresponse().status, 200)
        cc.close()
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(10), 0)
        p.stdout.close()
        p.stderr.close()


class TestPodBuilders(unittest.TestCase):
    def test_sidecar_pod_shape(self):
        p = podlib.istio_pod("a", "ns", "n1")
        self.assertEqual((p["kind"], p["apiVersion"]), ("Pod", "v1"))
        m = p["metadata"]
        for k in ("uid", "resourceVersion", "creationTimestamp"):
            self.assertIsInstance(m[k], str)
        self.assertEqual(m["labels"]["security.istio.io/tlsMode"], "istio")
        self.assertEqual(m["labels"]["service.istio.io/canonical-name"], "productpage")
        st = json.loads(m["annotations"]["sidecar.istio.io/status"])
        self.assertEqual(st["initContainers"], ["istio-validation"])
        self.assertEqual(st["containers"], ["istio-proxy"])
        self.assertIn("istio-envoy", st["volumes"])
        self.assertIsNone(st["imagePullSecrets"])
        self.assertEqual(st["revision"], "default")
        self.assertEqual(m["annotations"]["kubectl.kubernetes.io/default-container"],
                         "productpage")
        self.assertEqual(m["annotations"]["prometheus.io/port"], "15020")
        v = p["spec"]["initContainers"][0]
        self.assertEqual(v["name"], "istio-validation")
        self.assertEqual(v["args"], [
            "istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT",
            "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020",
            "--log_output_level=default:info", "--run-validation", "--skip-rule-apply"])
        sc = v["securityContext"]
        self.assertEqual((sc["runAsUser"], sc["runAsGroup"], sc["runAsNonRoot"],
                          sc["readOnlyRootFilesystem"], sc["capabilities"]),
                         (1337, 1337, True, True, {"drop": ["ALL"]}))
        proxy = [c for c in p["spec"]["containers"] if c["name"] == "istio-proxy"][0]
        self.assertEqual(proxy["args"][:4], ["proxy", "sidecar", "--domain",
                                             "$(POD_NAMESPACE).svc.cluster.local"])
        self.assertEqual(proxy["ports"][0]["containerPort"], 15090)
        self.assertEqual(proxy["readinessProbe"]["httpGet"]["port"], 15021)
        self.assertTrue(any("valueFrom" in e for e in proxy["env"]))
        self.assertEqual(p["spec"]["nodeName"], "n1")
        s = p["status"]
        self.assertEqual((s["phase"], s["podIP"], s["podIPs"]),
                         ("Running", "10.244.1.5", [{"ip": "10.244.1.5"}]))
        self.assertTrue(s["hostIP"])
        self.assertEqual(s["initContainerStatuses"][0]["state"]["terminated"]["exitCode"], 0)

    def test_broken(self):
        p = podlib.broken_pod(restart_count=4)
        ic = p["status"]["initContainerStatuses"][0]
        self.assertEqual(ic["name"], "istio-validation")
        self.assertEqual(ic["lastState"]["terminated"]["exitCode"], 126)
        self.assertEqual(ic["lastState"]["terminated"]["reason"], "Error")
        self.assertEqual(ic["state"]["waiting"]["reason"], "CrashLoopBackOff")
        self.assertEqual(ic["restartCount"], 4)
        self.assertEqual(p["status"]["phase"], "Pending")
        podlib.make_healthy(p)
        self.assertEqual(p["status"]["initContainerStatuses"][0]["state"]["terminated"][
            "reason"], "Completed")

    def test_variants(self):
        nat = podlib.variant("native-sidecar")
        proxy = [c for c in nat["spec"]["initContainers"] if c["name"] == "istio-proxy"][0]
        self.assertEqual(proxy["restartPolicy"], "Always")
        self.assertEqual(json.loads(nat["metadata"]["annotations"]["sidecar.istio.io/status"])[
            "initContainers"], ["istio-validation", "istio-proxy"])
        gw = podlib.variant("gateway")
        self.assertEqual(gw["spec"]["containers"][0]["args"][:2], ["proxy", "router"])
        self.assertNotIn("initContainers", gw["spec"])
        self.assertEqual(podlib.variant("inject-false-label")["metadata"]["labels"][
            "sidecar.istio.io/inject"], "false")
        self.assertEqual(podlib.variant("inject-false-annotation")["metadata"]["annotations"][
            "sidecar.istio.io/inject"], "false")
        un = podlib.variant("uninjected")
        self.assertNotIn("annotations", un["metadata"])
        self.assertNotIn("security.istio.io/tlsMode", un["metadata"]["labels"])
        init = podlib.variant("istio-init")["spec"]["initContainers"][0]
        self.assertEqual(init["name"], "istio-init")
        self.assertNotIn("--run-validation", init["args"])
        self.assertEqual(init["securityContext"]["capabilities"]["add"], ["NET_ADMIN", "NET_RAW"])
        tp = podlib.variant("tproxy")
        self.assertEqual(tp["metadata"]["annotations"]["sidecar.istio.io/interceptionMode"],
                         "TPROXY")
        self.assertIn("TPROXY", tp["spec"]["initContainers"][0]["args"])
        ds = podlib.variant("dual-stack")
        self.assertEqual(len(ds["status"]["podIPs"]), 2)
        custom = podlib.istio_pod(annotations={"traffic.sidecar.istio.io/excludeOutboundPorts":
                                               "9000", "prometheus.io/scrape": None})
        self.assertEqual(custom["metadata"]["annotations"][
            "traffic.sidecar.istio.io/excludeOutboundPorts"], "9000")
        self.assertNotIn("prometheus.io/scrape", custom["metadata"]["annotations"])

    def test_bulk(self):
        ps = podlib.bulk_pods(600, broken_every=3)
        self.assertEqual(len({p["metadata"]["name"] for p in ps}), 600)
        self.assertEqual(len({p["status"]["podIP"] for p in ps}), 600)
        self.assertEqual(len({p["metadata"]["uid"] for p in ps}), 600)
        self.assertEqual(sum(p["status"]["phase"] == "Pending" for p in ps), 200)


class TestSelectorsUnit(unittest.TestCase):
    def test_label_parse(self):
        cases = [("a=b", [("a", "=", ["b"])]), ("a==b", [("a", "=", ["b"])]),
                 ("a!=b", [("a", "!=", ["b"])]), ("a", [("a", "exists", [])]),
                 ("!a", [("a", "!exists", [])]), ("a in (x, y)", [("a", "in", ["x", "y"])]),
                 ("a notin (x)", [("a", "notin", ["x"])]), ("a>3", [("a", "gt", ["3"])]),
                 ("x/y=z,w", [("x/y", "=", ["z"]), ("w", "exists", [])]), ("", [])]
        for text, want in cases:
            with self.subTest(text=text):
                self.assertEqual(fa.parse_label_selector(text), want)

    def test_field_parse_escapes(self):
        self.assertEqual(fa.parse_field_selector(r"metadata.name=a\,b,spec.nodeName!=n"),
                         [("metadata.name", "=", "a,b"), ("spec.nodeName", "!=", "n")])

    def test_merge_and_json_patch(self):
        self.assertEqual(fa.merge_patch({"a": {"b": 1, "c": 2}}, {"a": {"b": None, "d": 3}}),
                         {"a": {"c": 2, "d": 3}})
        self.assertEqual(fa.json_patch({"a": [1, 2]}, [{"op": "add", "path": "/a/-",
                                                        "value": 3},
                                                       {"op": "move", "from": "/a",
                                                        "path": "/b"}]), {"b": [1, 2, 3]})


if __name__ == "__main__":
    unittest.main()
