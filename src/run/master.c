/*
 * master.c - the master of a run: it puts the tasks on the run's queue (a task whose
 * dependencies are not done yet waits in the master), starts the coordinators and
 * replaces any that dies, adopts the agents of a dead coordinator (as their
 * subreaper) and records their results, follows the results topic, and ends the run
 * when every task has a result.
 *
 * Its loop (epoll) watches a signalfd (SIGCHLD and the stop signals), the pidfd of
 * every coordinator and an eventfd from the follower thread, which sleeps in
 * mst_subscribe on run.R.results with its own bus handle. Results are counted once
 * per task index, whatever the number of times they are published.
 *
 * Everything the run needs lives in the bus: its settings (run.R.meta), its task
 * list as it was given (BUS/runs/R/tasks), each result (run.R.res.N) and the queue.
 * So a master can take over a run whose master died: a standby (waiting on the lock
 * run.R.master, which the kernel releases when its holder dies) or `muster run
 * --resume`. It reads the recorded results, adopts the live coordinators, queues
 * again what is neither done nor queued (each task is sent with the idempotency key
 * t.N, so a task sent before is not sent twice) and carries on.
 */
#define _GNU_SOURCE
#include "run.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEND_CHUNK 1000
#define FOLLOW_MAX 256
#define EV_SIGNAL 1
#define EV_FOLLOW 2
#define EV_REPLY 3
#define EV_COORD 16 /* + the coordinator's slot */
#define PROGRESS_MS 200

extern char **environ;

struct follower {
	pthread_mutex_t mu;
	int efd, stop, err;
	const char *dir;
	char topic[MST_NAME_MAX + 1];
	char **q; /* result lines */
	size_t qn, qcap;
};

struct coordinator {
	pid_t pid;
	int pidfd;
	int slots;
	int cap;   /* its share of --max-concurrency */
	int first; /* with --rate: it starts its first task at once */
	int child; /* started by this master (else adopted from a dead one) */
};

struct master {
	mst_bus *bus;
	const struct run_tasks *ts;
	struct run_tasks own; /* the task list read back from the bus (takeover) */
	const struct run_opts *o;
	struct run_features features; /* a fresh run: as loaded at its start */
	char run[RUN_ID_MAX + 1];
	char queue[MST_NAME_MAX + 1];
	char rundir[PATH_MAX];
	char cgroup[PATH_MAX]; /* the run's cgroup, or "" */
	json_t *meta;
	int agents, nco;
	unsigned char *done; /* per task: 0, 1 ok, 2 not ok */
	size_t *waiting;     /* per task: dependencies not done yet */
	size_t **dependents; /* per task: the tasks that depend on it */
	size_t *ndependents;
	size_t ndone, nok, nprior; /* nprior: done before this master took over */
	double *dur_ms;
	struct coordinator *co;
	int ep, lost, finished, loading;
	int stopping; /* 1: drain (SIGTERM), 2: now (SIGINT, SIGHUP) */
	int status;   /* 128 + the signal that stopped the run */
	int64_t t0, t_start;
	/* bus mode: agents take tasks themselves and send replies to run.R.replies */
	int bus_mode, retries;
	char replies[MST_NAME_MAX + 1];
	int *attempts; /* per task: replies and losses counted */
	size_t *by_id; /* hash of task ids: index + 1, 0 empty */
	size_t nby_id;
	int64_t lost_check;
	/* the progress bar */
	int progress;
	int64_t last_draw;
};

static void *follower_main(void *arg)
{
	struct follower *f = arg;
	mst_msg msgs[FOLLOW_MAX];
	uint64_t from = MST_FROM_EARLIEST, next = 0, one = 1;
	mst_bus *bus;
	size_t got, i;
	int rc;

	if ((rc = mst_bus_open(&bus, f->dir, NULL)) < 0) {
		f->err = rc;
		goto out;
	}
	while (!__atomic_load_n(&f->stop, __ATOMIC_SEQ_CST)) {
		rc = mst_subscribe(bus, f->topic, from, 500, msgs, FOLLOW_MAX, &got, &next);
		if (rc == MST_ETIMEOUT || rc == MST_EEMPTY)
			continue;
		if (rc < 0) {
			f->err = rc;
			break;
		}
		pthread_mutex_lock(&f->mu);
		for (i = 0; i < got; i++) {
			if (f->qn == f->qcap) {
				size_t cap = f->qcap ? f->qcap * 2 : 256;
				char **q = realloc(f->q, cap * sizeof *q);

				if (!q)
					break;
				f->q = q;
				f->qcap = cap;
			}
			f->q[f->qn++] = strndup(msgs[i].data, msgs[i].len);
		}
		from = next;
		pthread_mutex_unlock(&f->mu);
		for (i = 0; i < got; i++)
			mst_msg_free(&msgs[i]);
		if (write(f->efd, &one, sizeof one) < 0)
			break;
	}
	mst_bus_close(bus);
out:
	if (f->err && write(f->efd, &one, sizeof one) < 0)
		return NULL;
	return NULL;
}

/* Sends the tasks of idx[0..n-1] to the queue, in chunks, by priority. Each goes with
 * the key t.N: a task queued once (by this master or a dead one) is not queued again. */
static int enqueue(struct master *m, const size_t *idx, size_t n)
{
	mst_buf *bufs = calloc(n ? n : 1, sizeof *bufs);
	char(*keys)[24] = calloc(n ? n : 1, sizeof *keys);
	const char **kp = calloc(n ? n : 1, sizeof *kp);
	size_t i, k, cnt;
	int prio, rc = 0;

	if (!bufs || !keys || !kp) {
		free(bufs);
		free(keys);
		free(kp);
		return -ENOMEM;
	}
	for (prio = 9; prio >= 0 && rc == 0; prio--) {
		mst_send_opts so = {.priority = prio, .keys = kp, .wait_ms = 10000};

		for (i = cnt = 0; i < n && rc == 0; i++) {
			const struct run_task *t = &m->ts->v[idx[i]];

			if (t->priority != prio)
				continue;
			bufs[cnt].data = run_task_encode(t, idx[i]);
			if (!bufs[cnt].data) {
				rc = -ENOMEM;
				break;
			}
			bufs[cnt].len = strlen(bufs[cnt].data);
			snprintf(keys[cnt], sizeof keys[cnt], "t.%zu", idx[i]);
			kp[cnt] = keys[cnt];
			if (++cnt == SEND_CHUNK) {
				rc = mst_send_batch(m->bus, m->queue, bufs, cnt, &so, NULL);
				for (k = 0; k < cnt; k++)
					free((void *)bufs[k].data);
				cnt = 0;
			}
		}
		if (cnt) {
			if (rc == 0)
				rc = mst_send_batch(m->bus, m->queue, bufs, cnt, &so, NULL);
			for (k = 0; k < cnt; k++)
				free((void *)bufs[k].data);
		}
	}
	free(bufs);
	free(keys);
	free(kp);
	return rc;
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static void watch_coordinator(struct master *m, int k)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV_COORD + (uint64_t)k};

	m->co[k].pidfd = m->co[k].pid > 0 ? pidfd_open_(m->co[k].pid) : -1;
	if (m->co[k].pidfd >= 0)
		epoll_ctl(m->ep, EPOLL_CTL_ADD, m->co[k].pidfd, &ev);
}

static void unwatch_coordinator(struct master *m, int k)
{
	if (m->co[k].pidfd >= 0) {
		epoll_ctl(m->ep, EPOLL_CTL_DEL, m->co[k].pidfd, NULL);
		close(m->co[k].pidfd);
	}
	m->co[k].pidfd = -1;
	m->co[k].pid = 0;
}

/* One coordinator per 250 agents, and at least one per CPU (as far as there are
 * agents): a spawn keeps its spawner waiting until the child's exec, so coordinators
 * spawning side by side use the CPUs a single one leaves idle. */
