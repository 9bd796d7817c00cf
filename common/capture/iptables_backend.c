// SPDX-License-Identifier: Apache-2.0
#include "capture/iptables_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "capture/iptables_render.h"
#include "util/istio_names.h"
#include "util/log.h"
#include "util/parse_util.h"

#define SANDBOX_PATH "PATH=/usr/sbin:/usr/bin:/sbin:/bin"
#define NSSWITCH_CONF "/etc/nsswitch.conf"
#define LEGACY_WAIT_ARG "--wait=5"

static const char *const bin_dirs[] = {"/usr/sbin", "/sbin", "/usr/bin"};

/* ---- sandboxed exec ------------------------------------------------------ */

enum sandbox_step {
	STEP_UNSHARE = 1,
	STEP_PRIVATE,
	STEP_MASK,
	STEP_MASK_RDONLY,
	STEP_SETNS,
	STEP_EXEC,
	STEP_DUP,
};

static const char *step_name(int step)
{
	switch (step) {
	case STEP_UNSHARE:
		return "unshare(CLONE_NEWNS)";
	case STEP_PRIVATE:
		return "making / private";
	case STEP_MASK:
		return "masking " NSSWITCH_CONF;
	case STEP_MASK_RDONLY:
		return "making the " NSSWITCH_CONF " mask read-only";
	case STEP_SETNS:
		return "entering the pod netns";
	case STEP_EXEC:
		return "execve";
	case STEP_DUP:
		return "setting up stdio";
	}
	return "sandbox";
}

void sandbox_result_done(struct sandbox_result *r)
{
	free(r->out);
	free(r->err);
	r->out = NULL;
	r->err = NULL;
}

