/*
 * coord.c - a coordinator of a run: takes tasks from the run's queue, runs them on its
 * agents, and records their results.
 *
 * One event loop (epoll) watches a signalfd (SIGCHLD: the agents are its children,
 * reaped by waitpid and found by pid; and the control signals), in pool mode the
 * agents' stdout pipes, the master's pidfd and an eventfd from the feeder
 * thread; the nearest deadline (a task's timeout, a heartbeat check, the next start
 * allowed by --rate, a respawn) is its timeout. The feeder thread sleeps in mst_recv
 * on the run's queue (with its own bus handle) for as many tasks as the loop can
 * start, so the lease of a task is held by this process from the moment it is taken:
 * if the coordinator dies, the bus gives its tasks back at once.
 *
 * Modes:
 *  - exec: an agent per task, posix_spawn'ed in a process group of its own, with the
 *    payload on stdin (an unlinked file) and stdout and stderr in files of the run's
 *    directory: an agent never blocks on a pipe nobody reads, and when the coordinator
 *    dies, the master (their subreaper) adopts its agents and still finds their
 *    output.
 *  - pool: long-lived agents, one request line per task on stdin and one reply line
 *    on stdout (pool.c, docs/pool-protocol.md). An agent that exits, writes garbage or
 *    stays silent is killed and replaced; its task counts a failed attempt.
 *
 * Signals: SIGTERM drains (no new tasks; the running ones finish), SIGINT and SIGHUP
 * stop now (agents are killed, their tasks go back to the queue unrecorded), SIGUSR1
 * pauses and SIGUSR2 resumes (the whole coordinator, or the agent whose pid comes
 * with the signal: sigqueue). When the master dies, the coordinator carries on and
 * follows the master that takes the run over (run.R.meta names it); if none does
 * within ORPHAN_GRACE_MS it drains and leaves.
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
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define OUT_MAX (128 << 10) /* output kept in a result */
#define ERR_MAX (4 << 10)   /* stderr kept (its end) */
#define ORPHAN_GRACE_MS 10000
#define ORPHAN_POLL_MS 20
#define HEIR_DELAY_MS 200 /* for a standby to take a run over before a coordinator's heir */
#define MEM_CHECK_MS 1000
#define EOF_GRACE_MS 1000  /* for a pool agent to exit once it closed its stdout */
#define STOP_GRACE_MS 2000 /* for an idle pool agent to leave at the end of its input */

/* epoll data: kind << 32 | slot */
enum { EV_SIGNAL = 1, EV_FEED, EV_MASTER, EV_OUT, EV_IN };
#define EV(kind, slot) ((uint64_t)(kind) << 32 | (uint32_t)(slot))

extern char **environ;

struct agent {
	pid_t pid;
	uint64_t pstart; /* its start time (run_proc_start) */
	int pnext;	 /* the next slot in its pid's hash chain, or -1 */
	/* its task */
	int busy;
	struct run_task task;
	size_t idx;
	uint64_t msg_id;
	int attempt;
	int64_t start_ns, start_ms, deadline_ns, beat_ns, paused_ns;
	int timed_out, silent;
	int outfd, errfd, hbfd; /* exec with heartbeats: activity is their mtime */
	/* pool */
	int in, out;
	struct run_linebuf lb;
	char *wbuf;
	size_t wlen, woff;
	char *garbage; /* why it was killed */
	int gen, quick_deaths;
	int registered; /* its slot's key is written (deleted when the coordinator leaves) */
	int64_t spawned_ns, respawn_ns, eof_ns;
};

