// SPDX-License-Identifier: Apache-2.0
#include "health_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "util/log.h"
#include "util/monotonic.h"
#include "util/parse_util.h"

/*
 * The probe and metrics ports take connections from anything that reaches the
 * node (the kubelet, Prometheus, any pod): one address gets a few connections,
 * a connection that sends nothing for a few seconds is closed, and the total
 * stays far above what the per-address limit lets one client take.
 */
static const struct http_limits tcp_limits = {
	.threads = 1,
	.connection_limit = 256,
	.per_ip_limit = 8,
	.timeout_s = 5,
};

/*
 * The idle timeout alone lets a client that sends a byte every few seconds
 * hold a connection for ever. Each connection of the TCP servers is on a
 * list with a deadline for its request header; a thread shuts down the
 * socket of a connection past it, and libmicrohttpd, reading end of file,
 * closes it. libmicrohttpd tells us a connection is closed before it closes
 * the socket, and the entry leaves the list under the same lock the thread
 * holds while it shuts sockets down: no shutdown ever reaches a reused fd.
 */
struct deadlines;
struct conn_slot {
	struct conn_slot *next, *prev;
	struct deadlines *dl;
	int fd;
	uint64_t deadline_ms; /* UINT64_MAX: a request is being answered */
};

struct deadlines {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct conn_slot *head;
	bool stop;
	bool ready;
	bool running;
	pthread_t thread;
	/* Called every round (about twice a second), without lock held. */
	void (*tick)(void *ud);
	void *tick_ud;
};

/*
 * A GET /debug/audit waiting for its pass, its connection suspended: the
 * health server's thread goes on answering the probes meanwhile. It lives in
 * the request's con_cls from the handler's first call until libmicrohttpd
 * says the request is complete (request_done), and is on the server's list
 * of waiting requests while its connection is suspended. Whoever answers it
 * (the audit's notification, the deadline, the server stopping) takes it off
 * the list and resumes the connection, under waits_lock, exactly once; the
 * handler, called again, sends the answer.
 */
struct audit_wait {
	struct audit_wait *next, *prev;
	struct health_server *hs;
	struct MHD_Connection *conn;
	uint64_t ticket;      /* the id of the first pass that answers it */
	uint64_t deadline_ms; /* then a 503 */
	unsigned timeout_s;   /* how long it waits, for the 503's text */
	bool suspended;	      /* on the list */
	unsigned status;      /* the answer, once resumed; 0: out of memory */
	const char *content_type;
	char *body;
	size_t len;
};

/* What one listening port answers. */
struct endpoint {
	struct health_server *hs;
	bool health;
	bool metrics;
};

struct health_server {
	struct endpoint health_ep;
	struct endpoint monitoring_ep;
	struct MHD_Daemon *health;
	struct MHD_Daemon *monitoring; /* NULL when the ports are the same */
	struct deadlines dl;
	const atomic_bool *ready;
	const atomic_uint_fast64_t *heartbeat_ms;
	uint64_t heartbeat_max_age_ms;
	bool (*ready_check)(void *ud, char *why, size_t len);
	void *ready_check_ud;
	struct agent_metrics *metrics;
	const struct health_audit *audit;
	void *audit_ud;

	pthread_mutex_t waits_lock; /* guards what follows */
	pthread_cond_t waits_cond;  /* signalled when a waiting request is freed */
	bool waits_ready;
	struct audit_wait *waits; /* suspended, waiting for a pass */
	size_t n_waits;		  /* made and not yet freed */
	bool stopping;		  /* new requests get a 503 at once */
};

