// SPDX-License-Identifier: Apache-2.0
/* REPAIR_* settings (Istio's names and defaults) and the pure parts of the repair loop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/pod_selector.h"
#include "repair.h"
#include "util/istio_names.h"
#include "util/parse_util.h"
#include "util/strv.h"

extern char **environ;

#define RATE_MAX 100000u

/*
 * Where settings come from: the command line (flags, as "REPAIR_X=value"
 * entries), then the environment in either spelling: REPAIR_DELETE_PODS
 * (current Istio) or REPAIR_DELETE-PODS (1.7's istio-cni-repair read its
 * flag names with a REPAIR_ prefix and no key replacer).
 */
struct source {
	const char *const *flags;
	size_t n_flags;
	const char *const *envp;
};

/* The value of name in the first n entries of v, stopping at a NULL entry. */
static const char *vec_get(const char *const *v, size_t n, const char *name)
{
	size_t len = strlen(name);
	for (size_t i = 0; v && i < n && v[i]; i++)
		if (strncmp(v[i], name, len) == 0 && v[i][len] == '=')
			return v[i] + len + 1;
	return NULL;
}

static const char *envp_get(const char *const *envp, const char *name)
{
	return vec_get(envp, SIZE_MAX, name);
}

/* "REPAIR_DELETE_PODS" -> "REPAIR_DELETE-PODS" (the prefix keeps its underscore). */
static void hyphenated(const char *name, char *buf, size_t len)
{
	(void)snprintf(buf, len, "%s", name);
	if (strncmp(buf, "REPAIR_", 7) != 0)
		return;
	for (char *p = buf + 7; *p; p++)
		if (*p == '_')
			*p = '-';
}

/* A setting as found: its value (borrowed, NULL when unset) and the name it was found under. */
struct found {
	const char *value;
	char name[96];
};

/* Both environment spellings set and different is an error. */
static int src_get(const struct source *src, const char *name, struct found *f, struct error *err)
{
	(void)snprintf(f->name, sizeof(f->name), "%s", name);
	f->value = vec_get(src->flags, src->n_flags, name);
	if (f->value)
		return 0;
	char alt[sizeof(f->name)];
	hyphenated(name, alt, sizeof(alt));
	const char *v = envp_get(src->envp, name);
	const char *h = strcmp(alt, name) != 0 ? envp_get(src->envp, alt) : NULL;
	if (v && h && strcmp(v, h) != 0)
		return error_set(err, ERR_CONFIG, -EINVAL, "%s=\"%s\" and %s=\"%s\" disagree", name,
				 v, alt, h);
	f->value = v ? v : h;
	if (!v && h)
		(void)snprintf(f->name, sizeof(f->name), "%s", alt);
	return 0;
}

/*
 * A string: unset means def; set but empty means def too, except for a
 * filter, where it means "no filter" (Istio's "").
 */
static int env_text(const struct source *src, const char *name, const char *def, bool filter,
		    char **ret, struct error *err)
{
	struct found f;
	int r = src_get(src, name, &f, err);
	if (r < 0)
		return r;
	const char *v = f.value;
	if (!v || (!*v && !filter))
		v = def;
	char *s = strdup(v);
	if (!s)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	*ret = s;
	return 0;
}

/*
 * A boolean or numeric setting looked up (src_get): 1 when it holds a value,
 * 0 when it is unset or empty, both of which mean the caller's default.
 */
static int src_get_value(const struct source *src, const char *name, struct found *f,
			 struct error *err)
{
	int r = src_get(src, name, f, err);
	if (r < 0)
		return r;
	return f->value && *f->value ? 1 : 0;
}

static int env_bool(const struct source *src, const char *name, bool def, bool *ret,
		    struct error *err)
{
	struct found f;
	int r = src_get_value(src, name, &f, err);
	if (r == 0)
		*ret = def;
	if (r <= 0)
		return r;
	if (parse_bool(f.value, ret) < 0)
		return error_set(err, ERR_CONFIG, -EINVAL, "%s=\"%s\": not a boolean (true/false)",
				 f.name, f.value);
	return 0;
}

