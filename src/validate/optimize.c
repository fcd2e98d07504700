/*
 * optimize.c - muster validate optimize: the seed's optimization prototypes (MVP 5)
 * measured as muster does them, each against the naive way in the same run:
 *   pooling         1,000 tasks on 100 pooled agents (running already) against an
 *                   agent spawned per task (100 at once), every reply in
 *   batching        1,000 messages sent in one call against one call each
 *   parallel spawn  700 agents spawned by muster at once, every reply in, against a
 *                   sequential spawn-and-wait-ready of the same program: agents that
 *                   take 20 ms to start (the line is judged on these), and /bin/echo,
 *                   ready at once (shown: there spawning is CPU work, which more
 *                   processes at once cannot make less)
 *   sharding        several stores chosen by queue name against one, 500 writers
 * The seed's lines are 2x, 3x, 5x and 2x; muster's targets 10x, 20x, 5x and 4x.
 */
#define _GNU_SOURCE
#include "validate.h"

#include "../run/run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BATCH_N 1000
#define BATCH_ROUNDS 5

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Takes everything off queue q and acks it, so that each round starts empty. */
static int drain(mst_bus *bus, const char *q)
{
	mst_msg m[256];
	uint64_t ids[256];
	size_t n, i;
	int rc;

	for (;;) {
		rc = mst_recv(bus, q, NULL, m, 256, &n);
		if (rc == MST_EEMPTY)
			return 0;
		if (rc < 0)
			return rc;
		for (i = 0; i < n; i++) {
			ids[i] = m[i].id;
			mst_msg_free(&m[i]);
		}
		if ((rc = mst_settle_batch(bus, MST_SETTLE_ACK, ids, n, 0, NULL)) < 0)
			return rc;
	}
}

/* Seconds for BATCH_N sends of 100 bytes, one call each (single) or one call. */
static int batching(struct vctx *v, double *single, double *batched, char *err, size_t errsz)
{
	char url[64], payload[100];
	double s[BATCH_ROUNDS], b[BATCH_ROUNDS], t0;
	mst_buf *bufs = calloc(BATCH_N, sizeof *bufs);
	mst_bus *bus = NULL;
	int r, i, rc = 0;

	if (!bufs)
		return -ENOMEM;
	memset(payload, 'x', sizeof payload);
	for (i = 0; i < BATCH_N; i++) {
		bufs[i].data = payload;
		bufs[i].len = sizeof payload;
	}
	snprintf(url, sizeof url, "local:validate-opt-%d", (int)getpid());
	if ((rc = mst_bus_open(&bus, url, NULL)) < 0) {
		snprintf(err, errsz, "cannot open a bus: %s", mst_strerror(rc));
		free(bufs);
		return rc;
	}
	for (r = 0; r < BATCH_ROUNDS && rc == 0; r++) {
		t0 = now_s();
		for (i = 0; i < BATCH_N && rc == 0; i++)
			rc = mst_send(bus, "validate.batching", payload, sizeof payload, NULL,
				      NULL);
		s[r] = now_s() - t0;
		if (rc == 0)
			rc = drain(bus, "validate.batching");
		t0 = now_s();
		if (rc == 0)
			rc = mst_send_batch(bus, "validate.batching", bufs, BATCH_N, NULL, NULL);
		b[r] = now_s() - t0;
		if (rc == 0)
			rc = drain(bus, "validate.batching");
	}
	if (rc < 0)
		snprintf(err, errsz, "sending: %s", mst_strerror(rc));
	else {
		*single = median(s, BATCH_ROUNDS);
		*batched = median(b, BATCH_ROUNDS);
	}
	run_rmtree(mst_bus_path(bus));
	mst_bus_close(bus);
	free(bufs);
	(void)v;
	return rc;
}

#define SHARD_WRITERS 500
#define SHARD_WARM                                                                                 \
	5		/* sends of each writer before the start: a process's first sends          \
			 * fault in its view of the store, the same with one store or many */
#define SHARD_SENDS 200 /* sends of each writer, measured */
#define SHARD_ROUNDS 3

/* Reads want bytes from fd within ms (the ready or done marks of the writers): 0, or
 * -1 when they did not come. */
static int read_marks(int fd, size_t want, int ms)
{
	int64_t deadline = mst_now_ns() + (int64_t)ms * 1000000;
	char buf[512];

	while (want > 0) {
		struct pollfd p = {fd, POLLIN, 0};
		int64_t left = (deadline - mst_now_ns()) / 1000000;
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return -1;
		n = read(fd, buf, want < sizeof buf ? want : sizeof buf);
		if (n <= 0)
			return -1;
		want -= (size_t)n;
	}
	return 0;
}