static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			      enum MHD_ConnectionNotificationCode toe)
{
	struct deadlines *dl = cls;
	struct conn_slot *slot = *socket_context;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (!ci || !(slot = calloc(1, sizeof(*slot))))
			return; /* no deadline; the idle timeout still holds */
		slot->dl = dl;
		slot->fd = ci->connect_fd;
		slot->deadline_ms = monotonic_ms() + HTTP_REQUEST_DEADLINE_MS;
		(void)pthread_mutex_lock(&dl->lock);
		slot->next = dl->head;
		if (dl->head)
			dl->head->prev = slot;
		dl->head = slot;
		(void)pthread_mutex_unlock(&dl->lock);
		*socket_context = slot;
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && slot) {
		(void)pthread_mutex_lock(&dl->lock);
		if (slot->prev)
			slot->prev->next = slot->next;
		else
			dl->head = slot->next;
		if (slot->next)
			slot->next->prev = slot->prev;
		(void)pthread_mutex_unlock(&dl->lock);
		free(slot);
		*socket_context = NULL;
	}
}

static void set_deadline(struct MHD_Connection *conn, uint64_t at_ms)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn_slot *slot = ci ? ci->socket_context : NULL;
	if (!slot)
		return;
	(void)pthread_mutex_lock(&slot->dl->lock);
	slot->deadline_ms = at_ms;
	(void)pthread_mutex_unlock(&slot->dl->lock);
}

static void audit_wait_free(struct audit_wait *w);

/* After an answer: the next request on the connection has its own deadline. */
static void request_done(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	/* Only /debug/audit sets con_cls. */
	if (con_cls && *con_cls) {
		audit_wait_free(*con_cls);
		*con_cls = NULL;
	}
	set_deadline(conn, monotonic_ms() + HTTP_REQUEST_DEADLINE_MS);
}

static void *deadline_thread(void *arg)
{
	struct deadlines *dl = arg;
	(void)pthread_mutex_lock(&dl->lock);
	while (!dl->stop) {
		if (dl->tick) {
			(void)pthread_mutex_unlock(&dl->lock);
			dl->tick(dl->tick_ud);
			(void)pthread_mutex_lock(&dl->lock);
		}
		uint64_t now = monotonic_ms();
		for (struct conn_slot *s = dl->head; s; s = s->next)
			if (s->deadline_ms <= now) {
				log_debug("closing a connection that sent no request in %u ms",
					  HTTP_REQUEST_DEADLINE_MS);
				(void)shutdown(s->fd, SHUT_RDWR);
				s->deadline_ms = UINT64_MAX;
			}
		struct timespec ts;
		(void)clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += 500000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		(void)pthread_cond_timedwait(&dl->cond, &dl->lock, &ts);
	}
	(void)pthread_mutex_unlock(&dl->lock);
	return NULL;
}

static int deadlines_start(struct deadlines *dl)
{
	int r = monotonic_cond_init(&dl->lock, &dl->cond);
	if (r < 0)
		return r;
	dl->ready = true;
	r = pthread_create(&dl->thread, NULL, deadline_thread, dl);
	if (r != 0)
		return -r;
	dl->running = true;
	return 0;
}

/* After the daemons stopped (their connections are closed and off the list). */
static void deadlines_stop(struct deadlines *dl)
{
	if (dl->running) {
		(void)pthread_mutex_lock(&dl->lock);
		dl->stop = true;
		(void)pthread_cond_broadcast(&dl->cond);
		(void)pthread_mutex_unlock(&dl->lock);
		(void)pthread_join(dl->thread, NULL);
		dl->running = false;
	}
	if (dl->ready) {
		(void)pthread_mutex_destroy(&dl->lock);
		(void)pthread_cond_destroy(&dl->cond);
		dl->ready = false;
	}
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_debug("libmicrohttpd: %s", msg);
}

