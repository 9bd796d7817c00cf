// SPDX-License-Identifier: Apache-2.0
/*
 * The CNI skeleton of istio-cni: one env table, one parse step, one handler
 * per verb (the shape of libcni's skel). Whatever happens, stdout carries
 * exactly one thing: the result, the VERSION answer, or one error object.
 */
#include "plugin.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cni/cni_args.h"
#include "cni/cni_env.h"
#include "cni/cni_result.h"
#include "cni/cni_version.h"
#include "cni/netconf.h"
#include "log_forward.h"
#include "pod_lookup.h"
#include "util/error.h"
#include "util/file_util.h"
#include "util/istio_names.h"
#include "util/log.h"
#include "verbs.h"

extern char **environ;

#define LOG_FORWARD_TIMEOUT_MS 1000

/* "0.1.0 0.2.0 ... 1.1.0", for the about line and version errors. */
static const char *supported_list(void)
{
	static char buf[128];
	if (buf[0] == '\0') {
		size_t pos = 0;
		for (int v = 0; v < _CNI_VERSION_MAX; v++) {
			int k = snprintf(buf + pos, sizeof(buf) - pos, "%s%s", v ? " " : "",
					 cni_version_to_string((enum cni_version)v));
			if (k < 0 || (size_t)k >= sizeof(buf) - pos)
				break;
			pos += (size_t)k;
		}
	}
	return buf;
}

struct request {
	struct timespec started; /* CLOCK_MONOTONIC at process start */
	struct cni_env env;
	bool env_loaded; /* env is valid (else the command is unknown) */
	char *stdin_buf;
	size_t stdin_len;
	struct netconf *conf;
	enum cni_version version; /* the version we answer in */
};

static void request_done(struct request *req)
{
	free(req->stdin_buf);
	netconf_free(req->conf);
}

/*
 * A JSON string of s. Messages quote user input (annotations, paths) and are
 * cut at fixed sizes, so they may not be valid UTF-8; the error must still be
 * printed, so fall back to ASCII with '?' for anything else.
 */
static json_t *json_text(const char *s)
{
	json_t *j = json_string(s);
	if (j)
		return j;
	_cleanup_free_ char *copy = strdup(s);
	if (!copy)
		return NULL;
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
			*p = '?';
	return json_string(copy);
}