/* Seconds for SHARD_WRITERS processes, each with its bus open and warm (SHARD_WARM
 * sends made), released together, to send SHARD_SENDS messages each to a queue of its
 * own, on a fresh bus of shards stores; every message counted in at the end (*sent). */
static int writers(unsigned shards, double *secs, uint64_t *sent, char *err, size_t errsz)
{
	mst_bus_opts opts = {.shards = shards};
	int ready[2] = {-1, -1}, go[2] = {-1, -1}, done[2] = {-1, -1}, rc = 0, i, st;
	pid_t *pids = calloc(SHARD_WRITERS, sizeof *pids);
	char url[96], dir[PATH_MAX];
	mst_bus *bus = NULL;
	mst_stats stats;
	double t0;
	int started = 0;

	*sent = 0;
	snprintf(url, sizeof url, "local:validate-shard-%d", (int)getpid());
	if (!pids || pipe2(ready, O_CLOEXEC) || pipe2(go, O_CLOEXEC) || pipe2(done, O_CLOEXEC)) {
		snprintf(err, errsz, "%s", strerror(errno));
		rc = -errno;
		goto out;
	}
	if ((rc = mst_bus_open(&bus, url, &opts)) < 0) {
		snprintf(err, errsz, "cannot open a bus: %s", mst_strerror(rc));
		goto out;
	}
	snprintf(dir, sizeof dir, "%s", mst_bus_path(bus));
	for (i = 0; i < SHARD_WRITERS; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			snprintf(err, errsz, "fork: %s", strerror(errno));
			rc = -errno;
			break;
		}
		if (pid == 0) {
			mst_bus *b;
			char q[32], c = 0, payload[100];
			int j;

			close(go[1]);
			memset(payload, 'x', sizeof payload);
			snprintf(q, sizeof q, "validate.writer.%d", i);
			if (mst_bus_open(&b, dir, NULL) < 0)
				_exit(1);
			for (j = 0; j < SHARD_WARM; j++)
				if (mst_send(b, q, payload, sizeof payload, NULL, NULL) < 0)
					_exit(1);
			if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 0)
				_exit(1);
			for (j = 0; j < SHARD_SENDS; j++)
				if (mst_send(b, q, payload, sizeof payload, NULL, NULL) < 0)
					_exit(1);
			if (write(done[1], &c, 1) != 1)
				_exit(1);
			_exit(0);
		}
		pids[started++] = pid;
	}
	close(ready[1]);
	close(done[1]);
	ready[1] = done[1] = -1;
	if (rc == 0 && read_marks(ready[0], (size_t)started, 120000) < 0) {
		snprintf(err, errsz, "not every writer opened the bus");
		rc = MST_ETIMEOUT;
	}
	t0 = now_s();
	close(go[1]); /* the writers go */
	go[1] = -1;
	if (rc == 0 && read_marks(done[0], (size_t)started, 120000) < 0) {
		snprintf(err, errsz, "not every writer finished its sends");
		rc = MST_ETIMEOUT;
	}
	*secs = now_s() - t0;
	for (i = 0; i < started; i++) {
		if (waitpid(pids[i], &st, 0) == pids[i] && !(WIFEXITED(st) && !WEXITSTATUS(st)) &&
		    rc == 0) {
			snprintf(err, errsz, "a writer failed");
			rc = MST_EINVAL;
		}
	}
	if (rc == 0 && (rc = mst_stats_get(bus, &stats)) == 0)
		*sent = stats.ready;
out:
	for (i = 0; i < 2; i++) {
		if (ready[i] >= 0)
			close(ready[i]);
		if (go[i] >= 0)
			close(go[i]);
		if (done[i] >= 0)
			close(done[i]);
	}
	if (bus) {
		run_rmtree(mst_bus_path(bus));
		mst_bus_close(bus);
	}
	free(pids);
	return rc;
}

