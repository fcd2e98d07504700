/*
 * test_lock.c - named locks: exclusion, timed waits, release on the holder's death and
 * inheritance across fork.
 */
#define _GNU_SOURCE
#include "unit.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

START_TEST(test_acquire_release)
{
	mst_bus *bus = unit_bus();
	mst_lock *l = NULL, *l2 = NULL;

	ck_assert_int_eq(mst_lock_held(bus, "L"), 0);
	ck_assert_int_eq(mst_lock_acquire(bus, "L", 0, &l), 0);
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(mst_lock_held(bus, "L"), 1);
	ck_assert_int_eq(mst_lock_held(bus, "other"), 0);
	/* a second acquire, even by the same process, is refused */
	ck_assert_int_eq(mst_lock_acquire(bus, "L", 0, &l2), MST_EBUSY);
	ck_assert_ptr_null(l2);
	/* other names are independent */
	ck_assert_int_eq(mst_lock_acquire(bus, "other", 0, &l2), 0);
	mst_lock_release(l2);
	mst_lock_release(l);
	mst_lock_release(NULL);
	ck_assert_int_eq(mst_lock_held(bus, "L"), 0);
	ck_assert_int_eq(mst_lock_acquire(bus, "L", 0, &l), 0);
	ck_assert_int_eq(mst_lock_held(bus, "L"), 1);
	mst_lock_release(l);
	ck_assert_int_eq(mst_lock_held(bus, "L"), 0);
	/* wait -1 on a free lock */
	ck_assert_int_eq(mst_lock_acquire(bus, "L", -1, &l), 0);
	mst_lock_release(l);
	/* every valid name works, including those that are special as file names */
	ck_assert_int_eq(mst_lock_acquire(bus, ".", 0, &l), 0);
	ck_assert_int_eq(mst_lock_acquire(bus, "..", 0, &l2), 0);
	ck_assert_int_eq(mst_lock_held(bus, "."), 1);
	ck_assert_int_eq(mst_lock_held(bus, ".."), 1);
	ck_assert_int_eq(mst_lock_held(bus, "..."), 0);
	mst_lock_release(l);
	ck_assert_int_eq(mst_lock_held(bus, "."), 0);
	ck_assert_int_eq(mst_lock_held(bus, ".."), 1);
	ck_assert_int_eq(mst_lock_acquire(bus, "..", 0, &l), MST_EBUSY);
	mst_lock_release(l2);
	ck_assert_int_eq(mst_lock_held(bus, ".."), 0);
	/* bad arguments */
	ck_assert_int_eq(mst_lock_acquire(bus, "a b", 0, &l), MST_ENAME);
	ck_assert_int_eq(mst_lock_acquire(bus, "L", 0, NULL), MST_EINVAL);
	ck_assert_int_eq(mst_lock_held(bus, ""), MST_ENAME);
	ck_assert_int_eq(mst_lock_fd(NULL, 0), MST_EINVAL);
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_timeout)
{
	mst_bus *bus = unit_bus();
	mst_lock *l, *l2 = NULL;
	int64_t t0, ms;
	int i;

	ck_assert_int_eq(mst_lock_acquire(bus, "T", 0, &l), 0);
	for (i = 0; i < 3; i++) {
		t0 = mst_now_ns();
		ck_assert_int_eq(mst_lock_acquire(bus, "T", 100, &l2), MST_ETIMEOUT);
		ms = unit_ms_since(t0);
		ck_assert_ptr_null(l2);
		ck_assert_msg(ms >= 90 && ms < 1500, "timed out after %lld ms", (long long)ms);
	}
	/* the failed waits left nothing behind */
	mst_lock_release(l);
	ck_assert_int_eq(mst_lock_held(bus, "T"), 0);
	ck_assert_int_eq(mst_lock_acquire(bus, "T", 100, &l), 0);
	mst_lock_release(l);
	mst_bus_close(bus);
}
END_TEST

