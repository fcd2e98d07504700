/*
 * locate.c - where a bus lives and whether that directory is safe.
 *
 * A URL names a bus: "local:NAME" or a bare NAME lives under the first usable base
 * of $MUSTER_HOME, /dev/shm/muster-$UID, $XDG_RUNTIME_DIR/muster,
 * ${TMPDIR:-/tmp}/muster-$UID; "local:/dir" or anything with a '/' is that directory.
 * Usable means: a directory (not a symlink) owned by us, not writable by group or
 * others, writable by us, with at least MIN_FREE bytes free.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define MIN_FREE (8u << 20)

int mst__dir_check(const char *dir, bool create)
{
	struct stat st;

	if (lstat(dir, &st) < 0) {
		if (errno != ENOENT || !create)
			return -errno;
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return -errno;
		if (lstat(dir, &st) < 0)
			return -errno;
	}
	if (S_ISLNK(st.st_mode))
		return MST_EINSECURE;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (st.st_uid != geteuid())
		return MST_EINSECURE;
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return MST_EINSECURE;
	if (access(dir, W_OK | X_OK) < 0)
		return -errno;
	return 0;
}

static void say(char *why, size_t whysz, const char *fmt, ...)
{
	size_t used = strlen(why);
	va_list ap;

	if (used >= whysz)
		return;
	va_start(ap, fmt);
	vsnprintf(why + used, whysz - used, fmt, ap);
	va_end(ap);
}

/* Is base usable? Creates it when missing. Returns 0 or an error. */
static int base_usable(const char *base, char *why, size_t whysz)
{
	struct statvfs sv;
	int rc = mst__dir_check(base, true);

	if (rc < 0) {
		say(why, whysz, "%s: %s; ", base, mst_strerror(rc));
		return rc;
	}
	if (statvfs(base, &sv) < 0) {
		say(why, whysz, "%s: %s; ", base, strerror(errno));
		return -errno;
	}
	if ((uint64_t)sv.f_bavail * sv.f_frsize < MIN_FREE) {
		say(why, whysz, "%s: less than %u MiB free; ", base, MIN_FREE >> 20);
		return MST_EFULL;
	}
	return 0;
}

static int pick_base(char *dir, size_t dirsz, char *why, size_t whysz)
{
	char cand[4][PATH_MAX];
	const char *label[4] = {"$MUSTER_HOME", "/dev/shm", "$XDG_RUNTIME_DIR", "$TMPDIR"};
	const char *e;
	unsigned uid = (unsigned)geteuid();
	int i, n = 0, rc = -ENOENT;
	int idx[4];

	if ((e = getenv("MUSTER_HOME")) && *e) {
		snprintf(cand[n], PATH_MAX, "%s", e);
		idx[n++] = 0;
	}
	snprintf(cand[n], PATH_MAX, "/dev/shm/muster-%u", uid);
	idx[n++] = 1;
	if ((e = getenv("XDG_RUNTIME_DIR")) && *e) {
		snprintf(cand[n], PATH_MAX, "%s/muster", e);
		idx[n++] = 2;
	}
	e = getenv("TMPDIR");
	snprintf(cand[n], PATH_MAX, "%s/muster-%u", (e && *e) ? e : "/tmp", uid);
	idx[n++] = 3;

	for (i = 0; i < n; i++) {
		char parent[PATH_MAX], *slash;
		struct stat st;

		/* a missing /dev/shm is reported as such, not created */
		snprintf(parent, sizeof parent, "%s", cand[i]);
		slash = strrchr(parent, '/');
		if (slash && slash != parent && idx[i] != 0) {
			*slash = 0;
			if (stat(parent, &st) < 0) {
				say(why, whysz, "%s (%s): %s; ", parent, label[idx[i]],
				    strerror(errno));
				continue;
			}
		}
		rc = base_usable(cand[i], why, whysz);
		if (rc == 0) {
			if ((size_t)snprintf(dir, dirsz, "%s", cand[i]) >= dirsz)
				return -ENAMETOOLONG;
			say(why, whysz, "chose %s (%s): first usable", cand[i], label[idx[i]]);
			return 0;
		}
	}
	return rc;
}

int mst__url_resolve(const char *url, char *dir, size_t dirsz, char *why, size_t whysz)
{
	char base[PATH_MAX];
	const char *name;
	int rc;

	if (why && whysz)
		why[0] = 0;
	if (!url || !*url)
		url = getenv("MUSTER_BUS");
	if (!url || !*url)
		url = "local:default";
	if (!strncmp(url, "local:", 6))
		url += 6;
	else if (strstr(url, "://"))
		return MST_EURL;
	if (strchr(url, '/')) {
		if ((size_t)snprintf(dir, dirsz, "%s", url) >= dirsz)
			return -ENAMETOOLONG;
		say(why, whysz, "directory given by --bus or $MUSTER_BUS");
		return 0;
	}
	name = url;
	{
		/* an existing directory named like a bus is that directory */
		struct stat st;
		if (!strchr(name, ':') && lstat(name, &st) == 0 && S_ISDIR(st.st_mode) &&
		    strcmp(name, ".") && strcmp(name, "..")) {
			if ((size_t)snprintf(dir, dirsz, "%s", name) >= dirsz)
				return -ENAMETOOLONG;
			say(why, whysz, "existing directory given by --bus or $MUSTER_BUS");
			return 0;
		}
	}
	rc = mst_name_check(name);
	/* "." and ".." would name the base directory itself or its parent */
	if (rc < 0 || !strcmp(name, ".") || !strcmp(name, ".."))
		return MST_EURL;
	rc = pick_base(base, sizeof base, why, whysz);
	if (rc < 0)
		return rc;
	if ((size_t)snprintf(dir, dirsz, "%s/%s", base, name) >= dirsz)
		return -ENAMETOOLONG;
	return 0;
}

int mst_bus_locate(const char *url, char *dir, size_t dirsz, char *why, size_t whysz)
{
	char tmp[8];

	if (!dir || !dirsz)
		return MST_EINVAL;
	if (!why || !whysz) {
		why = tmp;
		whysz = sizeof tmp;
	}
	return mst__url_resolve(url, dir, dirsz, why, whysz);
}
