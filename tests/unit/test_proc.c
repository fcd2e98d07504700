/*
 * test_proc.c - the identity of a registered process (src/run/coord.c): the start time
 * a spawner derives from the boot clock is the one /proc/PID/stat shows, and a reused
 * or dead pid is not taken for the process registered.
 */
#define _GNU_SOURCE
#include "unit.h"

#include "run.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* Children made between two clock readings in the same tick started at that tick, as
 * /proc says; over a few hundred children some readings agree and none disagrees. */
START_TEST(test_boot_ticks_are_proc_start)
{
	int i, agreed = 0;

	for (i = 0; i < 300; i++) {
		uint64_t before = run_boot_ticks(), after, proc;
		pid_t pid = unit_fork();
		if (pid == 0) {
			pause();
			_exit(0);
		}
		after = run_boot_ticks();
		proc = run_proc_start(pid);
		ck_assert_uint_ne(proc, 0);
		ck_assert_msg(before <= proc && proc <= after,
			      "child %d started at tick %llu, outside %llu..%llu", (int)pid,
			      (unsigned long long)proc, (unsigned long long)before,
			      (unsigned long long)after);
		agreed += before == after;
		ck_assert(run_proc_alive(pid, proc));
		ck_assert(!run_proc_alive(pid, proc + 1)); /* another process of that pid */
		kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
		ck_assert(!run_proc_alive(pid, proc));
	}
	ck_assert_int_gt(agreed, 0);
}
END_TEST

Suite *suite_proc(void)
{
	Suite *s = suite_create("proc");
	TCase *tc = tcase_create("proc");

	tcase_add_test(tc, test_boot_ticks_are_proc_start);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}