static int env_uint(const struct source *src, const char *name, uint64_t def, uint64_t min,
		    uint64_t max, uint64_t *ret, struct error *err)
{
	struct found f;
	int r = src_get_value(src, name, &f, err);
	if (r == 0)
		*ret = def;
	if (r <= 0)
		return r;
	if (parse_u64(f.value, min, max, ret) < 0)
		return error_set(err, ERR_CONFIG, -EINVAL,
				 "%s=\"%s\": not a number in [%llu, %llu]", f.name, f.value,
				 (unsigned long long)min, (unsigned long long)max);
	return 0;
}

/*
 * A label selector is one selector, as kubectl -l and the API server take it
 * and as Istio hands it to its pod watch: requirements joined by commas, where
 * a set requirement carries commas of its own ("app in (a,b),tier!=db" is two
 * requirements). So the value is kept whole, only the blanks at its ends
 * trimmed, and parsed here so that a malformed one stops the start with the
 * variable named instead of failing every list request.
 */
static int env_label_selector(const struct source *src, const char *name, char **ret,
			      struct error *err)
{
	struct found f;
	int r = src_get(src, name, &f, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *s = strdup(f.value ? f.value : "");
	if (!s)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	parse_strip(s);
	_cleanup_(pod_selector_freep) struct pod_selector *sel = NULL;
	r = pod_selector_parse(s, NULL, &sel, err);
	if (r < 0)
		return error_prefix(err, r, "%s=\"%s\"", f.name, s);
	*ret = TAKE_PTR(s);
	return 0;
}

/*
 * A field selector: terms joined by commas, each trimmed, empties dropped.
 * Field selectors have no set form, so a comma always ends a term, and the
 * API server skips empty terms itself: the split only normalises.
 */
static int env_field_selector(const struct source *src, const char *name, char **ret,
			      struct error *err)
{
	struct found f;
	int r = src_get(src, name, &f, err);
	if (r < 0)
		return r;
	const char *v = f.value;
	_cleanup_free_ char *copy = strdup(v ? v : "");
	_cleanup_free_ char *out = calloc(1, strlen(v ? v : "") + 1);
	if (!copy || !out)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	size_t len = 0;
	char *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		parse_strip(tok);
		if (!*tok)
			continue;
		if (strpbrk(tok, " \t\r\n"))
			return error_set(err, ERR_CONFIG, -EINVAL,
					 "%s=\"%s\": \"%s\" is not a field selector term", f.name,
					 v, tok);
		size_t n = strlen(tok);
		if (len)
			out[len++] = ',';
		memcpy(out + len, tok, n);
		len += n;
		out[len] = '\0';
	}
	*ret = TAKE_PTR(out);
	return 0;
}

void repair_config_done(struct repair_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->node_name);
	free(cfg->sidecar_annotation);
	free(cfg->init_container_name);
	free(cfg->init_container_termination_message);
	free(cfg->label_selectors);
	free(cfg->field_selectors);
	free(cfg->broken_pod_label_key);
	free(cfg->broken_pod_label_value);
	free(cfg->host_proc_dir);
	*cfg = (struct repair_config){0};
}

static void repair_config_donep(struct repair_config *cfg)
{
	repair_config_done(cfg);
}

int repair_config_parse(const char *const *flags, size_t n_flags, const char *const *envp,
			struct repair_config *ret, struct error *err)
{
	const struct source src = {.flags = flags,
				   .n_flags = n_flags,
				   .envp = envp ? envp : (const char *const *)environ};
	const struct source *e = &src;
	_cleanup_(repair_config_donep) struct repair_config c = {0};
	int r;

	if ((r = env_bool(e, ENV_REPAIR_ENABLED, true, &c.enabled, err)) < 0 ||
	    (r = env_bool(e, ENV_REPAIR_REPAIR_PODS, false, &c.repair_pods, err)) < 0 ||
	    (r = env_bool(e, ENV_REPAIR_DELETE_PODS, false, &c.delete_pods, err)) < 0 ||
	    (r = env_bool(e, ENV_REPAIR_LABEL_PODS, false, &c.label_pods, err)) < 0 ||
	    (r = env_bool(e, ENV_REPAIR_RUN_AS_DAEMON, true, &c.run_as_daemon, err)) < 0)
		return r;

