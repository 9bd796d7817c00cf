// SPDX-License-Identifier: Apache-2.0
/*
 * getaddrinfo() and freeaddrinfo() for the static executables that talk to
 * the API server, answered by c-ares. Linked into them only
 * (ISTIO_CNI_STATIC), as an object ahead of every library, so it takes the
 * place of glibc's, whose name-service switch would load the host's
 * libnss_*.so at run time.
 *
 * libcurl is built with its threaded resolver and calls getaddrinfo() from
 * the resolver thread, only for host names: an API server addressed by IP
 * (KUBERNETES_SERVICE_HOST, most kubeconfigs) never comes here. c-ares then
 * reads /etc/hosts and resolv.conf as it did when libcurl drove it, but its
 * channel (about 73 KB, the files read, a random seed) is made only when a
 * name is resolved, not twice for every libcurl handle.
 */
#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct lookup {
	bool done;
	int status;
	struct ares_addrinfo *res;
};

static pthread_once_t ares_once = PTHREAD_ONCE_INIT;
static int ares_init_status = ARES_ENOTINITIALIZED;

static void library_init(void)
{
	ares_init_status = ares_library_init(ARES_LIB_INIT_ALL);
}

static void lookup_done(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct lookup *l = arg;
	(void)timeouts;
	l->done = true;
	l->status = status;
	l->res = res;
}

static int eai_of(int status)
{
	switch (status) {
	case ARES_ENOTFOUND:
	case ARES_ENONAME:
	case ARES_EBADNAME:
		return EAI_NONAME;
	case ARES_ENODATA:
		return EAI_NODATA;
	case ARES_ENOMEM:
		return EAI_MEMORY;
	case ARES_EBADFAMILY:
		return EAI_FAMILY;
	case ARES_ESERVICE:
		return EAI_SERVICE;
	case ARES_EBADFLAGS:
	case ARES_EBADHINTS:
		return EAI_BADFLAGS;
	case ARES_ETIMEOUT:
	case ARES_ECONNREFUSED:
	case ARES_ESERVFAIL:
	case ARES_EREFUSED:
		return EAI_AGAIN;
	default:
		return EAI_FAIL;
	}
}

/* Runs the channel until the lookup's callback has been called. */
static void wait_lookup(ares_channel ch, struct lookup *l)
{
	while (!l->done) {
		ares_socket_t socks[ARES_GETSOCK_MAXNUM];
		struct pollfd pfd[ARES_GETSOCK_MAXNUM];
		nfds_t n = 0;
		/* The bit tests of ares.h shift an int into its sign bit for the 16th socket. */
		unsigned int bits = (unsigned int)ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);

		for (unsigned int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			short ev = 0;
			if (bits & (1u << i))
				ev |= POLLIN;
			if (bits & (1u << (i + ARES_GETSOCK_MAXNUM)))
				ev |= POLLOUT;
			if (ev)
				pfd[n++] = (struct pollfd){.fd = socks[i], .events = ev};
		}
		struct timeval tv, *tvp = ares_timeout(ch, NULL, &tv);
		if (n == 0 && !tvp)
			break; /* nothing in flight and no timer: the callback cannot come */
		int ms = tvp ? (int)(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000) : -1;
		int k = poll(pfd, n, ms);
		if (k < 0 && errno != EINTR)
			break;
		if (k <= 0) {
			ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* timers */
			continue;
		}
		for (nfds_t i = 0; i < n; i++) {
			short re = pfd[i].revents;
			if (!re)
				continue;
			ares_process_fd(ch,
					(re & (POLLIN | POLLERR | POLLHUP)) ? pfd[i].fd
									    : ARES_SOCKET_BAD,
					(re & (POLLOUT | POLLERR)) ? pfd[i].fd : ARES_SOCKET_BAD);
		}
	}
	/* If the loop broke with the lookup pending, ares_destroy() in the caller
	 * runs its callback with ARES_EDESTRUCTION. */
}

void freeaddrinfo(struct addrinfo *res)
{
	while (res) {
		struct addrinfo *next = res->ai_next;
		free(res->ai_canonname);
		free(res); /* the address shares the node's block */
		res = next;
	}
}

/*
 * c-ares' list as libc's: one block per node, the address inside it, and
 * only nodes of the family asked for (none left: EAI_ADDRFAMILY, as libc).
 */
static int to_addrinfo(const struct ares_addrinfo *in, int family, int flags, struct addrinfo **ret)
{
	struct addrinfo *head = NULL, **tail = &head;
	bool other_family = false;

	for (const struct ares_addrinfo_node *n = in->nodes; n; n = n->ai_next) {
		if (family != AF_UNSPEC && n->ai_family != family) {
			other_family = true;
			continue;
		}
		struct addrinfo *ai = calloc(1, sizeof(*ai) + n->ai_addrlen);
		if (!ai) {
			freeaddrinfo(head);
			return EAI_MEMORY;
		}
		ai->ai_flags = flags;
		ai->ai_family = n->ai_family;
		ai->ai_socktype = n->ai_socktype;
		ai->ai_protocol = n->ai_protocol;
		ai->ai_addrlen = n->ai_addrlen;
		ai->ai_addr = (struct sockaddr *)(ai + 1);
		memcpy(ai->ai_addr, n->ai_addr, n->ai_addrlen);
		*tail = ai;
		tail = &ai->ai_next;
	}
	if (!head)
		return other_family ? EAI_ADDRFAMILY : EAI_NODATA;
	if ((flags & AI_CANONNAME) && in->name) {
		const char *cn = in->cnames ? in->cnames->name : in->name;
		head->ai_canonname = strdup(cn);
		if (!head->ai_canonname) {
			freeaddrinfo(head);
			return EAI_MEMORY;
		}
	}
	*ret = head;
	return 0;
}

