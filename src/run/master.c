/*
 * master.c - the master of a run: it puts the tasks on the run's queue (a task whose
 * dependencies are not done yet waits in the master), starts the coordinators and
 * replaces any that dies, adopts the agents of a dead coordinator (as their
 * subreaper) and records their results, follows the results topic, and ends the run
 * when every task has a result.
 *
 * Its loop (epoll) watches a signalfd (SIGCHLD and the stop signals) and an eventfd
 * from the follower thread, which sleeps in mst_subscribe on run.R.results with its
 * own bus handle. Results are counted once per task index, whatever the number of
 * times they are published.
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
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEND_CHUNK 1000
#define FOLLOW_MAX 256

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
	int slots;
};

struct master {
	mst_bus *bus;
	const struct run_tasks *ts;
	const struct run_opts *o;
	char run[RUN_ID_MAX + 1];
	char queue[MST_NAME_MAX + 1];
	char rundir[PATH_MAX];
	unsigned char *done; /* per task: 0, 1 ok, 2 not ok */
	size_t *waiting;     /* per task: dependencies not done yet */
	size_t **dependents; /* per task: the tasks that depend on it */
	size_t *ndependents;
	size_t ndone, nok;
	double *dur_ms;
	struct coordinator *co;
	int nco, lost, finished;
	int64_t t0;
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

