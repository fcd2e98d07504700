/*
 * unit.h - shared helpers of the unit tests (Check). Every test runs in its own
 * forked process (Check's default) with its own bus in a fresh temporary directory.
 *
 * Tests that need other processes fork them. A child never calls Check's asserts and
 * leaves with _exit() (never exit(): that would run the parent's atexit cleanup); it
 * reports through its exit status or a pipe. A child must not use the parent's bus
 * handle: it opens its own (unit_open).
 */
#ifndef MST_UNIT_H
#define MST_UNIT_H

#include <check.h>
#include <stdint.h>
#include <sys/types.h>

#include "muster.h"

/* A fresh private directory (mkdtemp under $TMPDIR or /tmp); malloc'ed path. It is
 * removed when the test passes (a failed test leaves it for inspection), unless
 * $MUSTER_UNIT_KEEP is set. */
char *unit_tmpdir(void);

/* Opens a bus in a fresh directory; fails the test on error. */
mst_bus *unit_bus(void);

/* Opens another handle on the bus in dir, with lease owner owner (0: this process).
 * In a test, fails the test on error; in a child, _exits 100 on error. */
mst_bus *unit_open(const char *dir, pid_t owner);

/* fork(), failing the test (in the parent) when it fails. Use it, never fork() then
 * ck_assert: the child would run the assertion too, and a passing Check assertion
 * writes a record into the test's message file, which the child shares. */
pid_t unit_fork(void);

/* Forks a child that does nothing until the write end *wfd of a pipe is closed (then
 * it exits 0) or it is killed: a live process to use as another lease owner. */
pid_t unit_idle_child(int *wfd);

/* Waits up to ms for pid to end and reaps it. Returns its wait status, or -1 when it
 * was still running at the deadline (it is then killed with SIGKILL and reaped). */
int unit_reap(pid_t pid, int ms);

/* Waits up to ms until pid sleeps in the kernel (state S) and, where
 * /proc/PID/syscall is readable, in system call sysno (-1: any). Returns 1 if so,
 * 0 at the deadline. This polls /proc every millisecond; the library is not polled. */
int unit_wait_asleep(pid_t pid, long sysno, int ms);

/* Milliseconds since t0 (a value of mst_now_ns). */
int64_t unit_ms_since(int64_t t0);

/* Reads or writes exactly len bytes on fd; 0 or -1 (EOF or error). */
int unit_read_full(int fd, void *buf, size_t len);
int unit_write_full(int fd, const void *buf, size_t len);

/* Removes the tree at path (best effort; does not follow symlinks). */
void unit_rmtree(const char *path);

/* The suites; tests/unit/main.c runs them all. */
Suite *suite_util(void);
Suite *suite_queue(void);
Suite *suite_topic(void);
Suite *suite_kv(void);
Suite *suite_write(void);
Suite *suite_lock(void);
Suite *suite_bus(void);
Suite *suite_tasks(void);
Suite *suite_pool(void);
Suite *suite_proc(void);
Suite *suite_svg(void);
Suite *suite_validate(void);
Suite *suite_shard(void);

#endif