	if ((r = env_text(e, ENV_REPAIR_NODE_NAME, "", false, &c.node_name, err)) < 0 ||
	    (r = env_text(e, ENV_REPAIR_SIDECAR_ANNOTATION, ANN_STATUS, true, &c.sidecar_annotation,
			  err)) < 0 ||
	    (r = env_text(e, ENV_REPAIR_INIT_CONTAINER_NAME, CONTAINER_ISTIO_VALIDATION, true,
			  &c.init_container_name, err)) < 0 ||
	    (r = env_text(e, ENV_REPAIR_INIT_CONTAINER_TERMINATION_MESSAGE, "", false,
			  &c.init_container_termination_message, err)) < 0 ||
	    (r = env_text(e, ENV_REPAIR_BROKEN_POD_LABEL_KEY, REPAIR_DEFAULT_BROKEN_POD_LABEL_KEY,
			  false, &c.broken_pod_label_key, err)) < 0 ||
	    (r = env_text(e, ENV_REPAIR_BROKEN_POD_LABEL_VALUE,
			  REPAIR_DEFAULT_BROKEN_POD_LABEL_VALUE, false, &c.broken_pod_label_value,
			  err)) < 0 ||
	    (r = env_text(e, ENV_HOST_PROC_DIR, REPAIR_DEFAULT_HOST_PROC_DIR, false,
			  &c.host_proc_dir, err)) < 0)
		return r;

	if (strpbrk(c.node_name, ",= \t\r\n"))
		return error_set(err, ERR_CONFIG, -EINVAL, "%s=\"%s\": not a node name",
				 ENV_REPAIR_NODE_NAME, c.node_name);
	if (strpbrk(c.broken_pod_label_key, " \t\r\n\"") || !c.broken_pod_label_key[0])
		return error_set(err, ERR_CONFIG, -EINVAL, "%s=\"%s\": not a label key",
				 ENV_REPAIR_BROKEN_POD_LABEL_KEY, c.broken_pod_label_key);

	uint64_t v;
	if ((r = env_uint(e, ENV_REPAIR_INIT_CONTAINER_EXIT_CODE, VALIDATION_EXIT_CODE, 0, 255, &v,
			  err)) < 0)
		return r;
	c.init_container_exit_code = (int32_t)v;
	if ((r = env_uint(e, ENV_REPAIR_RATE_LIMIT, REPAIR_DEFAULT_RATE_LIMIT, 1, RATE_MAX, &v,
			  err)) < 0)
		return r;
	c.rate_limit = (unsigned)v;
	if ((r = env_uint(e, ENV_REPAIR_RATE_BURST, REPAIR_DEFAULT_RATE_BURST, 1, RATE_MAX, &v,
			  err)) < 0)
		return r;
	c.rate_burst = (unsigned)v;

	const char *backend = envp_get(e->envp, ENV_REDIRECT_BACKEND);
	c.redirect_backend = REDIRECT_BACKEND_AUTO;
	if (backend && *backend) {
		int i = 0;
		while (i < _REDIRECT_BACKEND_MAX &&
		       strcmp(backend, redirect_backend_to_string((enum redirect_backend)i)) != 0)
			i++;
		if (i == _REDIRECT_BACKEND_MAX)
			return error_set(err, ERR_CONFIG, -EINVAL,
					 "%s=\"%.32s\": not auto, nftables or iptables",
					 ENV_REDIRECT_BACKEND, backend);
		c.redirect_backend = (enum redirect_backend)i;
	}

	if ((r = env_label_selector(e, ENV_REPAIR_LABEL_SELECTORS, &c.label_selectors, err)) < 0 ||
	    (r = env_field_selector(e, ENV_REPAIR_FIELD_SELECTORS, &c.field_selectors, err)) < 0)
		return r;

	*ret = c;
	// NOLINTNEXTLINE(clang-analyzer-deadcode.DeadStores): read by c's _cleanup_ handler, which must not free what *ret now owns
	c = (struct repair_config){0};
	return 0;
}

