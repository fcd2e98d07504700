/*
 * bench.c - the headline benchmark (muster bench coordinate, and muster validate): N
 * agents spawned, one task each, every reply counted, beside the floor measured in the
 * same run.
 *
 * exec: the floor is N bare spawns of /bin/echo by vfork and exec from one process
 * (the way a coordinator spawns, without the rest), all at once, and their reaping; the
 * posix_spawn floor is measured too. pool: the agents are up before the tasks are
 * queued (run_opts.warm) and the floor is as many request/reply round trips with one
 * agent over pipes, one after the other.
 */
#define _GNU_SOURCE
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static pid_t lean_spawn(char *const argv[], int out)
{
	pid_t pid = vfork();

	if (pid == 0) {
		dup2(out, 1);
		execve(argv[0], argv, environ);
		_exit(127);
	}
	return pid;
}

double run_spawn_floor(char *const argv[], int n, int par, int lean)
{
	posix_spawn_file_actions_t fa;
	double t0;
	int live = 0, i = 0, st, null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	pid_t pid;

	if (null < 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	t0 = now_s();
	while (i < n || live > 0) {
		while (i < n && live < par) {
			if (lean) {
				pid = lean_spawn(argv, null);
			} else if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
				pid = -1;
			}
			if (pid < 0) {
				posix_spawn_file_actions_destroy(&fa);
				close(null);
				return -1;
			}
			i++;
			live++;
		}
		if (wait(&st) > 0)
			live--;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(null);
	return now_s() - t0;
}

/* The pool floor: n request/reply round trips over pipes with one echo agent, one
 * after the other. */
static double pipe_floor(const char *self, size_t n)
{
	char *argv[] = {(char *)self, "__pool-echo", NULL};
	posix_spawn_file_actions_t fa;
	int in[2], out[2], st;
	char buf[256], req[128];
	double t0, t;
	pid_t pid;
	size_t i;
	FILE *r;

	if (pipe2(in, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	if (posix_spawn(&pid, self, &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	r = fdopen(out[0], "r");
	t0 = now_s();
	for (i = 0; r && i < n; i++) {
		int len = snprintf(req, sizeof req,
				   "{\"id\":\"%zu\",\"n\":%zu,\"attempt\":1,\"run\":\"bench\","
				   "\"payload\":\"task-%zu\"}\n",
				   i + 1, i, i);

		if (write(in[1], req, (size_t)len) != len || !fgets(buf, sizeof buf, r))
			break;
	}
	t = now_s() - t0;
	close(in[1]);
	if (r)
		fclose(r);
	else
		close(out[0]);
	waitpid(pid, &st, 0);
	return i == n ? t : -1;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int run_rmtree(const char *dir)
{
	return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -errno;
}

void run_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* The replies in f that are ok and carry their task's payload back. */
static size_t count_delivered(FILE *f, int pool)
{
	char *line = NULL;
	size_t cap = 0, delivered = 0;

	rewind(f);
	while (getline(&line, &cap, f) > 0) {
		json_t *r = json_loads(line, 0, NULL);
		const char *st = r ? json_string_value(json_object_get(r, "status")) : NULL;
		const char *out = r ? json_string_value(json_object_get(r, "output")) : NULL;
		json_int_t n = r ? json_integer_value(json_object_get(r, "n")) : -1;
		char want[40];

		snprintf(want, sizeof want, pool ? "task-%lld" : "task-%lld\n", (long long)n);
		if (st && !strcmp(st, "ok") && out && !strcmp(out, want))
			delivered++;
		json_decref(r);
	}
	free(line);
	return delivered;
}

int run_bench_coordinate(struct run_bench *b, char *err, size_t errsz)
{
	char tmpl[] = "/dev/shm/muster-bench-XXXXXX", rpath[PATH_MAX + 32];
	char *echo[] = {"/bin/echo", "{}", NULL}, *floor_argv[] = {"/bin/echo", "floor", NULL};
	char **cmd = b->cmd ? b->cmd : echo;
	char *pool_cmd[] = {(char *)b->self, "__pool-echo", NULL};
	struct run_opts o = {0};
	struct run_summary s = {0};
	struct run_tasks ts = {0};
	const char *dir = b->dir;
	mst_bus *bus = NULL;
	size_t i, srclen = 0;
	char *src = NULL;
	double t0;
	FILE *f = NULL;
	int rc;

	b->seconds = b->floor = b->pfloor = 0;
	b->delivered = 0;
	b->status = 0;
	if (!b->tasks)
		b->tasks = b->pool ? 1000 : (size_t)b->agents;
	if (!dir) {
		if (!mkdtemp(tmpl) &&
		    (snprintf(tmpl, sizeof tmpl, "/tmp/muster-bench-XXXXXX"), !mkdtemp(tmpl))) {
			snprintf(err, errsz, "cannot make a scratch bus: %s", strerror(errno));
			return -errno;
		}
		dir = tmpl;
	}
	if (dir != b->bus)
		snprintf(b->bus, sizeof b->bus, "%s", dir);
	run_raise_nofile();
	rc = -ENOMEM;
	if (!(src = malloc(b->tasks * 24 + 1))) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	for (i = 0; i < b->tasks; i++) {
		char line[32];

		snprintf(line, sizeof line, "task-%zu", i);
		if ((rc = run_task_parse(&ts, line, strlen(line), i + 1, err, errsz)) < 0)
			goto out;
		srclen += (size_t)sprintf(src + srclen, "%s\n", line);
	}
	if ((rc = run_tasks_check(&ts, err, errsz)) < 0)
		goto out;
	if (!b->no_floor) {
		b->floor = b->pool ? pipe_floor(b->self, b->tasks)
				   : run_spawn_floor(floor_argv, b->agents, b->agents, 1);
		b->pfloor = b->pool ? 0 : run_spawn_floor(floor_argv, b->agents, b->agents, 0);
	}
	if ((rc = mst_bus_open(&bus, dir, NULL)) < 0) {
		snprintf(err, errsz, "cannot open a bus in %s: %s", dir, mst_strerror(rc));
		goto out;
	}
	snprintf(rpath, sizeof rpath, "%s/bench-results.jsonl", dir);
	if (!(f = fopen(rpath, "w+"))) {
		rc = -errno;
		snprintf(err, errsz, "%s: %s", rpath, strerror(errno));
		goto out;
	}
	o.tasks_src = src;
	o.tasks_len = srclen;
	o.bus_dir = dir;
	o.cmd = b->pool ? pool_cmd : cmd;
	o.mode = b->pool ? "pool" : NULL;
	o.warm = b->pool;
	o.agents = b->agents;
	o.self = b->self;
	o.quiet = 1;
	o.run = b->run ? b->run : "bench";
	o.results = f;
	t0 = now_s();
	rc = run_master(bus, &ts, &o, &s);
	/* until the last reply was in (the master's own wind-down is not counted) */
	b->seconds = s.seconds > 0 ? s.seconds : now_s() - t0;
	b->status = rc;
	b->delivered = count_delivered(f, b->pool);
	if (rc < 0)
		snprintf(err, errsz, "the run failed: %s", mst_strerror(rc));
	else
		rc = 0;
out:
	if (f) {
		fclose(f);
		unlink(rpath);
	}
	mst_bus_close(bus);
	run_tasks_free(&ts);
	free(src);
	if (dir == tmpl && run_rmtree(tmpl) < 0)
		fprintf(stderr, "muster: bench: could not remove %s\n", tmpl);
	return rc;
}