/* The error object of the CNI spec, 4-space indented as libcni prints it. */
static int print_error(const struct request *req, const struct error *err, int r)
{
	const char *version = req->conf && req->conf->cni_version
				      ? req->conf->cni_version
				      : cni_version_to_string(CNI_VERSION_LATEST);
	int code = error_cni_code(err, r);
	const char *msg = err->msg[0] ? err->msg : strerror(r < 0 ? -r : EINVAL);

	json_t *o = json_pack("{s:s, s:i, s:o}", "cniVersion", version, "code", code, "msg",
			      json_text(msg));
	if (!o)
		return -ENOMEM;
	if (err->details[0])
		(void)json_object_set_new(o, "details", json_text(err->details));
	int k = json_dumpf(o, stdout, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (k < 0 || fputc('\n', stdout) == EOF || fflush(stdout) == EOF)
		return -EIO;

	plugin_log_duration(&req->started);
	log_error("%s failed: %s%s%s",
		  req->env_loaded ? cni_command_to_string(req->env.command) : "CNI request", msg,
		  err->details[0] ? ": " : "", err->details);
	return 0;
}

static int read_stdin(struct request *req, struct error *err)
{
	int r = file_read_fd_full(STDIN_FILENO, NETCONF_MAX_BYTES, &req->stdin_buf,
				  &req->stdin_len);
	if (r == -EFBIG)
		return error_set(err, ERR_IO, r, "network configuration on stdin exceeds %zu bytes",
				 NETCONF_MAX_BYTES);
	if (r < 0)
		return error_set(err, ERR_IO, r, "failed to read stdin: %s", strerror(-r));
	return 0;
}

/* The conf checks skel makes before any verb: JSON, name, version. */
static int load_conf(struct request *req, struct error *err)
{
	int r = netconf_parse(req->stdin_buf, req->stdin_len, &req->conf, err);
	if (r < 0)
		return r;
	r = netconf_validate(req->conf, err);
	if (r < 0)
		return r;

	r = cni_version_negotiate(req->conf->cni_version,
				  (const char *const *)req->conf->cni_versions.v,
				  req->conf->cni_versions.n, &req->version);
	if (r < 0)
		return error_set(
			err, ERR_VERSION, r,
			"incompatible CNI versions: config is \"%.32s\", plugin supports %s",
			req->conf->cni_version, supported_list());

	if (req->conf->log_level_set)
		log_set_level(req->conf->log_level);
	if (req->conf->ambient_enabled)
		log_warn(
			"ambient_enabled is set, but ambient mode is not supported: pods get sidecar capture only");
	return 0;
}

static int cmd_version(struct request *req, struct error *err)
{
	_cleanup_free_ char *out = NULL;
	const char *input = NULL;
	json_t *root = NULL;

	if (req->stdin_len > 0) {
		json_error_t jerr;
		root = json_loadb(req->stdin_buf, req->stdin_len, JSON_REJECT_DUPLICATES, &jerr);
		if (!root)
			return error_set(err, ERR_DECODE, -EINVAL,
					 "failed to parse VERSION input: %s (line %d, column %d)",
					 jerr.text, jerr.line, jerr.column);
		const json_t *v = json_object_get(root, "cniVersion");
		if (json_is_string(v))
			input = json_string_value(v);
	}
	int r = cni_version_print_json(input, &out);
	json_decref(root);
	if (r < 0)
		return error_set(err, ERR_INTERNAL, r, "failed to encode VERSION output");
	if (fputs(out, stdout) == EOF || fputc('\n', stdout) == EOF || fflush(stdout) == EOF)
		return error_set(err, ERR_IO, -EIO, "failed to write stdout");
	return 0;
}

static int cmd_check(struct request *req, struct error *err)
{
	/* CHECK exists from 0.4.0 on; libcni refuses it for older configs too. */
	if (!cni_version_has_check(req->version))
		return error_set(err, ERR_VERSION, -EINVAL,
				 "config version \"%s\" does not allow CHECK",
				 req->conf->cni_version);
	return plugin_check(&req->env, req->conf, req->version, err);
}

static int cmd_dispatch(struct request *req, struct error *err)
{
	int r = read_stdin(req, err);
	if (r < 0)
		return r;
	if (req->env.command == CNI_CMD_VERSION)
		return cmd_version(req, err);

	r = load_conf(req, err);
	if (r < 0)
		return r;

	switch (req->env.command) {
	case CNI_CMD_ADD:
		return plugin_add(&req->env, req->conf, req->version, &req->started, err);
	case CNI_CMD_DEL:
		return plugin_del(&req->env, req->conf, err);
	case CNI_CMD_CHECK:
		return cmd_check(req, err);
	case CNI_CMD_STATUS:
		/* Readiness problems are logged, never returned: containerd would mark
		 * the node network not ready and block the agent's own pod. */
	case CNI_CMD_GC:
		/* GC: the plugin keeps no node state to collect. */
		return 0;
	default:
		return error_set(err, ERR_ENV, -EINVAL, "unknown CNI_COMMAND");
	}
}

/* Sends what we logged to the agent's socket, best effort. */
static void forward_logs(struct log_forward *fwd, const struct netconf *conf)
{
	char path[PATH_MAX];
	const char *sock = NULL;
	if (conf && pod_lookup_agent_socket(conf, path, sizeof(path)) == 0)
		sock = path;
	int r = log_forward_flush(fwd, sock, LOG_FORWARD_TIMEOUT_MS);
	if (r < 0)
		log_debug("could not forward logs to the agent at %s: %s", sock, strerror(-r));
}

static void print_about(void)
{
	fprintf(stderr, "CNI plugin %s %s\nCNI protocol versions supported: %s\n",
		ISTIO_CNI_PLUGIN_TYPE, ISTIO_CNI_VERSION, supported_list());
}

static void print_help(void)
{
	printf("Usage:\n"
	       "  istio-cni                       CNI plugin; the runtime sets CNI_COMMAND\n"
	       "  istio-cni plan --pod FILE [--conf FILE] [--netns PATH]\n"
	       "                                  print the decision and the rules, change nothing\n"
	       "  istio-cni apply --pod FILE --netns PATH [--conf FILE]\n"
	       "                                  program a netns as ADD would\n"
	       "  istio-cni --help | --version\n");
}

/*
 * jansson seeds its hash tables from /dev/urandom (open, read, close) at the
 * first object; one getrandom() does the same for a process that runs once
 * per pod start. Without entropy yet, jansson keeps its own fallback.
 */
static void seed_json(void)
{
	uint32_t seed = 0;
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t)sizeof(seed) && seed != 0)
		json_object_seed(seed);
}

int plugin_main(int argc, char **argv)
{
	/* Istio's plugin logs JSON lines on stderr; operators' tooling expects that. */
	log_setup(ISTIO_CNI_PLUGIN_TYPE, LOG_LEVEL_INFO, true);
	seed_json();

	if (argc > 1) {
		if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
			print_help();
			return 0;
		}
		if (strcmp(argv[1], "--version") == 0) {
			printf("istio-cni %s (CNI %s)\n", ISTIO_CNI_VERSION, supported_list());
			return 0;
		}
		int r = plugin_subcommand(argc, argv);
		if (r != -ENOENT)
			return r;
		fprintf(stderr, "istio-cni: unknown command \"%s\"; see --help\n", argv[1]);
		return 2;
	}

	struct request req = {0};
	struct error err = {0};
	(void)clock_gettime(CLOCK_MONOTONIC, &req.started);
	int r = cni_env_load((const char *const *)environ, &req.env, &err);
	if (r == -ENOENT) {
		print_about();
		return 0;
	}

	struct log_forward fwd = {0};
	log_forward_start(&fwd);
	if (r >= 0) {
		req.env_loaded = true;
		r = cmd_dispatch(&req, &err);
	}
	int status = 0;
	if (r < 0) {
		(void)print_error(&req, &err, r);
		status = 1;
	}
	forward_logs(&fwd, req.conf);
	request_done(&req);
	return status;
}