int repair_config_from_env(const char *const *envp, struct repair_config *ret, struct error *err)
{
	return repair_config_parse(NULL, 0, envp, ret, err);
}

/* The settings 1.7's istio-cni-repair took as flags (and ours), by variable. */
static const struct {
	const char *env;
	bool boolean;
} flag_settings[] = {
	{ENV_REPAIR_DELETE_PODS, true},
	{ENV_REPAIR_LABEL_PODS, true},
	{ENV_REPAIR_REPAIR_PODS, true},
	{ENV_REPAIR_RUN_AS_DAEMON, true},
	{ENV_REPAIR_NODE_NAME, false},
	{ENV_REPAIR_SIDECAR_ANNOTATION, false},
	{ENV_REPAIR_INIT_CONTAINER_NAME, false},
	{ENV_REPAIR_INIT_CONTAINER_TERMINATION_MESSAGE, false},
	{ENV_REPAIR_INIT_CONTAINER_EXIT_CODE, false},
	{ENV_REPAIR_LABEL_SELECTORS, false},
	{ENV_REPAIR_FIELD_SELECTORS, false},
	{ENV_REPAIR_BROKEN_POD_LABEL_KEY, false},
	{ENV_REPAIR_BROKEN_POD_LABEL_VALUE, false},
	{ENV_REPAIR_RATE_LIMIT, false},
	{ENV_REPAIR_RATE_BURST, false},
};

/* "--delete-pods" or "--repair-delete-pods" (current Istio's name) for REPAIR_DELETE_PODS. */
static bool flag_matches(const char *flag, size_t len, const char *env)
{
	if (len > 7 && strncmp(flag, "repair-", 7) == 0) {
		flag += 7;
		len -= 7;
	}
	const char *name = env + 7;
	if (strlen(name) != len)
		return false;
	for (size_t i = 0; i < len; i++) {
		char want = name[i] == '_' ? '-' : (char)(name[i] - 'A' + 'a');
		if (name[i] >= '0' && name[i] <= '9')
			want = name[i];
		if (flag[i] != want)
			return false;
	}
	return true;
}