static int ares_flags_of(int flags)
{
	int f = 0;
	if (flags & AI_CANONNAME)
		f |= ARES_AI_CANONNAME;
	if (flags & AI_NUMERICHOST)
		f |= ARES_AI_NUMERICHOST;
	if (flags & AI_PASSIVE)
		f |= ARES_AI_PASSIVE;
	if (flags & AI_NUMERICSERV)
		f |= ARES_AI_NUMERICSERV;
	if (flags & AI_V4MAPPED)
		f |= ARES_AI_V4MAPPED;
	if (flags & AI_ALL)
		f |= ARES_AI_ALL;
	if (flags & AI_ADDRCONFIG)
		f |= ARES_AI_ADDRCONFIG;
	return f;
}

/* A numeric port, or 0 for none; -1 for anything else (no services database here). */
static int numeric_port(const char *service)
{
	if (!service || !*service)
		return 0;
	char *end;
	errno = 0;
	unsigned long v = strtoul(service, &end, 10);
	if (errno || *end || v > 65535 || service[0] == '-' || service[0] == '+')
		return -1;
	return (int)v;
}

/* One node of an address literal, for socktype (and its protocol). */
static int literal_node(int family, const void *addr, int port, int socktype, int protocol,
			int flags, struct addrinfo ***tail)
{
	size_t len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	struct addrinfo *ai = calloc(1, sizeof(*ai) + len);
	if (!ai)
		return EAI_MEMORY;
	ai->ai_flags = flags;
	ai->ai_family = family;
	ai->ai_socktype = socktype;
	ai->ai_protocol = protocol		    ? protocol
			  : socktype == SOCK_STREAM ? IPPROTO_TCP
			  : socktype == SOCK_DGRAM  ? IPPROTO_UDP
						    : 0;
	ai->ai_addrlen = (socklen_t)len;
	ai->ai_addr = (struct sockaddr *)(ai + 1);
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ai->ai_addr;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		memcpy(&sin->sin_addr, addr, sizeof(sin->sin_addr));
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ai->ai_addr;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		memcpy(&sin6->sin6_addr, addr, sizeof(sin6->sin6_addr));
	}
	**tail = ai;
	*tail = &ai->ai_next;
	return 0;
}

/*
 * An IPv4 or IPv6 literal is answered here, as libc does, without c-ares:
 * c-ares 1.18 sends a numeric host to the DNS servers. Returns 1 when node
 * is not a literal (nor looks like an IPv6 one), else 0 or an EAI_ code.
 */
static int literal(const char *node, const char *service, const struct addrinfo *hints,
		   struct addrinfo **res)
{
	unsigned char addr[sizeof(struct in6_addr)];
	int family;

	if (inet_pton(AF_INET, node, addr) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, node, addr) == 1)
		family = AF_INET6;
	else if (strchr(node, ':'))
		return EAI_NONAME; /* no host name has a colon (a zone index is not supported) */
	else
		return 1;

	int want = hints ? hints->ai_family : AF_UNSPEC;
	if (want != AF_UNSPEC && want != family)
		return EAI_ADDRFAMILY;
	int port = numeric_port(service);
	if (port < 0)
		return EAI_SERVICE;

	int socktype = hints ? hints->ai_socktype : 0;
	int protocol = hints ? hints->ai_protocol : 0;
	int flags = hints ? hints->ai_flags : 0;
	struct addrinfo *head = NULL, **tail = &head;
	int r = 0;
	if (socktype == 0 || socktype == SOCK_STREAM)
		r = literal_node(family, addr, port, SOCK_STREAM, protocol, flags, &tail);
	if (r == 0 && (socktype == 0 || socktype == SOCK_DGRAM))
		r = literal_node(family, addr, port, SOCK_DGRAM, protocol, flags, &tail);
	if (r == 0 && !head)
		r = EAI_SOCKTYPE;
	if (r == 0 && (flags & AI_CANONNAME)) {
		head->ai_canonname = strdup(node);
		if (!head->ai_canonname)
			r = EAI_MEMORY;
	}
	if (r != 0) {
		freeaddrinfo(head);
		return r;
	}
	*res = head;
	return 0;
}

int getaddrinfo(const char *restrict node, const char *restrict service,
		const struct addrinfo *restrict hints, struct addrinfo **restrict res)
{
	*res = NULL;
	/* Nothing here asks for the wildcard or loopback address by a NULL node. */
	if (!node)
		return EAI_NONAME;
	int lit = literal(node, service, hints, res);
	if (lit != 1)
		return lit;
	if (hints && (hints->ai_flags & AI_NUMERICHOST))
		return EAI_NONAME;
	if (pthread_once(&ares_once, library_init) != 0 || ares_init_status != ARES_SUCCESS)
		return EAI_FAIL;

	struct ares_addrinfo_hints ah = {.ai_family = AF_UNSPEC};
	int flags = 0;
	if (hints) {
		flags = hints->ai_flags;
		ah.ai_flags = ares_flags_of(flags);
		ah.ai_family = hints->ai_family;
		ah.ai_socktype = hints->ai_socktype;
		ah.ai_protocol = hints->ai_protocol;
	}

	ares_channel ch;
	int st = ares_init(&ch);
	if (st != ARES_SUCCESS)
		return st == ARES_ENOMEM ? EAI_MEMORY : EAI_FAIL;

	struct lookup l = {0};
	ares_getaddrinfo(ch, node, service, &ah, lookup_done, &l);
	wait_lookup(ch, &l);
	ares_destroy(ch); /* runs a callback still pending */

	int r = l.status == ARES_SUCCESS && l.res ? to_addrinfo(l.res, ah.ai_family, flags, res)
						  : eai_of(l.status);
	ares_freeaddrinfo(l.res);
	return r;
}
