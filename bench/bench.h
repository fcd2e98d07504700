/*
 * bench.h - helpers shared by the benchmark programs (header-only, no library).
 *
 * Every benchmark program prints its figures as lines "R KEY VALUE" on stdout (times in
 * microseconds, rates in messages per second) and its remarks on stderr; bench/run.sh
 * collects the R lines into the table and the JSON.
 *
 * Latencies are one-way wake-up latencies measured the same way for every subject: the
 * sender reads CLOCK_MONOTONIC into the message (or the shared stamp word), makes it
 * visible and wakes the receiver; the receiver, on return from its blocking call, reads
 * CLOCK_MONOTONIC again; the sample is the difference. Before each sample the sender
 * waits until the receiver's process is asleep (state S in /proc/PID/stat), so every
 * sample includes a real wake-up, and one message is in flight at a time: the receiver
 * reports each sample through a futex word in a shared mapping (the "ack" word) before
 * the sender stamps the next.
 */
#ifndef MST_BENCH_H
#define MST_BENCH_H

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BENCH_MAX_KIDS 1024

static pid_t bench_kids[BENCH_MAX_KIDS];
static int bench_nkids;

static inline int64_t bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void bench_die(const char *what)
{
	int i;

	fprintf(stderr, "bench: %s\n", what);
	for (i = 0; i < bench_nkids; i++)
		if (bench_kids[i] > 0)
			kill(bench_kids[i], SIGKILL);
	exit(1);
}

/* A zeroed mapping shared with children forked later. */
static inline void *bench_shared(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		bench_die("mmap of the shared area failed");
	return p;
}

static inline long bench_futex_wait(uint32_t *w, uint32_t seen, int64_t timeout_ns)
{
	struct timespec ts, *tp = NULL;

	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tp = &ts;
	}
	return syscall(SYS_futex, w, FUTEX_WAIT, seen, tp, NULL, 0);
}

static inline void bench_futex_wake(uint32_t *w)
{
	syscall(SYS_futex, w, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

/* Bumps word w and wakes its sleepers. */
static inline void bench_signal(uint32_t *w)
{
	__atomic_fetch_add(w, 1, __ATOMIC_SEQ_CST);
	bench_futex_wake(w);
}

/* Sleeps until word w differs from seen. */
static inline void bench_await(uint32_t *w, uint32_t seen)
{
	while (__atomic_load_n(w, __ATOMIC_SEQ_CST) == seen)
		bench_futex_wait(w, seen, -1);
}

/* Forks a child that dies with its parent; the child runs fn(arg) and exits with its
 * result. */
static inline pid_t bench_fork(int (*fn)(void *), void *arg)
{
	pid_t pid;

	if (bench_nkids == BENCH_MAX_KIDS)
		bench_die("too many children");
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		bench_die("fork failed");
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(1);
		_exit(fn(arg));
	}
	bench_kids[bench_nkids++] = pid;
	return pid;
}

/* Waits for child pid; returns its exit status (or 128+signal). */
static inline int bench_reap(pid_t pid)
{
	int st, i;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	for (i = 0; i < bench_nkids; i++)
		if (bench_kids[i] == pid)
			bench_kids[i] = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Kills (SIGKILL) and reaps every child still listed. */
static inline void bench_kill_all(void)
{
	int i;

	for (i = 0; i < bench_nkids; i++) {
		if (bench_kids[i] > 0) {
			kill(bench_kids[i], SIGKILL);
			bench_reap(bench_kids[i]);
		}
	}
	bench_nkids = 0;
}

/* The scheduler state letter of pid ('R', 'S', 'D', ...), or 0. */
static inline char bench_proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

/* Waits (up to 50 ms) until pid sleeps interruptibly. Returns 1 if it was seen asleep. */
static inline int bench_wait_asleep(pid_t pid)
{
	int64_t end = bench_now() + 50 * 1000000LL;

	do {
		if (bench_proc_state(pid) == 'S')
			return 1;
		sched_yield();
	} while (bench_now() < end);
	return 0;
}

static inline int bench_cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Percentile p (0..100) of n samples (sorted in place), nearest rank, in µs. */
static inline double bench_pct_us(int64_t *v, size_t n, double p, int sorted)
{
	size_t r;

	if (!n)
		return -1;
	if (!sorted)
		qsort(v, n, sizeof *v, bench_cmp_i64);
	r = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (r < 1)
		r = 1;
	if (r > n)
		r = n;
	return (double)v[r - 1] / 1000.0;
}

static inline void bench_result(const char *prefix, const char *key, double v)
{
	printf("R %s%s %.6g\n", prefix, key, v);
	fflush(stdout);
}

/* Prints p50, p99, p99.9, max and n of latency samples under prefix. cens >= 0 is the
 * value of one censored sample among them (a message still in flight when time ran
 * out: its true latency is at least cens); a percentile at or above it is then only a
 * lower bound, flagged by KEY_lb = 1. */
static inline void bench_latencies(const char *prefix, int64_t *v, size_t n, int64_t cens)
{
	static const struct {
		const char *key, *lb;
		double p;
	} q[] = {{"p50_us", "p50_lb", 50}, {"p99_us", "p99_lb", 99}, {"p999_us", "p999_lb", 99.9}};
	size_t i;

	if (n)
		qsort(v, n, sizeof *v, bench_cmp_i64);
	for (i = 0; i < sizeof q / sizeof q[0]; i++) {
		double x = bench_pct_us(v, n, q[i].p, 1);

		bench_result(prefix, q[i].key, x);
		bench_result(prefix, q[i].lb, cens >= 0 && x >= (double)cens / 1000.0);
	}
	bench_result(prefix, "max_us", n ? (double)v[n - 1] / 1000.0 : -1);
	bench_result(prefix, "n", (double)n);
	bench_result(prefix, "censored", cens >= 0);
}

static inline long bench_env_long(const char *name, long def)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s || !*s)
		return def;
	v = strtol(s, &end, 10);
	return *end || v <= 0 ? def : v;
}

static inline double bench_env_double(const char *name, double def)
{
	const char *s = getenv(name);
	char *end;
	double v;

	if (!s || !*s)
		return def;
	v = strtod(s, &end);
	return *end || v <= 0 ? def : v;
}

#endif
