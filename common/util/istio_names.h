/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every name Istio's components and operators see: annotations, labels,
 * environment variables, file names, table and chain names, ports, metrics.
 * They are Istio's, so an operator can swap our image into Istio's DaemonSet.
 */
#ifndef ISTIO_CNI_ISTIO_NAMES_H
#define ISTIO_CNI_ISTIO_NAMES_H

#define ISTIO_CNI_PLUGIN_TYPE "istio-cni"
#define ISTIO_CNI_VERSION_STRING "0.1.0"

/* Pod annotations and labels. */
#define ANN_INTERCEPTION_MODE "sidecar.istio.io/interceptionMode"
#define ANN_INJECT "sidecar.istio.io/inject"
#define ANN_STATUS "sidecar.istio.io/status"
#define ANN_INCLUDE_OUTBOUND_IP_RANGES "traffic.sidecar.istio.io/includeOutboundIPRanges"
#define ANN_EXCLUDE_OUTBOUND_IP_RANGES "traffic.sidecar.istio.io/excludeOutboundIPRanges"
#define ANN_INCLUDE_INBOUND_PORTS "traffic.sidecar.istio.io/includeInboundPorts"
#define ANN_EXCLUDE_INBOUND_PORTS "traffic.sidecar.istio.io/excludeInboundPorts"
#define ANN_INCLUDE_OUTBOUND_PORTS "traffic.sidecar.istio.io/includeOutboundPorts"
#define ANN_EXCLUDE_OUTBOUND_PORTS "traffic.sidecar.istio.io/excludeOutboundPorts"
#define ANN_EXCLUDE_INTERFACES "traffic.sidecar.istio.io/excludeInterfaces"
#define ANN_REROUTE_VIRTUAL_INTERFACES "istio.io/reroute-virtual-interfaces"
#define ANN_KUBEVIRT_INTERFACES "traffic.sidecar.istio.io/kubevirtInterfaces"

/* Container names and proxy environment. */
#define CONTAINER_ISTIO_INIT "istio-init"
#define CONTAINER_ISTIO_PROXY "istio-proxy"
#define CONTAINER_ISTIO_VALIDATION "istio-validation"
#define PROXY_ENV_DISABLE_ENVOY "DISABLE_ENVOY"
#define PROXY_ENV_DNS_CAPTURE "ISTIO_META_DNS_CAPTURE"
#define PROXY_ENV_DUAL_STACK "ISTIO_DUAL_STACK"
#define PROXY_ENV_INVALID_DROP "INVALID_DROP"

/* Ports, marks and addresses of the capture (constants in CNI mode). */
#define PORT_OUTBOUND_CAPTURE 15001
#define PORT_VALIDATION_PROBE 15002
#define PORT_INBOUND_CAPTURE 15006
#define PORT_TUNNEL 15008
#define PORT_STATUS 15020
#define PORT_HEALTH 15021
#define PORT_DNS_CAPTURE 15053
#define PORT_PROMETHEUS 15090
#define DEFAULT_PROXY_UID 1337
#define DEFAULT_PROXY_GID 1337
#define TPROXY_MARK 1337
#define TPROXY_OUTBOUND_MARK 1338
#define TPROXY_ROUTE_TABLE 133
#define INBOUND_PASSTHROUGH_V4 "127.0.0.6"
#define INBOUND_PASSTHROUGH_V6 "::6"
#define VALIDATION_EXIT_CODE 126

/* nftables tables and chains (Istio's native nftables backend names). */
#define NFT_TABLE_NAT "istio-proxy-nat"
#define NFT_TABLE_MANGLE "istio-proxy-mangle"
#define NFT_TABLE_RAW "istio-proxy-raw"
#define NFT_CHAIN_PREROUTING "prerouting"
#define NFT_CHAIN_OUTPUT "output"
#define NFT_CHAIN_INBOUND "istio-inbound"
#define NFT_CHAIN_REDIRECT "istio-redirect"
#define NFT_CHAIN_IN_REDIRECT "istio-in-redirect"
#define NFT_CHAIN_OUTPUT_ISTIO "istio-output"
#define NFT_CHAIN_OUTPUT_DNS "istio-output-dns"
#define NFT_CHAIN_DIVERT "istio-divert"
#define NFT_CHAIN_TPROXY "istio-tproxy"
#define NFT_CHAIN_DROP "istio-drop"
/* iptables: every chain whose name starts so is Istio's (its cleanup and state check) */
#define IPTABLES_CHAIN_PREFIX "ISTIO_"

