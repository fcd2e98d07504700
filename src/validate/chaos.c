/*
 * chaos.c - muster validate chaos: faults against a live run (the seed's MVP 4), each
 * counted per task id and timed.
 *
 * Each scenario starts `muster run` as a process of its own (the harness is not the
 * system under test) on a fresh bus, with T short tasks on A agents through 4
 * coordinators, and about a third of the way in does its fault:
 *   coord1    kill -9 one coordinator
 *   coord2    kill -9 two coordinators at once
 *   master    kill -9 the master (no standby: a coordinator starts one)
 *   sigstop   SIGSTOP the master, the run's leader, for 3 s, then SIGCONT: the
 *             coordinators take their tasks from the bus, so work goes on meanwhile
 *   fill95    the bus's file system filled to 95 % (a 256 MiB tmpfs of its own, in a
 *             mount namespace: needs root)
 *   fds       the run started with too few descriptors for its agents (heartbeats
 *             hold three per agent): muster must run fewer at once and say so
 * When the run is over, every task id must be reported exactly once, ok, by whoever
 * printed the run's results to its end, and `muster results` must agree. Recovery is
 * from the fault to work resumed: the replacement coordinator's first task and the
 * dead one's tasks started again (coord), the takeover (master). The seed's lines: one coordinator
 * < 30 s with nothing lost, two < 60 s with < 5 % lost, the master < 60 s; muster's: < 1 s, < 1 s,
 * < 2 s, and nothing lost ever.
 */
#define _GNU_SOURCE
#include "validate.h"

#include "../run/run.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define RUN "chaos"
#define FILL_MIB 256

struct outcome {
	int tasks, reported, ok, lost, dup, agree, left;
	double recovery_ms;				 /* NaN: not measured */
	double start_ms, fault_ms, recovered_ms, end_ms; /* wall clock, for the timeline */
	char note[512];
};

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* The number of results recorded so far. */
static size_t recorded(mst_bus *bus)
{
	mst_kv *kv;
	size_t n;

	if (run_results_list(bus, RUN, &kv, &n) < 0)
		return 0;
	mst_kv_list_free(kv, n);
	return n;
}

/* The live processes of the run with role (NULL: any), from their registrations. */
static int procs(mst_bus *bus, const char *role, pid_t *pids, int max)
{
	char prefix[MST_NAME_MAX + 1];
	mst_kv *kv;
	size_t n, i;
	int k = 0;

	if (run_proc_key(prefix, sizeof prefix, RUN, 0) < 0 ||
	    mst_kv_list(bus, prefix, &kv, &n) < 0)
		return 0;
	for (i = 0; i < n && k < max; i++) {
		json_t *o = json_loadb(kv[i].value, kv[i].len, 0, NULL);
		const char *r = json_string_value(json_object_get(o, "role"));
		pid_t pid = (pid_t)json_integer_value(json_object_get(o, "pid"));
		uint64_t ps = (uint64_t)json_integer_value(json_object_get(o, "pstart"));

		if (r && (!role || !strcmp(r, role)) && run_proc_alive(pid, ps))
			pids[k++] = pid;
		json_decref(o);
	}
	mst_kv_list_free(kv, n);
	return k;
}

static json_t *meta(mst_bus *bus)
{
	char key[MST_NAME_MAX + 1];
	json_t *o;
	mst_kv kv;

	if (run_name(key, sizeof key, RUN, "meta") < 0 || mst_kv_get(bus, key, &kv) < 0)
		return NULL;
	o = json_loadb(kv.value, kv.len, 0, NULL);
	mst_kv_free(&kv);
	return o;
}

static int run_over(mst_bus *bus)
{
	json_t *o = meta(bus);
	const char *st = o ? json_string_value(json_object_get(o, "state")) : NULL;
	int over = st && strcmp(st, "running") && strcmp(st, "stopping");

	json_decref(o);
	return over;
}

/* Counts the result lines of path (the printed stream) per task id against the n
 * tasks, and against the bus's records. */