/* Child side: only async-signal-safe calls from here to execve. */
_Noreturn static void child_run(const struct sandbox_cmd *cmd, char *const *envp, int in_fd,
				int out_fd, int err_fd, int report_fd)
{
	int step;
	sigset_t none;
	struct sigaction dfl = {.sa_handler = SIG_DFL};

	(void)sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	(void)sigaction(SIGPIPE, &dfl, NULL);

	step = STEP_DUP;
	if (dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
	    dup2(err_fd, STDERR_FILENO) < 0)
		goto fail;

	step = STEP_UNSHARE;
	if (unshare(CLONE_NEWNS) < 0)
		goto fail;
	step = STEP_PRIVATE;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 &&
	    mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		goto fail;
	step = STEP_MASK;
	if (mount("/dev/null", NSSWITCH_CONF, NULL, MS_BIND, NULL) < 0) {
		if (errno != ENOENT)
			goto fail;
		/* no nsswitch.conf: nothing to mask */
	} else {
		step = STEP_MASK_RDONLY;
		if (mount(NULL, NSSWITCH_CONF, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
			goto fail;
	}
	step = STEP_SETNS;
	if (cmd->netns_fd >= 0 && setns(cmd->netns_fd, CLONE_NEWNET) < 0)
		goto fail;
	step = STEP_EXEC;
	/* execve's prototype predates const; it does not write argv */
	union {
		const char *const *c;
		char *const *m;
	} argv = {.c = cmd->argv};
	execve(cmd->argv[0], argv.m, envp);
fail:;
	int report[2] = {step, errno};
	(void)!write(report_fd, report, sizeof(report));
	_exit(127);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct capture {
	char *buf;
	size_t len;
	size_t cap; /* bytes kept */
	bool overflow;
	bool eof;
};

static int capture_read(int fd, struct capture *c)
{
	char tmp[16384];
	ssize_t n = read(fd, tmp, sizeof(tmp));
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	if (n == 0) {
		c->eof = true;
		return 0;
	}
	size_t keep = (size_t)n;
	if (c->len + keep > c->cap) {
		c->overflow = true;
		keep = c->cap - c->len;
	}
	if (keep > 0) {
		char *nb = realloc(c->buf, c->len + keep + 1);
		if (!nb)
			return -ENOMEM;
		c->buf = nb;
		memcpy(c->buf + c->len, tmp, keep);
		c->len += keep;
		c->buf[c->len] = '\0';
	}
	return 0;
}

static void close_pair(int p[2])
{
	for (int i = 0; i < 2; i++)
		if (p[i] >= 0) {
			(void)close(p[i]);
			p[i] = -1;
		}
}

int iptables_sandbox_exec(const struct sandbox_cmd *cmd, struct sandbox_result *ret,
			  struct error *err)
{
	int out_p[2] = {-1, -1}, err_p[2] = {-1, -1}, rep_p[2] = {-1, -1};
	_cleanup_close_ int in_fd = -1;
	_cleanup_free_ char *lock_env = NULL;
	struct capture out = {.cap = cmd->stdout_cap}, errc = {.cap = IPTABLES_STDERR_MAX};
	const char *prog = cmd->argv && cmd->argv[0] ? cmd->argv[0] : "";
	int r;

	if (prog[0] != '/')
		return error_set(err, ERR_INTERNAL, -EINVAL, "not an absolute path: \"%s\"", prog);
	if (cmd->lock_path && asprintf(&lock_env, "XTABLES_LOCKFILE=%s", cmd->lock_path) < 0)
		return -ENOMEM;
	static char path_env[] = SANDBOX_PATH;
	char *const envp[] = {path_env, lock_env, NULL};

	in_fd = memfd_create("istio-cni-input", MFD_CLOEXEC);
	if (in_fd < 0)
		return error_set(err, ERR_IPTABLES, -errno, "memfd_create: %m");
	for (size_t off = 0; cmd->input && off < cmd->input_len;) {
		ssize_t n = write(in_fd, cmd->input + off, cmd->input_len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return error_set(err, ERR_IPTABLES, -errno, "writing the document: %m");
		}
		off += (size_t)n;
	}
	if (lseek(in_fd, 0, SEEK_SET) < 0)
		return error_set(err, ERR_IPTABLES, -errno, "lseek: %m");

	if (pipe2(out_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0 ||
	    pipe2(rep_p, O_CLOEXEC) < 0) {
		r = error_set(err, ERR_IPTABLES, -errno, "pipe2: %m");
		goto out;
	}

	pid_t pid = fork();
	if (pid < 0) {
		r = error_set(err, ERR_IPTABLES, -errno, "fork: %m");
		goto out;
	}
	if (pid == 0)
		child_run(cmd, envp, in_fd, out_p[1], err_p[1], rep_p[1]);

	(void)close(out_p[1]);
	(void)close(err_p[1]);
	(void)close(rep_p[1]);
	out_p[1] = err_p[1] = rep_p[1] = -1;

	unsigned int timeout = cmd->timeout_ms ? cmd->timeout_ms : IPTABLES_EXEC_TIMEOUT_MS;
	int64_t deadline = now_ms() + timeout;
	int report[2] = {0};
	size_t report_len = 0;
	bool rep_eof = false, timed_out = false;
	r = 0;
	while (r == 0 && (!out.eof || !errc.eof || !rep_eof)) {
		struct pollfd pfd[3] = {
			{.fd = out.eof ? -1 : out_p[0], .events = POLLIN},
			{.fd = errc.eof ? -1 : err_p[0], .events = POLLIN},
			{.fd = rep_eof ? -1 : rep_p[0], .events = POLLIN},
		};
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			timed_out = true;
			break;
		}
		int n = poll(pfd, 3, (int)left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (pfd[0].revents)
			r = capture_read(out_p[0], &out);
		if (r == 0 && pfd[1].revents)
			r = capture_read(err_p[0], &errc);
		if (r == 0 && pfd[2].revents) {
			ssize_t k = read(rep_p[0], (char *)report + report_len,
					 sizeof(report) - report_len);
			if (k <= 0)
				rep_eof = true;
			else
				report_len += (size_t)k;
			if (report_len == sizeof(report))
				rep_eof = true;
		}
	}

	if (timed_out || r < 0)
		(void)kill(pid, SIGKILL);
	int wstatus = 0;
	while (waitpid(pid, &wstatus, 0) < 0) {
		if (errno != EINTR) {
			if (r == 0)
				r = error_set(err, ERR_IPTABLES, -errno, "waiting for %s: %m",
					      prog);
			break;
		}
	}
	if (r < 0) {
		if (err && err->kind == ERR_NONE)
			r = error_set(err, ERR_IPTABLES, r, "running %s: %s", prog, strerror(-r));
		goto out;
	}
	if (timed_out) {
		r = error_set(err, ERR_IPTABLES, -ETIMEDOUT, "%s killed after %u ms", prog,
			      timeout);
		goto out;
	}
	if (report_len == sizeof(report)) {
		r = error_set(err, ERR_IPTABLES, report[1] ? -report[1] : -EIO,
			      "sandbox for %s: %s: %s", prog, step_name(report[0]),
			      strerror(report[1]));
		goto out;
	}
	if (out.overflow) {
		r = error_set(err, ERR_IPTABLES, -EFBIG, "%s printed more than %zu bytes", prog,
			      cmd->stdout_cap);
		goto out;
	}

	struct sandbox_result res = {0};
	res.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
	res.out = TAKE_PTR(out.buf);
	res.out_len = out.len;
	if (cmd->stdout_cap > 0 && !res.out)
		res.out = strdup("");
	res.err = errc.buf ? TAKE_PTR(errc.buf) : strdup("");
	if ((cmd->stdout_cap > 0 && !res.out) || !res.err) {
		sandbox_result_done(&res);
		r = -ENOMEM;
		goto out;
	}
	*ret = res;
	r = 0;
out:
	close_pair(out_p);
	close_pair(err_p);
	close_pair(rep_p);
	free(out.buf);
	free(errc.buf);
	return r;
}

/* ---- binaries ------------------------------------------------------------ */

int iptables_binary(enum plan_family fam, enum iptables_variant v, bool save, char **ret)
{
	const char *base = fam == PLAN_V6 ? "ip6tables" : "iptables";
	const char *op = save ? "save" : "restore";
	const char *var = iptables_variant_to_string(v);

	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < ELEMENTSOF(bin_dirs); i++) {
			_cleanup_free_ char *p = NULL;
			int n = pass == 0 ? asprintf(&p, "%s/%s-%s-%s", bin_dirs[i], base, var, op)
					  : asprintf(&p, "%s/%s-%s", bin_dirs[i], base, op);
			if (n < 0)
				return -ENOMEM;
			if (access(p, X_OK) == 0) {
				*ret = TAKE_PTR(p);
				return 0;
			}
		}
	}
	return -ENOENT;
}

/* ---- canonical rule form -------------------------------------------------- */

struct strv {
	char **v;
	size_t n;
	size_t cap;
};

static void strv_done(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static int strv_push(struct strv *s, char *str)
{
	if (!str)
		return -ENOMEM;
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 8;
		char **nv = reallocarray(s->v, nc, sizeof(*nv));
		if (!nv) {
			free(str);
			return -ENOMEM;
		}
		s->v = nv;
		s->cap = nc;
	}
	s->v[s->n++] = str;
	return 0;
}

/*
 * iptables-save prints marks and masks in hex ("0x539/0xffffffff") where we
 * write decimal, so this accepts both (base 0); parse_u64 is decimal only.
 * Only used to put two spellings of one rule into the same form.
 */
static bool parse_num(const char *s, uint64_t *ret)
{
	if (!s[0])
		return false;
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || *end || s[0] == '-' || s[0] == '+')
		return false;
	*ret = v;
	return true;
}

/* Numbers to decimal ("0x539/0xffffffff" → "1337/4294967295"), CIDRs masked. */
static char *canon_value(const char *v)
{
	struct cidr c;
	if (strchr(v, '/') && parse_cidr(v, &c) >= 0) {
		struct cidr m;
		char buf[64];
		cidr_mask(&c, &m);
		return strdup(cidr_to_string(&m, buf, sizeof(buf)));
	}
	uint64_t a, b;
	const char *slash = strchr(v, '/');
	if (slash) {
		_cleanup_free_ char *left = strndup(v, (size_t)(slash - v));
		if (left && parse_num(left, &a) && parse_num(slash + 1, &b)) {
			char *out = NULL;
			return asprintf(&out, "%llu/%llu", (unsigned long long)a,
					(unsigned long long)b) < 0
				       ? NULL
				       : out;
		}
	} else if (parse_num(v, &a)) {
		char *out = NULL;
		return asprintf(&out, "%llu", (unsigned long long)a) < 0 ? NULL : out;
	}
	return strdup(v);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One option group: neg, name, values. Returns the group text or NULL to drop it. */
static int canon_group(bool neg, const char *name, struct strv *vals, char **ret)
{
	const char *n = name;

	if (strcmp(n, "-m") == 0 && vals->n == 1 &&
	    (strcmp(vals->v[0], "tcp") == 0 || strcmp(vals->v[0], "udp") == 0)) {
		*ret = NULL;
		return 0;
	}
	if ((strcmp(n, "--nfmask") == 0 || strcmp(n, "--ctmask") == 0) && vals->n == 1 &&
	    strcmp(vals->v[0], "4294967295") == 0) {
		*ret = NULL;
		return 0;
	}
	if (strcmp(n, "--on-ip") == 0 && vals->n == 1 &&
	    (strcmp(vals->v[0], "0.0.0.0") == 0 || strcmp(vals->v[0], "::") == 0)) {
		*ret = NULL;
		return 0;
	}
	if (strcmp(n, "--to-port") == 0)
		n = "--to-ports";
	if (strcmp(n, "--set-mark") == 0 && vals->n == 1 && !strchr(vals->v[0], '/')) {
		char *x = NULL;
		if (asprintf(&x, "%s/4294967295", vals->v[0]) < 0)
			return -ENOMEM;
		free(vals->v[0]);
		vals->v[0] = x;
		n = "--set-xmark";
	}

	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	fprintf(f, "%s%s", neg ? "! " : "", n);
	for (size_t i = 0; i < vals->n; i++)
		fprintf(f, " %s", vals->v[i]);
	bool bad = ferror(f) != 0;
	if (fclose(f) != 0 || bad) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	return 0;
}

int iptables_canon_rule(const char *spec, char **ret)
{
	_cleanup_free_ char *copy = strdup(spec);
	struct strv groups = {0}, vals = {0};
	char *name = NULL;
	bool neg = false, name_neg = false;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	char *save = NULL;
	for (char *tok = strtok_r(copy, " \t\n", &save);; tok = strtok_r(NULL, " \t\n", &save)) {
		bool is_neg = tok && strcmp(tok, "!") == 0;
		bool is_opt = tok && tok[0] == '-' && tok[1] != '\0' &&
			      !(tok[1] >= '0' && tok[1] <= '9');
		if (tok && !is_neg && !is_opt) {
			r = strv_push(&vals, canon_value(tok));
			if (r < 0)
				goto out;
			continue;
		}
		if (name) {
			char *g = NULL;
			r = canon_group(name_neg, name, &vals, &g);
			if (r < 0)
				goto out;
			strv_done(&vals);
			name = NULL;
			if (g) {
				r = strv_push(&groups, g);
				if (r < 0)
					goto out;
			}
		}
		if (!tok)
			break;
		if (is_neg) {
			neg = true;
			continue;
		}
		name = tok;
		name_neg = neg;
		neg = false;
	}

	qsort(groups.v, groups.n, sizeof(*groups.v), cmp_str);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < groups.n; i++)
		fprintf(f, "%s%s", i ? " ; " : "", groups.v[i]);
	bool bad = ferror(f) != 0;
	if (fclose(f) != 0 || bad) {
		free(buf);
		r = -ENOMEM;
		goto out;
	}
	*ret = buf;
	r = 0;
out:
	strv_done(&groups);
	strv_done(&vals);
	return r;
}

/* ---- table views ------------------------------------------------------------ */

struct vrule {
	char *spec; /* as written (save) or rendered (plan) */
	char *canon;
};

struct vchain {
	char *name;
	bool builtin;
	bool ours; /* ISTIO_* */
	struct vrule *rule;
	size_t n;
	size_t cap;
};

struct vtable {
	bool present;
	struct vchain *chain;
	size_t n;
	size_t cap;
};

struct view {
	struct vtable table[_PLAN_TABLE_MAX];
};

static void view_done(struct view *v)
{
	for (int t = 0; t < _PLAN_TABLE_MAX; t++) {
		struct vtable *tb = &v->table[t];
		for (size_t c = 0; c < tb->n; c++) {
			for (size_t i = 0; i < tb->chain[c].n; i++) {
				free(tb->chain[c].rule[i].spec);
				free(tb->chain[c].rule[i].canon);
			}
			free(tb->chain[c].rule);
			free(tb->chain[c].name);
		}
		free(tb->chain);
	}
	memset(v, 0, sizeof(*v));
}

static bool is_builtin_name(const char *n)
{
	static const char *const b[] = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"};
	for (size_t i = 0; i < ELEMENTSOF(b); i++)
		if (strcmp(n, b[i]) == 0)
			return true;
	return false;
}

static bool is_ours_name(const char *n)
{
	return strncmp(n, IPTABLES_CHAIN_PREFIX, strlen(IPTABLES_CHAIN_PREFIX)) == 0;
}

static int table_from_name(const char *n)
{
	for (int t = 0; t < _PLAN_TABLE_MAX; t++)
		if (strcmp(n, plan_table_iptables_name(t)) == 0)
			return t;
	return -1;
}

static const struct vchain *chain_find(const struct vtable *tb, const char *name)
{
	for (size_t i = 0; tb && i < tb->n; i++)
		if (strcmp(tb->chain[i].name, name) == 0)
			return &tb->chain[i];
	return NULL;
}

static struct vchain *chain_get(struct vtable *tb, const char *name, bool create)
{
	for (size_t i = 0; i < tb->n; i++)
		if (strcmp(tb->chain[i].name, name) == 0)
			return &tb->chain[i];
	if (!create)
		return NULL;
	if (tb->n == tb->cap) {
		size_t nc = tb->cap ? tb->cap * 2 : 8;
		struct vchain *nv = reallocarray(tb->chain, nc, sizeof(*nv));
		if (!nv)
			return NULL;
		tb->chain = nv;
		tb->cap = nc;
	}
	struct vchain *c = &tb->chain[tb->n];
	memset(c, 0, sizeof(*c));
	c->name = strdup(name);
	if (!c->name)
		return NULL;
	c->builtin = is_builtin_name(name);
	c->ours = is_ours_name(name);
	tb->n++;
	return c;
}

/* Inserts at index pos (clamped to the end); takes spec. */
static int chain_insert(struct vchain *c, size_t pos, char *spec)
{
	if (!spec)
		return -ENOMEM;
	char *canon = NULL;
	int r = iptables_canon_rule(spec, &canon);
	if (r < 0) {
		free(spec);
		return r;
	}
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 16;
		struct vrule *nv = reallocarray(c->rule, nc, sizeof(*nv));
		if (!nv) {
			free(spec);
			free(canon);
			return -ENOMEM;
		}
		c->rule = nv;
		c->cap = nc;
	}
	if (pos > c->n)
		pos = c->n;
	memmove(&c->rule[pos + 1], &c->rule[pos], (c->n - pos) * sizeof(*c->rule));
	c->rule[pos] = (struct vrule){.spec = spec, .canon = canon};
	c->n++;
	return 0;
}

