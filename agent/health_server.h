/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's TCP HTTP endpoints, over libmicrohttpd:
 *   HEALTH_PORT (8000):      /healthz 200 while the agent loop runs (its
 *                            heartbeat), else 503; /readyz 200 when the plugin
 *                            is installed and the watches are armed, else 503.
 *                            /debug/audit (loopback clients only): a capture
 *                            audit pass as JSON (audit.h); 404 when it is off.
 *                            The pass runs on the audit's thread; the request
 *                            waits for it suspended, so that the probes are
 *                            answered meanwhile, at most HEALTH_AUDIT_DEADLINE_MS
 *                            (then 503).
 *   MONITORING_PORT (15014): /metrics, Prometheus text format 0.0.4.
 * When both ports are the same, one server answers all three paths.
 *
 * Both listen on every address (the kubelet probes the pod's address; the
 * agent runs with the host network), IPv6 dual-stack when the host has IPv6.
 * Each runs libmicrohttpd's own thread; nothing here blocks the agent loop.
 */
#ifndef ISTIO_CNI_AGENT_HEALTH_SERVER_H
#define ISTIO_CNI_AGENT_HEALTH_SERVER_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/cleanup.h"
#include "util/error.h"

struct agent_metrics;

/*
 * A request for GET /debug/audit waits at most this long for its pass, or
 * timeoutSeconds=N seconds (1 to HEALTH_AUDIT_TIMEOUT_MAX_S) when it asks.
 */
#define HEALTH_AUDIT_DEADLINE_MS 30000
#define HEALTH_AUDIT_TIMEOUT_MAX_S 300

/*
 * The audit behind GET /debug/audit (audit.h's audit_http_begin and
 * audit_http_set_notify), none of which waits for a pass.
 */
struct health_audit {
	/* 1: answered now (status and body, the caller frees it); 0: the answer
	 * is that of the first pass whose id is at least *ret_ticket. */
	int (*begin)(void *ud, uint64_t *ret_ticket, unsigned *ret_status, char **ret_body,
		     size_t *ret_len);
	/* fn after every pass (with its id and answer); NULL: no more calls,
	 * and none running once it returns. */
	void (*set_notify)(void *ud,
			   void (*fn)(void *fn_ud, uint64_t pass, unsigned status, const char *body,
				      size_t len),
			   void *fn_ud);
};

struct health_server_options {
	uint16_t health_port;
	uint16_t monitoring_port;
	const atomic_bool *ready; /* read on every /readyz */
	/* CLOCK_MONOTONIC ms of the agent loop's last round; /healthz fails when
	 * it is more than heartbeat_max_age_ms old. NULL: /healthz always 200. */
	const atomic_uint_fast64_t *heartbeat_ms;
	uint64_t heartbeat_max_age_ms;
	/* Besides ready, /readyz needs this to return true (NULL: no check); on
	 * false its reason (why, len bytes) goes into the 503's body. */
	bool (*ready_check)(void *ud, char *why, size_t len);
	void *ready_check_ud;
	struct agent_metrics *metrics;
	/* GET /debug/audit on the health port, for loopback clients only; the
	 * answer's HTTP status (0: failed) and JSON body. NULL: 404 (the audit
	 * is off). */
	const struct health_audit *audit;
	void *audit_ud;
	const char *bind_address; /* NULL: every address; tests may pass "127.0.0.1" */
};

struct health_server;

/* Binds both ports now (an error names the port) and starts serving. */
int health_server_new(const struct health_server_options *opts, struct health_server **ret,
		      struct error *err) _must_check_;
void health_server_free(struct health_server *hs);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct health_server *, health_server_free);

/* --- Shared by the agent's HTTP servers (this one and log_sink). --- */

/* What one server accepts. */
struct http_limits {
	unsigned threads;	   /* 0 or 1: one internal thread; more: a pool */
	unsigned connection_limit; /* connections open at once */
	unsigned per_ip_limit;	   /* connections per client address; 0: none (UNIX sockets) */
	unsigned timeout_s;	   /* a connection idle this long is closed */
	bool suspend_resume; /* handlers may suspend a connection (MHD_ALLOW_SUSPEND_RESUME) */
	MHD_NotifyConnectionCallback notify_connection; /* NULL: none */
	void *notify_connection_cls;
};

/* Bytes of headers and bookkeeping one connection may use. */
#define HTTP_CONNECTION_MEMORY ((intptr_t)16 * 1024)
/* The probe and metrics ports close a connection that has not sent a whole
 * request header this long after it opened or after its last answer. */
#define HTTP_REQUEST_DEADLINE_MS 10000

/*
 * Starts libmicrohttpd on an already listening socket (its ownership passes
 * to the daemon, also on failure) with limits, and its messages sent to our
 * debug log.
 */
int health_server_daemon_start(int listen_fd, const struct http_limits *limits,
			       MHD_AccessHandlerCallback handler, void *cls,
			       MHD_RequestCompletedCallback completed, struct MHD_Daemon **ret)
	_must_check_;

/* Queues a response with a copy of body (len bytes) and content_type; MHD_NO on failure. */
enum MHD_Result http_reply(struct MHD_Connection *conn, unsigned status, const char *content_type,
			   const char *body, size_t len);

#endif
