// SPDX-License-Identifier: Apache-2.0
/* istio-cni-validate: the istio-validation init container's check. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/istio_names.h"
#include "util/log.h"
#include "util/parse_util.h"
#include "validate.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: istio-cni-validate [--timeout SECONDS] [--ipv6] [--help] [--version]\n"
		"\n"
		"Run inside the pod network namespace as the proxy UID (1337): listens on\n"
		"127.0.0.1:15001 and :15006 ([::1] for IPv6 pods), connects to 127.0.0.6:15002\n"
		"([::6]:15002) every second and succeeds when the connection arrives redirected\n"
		"with original port 15002.\n"
		"\n"
		"  --timeout SECONDS  give up after this long (default 5)\n"
		"  --ipv6             probe over IPv6 (default: from the first non-loopback,\n"
		"                     non-link-local address of the namespace)\n"
		"\n"
		"Exit status: 0 validated, 126 validation failed, 1 other errors.\n");
}

int main(int argc, char **argv)
{
	struct validate_options opts = {.detect_family = true};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(a, "--version") == 0) {
			printf("istio-cni-validate %s\n", ISTIO_CNI_VERSION_STRING);
			return 0;
		}
		if (strcmp(a, "--ipv6") == 0) {
			opts.force_ipv6 = true;
			continue;
		}
		const char *v = NULL;
		if (strncmp(a, "--timeout=", 10) == 0)
			v = a + 10;
		else if (strcmp(a, "--timeout") == 0 && i + 1 < argc)
			v = argv[++i];
		if (v) {
			uint64_t s;
			if (parse_u64(v, 1, 3600, &s) < 0) {
				fprintf(stderr,
					"istio-cni-validate: --timeout \"%s\": not a number "
					"of seconds in [1, 3600]\n",
					v);
				return 1;
			}
			opts.timeout_ms = s * 1000;
			continue;
		}
		fprintf(stderr, "istio-cni-validate: unknown argument \"%s\"\n", a);
		usage(stderr);
		return 1;
	}
	log_setup("validation", LOG_LEVEL_INFO, false);

	struct error err = {0};
	bool ipv6 = false;
	int r = validate_run(&opts, &ipv6, &err);
	if (r == 0) {
		log_info("iptables validation passed: the connection to %s:%u was redirected",
			 ipv6 ? "[::6]" : "127.0.0.6", PORT_VALIDATION_PROBE);
		return 0;
	}
	if (r == -ETIMEDOUT || r == -EADDRNOTAVAIL) {
		log_error("iptables validation failed; workload is not ready for Istio. "
			  "This happens when the pod was scheduled before the node's Istio CNI "
			  "plugin was ready, so its traffic redirection was never set up. The "
			  "istio-cni repair controller will recover the pod (repair, delete or "
			  "label it); otherwise delete the pod manually. Detail: %s",
			  err.msg);
		return VALIDATE_EXIT_FAILED;
	}
	log_error("validation error: %s", err.msg);
	return 1;
}