/* The nat/mangle/raw part of one family's iptables-save output. */
static int view_from_save(const char *save, struct view *ret, struct error *err)
{
	struct view v = {0};
	_cleanup_free_ char *copy = strdup(save);
	struct vtable *tb = NULL;
	int r = 0;
	unsigned int lineno = 0;

	if (!copy)
		return -ENOMEM;
	char *sp = NULL;
	for (char *line = strtok_r(copy, "\n", &sp); line; line = strtok_r(NULL, "\n", &sp)) {
		lineno++;
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (line[0] == '*') {
			int t = table_from_name(line + 1);
			tb = t >= 0 ? &v.table[t] : NULL;
			if (tb)
				tb->present = true;
			continue;
		}
		if (!tb || strcmp(line, "COMMIT") == 0)
			continue;
		if (line[0] == ':') {
			char *end = strchr(line, ' ');
			if (end)
				*end = '\0';
			if (!chain_get(tb, line + 1, true)) {
				r = -ENOMEM;
				goto fail;
			}
			continue;
		}
		if (strncmp(line, "-A ", 3) != 0) {
			r = error_set(err, ERR_IPTABLES, -EBADMSG,
				      "iptables-save line %u not understood: \"%.200s\"", lineno,
				      line);
			goto fail;
		}
		char *name = line + 3;
		char *spec = strchr(name, ' ');
		if (spec)
			*spec++ = '\0';
		struct vchain *c = chain_get(tb, name, true);
		if (!c) {
			r = -ENOMEM;
			goto fail;
		}
		r = chain_insert(c, SIZE_MAX, strdup(spec ? spec : ""));
		if (r < 0)
			goto fail;
	}
	*ret = v;
	return 0;
fail:
	view_done(&v);
	return r;
}

