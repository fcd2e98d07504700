/*
 * lock.c - named locks of the local backend.
 *
 * A lock is an open-file-description (OFD) write lock on locks/NAME. The kernel
 * releases it when the last descriptor of that description is closed, which includes
 * the death of every process holding it: no holder can leave a lock behind. A blocked
 * acquire sleeps in the kernel (F_OFD_SETLKW) and is woken by the release; a finite
 * wait runs that call in a helper thread which is cancelled at the deadline.
 */
#define _GNU_SOURCE
#include "local.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct mst_lock {
	int fd;
};

/* The flock lives here, not on the helper thread's stack: a cancelled thread's frame
 * is unwound without its epilogue, and under AddressSanitizer the poisoned guard
 * zones around a stack object would stay behind and trip the thread's exit. */
struct waiter {
	int fd;
	int rc;
	int done;
	struct flock fl;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;
	int r = fcntl(w->fd, F_OFD_SETLKW, &w->fl);

	pthread_mutex_lock(&w->mu);
	w->rc = r < 0 ? -errno : 0;
	w->done = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static int timed_lock(int fd, int64_t wait_ms)
{
	struct waiter w = {.fd = fd, .rc = MST_ETIMEOUT};
	pthread_condattr_t ca;
	struct timespec ts;
	pthread_t t;
	int rc;

	w.fl.l_type = F_WRLCK;
	w.fl.l_whence = SEEK_SET;
	pthread_mutex_init(&w.mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w.cv, &ca);
	pthread_condattr_destroy(&ca);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += wait_ms / 1000;
	ts.tv_nsec += (wait_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	if ((rc = pthread_create(&t, NULL, wait_thread, &w))) {
		rc = -rc;
		goto out;
	}
	pthread_mutex_lock(&w.mu);
	while (!w.done && pthread_cond_timedwait(&w.cv, &w.mu, &ts) == 0)
		;
	pthread_mutex_unlock(&w.mu);
	if (!w.done)
		pthread_cancel(t);
	pthread_join(t, NULL);
	/* a cancel that came after the lock was granted leaves done set */
	rc = w.done ? w.rc : MST_ETIMEOUT;
out:
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	return rc;
}

/* The file of lock name. "." and ".." are valid names but not usable file names: they
 * become "%." and "%.." ('%' is never part of a name, so no other lock can clash). */
static int lock_path(mst_bus *bus, const char *name, char *path, size_t sz)
{
	const char *esc = strspn(name, ".") == strlen(name) && strlen(name) <= 2 ? "%" : "";

	if ((size_t)snprintf(path, sz, "%s/locks/%s%s", bus->path, esc, name) >= sz)
		return -ENAMETOOLONG;
	return 0;
}

int local__lock_acquire(mst_bus *bus, const char *name, int64_t wait_ms, mst_lock **out)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	char path[PATH_MAX];
	mst_lock *l;
	int fd, rc;

	if ((rc = lock_path(bus, name, path, sizeof path)) < 0)
		return rc;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return errno == ENOSPC ? MST_EFULL : -errno;
	if (fcntl(fd, F_OFD_SETLK, &fl) == 0) {
		rc = 0;
	} else if (errno != EAGAIN && errno != EACCES) {
		rc = -errno;
	} else if (wait_ms == 0) {
		rc = MST_EBUSY;
	} else if (wait_ms < 0) {
		while ((rc = fcntl(fd, F_OFD_SETLKW, &fl)) < 0 && errno == EINTR)
			;
		rc = rc < 0 ? -errno : 0;
	} else {
		rc = timed_lock(fd, wait_ms);
	}
	if (rc < 0) {
		close(fd);
		return rc;
	}
	l = malloc(sizeof *l);
	if (!l) {
		close(fd);
		return -ENOMEM;
	}
	l->fd = fd;
	*out = l;
	return 0;
}

int local__lock_held(mst_bus *bus, const char *name)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	char path[PATH_MAX];
	int fd, rc;

	if ((rc = lock_path(bus, name, path, sizeof path)) < 0)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	rc = fcntl(fd, F_OFD_GETLK, &fl);
	close(fd);
	if (rc < 0)
		return -errno;
	return fl.l_type != F_UNLCK;
}

int mst_lock_fd(const mst_lock *lock, int inherit)
{
	int flags;

	if (!lock)
		return MST_EINVAL;
	flags = fcntl(lock->fd, F_GETFD);
	if (flags >= 0)
		fcntl(lock->fd, F_SETFD, inherit ? flags & ~FD_CLOEXEC : flags | FD_CLOEXEC);
	return lock->fd;
}

void mst_lock_release(mst_lock *lock)
{
	if (!lock)
		return;
	close(lock->fd);
	free(lock);
}
