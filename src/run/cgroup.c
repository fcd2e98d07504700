/*
 * cgroup.c - a run's cgroup (v2), where the kernel lets us make one.
 *
 * The master makes a cgroup beside nothing else: a child of its own v2 cgroup, named
 * muster-RUN, and starts each coordinator in it (clone3 with CLONE_INTO_CGROUP: moving
 * a process costs a grace period of RCU, 10-20 ms, the first time), so that every agent
 * it spawns is born inside (moving an agent after its spawn would race with its own
 * children). A coordinator that is not inside (no clone3) moves itself in. When the run ends or is
 * stopped, the master kills whatever is still in it (cgroup.kill): an agent that left its process
 * group (setsid, a daemon) is caught too, and no process of the run outlives it. Without a writable
 * cgroup2 mount (containers, cgroup v1 only) runs work the same, with process groups only.
 */
#define _GNU_SOURCE
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int run_cgroup2_mount(char *buf, size_t size)
{
	char line[4096];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int rc = -1;

	if (!f)
		return -1;
	while (rc < 0 && fgets(line, sizeof line, f)) {
		char *sep = strstr(line, " - "), mnt[PATH_MAX];

		/* id parent major:minor root mount-point ... - type source options */
		if (sep && !strncmp(sep + 3, "cgroup2 ", 8) &&
		    sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1 && strlen(mnt) < size) {
			snprintf(buf, size, "%s", mnt);
			rc = 0;
		}
	}
	fclose(f);
	return rc;
}

/* Our own v2 cgroup ("0::PATH" of /proc/self/cgroup) into buf, 0 or -1. */
static int own_cgroup(char *buf, size_t size)
{
	char line[4096];
	FILE *f = fopen("/proc/self/cgroup", "re");
	int rc = -1;

	if (!f)
		return -1;
	while (rc < 0 && fgets(line, sizeof line, f))
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = 0;
			if (strlen(line + 3) < size) {
				snprintf(buf, size, "%s", line + 3);
				rc = 0;
			}
		}
	fclose(f);
	return rc;
}

int run_cgroup_make(const char *run, char *path, size_t size)
{
	char mnt[PATH_MAX], own[PATH_MAX];
	int n;

	path[0] = 0;
	if (run_cgroup2_mount(mnt, sizeof mnt) < 0 || own_cgroup(own, sizeof own) < 0)
		return -ENOENT;
	/* named for the run and its master: run names are unique on a bus, not on the
	 * machine, and two buses' runs of one name must not share a cgroup (the end of one
	 * would kill the other's agents) */
	n = snprintf(path, size, "%s%s%smuster-%s.%d", mnt, own,
		     own[strlen(own) - 1] == '/' ? "" : "/", run, (int)getpid());
	if (n < 0 || (size_t)n >= size) {
		path[0] = 0;
		return -ENAMETOOLONG;
	}
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		int e = errno;

		path[0] = 0;
		return -e;
	}
	return 0;
}

/* Writes s into the file name of cgroup path. */
static int cg_write(const char *path, const char *name, const char *s)
{
	char file[PATH_MAX + 32];
	int fd, rc = 0;

	if (snprintf(file, sizeof file, "%s/%s", path, name) >= (int)sizeof file)
		return -ENAMETOOLONG;
	if ((fd = open(file, O_WRONLY | O_CLOEXEC)) < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int run_cgroup_join(const char *path)
{
	char pid[24], own[PATH_MAX];
	size_t pl, ol;

	if (!path || !path[0])
		return -ENOENT;
	/* born in it already (run_cgroup_spawn) */
	if (own_cgroup(own, sizeof own) == 0 && (ol = strlen(own)) > 1 &&
	    (pl = strlen(path)) >= ol && !strcmp(path + pl - ol, own))
		return 0;
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	return cg_write(path, "cgroup.procs", pid);
}

int run_cgroup_leave(const char *path)
{
	char pid[24], own[PATH_MAX], parent[PATH_MAX];
	size_t pl, ol;
	char *slash;

	if (!path || !path[0] || own_cgroup(own, sizeof own) < 0 || (ol = strlen(own)) <= 1 ||
	    (pl = strlen(path)) < ol || strcmp(path + pl - ol, own))
		return 0; /* not in it */
	snprintf(parent, sizeof parent, "%s", path);
	if (!(slash = strrchr(parent, '/')) || slash == parent)
		return -ENOENT;
	*slash = 0;
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	return cg_write(parent, "cgroup.procs", pid);
}

pid_t run_cgroup_spawn(const char *path, const char *prog, char *const argv[], char *const envp[])
{
	struct clone_args ca = {.flags = CLONE_INTO_CGROUP | CLONE_VFORK, .exit_signal = SIGCHLD};
	long pid;
	int fd, e;

	if (!path || !path[0])
		return -ENOENT;
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	ca.cgroup = (uint64_t)fd;
	/* a fork (no shared memory) into the cgroup; the parent waits for the exec */
	pid = syscall(SYS_clone3, &ca, sizeof ca);
	if (pid == 0) {
		execve(prog, argv, envp);
		_exit(127);
	}
	e = errno;
	close(fd);
	return pid < 0 ? -e : (pid_t)pid;
}

/* Is the cgroup empty (cgroup.events: populated 0)? */
static int cg_empty(const char *path)
{
	char file[PATH_MAX + 32], buf[256];
	ssize_t n;
	int fd;

	if (snprintf(file, sizeof file, "%s/cgroup.events", path) >= (int)sizeof file ||
	    (fd = open(file, O_RDONLY | O_CLOEXEC)) < 0)
		return 1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = 0;
	return strstr(buf, "populated 0") != NULL;
}

int run_cgroup_kill(const char *path, int remove)
{
	int i, rc = 0;

	if (!path || !path[0])
		return 0;
	if (!cg_empty(path) && (rc = cg_write(path, "cgroup.kill", "1")) < 0) {
		/* no cgroup.kill (before Linux 5.14): every process in it, one by one */
		char file[PATH_MAX + 32];
		FILE *f;
		int pid;

		snprintf(file, sizeof file, "%s/cgroup.procs", path);
		if ((f = fopen(file, "re"))) {
			while (fscanf(f, "%d", &pid) == 1)
				if (pid != getpid())
					kill(pid, SIGKILL);
			fclose(f);
		}
	}
	/* the kernel empties it asynchronously */
	for (i = 0; i < 200 && !cg_empty(path); i++)
		usleep(5000);
	if (remove && rmdir(path) < 0 && errno != ENOENT)
		rc = -errno;
	return rc;
}