static int view_from_plan(const struct redirect_plan *plan, enum plan_family fam, struct view *ret)
{
	struct view v = {0};
	const struct plan_rules *rs = &plan->fam[fam];
	int r;

	for (size_t i = 0; i < rs->n; i++) {
		const struct plan_rule *pr = &rs->rule[i];
		struct vtable *tb = &v.table[pr->table];
		tb->present = true;
		struct vchain *c = chain_get(tb, plan_chain_iptables_name(pr->chain), true);
		if (!c) {
			r = -ENOMEM;
			goto fail;
		}
		if (pr->verdict.kind == PV_JUMP &&
		    !chain_get(tb, plan_chain_iptables_name(pr->verdict.chain), true)) {
			r = -ENOMEM;
			goto fail;
		}
		/* chain_get may have moved c */
		c = chain_get(tb, plan_chain_iptables_name(pr->chain), false);
		char *spec = NULL;
		r = iptables_render_rule(pr, &spec);
		if (r < 0)
			goto fail;
		r = chain_insert(c, pr->insert_pos > 0 ? pr->insert_pos - 1 : SIZE_MAX, spec);
		if (r < 0)
			goto fail;
	}
	*ret = v;
	return 0;
fail:
	view_done(&v);
	return r;
}

static bool canon_has(const char *canon, const char *group)
{
	size_t n = strlen(group);
	for (const char *p = canon; p; p = strstr(p, " ; ")) {
		if (p != canon)
			p += 3;
		if (strncmp(p, group, n) == 0 && (p[n] == '\0' || strncmp(p + n, " ; ", 3) == 0))
			return true;
		if (p == canon)
			p = strstr(p, " ; ");
		if (!p)
			break;
	}
	return false;
}

