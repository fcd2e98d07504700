/*
 * coord.c - a coordinator of a run: takes tasks from the run's queue, runs each as an
 * agent process, and records its result.
 *
 * One event loop (epoll) watches the agents' pidfds, the master's pidfd, a signalfd
 * and an eventfd from the feeder thread, and the nearest task deadline is its
 * timeout. The feeder thread sleeps in mst_recv on the run's queue (with its own bus
 * handle) while the loop has free slots, so the lease of a task is held by this
 * process from the moment it is taken: if the coordinator dies, the bus gives its
 * tasks back at once.
 *
 * An agent (exec mode) is posix_spawn'ed in a process group of its own, with the
 * payload on stdin (an unlinked file) and stdout and stderr in files of the run's
 * directory: an agent never blocks on a pipe nobody reads, and when the coordinator
 * dies, the master, which adopts its agents (it is their subreaper), still finds
 * their output. The agent's pid and task are registered under run.R.proc.PID.
 */
#define _GNU_SOURCE
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define OUT_MAX (128 << 10) /* output kept in a result */
#define ERR_MAX (4 << 10)   /* stderr kept (its end) */
#define FEED_MAX 64	    /* tasks taken per mst_recv */

extern char **environ;

struct agent {
	pid_t pid;
	int pidfd;
	struct run_task task;
	size_t idx;
	uint64_t msg_id;
	int attempt;
	int64_t start_ns, start_ms, deadline_ns;
	int timed_out;
};

struct feeder {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int want, stop, efd;
	mst_msg *q;
	size_t qn, qcap;
	const char *dir;
	char queue[MST_NAME_MAX + 1];
	int err;
};

struct coord {
	mst_bus *bus;
	const char *dir, *run;
	char queue[MST_NAME_MAX + 1];
	char **cmd;
	int64_t timeout_ms;
	int retries;
	struct agent *a;
	int slots, running;
	int ep;
	struct feeder f;
	char rundir[PATH_MAX];
};

