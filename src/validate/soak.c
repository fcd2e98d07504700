/*
 * soak.c - muster validate soak: coordination rounds on one bus for a long time (the
 * seed's MVP 2), watching what would show a leak or a slow decay: the RSS, VSZ and open
 * descriptors of every muster process (this one, which is the master of every round,
 * and each round's coordinators, sampled while they run), the store's size, each
 * round's time and delivery, and rounds that do not end (a watchdog stops a round that
 * runs ten times longer than the first, and counts a hang).
 *
 * Drift is the last quarter of the rounds against the first (after the first round,
 * which warms caches up), medians: memory (private resident memory, RssAnon: the
 * store's pages that a process has touched are resident too, but they are the bus's,
 * counted as the store's growth), descriptors, round time.
 * The seed's lines: memory within 10 %, no descriptor growth, time within 20 %, every
 * round >= 90 % delivered, no hang; muster's: 2 %, exactly flat, 5 %, 100 %.
 *
 * Rounds start every --interval (the next at once when one runs longer); --compress
 * runs as many rounds as the duration would hold, back to back.
 */
#define _GNU_SOURCE
#include "validate.h"

#include "../run/run.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct proc_mem {
	double rss_kib, vsz_kib, fds; /* rss: private (RssAnon) */
};

/* Private resident memory and VSZ (KiB) and open descriptors of pid; 0, or -1 when it
 * is gone. */
static int proc_mem(pid_t pid, struct proc_mem *m)
{
	char path[64], line[256];
	FILE *f;
	DIR *d;
	struct dirent *e;

	memset(m, 0, sizeof *m);
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "re")))
		return -1;
	while (fgets(line, sizeof line, f)) {
		sscanf(line, "RssAnon: %lf kB", &m->rss_kib);
		sscanf(line, "VmSize: %lf kB", &m->vsz_kib);
	}
	fclose(f);
	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	if (!(d = opendir(path)))
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			m->fds++;
	closedir(d);
	m->fds--; /* the directory being read */
	return 0;
}

/* The sampler: while a round runs, the largest RSS, VSZ and descriptor count of any
 * child of ours (the round's coordinators). */
struct sampler {
	pthread_mutex_t mu;
	pthread_t th;
	int stop;
	pid_t self;
	char comm[40]; /* "(NAME)", our own name as /proc/PID/stat shows it */
	struct proc_mem peak;
	int64_t deadline_ns; /* a round past it is stopped (a hang) */
	int hung;
};

static void *sampler_main(void *arg)
{
	struct sampler *s = arg;
	struct timespec pause = {0, 50 * 1000000};
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL); /* the main thread takes them */
	for (;;) {
		DIR *d = opendir("/proc");
		struct dirent *e;

		pthread_mutex_lock(&s->mu);
		if (s->stop) {
			pthread_mutex_unlock(&s->mu);
			if (d)
				closedir(d);
			return NULL;
		}
		if (s->deadline_ns && mst_now_ns() > s->deadline_ns && !s->hung) {
			/* the round's master takes SIGINT as "stop now" (blocked in the main
			 * thread, so it waits there for the master's signalfd) */
			s->hung = 1;
			kill(s->self, SIGINT);
		}
		pthread_mutex_unlock(&s->mu);
		while (d && (e = readdir(d))) {
			char path[64], buf[512], *p;
			struct proc_mem m;
			FILE *f;
			int ppid = 0;

			if (e->d_name[0] < '1' || e->d_name[0] > '9')
				continue;
			snprintf(path, sizeof path, "/proc/%.16s/stat", e->d_name);
			if (!(f = fopen(path, "re")))
				continue;
			p = fgets(buf, sizeof buf, f) ? strrchr(buf, ')') : NULL;
			fclose(f);
			/* our children with our own name: the round's coordinators (whatever
			 * the executable is called) */
			if (!p || sscanf(p + 2, "%*c %d", &ppid) != 1 || ppid != (int)s->self ||
			    !strstr(buf, s->comm))
				continue;
			if (proc_mem((pid_t)atoi(e->d_name), &m) < 0)
				continue;
			pthread_mutex_lock(&s->mu);
			if (m.rss_kib > s->peak.rss_kib)
				s->peak.rss_kib = m.rss_kib;
			if (m.vsz_kib > s->peak.vsz_kib)
				s->peak.vsz_kib = m.vsz_kib;
			if (m.fds > s->peak.fds)
				s->peak.fds = m.fds;
			pthread_mutex_unlock(&s->mu);
		}
		if (d)
			closedir(d);
		nanosleep(&pause, NULL);
	}
}