static void count(const char *path, mst_bus *bus, int n, struct outcome *o)
{
	char *seen = calloc((size_t)n, 1), *line = NULL;
	size_t cap = 0;
	FILE *f = fopen(path, "re");
	mst_kv *kv;
	size_t nkv = 0, i;

	o->reported = o->ok = o->dup = 0;
	while (f && seen && getline(&line, &cap, f) > 0) {
		json_t *r = json_loads(line, 0, NULL);
		json_int_t k = r ? json_integer_value(json_object_get(r, "n")) : -1;
		const char *st = r ? json_string_value(json_object_get(r, "status")) : NULL;
		const char *id = r ? json_string_value(json_object_get(r, "id")) : NULL;
		const char *out = r ? json_string_value(json_object_get(r, "output")) : NULL;

		if (k >= 0 && k < n) {
			o->reported++;
			if (seen[k]++)
				o->dup++;
			else if (st && !strcmp(st, "ok") && id && out &&
				 !strncmp(out, id, strlen(id)) && !strcmp(out + strlen(id), "\n"))
				o->ok++;
		}
		json_decref(r);
	}
	free(line);
	if (f)
		fclose(f);
	for (i = 0, o->lost = 0; seen && i < (size_t)n; i++)
		o->lost += !seen[i];
	o->agree = 0;
	if (run_results_list(bus, RUN, &kv, &nkv) == 0) {
		int same = nkv == (size_t)(n - o->lost);

		for (i = 0; same && i < nkv; i++) {
			const char *dot = strrchr(kv[i].key, '.');
			long k = dot ? strtol(dot + 1, NULL, 10) : -1;

			same = k >= 0 && k < n && seen[k];
		}
		o->agree = same;
		mst_kv_list_free(kv, nkv);
	}
	free(seen);
}

/* The earliest start of a task by a coordinator not in old[], and the latest restart
 * (attempt > 1) after t: the coordinator scenarios' recovery. */
static double coord_recovery(const char *path, const pid_t *old, int nold, double t)
{
	char *line = NULL;
	size_t cap = 0;
	double first = NAN, last = NAN;
	FILE *f = fopen(path, "re");

	while (f && getline(&line, &cap, f) > 0) {
		json_t *r = json_loads(line, 0, NULL);
		pid_t co = (pid_t)json_integer_value(json_object_get(r, "coordinator"));
		double start = (double)json_integer_value(json_object_get(r, "start_ms"));
		int attempts = (int)json_integer_value(json_object_get(r, "attempts")), k,
		    known = 0;

		for (k = 0; k < nold; k++)
			known |= old[k] == co;
		if (start >= t && !known && (isnan(first) || start < first))
			first = start;
		if (start >= t && attempts > 1 && (isnan(last) || start > last))
			last = start;
		json_decref(r);
	}
	free(line);
	if (f)
		fclose(f);
	if (isnan(first))
		return NAN;
	return (isnan(last) || last < first ? first : last) - t;
}

/* Starts `muster run` (argv) with stdin /dev/null, stdout out, stderr err, every signal
 * unblocked, and with nofile > 0 that many descriptors at most: its pid or -errno. */