/* Sends the tasks of idx[0..n-1] to the queue, in chunks, by priority. */
static int enqueue(struct master *m, const size_t *idx, size_t n)
{
	mst_buf *bufs = calloc(n ? n : 1, sizeof *bufs);
	size_t i, k, cnt;
	int prio, rc = 0;

	if (!bufs)
		return -ENOMEM;
	for (prio = 9; prio >= 0 && rc == 0; prio--) {
		mst_send_opts so = {.priority = prio};

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
			if (++cnt == SEND_CHUNK || i + 1 == n) {
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
	return rc;
}

static pid_t start_coordinator(struct master *m, int slots)
{
	char sl[16], *argv[8];
	pid_t pid;
	int rc;

	snprintf(sl, sizeof sl, "%d", slots);
	argv[0] = "muster";
	argv[1] = "--bus";
	argv[2] = (char *)m->o->bus_dir;
	argv[3] = "__coordinator";
	argv[4] = m->run;
	argv[5] = sl;
	argv[6] = NULL;
	rc = posix_spawn(&pid, m->o->self, NULL, NULL, argv, environ);
	if (rc) {
		fprintf(stderr, "muster: run %s: cannot start a coordinator: %s\n", m->run,
			strerror(rc));
		return -1;
	}
	return pid;
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

/* A result arrived (JSON line): count it once, print it, release or skip what
 * depends on it. */
static void on_result(struct master *m, const char *line)
{
	json_t *o = json_loads(line, 0, NULL);
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
		fputs(line, m->o->results);
		fputc('\n', m->o->results);
		fflush(m->o->results);
	}
	if (m->ndependents[idx])
		ready = malloc(m->ndependents[idx] * sizeof *ready);
	for (i = 0; i < m->ndependents[idx]; i++) {
		size_t d = m->dependents[idx][i];
		const struct run_task *t = &m->ts->v[d];

		if (m->done[d] || m->waiting[d] == 0)
			continue; /* skipped already by another failed dependency */
		if (!ok) {
			char reason[512];
			struct run_result r = {.idx = d, .id = t->id, .status = "skipped",
					       .exit_code = -1, .reason = reason,
					       .start_ms = run_wall_ms()};

			snprintf(reason, sizeof reason, "dependency %s did not succeed",
				 m->ts->v[idx].id);
			m->waiting[d] = 0;
			record(m, &r);
		} else if (--m->waiting[d] == 0 && ready) {
			ready[nready++] = d;
		}
	}
	if (nready && enqueue(m, ready, nready) < 0)
		fprintf(stderr, "muster: run %s: cannot queue tasks\n", m->run);
	free(ready);
}

/* An agent whose coordinator died ended: the master is its subreaper. Its task was
 * redelivered when the coordinator died; this result counts if it comes first. */
static void on_orphan(struct master *m, pid_t pid, int st)
{
	char key[MST_NAME_MAX + 1], path[PATH_MAX], reason[128];
	struct run_result r = {0};
	char *out = NULL, *err = NULL;
	json_t *o = NULL;
	mst_kv kv;
	int trunc = 0, etrunc = 0, attempt;

	if (run_name(key, sizeof key, m->run, "proc.%d", (int)pid) < 0 ||
	    mst_kv_get(m->bus, key, &kv) < 0)
		return;
	o = json_loadb(kv.value, kv.len, 0, NULL);
	mst_kv_free(&kv);
	kill(-pid, SIGKILL);
	if (!o || !json_is_integer(json_object_get(o, "n")))
		goto out;
	r.idx = (size_t)json_integer_value(json_object_get(o, "n"));
	attempt = (int)json_integer_value(json_object_get(o, "attempt"));
	if (r.idx >= m->ts->n || m->done[r.idx])
		goto out;
	/* a failure is not recorded: the redelivered task has its own attempts */
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		goto out;
	r.id = m->ts->v[r.idx].id;
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
	if (run_out_path(path, sizeof path, m->rundir, r.idx, attempt, "out") == 0)
		out = run_read_file(path, 128 << 10, 0, &r.output_len, &trunc);
	if (run_out_path(path, sizeof path, m->rundir, r.idx, attempt, "err") == 0)
		err = run_read_file(path, 4 << 10, 1, &r.err_len, &etrunc);
	r.output = out;
	r.output_truncated = trunc;
	r.err = err;
	record(m, &r);
out:
	if (o) {
		if (run_out_path(path, sizeof path, m->rundir,
				 (size_t)json_integer_value(json_object_get(o, "n")),
				 (int)json_integer_value(json_object_get(o, "attempt")), "out") == 0)
			unlink(path);
		if (run_out_path(path, sizeof path, m->rundir,
				 (size_t)json_integer_value(json_object_get(o, "n")),
				 (int)json_integer_value(json_object_get(o, "attempt")), "err") == 0)
			unlink(path);
	}
	json_decref(o);
	free(out);
	free(err);
	mst_kv_del(m->bus, key);
}

static void on_child(struct master *m, pid_t pid, int st)
{
	int i;

	for (i = 0; i < m->nco; i++) {
		if (m->co[i].pid != pid)
			continue;
		m->co[i].pid = 0;
		run_proc_unregister(m->bus, m->run, pid);
		if (m->finished)
			return;
		m->lost++;
		if (!m->o->quiet)
			fprintf(stderr, "muster: run %s: coordinator %d %s %d; starting another\n",
				m->run, (int)pid, WIFSIGNALED(st) ? "killed by signal" : "exited with",
				WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
		m->co[i].pid = start_coordinator(m, m->co[i].slots);
		return;
	}
	on_orphan(m, pid, st);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int write_meta(struct master *m, const char *state)
{
	char key[MST_NAME_MAX + 1];
	json_t *o = json_object(), *cmd = json_array();
	char *s;
	int i, rc;

	for (i = 0; m->o->cmd[i]; i++)
		json_array_append_new(cmd, json_string(m->o->cmd[i]));
	json_object_set_new(o, "run", json_string(m->run));
	json_object_set_new(o, "cmd", cmd);
	json_object_set_new(o, "mode", json_string("exec"));
	json_object_set_new(o, "agents", json_integer(m->o->agents));
	json_object_set_new(o, "coordinators", json_integer(m->nco));
	json_object_set_new(o, "total", json_integer((json_int_t)m->ts->n));
	json_object_set_new(o, "timeout_ms", json_integer(m->o->timeout_ms));
	json_object_set_new(o, "retries", json_integer(m->o->retries));
	json_object_set_new(o, "master", json_integer(getpid()));
	json_object_set_new(o, "state", json_string(state));
	json_object_set_new(o, "started_ms", json_integer(m->t0));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		return -ENOMEM;
	rc = run_name(key, sizeof key, m->run, "meta");
	if (rc == 0)
		rc = mst_kv_set(m->bus, key, s, strlen(s), NULL);
	free(s);
	return rc;
}

int run_master(mst_bus *bus, const struct run_tasks *ts, const struct run_opts *o,
	       struct run_summary *sum)
{
	struct master m = {.bus = bus, .ts = ts, .o = o};
	struct follower f = {.efd = -1};
	char lockname[MST_NAME_MAX + 1];
	struct epoll_event evs[16], ev;
	mst_lock *lock = NULL;
	sigset_t sigs;
	pthread_t th;
	size_t i, j, *first = NULL, nfirst = 0;
	int ep = -1, sfd = -1, rc = 0, status = 0, started = 0, n, k, slots_left;
	int64_t t_end;

	m.t0 = run_wall_ms();
	if (o->run)
		snprintf(m.run, sizeof m.run, "%s", o->run);
	else
		snprintf(m.run, sizeof m.run, "r%lld-%d", (long long)(m.t0 / 1000), (int)getpid());
	if ((rc = run_name(m.queue, sizeof m.queue, m.run, "tasks")) < 0 ||
	    (rc = run_name(lockname, sizeof lockname, m.run, "master")) < 0 ||
	    (rc = run_name(f.topic, sizeof f.topic, m.run, "results")) < 0) {
		fprintf(stderr, "muster: run: invalid run name '%s'\n", m.run);
		return rc;
	}
	rc = mst_lock_acquire(bus, lockname, 0, &lock);
	if (rc < 0) {
		fprintf(stderr, "muster: run %s: %s\n", m.run,
			rc == MST_EBUSY ? "already has a master" : mst_strerror(rc));
		return rc;
	}
	/* a run name is used once: its results would mix with the old ones */
	{
		char key[MST_NAME_MAX + 1];
		mst_kv kv;

		run_name(key, sizeof key, m.run, "meta");
		if (mst_kv_get(bus, key, &kv) == 0) {
			mst_kv_free(&kv);
			fprintf(stderr, "muster: run %s exists already (muster results %s)\n", m.run,
				m.run);
			mst_lock_release(lock);
			return MST_ECONFLICT;
		}
	}
	snprintf(m.rundir, sizeof m.rundir, "%s/runs", o->bus_dir);
	if ((mkdir(m.rundir, 0700) < 0 && errno != EEXIST) ||
	    run_dir(m.rundir, sizeof m.rundir, o->bus_dir, m.run) < 0 ||
	    (mkdir(m.rundir, 0700) < 0 && errno != EEXIST)) {
		rc = -errno;
		fprintf(stderr, "muster: run %s: cannot make %s: %s\n", m.run, m.rundir,
			strerror(errno));
		mst_lock_release(lock);
		return rc;
	}

	/* the dependency graph */
	m.done = calloc(ts->n + 1, 1);
	m.waiting = calloc(ts->n + 1, sizeof *m.waiting);
	m.dependents = calloc(ts->n + 1, sizeof *m.dependents);
	m.ndependents = calloc(ts->n + 1, sizeof *m.ndependents);
	m.dur_ms = calloc(ts->n + 1, sizeof *m.dur_ms);
	first = calloc(ts->n + 1, sizeof *first);
	if (!m.done || !m.waiting || !m.dependents || !m.ndependents || !m.dur_ms || !first) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < ts->n; i++)
		for (j = 0; j < ts->v[i].ndeps; j++)
			m.ndependents[ts->v[i].dep_idx[j]]++;
	for (i = 0; i < ts->n; i++) {
		if (m.ndependents[i] &&
		    !(m.dependents[i] = malloc(m.ndependents[i] * sizeof **m.dependents))) {
			rc = -ENOMEM;
			goto out;
		}
		m.ndependents[i] = 0;
	}
	for (i = 0; i < ts->n; i++) {
		m.waiting[i] = ts->v[i].ndeps;
		for (j = 0; j < ts->v[i].ndeps; j++) {
			size_t d = ts->v[i].dep_idx[j];

			m.dependents[d][m.ndependents[d]++] = i;
		}
		if (!ts->v[i].ndeps)
			first[nfirst++] = i;
	}

	m.nco = o->coordinators > 0 ? o->coordinators : (o->agents + 249) / 250;
	if (m.nco > o->agents)
		m.nco = o->agents;
	if (m.nco < 1)
		m.nco = 1;
	m.co = calloc((size_t)m.nco, sizeof *m.co);
	if (!m.co) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = write_meta(&m, "running")) < 0 ||
	    (rc = mst_queue_config(bus, m.queue, 1000000, 24LL * 3600 * 1000, NULL)) < 0) {
		fprintf(stderr, "muster: run %s: %s\n", m.run, mst_strerror(rc));
		goto out;
	}
	run_proc_register(bus, m.run, getpid(), "master", NULL);
	started = 1;
	if ((rc = enqueue(&m, first, nfirst)) < 0) {
		fprintf(stderr, "muster: run %s: cannot queue the tasks: %s\n", m.run,
			mst_strerror(rc));
		goto out;
	}

	/* signals and the loop */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGCHLD);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	ep = epoll_create1(EPOLL_CLOEXEC);
	f.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sfd < 0 || ep < 0 || f.efd < 0) {
		rc = -errno;
		goto out;
	}
	ev.events = EPOLLIN;
	ev.data.u64 = 1;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	ev.data.u64 = 2;
	epoll_ctl(ep, EPOLL_CTL_ADD, f.efd, &ev);
	pthread_mutex_init(&f.mu, NULL);
	f.dir = o->bus_dir;
	if ((rc = pthread_create(&th, NULL, follower_main, &f))) {
		rc = -rc;
		goto out;
	}
	slots_left = o->agents;
	for (k = 0; k < m.nco; k++) {
		m.co[k].slots = slots_left / (m.nco - k);
		slots_left -= m.co[k].slots;
		m.co[k].pid = start_coordinator(&m, m.co[k].slots);
	}
	while (m.ndone < ts->n || ts->n == 0) {
		if (ts->n == 0)
			break;
		n = epoll_wait(ep, evs, 16, -1);
		for (k = 0; k < n; k++) {
			if (evs[k].data.u64 == 1) {
				struct signalfd_siginfo si;
				int st;
				pid_t pid;

				while (read(sfd, &si, sizeof si) == sizeof si)
					if (si.ssi_signo != SIGCHLD && !status)
						status = 128 + (int)si.ssi_signo;
				while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
					on_child(&m, pid, st);
			} else {
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
						on_result(&m, q[i]);
					free(q[i]);
				}
				free(q);
				if (f.err) {
					fprintf(stderr, "muster: run %s: following results: %s\n",
						m.run, mst_strerror(f.err));
					status = 111;
				}
			}
		}
		if (status)
			break;
	}
	t_end = run_wall_ms();
	m.finished = 1;
	__atomic_store_n(&f.stop, 1, __ATOMIC_SEQ_CST);
	/* wakes the follower now rather than at the end of its wait */
	mst_publish(bus, f.topic, "{\"end\":true}", 12, NULL);
	/* the end: coordinators stop (at once when interrupted: their agents die) */
	for (k = 0; k < m.nco; k++)
		if (m.co[k].pid > 0)
			kill(m.co[k].pid, status ? SIGINT : SIGTERM);
	for (k = 0; k < m.nco; k++) {
		int st;

		if (m.co[k].pid > 0 && waitpid(m.co[k].pid, &st, 0) > 0)
			run_proc_unregister(bus, m.run, m.co[k].pid);
	}
	pthread_join(th, NULL);
	for (i = 0; i < f.qn; i++) {
		if (f.q[i] && !status)
			on_result(&m, f.q[i]);
		free(f.q[i]);
	}
	free(f.q);
	write_meta(&m, status ? "interrupted" : "done");

	if (sum || !o->quiet) {
		struct run_summary s = {0};
		double *d = malloc((ts->n + 1) * sizeof *d), busy = 0;
		size_t nd = 0;

		for (i = 0; i < ts->n; i++)
			if (m.done[i]) {
				if (d)
					d[nd++] = m.dur_ms[i];
				busy += m.dur_ms[i];
			}
		if (d && nd) {
			qsort(d, nd, sizeof *d, cmp_double);
			s.p50_ms = d[nd / 2];
			s.p99_ms = d[(nd * 99) / 100 < nd ? (nd * 99) / 100 : nd - 1];
		}
		free(d);
		s.total = ts->n;
		s.ok = m.nok;
		s.failed = m.ndone - m.nok;
		s.seconds = (double)(t_end - m.t0) / 1000.0;
		{
			/* the wall time of a perfect scheduler: the agents' time spread over
			 * the agents; the rest is coordination (and waiting on deps) */
			int par = o->agents < (int)ts->n ? o->agents : (int)ts->n;
			double ideal = par > 0 ? busy / 1000.0 / par : 0;

			s.overhead_pct = s.seconds > 0 && ideal < s.seconds
						 ? 100.0 * (s.seconds - ideal) / s.seconds
						 : 0;
		}
		s.coordinators_lost = m.lost;
		if (sum)
			*sum = s;
		if (!o->quiet)
			fprintf(stderr,
				"muster: run %s: %zu tasks: %zu ok, %zu failed, %zu missing; "
				"delivery %.3f%%; %.3f s; agent time p50 %.1f ms, p99 %.1f ms; "
				"coordination overhead %.1f%%; coordinators replaced %d\n",
				m.run, s.total, s.ok, s.failed, s.total - m.ndone,
				s.total ? 100.0 * (double)m.ndone / (double)s.total : 100.0, s.seconds,
				s.p50_ms, s.p99_ms, s.overhead_pct, s.coordinators_lost);
	}
	rc = status ? status : m.nok == ts->n ? 0 : 1;
out:
	if (started)
		run_proc_unregister(bus, m.run, getpid());
	if (ep >= 0)
		close(ep);
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
	free(first);
	rmdir(m.rundir);
	mst_lock_release(lock);
	return rc;
}