/* A child holds lock name; the parent sees it held, then kills the child and acquires. */
START_TEST(test_holder_killed)
{
	mst_bus *bus = unit_bus();
	const char *dir = mst_bus_path(bus);
	int up[2], down[2], status;
	mst_lock *l = NULL;
	int64_t t0, ms;
	pid_t pid;
	char c;

	ck_assert_int_eq(pipe(up), 0);
	ck_assert_int_eq(pipe(down), 0);
	pid = unit_fork();
	if (pid == 0) {
		mst_bus *b = unit_open(dir, 0);
		mst_lock *cl;

		close(up[0]);
		close(down[1]);
		if (mst_lock_acquire(b, "K", 0, &cl) != 0)
			_exit(1);
		unit_write_full(up[1], "h", 1);
		if (read(down[0], &c, 1) < 0) /* hold until killed */
			_exit(2);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	ck_assert_int_eq(unit_read_full(up[0], &c, 1), 0);
	ck_assert_int_eq(mst_lock_held(bus, "K"), 1);
	ck_assert_int_eq(mst_lock_acquire(bus, "K", 0, &l), MST_EBUSY);
	ck_assert_int_eq(mst_lock_acquire(bus, "K", 100, &l), MST_ETIMEOUT);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	t0 = mst_now_ns();
	ck_assert_int_eq(mst_lock_acquire(bus, "K", 2000, &l), 0);
	ms = unit_ms_since(t0);
	ck_assert_msg(ms < 1000, "acquired after %lld ms", (long long)ms);
	ck_assert_int_eq(mst_lock_held(bus, "K"), 1);
	mst_lock_release(l);
	status = unit_reap(pid, 5000);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	close(up[0]);
	close(down[1]);
	mst_bus_close(bus);
}
END_TEST

/* A waiting acquire (wait forever) is granted when the holder releases. */
START_TEST(test_waiter_granted)
{
	mst_bus *bus = unit_bus();
	const char *dir = mst_bus_path(bus);
	mst_lock *l;
	int up[2], status;
	int64_t t0;
	pid_t pid;
	char c;

	ck_assert_int_eq(mst_lock_acquire(bus, "G", 0, &l), 0);
	ck_assert_int_eq(pipe(up), 0);
	pid = unit_fork();
	if (pid == 0) {
		mst_bus *b = unit_open(dir, 0);
		mst_lock *cl;
		int rc;

		close(up[0]);
		/* the child shares our holder (see test_inherited_across_fork): it drops
		 * its copy, so only the parent holds the lock */
		mst_lock_release(l);
		unit_write_full(up[1], "w", 1);
		rc = mst_lock_acquire(b, "G", -1, &cl);
		unit_write_full(up[1], &rc, sizeof rc);
		_exit(rc == 0 ? 0 : 1);
	}
	close(up[1]);
	ck_assert_int_eq(unit_read_full(up[0], &c, 1), 0);
	ck_assert_msg(unit_wait_asleep(pid, SYS_fcntl, 3000), "child never blocked");
	/* the child waits in the kernel; our release must hand it the lock */
	t0 = mst_now_ns();
	mst_lock_release(l);
	ck_assert_int_eq(unit_read_full(up[0], &status, sizeof status), 0);
	ck_assert_int_eq(status, 0);
	ck_assert_int_lt(unit_ms_since(t0), 1000);
	status = unit_reap(pid, 5000);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(mst_lock_held(bus, "G"), 0);
	close(up[0]);
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_inherited_across_fork)
{
	mst_bus *bus = unit_bus();
	mst_lock *l, *l2;
	int wfd, status, fd;
	pid_t child;

	ck_assert_int_eq(mst_lock_acquire(bus, "I", 0, &l), 0);
	fd = mst_lock_fd(l, 1);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
	ck_assert_int_eq(mst_lock_fd(l, 0), fd);
	ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
	/* the child shares the holder: our release does not free the lock */
	child = unit_idle_child(&wfd);
	mst_lock_release(l);
	ck_assert_int_eq(mst_lock_held(bus, "I"), 1);
	ck_assert_int_eq(mst_lock_acquire(bus, "I", 0, &l2), MST_EBUSY);
	/* until the child is gone too */
	close(wfd);
	status = unit_reap(child, 5000);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(mst_lock_held(bus, "I"), 0);
	ck_assert_int_eq(mst_lock_acquire(bus, "I", 0, &l2), 0);
	mst_lock_release(l2);
	mst_bus_close(bus);
}
END_TEST

Suite *suite_lock(void)
{
	Suite *s = suite_create("lock");
	TCase *tc = tcase_create("lock");

	tcase_add_test(tc, test_acquire_release);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_holder_killed);
	tcase_add_test(tc, test_waiter_granted);
	tcase_add_test(tc, test_inherited_across_fork);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}