int health_server_daemon_start(int listen_fd, const struct http_limits *limits,
			       MHD_AccessHandlerCallback handler, void *cls,
			       MHD_RequestCompletedCallback completed, struct MHD_Daemon **ret)
{
	struct MHD_OptionItem opts[11];
	size_t n = 0;
	/* The logger first, so that no option's message goes to stderr; two-argument
	 * options take the function in value and its closure in ptr_value. */
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL};
	if (limits->notify_connection)
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION,
						    (intptr_t)limits->notify_connection,
						    limits->notify_connection_cls};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, listen_fd, NULL};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, limits->timeout_s, NULL};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, limits->connection_limit,
					    NULL};
	/* Headers and what the handlers queue live in this pool; bodies are copied
	 * out by the handlers and responses are their own buffers. */
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
					    HTTP_CONNECTION_MEMORY, NULL};
	if (limits->per_ip_limit)
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
						    limits->per_ip_limit, NULL};
	if (completed)
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED,
						    (intptr_t)completed, NULL};
	if (limits->threads > 1)
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, limits->threads,
						    NULL};
	opts[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

	/* epoll (MHD_USE_AUTO): no FD_SETSIZE ceiling, and the cost of a poll does
	 * not grow with the idle connections a slow client holds open. */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	if (limits->suspend_resume)
		flags |= MHD_ALLOW_SUSPEND_RESUME;
	struct MHD_Daemon *d = MHD_start_daemon(flags, 0, NULL, NULL, handler, cls,
						MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (!d) {
		(void)close(listen_fd);
		return -EIO;
	}
	*ret = d;
	return 0;
}

enum MHD_Result http_reply(struct MHD_Connection *conn, unsigned status, const char *content_type,
			   const char *body, size_t len)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)(uintptr_t)body,
								    MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	if (content_type &&
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) != MHD_YES) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	enum MHD_Result r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result text(struct MHD_Connection *conn, unsigned status, const char *body)
{
	return http_reply(conn, status, "text/plain; charset=utf-8", body, strlen(body));
}

/* Whether the client is on 127.0.0.0/8 or ::1 (or ::ffff:127.0.0.0/104). */
static bool from_loopback(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || !ci->client_addr)
		return false;
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

/* --- GET /debug/audit: the request waits, suspended, for a pass on the audit's thread. --- */

/* With waits_lock held: w off the list of waiting requests. */
static void audit_wait_unlink(struct health_server *hs, struct audit_wait *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		hs->waits = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->next = w->prev = NULL;
	w->suspended = false;
}

static void audit_wait_free(struct audit_wait *w)
{
	struct health_server *hs = w->hs;
	(void)pthread_mutex_lock(&hs->waits_lock);
	/* Not on the list unless libmicrohttpd closed a suspended connection. */
	if (w->suspended)
		audit_wait_unlink(hs, w);
	hs->n_waits--;
	(void)pthread_cond_broadcast(&hs->waits_cond);
	(void)pthread_mutex_unlock(&hs->waits_lock);
	free(w->body);
	free(w);
}

/* With waits_lock held: w gets its answer (a copy of body) and is resumed. */
static void audit_wait_answer(struct audit_wait *w, unsigned status, const char *content_type,
			      const char *body, size_t len)
{
	struct health_server *hs = w->hs;
	w->status = status;
	w->content_type = content_type;
	w->body = body ? malloc(len + 1) : NULL;
	if (w->body) {
		memcpy(w->body, body, len);
		w->body[len] = '\0';
		w->len = len;
	} else {
		w->status = 0;
	}
	audit_wait_unlink(hs, w);
	MHD_resume_connection(w->conn);
}

/* The audit's notification (its thread): pass ended; its requests get its answer. */
static void audit_pass_done(void *ud, uint64_t pass, unsigned status, const char *body, size_t len)
{
	struct health_server *hs = ud;
	(void)pthread_mutex_lock(&hs->waits_lock);
	for (struct audit_wait *w = hs->waits, *next; w; w = next) {
		next = w->next;
		if (w->ticket <= pass)
			audit_wait_answer(w, status, "application/json", body, len);
	}
	(void)pthread_mutex_unlock(&hs->waits_lock);
}

/* With waits_lock held: the waiting requests whose deadline is at most
 * now (UINT64_MAX: all) get a 503 with msg, or with NULL, one that says how
 * long each waited. Returns how many. */
