/*
 * main.c - runs every unit-test suite; Check forks each test and enforces a timeout.
 * Also the shared helpers of unit.h.
 */
#define _GNU_SOURCE
#include "unit.h"

#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Directories made by this process, removed at exit (in the test's own process). */
#define TMPDIRS_MAX 32
static char *tmpdirs[TMPDIRS_MAX];
static int ntmpdirs;
static pid_t tmpdirs_pid;

static void cleanup_tmpdirs(void)
{
	int i;

	/* a forked child that called exit() by mistake must not remove our directories */
	if (getpid() != tmpdirs_pid || getenv("MUSTER_UNIT_KEEP"))
		return;
	for (i = 0; i < ntmpdirs; i++)
		unit_rmtree(tmpdirs[i]);
}

char *unit_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *path;

	if (!base || !*base)
		base = "/tmp";
	if (asprintf(&path, "%s/muster-unit.XXXXXX", base) < 0)
		abort();
	if (!mkdtemp(path))
		abort();
	if (tmpdirs_pid != getpid()) {
		tmpdirs_pid = getpid();
		ntmpdirs = 0;
		atexit(cleanup_tmpdirs);
	}
	if (ntmpdirs < TMPDIRS_MAX)
		tmpdirs[ntmpdirs++] = strdup(path);
	return path;
}

mst_bus *unit_bus(void)
{
	mst_bus *bus = NULL;
	mst_bus_opts opts = {.quota = 64u << 20};
	char *dir = unit_tmpdir();
	int rc = mst_bus_open(&bus, dir, &opts);

	ck_assert_msg(rc == 0, "mst_bus_open(%s): %s", dir, mst_strerror(rc));
	free(dir);
	return bus;
}

mst_bus *unit_open(const char *dir, pid_t owner)
{
	mst_bus *bus = NULL;
	mst_bus_opts opts = {.owner_pid = owner, .no_create = 1};
	int rc = mst_bus_open(&bus, dir, &opts);

	if (getpid() != tmpdirs_pid && tmpdirs_pid) {
		/* in a forked child: no Check calls, not even a passing one */
		if (rc != 0)
			_exit(100);
		return bus;
	}
	ck_assert_msg(rc == 0, "mst_bus_open(%s, owner %d): %s", dir, (int)owner, mst_strerror(rc));
	return bus;
}

pid_t unit_fork(void)
{
	pid_t pid = fork();

	/* only the parent may call Check: a passing assertion records its place in the
	 * test's message file, which a child shares (its records then interleave) */
	if (pid < 0)
		ck_abort_msg("fork: %s", strerror(errno));
	return pid;
}

pid_t unit_idle_child(int *wfd)
{
	int p[2];
	pid_t pid;
	char c;

	ck_assert_int_eq(pipe(p), 0);
	pid = unit_fork();
	if (pid == 0) {
		close(p[1]);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(p[0]);
	*wfd = p[1];
	return pid;
}

int unit_reap(pid_t pid, int ms)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0), status = 0;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	if (fd >= 0) {
		while (poll(&pfd, 1, ms) < 0 && errno == EINTR)
			;
		close(fd);
	}
	if (waitpid(pid, &status, WNOHANG) == pid)
		return status;
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

int unit_wait_asleep(pid_t pid, long sysno, int ms)
{
	int64_t t0 = mst_now_ns();
	struct timespec tick = {0, 1000000};
	char path[64], buf[512];

	while (unit_ms_since(t0) < ms) {
		FILE *f;
		char *p;
		int asleep = 0;
		long nr;

		snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
		if ((f = fopen(path, "r"))) {
			if (fgets(buf, sizeof buf, f) && (p = strrchr(buf, ')')) && p[1] == ' ')
				asleep = p[2] == 'S';
			fclose(f);
		}
		if (asleep && sysno >= 0) {
			snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
			if ((f = fopen(path, "r"))) {
				if (fscanf(f, "%ld", &nr) == 1 && nr != sysno)
					asleep = 0;
				fclose(f);
			}
		}
		if (asleep)
			return 1;
		nanosleep(&tick, NULL);
	}
	return 0;
}

int64_t unit_ms_since(int64_t t0)
{
	return (mst_now_ns() - t0) / 1000000;
}

int unit_read_full(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int unit_write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void unit_rmtree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(int argc, char **argv)
{
	Suite *(*suites[])(void) = {suite_util, suite_bus,   suite_queue, suite_topic,
				    suite_kv,	suite_write, suite_lock,  suite_tasks,
				    suite_pool, suite_proc,  suite_svg,	  suite_validate,
				    suite_shard};
	SRunner *sr = srunner_create(NULL);
	size_t i;
	int failed;

	for (i = 0; i < sizeof suites / sizeof suites[0]; i++)
		srunner_add_suite(sr, suites[i]());
	if (argc > 1)
		srunner_set_xml(sr, argv[1]);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