int run_dir(char *buf, size_t size, const char *bus_dir, const char *run)
{
	int n = snprintf(buf, size, "%s/runs/%s", bus_dir, run);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int run_out_path(char *buf, size_t size, const char *rundir, size_t idx, int attempt,
		 const char *what)
{
	int n = snprintf(buf, size, "%s/%zu.%d.%s", rundir, idx, attempt, what);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Reads up to max bytes of path: its start, or with tail its end. */
char *run_read_file(const char *path, size_t max, int tail, size_t *len, int *truncated)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;
	ssize_t r;
	size_t got = 0, want;
	off_t off = 0;

	*len = 0;
	*truncated = 0;
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	want = (size_t)st.st_size;
	if (want > max) {
		*truncated = 1;
		if (tail)
			off = st.st_size - (off_t)max;
		want = max;
	}
	buf = malloc(want + 1);
	while (buf && got < want && (r = pread(fd, buf + got, want - got, off + (off_t)got)) > 0)
		got += (size_t)r;
	close(fd);
	if (buf) {
		buf[got] = 0;
		*len = got;
	}
	return buf;
}

int run_proc_register(mst_bus *bus, const char *run, pid_t pid, const char *role, json_t *extra)
{
	char key[MST_NAME_MAX + 1];
	json_t *o = extra ? extra : json_object();
	char *s;
	int rc;

	if ((rc = run_name(key, sizeof key, run, "proc.%d", (int)pid)) < 0) {
		json_decref(o);
		return rc;
	}
	json_object_set_new(o, "pid", json_integer(pid));
	json_object_set_new(o, "role", json_string(role));
	json_object_set_new(o, "run", json_string(run));
	json_object_set_new(o, "start_ms", json_integer(run_wall_ms()));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		return -ENOMEM;
	rc = mst_kv_set(bus, key, s, strlen(s), NULL);
	free(s);
	return rc;
}

void run_proc_unregister(mst_bus *bus, const char *run, pid_t pid)
{
	char key[MST_NAME_MAX + 1];

	if (run_name(key, sizeof key, run, "proc.%d", (int)pid) == 0)
		mst_kv_del(bus, key);
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* --- the feeder thread -------------------------------------------------------------- */

static void *feeder_main(void *arg)
{
	struct feeder *f = arg;
	/* a bounded wait, so that a stop is seen within 100 ms */
	mst_recv_opts ro = {.wait_ms = 100};
	mst_msg msgs[FEED_MAX];
	mst_bus *bus;
	size_t got, i;
	uint64_t one = 1;
	int want, rc;

	if ((rc = mst_bus_open(&bus, f->dir, NULL)) < 0) {
		f->err = rc;
		if (write(f->efd, &one, sizeof one) < 0)
			return NULL;
		return NULL;
	}
	for (;;) {
		pthread_mutex_lock(&f->mu);
		while (!f->stop && f->want == 0)
			pthread_cond_wait(&f->cv, &f->mu);
		want = f->want;
		pthread_mutex_unlock(&f->mu);
		if (f->stop)
			break;
		rc = mst_recv(bus, f->queue, &ro, msgs, want < FEED_MAX ? (size_t)want : FEED_MAX,
			      &got);
		if (rc == MST_ETIMEOUT)
			continue;
		if (rc < 0) {
			f->err = rc;
			break;
		}
		pthread_mutex_lock(&f->mu);
		if (f->qn + got > f->qcap) {
			size_t cap = (f->qn + got) * 2;
			mst_msg *q = realloc(f->q, cap * sizeof *q);

			if (!q) {
				pthread_mutex_unlock(&f->mu);
				for (i = 0; i < got; i++)
					mst_msg_free(&msgs[i]);
				f->err = -ENOMEM;
				break;
			}
			f->q = q;
			f->qcap = cap;
		}
		memcpy(f->q + f->qn, msgs, got * sizeof *msgs);
		f->qn += got;
		f->want -= (int)got;
		pthread_mutex_unlock(&f->mu);
		if (write(f->efd, &one, sizeof one) < 0)
			break;
	}
	mst_bus_close(bus);
	if (f->err && write(f->efd, &one, sizeof one) < 0)
		return NULL;
	return NULL;
}

static void feeder_want(struct feeder *f, int n)
{
	pthread_mutex_lock(&f->mu);
	f->want += n;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

/* --- agents ------------------------------------------------------------------------- */

/* argv of the agent: the command with every "{}" in its arguments replaced by the
 * payload (as one argument: never through a shell). */
static char **agent_argv(char **cmd, const struct run_task *t)
{
	size_t n = 0, i;
	char **argv;

	while (cmd[n])
		n++;
	argv = calloc(n + 1, sizeof *argv);
	if (!argv)
		return NULL;
	for (i = 0; i < n; i++) {
		const char *s = cmd[i], *p;
		size_t len = 0, k = 0;
		char *out;

		for (p = s; (p = strstr(p, "{}")); p += 2)
			k++;
		if (i == 0 || !k) {
			argv[i] = strdup(s);
		} else {
			len = strlen(s) + k * t->len;
			out = argv[i] = malloc(len + 1);
			while (out && *s) {
				if (s[0] == '{' && s[1] == '}') {
					memcpy(out, t->payload, t->len);
					out += t->len;
					s += 2;
				} else {
					*out++ = *s++;
				}
			}
			if (out)
				*out = 0;
		}
		if (!argv[i]) {
			while (i)
				free(argv[--i]);
			free(argv);
			return NULL;
		}
	}
	return argv;
}

static void free_argv(char **argv)
{
	size_t i;

	for (i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/* The environment of an agent: ours, with MUSTER_* describing its task. */
static char **agent_env(const struct coord *c, const struct agent *a)
{
	size_t n = 0, i, j = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 8, sizeof *env);
	if (!env)
		return NULL;
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], "MUSTER_TASK", 11) && strncmp(environ[i], "MUSTER_RUN=", 11) &&
		    strncmp(environ[i], "MUSTER_ATTEMPT=", 15) && strncmp(environ[i], "MUSTER_BUS=", 11))
			env[j++] = strdup(environ[i]);
	if (asprintf(&env[j++], "MUSTER_TASK_ID=%s", a->task.id) < 0 ||
	    asprintf(&env[j++], "MUSTER_TASK_INDEX=%zu", a->idx) < 0 ||
	    asprintf(&env[j++], "MUSTER_ATTEMPT=%d", a->attempt) < 0 ||
	    asprintf(&env[j++], "MUSTER_RUN=%s", c->run) < 0 ||
	    asprintf(&env[j++], "MUSTER_BUS=%s", c->dir) < 0) {
		free_argv(env);
		return NULL;
	}
	for (i = 0; i < j; i++)
		if (!env[i]) {
			free_argv(env);
			return NULL;
		}
	return env;
}

/* Records the result of task a (finished or never started) and settles its message. */
static void finish_task(struct coord *c, struct agent *a, const char *status, int exit_code,
			int sig, const char *reason, int may_retry)
{
	char path[PATH_MAX], why[128];
	struct run_result r = {0};
	char *out = NULL, *err = NULL;
	int trunc = 0, etrunc = 0, retries;
	int64_t now = run_wall_ms();
	int rc;

	retries = a->task.retries >= 0 ? a->task.retries : c->retries;
	if (may_retry && strcmp(status, "ok") && a->attempt <= retries) {
		/* another attempt, after a backoff: 100 ms, doubling, at most 10 s */
		int64_t delay = 100LL << (a->attempt - 1 < 7 ? a->attempt - 1 : 7);

		mst_nack(c->bus, a->msg_id, delay > 10000 ? 10000 : delay);
		goto cleanup;
	}
	r.idx = a->idx;
	r.id = a->task.id;
	r.status = status;
	r.exit_code = exit_code < 0 ? -1 : exit_code;
	r.signal = sig;
	r.reason = reason;
	r.attempts = a->attempt;
	r.agent = a->pid;
	r.coordinator = getpid();
	r.start_ms = a->start_ms ? a->start_ms : now;
	r.duration_us = a->start_ns ? (mst_now_ns() - a->start_ns) / 1000 : 0;
	if (a->pid > 0 && run_out_path(path, sizeof path, c->rundir, a->idx, a->attempt, "out") == 0)
		out = run_read_file(path, OUT_MAX, 0, &r.output_len, &trunc);
	if (a->pid > 0 && run_out_path(path, sizeof path, c->rundir, a->idx, a->attempt, "err") == 0)
		err = run_read_file(path, ERR_MAX, 1, &r.err_len, &etrunc);
	r.output = out;
	r.output_truncated = trunc;
	r.err = err;
	rc = run_result_record(c->bus, c->run, &r);
	if (rc < 0 && rc != MST_ECONFLICT) {
		snprintf(why, sizeof why, "%s", mst_strerror(rc));
		fprintf(stderr, "muster: coordinator %d: recording the result of task %s: %s\n",
			(int)getpid(), a->task.id, why);
		mst_nack(c->bus, a->msg_id, 1000); /* someone records it later */
		goto cleanup;
	}
	mst_ack(c->bus, a->msg_id);
cleanup:
	free(out);
	free(err);
	if (a->pid > 0) {
		if (run_out_path(path, sizeof path, c->rundir, a->idx, a->attempt, "out") == 0)
			unlink(path);
		if (run_out_path(path, sizeof path, c->rundir, a->idx, a->attempt, "err") == 0)
			unlink(path);
		run_proc_unregister(c->bus, c->run, a->pid);
	}
}

static void free_slot(struct coord *c, struct agent *a)
{
	if (a->pidfd >= 0) {
		epoll_ctl(c->ep, EPOLL_CTL_DEL, a->pidfd, NULL);
		close(a->pidfd);
	}
	run_task_clear(&a->task);
	memset(a, 0, sizeof *a);
	a->pidfd = -1;
	c->running--;
	feeder_want(&c->f, 1);
}

/* Opens path for the agent: its stdin (the payload, unlinked at once) or an output. */
static int open_io(const char *path, int input, const void *data, size_t len)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t off = 0;
	ssize_t w;

	if (fd < 0)
		return -errno;
	if (input) {
		while (off < len && (w = write(fd, (const char *)data + off, len - off)) > 0)
			off += (size_t)w;
		unlink(path);
		if (off < len || lseek(fd, 0, SEEK_SET) < 0) {
			close(fd);
			return -EIO;
		}
	}
	return fd;
}