struct coord {
	mst_bus *bus;
	const char *dir, *run;
	char queue[MST_NAME_MAX + 1];
	char **cmd;
	int pool;    /* long-lived agents: pool or bus mode */
	int busmode; /* bus mode: the agents take their tasks from the queue themselves */
	int64_t timeout_ms, heartbeat_ms;
	int retries;
	struct rlimit mem, cpu, nofile;
	int sigs[64], nsigs; /* set back to their default in an agent (find_sigs) */
	pid_t pid;	     /* ours */
	struct agent *a;
	int *phead; /* pid hash: the first slot of each chain, or -1 */
	unsigned pmask;
	int slots, running, cap, cap_max;
	double rate, tokens; /* task starts per second (this coordinator's share) */
	int64_t tokens_ns;
	mst_op *w; /* this turn's writes (flush_writes) */
	size_t nw, wcap;
	int batching;	  /* feature batching: a turn's writes in one commit (off: each its own) */
	mst_msg *pending; /* taken from the queue, not started yet (paused, rate) */
	size_t npending;
	int ep, paused, stopping, interrupted;
	int64_t paused_ns, orphan_ns, mem_ns, stop_ns;
	int heir_tried; /* for the master that died (c->master) */
	pid_t master;
	int mfd;
	struct run_taker f; /* takes tasks from the queue */
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

uint64_t run_proc_start(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long v = 0;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* the command (field 2) may hold spaces and parentheses: count after its end */
	if (!(p = strrchr(buf, ')')) || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
		return 0; /* a zombie is gone, whoever has to reap it */
	for (field = 2; *p && field < 22; p++)
		if (*p == ' ')
			field++;
	if (sscanf(p, "%llu", &v) != 1)
		return 0;
	return v;
}

uint64_t run_boot_ticks(void)
{
	static long hz;
	struct timespec ts;

	/* /proc shows a start time of nanoseconds since boot / (10^9 / USER_HZ) */
	if (!hz && (hz = sysconf(_SC_CLK_TCK)) <= 0)
		hz = 100;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * (uint64_t)hz +
	       (uint64_t)ts.tv_nsec / (uint64_t)(1000000000 / hz);
}

int run_proc_alive(pid_t pid, uint64_t pstart)
{
	uint64_t s;

	if (pid <= 0 || (kill(pid, 0) < 0 && errno != EPERM))
		return 0;
	s = run_proc_start(pid);
	return s != 0 && (pstart == 0 || s == pstart);
}

int run_proc_key(char *buf, size_t size, const char *run, pid_t pid)
{
	int n = pid > 0 ? snprintf(buf, size, "proc.%s.%d", run, (int)pid)
			: snprintf(buf, size, "proc.%s.", run);

	if (n < 0 || (size_t)n >= size)
		return MST_ENAME;
	return mst_name_check(buf);
}

/* The registration of pid (malloc'ed JSON; NULL: out of memory), started at pstart (0:
 * read from /proc). extra is consumed. */
static char *proc_json(const char *run, pid_t pid, uint64_t pstart, const char *role, json_t *extra)
{
	json_t *o = extra ? extra : json_object();
	char *s;

	json_object_set_new(o, "pid", json_integer(pid));
	json_object_set_new(o, "role", json_string(role));
	json_object_set_new(o, "run", json_string(run));
	json_object_set_new(o, "start_ms", json_integer(run_wall_ms()));
	json_object_set_new(o, "pstart",
			    json_integer((json_int_t)(pstart ? pstart : run_proc_start(pid))));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* Writes the registration of pid under key. */
static int proc_write(mst_bus *bus, const char *key, const char *run, pid_t pid, const char *role,
		      json_t *extra)
{
	char *s = proc_json(run, pid, 0, role, extra);
	int rc;

	if (!s)
		return -ENOMEM;
	rc = mst_kv_set(bus, key, s, strlen(s), NULL);
	free(s);
	return rc;
}

int run_proc_register(mst_bus *bus, const char *run, pid_t pid, const char *role, json_t *extra)
{
	char key[MST_NAME_MAX + 1];
	int rc;

	if ((rc = run_proc_key(key, sizeof key, run, pid)) < 0) {
		json_decref(extra);
		return rc;
	}
	return proc_write(bus, key, run, pid, role, extra);
}

void run_proc_unregister(mst_bus *bus, const char *run, pid_t pid)
{
	char key[MST_NAME_MAX + 1];

	if (run_proc_key(key, sizeof key, run, pid) == 0)
		mst_kv_del(bus, key);
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* The agents are found by pid when SIGCHLD says some ended: a hash of chains through
 * the slots. (Not a pidfd per agent: every descriptor the coordinator holds is
 * duplicated into each child it spawns and closed again at its exec.) */
static unsigned pid_hash(const struct coord *c, pid_t pid)
{
	return ((uint32_t)pid * 2654435761u) & c->pmask;
}

static void pid_add(struct coord *c, int i)
{
	unsigned h = pid_hash(c, c->a[i].pid);

	c->a[i].pnext = c->phead[h];
	c->phead[h] = i;
}

static void pid_del(struct coord *c, int i)
{
	int *p = &c->phead[pid_hash(c, c->a[i].pid)];

	while (*p >= 0 && *p != i)
		p = &c->a[*p].pnext;
	if (*p == i)
		*p = c->a[i].pnext;
	c->a[i].pnext = -1;
}

static int pid_slot(const struct coord *c, pid_t pid)
{
	int i = c->phead[pid_hash(c, pid)];

	while (i >= 0 && c->a[i].pid != pid)
		i = c->a[i].pnext;
	return i;
}

/* The number of tasks the loop can take now: free agents, within the concurrency
 * cap and the rate, less those taken already. */
static void feeder_update(struct coord *c)
{
	int free_ = 0, i, want;

	for (i = 0; i < c->slots; i++)
		if (!c->a[i].busy && (c->pool ? c->a[i].pid > 0 : 1))
			free_++;
	want = free_;
	if (c->cap - c->running < want)
		want = c->cap - c->running;
	if (c->rate > 0 && (int)c->tokens < want)
		want = (int)c->tokens;
	if (c->paused || c->stopping || c->busmode)
		want = 0;
	if (!c->batching && want > 1) /* feature batching off: a task per receive */
		want = 1;
	want -= (int)c->npending;
	run_taker_want(&c->f, want > 0 ? want : 0);
}

/* --- agents ------------------------------------------------------------------------- */

char **run_agent_argv(char *const cmd[], const char *payload, size_t plen)
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

		for (p = s; payload && (p = strstr(p, "{}")); p += 2)
			k++;
		if (i == 0 || !k) {
			argv[i] = strdup(s);
		} else {
			len = strlen(s) + k * plen;
			out = argv[i] = malloc(len + 1);
			while (out && *s) {
				if (s[0] == '{' && s[1] == '}') {
					memcpy(out, payload, plen);
					out += plen;
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

void run_free_argv(char **argv)
{
	size_t i;

	for (i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/* The environment of an agent: ours, with MUSTER_* describing its task (exec) or
 * its place (pool). hb: the heartbeat file, or NULL. */
static char **agent_env(const struct coord *c, const struct agent *a, int slot, const char *hb)
{
	size_t n = 0, i, j = 0;
	char **env;
	int bad = 0;

	while (environ[n])
		n++;
	env = calloc(n + 12, sizeof *env);
	if (!env)
		return NULL;
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], "MUSTER_TASK", 11) &&
		    strncmp(environ[i], "MUSTER_RUN=", 11) &&
		    strncmp(environ[i], "MUSTER_ATTEMPT=", 15) &&
		    strncmp(environ[i], "MUSTER_BUS=", 11) &&
		    strncmp(environ[i], "MUSTER_MODE=", 12) &&
		    strncmp(environ[i], "MUSTER_AGENT=", 13) &&
		    strncmp(environ[i], "MUSTER_QUEUE=", 13) &&
		    strncmp(environ[i], "MUSTER_REPLIES=", 15) &&
		    strncmp(environ[i], "MUSTER_HEARTBEAT=", 17))
			if (!(env[j++] = strdup(environ[i])))
				bad = 1;
	if (c->busmode) {
		bad |= asprintf(&env[j++], "MUSTER_MODE=bus") < 0;
		bad |= asprintf(&env[j++], "MUSTER_AGENT=%d", slot) < 0;
		bad |= asprintf(&env[j++], "MUSTER_QUEUE=%s", c->queue) < 0;
		bad |= asprintf(&env[j++], "MUSTER_REPLIES=run.%s.replies", c->run) < 0;
	} else if (c->pool) {
		bad |= asprintf(&env[j++], "MUSTER_MODE=pool") < 0;
		bad |= asprintf(&env[j++], "MUSTER_AGENT=%d", slot) < 0;
	} else {
		bad |= asprintf(&env[j++], "MUSTER_MODE=exec") < 0;
		bad |= asprintf(&env[j++], "MUSTER_TASK_ID=%s", a->task.id) < 0;
		bad |= asprintf(&env[j++], "MUSTER_TASK_INDEX=%zu", a->idx) < 0;
		bad |= asprintf(&env[j++], "MUSTER_ATTEMPT=%d", a->attempt) < 0;
		if (hb)
			bad |= asprintf(&env[j++], "MUSTER_HEARTBEAT=%s", hb) < 0;
	}
	bad |= asprintf(&env[j++], "MUSTER_RUN=%s", c->run) < 0;
	bad |= asprintf(&env[j++], "MUSTER_BUS=%s", c->dir) < 0;
	for (i = 0; i < j; i++)
		bad |= !env[i];
	if (bad) {
		for (i = 0; i < j; i++)
			if (env[i])
				free(env[i]);
		free(env);
		return NULL;
	}
	return env;
}

static int spawn_(struct coord *c, char **argv, char **env, const int fds[3], pid_t *pid);

#if defined(__x86_64__) || defined(__aarch64__)
/* The kernel's own sigaction: the C library's refuses the signals it keeps for itself
 * (32 and 33), which a process may have inherited ignored (glibc's posix_spawn leaves
 * them so in its children), and an agent must not start with any signal ignored. */
struct ksigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	unsigned long mask;
};

int run_sig_default(int sig)
{
	struct ksigaction old;

	return syscall(SYS_rt_sigaction, sig, NULL, &old, sizeof old.mask) != 0 ||
	       old.handler == SIG_DFL;
}

void run_sig_set_default(int sig)
{
	struct ksigaction dfl = {.handler = SIG_DFL};

	syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
}
#else
int run_sig_default(int sig)
{
	struct sigaction old;

	return sigaction(sig, NULL, &old) != 0 || old.sa_handler == SIG_DFL;
}

void run_sig_set_default(int sig)
{
	signal(sig, SIG_DFL);
}
#endif

/* Starts argv in a process group of its own with fds[0..2] as its stdin, stdout and
 * stderr, signals unblocked and at their defaults, and the run's rlimits: 0 or an
 * errno. *pstart gets its start time for its registration: the tick the clock showed
 * before and after, unless a tick passed meanwhile (then /proc tells). */
static int spawn(struct coord *c, char **argv, char **env, const int fds[3], pid_t *pid,
		 uint64_t *pstart)
{
	uint64_t before = run_boot_ticks(), after;
	int rc = spawn_(c, argv, env, fds, pid);

	if (rc)
		return rc;
	after = run_boot_ticks();
	*pstart = before == after ? before : run_proc_start(*pid);
	return 0;
}

/* A vfork child, which shares our memory until its exec (as posix_spawn's does), puts
 * itself in a process group of its own, takes fds as 0..2, sets back to their default
 * the signals this process handles or ignores (c->sigs: a handler of ours must not run
 * in a child that shares our memory, and an agent starts with every signal at its
 * default), unblocks every signal, sets the run's rlimits and execs; a failed exec is
 * reported through err. posix_spawn would do the same with 64 sigaction calls in each
 * child and six getrlimit calls here, and cannot set rlimits. (fds are all above 2:
 * run_coordinator keeps 0..2 open.) */
static int spawn_(struct coord *c, char **argv, char **env, const int fds[3], pid_t *pid)
{
	volatile int err = 0;
	sigset_t none;
	pid_t p;

	sigemptyset(&none);
	p = vfork();
	if (p < 0)
		return errno;
	if (p == 0) {
		int i;

		setpgid(0, 0);
		for (i = 0; i < 3; i++)
			if (dup2(fds[i], i) < 0)
				goto fail;
		for (i = 0; i < c->nsigs; i++)
			run_sig_set_default(c->sigs[i]);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if ((c->mem.rlim_cur && setrlimit(RLIMIT_AS, &c->mem) < 0) ||
		    (c->cpu.rlim_cur && setrlimit(RLIMIT_CPU, &c->cpu) < 0) ||
		    (c->nofile.rlim_cur && setrlimit(RLIMIT_NOFILE, &c->nofile) < 0))
			goto fail;
		execvpe(argv[0], argv, env);
	fail:
		err = errno;
		_exit(127);
	}
	if (err) {
		waitpid(p, NULL, 0);
		return err;
	}
	*pid = p;
	return 0;
}

/* The signals whose disposition is not the default here (a handler, or ignored): an
 * agent's child sets them back. */
static void find_sigs(struct coord *c)
{
	int sig;

	c->nsigs = 0;
	for (sig = 1; sig < NSIG && c->nsigs < (int)(sizeof c->sigs / sizeof c->sigs[0]); sig++)
		if (sig != SIGKILL && sig != SIGSTOP && !run_sig_default(sig))
			c->sigs[c->nsigs++] = sig;
}

/* A resource that runs short: the coordinator starts fewer agents at once, and says
 * so. */
static void degrade(struct coord *c, const char *what)
{
	int cap = c->running > 1 ? c->running - 1 : 1;

	if (cap >= c->cap)
		return; /* (a cap of 0, a share of nothing, stays) */
	fprintf(stderr, "muster: coordinator %d: %s: running at most %d agents at once (was %d)\n",
		(int)getpid(), what, cap, c->cap);
	c->cap = cap;
}

/* The writes of a turn of the loop go to the bus together, in one commit at its end
 * (flush_writes): the registrations of the agents it started, and for each task that
 * ended its result (created once), the result's entry for the master (if created) and
 * the ack of its message (in any case: a result recorded by someone else is recorded).
 * A coordinator that dies leaves each of its tasks recorded and acknowledged, or
 * neither. k ops are added at the end; NULL when out of memory. Every op but an ack
 * owns its name and data, except an entry, whose data is its result's. */
static mst_op *add_writes(struct coord *c, size_t k)
{
	mst_op *p;

	if (c->nw + k > c->wcap) {
		size_t cap = c->wcap ? c->wcap * 2 : 64;

		while (cap < c->nw + k)
			cap *= 2;
		if (!(p = realloc(c->w, cap * sizeof *p)))
			return NULL;
		c->w = p;
		c->wcap = cap;
	}
	p = c->w + c->nw;
	memset(p, 0, k * sizeof *p);
	c->nw += k;
	return p;
}

static void flush_writes(struct coord *c)
{
	size_t i;
	int rc;

	if (!c->nw)
		return;
	rc = mst_write(c->bus, c->w, c->nw);
	if (rc < 0 && rc != MST_ECONFLICT && rc != MST_ENOTFOUND && rc != MST_ENOTHELD &&
	    rc != MST_ESKIPPED) {
		/* nothing written: the tasks go back, for someone to record them later */
		fprintf(stderr, "muster: coordinator %d: recording %zu writes: %s\n", (int)getpid(),
			c->nw, mst_strerror(rc));
		for (i = 0; i < c->nw; i++)
			if (c->w[i].kind == MST_OP_ACK)
				mst_nack(c->bus, c->w[i].id, 1000);
	}
	for (i = 0; i < c->nw; i++) {
		if (c->w[i].kind == MST_OP_ACK)
			continue;
		free((char *)c->w[i].name);
		if (c->w[i].kind != MST_OP_PUBLISH)
			free((char *)c->w[i].data);
	}
	c->nw = 0;
}

/* Records the result of the task of a (finished or never started) and settles its
 * message; or, when it failed and may be retried, gives it back for another attempt
 * after a backoff. */
static void finish_task(struct coord *c, struct agent *a, const char *status, int exit_code,
			int sig, const char *reason, int may_retry, const char *out, size_t outlen,
			int out_trunc, const char *err, size_t errlen)
{
	char kept[PATH_MAX + 16];
	struct run_result r = {0};
	mst_op *w;
	int retries, rc;

	retries = a->task.retries >= 0 ? a->task.retries : c->retries;
	if (c->interrupted) {
		/* stopped now: the task goes back for a later --resume, unrecorded */
		mst_nack(c->bus, a->msg_id, 0);
		return;
	}
	if (may_retry && strcmp(status, "ok") && retries > 0) {
		/* another attempt, after a backoff: 100 ms, doubling, at most 10 s */
		int failures = run_count_failure(c->bus, c->run, a->idx);

		if (failures < 0)
			failures = a->attempt; /* cannot count: deliveries do */
		if (failures <= retries) {
			int64_t delay = 100LL << (failures - 1 < 7 ? failures - 1 : 7);

			mst_nack(c->bus, a->msg_id, delay > 10000 ? 10000 : delay);
			return;
		}
	}
	r.idx = a->idx;
	r.id = a->task.id;
	r.status = status;
	r.exit_code = exit_code < 0 ? -1 : exit_code;
	r.signal = sig;
	r.reason = reason;
	r.attempts = a->attempt;
	r.agent = a->pid;
	r.coordinator = c->pid;
	r.start_ms = a->start_ms ? a->start_ms : run_wall_ms();
	r.duration_us = a->start_ns ? (mst_now_ns() - a->start_ns) / 1000 : 0;
	r.output = out;
	r.output_len = outlen;
	r.output_truncated = out_trunc;
	if (out_trunc) {
		/* the whole output stays in the run's directory, named in the result */
		char path[PATH_MAX];

		if (run_out_path(path, sizeof path, c->rundir, a->idx, a->attempt, "out") == 0 &&
		    snprintf(kept, sizeof kept, "%s/%zu.out", c->rundir, a->idx) <
			    (int)sizeof kept &&
		    rename(path, kept) == 0)
			r.output_file = kept;
	}
	r.err = err;
	r.err_len = errlen;
	if ((w = add_writes(c, 3)) && (rc = run_result_ops(c->run, &r, w)) == 0) {
		w[1].if_ok += (size_t)(w - c->w);
		w[2].kind = MST_OP_ACK;
		w[2].id = a->msg_id;
		if (!c->batching)
			flush_writes(c);
		return;
	}
	if (w)
		c->nw -= 3;
	rc = w ? rc : -ENOMEM;
	fprintf(stderr, "muster: coordinator %d: recording the result of task %s: %s\n",
		(int)getpid(), a->task.id, mst_strerror(rc));
	mst_nack(c->bus, a->msg_id, 1000); /* someone records it later */
}

/* The task of a is over: its slot takes another. */
static void clear_task(struct coord *c, struct agent *a)
{
	run_task_clear(&a->task);
	a->busy = 0;
	a->idx = 0;
	a->msg_id = 0;
	a->attempt = 0;
	a->start_ns = a->start_ms = a->deadline_ns = a->beat_ns = a->paused_ns = 0;
	a->timed_out = a->silent = 0;
	c->running--;
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

/* The agent's stdin: its payload in a memfd (no file in the run's directory, which
 * every coordinator of the run writes in), or else in a file unlinked at once. */
static int payload_fd(struct coord *c, struct agent *a, char *path, size_t size)
{
	int fd = memfd_create("muster-payload", MFD_CLOEXEC), rc;
	size_t off = 0;
	ssize_t w;

	if (fd < 0) {
		if ((rc = run_out_path(path, size, c->rundir, a->idx, a->attempt, "in")) < 0)
			return rc;
		return open_io(path, 1, a->task.payload, a->task.len);
	}
	while (off < a->task.len && (w = write(fd, a->task.payload + off, a->task.len - off)) > 0)
		off += (size_t)w;
	if (off < a->task.len || lseek(fd, 0, SEEK_SET) < 0) {
		rc = errno == EMFILE || errno == ENFILE ? -errno : -EIO;
		close(fd);
		return rc;
	}
	return fd;
}

/* The key of slot's worker: proc.RUN.COORDINATOR.SLOT. A slot's key is written over by
 * each agent it starts (one write per agent, no deletion: a registration whose process
 * is gone is stale, and readers check), and deleted when the coordinator leaves. */
static int slot_key(const struct coord *c, int slot, char *buf, size_t size)
{
	int n = snprintf(buf, size, "proc.%s.%d.%d", c->run, (int)c->pid, slot);

	return n < 0 || (size_t)n >= size ? MST_ENAME : mst_name_check(buf);
}

static void register_worker(struct coord *c, struct agent *a, int slot)
{
	char key[MST_NAME_MAX + 1];
	json_t *o = json_object();
	mst_op *w;

	json_object_set_new(o, "coordinator", json_integer(c->pid));
	json_object_set_new(o, "slot", json_integer(slot));
	if (a->busy) {
		json_object_set_new(o, "n", json_integer((json_int_t)a->idx));
		json_object_set_new(o, "id", json_string(a->task.id));
		json_object_set_new(o, "attempt", json_integer(a->attempt));
	}
	if (slot_key(c, slot, key, sizeof key) < 0 || !(w = add_writes(c, 1))) {
		json_decref(o);
		return;
	}
	/* written with the turn's other writes */
	w->kind = MST_OP_KV_SET;
	w->name = strdup(key);
	w->data = proc_json(c->run, a->pid, a->pstart, "worker", o);
	if (!w->name || !w->data) {
		free((char *)w->name);
		free((char *)w->data);
		c->nw--;
		return;
	}
	w->len = strlen(w->data);
	a->registered = 1;
	if (!c->batching)
		flush_writes(c);
}

/* The timeout and heartbeat deadlines of a task starting now. */
static void arm(struct coord *c, struct agent *a)
{
	int64_t timeout = a->task.timeout_ms > 0 ? a->task.timeout_ms : c->timeout_ms;

	a->start_ns = mst_now_ns();
	a->start_ms = run_wall_ms();
	a->beat_ns = a->start_ns;
	a->deadline_ns = timeout > 0 ? a->start_ns + timeout * 1000000 : 0;
}

/* exec: starts the agent of task a (slot i). */
static void exec_start(struct coord *c, struct agent *a, int i)
{
	char path[PATH_MAX], hb[PATH_MAX], reason[PATH_MAX + 64];
	char **argv = NULL, **env = NULL;
	int fds[3] = {-1, -1, -1}, k, rc;

	argv = run_agent_argv(c->cmd, a->task.payload, a->task.len);
	arm(c, a);
	if (c->heartbeat_ms > 0 &&
	    (run_out_path(hb, sizeof hb, c->rundir, a->idx, a->attempt, "hb") < 0 ||
	     (a->hbfd = open_io(hb, 0, NULL, 0)) < 0)) {
		snprintf(reason, sizeof reason, "cannot make the heartbeat file in %s: %s",
			 c->rundir, strerror(errno));
		finish_task(c, a, "failed", -1, 0, reason, 1, NULL, 0, 0, NULL, 0);
		goto fail;
	}
	env = argv ? agent_env(c, a, i, c->heartbeat_ms > 0 ? hb : NULL) : NULL;
	if (!env) {
		finish_task(c, a, "failed", -1, 0, "out of memory", 1, NULL, 0, 0, NULL, 0);
		goto fail;
	}
	if ((fds[0] = rc = payload_fd(c, a, path, sizeof path)) < 0 ||
	    (rc = run_out_path(path, sizeof path, c->rundir, a->idx, a->attempt, "out")) < 0 ||
	    (fds[1] = rc = open_io(path, 0, NULL, 0)) < 0 ||
	    (rc = run_out_path(path, sizeof path, c->rundir, a->idx, a->attempt, "err")) < 0 ||
	    (fds[2] = rc = open_io(path, 0, NULL, 0)) < 0) {
		if (rc == -EMFILE || rc == -ENFILE) {
			/* not the task's fault: it goes back, and fewer agents run */
			degrade(c, "out of file descriptors");
			mst_nack(c->bus, a->msg_id, 100);
			goto fail;
		}
		snprintf(reason, sizeof reason, "cannot make the agent's files in %s: %s",
			 c->rundir, strerror(-rc));
		finish_task(c, a, "failed", -1, 0, reason, 1, NULL, 0, 0, NULL, 0);
		goto fail;
	}
	rc = spawn(c, argv, env, fds, &a->pid, &a->pstart);
	if (rc) {
		a->pid = 0;
		if (rc == EAGAIN || rc == ENOMEM || rc == EMFILE || rc == ENFILE) {
			/* short of processes, memory or fds: not the task's fault */
			degrade(c, rc == EAGAIN	  ? "cannot start more processes"
				   : rc == ENOMEM ? "out of memory"
						  : "out of file descriptors");
			mst_nack(c->bus, a->msg_id, 100);
		} else {
			snprintf(reason, sizeof reason, "cannot run %s: %s", argv[0], strerror(rc));
			/* no retry: it would fail the same way */
			finish_task(c, a, "failed", -1, 0, reason, 0, NULL, 0, 0, NULL, 0);
		}
		goto fail;
	}
	pid_add(c, i);
	if (c->heartbeat_ms > 0) { /* activity: output, or the heartbeat file touched */
		a->outfd = fds[1];
		a->errfd = fds[2];
		fds[1] = fds[2] = -1;
	}
	register_worker(c, a, i);
	goto out;
fail:
	close_fd(&a->hbfd);
	clear_task(c, a);
out:
	for (k = 0; k < 3; k++)
		if (fds[k] >= 0)
			close(fds[k]);
	run_free_argv(argv);
	run_free_argv(env);
}

/* exec: the agent of a ended (reaped: st). */
static void exec_exited(struct coord *c, struct agent *a, int st)
{
	char reason[256], path[PATH_MAX];
	char *out = NULL, *err = NULL;
	size_t outlen = 0, errlen = 0;
	int trunc = 0, etrunc = 0, w;
	static const char *const what[] = {"out", "err", "hb"};

	kill(-a->pid, SIGKILL); /* what it left behind in its group */
	if (run_out_path(path, sizeof path, c->rundir, a->idx, a->attempt, "out") == 0)
		out = run_read_file(path, OUT_MAX, 0, &outlen, &trunc);
	if (run_out_path(path, sizeof path, c->rundir, a->idx, a->attempt, "err") == 0)
		err = run_read_file(path, ERR_MAX, 1, &errlen, &etrunc);
	if (a->timed_out) {
		int64_t t = a->task.timeout_ms > 0 ? a->task.timeout_ms : c->timeout_ms;

		snprintf(reason, sizeof reason, "timed out after %.3g s", (double)t / 1000);
		finish_task(c, a, "timeout", -1, SIGKILL, reason, 1, out, outlen, trunc, err,
			    errlen);
	} else if (a->silent) {
		snprintf(reason, sizeof reason, "no heartbeat for %.3g s",
			 (double)c->heartbeat_ms / 1000);
		finish_task(c, a, "failed", -1, SIGKILL, reason, 1, out, outlen, trunc, err,
			    errlen);
	} else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		finish_task(c, a, "ok", 0, 0, NULL, 0, out, outlen, trunc, err, errlen);
	} else if (WIFEXITED(st)) {
		snprintf(reason, sizeof reason, "exit code %d", WEXITSTATUS(st));
		finish_task(c, a, "failed", WEXITSTATUS(st), 0, reason, 1, out, outlen, trunc, err,
			    errlen);
	} else {
		snprintf(reason, sizeof reason, "killed by signal %d (%s)", WTERMSIG(st),
			 strsignal(WTERMSIG(st)));
		finish_task(c, a, "failed", -1, WTERMSIG(st), reason, 1, out, outlen, trunc, err,
			    errlen);
	}
	free(out);
	free(err);
	for (w = 0; w < (c->heartbeat_ms > 0 ? 3 : 2); w++)
		if (run_out_path(path, sizeof path, c->rundir, a->idx, a->attempt, what[w]) == 0)
			unlink(path);
	close_fd(&a->outfd);
	close_fd(&a->errfd);
	close_fd(&a->hbfd);
	a->pid = 0;
	clear_task(c, a);
}

/* The latest activity of an exec agent (heartbeats): its output or heartbeat file. */
static int64_t exec_activity(const struct agent *a)
{
	const int fds[3] = {a->outfd, a->errfd, a->hbfd};
	int64_t last = 0, now_wall = run_wall_ms() * 1000000, now = mst_now_ns();
	struct stat st;
	int k;

	for (k = 0; k < 3; k++)
		if (fds[k] >= 0 && fstat(fds[k], &st) == 0) {
			int64_t t = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;

			if (t > last)
				last = t;
		}
	/* wall clock to monotonic */
	return last ? now - (now_wall - last) : 0;
}

/* --- pool mode ------------------------------------------------------------------------ */

static void pool_errpath(const struct coord *c, const struct agent *a, int slot, char *buf,
			 size_t size)
{
	if (snprintf(buf, size, "%s/agent.%d.%d.%d.err", c->rundir, (int)getpid(), slot, a->gen) >=
	    (int)size)
		buf[0] = 0;
}

/* pool: starts the long-lived agent of slot i. */
static void pool_spawn(struct coord *c, int i)
{
	struct agent *a = &c->a[i];
	char errpath[PATH_MAX], **argv = NULL, **env = NULL;
	int in[2] = {-1, -1}, out[2] = {-1, -1}, fds[3] = {-1, -1, -1}, rc;
	struct epoll_event ev;

	a->gen++;
	pool_errpath(c, a, i, errpath, sizeof errpath);
	argv = run_agent_argv(c->cmd, NULL, 0);
	env = argv ? agent_env(c, a, i, NULL) : NULL;
	if (!env) {
		rc = ENOMEM;
		goto fail;
	}
	if ((fds[2] = open_io(errpath, 0, NULL, 0)) < 0) {
		rc = -fds[2];
		fds[2] = -1;
		goto fail;
	}
	if (c->busmode) {
		/* it talks to the bus: nothing on stdin, its output kept with its stderr */
		if ((in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
			rc = errno;
			goto fail;
		}
		fds[0] = in[0];
		fds[1] = fds[2];
	} else {
		if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
			rc = errno;
			goto fail;
		}
		fds[0] = in[0];
		fds[1] = out[1];
	}
	if ((rc = spawn(c, argv, env, fds, &a->pid, &a->pstart))) {
		a->pid = 0;
		goto fail;
	}
	pid_add(c, i);
	ev.events = EPOLLIN;
	if (!c->busmode) {
		a->in = in[1];
		a->out = out[0];
		in[1] = out[0] = -1;
		fcntl(a->in, F_SETFL, O_NONBLOCK);
		fcntl(a->out, F_SETFL, O_NONBLOCK);
		ev.data.u64 = EV(EV_OUT, i);
		epoll_ctl(c->ep, EPOLL_CTL_ADD, a->out, &ev);
	}
	a->spawned_ns = mst_now_ns();
	a->respawn_ns = 0;
	register_worker(c, a, i);
	goto out;
fail:
	if (rc == EAGAIN || rc == ENOMEM || rc == EMFILE || rc == ENFILE)
		degrade(c, strerror(rc));
	fprintf(stderr, "muster: coordinator %d: cannot start agent %d (%s): %s\n", (int)getpid(),
		i, c->cmd[0], strerror(rc));
	a->respawn_ns = mst_now_ns() + 1000000000LL; /* try again in a second */
out:
	close_fd(&in[0]);
	close_fd(&in[1]);
	close_fd(&out[0]);
	close_fd(&out[1]);
	close_fd(&fds[2]);
	run_free_argv(argv);
	run_free_argv(env);
}

/* pool: the agent of slot i is (being) killed, or ended; why says why, for its task. */
static void pool_kill(struct coord *c, int i, const char *why)
{
	struct agent *a = &c->a[i];

	if (a->pid > 0)
		kill(-a->pid, SIGKILL);
	if (why && !a->garbage)
		a->garbage = strdup(why);
}

/* Writes what is left of the request of slot i. */
static void pool_write(struct coord *c, int i)
{
	struct agent *a = &c->a[i];
	struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = EV(EV_IN, i)};

	while (a->woff < a->wlen) {
		ssize_t w = write(a->in, a->wbuf + a->woff, a->wlen - a->woff);

		if (w > 0) {
			a->woff += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EAGAIN) {
			if (epoll_ctl(c->ep, EPOLL_CTL_MOD, a->in, &ev) < 0)
				epoll_ctl(c->ep, EPOLL_CTL_ADD, a->in, &ev);
			return;
		}
		pool_kill(c, i, "its stdin is closed");
		break;
	}
	epoll_ctl(c->ep, EPOLL_CTL_DEL, a->in, NULL);
	free(a->wbuf);
	a->wbuf = NULL;
	a->wlen = a->woff = 0;
}

static void pool_start(struct coord *c, struct agent *a, int i)
{
	arm(c, a);
	a->wbuf = run_pool_request(&a->task, a->idx, a->attempt, c->run, &a->wlen);
	a->woff = 0;
	if (!a->wbuf) {
		finish_task(c, a, "failed", -1, 0, "out of memory", 1, NULL, 0, 0, NULL, 0);
		clear_task(c, a);
		return;
	}
	pool_write(c, i);
}

/* pool: a line from the agent of slot i. */
static void pool_line(struct coord *c, int i, const char *line, size_t len)
{
	struct agent *a = &c->a[i];
	struct run_pool_reply r;
	char err[RUN_ERR], why[RUN_ERR + 64];
	int trunc = 0;

	if (run_pool_reply_parse(line, len, &r, err, sizeof err) < 0) {
		snprintf(why, sizeof why, "the agent wrote garbage: %s", err);
		pool_kill(c, i, why);
		return;
	}
	a->beat_ns = mst_now_ns();
	if (r.kind == RUN_POOL_HEARTBEAT) {
		run_pool_reply_clear(&r);
		return;
	}
	if (!a->busy || strcmp(r.id, a->task.id)) {
		snprintf(why, sizeof why, "the agent replied for task '%.64s' while %s%.64s%s",
			 r.id, a->busy ? "running '" : "idle", a->busy ? a->task.id : "",
			 a->busy ? "'" : "");
		run_pool_reply_clear(&r);
		pool_kill(c, i, why);
		return;
	}
	if (r.output_len > OUT_MAX) {
		/* too long for a result: the whole output goes into a file beside it */
		char path[PATH_MAX];
		int fd;

		if (run_out_path(path, sizeof path, c->rundir, a->idx, a->attempt, "out") == 0 &&
		    (fd = open_io(path, 0, NULL, 0)) >= 0) {
			size_t off = 0;
			ssize_t w;

			while (off < r.output_len &&
			       (w = write(fd, r.output + off, r.output_len - off)) > 0)
				off += (size_t)w;
			close(fd);
		}
		trunc = 1;
	}
	if (r.ok)
		finish_task(c, a, "ok", r.exit_code, 0, NULL, 0, r.output,
			    trunc ? OUT_MAX : r.output_len, trunc, NULL, 0);
	else
		finish_task(c, a, "failed", r.exit_code, 0,
			    r.error ? r.error : "the agent said failed", 1, r.output,
			    trunc ? OUT_MAX : r.output_len, trunc, NULL, 0);
	run_pool_reply_clear(&r);
	clear_task(c, a);
}

static void pool_readable(struct coord *c, int i)
{
	struct agent *a = &c->a[i];
	const char *line;
	size_t len;
	ssize_t n;
	int rc;

	do {
		n = run_linebuf_fill(&a->lb, a->out);
		while (a->pid > 0 && !a->garbage &&
		       (rc = run_linebuf_next(&a->lb, &line, &len)) != 0) {
			if (rc < 0) {
				pool_kill(c, i, "the agent wrote a line longer than the limit");
				break;
			}
			pool_line(c, i, line, len);
		}
	} while (n > 0 && !a->garbage);
	if (n == 0 || (n < 0 && n != -EAGAIN)) {
		/* its stdout is closed: it is ending (its exit says how), or else it is
		 * killed in a moment (check_deadlines) */
		epoll_ctl(c->ep, EPOLL_CTL_DEL, a->out, NULL);
		close_fd(&a->out);
		a->eof_ns = mst_now_ns();
	}
}

/* pool: the agent of slot i ended (reaped: st): its task failed, and another agent takes its place
 * (later, if agents die young: 100 ms doubling up to 10 s). */
static void pool_exited(struct coord *c, int i, int st)
{
	struct agent *a = &c->a[i];
	char reason[512], errpath[PATH_MAX], *err;
	size_t errlen = 0;
	int trunc = 0;
	int64_t now = mst_now_ns();

	kill(-a->pid, SIGKILL);
	pool_errpath(c, a, i, errpath, sizeof errpath);
	err = run_read_file(errpath, ERR_MAX, 1, &errlen, &trunc);
	unlink(errpath);
	if (a->busy) {
		if (a->timed_out) {
			int64_t t = a->task.timeout_ms > 0 ? a->task.timeout_ms : c->timeout_ms;

			snprintf(reason, sizeof reason, "timed out after %.3g s", (double)t / 1000);
		} else if (a->silent) {
			snprintf(reason, sizeof reason, "no reply nor heartbeat for %.3g s",
				 (double)c->heartbeat_ms / 1000);
		} else if (a->garbage) {
			snprintf(reason, sizeof reason, "%s", a->garbage);
		} else if (WIFEXITED(st)) {
			snprintf(reason, sizeof reason, "the agent exited with code %d",
				 WEXITSTATUS(st));
		} else {
			snprintf(reason, sizeof reason, "the agent was killed by signal %d (%s)",
				 WTERMSIG(st), strsignal(WTERMSIG(st)));
		}
		finish_task(c, a, a->timed_out ? "timeout" : "failed",
			    WIFEXITED(st) && !a->garbage ? WEXITSTATUS(st) : -1,
			    WIFSIGNALED(st) ? WTERMSIG(st) : 0, reason, 1, NULL, 0, 0, err, errlen);
		clear_task(c, a);
	} else if (!c->stopping && !c->interrupted) {
		fprintf(stderr, "muster: coordinator %d: agent %d (pid %d) ended while idle: %s\n",
			(int)getpid(), i, (int)a->pid,
			a->garbage	? a->garbage
			: WIFEXITED(st) ? "it exited"
					: "killed by a signal");
	}
	free(err);
	if (a->out >= 0)
		epoll_ctl(c->ep, EPOLL_CTL_DEL, a->out, NULL);
	if (a->in >= 0)
		epoll_ctl(c->ep, EPOLL_CTL_DEL, a->in, NULL);
	close_fd(&a->in);
	close_fd(&a->out);
	run_linebuf_free(&a->lb);
	memset(&a->lb, 0, sizeof a->lb);
	free(a->wbuf);
	a->wbuf = NULL;
	a->wlen = a->woff = 0;
	free(a->garbage);
	a->garbage = NULL;
	a->eof_ns = 0;
	a->pid = 0;
	if (now - a->spawned_ns < 1000000000LL)
		a->quick_deaths++;
	else
		a->quick_deaths = 0;
	a->respawn_ns =
		now + (a->quick_deaths
			       ? (100LL << (a->quick_deaths < 7 ? a->quick_deaths : 7)) * 1000000
			       : 0);
	if (a->respawn_ns - now > 10000000000LL)
		a->respawn_ns = now + 10000000000LL;
}

/* --- the coordinator ---------------------------------------------------------------- */

/* SIGCHLD: the agents that ended are reaped and handled. */
static void reap(struct coord *c)
{
	pid_t pid;
	int st, i;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if ((i = pid_slot(c, pid)) < 0)
			continue; /* not an agent: a master it started (start_heir) */
		pid_del(c, i);
		if (c->pool)
			pool_exited(c, i, st);
		else
			exec_exited(c, &c->a[i], st);
	}
}

/* Starts the task of message m on a free agent; 0, or -1 when none is free (m is
 * kept). */
static int start_task(struct coord *c, mst_msg *m)
{
	struct agent *a = NULL;
	int i, rc;

	for (i = 0; i < c->slots; i++)
		if (!c->a[i].busy &&
		    (c->pool ? c->a[i].pid > 0 && !c->a[i].garbage && !c->a[i].eof_ns
			     : !c->a[i].pid)) {
			a = &c->a[i];
			break;
		}
	if (!a)
		return -1;
	a->busy = 1;
	c->running++;
	a->msg_id = m->id;
	a->attempt = (int)m->attempt;
	if (run_task_decode(m->data, m->len, &a->task, &a->idx) < 0) {
		fprintf(stderr, "muster: coordinator %d: message %016llx is not a task; dropped\n",
			(int)getpid(), (unsigned long long)m->id);
		mst_ack(c->bus, m->id);
		clear_task(c, a);
		return 0;
	}
	/* done already: a task delivered again may have been recorded by the master
	 * (the agent of a dead coordinator, adopted, finished it) or by a master that
	 * took the run over: make sure the master heard of it, and drop it. (A
	 * coordinator records a result and acks its task in one commit: a first
	 * delivery has no result.) */
	rc = m->attempt > 1 ? run_result_republish(c->bus, c->run, a->idx) : MST_ENOTFOUND;
	if (rc == 0) {
		mst_ack(c->bus, m->id);
		clear_task(c, a);
		return 0;
	}
	if (c->rate > 0)
		c->tokens -= 1;
	if (c->pool)
		pool_start(c, a, i);
	else
		exec_start(c, a, i);
	return 0;
}

/* Starts what was taken, as far as agents, the cap and the rate allow. */
static void start_pending(struct coord *c)
{
	size_t k = 0, j;

	while (k < c->npending && !c->paused && !c->stopping && c->running < c->cap &&
	       (c->rate <= 0 || c->tokens >= 1)) {
		if (start_task(c, &c->pending[k]) < 0)
			break;
		mst_msg_free(&c->pending[k]);
		k++;
	}
	for (j = k; j < c->npending; j++)
		c->pending[j - k] = c->pending[j];
	c->npending -= k;
}

static void take_fed(struct coord *c)
{
	mst_msg *q, *p;
	size_t qn, j;

	q = run_taker_take(&c->f, &qn);
	if (!qn) {
		free(q);
		return;
	}
	p = realloc(c->pending, (c->npending + qn) * sizeof *p);
	if (!p) { /* give them back */
		for (j = 0; j < qn; j++) {
			mst_nack(c->bus, q[j].id, 0);
			mst_msg_free(&q[j]);
		}
		free(q);
		return;
	}
	c->pending = p;
	memcpy(c->pending + c->npending, q, qn * sizeof *q);
	c->npending += qn;
	free(q);
}

/* Gives the tasks taken but not started back to the queue. */
static void give_back(struct coord *c)
{
	size_t j;

	for (j = 0; j < c->npending; j++) {
		mst_nack(c->bus, c->pending[j].id, 0);
		mst_msg_free(&c->pending[j]);
	}
	c->npending = 0;
}

static int64_t json_int(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

/* Reads the run's description (run.R.meta): command, mode, limits, master pid. */
static int read_meta(struct coord *c, pid_t *master)
{
	char key[MST_NAME_MAX + 1];
	json_t *o, *cmd, *v, *lim;
	mst_kv kv;
	size_t i, n;
	const char *mode;
	int rc, agents, mc;

	if ((rc = run_name(key, sizeof key, c->run, "meta")) < 0 ||
	    (rc = mst_kv_get(c->bus, key, &kv)) < 0)
		return rc;
	o = json_loadb(kv.value, kv.len, 0, NULL);
	mst_kv_free(&kv);
	cmd = o ? json_object_get(o, "cmd") : NULL;
	if (!json_is_array(cmd) || !(n = json_array_size(cmd))) {
		json_decref(o);
		return MST_EINVAL;
	}
	c->cmd = calloc(n + 1, sizeof *c->cmd);
	for (i = 0; c->cmd && i < n; i++)
		c->cmd[i] = strdup(json_string_value(json_array_get(cmd, i)) ?: "");
	mode = json_string_value(json_object_get(o, "mode"));
	c->busmode = mode && !strcmp(mode, "bus");
	c->pool = c->busmode || (mode && !strcmp(mode, "pool"));
	c->timeout_ms = json_int(o, "timeout_ms");
	c->heartbeat_ms = json_int(o, "heartbeat_ms");
	v = json_object_get(o, "retries");
	c->retries = json_is_integer(v) ? (int)json_integer_value(v) : 0;
	*master = (pid_t)json_int(o, "master");
	agents = (int)json_int(o, "agents");
	mc = (int)json_int(o, "max_concurrency");
	/* this coordinator's share of the run's cap and rate */
	c->cap = c->slots;
	if (mc > 0 && agents > 0) {
		int share = (int)(((int64_t)mc * c->slots + agents - 1) / agents);

		c->cap = share < 1 ? 1 : share < c->slots ? share : c->slots;
	}
	c->cap_max = c->cap;
	v = json_object_get(o, "rate");
	if (json_is_number(v) && json_number_value(v) > 0 && agents > 0)
		c->rate = json_number_value(v) * c->slots / agents;
	/* the run's cgroup: the agents are born in it */
	if (json_string_value(json_object_get(o, "cgroup")) &&
	    run_cgroup_join(json_string_value(json_object_get(o, "cgroup"))) < 0)
		fprintf(stderr, "muster: coordinator %d: cannot join the run's cgroup %s\n",
			(int)getpid(), json_string_value(json_object_get(o, "cgroup")));
	lim = json_object_get(o, "limits");
	c->mem.rlim_cur = c->mem.rlim_max = (rlim_t)json_int(lim, "mem");
	c->cpu.rlim_cur = (rlim_t)json_int(lim, "cpu_s");
	c->cpu.rlim_max = c->cpu.rlim_cur ? c->cpu.rlim_cur + 1 : 0; /* SIGXCPU, then SIGKILL */
	c->nofile.rlim_cur = c->nofile.rlim_max = (rlim_t)json_int(lim, "nofile");
	v = json_object_get(json_object_get(o, "features"), "batching");
	c->batching = !json_is_false(v); /* on unless the run started with it off */
	json_decref(o);
	return c->cmd ? 0 : -ENOMEM;
}

/* Is the run paused (run.R.ctl)? */
static int read_paused(struct coord *c)
{
	char key[MST_NAME_MAX + 1];
	json_t *o;
	mst_kv kv;
	int p = 0;

	if (run_name(key, sizeof key, c->run, "ctl") < 0 || mst_kv_get(c->bus, key, &kv) < 0)
		return 0;
	o = json_loadb(kv.value, kv.len, 0, NULL);
	mst_kv_free(&kv);
	p = json_is_true(json_object_get(o, "paused"));
	json_decref(o);
	return p;
}

/* The master is gone: is there another (a standby or --resume took the run over)? */
static void find_master(struct coord *c)
{
	char key[MST_NAME_MAX + 1];
	json_t *o;
	mst_kv kv;
	pid_t pid;
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV(EV_MASTER, 0)};

	if (run_name(key, sizeof key, c->run, "meta") < 0 || mst_kv_get(c->bus, key, &kv) < 0)
		return;
	o = json_loadb(kv.value, kv.len, 0, NULL);
	mst_kv_free(&kv);
	pid = (pid_t)json_int(o, "master");
	json_decref(o);
	if (pid <= 0 || pid == c->master || (c->mfd = pidfd_open_(pid)) < 0)
		return;
	c->master = pid;
	c->orphan_ns = 0;
	c->heir_tried = 0;
	epoll_ctl(c->ep, EPOLL_CTL_ADD, c->mfd, &ev);
}

/* The master died and, HEIR_DELAY_MS later, nobody holds the run's master lock (no
 * standby took the run over): one coordinator, the first to create
 * run.R.heir.DEADPID, starts a master that carries the run on (muster run --standby,
 * which finds the lock free at once). The results that master prints go to
 * runs/R/results.DEADPID.jsonl (the dead master's stdout died with its command); all
 * are in the bus too (muster results). */
static void start_heir(struct coord *c)
{
	char key[MST_NAME_MAX + 1], lock[MST_NAME_MAX + 1], self[PATH_MAX], out[PATH_MAX + 64];
	char me[16];
	char *argv[12];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, def;
	const char *state;
	json_t *o;
	mst_kv kv;
	ssize_t n;
	pid_t pid;
	int i, rc;

	c->heir_tried = 1;
	if (c->master <= 0 || run_name(lock, sizeof lock, c->run, "master") < 0 ||
	    mst_lock_held(c->bus, lock) != 0)
		return; /* taken over already (or cannot tell) */
	if (run_name(key, sizeof key, c->run, "meta") < 0 || mst_kv_get(c->bus, key, &kv) < 0)
		return;
	o = json_loadb(kv.value, kv.len, 0, NULL);
	mst_kv_free(&kv);
	state = o ? json_string_value(json_object_get(o, "state")) : NULL;
	rc = state && (!strcmp(state, "running") || !strcmp(state, "stopping"));
	json_decref(o);
	snprintf(me, sizeof me, "%d", (int)c->pid);
	if (!rc || run_name(key, sizeof key, c->run, "heir.%d", (int)c->master) < 0 ||
	    mst_kv_cas(c->bus, key, 0, me, strlen(me), NULL) < 0)
		return; /* over, or another coordinator does it */
	if ((n = readlink("/proc/self/exe", self, sizeof self - 1)) <= 0)
		return;
	self[n] = 0;
	snprintf(out, sizeof out, "%s/results.%d.jsonl", c->rundir, (int)c->master);
	argv[0] = "muster";
	argv[1] = "--bus";
	argv[2] = (char *)c->dir;
	argv[3] = "run";
	argv[4] = "--standby";
	argv[5] = "--run";
	argv[6] = (char *)c->run;
	argv[7] = "--results";
	argv[8] = out;
	argv[9] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigemptyset(&def);
	for (i = 0; i < c->nsigs; i++)
		sigaddset(&def, c->sigs[i]);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawn(&pid, self, &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (rc)
		fprintf(stderr, "muster: coordinator %d: cannot start a master for run %s: %s\n",
			(int)c->pid, c->run, strerror(rc));
	else
		fprintf(stderr,
			"muster: coordinator %d: the master of run %s (pid %d) died with no "
			"standby; master %d carries the run on (its results also in %s)\n",
			(int)c->pid, c->run, (int)c->master, (int)pid, out);
}

static void pause_agent(struct agent *a, int on, int64_t now)
{
	if (!a->pid)
		return;
	if (on && !a->paused_ns) {
		kill(-a->pid, SIGSTOP);
		a->paused_ns = now;
	} else if (!on && a->paused_ns) {
		int64_t d = now - a->paused_ns;

		/* the time paused does not count against its deadlines */
		if (a->deadline_ns)
			a->deadline_ns += d;
		if (a->beat_ns)
			a->beat_ns += d;
		a->paused_ns = 0;
		kill(-a->pid, SIGCONT);
	}
}

/* SIGUSR1 (pause) or SIGUSR2 (resume): the coordinator, or (value) one agent. */
static void on_pause(struct coord *c, int on, pid_t agent)
{
	int64_t now = mst_now_ns();
	int i;

	for (i = 0; i < c->slots; i++)
		if (agent <= 0 || c->a[i].pid == agent)
			pause_agent(&c->a[i], on, now);
	if (agent <= 0)
		c->paused = on;
}

/* Kills slot i's agent for an expired deadline, and checks heartbeats: the time of
 * the nearest next check. */
static int64_t check_deadlines(struct coord *c, int64_t now)
{
	int64_t next = INT64_MAX;
	int i;

	for (i = 0; i < c->slots; i++) {
		struct agent *a = &c->a[i];

		if (c->pool && !a->pid && a->respawn_ns && !c->stopping && !c->interrupted) {
			if (a->respawn_ns <= now)
				pool_spawn(c, i);
			else if (a->respawn_ns < next)
				next = a->respawn_ns;
		}
		if (a->pid > 0 && a->eof_ns && !a->garbage) {
			if (now - a->eof_ns >= EOF_GRACE_MS * 1000000LL)
				pool_kill(c, i, "the agent closed its stdout");
			else if (a->eof_ns + EOF_GRACE_MS * 1000000LL < next)
				next = a->eof_ns + EOF_GRACE_MS * 1000000LL;
		}
		if (!a->pid || !a->busy || a->paused_ns || a->timed_out || a->silent)
			continue;
		if (a->deadline_ns && a->deadline_ns <= now) {
			a->timed_out = 1;
			kill(-a->pid, SIGKILL);
			continue;
		}
		if (a->deadline_ns && a->deadline_ns < next)
			next = a->deadline_ns;
		if (c->heartbeat_ms > 0) {
			int64_t hb = c->heartbeat_ms * 1000000, last = a->beat_ns;

			if (!c->pool) {
				int64_t act = exec_activity(a);

				if (act > last)
					last = a->beat_ns = act;
			}
			if (now - last >= hb) {
				a->silent = 1;
				kill(-a->pid, SIGKILL);
				continue;
			}
			/* exec agents are looked at a few times per interval */
			if (!c->pool && now + hb / 4 < next)
				next = now + hb / 4;
			else if (c->pool && last + hb < next)
				next = last + hb;
		}
	}
	return next;
}

/* Memory that runs short lowers the cap; it comes back one agent a second. */
static void check_memory(struct coord *c, int64_t now)
{
	char line[256];
	long long avail = -1, total = -1;
	FILE *f;

	if (now - c->mem_ns < MEM_CHECK_MS * 1000000LL)
		return;
	c->mem_ns = now;
	if (!(f = fopen("/proc/meminfo", "re")))
		return;
	while (fgets(line, sizeof line, f)) {
		sscanf(line, "MemTotal: %lld kB", &total);
		sscanf(line, "MemAvailable: %lld kB", &avail);
	}
	fclose(f);
	if (avail >= 0 && total > 0 && (avail < 65536 || avail * 50 < total))
		degrade(c, "memory is short");
	else if (c->cap < c->cap_max)
		c->cap++;
}

int run_coordinator(const char *bus_dir, const char *run, int slots, int cap, int first)
{
	struct coord c = {
		.dir = bus_dir, .run = run, .slots = slots, .ep = -1, .mfd = -1, .pid = getpid()};
	struct epoll_event evs[64], ev;
	sigset_t sigs;
	int sfd = -1, i, n, rc, status = 0;

	if (slots < 1 || (rc = mst_bus_open(&c.bus, bus_dir, NULL)) < 0) {
		fprintf(stderr, "muster: coordinator: cannot open the bus %s\n", bus_dir);
		return 111;
	}
	if ((rc = read_meta(&c, &c.master)) < 0 ||
	    run_name(c.queue, sizeof c.queue, run, "tasks") ||
	    run_dir(c.rundir, sizeof c.rundir, bus_dir, run) < 0) {
		fprintf(stderr, "muster: coordinator: run %s: %s\n", run, mst_strerror(rc));
		mst_bus_close(c.bus);
		return 111;
	}
	{
		/* on a sharded bus, open the task queue's store now, while there are
		 * descriptors: a nack when they run out must not need one */
		mst_queue_info qi;

		(void)mst_queue_stat(c.bus, c.queue, &qi);
	}
	if (cap >= 0) /* the master's share: the shares add up to the run's cap */
		c.cap = c.cap_max = cap;
	c.a = calloc((size_t)slots, sizeof *c.a);
	for (i = 0; c.a && i < slots; i++) {
		c.a[i].pnext = c.a[i].in = c.a[i].out = -1;
		c.a[i].outfd = c.a[i].errfd = c.a[i].hbfd = -1;
	}
	for (c.pmask = 1; c.pmask < (unsigned)slots * 2; c.pmask <<= 1)
		;
	c.phead = malloc(c.pmask * sizeof *c.phead);
	c.pmask--;
	for (i = 0; c.phead && i <= (int)c.pmask; i++)
		c.phead[i] = -1;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGUSR2);
	sigaddset(&sigs, SIGPIPE);
	sigaddset(&sigs, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	find_sigs(&c);
	/* 0..2 open: the descriptors an agent gets are above them (spawn_) */
	while ((i = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0 && i < 3)
		fcntl(i, F_SETFD, 0);
	if (i >= 3)
		close(i);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	c.ep = epoll_create1(EPOLL_CLOEXEC);
	if (!c.a || !c.phead || sfd < 0 || c.ep < 0) {
		fprintf(stderr, "muster: coordinator: %s\n", strerror(errno));
		return 111;
	}
	ev.events = EPOLLIN;
	ev.data.u64 = EV(EV_SIGNAL, 0);
	epoll_ctl(c.ep, EPOLL_CTL_ADD, sfd, &ev);
	c.mfd = c.master > 0 ? pidfd_open_(c.master) : -1;
	if (c.mfd >= 0) {
		ev.data.u64 = EV(EV_MASTER, 0);
		epoll_ctl(c.ep, EPOLL_CTL_ADD, c.mfd, &ev);
	} else {
		c.orphan_ns = mst_now_ns(); /* the master is gone already */
	}
	{
		json_t *o = json_object();

		json_object_set_new(o, "slots", json_integer(slots));
		json_object_set_new(o, "cap", json_integer(c.cap_max));
		json_object_set_new(o, "master", json_integer(c.master));
		run_proc_register(c.bus, run, getpid(), "coordinator", o);
	}
	c.paused = read_paused(&c);
	c.tokens = c.rate > 0 && first ? 1 : 0;
	c.tokens_ns = mst_now_ns();
	for (i = 0; c.pool && i < slots; i++)
		pool_spawn(&c, i);
	if ((rc = run_taker_start(&c.f, bus_dir, c.queue, 0)) < 0) {
		fprintf(stderr, "muster: coordinator: %s\n", strerror(-rc));
		return 111;
	}
	ev.events = EPOLLIN;
	ev.data.u64 = EV(EV_FEED, 0);
	epoll_ctl(c.ep, EPOLL_CTL_ADD, c.f.efd, &ev);

	for (;;) {
		int64_t now = mst_now_ns(), next;
		int timeout, live = 0;

		if (c.rate > 0) {
			c.tokens += c.rate * (double)(now - c.tokens_ns) / 1e9;
			if (c.tokens > 1)
				c.tokens = 1; /* no bursts: starts are spaced */
			c.tokens_ns = now;
		}
		start_pending(&c);
		next = check_deadlines(&c, now);
		check_memory(&c, now);
		if (c.orphan_ns) {
			find_master(&c);
			if (c.orphan_ns && !c.heir_tried && !c.stopping &&
			    now - c.orphan_ns >= HEIR_DELAY_MS * 1000000LL)
				start_heir(&c);
			if (c.orphan_ns && now - c.orphan_ns > ORPHAN_GRACE_MS * 1000000LL &&
			    !c.stopping) {
				fprintf(stderr,
					"muster: coordinator %d: run %s has had no master for %d "
					"s; "
					"finishing what runs\n",
					(int)getpid(), run, ORPHAN_GRACE_MS / 1000);
				c.stopping = 1;
			}
			if (c.orphan_ns && now + ORPHAN_POLL_MS * 1000000LL < next)
				next = now + ORPHAN_POLL_MS * 1000000LL;
		}
		if (c.rate > 0 && c.tokens < 1) {
			int64_t t = now + (int64_t)((1 - c.tokens) / c.rate * 1e9);

			if (t < next)
				next = t;
		}
		if (c.stopping) {
			if (!c.stop_ns)
				c.stop_ns = now;
			give_back(&c);
			for (i = 0; i < slots; i++) {
				struct agent *a = &c.a[i];

				if (c.pool && a->pid > 0 && !a->busy && a->in >= 0) {
					/* an idle pool agent: end of input says goodbye */
					epoll_ctl(c.ep, EPOLL_CTL_DEL, a->in, NULL);
					close_fd(&a->in);
				}
				if (c.busmode && a->pid > 0 && !a->garbage) {
					/* a bus agent is asked to leave */
					kill(-a->pid, SIGTERM);
					a->garbage = strdup("the run is stopping");
				}
				/* one that does not leave in time is killed */
				if (c.pool && a->pid > 0 && !a->busy &&
				    now - c.stop_ns >= STOP_GRACE_MS * 1000000LL)
					pool_kill(&c, i, NULL);
				live += a->pid > 0;
			}
			if (c.running == 0 && live == 0)
				break;
			if (live && c.stop_ns + STOP_GRACE_MS * 1000000LL < next)
				next = c.stop_ns + STOP_GRACE_MS * 1000000LL;
		}
		flush_writes(&c);
		feeder_update(&c);
		if (next != INT64_MAX && next < now)
			next = now;
		timeout = next == INT64_MAX ? -1 : (int)((next - now) / 1000000 + 1);
		n = epoll_wait(c.ep, evs, 64, timeout);
		for (i = 0; i < n; i++) {
			uint32_t kind = (uint32_t)(evs[i].data.u64 >> 32);
			int slot = (int)(uint32_t)evs[i].data.u64;

			if (kind == EV_SIGNAL) {
				struct signalfd_siginfo si;

				while (read(sfd, &si, sizeof si) == sizeof si) {
					int j;

					if (si.ssi_signo == SIGUSR1 || si.ssi_signo == SIGUSR2) {
						on_pause(&c, si.ssi_signo == SIGUSR1,
							 si.ssi_code == SI_QUEUE ? (pid_t)si.ssi_int
										 : 0);
						continue;
					}
					if (si.ssi_signo == SIGCHLD) {
						reap(&c);
						continue;
					}
					if (si.ssi_signo == SIGPIPE)
						continue;
					c.stopping = 1;
					if (si.ssi_signo == SIGINT || si.ssi_signo == SIGHUP) {
						status = 128 + (int)si.ssi_signo;
						c.interrupted = 1;
						for (j = 0; j < slots; j++)
							if (c.a[j].pid > 0) {
								kill(-c.a[j].pid, SIGCONT);
								kill(-c.a[j].pid, SIGKILL);
							}
					} else if (c.paused) {
						on_pause(&c, 0, 0); /* to drain, they must run */
					}
				}
			} else if (kind == EV_FEED) {
				take_fed(&c);
				if (c.f.err) {
					fprintf(stderr,
						"muster: coordinator %d: taking tasks: %s\n",
						(int)getpid(), mst_strerror(c.f.err));
					c.stopping = 1;
					status = 111;
				}
			} else if (kind == EV_MASTER) {
				/* the master is gone: carry on, and look for the next one */
				epoll_ctl(c.ep, EPOLL_CTL_DEL, c.mfd, NULL);
				close_fd(&c.mfd);
				c.orphan_ns = mst_now_ns();
			} else if (slot >= 0 && slot < slots) {
				struct agent *a = &c.a[slot];

				if (kind == EV_OUT && a->out >= 0)
					pool_readable(&c, slot);
				else if (kind == EV_IN && a->in >= 0 && a->wbuf)
					pool_write(&c, slot);
			}
		}
	}
	flush_writes(&c);
	free(c.w);
	run_taker_stop(&c.f);
	/* tasks taken after the loop stopped go back */
	take_fed(&c);
	give_back(&c);
	free(c.pending);
	for (i = 0; i < slots; i++) { /* the slots' registrations (of agents gone) */
		char key[MST_NAME_MAX + 1];

		if (c.a[i].registered && slot_key(&c, i, key, sizeof key) == 0)
			mst_kv_del(c.bus, key);
	}
	run_proc_unregister(c.bus, run, getpid());
	mst_bus_close(c.bus);
	run_free_argv(c.cmd);
	free(c.a);
	free(c.phead);
	close(sfd);
	close(c.ep);
	close_fd(&c.mfd);
	return status;
}