static int default_coordinators(int agents)
{
	cpu_set_t set;
	int n = (agents + 249) / 250, cpus = 1;

	if (sched_getaffinity(0, sizeof set, &set) == 0)
		cpus = CPU_COUNT(&set);
	if (n < cpus)
		n = cpus < agents ? cpus : agents;
	return n;
}

static void start_coordinator(struct master *m, int k)
{
	char sl[16], cp[16], *argv[10];
	pid_t pid;
	int rc;

	snprintf(sl, sizeof sl, "%d", m->co[k].slots);
	snprintf(cp, sizeof cp, "%d", m->co[k].cap);
	argv[0] = "muster";
	argv[1] = "--bus";
	argv[2] = (char *)m->o->bus_dir;
	argv[3] = "__coordinator";
	argv[4] = m->run;
	argv[5] = sl;
	argv[6] = cp;
	argv[7] = m->co[k].first ? "1" : "0";
	argv[8] = NULL;
	/* born in the run's cgroup, if it has one */
	pid = run_cgroup_spawn(m->cgroup, m->o->self, argv, environ);
	rc = pid > 0 ? 0 : posix_spawn(&pid, m->o->self, NULL, NULL, argv, environ);
	if (rc) {
		fprintf(stderr, "muster: run %s: cannot start a coordinator: %s\n", m->run,
			strerror(rc));
		m->co[k].pid = 0;
		return;
	}
	m->co[k].pid = pid;
	m->co[k].child = 1;
	watch_coordinator(m, k);
}

/* Records a result the master makes itself: a task skipped for a failed
 * dependency, or the agent of a dead coordinator. */
static void record(struct master *m, struct run_result *r)
{
	int rc = run_result_record(m->bus, m->run, r);

	if (rc < 0 && rc != MST_ECONFLICT)
		fprintf(stderr, "muster: run %s: recording the result of task %s: %s\n", m->run,
			r->id, mst_strerror(rc));
}

static void skip(struct master *m, size_t d, size_t failed_dep)
{
	char reason[512];
	struct run_result r = {.idx = d,
			       .id = m->ts->v[d].id,
			       .status = "skipped",
			       .exit_code = -1,
			       .reason = reason,
			       .start_ms = run_wall_ms()};

	snprintf(reason, sizeof reason, "dependency %s did not succeed", m->ts->v[failed_dep].id);
	m->waiting[d] = 0;
	record(m, &r);
}

/* A result arrived (JSON line): count it once, print it, release or skip what
 * depends on it (not while loading the results recorded before a takeover: then
 * release_ready does it once for all). */
static void on_result(struct master *m, const char *line, size_t len)
{
	json_t *o = json_loadb(line, len, 0, NULL);
	json_int_t n = o ? json_integer_value(json_object_get(o, "n")) : -1;
	const char *status = o ? json_string_value(json_object_get(o, "status")) : NULL;
	json_t *dur = o ? json_object_get(o, "duration_ms") : NULL;
	size_t i, idx, *ready = NULL, nready = 0;
	int ok;

	if (!o || !status || n < 0 || (size_t)n >= m->ts->n || m->done[n]) {
		json_decref(o);
		return;
	}
	idx = (size_t)n;
	ok = !strcmp(status, "ok");
	m->done[idx] = ok ? 1 : 2;
	m->ndone++;
	m->nok += ok;
	m->dur_ms[idx] = json_is_number(dur) ? json_number_value(dur) : 0;
	json_decref(o);
	if (m->o->results) {
		if (m->progress && m->last_draw && isatty(fileno(m->o->results))) {
			/* a result on the terminal goes where the bar was */
			fputs("\r\033[K", stderr);
			m->last_draw = 0;
		}
		fwrite(line, 1, len, m->o->results);
		fputc('\n', m->o->results);
		if (!m->loading)
			fflush(m->o->results);
	}
	if (m->loading)
		return;
	if (m->ndependents[idx])
		ready = malloc(m->ndependents[idx] * sizeof *ready);
	for (i = 0; i < m->ndependents[idx]; i++) {
		size_t d = m->dependents[idx][i];

		if (m->done[d] || m->waiting[d] == 0)
			continue; /* skipped already by another failed dependency */
		if (!ok)
			skip(m, d, idx);
		else if (--m->waiting[d] == 0 && ready)
			ready[nready++] = d;
	}
	if (nready && enqueue(m, ready, nready) < 0)
		fprintf(stderr, "muster: run %s: cannot queue tasks\n", m->run);
	free(ready);
}

/* Reads the results recorded in the bus and counts those not counted yet: at a
 * takeover, and at the end (the follower may lag behind the last ones). */
static int catch_up(struct master *m)
{
	mst_kv *kv;
	size_t n, i;
	int rc;

	if ((rc = run_results_list(m->bus, m->run, &kv, &n)) < 0)
		return rc;
	for (i = 0; i < n; i++)
		on_result(m, kv[i].value, kv[i].len);
	mst_kv_list_free(kv, n);
	return 0;
}

/* The results of a run that is over, in task order. */
static int print_results(struct master *m)
{
	mst_kv *kv;
	size_t n, i;
	int rc;

	if ((rc = run_results_list(m->bus, m->run, &kv, &n)) < 0)
		return rc;
	for (i = 0; m->o->results && i < n; i++) {
		fwrite(kv[i].value, 1, kv[i].len, m->o->results);
		fputc('\n', m->o->results);
	}
	mst_kv_list_free(kv, n);
	if (!m->o->quiet)
		fprintf(stderr, "muster: run %s is over (%zu results)\n", m->run, n);
	return 0;
}

/* After the recorded results are loaded: the count of dependencies not done of
 * each task left; a task with a failed dependency is skipped, and those whose
 * dependencies are all done are queued (again: the keys make that harmless). */
static int release_ready(struct master *m)
{
	const struct run_tasks *ts = m->ts;
	size_t i, j, *ready = malloc((ts->n + 1) * sizeof *ready), nready = 0;
	int rc;

	if (!ready)
		return -ENOMEM;
	for (i = 0; i < ts->n; i++) {
		size_t failed = SIZE_MAX;

		if (m->done[i])
			continue;
		m->waiting[i] = 0;
		for (j = 0; j < ts->v[i].ndeps; j++) {
			size_t d = ts->v[i].dep_idx[j];

			if (m->done[d] == 2)
				failed = d;
			else if (!m->done[d])
				m->waiting[i]++;
		}
		if (failed != SIZE_MAX) {
			skip(m, i, failed);
		} else if (!m->waiting[i]) {
			ready[nready++] = i;
		}
	}
	rc = enqueue(m, ready, nready);
	free(ready);
	return rc;
}

/* One registration of the run's processes (proc.R.*): its key, its JSON, and the
 * fields every reader wants. */
struct proc_reg {
	const char *key;
	json_t *o;
	const char *role;
	pid_t pid, coordinator;
	uint64_t pstart;
};

/* Calls fn on each registration of the run's processes until it returns nonzero
 * (which each_proc returns; -1 when they cannot be listed). */
static int each_proc(struct master *m, int (*fn)(struct master *, struct proc_reg *, void *),
		     void *arg)
{
	char prefix[MST_NAME_MAX + 1];
	mst_kv *kv;
	size_t n, i;
	int rc = 0;

	if (run_proc_key(prefix, sizeof prefix, m->run, 0) < 0 ||
	    mst_kv_list(m->bus, prefix, &kv, &n) < 0)
		return -1;
	for (i = 0; i < n && rc == 0; i++) {
		struct proc_reg r = {.key = kv[i].key};

		r.o = json_loadb(kv[i].value, kv[i].len, 0, NULL);
		r.role = json_string_value(json_object_get(r.o, "role"));
		r.pid = (pid_t)json_integer_value(json_object_get(r.o, "pid"));
		r.coordinator = (pid_t)json_integer_value(json_object_get(r.o, "coordinator"));
		r.pstart = (uint64_t)json_integer_value(json_object_get(r.o, "pstart"));
		rc = fn(m, &r, arg);
		json_decref(r.o);
	}
	mst_kv_list_free(kv, n);
	return rc;
}

static int is_worker(const struct proc_reg *r)
{
	return r->role && !strcmp(r->role, "worker");
}