static bool jumps_to_ours(const char *canon)
{
	const char *p = strstr(canon, "-j " IPTABLES_CHAIN_PREFIX);
	return p && (p == canon || p[-1] == ' ');
}

/*
 * A rule in a built-in chain that our plan puts there: a jump to ISTIO_*, a
 * rule equal to one planned for that chain, or, with no plan (removal), one of
 * the fixed shapes the program writes: "-i|-o IF -j RETURN" and the TPROXY
 * mark rules of mangle (marks 1337 and 1338).
 */
static bool builtin_rule_ours(enum plan_table t, const struct vrule *rule,
			      const struct vchain *planned)
{
	if (jumps_to_ours(rule->canon))
		return true;
	if (planned)
		for (size_t i = 0; i < planned->n; i++)
			if (strcmp(planned->rule[i].canon, rule->canon) == 0)
				return true;
	/* "-i X ; -j RETURN" or "-j RETURN ; -o X": exactly two groups */
	const char *sep = strstr(rule->canon, " ; ");
	if (sep && !strstr(sep + 3, " ; ") && canon_has(rule->canon, "-j RETURN") &&
	    (strncmp(rule->canon, "-i ", 3) == 0 || strncmp(sep + 3, "-o ", 3) == 0))
		return true;
	if (t == PLAN_TABLE_MANGLE) {
		char m1[32], m2[48];
		(void)snprintf(m1, sizeof(m1), "--mark %u", TPROXY_MARK);
		(void)snprintf(m2, sizeof(m2), "--set-xmark %u/4294967295", TPROXY_OUTBOUND_MARK);
		if (canon_has(rule->canon, m1) || canon_has(rule->canon, m2))
			return true;
	}
	return false;
}