int repair_config_flags(int argc, char *const *argv, char ***ret, size_t *ret_n, struct error *err)
{
	char **v = NULL;
	size_t n = 0;
	int r = 0;
	for (int i = 1; i < argc && r == 0; i++) {
		const char *arg = argv[i];
		const char *name = arg + 2, *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);
		size_t k = 0;
		if (strncmp(arg, "--", 2) == 0)
			while (k < ELEMENTSOF(flag_settings) &&
			       !flag_matches(name, len, flag_settings[k].env))
				k++;
		if (strncmp(arg, "--", 2) != 0 || k == ELEMENTSOF(flag_settings)) {
			r = error_set(err, ERR_CONFIG, -EINVAL, "unknown argument \"%s\"", arg);
			break;
		}
		const char *value = eq ? eq + 1 : NULL;
		if (!value && flag_settings[k].boolean)
			value = "true";
		if (!value && i + 1 >= argc) {
			r = error_set(err, ERR_CONFIG, -EINVAL, "%s: missing value", arg);
			break;
		}
		if (!value)
			value = argv[++i];
		_cleanup_free_ char *entry = NULL;
		if (asprintf(&entry, "%s=%s", flag_settings[k].env, value) < 0 ||
		    strv_push(&v, &n, entry) < 0)
			r = error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	}
	if (r < 0) {
		strv_free(v, n);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

bool repair_config_is_set(const char *const *flags, size_t n_flags, const char *const *envp,
			  const char *name)
{
	char alt[96];
	hyphenated(name, alt, sizeof(alt));
	if (!envp)
		envp = (const char *const *)environ;
	return vec_get(flags, n_flags, name) || envp_get(envp, name) || envp_get(envp, alt);
}

int repair_field_selector(const struct repair_config *cfg, char **ret)
{
	/* Current Istio always appends the node clause; without a node name 1.7
	 * watched every node, which is what a cluster-wide Deployment needs. */
	const char *fs = cfg->field_selectors ? cfg->field_selectors : "";
	const char *node = cfg->node_name ? cfg->node_name : "";
	char *s = NULL;
	int n = *node ? asprintf(&s, "%s%sspec.nodeName=%s", fs, *fs ? "," : "", node)
		      : asprintf(&s, "%s", fs);
	if (n < 0)
		return -ENOMEM;
	*ret = s;
	return 0;
}

enum repair_action repair_action_for(const struct repair_config *cfg)
{
	if (cfg->repair_pods)
		return REPAIR_ACTION_REPAIR;
	if (cfg->delete_pods)
		return REPAIR_ACTION_DELETE;
	if (cfg->label_pods)
		return REPAIR_ACTION_LABEL;
	return REPAIR_ACTION_NONE;
}

const char *repair_action_to_string(enum repair_action a)
{
	switch (a) {
	case REPAIR_ACTION_REPAIR:
		return "repair";
	case REPAIR_ACTION_DELETE:
		return "delete";
	case REPAIR_ACTION_LABEL:
		return "label";
	default:
		return "none";
	}
}

/* Compares a and b with ASCII whitespace trimmed at both ends. */
static bool trimmed_equal(const char *a, const char *b)
{
	static const char ws[] = " \t\r\n\v\f";
	a = a ? a : "";
	b = b ? b : "";
	a += strspn(a, ws);
	b += strspn(b, ws);
	size_t la = strlen(a), lb = strlen(b);
	while (la && strchr(ws, a[la - 1]))
		la--;
	while (lb && strchr(ws, b[lb - 1]))
		lb--;
	return la == lb && memcmp(a, b, la) == 0;
}

bool repair_pod_is_broken(const struct repair_config *cfg, const struct pod_info *p)
{
	if (cfg->sidecar_annotation && *cfg->sidecar_annotation &&
	    !pod_info_annotation(p, cfg->sidecar_annotation))
		return false;
	for (size_t i = 0; i < p->n_init_statuses; i++) {
		const struct pod_init_status *s = &p->init_statuses[i];
		if (cfg->init_container_name && *cfg->init_container_name &&
		    (!s->name || strcmp(s->name, cfg->init_container_name) != 0))
			continue;
		if (s->state.present &&
		    ((s->state.reason && strcmp(s->state.reason, "Completed") == 0) ||
		     s->state.exit_code == 0))
			continue;
		if (!s->last_state.present)
			continue;
		const char *want = cfg->init_container_termination_message;
		if (want && *want && !trimmed_equal(want, s->last_state.message))
			continue;
		if (cfg->init_container_exit_code != 0 &&
		    cfg->init_container_exit_code != s->last_state.exit_code)
			continue;
		return true;
	}
	return false;
}

void repair_bucket_init(struct repair_bucket *b, unsigned rate_per_s, unsigned burst,
			uint64_t now_ms)
{
	b->rate = (double)(rate_per_s ? rate_per_s : 1) / 1000.0;
	b->burst = burst ? burst : 1;
	b->tokens = b->burst;
	b->last_ms = now_ms;
}

uint64_t repair_bucket_take(struct repair_bucket *b, unsigned n, uint64_t now_ms)
{
	double need = n < 1 ? 1.0 : (double)n;
	if (need > b->burst)
		need = b->burst;
	if (now_ms > b->last_ms) {
		b->tokens += (double)(now_ms - b->last_ms) * b->rate;
		if (b->tokens > b->burst)
			b->tokens = b->burst;
		b->last_ms = now_ms;
	}
	if (b->tokens >= need) {
		b->tokens -= need;
		return 0;
	}
	uint64_t wait = (uint64_t)((need - b->tokens) / b->rate);
	return wait ? wait + 1 : 1;
}

uint64_t repair_backoff_ms(unsigned failures)
{
	uint64_t w = REPAIR_BACKOFF_INITIAL_MS;
	for (unsigned i = 1; i < failures && w < REPAIR_BACKOFF_MAX_MS; i++)
		w *= 2;
	return w < REPAIR_BACKOFF_MAX_MS ? w : REPAIR_BACKOFF_MAX_MS;
}