/* Plugin configuration defaults and file names. */
#define DEFAULT_CNI_AGENT_RUN_DIR "/var/run/istio-cni"
#define AGENT_KUBECONFIG_NAME "istio-cni-kubeconfig"
#define AGENT_LOG_SOCKET_NAME "log.sock"
#define OWN_POD_NAME_PREFIX "istio-cni-node-"
#define LEGACY_KUBECONFIG_NAME "ZZZ-istio-cni-kubeconfig"
#define DEFAULT_STANDALONE_CONF_NAME "YYY-istio-cni.conf"

/* Metrics on MONITORING_PORT: Istio's names, then ours. */
#define METRIC_INSTALLS_TOTAL "istio_cni_installs_total"
#define METRIC_INSTALL_READY "istio_cni_install_ready"
#define METRIC_REPAIR_PODS_REPAIRED "istio_cni_repair_pods_repaired_total"
#define METRIC_PLUGIN_ADD_TOTAL "istio_cni_plugin_add_total"
#define METRIC_PLUGIN_ADD_DURATION "istio_cni_plugin_add_duration_seconds"
#define METRIC_PLUGIN_LOG_LINES "istio_cni_plugin_log_lines_total"
#define METRIC_POD_CACHE_PODS "istio_cni_pod_cache_pods"
#define METRIC_POD_CACHE_LOOKUPS "istio_cni_pod_cache_lookups_total"
#define METRIC_POD_CACHE_SYNCED "istio_cni_pod_cache_synced"
#define METRIC_POD_CACHE_SYNC_FAILURES "istio_cni_pod_cache_sync_failures_total"

/* Repair loop: settings (Istio's names), defaults, Event reasons. */
#define ENV_REPAIR_ENABLED "REPAIR_ENABLED"
#define ENV_REPAIR_REPAIR_PODS "REPAIR_REPAIR_PODS"
#define ENV_REPAIR_DELETE_PODS "REPAIR_DELETE_PODS"
#define ENV_REPAIR_LABEL_PODS "REPAIR_LABEL_PODS"
#define ENV_REPAIR_NODE_NAME "REPAIR_NODE_NAME"
#define ENV_REPAIR_SIDECAR_ANNOTATION "REPAIR_SIDECAR_ANNOTATION"
#define ENV_REPAIR_INIT_CONTAINER_NAME "REPAIR_INIT_CONTAINER_NAME"
#define ENV_REPAIR_INIT_CONTAINER_TERMINATION_MESSAGE "REPAIR_INIT_CONTAINER_TERMINATION_MESSAGE"
#define ENV_REPAIR_INIT_CONTAINER_EXIT_CODE "REPAIR_INIT_CONTAINER_EXIT_CODE"
#define ENV_REPAIR_LABEL_SELECTORS "REPAIR_LABEL_SELECTORS"
#define ENV_REPAIR_FIELD_SELECTORS "REPAIR_FIELD_SELECTORS"
#define ENV_REPAIR_BROKEN_POD_LABEL_KEY "REPAIR_BROKEN_POD_LABEL_KEY"
#define ENV_REPAIR_BROKEN_POD_LABEL_VALUE "REPAIR_BROKEN_POD_LABEL_VALUE"
#define ENV_REPAIR_RUN_AS_DAEMON "REPAIR_RUN_AS_DAEMON"
#define ENV_REPAIR_RATE_LIMIT "REPAIR_RATE_LIMIT"
#define ENV_REPAIR_RATE_BURST "REPAIR_RATE_BURST"
#define ENV_HOST_PROC_DIR "HOST_PROC_DIR"
/* The backend repair in place programs with: auto|nftables|iptables, as the conf key
 * redirect_backend (ours; Istio has no such setting). */
#define ENV_REDIRECT_BACKEND "REDIRECT_BACKEND"
#define REPAIR_DEFAULT_BROKEN_POD_LABEL_KEY "cni.istio.io/uninitialized"
#define REPAIR_DEFAULT_BROKEN_POD_LABEL_VALUE "true"
#define EVENT_REASON_DELETE_BROKEN_POD "DeleteBrokenPod"
#define EVENT_REASON_LABEL_BROKEN_POD "LabelBrokenPod"
#define EVENT_REASON_REPAIRED_BROKEN_POD "RepairedBrokenPod"

#endif