static pid_t start_run(const char *self, char *const argv[], const char *out, const char *err,
		       rlim_t nofile)
{
	int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int e = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	pid_t pid = -1;
	int saved = 0;

	if (in >= 0 && o >= 0 && e >= 0 && (pid = fork()) == 0) {
		struct rlimit lim = {nofile, nofile};
		sigset_t none;

		sigemptyset(&none);
		if (dup2(in, 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0 ||
		    sigprocmask(SIG_SETMASK, &none, NULL) < 0 ||
		    (nofile && setrlimit(RLIMIT_NOFILE, &lim) < 0))
			_exit(127);
		execve(self, argv, environ);
		_exit(127);
	}
	saved = errno;
	if (in >= 0)
		close(in);
	if (o >= 0)
		close(o);
	if (e >= 0)
		close(e);
	return pid > 0 ? pid : -(saved ? saved : EIO);
}

struct scenario {
	const char *name, *what;
	int root; /* needs root (a mount namespace of its own) */
};

static const struct scenario scenarios[] = {
	{"coord1", "kill -9 one coordinator", 0},
	{"coord2", "kill -9 two coordinators at once", 0},
	{"master", "kill -9 the master (no standby)", 0},
	{"sigstop", "SIGSTOP the master (the leader) for 3 s", 0},
	{"fill95", "the bus's file system 95 % full", 1},
	{"fds", "too few descriptors for the agents", 0},
};

/* Runs scenario sc on the bus in dir; fills o. */
static int scenario_run(struct vctx *v, const struct scenario *sc, const char *dir, int tasks,
			int agents, struct outcome *o)
{
	char tpath[4096], out[4096], err[4096], ntasks[16], nagents[16], *line;
	char *argv[32];
	pid_t mpid, victims[8];
	mst_bus *bus = NULL;
	int i, k, nv = 0, rc, st, fill_fd = -1;
	FILE *f;
	json_t *m;

	memset(o, 0, sizeof *o);
	o->tasks = tasks;
	o->recovery_ms = NAN;
	snprintf(tpath, sizeof tpath, "%s/chaos-tasks", dir);
	snprintf(out, sizeof out, "%s/chaos-out", dir);
	snprintf(err, sizeof err, "%s/chaos-err", dir);
	if (!(f = fopen(tpath, "w")))
		return -errno;
	for (i = 1; i <= tasks; i++)
		fprintf(f, "%d\n", i);
	if (fclose(f) != 0)
		return -EIO;
	if ((rc = mst_bus_open(&bus, dir, NULL)) < 0)
		return rc;
	snprintf(ntasks, sizeof ntasks, "%d", tasks);
	snprintf(nagents, sizeof nagents, "%d", agents);
	k = 0;
	argv[k++] = "muster";
	argv[k++] = "--bus";
	argv[k++] = (char *)dir;
	argv[k++] = "run";
	argv[k++] = "--run";
	argv[k++] = RUN;
	argv[k++] = "--agents";
	argv[k++] = nagents;
	argv[k++] = "--coordinators";
	argv[k++] = "4";
	argv[k++] = "--tasks";
	argv[k++] = tpath;
	argv[k++] = "--quiet";
	if (!strcmp(sc->name, "fds")) {
		argv[k++] = "--heartbeat";
		argv[k++] = "30s";
	}
	argv[k++] = "--";
	argv[k++] = "/bin/sh";
	argv[k++] = "-c";
	argv[k++] = "sleep 0.02; echo \"$1\"";
	argv[k++] = "sh";
	argv[k++] = "{}";
	argv[k] = NULL;
	/* the fds scenario's limit is set in the child: our own hard limit could not be
	 * raised back without CAP_SYS_RESOURCE */
	mpid = start_run(v->self, argv, out, err, !strcmp(sc->name, "fds") ? 48 : 0);
	if (mpid < 0) {
		mst_bus_close(bus);
		return (int)mpid;
	}
	o->start_ms = (double)wall_ms();
	/* until a third is recorded (at most 60 s) */
	for (i = 0; i < 6000 && recorded(bus) < (size_t)tasks / 3 && !run_over(bus); i++)
		sleep_ms(10);
	o->fault_ms = (double)wall_ms();
	if (!strcmp(sc->name, "coord1") || !strcmp(sc->name, "coord2")) {
		pid_t old[64];
		int nold = procs(bus, "coordinator", old, 64);

		nv = nold < (sc->name[5] - '0') ? nold : sc->name[5] - '0';
		for (i = 0; i < nv; i++) {
			victims[i] = old[i];
			kill(old[i], SIGKILL);
		}
		o->fault_ms = (double)wall_ms();
		waitpid(mpid, &st, 0);
		o->recovery_ms = coord_recovery(out, old, nold, o->fault_ms);
	} else if (!strcmp(sc->name, "master")) {
		kill(mpid, SIGKILL);
		o->fault_ms = (double)wall_ms();
		waitpid(mpid, &st, 0);
		victims[nv++] = mpid;
		for (i = 0; i < 12000 && !run_over(bus); i++) /* at most 120 s */
			sleep_ms(10);
		if ((m = meta(bus))) {
			json_t *t = json_object_get(m, "takeover_ms");

			if (t)
				o->recovery_ms = (double)json_integer_value(t) - o->fault_ms;
			json_decref(m);
		}
		/* the heir's printed results */
		snprintf(out, sizeof out, "%s/runs/%s/results.%d.jsonl", dir, RUN, (int)mpid);
	} else if (!strcmp(sc->name, "sigstop")) {
		size_t before;

		kill(mpid, SIGSTOP);
		o->fault_ms = (double)wall_ms();
		victims[nv++] = mpid;
		before = recorded(bus);
		sleep_ms(3000);
		/* the coordinators take tasks from the bus, not from the master: work goes on */
		snprintf(o->note, sizeof o->note,
			 "%zu tasks recorded during the 3 s the master was stopped",
			 recorded(bus) - before);
		kill(mpid, SIGCONT);
		waitpid(mpid, &st, 0);
	} else if (!strcmp(sc->name, "fill95")) {
		struct statvfs sv;
		char fill[4096];

		snprintf(fill, sizeof fill, "%s/chaos-fill", dir);
		if (statvfs(dir, &sv) == 0 &&
		    (fill_fd = open(fill, O_WRONLY | O_CREAT, 0600)) >= 0) {
			double size = (double)sv.f_blocks * sv.f_frsize,
			       used = size - (double)sv.f_bavail * sv.f_frsize;
			off_t want = (off_t)(size * 0.95 - used);

			if (want > 0)
				posix_fallocate(fill_fd, 0, want);
			if (statvfs(dir, &sv) == 0)
				snprintf(o->note, sizeof o->note, "file system %.0f %% full",
					 100.0 - 100.0 * (double)sv.f_bavail / (double)sv.f_blocks);
		}
		waitpid(mpid, &st, 0);
	} else {
		waitpid(mpid, &st, 0);
	}
	/* whoever carries the run on ends it; then nothing of it may be left */
	for (i = 0; i < 12000 && !run_over(bus); i++)
		sleep_ms(10);
	{
		pid_t left[64];

		for (i = 0; i < 500 && procs(bus, NULL, left, 64) > 0; i++)
			sleep_ms(10);
		o->left = procs(bus, NULL, left, 64);
		for (i = 0; i < o->left; i++)
			kill(left[i], SIGKILL);
	}
	o->end_ms = (double)wall_ms();
	if (!isnan(o->recovery_ms))
		o->recovered_ms = o->fault_ms + o->recovery_ms;
	count(out, bus, tasks, o);
	if (!strcmp(sc->name, "fds") && (f = fopen(err, "re"))) {
		size_t cap = 0;

		line = NULL;
		while (getline(&line, &cap, f) > 0)
			if (strstr(line, "running at most")) {
				snprintf(o->note, sizeof o->note, "%.300s", line);
				o->note[strcspn(o->note, "\n")] = 0;
				break;
			}
		free(line);
		fclose(f);
		if (!o->note[0])
			snprintf(o->note, sizeof o->note, "muster did not say it ran fewer agents");
	}
	if (fill_fd >= 0)
		close(fill_fd);
	(void)victims;
	mst_bus_close(bus);
	return 0;
}

/* fill95 in a mount namespace of its own with a small tmpfs for the bus: a child does
 * it and writes its outcome back through a pipe. */
static int scenario_in_tmpfs(struct vctx *v, const struct scenario *sc, int tasks, int agents,
			     struct outcome *o, char *why, size_t whysz)
{
	int p[2], st;
	pid_t pid;
	ssize_t n;

	if (geteuid() != 0) {
		snprintf(why, whysz, "needs root (a mount namespace with a tmpfs of its own)");
		return -EPERM;
	}
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	if ((pid = fork()) < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (pid == 0) {
		char dir[] = "/tmp/muster-chaos-XXXXXX", opts[64];
		struct outcome r;
		int rc = -EIO;

		close(p[0]);
		memset(&r, 0, sizeof r);
		snprintf(opts, sizeof opts, "size=%dm,mode=0700", FILL_MIB);
		if (!mkdtemp(dir))
			rc = -errno;
		else if (unshare(CLONE_NEWNS) < 0 ||
			 mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
			 mount("tmpfs", dir, "tmpfs", 0, opts) < 0)
			rc = -errno;
		else
			rc = scenario_run(v, sc, dir, tasks, agents, &r);
		if (rc < 0)
			snprintf(r.note, sizeof r.note, "could not set up: %s", strerror(-rc));
		r.tasks = rc < 0 ? -1 : r.tasks;
		if (write(p[1], &r, sizeof r) != (ssize_t)sizeof r)
			_exit(1);
		umount2(dir, MNT_DETACH);
		rmdir(dir);
		_exit(0);
	}
	close(p[1]);
	n = read(p[0], o, sizeof *o);
	close(p[0]);
	waitpid(pid, &st, 0);
	if (n != (ssize_t)sizeof *o || o->tasks < 0) {
		snprintf(why, whysz, "%s", n == (ssize_t)sizeof *o ? o->note : "the scenario died");
		return -EIO;
	}
	return 0;
}

int validate_chaos(struct vctx *v)
{
	size_t ns = sizeof scenarios / sizeof scenarios[0], i;
	int tasks = v->tasks > 0 ? v->tasks : v->quick ? 3000 : 10000;
	int agents = v->agents > 0 ? v->agents : 100;
	struct vspan spans[3 * 8];
	char rows[8][64], labels[8][3][64];
	size_t nspans = 0;
	double t0 = NAN, worst_loss = 0, worst_rec = 0;

	for (i = 0; i < ns; i++) {
		const struct scenario *sc = &scenarios[i];
		struct outcome o;
		char url[96], why[512], label[160], note[1024];
		double loss = NAN;
		int rc;

		vlog(v, "chaos: %s: %s, %d tasks on %d agents", sc->name, sc->what, tasks, agents);
		why[0] = 0;
		if (sc->root) {
			rc = scenario_in_tmpfs(v, sc, tasks, agents, &o, why, sizeof why);
		} else {
			mst_bus *bus;

			snprintf(url, sizeof url, "local:validate-chaos-%d-%s", (int)getpid(),
				 sc->name);
			rc = mst_bus_open(&bus, url, NULL);
			if (rc == 0) {
				char dir[4096];

				snprintf(dir, sizeof dir, "%s", mst_bus_path(bus));
				mst_bus_close(bus);
				rc = scenario_run(v, sc, dir, tasks, agents, &o);
				run_rmtree(dir);
			}
			if (rc < 0)
				snprintf(why, sizeof why, "%s", mst_strerror(rc));
		}
		snprintf(label, sizeof label, "%s: %s", sc->name, sc->what);
		if (rc < 0) {
			vreport_add(v->r, "chaos", sc->name, label, NAN, "%",
				    (struct vline){VCMP_LE, 0}, (struct vline){VCMP_LE, 0}, why);
			continue;
		}
		loss = 100.0 * (o.lost + o.dup + (o.reported - o.dup - o.ok)) / o.tasks;
		if (loss > worst_loss)
			worst_loss = loss;
		snprintf(
			note, sizeof note,
			"%d tasks: %d reported, %d ok, %d lost, %d duplicated; results %s the bus; "
			"%d processes left%s%s",
			o.tasks, o.reported, o.ok, o.lost, o.dup,
			o.agree ? "agree with" : "DIFFER from", o.left, o.note[0] ? "; " : "",
			o.note);
		vreport_add(v->r, "chaos", sc->name, label, loss, "% lost, duplicated or not ok",
			    (struct vline){!strcmp(sc->name, "coord2") ? VCMP_LT : VCMP_LE,
					   !strcmp(sc->name, "coord2") ? 5 : 0},
			    (struct vline){VCMP_LE, 0}, note);
		if (!isnan(o.recovery_ms)) {
			int master = !strcmp(sc->name, "master");
			double seed = !strcmp(sc->name, "coord2") ? 60000 : master ? 60000 : 30000;

			if (o.recovery_ms / 1000.0 > worst_rec)
				worst_rec = o.recovery_ms / 1000.0;
			vreport_add(v->r, "chaos", sc->name, "  recovery", o.recovery_ms, "ms",
				    (struct vline){VCMP_LT, seed},
				    (struct vline){VCMP_LT, master ? 2000 : 1000},
				    !strcmp(sc->name, "sigstop") ? "first result after SIGCONT"
				    : master ? "kill to the takeover by the master a coordinator "
					       "started"
					     : "kill to the replacement's first task and the dead "
					       "one's tasks started again");
		}
		/* the timeline: the run, the fault, the recovery (seconds from the first start) */
		if (isnan(t0))
			t0 = o.start_ms;
		if (nspans + 3 <= sizeof spans / sizeof spans[0] && i < 8) {
			double base = o.start_ms;

			if (isnan(o.recovery_ms))
				snprintf(rows[i], sizeof rows[i], "%s", sc->name);
			else
				snprintf(rows[i], sizeof rows[i], "%s: %.0f ms", sc->name,
					 o.recovery_ms);
			snprintf(labels[i][0], 64, "run (%d tasks)", o.tasks);
			snprintf(labels[i][1], 64, "fault");
			snprintf(labels[i][2], 64, "recovery %.0f ms", o.recovery_ms);
			spans[nspans++] = (struct vspan){rows[i], labels[i][0], 0,
							 (o.end_ms - base) / 1000.0};
			if (!isnan(o.recovery_ms))
				spans[nspans++] = (struct vspan){rows[i], labels[i][2],
								 (o.fault_ms - base) / 1000.0,
								 (o.recovered_ms - base) / 1000.0};
			spans[nspans++] =
				(struct vspan){rows[i], labels[i][1], (o.fault_ms - base) / 1000.0,
					       (o.fault_ms - base) / 1000.0};
		}
	}
	vreport_fact(v->r, "chaos", "worst",
		     json_pack("{s:f, s:f}", "loss_pct", worst_loss, "recovery_s", worst_rec));
	{
		struct vchart c = {.kind = VCHART_TIMELINE,
				   .title = "Chaos: each run, its fault and its recovery",
				   .xlabel = "seconds from the run's start",
				   .spans = spans,
				   .nspans = nspans};

		vreport_chart(v->r, "chaos.svg", &c);
	}
	return 0;
}
