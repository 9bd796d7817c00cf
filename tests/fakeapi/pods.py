"""Builders of realistic Pod JSON for the fake API server and its users.

Every builder returns a plain dict shaped exactly like a Pod as a real
Kubernetes API server serves it (``kind``/``apiVersion``, metadata with uid,
resourceVersion as a string, creationTimestamp, spec with defaulted fields,
status as the kubelet reports it).

Main entry points:

    istio_pod(name, namespace, node, ...)     sidecar-injected pod (istio-cni
                                              mode: ``istio-validation`` init
                                              container), classic or native
                                              sidecar, REDIRECT or TPROXY,
                                              healthy or broken
    uninjected_pod(...)                       plain application pod
    gateway_pod(...)                          injected gateway (``proxy router``)
    inject_disabled_pod(..., where="label")   ``sidecar.istio.io/inject: "false"``
    istio_init_pod(...)                       legacy ``istio-init`` (no CNI)
    tproxy_pod(...)                           TPROXY interception
    broken_pod(...)                           validation failed, exit code 126
    bulk_pods(count, broken=..., ...)         many pods for benchmarks

``make_broken(pod)`` / ``make_healthy(pod)`` rewrite the status of a pod in
place.  The module has no dependency besides the standard library.
"""

import copy
import json
import uuid

PROXY_IMAGE = "docker.io/istio/proxyv2:1.24.1"
PROXY_IMAGE_ID = ("docker.io/istio/proxyv2@sha256:"
                  "5b0e4c7e0f3c4d2a9a8a1c6e4f3b2d1c0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b")
APP_IMAGE = "docker.io/istio/examples-bookinfo-productpage-v1:1.20.2"
APP_IMAGE_ID = ("docker.io/istio/examples-bookinfo-productpage-v1@sha256:"
                "3b1a9e6c2d4f5a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b")
CREATED = "2024-11-05T09:12:44Z"
INIT_STARTED = "2024-11-05T09:12:46Z"
INIT_FINISHED = "2024-11-05T09:12:46Z"
RUN_STARTED = "2024-11-05T09:12:47Z"
READY_AT = "2024-11-05T09:12:55Z"

ISTIO_VOLUMES = ["workload-socket", "credential-socket", "workload-certs",
                 "istio-envoy", "istio-data", "istio-podinfo", "istio-token",
                 "istiod-ca-cert"]

VALIDATION_FAILED_MESSAGE = (
    "Error: redirect validation failed: iptables not configured, CNI probably not ready\n")

UNINITIALIZED_LABEL = "cni.istio.io/uninitialized"