static size_t audit_waits_fail(struct health_server *hs, uint64_t now, const char *msg)
{
	size_t n = 0;
	for (struct audit_wait *w = hs->waits, *next; w; w = next) {
		next = w->next;
		if (w->deadline_ms > now)
			continue;
		char waited[96];
		const char *text = msg;
		if (!text) {
			(void)snprintf(waited, sizeof(waited),
				       "the audit pass did not finish within %u s\n", w->timeout_s);
			text = waited;
		}
		audit_wait_answer(w, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8",
				  text, strlen(text));
		n++;
	}
	return n;
}

/* The deadline thread's round: requests past their deadline get a 503. */
static void audit_waits_tick(void *ud)
{
	struct health_server *hs = ud;
	(void)pthread_mutex_lock(&hs->waits_lock);
	size_t n = audit_waits_fail(hs, monotonic_ms(), NULL);
	(void)pthread_mutex_unlock(&hs->waits_lock);
	if (n)
		log_warn("health server: %zu audit request(s) timed out waiting for a pass: 503",
			 n);
}

/*
 * How long the request waits for its pass: its timeoutSeconds argument (as
 * Kubernetes names a request's own timeout), else the default. -EINVAL when
 * the argument is not a whole number of seconds in range.
 */
static int audit_timeout_s(struct MHD_Connection *conn, unsigned *ret)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "timeoutSeconds");
	uint64_t s = HEALTH_AUDIT_DEADLINE_MS / 1000;
	if (v && parse_u64(v, 1, HEALTH_AUDIT_TIMEOUT_MAX_S, &s) < 0)
		return -EINVAL;
	*ret = (unsigned)s;
	return 0;
}

/*
 * The first call: answered now (audit_http_begin), or suspended until its
 * pass ends (audit_pass_done), its deadline passes, or the server stops.
 * Called again once resumed: sends the answer.
 */
static enum MHD_Result debug_audit(struct health_server *hs, struct MHD_Connection *conn,
				   void **con_cls)
{
	struct audit_wait *w = *con_cls;
	if (w) {
		(void)pthread_mutex_lock(&hs->waits_lock);
		unsigned status = w->status;
		(void)pthread_mutex_unlock(&hs->waits_lock);
		if (status == 0)
			return text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
		return http_reply(conn, status, w->content_type, w->body, w->len);
	}
	if (!hs->audit)
		return text(conn, MHD_HTTP_NOT_FOUND, "the audit is off\n");
	if (!from_loopback(conn))
		return text(conn, MHD_HTTP_FORBIDDEN, "loopback clients only\n");
	unsigned timeout_s = 0;
	if (audit_timeout_s(conn, &timeout_s) < 0) {
		char msg[96];
		(void)snprintf(msg, sizeof(msg),
			       "timeoutSeconds must be a whole number of seconds from 1 to %u\n",
			       (unsigned)HEALTH_AUDIT_TIMEOUT_MAX_S);
		return text(conn, MHD_HTTP_BAD_REQUEST, msg);
	}

	w = calloc(1, sizeof(*w));
	if (!w)
		return text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	_cleanup_free_ char *body = NULL;
	size_t len = 0;
	unsigned status = 0;
	(void)pthread_mutex_lock(&hs->waits_lock);
	if (hs->stopping) {
		(void)pthread_mutex_unlock(&hs->waits_lock);
		free(w);
		return text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "the agent is stopping\n");
	}
	/* Under the lock: the pass's notification waits until w is on the list. */
	int r = hs->audit->begin(hs->audit_ud, &w->ticket, &status, &body, &len);
	if (r == 0) {
		w->hs = hs;
		w->conn = conn;
		w->timeout_s = timeout_s;
		w->deadline_ms = monotonic_ms() + (uint64_t)timeout_s * 1000;
		w->suspended = true;
		w->next = hs->waits;
		if (hs->waits)
			hs->waits->prev = w;
		hs->waits = w;
		hs->n_waits++;
		*con_cls = w;
		MHD_suspend_connection(conn);
		log_debug("GET /debug/audit waits for audit pass %llu",
			  (unsigned long long)w->ticket);
		(void)pthread_mutex_unlock(&hs->waits_lock);
		return MHD_YES;
	}
	(void)pthread_mutex_unlock(&hs->waits_lock);
	free(w);
	if (r < 0 || status == 0 || !body)
		return text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	return http_reply(conn, status, "application/json", body, len);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	const struct endpoint *ep = cls;
	struct health_server *hs = ep->hs;
	set_deadline(conn, UINT64_MAX); /* the header is in */

	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");

	bool health = ep->health, monitoring = ep->metrics;
	if (health && strcmp(url, "/healthz") == 0) {
		uint64_t beat = hs->heartbeat_ms ? atomic_load(hs->heartbeat_ms) : 0,
			 now = monotonic_ms();
		if (hs->heartbeat_ms && now > beat && now - beat > hs->heartbeat_max_age_ms) {
			char msg[96];
			(void)snprintf(msg, sizeof(msg), "agent loop stalled for %llu ms\n",
				       (unsigned long long)(now - beat));
			return text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
		}
		return text(conn, MHD_HTTP_OK, "ok\n");
	}
	if (health && strcmp(url, "/readyz") == 0) {
		if (!hs->ready || !atomic_load(hs->ready))
			return text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready\n");
		char why[400], body[sizeof(why) + 1];
		if (hs->ready_check && !hs->ready_check(hs->ready_check_ud, why, sizeof(why))) {
			(void)snprintf(body, sizeof(body), "%s\n", why);
			return text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, body);
		}
		return text(conn, MHD_HTTP_OK, "ready\n");
	}
	if (health && strcmp(url, "/debug/audit") == 0)
		return debug_audit(hs, conn, con_cls);
	if (monitoring && strcmp(url, "/metrics") == 0 && hs->metrics) {
		_cleanup_free_ char *body = NULL;
		size_t len = 0;
		if (metrics_render(hs->metrics->registry, &body, &len) < 0)
			return text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
		return http_reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
				  body, len);
	}
	return text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* A listening TCP socket on port: bind_address, else [::] dual-stack, else 0.0.0.0. */