/* ---- comparison --------------------------------------------------------------- */

struct diff {
	const char *family;
	unsigned int n;
	struct error *err;
	char first[ERROR_MSG_MAX];
};

_printf_(2, 3) static void diff_add(struct diff *d, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (d->n == 0)
		(void)snprintf(d->first, sizeof(d->first), "%s", line);
	d->n++;
	error_add_details(d->err, "%s\n", line);
}

static int cmp_rule_canon(const void *a, const void *b)
{
	const struct vrule *x = *(const struct vrule *const *)a,
			   *y = *(const struct vrule *const *)b;
	return strcmp(x->canon, y->canon);
}

static int compare_chain(struct diff *d, const char *table, const struct vchain *want,
			 const struct vchain *have, enum plan_table t)
{
	/* The rules of have that count: all of an ISTIO chain, ours in a built-in. */
	size_t n_have = have ? have->n : 0, n_want = want ? want->n : 0, n_sel = 0;
	_cleanup_free_ const struct vrule **sel = calloc(n_have + 1, sizeof(*sel));
	_cleanup_free_ const struct vrule **wnt = calloc(n_want + 1, sizeof(*wnt));
	if (!sel || !wnt)
		return -ENOMEM;
	for (size_t i = 0; i < n_have; i++)
		if (!have->builtin || builtin_rule_ours(t, &have->rule[i], want))
			sel[n_sel++] = &have->rule[i];
	for (size_t i = 0; i < n_want; i++)
		wnt[i] = &want->rule[i];

	bool same = n_sel == n_want;
	for (size_t i = 0; same && i < n_want; i++)
		same = strcmp(sel[i]->canon, wnt[i]->canon) == 0;
	if (same)
		return 0;

	const char *name = want ? want->name : have->name;
	unsigned int before = d->n;
	qsort(sel, n_sel, sizeof(*sel), cmp_rule_canon);
	qsort(wnt, n_want, sizeof(*wnt), cmp_rule_canon);
	size_t i = 0, k = 0;
	while (i < n_want || k < n_sel) {
		int c = i == n_want ? 1 : k == n_sel ? -1 : strcmp(wnt[i]->canon, sel[k]->canon);
		if (c == 0) {
			i++;
			k++;
		} else if (c < 0) {
			diff_add(d, "missing rule in %s%s %s: -A %s %s", d->family, table, name,
				 name, wnt[i++]->spec);
		} else {
			diff_add(d, "extra rule in %s%s %s: -A %s %s", d->family, table, name, name,
				 sel[k++]->spec);
		}
	}
	if (d->n == before)
		diff_add(d, "rules of %s%s %s are out of order", d->family, table, name);
	return 0;
}

static int compare_views(const struct view *want, struct view *have, enum plan_family fam,
			 struct error *err)
{
	struct diff d = {.family = fam == PLAN_V6 ? "ip6tables " : "", .err = err};

	for (int t = 0; t < _PLAN_TABLE_MAX; t++) {
		const struct vtable *wt = &want->table[t];
		struct vtable *ht = &have->table[t];
		const char *tname = plan_table_iptables_name(t);
		for (size_t c = 0; c < wt->n; c++) {
			const struct vchain *wc = &wt->chain[c];
			struct vchain *hc = chain_get(ht, wc->name, false);
			if (!hc && !wc->builtin) {
				diff_add(&d, "missing chain %s%s %s", d.family, tname, wc->name);
				continue;
			}
			if (compare_chain(&d, tname, wc, hc, t) < 0)
				return -ENOMEM;
		}
		for (size_t c = 0; c < ht->n; c++) {
			struct vchain *hc = &ht->chain[c];
			if (chain_find(wt, hc->name))
				continue;
			if (hc->ours)
				diff_add(&d, "extra chain %s%s %s", d.family, tname, hc->name);
			else if (hc->builtin && compare_chain(&d, tname, NULL, hc, t) < 0)
				return -ENOMEM;
		}
	}
	if (d.n == 0)
		return 0;
	return error_set(err, ERR_CHECK, -EBADMSG, "%s%s", d.first,
			 d.n > 1 ? " (and more differences, see details)" : "");
}

int iptables_compare_save(const char *save, const struct redirect_plan *plan, enum plan_family fam,
			  struct error *err)
{
	struct view want = {0}, have = {0};
	int r = view_from_plan(plan, fam, &want);
	if (r < 0)
		return error_set(err, ERR_INTERNAL, r, "building the expected rules");
	r = view_from_save(save, &have, err);
	if (r >= 0)
		r = compare_views(&want, &have, fam, err);
	view_done(&want);
	view_done(&have);
	return r;
}

/* ---- documents ------------------------------------------------------------ */