def pod_uid(namespace, name, generation=0):
    """Deterministic uid for a pod name (a re-created pod passes generation)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL,
                          "fake-k8s/pods/%s/%s/%d" % (namespace, name, generation)))


def _container_id(seed):
    return "containerd://" + uuid.uuid5(uuid.NAMESPACE_OID, seed).hex * 2


def _iptables_args(mode="REDIRECT", validation=True, exclude_inbound="15090,15021,15020",
                   extra=None):
    args = ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", mode,
            "-i", "*", "-x", "", "-b", "*", "-d", exclude_inbound]
    if extra:
        args += list(extra)
    args.append("--log_output_level=default:info")
    if validation:
        args += ["--run-validation", "--skip-rule-apply"]
    return args


def _resources():
    return {"limits": {"cpu": "2", "memory": "1Gi"},
            "requests": {"cpu": "100m", "memory": "128Mi"}}


def _restricted_sc(uid=1337, gid=1337):
    return {"capabilities": {"drop": ["ALL"]}, "privileged": False, "runAsUser": uid,
            "runAsGroup": gid, "runAsNonRoot": True, "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False}


def validation_container(mode="REDIRECT", extra_args=None):
    return {
        "name": "istio-validation",
        "image": PROXY_IMAGE,
        "args": _iptables_args(mode, True, extra=extra_args),
        "resources": _resources(),
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
        "securityContext": _restricted_sc(),
    }


def istio_init_container(mode="REDIRECT"):
    return {
        "name": "istio-init",
        "image": PROXY_IMAGE,
        "args": _iptables_args(mode, False),
        "resources": _resources(),
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
        "securityContext": {
            "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
            "privileged": False, "runAsUser": 0, "runAsGroup": 0, "runAsNonRoot": False,
            "readOnlyRootFilesystem": False, "allowPrivilegeEscalation": False},
    }


def _field_env(name, path):
    return {"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}}


def _resource_env(name, resource):
    return {"name": name,
            "valueFrom": {"resourceFieldRef": {"resource": resource, "divisor": "0"}}}


def proxy_container(namespace, workload, app_container="productpage", app_port=9080,
                    mode="REDIRECT", router=False, native=False):
    kind = "router" if router else "sidecar"
    sc = _restricted_sc()
    if mode == "TPROXY":
        sc["capabilities"] = {"add": ["NET_ADMIN"], "drop": ["ALL"]}
        sc["runAsNonRoot"] = False
        sc["runAsUser"] = 0
    env = [
        {"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
        {"name": "CA_ADDR", "value": "istiod.istio-system.svc:15012"},
        _field_env("POD_NAME", "metadata.name"),
        _field_env("POD_NAMESPACE", "metadata.namespace"),
        _field_env("INSTANCE_IP", "status.podIP"),
        _field_env("SERVICE_ACCOUNT", "spec.serviceAccountName"),
        _field_env("HOST_IP", "status.hostIP"),
        _resource_env("ISTIO_CPU_LIMIT", "limits.cpu"),
        {"name": "PROXY_CONFIG", "value": "{}\n"},
        {"name": "ISTIO_META_POD_PORTS",
         "value": "[\n    {\"containerPort\":%d,\"protocol\":\"TCP\"}\n]" % app_port},
        {"name": "ISTIO_META_APP_CONTAINERS", "value": app_container},
        _resource_env("GOMEMLIMIT", "limits.memory"),
        _resource_env("GOMAXPROCS", "limits.cpu"),
        {"name": "ISTIO_META_CLUSTER_ID", "value": "Kubernetes"},
        _field_env("ISTIO_META_NODE_NAME", "spec.nodeName"),
        {"name": "ISTIO_META_INTERCEPTION_MODE", "value": mode},
        {"name": "ISTIO_META_WORKLOAD_NAME", "value": workload},
        {"name": "ISTIO_META_OWNER",
         "value": "kubernetes://apis/apps/v1/namespaces/%s/deployments/%s"
                  % (namespace, workload)},
        {"name": "ISTIO_META_MESH_ID", "value": "cluster.local"},
        {"name": "TRUST_DOMAIN", "value": "cluster.local"},
    ]
    if router:
        env = [e for e in env if e["name"] not in ("ISTIO_META_APP_CONTAINERS",
                                                   "ISTIO_META_POD_PORTS")]
    probe = {"httpGet": {"path": "/healthz/ready", "port": 15021, "scheme": "HTTP"},
             "periodSeconds": 15, "timeoutSeconds": 3, "successThreshold": 1,
             "failureThreshold": 4}
    c = {
        "name": "istio-proxy",
        "image": PROXY_IMAGE,
        "args": ["proxy", kind, "--domain", "$(POD_NAMESPACE).svc.cluster.local",
                 "--proxyLogLevel=warning", "--proxyComponentLogLevel=misc:error",
                 "--log_output_level=default:info"],
        "ports": [{"name": "http-envoy-prom", "containerPort": 15090, "protocol": "TCP"}],
        "env": env,
        "resources": _resources(),
        "volumeMounts": [
            {"name": "workload-socket", "mountPath": "/var/run/secrets/workload-spiffe-uds"},
            {"name": "credential-socket", "mountPath": "/var/run/secrets/credential-uds"},
            {"name": "workload-certs", "mountPath": "/var/run/secrets/workload-spiffe-credentials"},
            {"name": "istiod-ca-cert", "mountPath": "/var/run/secrets/istio"},
            {"name": "istio-data", "mountPath": "/var/lib/istio/data"},
            {"name": "istio-envoy", "mountPath": "/etc/istio/proxy"},
            {"name": "istio-token", "mountPath": "/var/run/secrets/tokens"},
            {"name": "istio-podinfo", "mountPath": "/etc/istio/pod"},
        ],
        "readinessProbe": probe,
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
        "securityContext": sc,
    }
    if router:
        c["ports"].append({"name": "http2", "containerPort": 8080, "protocol": "TCP"})
    else:
        c["startupProbe"] = {"httpGet": {"path": "/healthz/ready", "port": 15021,
                                         "scheme": "HTTP"},
                             "timeoutSeconds": 3, "periodSeconds": 1, "successThreshold": 1,
                             "failureThreshold": 600}
    if native:
        c["restartPolicy"] = "Always"
    return c


def app_container(name="productpage", port=9080, image=APP_IMAGE):
    return {
        "name": name,
        "image": image,
        "ports": [{"containerPort": port, "protocol": "TCP"}],
        "resources": {},
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "kube-api-access-7xk2p",
             "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": True},
        ],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
    }


def _istio_volumes():
    return [
        {"name": "workload-socket", "emptyDir": {}},
        {"name": "credential-socket", "emptyDir": {}},
        {"name": "workload-certs", "emptyDir": {}},
        {"name": "istio-envoy", "emptyDir": {"medium": "Memory"}},
        {"name": "istio-data", "emptyDir": {}},
        {"name": "istio-podinfo", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels"}},
            {"path": "annotations",
             "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.annotations"}}],
            "defaultMode": 420}},
        {"name": "istio-token", "projected": {"sources": [{"serviceAccountToken": {
            "audience": "istio-ca", "expirationSeconds": 43200, "path": "istio-token"}}],
            "defaultMode": 420}},
        {"name": "istiod-ca-cert", "configMap": {"name": "istio-ca-root-cert",
                                                 "defaultMode": 420}},
    ]


def _base_volumes():
    return [
        {"name": "tmp", "emptyDir": {}},
        {"name": "kube-api-access-7xk2p", "projected": {"sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt",
                           "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}],
            "defaultMode": 420}},
    ]


def sidecar_status_annotation(init_containers, containers, revision="default"):
    """The ``sidecar.istio.io/status`` value, serialised as the injector does."""
    return json.dumps({"initContainers": init_containers, "containers": containers,
                       "volumes": ISTIO_VOLUMES, "imagePullSecrets": None,
                       "revision": revision}, separators=(",", ":"))


def _running_status(name, image, image_id, restarts=0):
    return {"name": name, "state": {"running": {"startedAt": RUN_STARTED}}, "lastState": {},
            "ready": True, "restartCount": restarts, "image": image, "imageID": image_id,
            "containerID": _container_id(name), "started": True}


def _completed_init_status(name):
    cid = _container_id(name)
    return {"name": name, "state": {"terminated": {
        "exitCode": 0, "reason": "Completed", "startedAt": INIT_STARTED,
        "finishedAt": INIT_FINISHED, "containerID": cid}},
        "lastState": {}, "ready": True, "restartCount": 0, "image": PROXY_IMAGE,
        "imageID": PROXY_IMAGE_ID, "containerID": cid, "started": False}


def _cond(ctype, status, when, reason=None):
    c = {"type": ctype, "status": status, "lastProbeTime": None, "lastTransitionTime": when}
    if reason:
        c["reason"] = reason
    return c


def _base_pod(name, namespace, node, uid, resource_version, labels, annotations, spec_extra,
              pod_ip, pod_ips, host_ip, app, owner_hash):
    ips = pod_ips if pod_ips is not None else ([pod_ip] if pod_ip else [])
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "generateName": name.rsplit("-", 1)[0] + "-",
            "namespace": namespace,
            "uid": uid or pod_uid(namespace, name),
            "resourceVersion": str(resource_version),
            "creationTimestamp": CREATED,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                 "name": name.rsplit("-", 1)[0],
                                 "uid": str(uuid.uuid5(uuid.NAMESPACE_URL,
                                                       "rs/%s/%s" % (namespace, app))),
                                 "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": dict({
            "volumes": _base_volumes(),
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "bookinfo-%s" % app,
            "serviceAccount": "bookinfo-%s" % app,
            "nodeName": node,
            "securityContext": {},
            "schedulerName": "default-scheduler",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                 "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                 "effect": "NoExecute", "tolerationSeconds": 300}],
            "priority": 0,
            "enableServiceLinks": True,
            "preemptionPolicy": "PreemptLowerPriority",
        }, **spec_extra),
        "status": {
            "phase": "Running",
            "conditions": [
                _cond("PodReadyToStartContainers", "True", INIT_STARTED),
                _cond("Initialized", "True", RUN_STARTED),
                _cond("Ready", "True", READY_AT),
                _cond("ContainersReady", "True", READY_AT),
                _cond("PodScheduled", "True", CREATED),
            ],
            "hostIP": host_ip,
            "hostIPs": [{"ip": host_ip}],
            "podIP": ips[0] if ips else None,
            "podIPs": [{"ip": ip} for ip in ips],
            "startTime": CREATED,
            "qosClass": "Burstable",
        },
    }


def istio_pod(name="productpage-v1-7d6cfb7dfd-x7kqp", namespace="default", node="node-1", *,
              uid=None, resource_version=1, app="productpage", version="v1",
              app_port=9080, pod_ip="10.244.1.5", pod_ips=None, host_ip="10.89.0.2",
              native_sidecar=False, mode="REDIRECT", init="validation", router=False,
              revision="default", labels=None, annotations=None, broken=False,
              restart_count=3, termination_message=VALIDATION_FAILED_MESSAGE,
              exit_code=126):
    """A sidecar-injected pod exactly as the API server returns it.

    init: "validation" (istio-cni mode), "istio-init" (legacy) or None (gateway).
    native_sidecar: istio-proxy is an init container with restartPolicy Always.
    router: the proxy runs ``proxy router`` (gateway) and there is no app container.
    labels / annotations: merged over the injector's (a None value removes a key).
    broken: status is the crash-looping validation container (exit code 126).
    """
    owner_hash = "7d6cfb7dfd"
    lab = {"app": app, "pod-template-hash": owner_hash, "version": version,
           "security.istio.io/tlsMode": "istio",
           "service.istio.io/canonical-name": app,
           "service.istio.io/canonical-revision": version}
    inits, conts = [], []
    proxy = proxy_container(namespace, "%s-%s" % (app, version), app, app_port, mode,
                            router, native_sidecar)
    if init == "validation":
        inits.append(validation_container(mode))
    elif init == "istio-init":
        inits.append(istio_init_container(mode))
    if native_sidecar:
        inits.append(proxy)
    if router:
        conts.append(proxy)
    else:
        conts.append(app_container(app, app_port))
        if not native_sidecar:
            conts.append(proxy)
    st_inits = [c["name"] for c in inits] or None
    st_conts = [c["name"] for c in conts if c["name"] == "istio-proxy"] or None
    ann = {
        "istio.io/rev": revision,
        "kubectl.kubernetes.io/default-container": "istio-proxy" if router else app,
        "kubectl.kubernetes.io/default-logs-container": "istio-proxy" if router else app,
        "prometheus.io/path": "/stats/prometheus",
        "prometheus.io/port": "15020",
        "prometheus.io/scrape": "true",
        "sidecar.istio.io/status": sidecar_status_annotation(st_inits, st_conts, revision),
    }
    if router:
        lab.update({"istio": "ingressgateway", "sidecar.istio.io/inject": "true"})
        ann["inject.istio.io/templates"] = "gateway"
    else:
        ann.update({"sidecar.istio.io/interceptionMode": mode,
                    "traffic.sidecar.istio.io/excludeInboundPorts": "15020",
                    "traffic.sidecar.istio.io/includeInboundPorts": "*",
                    "traffic.sidecar.istio.io/includeOutboundIPRanges": "*"})
    for src, dst in ((labels, lab), (annotations, ann)):
        for k, v in (src or {}).items():
            if v is None:
                dst.pop(k, None)
            else:
                dst[k] = v
    spec_extra = {"containers": conts}
    if inits:
        spec_extra["initContainers"] = inits
    pod = _base_pod(name, namespace, node, uid, resource_version, lab, ann, spec_extra,
                    pod_ip, pod_ips, host_ip, app, owner_hash)
    pod["spec"]["volumes"] = _istio_volumes() + pod["spec"]["volumes"]
    st = pod["status"]
    st["initContainerStatuses"] = [_completed_init_status(c["name"]) for c in inits
                                   if c.get("restartPolicy") != "Always"]
    if native_sidecar:
        st["initContainerStatuses"].append(_running_status("istio-proxy", PROXY_IMAGE,
                                                           PROXY_IMAGE_ID))
    st["containerStatuses"] = [
        _running_status(c["name"], c["image"],
                        PROXY_IMAGE_ID if c["image"] == PROXY_IMAGE else APP_IMAGE_ID)
        for c in sorted(conts, key=lambda c: c["name"])]
    if not st["initContainerStatuses"]:
        del st["initContainerStatuses"]
    if broken:
        make_broken(pod, restart_count, termination_message, exit_code)
    return pod


def make_broken(pod, restart_count=3, message=VALIDATION_FAILED_MESSAGE, exit_code=126,
                init_name="istio-validation"):
    """Rewrite status: the validation init container crash-loops (exit 126)."""
    st = pod["status"]
    cid = _container_id(init_name + "/%d" % restart_count)
    st["phase"] = "Pending"
    st["conditions"] = [
        _cond("PodReadyToStartContainers", "True", INIT_STARTED),
        _cond("Initialized", "False", CREATED, "ContainersNotInitialized"),
        _cond("Ready", "False", CREATED, "ContainersNotReady"),
        _cond("ContainersReady", "False", CREATED, "ContainersNotReady"),
        _cond("PodScheduled", "True", CREATED),
    ]
    st["conditions"][1]["message"] = "containers with incomplete status: [%s]" % init_name
    names = [c["name"] for c in pod["spec"].get("initContainers", [])]
    statuses = []
    for n in names:
        if n == init_name:
            statuses.append({
                "name": n,
                "state": {"waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": "back-off 40s restarting failed container=%s pod=%s_%s(%s)"
                               % (n, pod["metadata"]["name"], pod["metadata"]["namespace"],
                                  pod["metadata"]["uid"])}},
                "lastState": {"terminated": {
                    "exitCode": exit_code, "reason": "Error", "message": message,
                    "startedAt": INIT_STARTED, "finishedAt": "2024-11-05T09:12:51Z",
                    "containerID": cid}},
                "ready": False, "restartCount": restart_count, "image": PROXY_IMAGE,
                "imageID": PROXY_IMAGE_ID, "containerID": cid, "started": False})
        else:
            statuses.append({"name": n, "state": {"waiting": {"reason": "PodInitializing"}},
                             "lastState": {}, "ready": False, "restartCount": 0,
                             "image": PROXY_IMAGE, "imageID": "", "started": False})
    st["initContainerStatuses"] = statuses
    st["containerStatuses"] = [
        {"name": c["name"], "state": {"waiting": {"reason": "PodInitializing"}},
         "lastState": {}, "ready": False, "restartCount": 0, "image": c["image"],
         "imageID": "", "started": False}
        for c in sorted(pod["spec"]["containers"], key=lambda c: c["name"])]
    return pod


def make_healthy(pod):
    """Rewrite status to Running: init containers completed, containers running."""
    st = pod["status"]
    st["phase"] = "Running"
    st["conditions"] = [
        _cond("PodReadyToStartContainers", "True", INIT_STARTED),
        _cond("Initialized", "True", RUN_STARTED),
        _cond("Ready", "True", READY_AT),
        _cond("ContainersReady", "True", READY_AT),
        _cond("PodScheduled", "True", CREATED),
    ]
    inits = pod["spec"].get("initContainers", [])
    st["initContainerStatuses"] = [
        _running_status(c["name"], c["image"], PROXY_IMAGE_ID)
        if c.get("restartPolicy") == "Always" else _completed_init_status(c["name"])
        for c in inits]
    if not inits:
        st.pop("initContainerStatuses", None)
    st["containerStatuses"] = [
        _running_status(c["name"], c["image"],
                        PROXY_IMAGE_ID if c["image"] == PROXY_IMAGE else APP_IMAGE_ID)
        for c in sorted(pod["spec"]["containers"], key=lambda c: c["name"])]
    return pod


def broken_pod(name="productpage-v1-7d6cfb7dfd-b7x2q", namespace="default", node="node-1",
               **kw):
    return istio_pod(name, namespace, node, broken=True, **kw)


def uninjected_pod(name="productpage-v1-7d6cfb7dfd-n0s1d", namespace="default", node="node-1",
                   *, uid=None, resource_version=1, app="productpage", pod_ip="10.244.1.9",
                   pod_ips=None, host_ip="10.89.0.2", labels=None, annotations=None):
    lab = {"app": app, "pod-template-hash": "7d6cfb7dfd", "version": "v1"}
    lab.update(labels or {})
    pod = _base_pod(name, namespace, node, uid, resource_version, lab, dict(annotations or {}),
                    {"containers": [app_container(app)]}, pod_ip, pod_ips, host_ip, app,
                    "7d6cfb7dfd")
    if not pod["metadata"]["annotations"]:
        del pod["metadata"]["annotations"]
    pod["status"]["containerStatuses"] = [_running_status(app, APP_IMAGE, APP_IMAGE_ID)]
    return pod


def gateway_pod(name="istio-ingressgateway-5d8f7c9b6d-gw01", namespace="istio-system",
                node="node-1", **kw):
    kw.setdefault("app", "istio-ingressgateway")
    kw.setdefault("pod_ip", "10.244.1.7")
    return istio_pod(name, namespace, node, init=None, router=True, **kw)


def inject_disabled_pod(name="productpage-v1-7d6cfb7dfd-nj0ff", namespace="default",
                        node="node-1", where="label", **kw):
    """An uninjected pod opted out with sidecar.istio.io/inject: "false"."""
    if where == "label":
        kw["labels"] = dict(kw.get("labels") or {}, **{"sidecar.istio.io/inject": "false"})
    else:
        kw["annotations"] = dict(kw.get("annotations") or {},
                                 **{"sidecar.istio.io/inject": "false"})
    return uninjected_pod(name, namespace, node, **kw)


def istio_init_pod(name="productpage-v1-7d6cfb7dfd-init1", namespace="default", node="node-1",
                   **kw):
    return istio_pod(name, namespace, node, init="istio-init", **kw)


def tproxy_pod(name="productpage-v1-7d6cfb7dfd-tprx1", namespace="default", node="node-1",
               **kw):
    return istio_pod(name, namespace, node, mode="TPROXY", **kw)


def bulk_pods(count, namespace="default", node="node-1", broken=False, prefix="bench",
              broken_every=0, native_sidecar=False):
    """count pods named <prefix>-NNNNN with distinct IPs from 10.244.0.0/16.

    broken: every pod is broken; broken_every=K: every K-th pod is broken.
    """
    out = []
    for i in range(count):
        b = broken or (broken_every > 0 and i % broken_every == 0)
        ip = "10.244.%d.%d" % (1 + (i // 250) % 250, 2 + i % 250)
        out.append(istio_pod("%s-%05d" % (prefix, i), namespace, node, pod_ip=ip,
                             broken=b, native_sidecar=native_sidecar))
    return out


VARIANTS = {
    "sidecar": lambda: istio_pod(),
    "native-sidecar": lambda: istio_pod("productpage-v1-7d6cfb7dfd-nat01",
                                        native_sidecar=True),
    "broken": lambda: broken_pod(),
    "broken-native": lambda: broken_pod("productpage-v1-7d6cfb7dfd-bnat1",
                                        native_sidecar=True),
    "uninjected": lambda: uninjected_pod(),
    "gateway": lambda: gateway_pod(),
    "inject-false-label": lambda: inject_disabled_pod(where="label"),
    "inject-false-annotation": lambda: inject_disabled_pod("productpage-v1-7d6cfb7dfd-nj0fa",
                                                           where="annotation"),
    "istio-init": lambda: istio_init_pod(),
    "tproxy": lambda: tproxy_pod(),
    "dual-stack": lambda: istio_pod("productpage-v1-7d6cfb7dfd-dual1",
                                    pod_ips=["10.244.1.11", "fd00:10:244:1::b"]),
}


def variant(name):
    return copy.deepcopy(VARIANTS[name]())


if __name__ == "__main__":
    import sys
    names = sys.argv[1:] or sorted(VARIANTS)
    if len(names) == 1:
        out = variant(names[0])
    else:
        out = {"kind": "PodList", "apiVersion": "v1", "metadata": {},
               "items": [variant(n) for n in names]}
    sys.stdout.write(json.dumps(out, indent=2) + "\n")