static int tcp_listen(const char *bind_address, uint16_t port, struct error *err)
{
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	int family;

	if (bind_address && inet_pton(AF_INET, bind_address, &s4->sin_addr) == 1) {
		family = AF_INET;
	} else if (bind_address && inet_pton(AF_INET6, bind_address, &s6->sin6_addr) == 1) {
		family = AF_INET6;
	} else if (bind_address) {
		return error_set(err, ERR_CONFIG, -EINVAL, "bad bind address \"%s\"", bind_address);
	} else {
		family = AF_INET6;
		s6->sin6_addr = in6addr_any;
	}

	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 && family == AF_INET6 && !bind_address && errno == EAFNOSUPPORT) {
		family = AF_INET;
		memset(&ss, 0, sizeof(ss));
		s4->sin_addr.s_addr = htonl(INADDR_ANY);
		fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	}
	if (fd < 0)
		return error_set(err, ERR_IO, -errno, "cannot create a socket for port %u: %m",
				 port);
	int one = 1, zero = 0;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (family == AF_INET6 && !bind_address &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0)) {
		int r = -errno;
		(void)close(fd);
		return error_set(err, ERR_IO, r, "cannot set socket options for port %u", port);
	}
	if (family == AF_INET6) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		sl = sizeof(*s6);
	} else {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		sl = sizeof(*s4);
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 128) < 0) {
		int r = -errno;
		(void)close(fd);
		return error_set(err, ERR_IO, r, "cannot listen on port %u: %s", port,
				 strerror(-r));
	}
	return fd;
}