/* Medians over SHARD_ROUNDS of one store and of shards stores, side by side. */
static int sharding(struct vctx *v, unsigned shards, double *one, double *many, char *err,
		    size_t errsz)
{
	double a[SHARD_ROUNDS], b[SHARD_ROUNDS];
	uint64_t sent;
	int r, rc = 0;

	for (r = 0; r < SHARD_ROUNDS && rc == 0; r++) {
		rc = writers(1, &a[r], &sent, err, errsz);
		if (rc == 0 && sent != (uint64_t)SHARD_WRITERS * (SHARD_WARM + SHARD_SENDS)) {
			snprintf(err, errsz, "one store: %llu of %d messages in",
				 (unsigned long long)sent,
				 SHARD_WRITERS * (SHARD_WARM + SHARD_SENDS));
			rc = MST_EINVAL;
		}
		if (rc == 0)
			rc = writers(shards, &b[r], &sent, err, errsz);
		if (rc == 0 && sent != (uint64_t)SHARD_WRITERS * (SHARD_WARM + SHARD_SENDS)) {
			snprintf(err, errsz, "%u stores: %llu of %d messages in", shards,
				 (unsigned long long)sent,
				 SHARD_WRITERS * (SHARD_WARM + SHARD_SENDS));
			rc = MST_EINVAL;
		}
		if (rc == 0)
			vlog(v, "optimize: round %d: one store %.3f s, %u stores %.3f s", r + 1,
			     a[r], shards, b[r]);
	}
	if (rc == 0) {
		*one = median(a, SHARD_ROUNDS);
		*many = median(b, SHARD_ROUNDS);
	}
	return rc;
}

/* A fresh bus at a default location for one measurement of run_bench_coordinate. */
static int bench_on_fresh_bus(struct vctx *v, const char *tag, struct run_bench *b, char *err,
			      size_t errsz)
{
	char url[96];
	mst_bus *bus;
	int rc;

	snprintf(url, sizeof url, "local:validate-%s-%d", tag, (int)getpid());
	if ((rc = mst_bus_open(&bus, url, NULL)) < 0) {
		snprintf(err, errsz, "cannot open a bus: %s", mst_strerror(rc));
		return rc;
	}
	snprintf(b->bus, sizeof b->bus, "%s", mst_bus_path(bus));
	mst_bus_close(bus);
	b->dir = b->bus;
	b->self = v->self;
	b->run = tag;
	rc = run_bench_coordinate(b, err, errsz);
	run_rmtree(b->bus);
	return rc;
}