static void start_task(struct coord *c, mst_msg *m)
{
	struct agent *a = NULL;
	char path[PATH_MAX], reason[PATH_MAX + 64];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, def;
	char **argv = NULL, **env = NULL;
	int fds[3] = {-1, -1, -1}, i, rc;
	struct epoll_event ev;
	int64_t timeout;

	for (i = 0; i < c->slots; i++)
		if (!c->a[i].pid && !c->a[i].task.id) {
			a = &c->a[i];
			break;
		}
	if (!a) { /* cannot happen: the feeder takes no more than the free slots */
		mst_nack(c->bus, m->id, 0);
		return;
	}
	c->running++;
	a->msg_id = m->id;
	a->attempt = (int)m->attempt;
	if (run_task_decode(m->data, m->len, &a->task, &a->idx) < 0) {
		fprintf(stderr, "muster: coordinator %d: message %016llx is not a task; dropped\n",
			(int)getpid(), (unsigned long long)m->id);
		mst_ack(c->bus, m->id);
		free_slot(c, a);
		return;
	}
	/* done already (its recorder died before it acknowledged): make sure the
	 * master heard of it, and drop it */
	rc = run_result_republish(c->bus, c->run, a->idx);
	if (rc == 0) {
		mst_ack(c->bus, m->id);
		free_slot(c, a);
		return;
	}
	argv = agent_argv(c->cmd, &a->task);
	a->start_ns = mst_now_ns();
	a->start_ms = run_wall_ms();
	env = argv ? agent_env(c, a) : NULL;
	if (!env) {
		finish_task(c, a, "failed", -1, 0, "out of memory", 1);
		goto out;
	}
	if ((rc = run_out_path(path, sizeof path, c->rundir, a->idx, a->attempt, "in")) < 0 ||
	    (fds[0] = rc = open_io(path, 1, a->task.payload, a->task.len)) < 0 ||
	    (rc = run_out_path(path, sizeof path, c->rundir, a->idx, a->attempt, "out")) < 0 ||
	    (fds[1] = rc = open_io(path, 0, NULL, 0)) < 0 ||
	    (rc = run_out_path(path, sizeof path, c->rundir, a->idx, a->attempt, "err")) < 0 ||
	    (fds[2] = rc = open_io(path, 0, NULL, 0)) < 0) {
		snprintf(reason, sizeof reason, "cannot make the agent's files in %s: %s", c->rundir,
			 strerror(-rc));
		finish_task(c, a, "failed", -1, 0, reason, 1);
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	for (i = 0; i < 3; i++)
		posix_spawn_file_actions_adddup2(&fa, fds[i], i);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGHUP);
	sigaddset(&def, SIGCHLD);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
					      POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawnp(&a->pid, argv[0], &fa, &at, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (rc) {
		a->pid = 0;
		snprintf(reason, sizeof reason, "cannot run %s: %s", argv[0], strerror(rc));
		/* no retry: it would fail the same way */
		finish_task(c, a, "failed", -1, 0, reason, 0);
		free_slot(c, a);
		goto out;
	}
	a->pidfd = pidfd_open_(a->pid);
	if (a->pidfd < 0) { /* no pidfd (old kernel): cannot watch it; wait for it now */
		int st;

		waitpid(a->pid, &st, 0);
		kill(-a->pid, SIGKILL);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			finish_task(c, a, "ok", 0, 0, NULL, 0);
		else
			finish_task(c, a, "failed", WIFEXITED(st) ? WEXITSTATUS(st) : -1,
				    WIFSIGNALED(st) ? WTERMSIG(st) : 0, "agent failed", 1);
		free_slot(c, a);
		goto out;
	}
	ev.events = EPOLLIN;
	ev.data.u64 = (uint64_t)(a - c->a) + 16;
	epoll_ctl(c->ep, EPOLL_CTL_ADD, a->pidfd, &ev);
	timeout = a->task.timeout_ms > 0 ? a->task.timeout_ms : c->timeout_ms;
	a->deadline_ns = timeout > 0 ? a->start_ns + timeout * 1000000 : 0;
	{
		json_t *o = json_object();

		json_object_set_new(o, "coordinator", json_integer(getpid()));
		json_object_set_new(o, "n", json_integer((json_int_t)a->idx));
		json_object_set_new(o, "id", json_string(a->task.id));
		json_object_set_new(o, "attempt", json_integer(a->attempt));
		run_proc_register(c->bus, c->run, a->pid, "worker", o);
	}
out:
	for (i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free_argv(argv);
	free_argv(env);
	if (!a->pid && a->task.id)
		free_slot(c, a);
}

static void agent_exited(struct coord *c, struct agent *a)
{
	char reason[128];
	int st = 0;

	if (waitpid(a->pid, &st, WNOHANG) <= 0)
		return;
	kill(-a->pid, SIGKILL); /* what it left behind in its group */
	if (a->timed_out) {
		int64_t t = a->task.timeout_ms > 0 ? a->task.timeout_ms : c->timeout_ms;

		snprintf(reason, sizeof reason, "timed out after %.3g s", (double)t / 1000);
		finish_task(c, a, "timeout", -1, SIGKILL, reason, 1);
	} else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		finish_task(c, a, "ok", 0, 0, NULL, 0);
	} else if (WIFEXITED(st)) {
		snprintf(reason, sizeof reason, "exit code %d", WEXITSTATUS(st));
		finish_task(c, a, "failed", WEXITSTATUS(st), 0, reason, 1);
	} else {
		snprintf(reason, sizeof reason, "killed by signal %d (%s)", WTERMSIG(st),
			 strsignal(WTERMSIG(st)));
		finish_task(c, a, "failed", -1, WTERMSIG(st), reason, 1);
	}
	free_slot(c, a);
}

/* --- the coordinator ---------------------------------------------------------------- */

/* Reads the run's description (run.R.meta): command, defaults, master pid. */
static int read_meta(struct coord *c, pid_t *master)
{
	char key[MST_NAME_MAX + 1];
	json_t *o, *cmd, *v;
	json_error_t je;
	mst_kv kv;
	size_t i, n;
	int rc;

	if ((rc = run_name(key, sizeof key, c->run, "meta")) < 0 ||
	    (rc = mst_kv_get(c->bus, key, &kv)) < 0)
		return rc;
	o = json_loadb(kv.value, kv.len, 0, &je);
	mst_kv_free(&kv);
	cmd = o ? json_object_get(o, "cmd") : NULL;
	if (!json_is_array(cmd) || !(n = json_array_size(cmd))) {
		json_decref(o);
		return MST_EINVAL;
	}
	c->cmd = calloc(n + 1, sizeof *c->cmd);
	for (i = 0; c->cmd && i < n; i++)
		c->cmd[i] = strdup(json_string_value(json_array_get(cmd, i)) ?: "");
	c->timeout_ms = json_integer_value(json_object_get(o, "timeout_ms"));
	v = json_object_get(o, "retries");
	c->retries = json_is_integer(v) ? (int)json_integer_value(v) : 0;
	*master = (pid_t)json_integer_value(json_object_get(o, "master"));
	json_decref(o);
	return c->cmd ? 0 : -ENOMEM;
}

int run_coordinator(const char *bus_dir, const char *run, int slots)
{
	struct coord c = {.dir = bus_dir, .run = run, .slots = slots, .ep = -1};
	struct epoll_event evs[64], ev;
	pthread_t th;
	sigset_t sigs;
	pid_t master = 0;
	int sfd = -1, mfd = -1, stopping = 0, i, n, rc, status = 0;

	if (slots < 1 || (rc = mst_bus_open(&c.bus, bus_dir, NULL)) < 0) {
		fprintf(stderr, "muster: coordinator: cannot open the bus %s\n", bus_dir);
		return 111;
	}
	if ((rc = read_meta(&c, &master)) < 0 || run_name(c.queue, sizeof c.queue, run, "tasks") ||
	    run_dir(c.rundir, sizeof c.rundir, bus_dir, run) < 0) {
		fprintf(stderr, "muster: coordinator: run %s: %s\n", run, mst_strerror(rc));
		mst_bus_close(c.bus);
		return 111;
	}
	c.a = calloc((size_t)slots, sizeof *c.a);
	for (i = 0; c.a && i < slots; i++)
		c.a[i].pidfd = -1;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	c.ep = epoll_create1(EPOLL_CLOEXEC);
	c.f.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	mfd = master > 0 ? pidfd_open_(master) : -1;
	if (!c.a || sfd < 0 || c.ep < 0 || c.f.efd < 0) {
		fprintf(stderr, "muster: coordinator: %s\n", strerror(errno));
		return 111;
	}
	if (master > 0 && mfd < 0)
		stopping = 1; /* the master is gone already */
	ev.events = EPOLLIN;
	ev.data.u64 = 1;
	epoll_ctl(c.ep, EPOLL_CTL_ADD, sfd, &ev);
	ev.data.u64 = 2;
	epoll_ctl(c.ep, EPOLL_CTL_ADD, c.f.efd, &ev);
	if (mfd >= 0) {
		ev.data.u64 = 3;
		epoll_ctl(c.ep, EPOLL_CTL_ADD, mfd, &ev);
	}
	{
		json_t *o = json_object();

		json_object_set_new(o, "slots", json_integer(slots));
		json_object_set_new(o, "master", json_integer(master));
		run_proc_register(c.bus, run, getpid(), "coordinator", o);
	}
	pthread_mutex_init(&c.f.mu, NULL);
	pthread_cond_init(&c.f.cv, NULL);
	c.f.dir = bus_dir;
	memcpy(c.f.queue, c.queue, sizeof c.queue);
	c.f.want = stopping ? 0 : slots;
	if ((rc = pthread_create(&th, NULL, feeder_main, &c.f))) {
		fprintf(stderr, "muster: coordinator: %s\n", strerror(rc));
		return 111;
	}

	while (!stopping || c.running > 0) {
		int64_t now = mst_now_ns(), next = INT64_MAX;
		int timeout;

		for (i = 0; i < slots; i++) {
			struct agent *a = &c.a[i];

			if (!a->pid || !a->deadline_ns || a->timed_out)
				continue;
			if (a->deadline_ns <= now) {
				a->timed_out = 1;
				kill(-a->pid, SIGKILL);
			} else if (a->deadline_ns < next) {
				next = a->deadline_ns;
			}
		}
		timeout = next == INT64_MAX ? -1 : (int)((next - now) / 1000000 + 1);
		n = epoll_wait(c.ep, evs, 64, timeout);
		for (i = 0; i < n; i++) {
			uint64_t d = evs[i].data.u64, v;

			if (d == 1) {
				struct signalfd_siginfo si;

				while (read(sfd, &si, sizeof si) == sizeof si) {
					stopping = 1;
					if (si.ssi_signo == SIGINT || si.ssi_signo == SIGHUP) {
						int j;

						status = 128 + (int)si.ssi_signo;
						for (j = 0; j < slots; j++)
							if (c.a[j].pid)
								kill(-c.a[j].pid, SIGKILL);
					}
				}
			} else if (d == 2) {
				mst_msg *q;
				size_t qn, j;

				if (read(c.f.efd, &v, sizeof v) < 0 && errno != EAGAIN)
					stopping = 1;
				pthread_mutex_lock(&c.f.mu);
				q = c.f.q;
				qn = c.f.qn;
				c.f.q = NULL;
				c.f.qn = c.f.qcap = 0;
				pthread_mutex_unlock(&c.f.mu);
				for (j = 0; j < qn; j++) {
					if (stopping)
						mst_nack(c.bus, q[j].id, 0);
					else
						start_task(&c, &q[j]);
					mst_msg_free(&q[j]);
				}
				free(q);
				if (c.f.err) {
					fprintf(stderr, "muster: coordinator %d: taking tasks: %s\n",
						(int)getpid(), mst_strerror(c.f.err));
					stopping = 1;
					status = 111;
				}
			} else if (d == 3) {
				stopping = 1; /* the master is gone: finish what runs */
				epoll_ctl(c.ep, EPOLL_CTL_DEL, mfd, NULL);
			} else if (d >= 16 && d - 16 < (uint64_t)slots) {
				agent_exited(&c, &c.a[d - 16]);
			}
		}
		if (stopping) {
			pthread_mutex_lock(&c.f.mu);
			c.f.stop = 1;
			c.f.want = 0;
			pthread_cond_signal(&c.f.cv);
			pthread_mutex_unlock(&c.f.mu);
		}
	}
	pthread_mutex_lock(&c.f.mu);
	c.f.stop = 1;
	pthread_cond_signal(&c.f.cv);
	pthread_mutex_unlock(&c.f.mu);
	pthread_join(th, NULL);
	/* tasks the feeder took after the loop stopped go back */
	for (i = 0; (size_t)i < c.f.qn; i++) {
		mst_nack(c.bus, c.f.q[i].id, 0);
		mst_msg_free(&c.f.q[i]);
	}
	free(c.f.q);
	run_proc_unregister(c.bus, run, getpid());
	mst_bus_close(c.bus);
	free_argv(c.cmd);
	free(c.a);
	close(sfd);
	close(c.ep);
	close(c.f.efd);
	if (mfd >= 0)
		close(mfd);
	return status;
}