static int kill_stray(struct master *m, struct proc_reg *r, void *arg)
{
	pid_t coordinator = *(pid_t *)arg;

	if (is_worker(r) &&
	    (coordinator ? r->coordinator == coordinator : !run_proc_alive(r->coordinator, 0))) {
		if (run_proc_alive(r->pid, r->pstart))
			kill(-r->pid, SIGKILL);
		mst_kv_del(m->bus, r->key);
	}
	return 0;
}

/* Kills the process group of the live workers of run registered as started by
 * coordinator (0: any whose coordinator is gone): their tasks go back to the queue
 * with the dead coordinator's leases. */
static void kill_stray_workers(struct master *m, pid_t coordinator)
{
	each_proc(m, kill_stray, &coordinator);
}

static int adopt_one(struct master *m, struct proc_reg *r, void *arg)
{
	int *k = arg, slots = (int)json_integer_value(json_object_get(r->o, "slots"));
	json_t *cap = json_object_get(r->o, "cap");

	if (!r->role || !run_proc_alive(r->pid, r->pstart)) {
		if (r->pid != getpid())
			mst_kv_del(m->bus, r->key);
	} else if (!strcmp(r->role, "coordinator") && *k < m->nco && slots > 0) {
		struct coordinator *co = &m->co[*k];

		co->pid = r->pid;
		co->slots = slots;
		co->cap = json_is_integer(cap) ? (int)json_integer_value(cap) : slots;
		co->child = 0;
		watch_coordinator(m, *k);
		if (co->pidfd >= 0)
			(*k)++;
		else
			co->pid = 0;
	}
	return 0;
}

/* At a takeover: the coordinators of the run that are still alive are adopted (up to
 * the run's number), registrations of dead processes are removed, and workers whose
 * coordinator is gone are killed. */
static void adopt_coordinators(struct master *m)
{
	int k = 0;

	each_proc(m, adopt_one, &k);
	kill_stray_workers(m, 0);
}

struct worker_query {
	pid_t pid;
	char *key;
	size_t size;
	json_t *o;
};

static int match_worker(struct master *m, struct proc_reg *r, void *arg)
{
	struct worker_query *q = arg;

	if (!is_worker(r) || r->pid != q->pid)
		return 0;
	snprintf(q->key, q->size, "%s", r->key);
	q->o = json_incref(r->o);
	return 1;
}

/* The registration of worker pid (its slot's key, proc.R.COORDINATOR.SLOT): 0 with the
 * key and its JSON, or -1. */
static int find_worker(struct master *m, pid_t pid, char *key, size_t size, json_t **out)
{
	struct worker_query q = {.pid = pid, .key = key, .size = size};

	*out = NULL;
	if (each_proc(m, match_worker, &q) != 1)
		return -1;
	*out = q.o;
	return 0;
}

/* An agent whose coordinator died ended: the master is its subreaper. Its task was
 * redelivered when the coordinator died; this result counts if it comes first. */
static void on_orphan(struct master *m, pid_t pid, int st)
{
	char key[MST_NAME_MAX + 1], path[PATH_MAX], reason[128];
	struct run_result r = {0};
	char *out = NULL, *err = NULL;
	json_t *o = NULL;
	int trunc = 0, etrunc = 0, attempt = 0;
	size_t idx = SIZE_MAX;

	if (find_worker(m, pid, key, sizeof key, &o) < 0)
		return;
	kill(-pid, SIGKILL);
	if (!o || !json_is_integer(json_object_get(o, "n")))
		goto out;
	idx = (size_t)json_integer_value(json_object_get(o, "n"));
	attempt = (int)json_integer_value(json_object_get(o, "attempt"));
	if (idx >= m->ts->n || m->done[idx])
		goto out;
	/* a failure is not recorded: the redelivered task has its own attempts */
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		goto out;
	r.idx = idx;
	r.id = m->ts->v[idx].id;
	r.status = "ok";
	r.exit_code = 0;
	r.attempts = attempt;
	r.agent = pid;
	r.coordinator = getpid();
	r.start_ms = json_integer_value(json_object_get(o, "start_ms"));
	r.duration_us = (run_wall_ms() - r.start_ms) * 1000;
	snprintf(reason, sizeof reason, "adopted by the master after its coordinator %d died",
		 (int)json_integer_value(json_object_get(o, "coordinator")));
	r.reason = reason;
	if (run_out_path(path, sizeof path, m->rundir, idx, attempt, "out") == 0)
		out = run_read_file(path, 128 << 10, 0, &r.output_len, &trunc);
	if (run_out_path(path, sizeof path, m->rundir, idx, attempt, "err") == 0)
		err = run_read_file(path, 4 << 10, 1, &r.err_len, &etrunc);
	r.output = out;
	r.output_truncated = trunc;
	r.err = err;
	record(m, &r);
out:
	if (idx != SIZE_MAX) {
		static const char *const what[] = {"out", "err", "hb"};
		size_t w;

		for (w = 0; w < 3; w++)
			if (run_out_path(path, sizeof path, m->rundir, idx, attempt, what[w]) == 0)
				unlink(path);
	}
	json_decref(o);
	free(out);
	free(err);
	mst_kv_del(m->bus, key);
}