int validate_optimize(struct vctx *v)
{
	static const char *const labels[4] = {"pooling", "batching", "parallel spawn", "sharding"};
	double ratio[4] = {NAN, NAN, NAN, NAN}, seed[4] = {2, 3, 5, 2}, target[4] = {10, 20, 5, 4};
	struct run_bench exec = {0}, pool = {0};
	char err[512], note[1024];
	double single = NAN, batched = NAN, seq;
	int agents = v->agents > 0 ? v->agents : 100, spawn_n = v->quick ? 300 : 700, rc = 0, k;
	size_t tasks = v->quick ? 500 : 1000;

	/* pooling */
	vlog(v, "optimize: %zu tasks, an agent spawned per task (%d at once)", tasks, agents);
	exec.agents = agents;
	exec.tasks = tasks;
	rc = bench_on_fresh_bus(v, "opt-exec", &exec, err, sizeof err);
	if (rc == 0) {
		vlog(v, "optimize: %zu tasks on %d pooled agents", tasks, agents);
		pool.agents = agents;
		pool.tasks = tasks;
		pool.pool = 1;
		rc = bench_on_fresh_bus(v, "opt-pool", &pool, err, sizeof err);
	}
	if (rc == 0 && exec.delivered == tasks && pool.delivered == tasks && pool.seconds > 0) {
		ratio[0] = exec.seconds / pool.seconds;
		snprintf(note, sizeof note,
			 "spawn per task %.3f s, pooled %.3f s (every reply in, %d agents)",
			 exec.seconds, pool.seconds, agents);
	} else {
		snprintf(note, sizeof note, "%s (delivered %zu and %zu of %zu)",
			 rc < 0 ? err : "not every reply came in", exec.delivered, pool.delivered,
			 tasks);
	}
	vreport_add(v->r, "optimize", "pooling", "pooling vs an agent spawned per task", ratio[0],
		    "x", (struct vline){VCMP_GE, seed[0]}, (struct vline){VCMP_GE, target[0]},
		    note);

	/* batching */
	vlog(v, "optimize: %d messages, one send each and one batch", BATCH_N);
	rc = batching(v, &single, &batched, err, sizeof err);
	if (rc == 0 && batched > 0) {
		ratio[1] = single / batched;
		snprintf(note, sizeof note,
			 "%d sends of 100 B: one call each %.2f ms, one batch %.2f ms (medians of "
			 "%d)",
			 BATCH_N, single * 1e3, batched * 1e3, BATCH_ROUNDS);
	} else {
		snprintf(note, sizeof note, "%s", err);
	}
	vreport_add(v->r, "optimize", "batching", "batched vs single send", ratio[1], "x",
		    (struct vline){VCMP_GE, seed[1]}, (struct vline){VCMP_GE, target[1]}, note);

	/* parallel spawn: of a program that is ready at once (the spawn's own cost, bound by
	 * the CPUs) and of one that takes 20 ms to start, like a small interpreter (the
	 * case parallel spawning is for) */
	for (k = 0; k < 2; k++) {
		char *echo[] = {"/bin/echo", "floor", NULL};
		char *slow[] = {"/bin/sh", "-c", "sleep 0.02; echo \"$1\"", "sh", "{}", NULL};
		char *slow_floor[] = {"/bin/sh", "-c", "sleep 0.02; echo floor", NULL};
		struct run_bench par = {0};
		double r = NAN;

		vlog(v, "optimize: %d agents%s spawned one after the other, then by muster",
		     spawn_n, k ? " taking 20 ms to start" : "");
		seq = run_spawn_floor(k ? slow_floor : echo, spawn_n, 1, 0);
		par.agents = spawn_n;
		par.cmd = k ? slow : NULL;
		rc = bench_on_fresh_bus(v, "opt-spawn", &par, err, sizeof err);
		if (rc == 0 && seq > 0 && par.delivered == (size_t)spawn_n && par.seconds > 0) {
			r = seq / par.seconds;
			snprintf(
				note, sizeof note,
				"baseline: %d runs of %s, each waited for before the next, %.3f s; "
				"muster run, %d agents at once, every reply in, %.3f s",
				spawn_n, k ? "sh -c 'sleep 0.02; echo'" : "/bin/echo", seq, spawn_n,
				par.seconds);
		} else {
			snprintf(note, sizeof note, "%s", rc < 0 ? err : "not every reply came in");
		}
		if (k) {
			ratio[2] = r;
			vreport_add(v->r, "optimize", "parallel_spawn",
				    "parallel vs sequential spawn-and-wait-ready (20 ms start)", r,
				    "x", (struct vline){VCMP_GE, seed[2]},
				    (struct vline){VCMP_GE, target[2]}, note);
		} else {
			vreport_add(v->r, "optimize", "parallel_spawn_bare",
				    "parallel vs sequential spawn of a program ready at once", r,
				    "x", (struct vline){VCMP_NONE, 0}, (struct vline){VCMP_NONE, 0},
				    note);
		}
	}

	/* sharding */
	{
		unsigned shards = v->shards > 1 ? v->shards : RUN_SHARDS_DEFAULT;
		double one = NAN, many = NAN;

		vlog(v,
		     "optimize: %d writers, %d sends each to a queue of their own, on one "
		     "store and on %u",
		     SHARD_WRITERS, SHARD_SENDS, shards);
		rc = sharding(v, shards, &one, &many, err, sizeof err);
		if (rc == 0 && many > 0) {
			ratio[3] = one / many;
			snprintf(note, sizeof note,
				 "%d processes, each with the bus open and %d sends made, released "
				 "together to send %d messages of 100 B to a queue of their own "
				 "(every one counted in): one store %.3f s, %u stores %.3f s "
				 "(medians of %d)",
				 SHARD_WRITERS, SHARD_WARM, SHARD_SENDS, one, shards, many,
				 SHARD_ROUNDS);
		} else {
			snprintf(note, sizeof note, "%s", err);
		}
		vreport_add(v->r, "optimize", "sharding", "sharded vs single store (500 writers)",
			    ratio[3], "x", (struct vline){VCMP_GE, seed[3]},
			    (struct vline){VCMP_GE, target[3]}, note);
	}
	{
		double seeds[4], targets[4];
		struct vseries s[3] = {{"measured", NULL, ratio, 4},
				       {"seed's line", NULL, seeds, 4},
				       {"muster's target", NULL, targets, 4}};
		struct vchart c = {.kind = VCHART_BAR,
				   .title = "Optimizations: speed-up against the naive way",
				   .ylabel = "speed-up (x)",
				   .series = s,
				   .nseries = 3,
				   .labels = labels,
				   .nlabels = 4};

		memcpy(seeds, seed, sizeof seeds);
		memcpy(targets, target, sizeof targets);
		vreport_chart(v->r, "optimize.svg", &c);
	}
	return 0;
}