int health_server_new(const struct health_server_options *opts, struct health_server **ret,
		      struct error *err)
{
	_cleanup_(health_server_freep) struct health_server *hs = calloc(1, sizeof(*hs));
	if (!hs)
		return -ENOMEM;
	hs->ready = opts->ready;
	hs->heartbeat_ms = opts->heartbeat_ms;
	hs->heartbeat_max_age_ms = opts->heartbeat_max_age_ms;
	hs->ready_check = opts->ready_check;
	hs->ready_check_ud = opts->ready_check_ud;
	hs->metrics = opts->metrics;
	bool shared = opts->monitoring_port == opts->health_port;
	hs->health_ep = (struct endpoint){.hs = hs, .health = true, .metrics = shared};
	hs->monitoring_ep = (struct endpoint){.hs = hs, .metrics = true};

	int r = monotonic_cond_init(&hs->waits_lock, &hs->waits_cond);
	if (r < 0)
		return error_set(err, ERR_INTERNAL, r, "health server: cannot make a lock");
	hs->waits_ready = true;
	if (opts->audit) {
		hs->audit = opts->audit;
		hs->audit_ud = opts->audit_ud;
		hs->audit->set_notify(hs->audit_ud, audit_pass_done, hs);
	}
	hs->dl.tick = audit_waits_tick;
	hs->dl.tick_ud = hs;
	r = deadlines_start(&hs->dl);
	if (r < 0)
		return error_set(err, ERR_INTERNAL, r, "health server: cannot start a thread");
	struct http_limits limits = tcp_limits;
	limits.notify_connection = notify_connection;
	limits.notify_connection_cls = &hs->dl;

	int fd = tcp_listen(opts->bind_address, opts->health_port, err);
	if (fd < 0)
		return error_prefix(err, fd, "health server");
	/* /debug/audit suspends its request while the pass runs. */
	limits.suspend_resume = true;
	r = health_server_daemon_start(fd, &limits, handle, &hs->health_ep, request_done,
				       &hs->health);
	limits.suspend_resume = false;
	if (r < 0)
		return error_set(err, ERR_INTERNAL, r,
				 "health server: libmicrohttpd did not start");

	if (!shared) {
		fd = tcp_listen(opts->bind_address, opts->monitoring_port, err);
		if (fd < 0)
			return error_prefix(err, fd, "metrics server");
		r = health_server_daemon_start(fd, &limits, handle, &hs->monitoring_ep,
					       request_done, &hs->monitoring);
		if (r < 0)
			return error_set(err, ERR_INTERNAL, r,
					 "metrics server: libmicrohttpd did not start");
	}
	*ret = TAKE_PTR(hs);
	return 0;
}

/* How long stopping waits for the requests it answered to be sent. */
#define AUDIT_STOP_DRAIN_MS 1000

/*
 * Before libmicrohttpd stops (it must find no connection suspended): no
 * notification from the audit any more, every waiting request answered 503
 * and resumed, and a short wait for those answers to go out.
 */
static void audit_waits_stop(struct health_server *hs)
{
	if (hs->audit)
		hs->audit->set_notify(hs->audit_ud, NULL, NULL);
	if (!hs->waits_ready)
		return;
	struct timespec until = monotonic_deadline(AUDIT_STOP_DRAIN_MS);
	(void)pthread_mutex_lock(&hs->waits_lock);
	hs->stopping = true;
	(void)audit_waits_fail(hs, UINT64_MAX, "the agent is stopping\n");
	while (hs->n_waits > 0)
		if (pthread_cond_timedwait(&hs->waits_cond, &hs->waits_lock, &until) == ETIMEDOUT)
			break;
	(void)pthread_mutex_unlock(&hs->waits_lock);
}

void health_server_free(struct health_server *hs)
{
	if (!hs)
		return;
	audit_waits_stop(hs);
	if (hs->monitoring)
		MHD_stop_daemon(hs->monitoring);
	if (hs->health)
		MHD_stop_daemon(hs->health);
	deadlines_stop(&hs->dl);
	if (hs->waits_ready) {
		(void)pthread_mutex_destroy(&hs->waits_lock);
		(void)pthread_cond_destroy(&hs->waits_cond);
	}
	free(hs);
}