/* Coordinator k is gone (status st, or -1 when it was not our child). */
static void coordinator_gone(struct master *m, int k, int st)
{
	pid_t pid = m->co[k].pid;

	unwatch_coordinator(m, k);
	run_proc_unregister(m->bus, m->run, pid);
	if (m->finished || m->stopping)
		return;
	m->lost++;
	if (st == -1) /* not ours: its agents are not ours to adopt */
		kill_stray_workers(m, pid);
	if (!m->o->quiet) {
		if (st == -1)
			fprintf(stderr,
				"muster: run %s: coordinator %d is gone; starting another\n",
				m->run, (int)pid);
		else
			fprintf(stderr, "muster: run %s: coordinator %d %s %d; starting another\n",
				m->run, (int)pid,
				WIFSIGNALED(st) ? "killed by signal" : "exited with",
				WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	}
	start_coordinator(m, k);
}

static void on_child(struct master *m, pid_t pid, int st)
{
	int k;

	for (k = 0; k < m->nco; k++)
		if (m->co[k].pid == pid) {
			coordinator_gone(m, k, st);
			return;
		}
	on_orphan(m, pid, st);
}

/* --- bus mode ------------------------------------------------------------------------ */

static size_t hash_id(const char *s)
{
	size_t h = 14695981039346656037ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

/* The index of the task whose id is id, or SIZE_MAX. */
static size_t find_task(const struct master *m, const char *id)
{
	size_t h, k;

	if (!m->nby_id)
		return SIZE_MAX;
	for (h = hash_id(id) % m->nby_id, k = 0; k < m->nby_id; h = (h + 1) % m->nby_id, k++) {
		size_t v = m->by_id[h];

		if (!v)
			return SIZE_MAX;
		if (!strcmp(m->ts->v[v - 1].id, id))
			return v - 1;
	}
	return SIZE_MAX;
}

static int index_ids(struct master *m)
{
	size_t i, h;

	m->nby_id = m->ts->n * 2 + 1;
	m->by_id = calloc(m->nby_id, sizeof *m->by_id);
	m->attempts = calloc(m->ts->n + 1, sizeof *m->attempts);
	if (!m->by_id || !m->attempts)
		return -ENOMEM;
	for (i = 0; i < m->ts->n; i++) {
		for (h = hash_id(m->ts->v[i].id) % m->nby_id; m->by_id[h]; h = (h + 1) % m->nby_id)
			;
		m->by_id[h] = i + 1;
	}
	return 0;
}

/* Sends task idx again (after a failed reply, or lost), with a key of its own. */
static int resend(struct master *m, size_t idx, int64_t delay_ms)
{
	char key[48], *data = run_task_encode(&m->ts->v[idx], idx);
	mst_send_opts so = {.priority = m->ts->v[idx].priority, .delay_ms = delay_ms, .key = key};
	int rc;

	if (!data)
		return -ENOMEM;
	snprintf(key, sizeof key, "t.%zu.%d", idx, m->attempts[idx]);
	rc = mst_send(m->bus, m->queue, data, strlen(data), &so, NULL);
	free(data);
	return rc;
}

/* A reply of a bus agent: its task's result, recorded (then published, and counted
 * by on_result like any other), or another attempt. */
static void on_reply(struct master *m, const mst_msg *msg)
{
	struct run_pool_reply r;
	struct run_result res = {0};
	char err[RUN_ERR];
	size_t idx;
	int retries;

	if (run_pool_reply_parse(msg->data, msg->len, &r, err, sizeof err) < 0) {
		fprintf(stderr, "muster: run %s: a reply on %s is not one (%s); dropped\n", m->run,
			m->replies, err);
		return;
	}
	if (r.kind != RUN_POOL_REPLY || (idx = find_task(m, r.id)) == SIZE_MAX) {
		if (r.kind == RUN_POOL_REPLY)
			fprintf(stderr,
				"muster: run %s: a reply for task '%.64s', which it has not; "
				"dropped\n",
				m->run, r.id);
		run_pool_reply_clear(&r);
		return;
	}
	if (m->done[idx]) {
		run_pool_reply_clear(&r);
		return;
	}
	m->attempts[idx]++;
	retries = m->ts->v[idx].retries >= 0 ? m->ts->v[idx].retries : m->retries;
	if (!r.ok && m->attempts[idx] <= retries) {
		int a = m->attempts[idx] - 1;
		int64_t delay = 100LL << (a < 7 ? a : 7);

		if (resend(m, idx, delay > 10000 ? 10000 : delay) < 0)
			fprintf(stderr, "muster: run %s: cannot send task %s again\n", m->run,
				r.id);
		run_pool_reply_clear(&r);
		return;
	}
	res.idx = idx;
	res.id = m->ts->v[idx].id;
	res.status = r.ok ? "ok" : "failed";
	res.exit_code = r.exit_code;
	res.reason = r.ok ? NULL : r.error ? r.error : "the agent said failed";
	res.output = r.output;
	res.output_len = r.output_len;
	res.attempts = m->attempts[idx];
	res.start_ms = msg->sent_ms;
	record(m, &res);
	run_pool_reply_clear(&r);
}

/* Bus mode, once a second: when the queue and the replies are empty but tasks that
 * were queued have no result, their agents acknowledged them without a reply (or
 * they were dead-lettered): they are sent again, or failed once out of attempts. */
static void check_lost(struct master *m, struct run_taker *rp)
{
	mst_queue_info q, r;
	size_t i, lost = 0;
	int64_t now = run_wall_ms();

	if (now - m->lost_check < 1000)
		return;
	m->lost_check = now;
	if (run_taker_pending(rp) || mst_queue_stat(m->bus, m->queue, &q) < 0 ||
	    q.ready + q.leased + q.delayed ||
	    (mst_queue_stat(m->bus, m->replies, &r) == 0 && r.ready + r.leased + r.delayed))
		return;
	for (i = 0; i < m->ts->n; i++) {
		const struct run_task *t = &m->ts->v[i];
		int retries = t->retries >= 0 ? t->retries : m->retries;

		if (m->done[i] || m->waiting[i])
			continue;
		lost++;
		if (++m->attempts[i] <= retries) {
			resend(m, i, 0);
		} else {
			struct run_result res = {.idx = i,
						 .id = t->id,
						 .status = "failed",
						 .exit_code = -1,
						 .attempts = m->attempts[i],
						 .start_ms = now,
						 .reason = "taken by an agent that acknowledged it "
							   "without a reply"};

			record(m, &res);
		}
	}
	if (lost)
		fprintf(stderr,
			"muster: run %s: %zu tasks were taken without a reply; sent again "
			"or failed\n",
			m->run, lost);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int write_meta(struct master *m, const char *state, int code)
{
	char key[MST_NAME_MAX + 1];
	char *s;
	int rc;

	json_object_set_new(m->meta, "master", json_integer(getpid()));
	json_object_set_new(m->meta, "state", json_string(state));
	if (code >= 0)
		json_object_set_new(m->meta, "exit", json_integer(code));
	s = json_dumps(m->meta, JSON_COMPACT);
	if (!s)
		return -ENOMEM;
	rc = run_name(key, sizeof key, m->run, "meta");
	if (rc == 0)
		rc = mst_kv_set(m->bus, key, s, strlen(s), NULL);
	free(s);
	return rc;
}

/* The settings of a new run, as its coordinators and any later master read them. */
static json_t *new_meta(struct master *m)
{
	const struct run_opts *o = m->o;
	json_t *j = json_object(), *cmd = json_array(), *lim = json_object();
	int i;

	for (i = 0; o->cmd[i]; i++)
		json_array_append_new(cmd, json_string(o->cmd[i]));
	json_object_set_new(j, "run", json_string(m->run));
	json_object_set_new(j, "cmd", cmd);
	json_object_set_new(j, "mode", json_string(o->mode ? o->mode : "exec"));
	json_object_set_new(j, "agents", json_integer(m->agents));
	json_object_set_new(j, "coordinators", json_integer(m->nco));
	json_object_set_new(j, "max_concurrency", json_integer(o->max_concurrency));
	json_object_set_new(j, "rate", json_real(o->rate));
	json_object_set_new(j, "total", json_integer((json_int_t)m->ts->n));
	json_object_set_new(j, "timeout_ms", json_integer(o->timeout_ms));
	json_object_set_new(j, "heartbeat_ms", json_integer(o->heartbeat_ms));
	json_object_set_new(j, "retries", json_integer(o->retries));
	json_object_set_new(lim, "mem", json_integer((json_int_t)o->mem));
	json_object_set_new(lim, "cpu_s", json_integer((json_int_t)o->cpu_s));
	json_object_set_new(lim, "nofile", json_integer((json_int_t)o->nofile));
	json_object_set_new(j, "limits", lim);
	json_object_set_new(j, "started_ms", json_integer(m->t0));
	/* the flags the run started with: its coordinators and later masters use them */
	json_object_set_new(
		j, "features",
		json_pack("{s:b, s:b, s:b, s:i}", "pooling", m->features.on[RUN_POOLING],
			  "batching", m->features.on[RUN_BATCHING], "parallel_spawn",
			  m->features.on[RUN_PARALLEL_SPAWN], "sharding", (int)m->features.shards));
	return j;
}

/* Removes the empty cgroups of this bus's runs that have no master (killed, never
 * carried on): siblings muster-RUN of the new run's, RUN a run of this bus. */
static void prune_cgroups(struct master *m)
{
	char parent[PATH_MAX], path[PATH_MAX + 300], meta[MST_NAME_MAX + 1];
	char lockname[MST_NAME_MAX + 1], run[MST_NAME_MAX + 1];
	struct dirent *e;
	char *slash, *dot;
	DIR *d;

	snprintf(parent, sizeof parent, "%s", m->cgroup);
	if (!(slash = strrchr(parent, '/')))
		return;
	*slash = 0;
	if (!(d = opendir(parent)))
		return;
	while ((e = readdir(d))) {
		const char *cg;
		json_t *o;
		mst_kv kv;
		int ours;

		/* muster-RUN.PID, whose run's description on this bus names it */
		if (strncmp(e->d_name, "muster-", 7) || !(dot = strrchr(e->d_name, '.')) ||
		    dot - e->d_name - 7 <= 0 || dot - e->d_name - 7 > MST_NAME_MAX)
			continue;
		snprintf(run, sizeof run, "%.*s", (int)(dot - e->d_name - 7), e->d_name + 7);
		snprintf(path, sizeof path, "%s/%s", parent, e->d_name);
		if (!strcmp(path, m->cgroup) || run_name(meta, sizeof meta, run, "meta") < 0 ||
		    run_name(lockname, sizeof lockname, run, "master") < 0 ||
		    mst_kv_get(m->bus, meta, &kv) < 0) /* not a run of this bus */
			continue;
		o = json_loadb(kv.value, kv.len, 0, NULL);
		mst_kv_free(&kv);
		cg = json_string_value(json_object_get(o, "cgroup"));
		ours = cg && !strcmp(cg, path);
		json_decref(o);
		if (!ours || mst_lock_held(m->bus, lockname) != 0)
			continue;
		rmdir(path); /* refused (EBUSY) while anything is in it */
	}
	closedir(d);
}

/* Writes the task list as given (BUS/runs/R/tasks), whole or not at all. */
static int save_tasks(struct master *m)
{
	char path[PATH_MAX + 8], tmp[PATH_MAX + 16];
	size_t off = 0;
	ssize_t w;
	int fd;

	if (snprintf(path, sizeof path, "%s/tasks", m->rundir) >= (int)sizeof path ||
	    snprintf(tmp, sizeof tmp, "%s/.tasks.%d", m->rundir, (int)getpid()) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	while (off < m->o->tasks_len &&
	       (w = write(fd, m->o->tasks_src + off, m->o->tasks_len - off)) > 0)
		off += (size_t)w;
	if (off < m->o->tasks_len || close(fd) < 0) {
		int e = errno ? errno : EIO;

		unlink(tmp);
		return -e;
	}
	return rename(tmp, path) < 0 ? -errno : 0;
}

/* A takeover: the run's settings and task list, from the bus. 0, 1 when the run is
 * over already, or an error. */
static int load_run(struct master *m)
{
	char key[MST_NAME_MAX + 1], path[PATH_MAX + 8], err[RUN_ERR];
	const char *cg;
	mst_kv kv;
	FILE *f;
	int rc;

	if ((rc = run_name(key, sizeof key, m->run, "meta")) < 0)
		return rc;
	if ((rc = mst_kv_get(m->bus, key, &kv)) < 0) {
		fprintf(stderr, "muster: run %s: %s\n", m->run,
			rc == MST_ENOTFOUND ? "no such run" : mst_strerror(rc));
		return rc;
	}
	m->meta = json_loadb(kv.value, kv.len, 0, NULL);
	mst_kv_free(&kv);
	if (!json_is_object(m->meta) || !json_is_integer(json_object_get(m->meta, "agents"))) {
		fprintf(stderr, "muster: run %s: its description (run.%s.meta) is damaged\n",
			m->run, m->run);
		return MST_ECORRUPT;
	}
	m->agents = (int)json_integer_value(json_object_get(m->meta, "agents"));
	m->retries = (int)json_integer_value(json_object_get(m->meta, "retries"));
	m->bus_mode = json_string_value(json_object_get(m->meta, "mode")) &&
		      !strcmp(json_string_value(json_object_get(m->meta, "mode")), "bus");
	m->nco = (int)json_integer_value(json_object_get(m->meta, "coordinators"));
	m->t0 = json_integer_value(json_object_get(m->meta, "started_ms"));
	/* the run's cgroup as its first master made it (its coordinators are in it), or
	 * a new one when that is gone */
	cg = json_string_value(json_object_get(m->meta, "cgroup"));
	if (cg && access(cg, F_OK) == 0 && strlen(cg) < sizeof m->cgroup) {
		snprintf(m->cgroup, sizeof m->cgroup, "%s", cg);
		run_cgroup_leave(m->cgroup); /* started by a coordinator: born in it */
	} else if (cg && run_cgroup_make(m->run, m->cgroup, sizeof m->cgroup) == 0)
		json_object_set_new(m->meta, "cgroup", json_string(m->cgroup));
	else
		json_object_del(m->meta, "cgroup");
	if (m->agents < 1 || m->nco < 1 || m->nco > m->agents) {
		fprintf(stderr, "muster: run %s: its description is damaged\n", m->run);
		return MST_ECORRUPT;
	}
	{
		const char *state = json_string_value(json_object_get(m->meta, "state"));

		if (state && !strcmp(state, "done"))
			return 1; /* nothing to carry on: its results are all there */
	}
	snprintf(path, sizeof path, "%s/tasks", m->rundir);
	if (!(f = fopen(path, "r"))) {
		rc = -errno;
		fprintf(stderr, "muster: run %s: cannot read its task list %s: %s\n", m->run, path,
			strerror(errno));
		return rc;
	}
	rc = run_tasks_read(&m->own, f, err, sizeof err);
	fclose(f);
	if (rc < 0 || run_tasks_check(&m->own, err, sizeof err) < 0) {
		fprintf(stderr, "muster: run %s: its task list is damaged: %s\n", m->run, err);
		return MST_ECORRUPT;
	}
	m->ts = &m->own;
	return 0;
}

/* A standby: waits for the run's master lock. 1 with the lock once the master is gone
 * (the run goes on), 0 when the run ended (*code: its exit status), or an error. */
static int stand_by(struct master *m, const char *lockname, mst_lock **lock, int *code)
{
	char key[MST_NAME_MAX + 1];
	int rc, announced = 0, waited = 0;

	run_name(key, sizeof key, m->run, "meta");
	for (;;) {
		const char *state;
		json_t *o;
		mst_kv kv;

		rc = mst_kv_get(m->bus, key, &kv);
		/* its master may be starting: a second, or ten while it holds the lock */
		if (rc == MST_ENOTFOUND &&
		    (waited++ < 10 || (waited < 100 && mst_lock_held(m->bus, lockname) == 1))) {
			usleep(100000);
			continue;
		}
		if (rc < 0) {
			fprintf(stderr, "muster: run %s: %s\n", m->run,
				rc == MST_ENOTFOUND ? "no such run" : mst_strerror(rc));
			return rc;
		}
		o = json_loadb(kv.value, kv.len, 0, NULL);
		mst_kv_free(&kv);
		state = o ? json_string_value(json_object_get(o, "state")) : NULL;
		if (state && strcmp(state, "running") && strcmp(state, "stopping")) {
			*code = (int)json_integer_value(json_object_get(o, "exit"));
			if (!m->o->quiet)
				fprintf(stderr, "muster: run %s is %s; the standby leaves\n",
					m->run, state);
			json_decref(o);
			return 0;
		}
		json_decref(o);
		if (!announced++) {
			run_proc_register(m->bus, m->run, getpid(), "standby", NULL);
			if (!m->o->quiet)
				fprintf(stderr, "muster: run %s: standing by (pid %d)\n", m->run,
					(int)getpid());
		}
		rc = mst_lock_acquire(m->bus, lockname, 500, lock);
		if (rc == 0) {
			/* the master ended after its last check, or died */
			if (mst_kv_get(m->bus, key, &kv) == 0) {
				o = json_loadb(kv.value, kv.len, 0, NULL);
				mst_kv_free(&kv);
				state = o ? json_string_value(json_object_get(o, "state")) : NULL;
				if (state && strcmp(state, "running") &&
				    strcmp(state, "stopping")) {
					*code = (int)json_integer_value(json_object_get(o, "exit"));
					json_decref(o);
					mst_lock_release(*lock);
					*lock = NULL;
					return 0;
				}
				json_decref(o);
			}
			return 1;
		}
		if (rc != MST_ETIMEOUT) {
			fprintf(stderr, "muster: run %s: waiting for its master lock: %s\n", m->run,
				mst_strerror(rc));
			return rc;
		}
	}
}

static void draw_progress(struct master *m, int last)
{
	int64_t now = run_wall_ms();
	double secs = (double)(now - m->t_start) / 1000.0, rate, eta;
	size_t total = m->ts->n, done = m->ndone, mine = done - m->nprior;
	char bar[31];
	size_t i, fill = total ? done * 30 / total : 30;

	if (!last && now - m->last_draw < PROGRESS_MS)
		return;
	m->last_draw = now;
	for (i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[30] = 0;
	rate = secs > 0 ? (double)mine / secs : 0;
	eta = rate > 0 ? (double)(total - done) / rate : 0;
	fprintf(stderr, "\r\033[K%s [%s] %zu/%zu %3.0f%%  %.0f/s  ", m->run, bar, done, total,
		total ? 100.0 * (double)done / (double)total : 100.0, rate);
	if (done < total && rate > 0)
		fprintf(stderr, "ETA %.0fs  ", eta);
	else if (done < total)
		fprintf(stderr, "ETA -  ");
	if (done - m->nok)
		fprintf(stderr, "failed %zu", done - m->nok);
	if (last)
		fprintf(stderr, "\r\033[K");
	fflush(stderr);
}

/* Makes the dependency graph of the task list. */
static int make_graph(struct master *m)
{
	const struct run_tasks *ts = m->ts;
	size_t i, j;

	m->done = calloc(ts->n + 1, 1);
	m->waiting = calloc(ts->n + 1, sizeof *m->waiting);
	m->dependents = calloc(ts->n + 1, sizeof *m->dependents);
	m->ndependents = calloc(ts->n + 1, sizeof *m->ndependents);
	m->dur_ms = calloc(ts->n + 1, sizeof *m->dur_ms);
	if (!m->done || !m->waiting || !m->dependents || !m->ndependents || !m->dur_ms)
		return -ENOMEM;
	for (i = 0; i < ts->n; i++)
		for (j = 0; j < ts->v[i].ndeps; j++)
			m->ndependents[ts->v[i].dep_idx[j]]++;
	for (i = 0; i < ts->n; i++) {
		if (m->ndependents[i] &&
		    !(m->dependents[i] = malloc(m->ndependents[i] * sizeof **m->dependents)))
			return -ENOMEM;
		m->ndependents[i] = 0;
	}
	for (i = 0; i < ts->n; i++) {
		m->waiting[i] = ts->v[i].ndeps;
		for (j = 0; j < ts->v[i].ndeps; j++) {
			size_t d = ts->v[i].dep_idx[j];

			m->dependents[d][m->ndependents[d]++] = i;
		}
	}
	return 0;
}

static void summarize(struct master *m, int64_t t_end, struct run_summary *sum)
{
	const struct run_tasks *ts = m->ts;
	struct run_summary s = {0};
	double *d = malloc((ts->n + 1) * sizeof *d), busy = 0;
	size_t i, nd = 0;

	for (i = 0; i < ts->n; i++)
		if (m->done[i]) {
			if (d)
				d[nd++] = m->dur_ms[i];
			busy += m->dur_ms[i];
		}
	if (d && nd) {
		qsort(d, nd, sizeof *d, cmp_double);
		s.p50_ms = d[nd / 2];
		s.p99_ms = d[(nd * 99) / 100 < nd ? (nd * 99) / 100 : nd - 1];
	}
	free(d);
	s.total = ts->n;
	s.ok = m->nok;
	s.failed = m->ndone - m->nok;
	s.seconds = (double)(t_end - m->t0) / 1000.0;
	{
		/* the wall time of a perfect scheduler: the agents' time spread over the
		 * agents; the rest is coordination (and waiting on deps) */
		int par = m->agents < (int)ts->n ? m->agents : (int)ts->n;
		double ideal = par > 0 ? busy / 1000.0 / par : 0;

		s.overhead_pct = s.seconds > 0 && ideal < s.seconds
					 ? 100.0 * (s.seconds - ideal) / s.seconds
					 : 0;
	}
	s.coordinators_lost = m->lost;
	if (sum)
		*sum = s;
	if (!m->o->quiet && m->bus_mode) {
		/* bus agents report no durations: no agent time, no overhead */
		fprintf(stderr,
			"muster: run %s: %zu tasks: %zu ok, %zu failed, %zu not run; "
			"delivery %.3f%%; %.3f s; coordinators replaced %d\n",
			m->run, s.total, s.ok, s.failed, s.total - m->ndone,
			s.total ? 100.0 * (double)m->ndone / (double)s.total : 100.0, s.seconds,
			s.coordinators_lost);
	} else if (!m->o->quiet) {
		fprintf(stderr,
			"muster: run %s: %zu tasks: %zu ok, %zu failed, %zu not run; "
			"delivery %.3f%%; %.3f s; agent time p50 %.1f ms, p99 %.1f ms; "
			"coordination overhead %.1f%%; coordinators replaced %d\n",
			m->run, s.total, s.ok, s.failed, s.total - m->ndone,
			s.total ? 100.0 * (double)m->ndone / (double)s.total : 100.0, s.seconds,
			s.p50_ms, s.p99_ms, s.overhead_pct, s.coordinators_lost);
	}
	if (!m->o->quiet && m->ndone < s.total)
		fprintf(stderr,
			"muster: run %s: stopped; carry it on with: muster run --resume %s\n",
			m->run, m->run);
}

/* Waits (up to a minute) until n agents of the run are registered: pool agents are
 * long-lived, and a warm start times the tasks only. */
static int wait_agents(struct master *m, int n)
{
	static const char role[] = "\"role\":\"worker\"";
	char prefix[MST_NAME_MAX + 1];
	int64_t t0 = run_wall_ms();
	int rc;

	if ((rc = run_proc_key(prefix, sizeof prefix, m->run, 0)) < 0)
		return rc;
	while (run_wall_ms() - t0 < 60000) {
		mst_kv *kv;
		size_t k, cnt, workers = 0;

		if ((rc = mst_kv_list(m->bus, prefix, &kv, &cnt)) < 0)
			return rc;
		for (k = 0; k < cnt; k++)
			workers += memmem(kv[k].value, kv[k].len, role, sizeof role - 1) != NULL;
		mst_kv_list_free(kv, cnt);
		if (workers >= (size_t)n)
			return 0;
		usleep(2000);
	}
	return MST_ETIMEOUT;
}

static int live_coordinators(const struct master *m)
{
	int k, n = 0;

	for (k = 0; k < m->nco; k++)
		n += m->co[k].pid > 0;
	return n;
}

/* A stop: drain (coordinators take no more tasks and finish theirs) or now (their
 * agents are killed; their tasks stay queued for --resume). */
static void stop_run(struct master *m, int how)
{
	int k;

	if (how <= m->stopping)
		return;
	m->stopping = how;
	write_meta(m, "stopping", -1);
	for (k = 0; k < m->nco; k++)
		if (m->co[k].pid > 0)
			kill(m->co[k].pid, how == 2 ? SIGINT : SIGTERM);
}

int run_master(mst_bus *bus, const struct run_tasks *ts, const struct run_opts *o,
	       struct run_summary *sum)
{
	struct master m = {.bus = bus, .ts = ts, .o = o, .ep = -1};
	struct follower f = {.efd = -1};
	struct run_taker rp = {.efd = -1}; /* bus mode: takes the agents' replies */
	char lockname[MST_NAME_MAX + 1];
	struct epoll_event evs[64], ev;
	mst_lock *lock = NULL;
	sigset_t sigs, old_mask;
	pthread_t th;
	size_t i;
	int sfd = -1, rc = 0, started = 0, follower = 0, n, k, slots_left, takeover;
	int masked = 0, was_subreaper = 0;
	int64_t t_end;

	takeover = o->standby || o->resume;
	m.t0 = m.t_start = run_wall_ms();
	if (o->run)
		snprintf(m.run, sizeof m.run, "%s", o->run);
	else
		snprintf(m.run, sizeof m.run, "r%lld-%d", (long long)(m.t0 / 1000), (int)getpid());
	if ((rc = run_name(m.queue, sizeof m.queue, m.run, "tasks")) < 0 ||
	    (rc = run_name(lockname, sizeof lockname, m.run, "master")) < 0 ||
	    (rc = run_name(f.topic, sizeof f.topic, m.run, "results")) < 0 ||
	    (rc = run_dir(m.rundir, sizeof m.rundir, o->bus_dir, m.run)) < 0) {
		fprintf(stderr, "muster: run: invalid run name '%s'\n", m.run);
		return rc;
	}
	if (o->standby) {
		int code = 0;

		rc = stand_by(&m, lockname, &lock, &code);
		if (rc <= 0) {
			run_proc_unregister(bus, m.run, getpid());
			return rc < 0 ? rc : code;
		}
	} else {
		rc = mst_lock_acquire(bus, lockname, 0, &lock);
		if (rc < 0) {
			fprintf(stderr, "muster: run %s: %s\n", m.run,
				rc == MST_EBUSY ? "already has a live master (muster run --standby "
						  "carries it on if it dies)"
						: mst_strerror(rc));
			return rc;
		}
	}
	if (takeover) {
		if ((rc = load_run(&m)) < 0)
			goto out;
		if (rc == 1) { /* over: its results, and the status it ended with */
			rc = print_results(&m);
			if (rc == 0)
				rc = (int)json_integer_value(json_object_get(m.meta, "exit"));
			goto out;
		}
		ts = m.ts;
		if (o->resume) { /* a run resumed by hand is not paused any more */
			char key[MST_NAME_MAX + 1];

			if (run_name(key, sizeof key, m.run, "ctl") == 0)
				mst_kv_del(bus, key);
		}
	} else {
		/* a run name is used once: its results would mix with the old ones */
		char key[MST_NAME_MAX + 1];
		mst_kv kv;

		run_name(key, sizeof key, m.run, "meta");
		if (mst_kv_get(bus, key, &kv) == 0) {
			mst_kv_free(&kv);
			fprintf(stderr,
				"muster: run %s exists already (muster results %s; muster run "
				"--resume "
				"%s)\n",
				m.run, m.run, m.run);
			rc = MST_ECONFLICT;
			goto out;
		}
		/* every task must fit in a message of the bus, as it travels (JSON) */
		for (i = 0; i < ts->n; i++) {
			char *enc = run_task_encode(&ts->v[i], i);
			size_t len = enc ? strlen(enc) : 0;

			free(enc);
			if (!enc) {
				rc = -ENOMEM;
				goto out;
			}
			if (len > mst_bus_payload_max(bus)) {
				fprintf(stderr,
					"muster: run %s: task %s is too large: its payload of %zu "
					"bytes "
					"takes %zu as a message, over the bus's %zu "
					"(MUSTER_PAYLOAD_MAX)\n",
					m.run, ts->v[i].id, ts->v[i].len, len,
					mst_bus_payload_max(bus));
				rc = MST_ETOOBIG;
				goto out;
			}
		}
		m.agents = o->agents;
		m.retries = o->retries;
		m.bus_mode = o->mode && !strcmp(o->mode, "bus");
		if (run_features_load(&m.features) < 0) {
			fprintf(stderr, "muster: run %s: %s\n", m.run, m.features.err);
			rc = MST_EINVAL;
			goto out;
		}
		if (o->mode && !strcmp(o->mode, "pool") && !m.features.on[RUN_POOLING]) {
			fprintf(stderr,
				"muster: run %s: --mode pool is turned off (feature pooling: %s)\n",
				m.run, m.features.source[RUN_POOLING]);
			rc = MST_EINVAL;
			goto out;
		}
		m.nco = o->coordinators > 0		    ? o->coordinators
			: m.features.on[RUN_PARALLEL_SPAWN] ? default_coordinators(o->agents)
							    : 1;
		if (m.nco > o->agents)
			m.nco = o->agents;
		if (m.nco < 1)
			m.nco = 1;
		if (!(m.meta = new_meta(&m))) {
			rc = -ENOMEM;
			goto out;
		}
		if (run_cgroup_make(m.run, m.cgroup, sizeof m.cgroup) == 0) {
			json_object_set_new(m.meta, "cgroup", json_string(m.cgroup));
			prune_cgroups(&m);
		}
		{
			char runs[PATH_MAX];

			snprintf(runs, sizeof runs, "%s/runs", o->bus_dir);
			if ((mkdir(runs, 0700) < 0 && errno != EEXIST) ||
			    (mkdir(m.rundir, 0700) < 0 && errno != EEXIST) ||
			    (rc = save_tasks(&m)) < 0) {
				rc = rc ? rc : -errno;
				fprintf(stderr, "muster: run %s: cannot write to %s: %s\n", m.run,
					m.rundir, strerror(-rc));
				goto out;
			}
		}
	}
	if ((rc = make_graph(&m)) < 0 || (m.bus_mode && (rc = index_ids(&m)) < 0) ||
	    (rc = run_name(m.replies, sizeof m.replies, m.run, "replies")) < 0)
		goto out;
	m.co = calloc((size_t)m.nco, sizeof *m.co);
	if (!m.co) {
		rc = -ENOMEM;
		goto out;
	}
	for (k = 0; k < m.nco; k++)
		m.co[k].pidfd = -1;
	/* the loop's files, before any coordinator is watched */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGCHLD);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	/* both given back at the end, for callers that go on (muster validate) */
	masked = pthread_sigmask(SIG_BLOCK, &sigs, &old_mask) == 0;
	prctl(PR_GET_CHILD_SUBREAPER, &was_subreaper);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	m.ep = epoll_create1(EPOLL_CLOEXEC);
	f.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sfd < 0 || m.ep < 0 || f.efd < 0) {
		rc = -errno;
		goto out;
	}
	ev.events = EPOLLIN;
	ev.data.u64 = EV_SIGNAL;
	epoll_ctl(m.ep, EPOLL_CTL_ADD, sfd, &ev);
	ev.data.u64 = EV_FOLLOW;
	epoll_ctl(m.ep, EPOLL_CTL_ADD, f.efd, &ev);

	{
		/* bus mode: the agents hold the leases; a task's lease is its timeout, and
		 * one that keeps timing out goes to the dead letters (then counts as lost) */
		int64_t lease = 24LL * 3600 * 1000;
		json_int_t tmo = json_integer_value(json_object_get(m.meta, "timeout_ms"));
		uint32_t max_att = 1000000;

		if (m.bus_mode && tmo > 0)
			lease = tmo;
		if (m.bus_mode)
			max_att = (uint32_t)m.retries + 1;
		if ((rc = write_meta(&m, "running", -1)) == 0)
			rc = mst_queue_config(bus, m.queue, max_att, lease, NULL);
	}
	if (rc < 0) {
		fprintf(stderr, "muster: run %s: %s\n", m.run, mst_strerror(rc));
		goto out;
	}
	run_proc_unregister(bus, m.run, getpid()); /* as a standby */
	run_proc_register(bus, m.run, getpid(), "master", NULL);
	started = 1;
	if (takeover) {
		adopt_coordinators(&m);
		m.loading = 1;
		rc = catch_up(&m);
		m.loading = 0;
		if (m.o->results)
			fflush(m.o->results);
		m.nprior = m.ndone;
		if (rc < 0) {
			fprintf(stderr, "muster: run %s: cannot read its results: %s\n", m.run,
				mst_strerror(rc));
			goto out;
		}
		if (!o->quiet)
			fprintf(stderr,
				"muster: run %s: master %d carries the run on: %zu of %zu tasks "
				"done, "
				"%d coordinators adopted\n",
				m.run, (int)getpid(), m.ndone, ts->n, live_coordinators(&m));
	}
	if (!o->warm && (rc = release_ready(&m)) < 0) {
		fprintf(stderr, "muster: run %s: cannot queue the tasks: %s\n", m.run,
			mst_strerror(rc));
		goto out;
	}
	if (takeover) { /* when the run was carried on (muster validate measures it) */
		json_object_set_new(m.meta, "takeover_ms", json_integer(run_wall_ms()));
		write_meta(&m, "running", -1);
	}

	pthread_mutex_init(&f.mu, NULL);
	f.dir = o->bus_dir;
	if ((rc = pthread_create(&th, NULL, follower_main, &f))) {
		rc = -rc;
		goto out;
	}
	follower = 1;
	if (m.bus_mode) {
		if ((rc = run_taker_start(&rp, o->bus_dir, m.replies, -1)) < 0)
			goto out;
		ev.events = EPOLLIN;
		ev.data.u64 = EV_REPLY;
		if (epoll_ctl(m.ep, EPOLL_CTL_ADD, rp.efd, &ev) < 0) {
			rc = -errno;
			goto out;
		}
	}
	slots_left = m.agents;
	{
		/* the run's concurrency cap, shared out in proportion to the slots: the
		 * shares add up to it exactly (adopted coordinators keep theirs) */
		int mc = (int)json_integer_value(json_object_get(m.meta, "max_concurrency"));
		int cap_left = mc > 0 && mc < m.agents ? mc : m.agents, firsts = 0;

		for (k = 0; k < m.nco; k++)
			if (m.co[k].pid > 0) {
				slots_left -= m.co[k].slots;
				cap_left -=
					m.co[k].cap < m.co[k].slots ? m.co[k].cap : m.co[k].slots;
			}
		n = m.nco - live_coordinators(&m);
		for (k = 0; k < m.nco && ts->n > m.ndone; k++) {
			if (m.co[k].pid > 0)
				continue;
			m.co[k].slots = slots_left > 0 ? (slots_left + n - 1) / n : 1;
			m.co[k].cap = cap_left > 0 ? (cap_left + n - 1) / n : 0;
			if (m.co[k].cap > m.co[k].slots)
				m.co[k].cap = m.co[k].slots;
			m.co[k].first = !firsts++;
			slots_left -= m.co[k].slots;
			cap_left -= m.co[k].cap;
			n--;
			start_coordinator(&m, k);
		}
	}
	if (o->warm) {
		/* the agents first, then the tasks, which are timed from then on */
		if ((rc = wait_agents(&m, m.agents)) < 0 || (rc = release_ready(&m)) < 0) {
			fprintf(stderr, "muster: run %s: cannot start: %s\n", m.run,
				mst_strerror(rc));
			stop_run(&m, 2);
		}
		m.t0 = m.t_start = run_wall_ms();
	}
	m.progress = o->progress;
	while (m.ndone < ts->n && !(m.stopping && live_coordinators(&m) == 0)) {
		n = epoll_wait(m.ep, evs, 64, m.progress ? PROGRESS_MS : m.bus_mode ? 1000 : -1);
		for (k = 0; k < n; k++) {
			uint64_t d = evs[k].data.u64;

			if (d == EV_SIGNAL) {
				struct signalfd_siginfo si;
				int st;
				pid_t pid;

				while (read(sfd, &si, sizeof si) == sizeof si) {
					if (si.ssi_signo == SIGCHLD)
						continue;
					if (!m.status && si.ssi_signo != SIGTERM)
						m.status = 128 + (int)si.ssi_signo;
					stop_run(&m, si.ssi_signo == SIGTERM ? 1 : 2);
				}
				while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
					on_child(&m, pid, st);
			} else if (d == EV_FOLLOW) {
				char **q;
				size_t qn;
				uint64_t v;

				if (read(f.efd, &v, sizeof v) < 0 && errno != EAGAIN)
					break;
				pthread_mutex_lock(&f.mu);
				q = f.q;
				qn = f.qn;
				f.q = NULL;
				f.qn = f.qcap = 0;
				pthread_mutex_unlock(&f.mu);
				for (i = 0; i < qn; i++) {
					if (q[i])
						on_result(&m, q[i], strlen(q[i]));
					free(q[i]);
				}
				free(q);
				if (f.err) {
					fprintf(stderr, "muster: run %s: following results: %s\n",
						m.run, mst_strerror(f.err));
					m.status = 111;
					stop_run(&m, 2);
				}
			} else if (d == EV_REPLY) {
				uint64_t *ids;
				size_t qn;
				mst_msg *q = run_taker_take(&rp, &qn);

				ids = malloc((qn + 1) * sizeof *ids);
				for (i = 0; i < qn; i++) {
					on_reply(&m, &q[i]);
					if (ids)
						ids[i] = q[i].id;
					mst_msg_free(&q[i]);
				}
				/* handled: a reply is recorded before it is acknowledged */
				if (ids && qn)
					mst_settle_batch(bus, MST_SETTLE_ACK, ids, qn, 0, NULL);
				free(ids);
				free(q);
				if (rp.err) {
					fprintf(stderr, "muster: run %s: taking replies: %s\n",
						m.run, mst_strerror(rp.err));
					m.status = 111;
					stop_run(&m, 2);
				}
			} else if (d >= EV_COORD && d - EV_COORD < (uint64_t)m.nco) {
				int c = (int)(d - EV_COORD);

				/* a child is reaped (and handled) through SIGCHLD */
				if (m.co[c].pid > 0 && !m.co[c].child)
					coordinator_gone(&m, c, -1);
			}
		}
		if (m.bus_mode && !m.stopping)
			check_lost(&m, &rp);
		if (m.progress)
			draw_progress(&m, 0);
	}
	t_end = run_wall_ms();
	m.finished = 1;
	__atomic_store_n(&f.stop, 1, __ATOMIC_SEQ_CST);
	/* wakes the follower now rather than at the end of its wait */
	mst_publish(bus, f.topic, "{\"end\":true}", 12, NULL);
	/* the end: coordinators stop (at once when interrupted: their agents die) */
	for (k = 0; k < m.nco; k++)
		if (m.co[k].pid > 0)
			kill(m.co[k].pid, m.stopping == 2 ? SIGINT : SIGTERM);
	for (k = 0; k < m.nco; k++) {
		int st;

		if (m.co[k].pid <= 0)
			continue;
		if (m.co[k].child) {
			waitpid(m.co[k].pid, &st, 0);
		} else if (m.co[k].pidfd >= 0) {
			/* not ours to wait for: its pidfd says when it is gone */
			struct pollfd p = {.fd = m.co[k].pidfd, .events = POLLIN};

			while (poll(&p, 1, -1) < 0 && errno == EINTR)
				;
		}
		run_proc_unregister(bus, m.run, m.co[k].pid);
		unwatch_coordinator(&m, k);
	}
	pthread_join(th, NULL);
	follower = 0;
	for (i = 0; i < f.qn; i++) {
		if (f.q[i])
			on_result(&m, f.q[i], strlen(f.q[i]));
		free(f.q[i]);
	}
	free(f.q);
	f.q = NULL;
	f.qn = 0;
	catch_up(&m); /* results recorded but not published, or not followed yet */
	if (m.stopping)
		kill_stray_workers(&m, 0);
	/* whatever is left of the run (agents that left their process group) */
	run_cgroup_kill(m.cgroup, 1);
	if (m.progress)
		draw_progress(&m, 1);
	summarize(&m, m.ndone == ts->n ? t_end : run_wall_ms(), sum);
	rc = m.status ? m.status : m.nok == ts->n ? 0 : 1;
	write_meta(&m, m.ndone == ts->n ? "done" : "stopped", rc);
	if (m.ndone == ts->n) {
		char path[PATH_MAX + 8];

		snprintf(path, sizeof path, "%s/tasks", m.rundir);
		unlink(path);
		rmdir(m.rundir);
	}
out:
	run_taker_stop(&rp);
	for (i = 0; i < rp.qn; i++) /* not handled: they come back to whoever follows */
		mst_msg_free(&rp.q[i]);
	free(rp.q);
	if (follower) {
		__atomic_store_n(&f.stop, 1, __ATOMIC_SEQ_CST);
		pthread_join(th, NULL);
		for (i = 0; i < f.qn; i++)
			free(f.q[i]);
		free(f.q);
	}
	if (started)
		run_proc_unregister(bus, m.run, getpid());
	if (m.ep >= 0)
		close(m.ep);
	if (sfd >= 0)
		close(sfd);
	if (f.efd >= 0)
		close(f.efd);
	for (i = 0; m.dependents && i < ts->n; i++)
		free(m.dependents[i]);
	free(m.dependents);
	free(m.ndependents);
	free(m.waiting);
	free(m.done);
	free(m.dur_ms);
	free(m.co);
	free(m.attempts);
	free(m.by_id);
	json_decref(m.meta);
	run_tasks_free(&m.own);
	mst_lock_release(lock);
	if (masked) {
		prctl(PR_SET_CHILD_SUBREAPER, was_subreaper);
		pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	}
	return rc;
}