/* Lines that remove our state from one table of have; "" when none. */
static int cleanup_lines(enum plan_table t, const struct vtable *ht, const struct view *want,
			 FILE *f)
{
	const struct vtable *wt = want ? &want->table[t] : NULL;
	for (size_t c = 0; c < ht->n; c++) {
		const struct vchain *hc = &ht->chain[c];
		if (hc->ours)
			continue;
		const struct vchain *wc = chain_find(wt, hc->name);
		for (size_t i = 0; i < hc->n; i++)
			if (builtin_rule_ours(t, &hc->rule[i], wc) ||
			    (!hc->builtin && jumps_to_ours(hc->rule[i].canon)))
				fprintf(f, "-D %s %s\n", hc->name, hc->rule[i].spec);
	}
	for (size_t c = 0; c < ht->n; c++)
		if (ht->chain[c].ours)
			fprintf(f, "-F %s\n", ht->chain[c].name);
	for (size_t c = 0; c < ht->n; c++)
		if (ht->chain[c].ours)
			fprintf(f, "-X %s\n", ht->chain[c].name);
	return ferror(f) ? -ENOMEM : 0;
}

static int mem_finish(FILE *f, char **buf, char **ret)
{
	bool bad = ferror(f) != 0;
	if (fclose(f) != 0 || bad || !*buf) {
		free(*buf);
		*buf = NULL;
		return -ENOMEM;
	}
	*ret = *buf;
	*buf = NULL;
	return 0;
}

int iptables_build_document(const char *save, const struct redirect_plan *plan,
			    enum plan_family fam, char **ret_doc, struct error *err)
{
	struct view have = {0}, want = {0};
	_cleanup_free_ char *rendered = NULL;
	char *cl[_PLAN_TABLE_MAX] = {0};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = NULL;
	int r;

	r = view_from_save(save, &have, err);
	if (r < 0)
		return r;
	if (plan) {
		r = view_from_plan(plan, fam, &want);
		if (r >= 0)
			r = iptables_render(plan, fam, &rendered, err);
		if (r < 0)
			goto out;
	}
	for (int t = 0; t < _PLAN_TABLE_MAX; t++) {
		size_t l = 0;
		FILE *tf = open_memstream(&cl[t], &l);
		if (!tf) {
			r = -ENOMEM;
			goto out;
		}
		r = cleanup_lines(t, &have.table[t], plan ? &want : NULL, tf);
		if (fclose(tf) != 0 && r == 0)
			r = -ENOMEM;
		if (r < 0)
			goto out;
	}

	f = open_memstream(&buf, &len);
	if (!f) {
		r = -ENOMEM;
		goto out;
	}
	bool done[_PLAN_TABLE_MAX] = {0};
	for (const char *p = rendered ? rendered : ""; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);
		fwrite(p, 1, n, f);
		if (p[0] == '*') {
			char name[32];
			size_t k = 0;
			const char *q = p + 1;
			while (*q == ' ')
				q++;
			while (k + 1 < sizeof(name) && q[k] && q[k] != '\n')
				k++;
			memcpy(name, q, k);
			name[k] = '\0';
			int t = table_from_name(name);
			if (t >= 0 && cl[t]) {
				fputs(cl[t], f);
				done[t] = true;
			}
		}
		p += n;
	}
	for (int t = 0; t < _PLAN_TABLE_MAX; t++)
		if (!done[t] && cl[t] && cl[t][0])
			fprintf(f, "* %s\n%sCOMMIT\n", plan_table_iptables_name(t), cl[t]);
	r = mem_finish(f, &buf, ret_doc);
out:
	for (int t = 0; t < _PLAN_TABLE_MAX; t++)
		free(cl[t]);
	view_done(&have);
	view_done(&want);
	if (r < 0 && err && err->kind == ERR_NONE)
		r = error_set(err, ERR_INTERNAL, r, "building the iptables-restore document");
	return r;
}

/* ---- running ----------------------------------------------------------------- */

static const char *fam_tool(enum plan_family fam)
{
	return fam == PLAN_V6 ? "ip6tables" : "iptables";
}

static int run_save(const struct iptables_ctx *ctx, enum plan_family fam, char **ret,
		    struct error *err)
{
	_cleanup_free_ char *bin = NULL;
	int r = iptables_binary(fam, ctx->variant[fam], true, &bin);
	if (r < 0)
		return error_set(err, ERR_IPTABLES, r,
				 "no %s-%s-save in /usr/sbin, /sbin, /usr/bin", fam_tool(fam),
				 iptables_variant_to_string(ctx->variant[fam]));
	const char *argv[] = {bin, NULL};
	struct sandbox_cmd cmd = {
		.netns_fd = ctx->netns_fd,
		.lock_path = ctx->lock_path,
		.argv = argv,
		.stdout_cap = IPTABLES_SAVE_MAX,
	};
	struct sandbox_result res = {0};
	r = iptables_sandbox_exec(&cmd, &res, err);
	if (r < 0)
		return r;
	if (res.status != 0) {
		r = error_set(err, ERR_IPTABLES, -EIO, "%s exited with status %d", bin, res.status);
		error_add_details(err, "%s", res.err);
		sandbox_result_done(&res);
		return r;
	}
	log_debug("%s: %zu bytes", bin, res.out_len);
	*ret = TAKE_PTR(res.out);
	sandbox_result_done(&res);
	return 0;
}

