/*
 * util.c - errors, names, clocks and process identity.
 *
 * Process identity is (pid, start time) so that a lease or lock is never credited to a
 * process that merely reuses a dead owner's pid. Liveness checks keep a small cache of
 * pidfds: once a pidfd is open for a verified owner, "is it gone?" is one poll().
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

const char *mst_strerror(int err)
{
	switch (err) {
#define MST_X_MSG(name, value, msg)                                                                \
	case name:                                                                                 \
		return msg;
		MST_ERRORS(MST_X_MSG)
#undef MST_X_MSG
	case 0:
		return "success";
	default:
		break;
	}
	if (err < 0 && err > -4096)
		return strerror(-err);
	return "unknown error";
}

const char *mst_errname(int err)
{
	switch (err) {
#define MST_X_NAME(name, value, msg)                                                               \
	case name:                                                                                 \
		return #name;
		MST_ERRORS(MST_X_NAME)
#undef MST_X_NAME
	case 0:
		return "OK";
	default:
		break;
	}
	if (err < 0 && err > -4096) {
		const char *n = strerrorname_np(-err);
		return n ? n : "EUNKNOWN";
	}
	return "EUNKNOWN";
}

int mst_name_check(const char *name)
{
	size_t i;

	if (!name)
		return MST_ENAME;
	for (i = 0; name[i]; i++) {
		unsigned char c = (unsigned char)name[i];
		if (i >= MST_NAME_MAX)
			return MST_ENAME;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == ':' || c == '-'))
			return MST_ENAME;
	}
	return i ? 0 : MST_ENAME;
}

int64_t mst_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t mst__wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mst__deadline(int64_t wait_ms)
{
	if (wait_ms < 0)
		return INT64_MAX;
	return mst_now_ns() + wait_ms * 1000000;
}

int64_t mst__ms_left(int64_t deadline_ns)
{
	int64_t left;

	if (deadline_ns == INT64_MAX)
		return INT64_MAX;
	left = deadline_ns - mst_now_ns();
	return left <= 0 ? 0 : (left + 999999) / 1000000;
}

/* Reads state and start time (field 22) of /proc/PID/stat. */
static int proc_stat(pid_t pid, char *state, uint64_t *start)
{
	char path[64], buf[1024];
	ssize_t n;
	int fd, field = 3;
	char *p;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ESRCH;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -ESRCH;
	buf[n] = 0;
	/* the command name may hold spaces and parentheses: skip to the last ')' */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -EIO;
	p += 2;
	*state = *p;
	while (*p && field < 22) {
		if (*p++ == ' ')
			field++;
	}
	if (field != 22)
		return -EIO;
	*start = strtoull(p, NULL, 10);
	return 0;
}

/* The inode of our pid namespace: pids are numbers in it. 0 if unknown. */
static uint64_t self_pidns(void)
{
	static uint64_t ns;
	struct stat st;

	if (!ns && stat("/proc/self/ns/pid", &st) == 0)
		ns = (uint64_t)st.st_ino;
	return ns;
}

int mst__owner_of(pid_t pid, mst__owner *o)
{
	char state;
	uint64_t start;
	int rc;

	if (pid <= 0)
		return -ESRCH;
	rc = proc_stat(pid, &state, &start);
	if (rc < 0)
		return rc;
	if (state == 'Z' || state == 'X')
		return -ESRCH;
	o->pid = pid;
	o->start = start;
	o->ns = self_pidns();
	return 0;
}

/* Cache of pidfds for owners verified alive at the time their pidfd was opened. */
#define OWNER_CACHE 64
static __thread struct {
	mst__owner o;
	int fd;
} cache[OWNER_CACHE];
static __thread unsigned cache_next;

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

int mst__owner_gone(const mst__owner *o)
{
	struct pollfd pfd;
	char state;
	uint64_t start;
	unsigned i, slot;
	int fd;

	if (o->pid <= 0)
		return 1;
	if (o->ns && self_pidns() && o->ns != self_pidns())
		return 0;
	for (i = 0; i < OWNER_CACHE; i++) {
		if (cache[i].o.pid == o->pid && cache[i].o.start == o->start && cache[i].fd > 0) {
			pfd.fd = cache[i].fd;
			pfd.events = POLLIN;
			pfd.revents = 0;
			if (poll(&pfd, 1, 0) == 0)
				return 0;
			/* exited (zombie or reaped): forget it */
			close(cache[i].fd);
			cache[i].fd = 0;
			cache[i].o.pid = 0;
			return 1;
		}
	}
	if (kill(o->pid, 0) < 0 && errno == ESRCH)
		return 1;
	fd = pidfd_open_(o->pid);
	if (fd < 0) {
		if (errno == ESRCH)
			return 1;
		/* no pidfds (old kernel, sandbox): compare start times each time */
		if (proc_stat(o->pid, &state, &start) < 0)
			return 1;
		return start != o->start || state == 'Z' || state == 'X';
	}
	/* with the pidfd open, the pid cannot be reused under us: verify identity now */
	if (proc_stat(o->pid, &state, &start) < 0 || start != o->start || state == 'Z' ||
	    state == 'X') {
		close(fd);
		return 1;
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	slot = cache_next++ % OWNER_CACHE;
	if (cache[slot].fd > 0)
		close(cache[slot].fd);
	cache[slot].o = *o;
	cache[slot].fd = fd;
	return 0;
}

int mst__owner_pidfd(const mst__owner *o)
{
	char state;
	uint64_t start;
	int fd;

	if (o->pid <= 0 || (o->ns && self_pidns() && o->ns != self_pidns()))
		return -1;
	fd = pidfd_open_(o->pid);
	if (fd < 0)
		return -1;
	/* with the pidfd open the pid cannot be reused: check it is still the owner */
	if (proc_stat(o->pid, &state, &start) < 0 || start != o->start || state == 'Z' ||
	    state == 'X') {
		close(fd);
		return -1;
	}
	return fd;
}