/* The store's used bytes (MiB), read by a child: the statistics of a bus that grows
 * allocate in proportion to its queues, and this process is the one whose memory is
 * watched. NaN when it cannot tell. */
static double store_mib(const char *dir)
{
	double v = NAN;
	int p[2], st;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return NAN;
	if ((pid = fork()) == 0) {
		mst_bus *bus;
		mst_stats s;
		double r = NAN;

		close(p[0]);
		if (mst_bus_open(&bus, dir, NULL) == 0) {
			if (mst_stats_get(bus, &s) == 0)
				r = (double)s.used_bytes / 1048576.0;
			mst_bus_close(bus);
		}
		_exit(write(p[1], &r, sizeof r) == (ssize_t)sizeof r ? 0 : 1);
	}
	close(p[1]);
	if (pid > 0 && read(p[0], &v, sizeof v) != (ssize_t)sizeof v)
		v = NAN;
	close(p[0]);
	if (pid > 0)
		waitpid(pid, &st, 0);
	return v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median, or with max the largest, of v[from..to). */
static double stat_of(const double *v, size_t from, size_t to, int max)
{
	size_t n = to - from, i;
	double *c, r;

	if (!n)
		return NAN;
	if (max) {
		for (r = v[from], i = from; i < to; i++)
			if (v[i] > r)
				r = v[i];
		return r;
	}
	if (!(c = malloc(n * sizeof *c)))
		return NAN;
	memcpy(c, v + from, n * sizeof *c);
	qsort(c, n, sizeof *c, cmp_double);
	r = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
	free(c);
	return r;
}

/* Growth of the last quarter against the first (the first round left out), in %. */
static double drift_pct(const double *v, size_t n, int max)
{
	size_t q, a, b;
	double first, last;

	if (n < 3)
		return NAN;
	q = (n - 1) / 4 ? (n - 1) / 4 : 1;
	a = 1;
	b = n - q;
	first = stat_of(v, a, a + q, max);
	last = stat_of(v, b, n, max);
	return first > 0 ? 100.0 * (last - first) / first : NAN;
}

int validate_soak(struct vctx *v)
{
	int agents = v->agents > 0 ? v->agents : 100;
	int64_t duration_ms = v->duration_ms > 0 ? v->duration_ms : 24LL * 3600 * 1000;
	int64_t interval_ms = v->interval_ms > 0 ? v->interval_ms : 10000;
	size_t rounds = (size_t)(duration_ms / interval_ms), r, n = 0;
	double *xs, *self_rss, *self_fds, *co_rss, *co_fds, *secs, *store, *deliv;
	double min_deliv = NAN, t0 = (double)mst_now_ns() / 1e9;
	struct sampler s = {.mu = PTHREAD_MUTEX_INITIALIZER, .self = getpid()};
	char url[64], err[512], note[512];
	mst_bus *bus = NULL;
	int rc, hangs = 0, fails = 0, stopped = 0;
	sigset_t stop_sigs, old;
	struct timespec zero = {0, 0};

	/* a stop (SIGINT, SIGTERM) waits for the round's master, which ends the round, or
	 * is found between rounds: either way the soak ends with what it measured */
	sigemptyset(&stop_sigs);
	sigaddset(&stop_sigs, SIGINT);
	sigaddset(&stop_sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_sigs, &old);

	if (rounds < 3)
		rounds = 3;
	xs = calloc(rounds, sizeof *xs);
	self_rss = calloc(rounds, sizeof *self_rss);
	self_fds = calloc(rounds, sizeof *self_fds);
	co_rss = calloc(rounds, sizeof *co_rss);
	co_fds = calloc(rounds, sizeof *co_fds);
	secs = calloc(rounds, sizeof *secs);
	store = calloc(rounds, sizeof *store);
	deliv = calloc(rounds, sizeof *deliv);
	if (!xs || !self_rss || !self_fds || !co_rss || !co_fds || !secs || !store || !deliv) {
		rc = -ENOMEM;
		goto out;
	}
	snprintf(url, sizeof url, "local:validate-soak-%d", (int)getpid());
	if ((rc = mst_bus_open(&bus, url, NULL)) < 0) {
		snprintf(err, sizeof err, "cannot open a bus: %s", mst_strerror(rc));
		vreport_add(v->r, "soak", "rounds", "rounds", NAN, "", (struct vline){0, 0},
			    (struct vline){0, 0}, err);
		goto out;
	}
	vreport_fact(v->r, "soak", "bus", json_string(mst_bus_path(bus)));
	vreport_fact(v->r, "soak", "plan",
		     json_pack("{s:I, s:I, s:i, s:I, s:b}", "duration_ms", (json_int_t)duration_ms,
			       "interval_ms", (json_int_t)interval_ms, "agents", agents, "rounds",
			       (json_int_t)rounds, "compress", v->compress));
	{
		char name[32] = "muster";

		venv_slurp("/proc/self/comm", name, sizeof name);
		snprintf(s.comm, sizeof s.comm, "(%s)", name);
	}
	if ((rc = pthread_create(&s.th, NULL, sampler_main, &s))) {
		rc = -rc;
		goto out;
	}
	vlog(v, "soak: %zu rounds of %d agents%s", rounds, agents,
	     v->compress ? ", back to back" : "");
	for (r = 0; r < rounds; r++) {
		struct run_bench b = {0};
		struct proc_mem me;
		char run[32];
		int64_t start = mst_now_ns();

		snprintf(run, sizeof run, "soak-%zu", r);
		pthread_mutex_lock(&s.mu);
		memset(&s.peak, 0, sizeof s.peak);
		s.hung = 0;
		/* ten times the first round, and at least a minute */
		s.deadline_ns = start + (n && secs[0] * 10 > 60 ? (int64_t)(secs[0] * 10e9)
								: 60000000000LL);
		pthread_mutex_unlock(&s.mu);
		b.agents = agents;
		b.self = v->self;
		b.dir = mst_bus_path(bus);
		b.run = run;
		b.no_floor = 1;
		rc = run_bench_coordinate(&b, err, sizeof err);
		pthread_mutex_lock(&s.mu);
		s.deadline_ns = 0;
		hangs += s.hung;
		co_rss[n] = s.peak.rss_kib;
		co_fds[n] = s.peak.fds;
		/* the watchdog's SIGINT is spent; any other stop ends the soak */
		while (sigtimedwait(&stop_sigs, NULL, &zero) > 0)
			stopped |= !s.hung;
		stopped |= (b.status == 128 + SIGINT || b.status == 128 + SIGTERM) && !s.hung;
		pthread_mutex_unlock(&s.mu);
		if (rc < 0 && b.seconds <= 0) {
			fails++;
			vlog(v, "soak: round %zu: %s", r, err);
		}
		proc_mem(getpid(), &me);
		xs[n] = (double)mst_now_ns() / 1e9 - t0;
		self_rss[n] = me.rss_kib;
		self_fds[n] = me.fds;
		secs[n] = b.seconds;
		deliv[n] = 100.0 * (double)b.delivered / agents;
		/* the round's run is forgotten, as a bus in long use forgets its old runs */
		run_forget(bus, mst_bus_path(bus), run);
		store[n] = store_mib(mst_bus_path(bus));
		if (isnan(min_deliv) || deliv[n] < min_deliv)
			min_deliv = deliv[n];
		n++;
		if (r % 10 == 0 || r + 1 == rounds)
			vlog(v,
			     "soak: round %zu of %zu: %.3f s, %.1f %% delivered, RSS %.0f KiB, "
			     "%.0f fds, store %.1f MiB",
			     r + 1, rounds, b.seconds, deliv[n - 1], me.rss_kib, me.fds,
			     store[n - 1]);
		if (stopped) {
			vlog(v, "soak: stopped after %zu rounds", n);
			break;
		}
		if (!v->compress) {
			int64_t next = start + interval_ms * 1000000, now = mst_now_ns();

			if (next > now) {
				struct timespec ts = {(next - now) / 1000000000,
						      (next - now) % 1000000000};

				nanosleep(&ts, NULL);
			}
		}
	}
	pthread_mutex_lock(&s.mu);
	s.stop = 1;
	pthread_mutex_unlock(&s.mu);
	pthread_join(s.th, NULL);
	rc = 0;
	if (n == 0)
		goto out;
	{
		double mem = drift_pct(self_rss, n, 0), cmem = drift_pct(co_rss, n, 0);
		double fds = n >= 2 ? self_fds[n - 1] - self_fds[1] : NAN;
		double cfds = n >= 2 ? co_fds[n - 1] - co_fds[1] : NAN;
		double t = drift_pct(secs, n, 0), worst = mem;

		if (!isnan(cmem) && (isnan(worst) || cmem > worst))
			worst = cmem;
		snprintf(note, sizeof note,
			 "private resident memory (medians), last quarter against the first: "
			 "this process (the master) %+.2f %%, coordinators %+.2f %%",
			 mem, cmem);
		vreport_add(v->r, "soak", "memory_drift", "memory drift", worst, "%",
			    (struct vline){VCMP_LE, 10}, (struct vline){VCMP_LE, 2}, note);
		/* a leak accumulates in the process that lives through the rounds; the
		 * coordinators are new each round, and their peak, sampled while they spawn,
		 * moves by a descriptor or two from round to round (shown, not judged) */
		snprintf(note, sizeof note,
			 "open descriptors of the master (it lives through every round) after the "
			 "last round less after round 1; a coordinator's peak moved by %+.0f",
			 cfds);
		vreport_add(v->r, "soak", "fd_growth", "descriptor growth", fds, "",
			    (struct vline){VCMP_LE, 0}, (struct vline){VCMP_LE, 0}, note);
		vreport_add(v->r, "soak", "time_drift", "round time drift", t, "%",
			    (struct vline){VCMP_LE, 20}, (struct vline){VCMP_LE, 5},
			    "median round time, last quarter against the first");
		vreport_add(v->r, "soak", "delivery_min", "lowest delivery of a round", min_deliv,
			    "%", (struct vline){VCMP_GE, 90}, (struct vline){VCMP_GE, 100}, NULL);
		vreport_add(v->r, "soak", "hangs", "rounds stopped by the watchdog", hangs, "",
			    (struct vline){VCMP_LE, 0}, (struct vline){VCMP_LE, 0}, NULL);
		vreport_add(v->r, "soak", "rounds", "rounds", (double)n, "",
			    (struct vline){VCMP_NONE, 0}, (struct vline){VCMP_NONE, 0},
			    fails ? "some rounds failed to run (see the progress lines)" : NULL);
		vreport_add(v->r, "soak", "hours", "duration", xs[n - 1] / 3600.0, "h",
			    (struct vline){VCMP_NONE, 0}, (struct vline){VCMP_NONE, 0},
			    v->compress
				    ? "rounds back to back (--compress); the seed's soak is 24 h"
				    : "the seed's soak is 24 h");
		vreport_add(v->r, "soak", "store_growth", "store growth", store[n - 1] - store[0],
			    "MiB", (struct vline){VCMP_NONE, 0}, (struct vline){VCMP_NONE, 0},
			    "used pages, last round less the first (each round's run is forgotten "
			    "after it: muster forget)");
	}
	{
		struct vseries mem[2] = {{"master (this process)", xs, self_rss, n},
					 {"largest coordinator", xs, co_rss, n}};
		struct vseries fd[2] = {{"master (this process)", xs, self_fds, n},
					{"largest coordinator", xs, co_fds, n}};
		struct vseries t[1] = {{"round time", xs, secs, n}};
		struct vseries st[1] = {{"store used", xs, store, n}};
		struct vchart c = {.kind = VCHART_LINE, .xlabel = "seconds into the soak"};

		c.title = "Soak: private resident memory of muster's processes";
		c.ylabel = "RssAnon (KiB)";
		c.series = mem;
		c.nseries = 2;
		vreport_chart(v->r, "soak-rss.svg", &c);
		c.title = "Soak: open file descriptors";
		c.ylabel = "descriptors";
		c.series = fd;
		vreport_chart(v->r, "soak-fds.svg", &c);
		c.title = "Soak: coordination time per round";
		c.ylabel = "seconds";
		c.series = t;
		c.nseries = 1;
		vreport_chart(v->r, "soak-time.svg", &c);
		c.title = "Soak: store size";
		c.ylabel = "MiB used";
		c.series = st;
		vreport_chart(v->r, "soak-store.svg", &c);
	}
out:
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (bus) {
		run_rmtree(mst_bus_path(bus));
		mst_bus_close(bus);
	}
	free(xs);
	free(self_rss);
	free(self_fds);
	free(co_rss);
	free(co_fds);
	free(secs);
	free(store);
	free(deliv);
	return rc;
}
