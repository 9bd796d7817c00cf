// SPDX-License-Identifier: Apache-2.0
/* Runs iptables-save/-restore sandboxed (see iptables_backend.h), and finds those binaries. */
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

#include "capture/iptables_backend.h"

#define SANDBOX_PATH "PATH=/usr/sbin:/usr/bin:/sbin:/bin"
#define NSSWITCH_CONF "/etc/nsswitch.conf"

static const char *const bin_dirs[] = {"/usr/sbin", "/sbin", "/usr/bin"};

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

void iptables_sandbox_result_done(struct sandbox_result *r)
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

/* A memfd holding cmd's input, positioned at its start: the child's stdin. */
static int input_memfd(const struct sandbox_cmd *cmd, int *ret_fd, struct error *err)
{
	_cleanup_close_ int fd = memfd_create("istio-cni-input", MFD_CLOEXEC);
	if (fd < 0)
		return error_set(err, ERR_IPTABLES, -errno, "memfd_create: %m");
	for (size_t off = 0; cmd->input && off < cmd->input_len;) {
		ssize_t n = write(fd, cmd->input + off, cmd->input_len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return error_set(err, ERR_IPTABLES, -errno, "writing the document: %m");
		}
		off += (size_t)n;
	}
	if (lseek(fd, 0, SEEK_SET) < 0)
		return error_set(err, ERR_IPTABLES, -errno, "lseek: %m");
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* The parent's ends of the child's stdout, stderr and set-up report pipes. */
struct child_io {
	int out_p[2], err_p[2], rep_p[2];
	struct capture out, errc;
	int report[2]; /* the failed step and its errno, when the child reports one */
	size_t report_len;
	bool rep_eof;
};

static void child_io_done(struct child_io *io)
{
	close_pair(io->out_p);
	close_pair(io->err_p);
	close_pair(io->rep_p);
	free(io->out.buf);
	free(io->errc.buf);
}

static void report_read(struct child_io *io)
{
	ssize_t k = read(io->rep_p[0], (char *)io->report + io->report_len,
			 sizeof(io->report) - io->report_len);
	if (k <= 0)
		io->rep_eof = true;
	else
		io->report_len += (size_t)k;
	if (io->report_len == sizeof(io->report))
		io->rep_eof = true;
}

/*
 * Reads the child's stdout, stderr and report until all three end or the
 * deadline passes (*timed_out). Returns 0 or a negative errno.
 */
static int child_collect(struct child_io *io, int64_t deadline, bool *timed_out)
{
	int r = 0;
	while (r == 0 && (!io->out.eof || !io->errc.eof || !io->rep_eof)) {
		struct pollfd pfd[3] = {
			{.fd = io->out.eof ? -1 : io->out_p[0], .events = POLLIN},
			{.fd = io->errc.eof ? -1 : io->err_p[0], .events = POLLIN},
			{.fd = io->rep_eof ? -1 : io->rep_p[0], .events = POLLIN},
		};
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			*timed_out = true;
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
			r = capture_read(io->out_p[0], &io->out);
		if (r == 0 && pfd[1].revents)
			r = capture_read(io->err_p[0], &io->errc);
		if (r == 0 && pfd[2].revents)
			report_read(io);
	}
	return r;
}

/* Waits for pid; r is the error so far, kept when set. */
static int child_reap(pid_t pid, int r, const char *prog, int *wstatus, struct error *err)
{
	while (waitpid(pid, wstatus, 0) < 0) {
		if (errno != EINTR) {
			if (r == 0)
				r = error_set(err, ERR_IPTABLES, -errno, "waiting for %s: %m",
					      prog);
			break;
		}
	}
	return r;
}

/* The exited child's result; io's buffers move into *ret. */
static int child_result(const struct sandbox_cmd *cmd, struct child_io *io, int wstatus,
			struct sandbox_result *ret)
{
	struct sandbox_result res = {0};
	res.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
	res.out = TAKE_PTR(io->out.buf);
	res.out_len = io->out.len;
	if (cmd->stdout_cap > 0 && !res.out)
		res.out = strdup("");
	res.err = io->errc.buf ? TAKE_PTR(io->errc.buf) : strdup("");
	if ((cmd->stdout_cap > 0 && !res.out) || !res.err) {
		iptables_sandbox_result_done(&res);
		return -ENOMEM;
	}
	*ret = res;
	return 0;
}

int iptables_sandbox_exec(const struct sandbox_cmd *cmd, struct sandbox_result *ret,
			  struct error *err)
{
	struct child_io io = {
		.out_p = {-1, -1},
		.err_p = {-1, -1},
		.rep_p = {-1, -1},
		.out = {.cap = cmd->stdout_cap},
		.errc = {.cap = IPTABLES_STDERR_MAX},
	};
	_cleanup_close_ int in_fd = -1;
	_cleanup_free_ char *lock_env = NULL;
	const char *prog = cmd->argv && cmd->argv[0] ? cmd->argv[0] : "";
	int r;

	if (prog[0] != '/')
		return error_set(err, ERR_INTERNAL, -EINVAL, "not an absolute path: \"%s\"", prog);
	if (cmd->lock_path && asprintf(&lock_env, "XTABLES_LOCKFILE=%s", cmd->lock_path) < 0)
		return -ENOMEM;
	static char path_env[] = SANDBOX_PATH;
	char *const envp[] = {path_env, lock_env, NULL};

	r = input_memfd(cmd, &in_fd, err);
	if (r < 0)
		return r;
	if (pipe2(io.out_p, O_CLOEXEC) < 0 || pipe2(io.err_p, O_CLOEXEC) < 0 ||
	    pipe2(io.rep_p, O_CLOEXEC) < 0) {
		r = error_set(err, ERR_IPTABLES, -errno, "pipe2: %m");
		goto out;
	}

	pid_t pid = fork();
	if (pid < 0) {
		r = error_set(err, ERR_IPTABLES, -errno, "fork: %m");
		goto out;
	}
	if (pid == 0)
		child_run(cmd, envp, in_fd, io.out_p[1], io.err_p[1], io.rep_p[1]);

	(void)close(io.out_p[1]);
	(void)close(io.err_p[1]);
	(void)close(io.rep_p[1]);
	io.out_p[1] = io.err_p[1] = io.rep_p[1] = -1;

	unsigned int timeout = cmd->timeout_ms ? cmd->timeout_ms : IPTABLES_EXEC_TIMEOUT_MS;
	bool timed_out = false;
	r = child_collect(&io, now_ms() + timeout, &timed_out);
	if (timed_out || r < 0)
		(void)kill(pid, SIGKILL);
	int wstatus = 0;
	r = child_reap(pid, r, prog, &wstatus, err);
	if (r < 0) {
		if (err && err->kind == ERR_NONE)
			r = error_set(err, ERR_IPTABLES, r, "running %s: %s", prog, strerror(-r));
	} else if (timed_out) {
		r = error_set(err, ERR_IPTABLES, -ETIMEDOUT, "%s killed after %u ms", prog,
			      timeout);
	} else if (io.report_len == sizeof(io.report)) {
		r = error_set(err, ERR_IPTABLES, io.report[1] ? -io.report[1] : -EIO,
			      "sandbox for %s: %s: %s", prog, step_name(io.report[0]),
			      strerror(io.report[1]));
	} else if (io.out.overflow) {
		r = error_set(err, ERR_IPTABLES, -EFBIG, "%s printed more than %zu bytes", prog,
			      cmd->stdout_cap);
	} else {
		r = child_result(cmd, &io, wstatus, ret);
	}
out:
	child_io_done(&io);
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
