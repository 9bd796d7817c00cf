// SPDX-License-Identifier: Apache-2.0
/*
 * Linked into the static executables only (ISTIO_CNI_STATIC), as an object
 * ahead of every library, so that these definitions take the place of
 * glibc's.
 *
 * glibc's dlopen and its name-service lookups (gethostbyname, getservbyname,
 * getnameinfo, ...) load shared objects at run time: libnss_*.so named by
 * the host's /etc/nsswitch.conf, OpenSSL engines. In a static executable
 * those objects come from the host's glibc, not the one we linked against,
 * and may crash the process or refuse to load; on a node with no glibc they
 * are absent. None of our binaries needs them: getaddrinfo_ares.c resolves
 * host names with c-ares from /etc/hosts and resolv.conf, every port is
 * numeric, and OpenSSL is never asked to load a module (openssl.cnf is not
 * read). OpenSSL and c-ares still reference them on paths we never take;
 * here each fails the way a failed lookup does, and nothing is loaded.
 */
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <stddef.h>

/* Declared by no header of ours: these replace libc's, they are not an API. */
void *dlopen(const char *file, int mode);
void *dlsym(void *restrict handle, const char *restrict name);
int dlclose(void *handle);
char *dlerror(void);
int dladdr(const void *addr, Dl_info *info);

static char no_dlopen[] = "dynamic loading is not available in this static executable";

void *dlopen(const char *file, int mode)
{
	(void)file;
	(void)mode;
	return NULL;
}

void *dlsym(void *restrict handle, const char *restrict name)
{
	(void)handle;
	(void)name;
	return NULL;
}

int dlclose(void *handle)
{
	(void)handle;
	return -1;
}

char *dlerror(void)
{
	return no_dlopen;
}

int dladdr(const void *addr, Dl_info *info)
{
	(void)addr;
	(void)info;
	return 0;
}

int getnameinfo(const struct sockaddr *restrict addr, socklen_t addrlen, char *restrict host,
		socklen_t hostlen, char *restrict serv, socklen_t servlen, int flags)
{
	(void)addr;
	(void)addrlen;
	(void)host;
	(void)hostlen;
	(void)serv;
	(void)servlen;
	(void)flags;
	return EAI_FAIL;
}

struct hostent *gethostbyname(const char *name)
{
	(void)name;
	h_errno = NO_RECOVERY;
	return NULL;
}

struct servent *getservbyname(const char *name, const char *proto)
{
	(void)name;
	(void)proto;
	return NULL;
}

/* As glibc's when no entry matches: 0, with *result NULL. */
int getservbyport_r(int port, const char *proto, struct servent *ret, char *buf, size_t len,
		    struct servent **result)
{
	(void)port;
	(void)proto;
	(void)ret;
	(void)buf;
	(void)len;
	*result = NULL;
	return 0;
}