static int run_restore(const struct iptables_ctx *ctx, enum plan_family fam, const char *doc,
		       struct error *err)
{
	_cleanup_free_ char *bin = NULL;
	int r = iptables_binary(fam, ctx->variant[fam], false, &bin);
	if (r < 0)
		return error_set(err, ERR_IPTABLES, r,
				 "no %s-%s-restore in /usr/sbin, /sbin, /usr/bin", fam_tool(fam),
				 iptables_variant_to_string(ctx->variant[fam]));
	/* legacy takes the (per-netns) xtables lock; --wait bounds the wait for it */
	const char *argv[] = {bin, "--noflush",
			      ctx->variant[fam] == IPTABLES_VARIANT_LEGACY ? LEGACY_WAIT_ARG : NULL,
			      NULL};
	struct sandbox_cmd cmd = {
		.netns_fd = ctx->netns_fd,
		.lock_path = ctx->lock_path,
		.argv = argv,
		.input = doc,
		.input_len = strlen(doc),
	};
	struct sandbox_result res = {0};
	r = iptables_sandbox_exec(&cmd, &res, err);
	if (r < 0)
		return r;
	if (res.status != 0) {
		r = error_set(err, ERR_IPTABLES, -EIO, "%s --noflush exited with status %d: %.300s",
			      bin, res.status, res.err);
		error_add_details(err, "%s\n--- document ---\n%s", res.err, doc);
		sandbox_result_done(&res);
		return r;
	}
	log_debug("%s --noflush: applied %zu bytes", bin, strlen(doc));
	sandbox_result_done(&res);
	return 0;
}

/* Converges one family: 1 unchanged, 0 changed. plan NULL: removal. */
static int converge(const struct iptables_ctx *ctx, const struct redirect_plan *plan,
		    enum plan_family fam, bool tolerate_save_failure, struct error *err)
{
	_cleanup_free_ char *save = NULL, *doc = NULL;
	struct error e = {0};
	int r = run_save(ctx, fam, &save, &e);
	if (r < 0) {
		if (tolerate_save_failure) {
			log_debug("%s-save failed, nothing of ours assumed: %s", fam_tool(fam),
				  e.msg);
			return 1;
		}
		if (err)
			*err = e;
		return r;
	}
	if (plan && iptables_compare_save(save, plan, fam, NULL) == 0) {
		log_debug("%s: rules unchanged", fam_tool(fam));
		return 1;
	}
	r = iptables_build_document(save, plan, fam, &doc, err);
	if (r < 0)
		return r;
	if (doc[0] == '\0')
		return 1;
	r = run_restore(ctx, fam, doc, err);
	return r < 0 ? r : 0;
}

int iptables_backend_apply(const struct iptables_ctx *ctx, const struct redirect_plan *plan,
			   struct error *err)
{
	for (int f = 0; f < _PLAN_FAMILY_MAX; f++)
		if (plan->fam[f].n > IPTABLES_PLAN_RULES_MAX)
			return error_set(
				err, ERR_CONFIG, -E2BIG,
				"the plan holds %zu IPv%c rules; the iptables backend takes at most "
				"%d (removing more outlasts the %d ms restore timeout); nothing was "
				"programmed: use fewer excludeInterfaces / reroute interfaces or the "
				"nftables backend",
				plan->fam[f].n, f == PLAN_V4 ? '4' : '6', IPTABLES_PLAN_RULES_MAX,
				IPTABLES_EXEC_TIMEOUT_MS);
	int r4 = converge(ctx, plan, PLAN_V4, false, err);
	if (r4 < 0)
		return r4;
	int r6 = plan->ipv6 ? converge(ctx, plan, PLAN_V6, false, err)
			    : converge(ctx, NULL, PLAN_V6, true, err);
	if (r6 < 0)
		return r6;
	return r4 == 1 && r6 == 1 ? 1 : 0;
}

int iptables_backend_remove(const struct iptables_ctx *ctx, struct error *err)
{
	for (int f = 0; f < _PLAN_FAMILY_MAX; f++) {
		int r = converge(ctx, NULL, f, f == PLAN_V6, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int iptables_backend_check(const struct iptables_ctx *ctx, const struct redirect_plan *plan,
			   struct error *err)
{
	for (int f = 0; f < _PLAN_FAMILY_MAX; f++) {
		_cleanup_free_ char *save = NULL;
		struct error e = {0};
		int r = run_save(ctx, f, &save, &e);
		if (r < 0) {
			if (f == PLAN_V6 && !plan->ipv6)
				continue;
			if (err)
				*err = e;
			return r;
		}
		r = iptables_compare_save(save, plan, f, err);
		if (r < 0)
			return r;
	}
	return 0;
}
