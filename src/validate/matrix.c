/*
 * matrix.c - the cells of muster validate env --matrix: a command run in an environment
 * that mimics a real deployment (Docker's 64 MiB /dev/shm, a large one, none at all, a
 * read-only one, 1024 descriptors, a cgroup with a low pids limit), so that one machine
 * shows how muster behaves where it will be deployed.
 *
 * Each run is a child in a mount namespace of its own with private propagation: what the
 * cell mounts is seen by the command alone and goes away with the namespace, so nothing
 * is left mounted on the host whatever happens to the child. The only thing made on the
 * host is the pids cell's cgroup, which the child creates under its own pid and the
 * parent removes once the command has ended (killing what the command left in it, as a
 * container's processes end with it). The child reports a setup failure through a
 * close-on-exec pipe instead of running the command in the wrong environment; between
 * fork and exec it makes system calls and copies strings, nothing more (the caller may
 * have threads, and a lock held by one of them would never be released in the child).
 */
#define _GNU_SOURCE
#include "validate.h"

#include "../run/run.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum shm {
	SHM_HOST = 0, /* /dev/shm as the host has it */
	SHM_TMPFS,    /* a fresh tmpfs */
	SHM_RO,	      /* a fresh tmpfs, mounted read-only */
	SHM_NONE      /* no /dev/shm: a minimal /dev without it */
};

/* How a cell is made; setups[i] makes cells[i]. */
struct setup {
	enum shm shm;
	const char *shm_opts, *shm_desc; /* SHM_TMPFS and SHM_RO */
	rlim_t nofile;			 /* soft and hard RLIMIT_NOFILE; 0: inherited */
	int pids_max;			 /* a cgroup with this pids.max; 0: none */
};

static const struct vcell cells[] = {
	{"docker-shm-64m", "Docker's default /dev/shm: a 64 MiB tmpfs"},
	{"shm-1g", "docker --shm-size=1g: a 1 GiB tmpfs on /dev/shm"},
	{"no-shm", "no /dev/shm at all (a minimal /dev)"},
	{"shm-read-only", "/dev/shm exists but is read-only"},
	{"nofile-1024", "RLIMIT_NOFILE 1024 soft and hard (Docker's common default)"},
	{"pids-256", "a cgroup whose pids.max is 256 (a container's pids limit)"},
};

static const struct setup setups[] = {
	{SHM_TMPFS, "mode=1777,size=65536k", "a 64 MiB tmpfs", 0, 0},
	{SHM_TMPFS, "mode=1777,size=1048576k", "a 1 GiB tmpfs", 0, 0},
	{SHM_NONE, NULL, NULL, 0, 0},
	{SHM_RO, "mode=1777,size=65536k", "a read-only tmpfs", 0, 0},
	{SHM_HOST, NULL, NULL, 1024, 0},
	{SHM_HOST, NULL, NULL, 0, 256},
};

_Static_assert(ARRAY_SIZE(cells) == ARRAY_SIZE(setups), "a setup for every cell");

const struct vcell *vmatrix_cells(size_t *n)
{
	if (n)
		*n = ARRAY_SIZE(cells);
	return cells;
}

/* What the child tells the parent when it cannot set the cell up. */
struct report {
	int err;   /* errno */
	int plain; /* msg says it all: no strerror(err) after it */
	char msg[240];
};

/* --- in the child, between fork and exec: system calls and string copies only ------ */

static void cat(char *dst, size_t size, const char *s)
{
	size_t n = strlen(dst);

	while (*s && n + 1 < size)
		dst[n++] = *s++;
	dst[n] = 0;
}

static void cat_uint(char *dst, size_t size, unsigned long v)
{
	char buf[24];
	size_t i = sizeof buf - 1;

	buf[i] = 0;
	do
		buf[--i] = (char)('0' + v % 10);
	while ((v /= 10) && i);
	cat(dst, size, buf + i);
}

/* Sets r to err and the message a b c; returns -err. */
static int why(struct report *r, int err, const char *a, const char *b, const char *c)
{
	r->err = err;
	r->msg[0] = 0;
	cat(r->msg, sizeof r->msg, a);
	cat(r->msg, sizeof r->msg, b);
	cat(r->msg, sizeof r->msg, c);
	return -err;
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* Makes base/muster-matrix-PID with pids.max and moves us into it before anything else,
 * so that every process of the command is counted. */
static int cg_enter(const char *base, int pids_max, struct report *r)
{
	char dir[PATH_MAX], file[PATH_MAX], num[24] = "";
	int rc;

	dir[0] = 0;
	cat(dir, sizeof dir, base);
	cat(dir, sizeof dir, "/muster-matrix-");
	cat_uint(dir, sizeof dir, (unsigned long)getpid());
	if (mkdir(dir, 0755) < 0)
		return why(r, errno, "cannot create cgroup ", dir, "");
	file[0] = 0;
	cat(file, sizeof file, dir);
	cat(file, sizeof file, "/pids.max");
	cat_uint(num, sizeof num, (unsigned long)pids_max);
	if ((rc = write_str(file, num)) < 0)
		return why(r, -rc, "cannot write ", file, "");
	file[0] = num[0] = 0;
	cat(file, sizeof file, dir);
	cat(file, sizeof file, "/cgroup.procs");
	cat_uint(num, sizeof num, (unsigned long)getpid());
	if ((rc = write_str(file, num)) < 0)
		return why(r, -rc, "cannot move the command into cgroup ", dir, "");
	return 0;
}

/* What programs expect in /dev, as Docker makes it. */
static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
static const char *const dev_trees[] = {"pts", "mqueue"};
static const char *const dev_links[][2] = {{"fd", "/proc/self/fd"},
					   {"stdin", "/proc/self/fd/0"},
					   {"stdout", "/proc/self/fd/1"},
					   {"stderr", "/proc/self/fd/2"}};

/* A fresh /dev as a container has one, without shm. The host's /dev stays reachable
 * as our working directory once the tmpfs covers it: its nodes are bound from there by
 * relative paths, so no copy of it is mounted anywhere and nothing is made on the host
 * (the covered /dev ends with the namespace). */
static int dev_without_shm(struct report *r)
{
	char target[64];
	struct stat st;
	size_t i;
	int here, fd, rc = 0;

	if ((here = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return why(r, errno, "cannot open the working directory", "", "");
	if (chdir("/dev") < 0) {
		rc = why(r, errno, "cannot enter /dev", "", "");
		goto out;
	}
	if (mount("tmpfs", "/dev", "tmpfs", MS_NOSUID, "mode=755,size=64k") < 0) {
		rc = why(r, errno, "cannot mount a tmpfs on /dev", "", "");
		goto out;
	}
	for (i = 0; i < ARRAY_SIZE(dev_trees); i++) {
		if (lstat(dev_trees[i], &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		target[0] = 0;
		cat(target, sizeof target, "/dev/");
		cat(target, sizeof target, dev_trees[i]);
		if (mkdir(target, 0755) < 0 ||
		    mount(dev_trees[i], target, NULL, MS_BIND | MS_REC, NULL) < 0) {
			rc = why(r, errno, "cannot bind ", target, " into the new /dev");
			goto out;
		}
		/* A bound ptmx would not find its pts (the kernel looks beside the node in
		 * the file system it was bound from), so it is a link, as in Docker's /dev. */
		if (!strcmp(dev_trees[i], "pts") && symlink("pts/ptmx", "/dev/ptmx") < 0) {
			rc = why(r, errno, "cannot make /dev/ptmx in the new /dev", "", "");
			goto out;
		}
	}
	for (i = 0; i < ARRAY_SIZE(dev_nodes); i++) {
		if (lstat(dev_nodes[i], &st) < 0 || !S_ISCHR(st.st_mode))
			continue;
		target[0] = 0;
		cat(target, sizeof target, "/dev/");
		cat(target, sizeof target, dev_nodes[i]);
		if ((fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666)) < 0 ||
		    close(fd) < 0 || mount(dev_nodes[i], target, NULL, MS_BIND, NULL) < 0) {
			rc = why(r, errno, "cannot bind ", target, " into the new /dev");
			goto out;
		}
	}
	for (i = 0; i < ARRAY_SIZE(dev_links); i++) {
		target[0] = 0;
		cat(target, sizeof target, "/dev/");
		cat(target, sizeof target, dev_links[i][0]);
		if (symlink(dev_links[i][1], target) < 0) {
			rc = why(r, errno, "cannot make ", target, " in the new /dev");
			goto out;
		}
	}
out:
	if (fchdir(here) < 0 && !rc)
		rc = why(r, errno, "cannot return to the working directory", "", "");
	close(here);
	return rc;
}

/* Detaches the mounts stacked on /dev/shm (this machine has two), so that the cell's
 * mount table shows its own /dev/shm only, or none, as a container's would. Only for
 * looks: where the kernel refuses (mounts locked by a user namespace), the cell's mount
 * goes on top and the host's stay below, out of reach. */
static void shm_detach(void)
{
	struct stat dev, shm;
	int i;

	if (lstat("/dev", &dev) < 0)
		return;
	for (i = 0; i < 64 && lstat("/dev/shm", &shm) == 0 && S_ISDIR(shm.st_mode) &&
		    shm.st_dev != dev.st_dev;
	     i++)
		if (umount2("/dev/shm", MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
			return;
}

static int cell_mounts(const struct setup *s, struct report *r)
{
	/* as Docker mounts its /dev/shm (with mode 1777 in the options) */
	unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;

	if (unshare(CLONE_NEWNS) < 0) {
		if (errno == EPERM) {
			r->plain = 1;
			return why(r, EPERM, "needs root (mount namespaces)", "", "");
		}
		return why(r, errno, "cannot make a mount namespace", "", "");
	}
	/* else our mounts would propagate to the host's shared mounts */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return why(r, errno, "cannot make the mounts private", "", "");
	switch (s->shm) {
	case SHM_HOST:
		return 0;
	case SHM_NONE:
		shm_detach();
		return dev_without_shm(r);
	case SHM_RO:
		flags |= MS_RDONLY;
		/* fall through */
	case SHM_TMPFS:
		shm_detach();
		if (mount("shm", "/dev/shm", "tmpfs", flags, s->shm_opts) < 0)
			return why(r, errno, "cannot mount ", s->shm_desc, " on /dev/shm");
		return 0;
	}
	return why(r, EINVAL, "unknown /dev/shm setup", "", "");
}

static _Noreturn void child(const struct setup *s, const char *cgbase, char *const argv[],
			    int out_fd, int err_fd, int rfd)
{
	struct report r = {0};
	struct rlimit rl;
	sigset_t none;
	int fd, o = -1, e = -1, sig;

	/* Copies above 2 first: the report pipe must survive the dup2s, and out_fd and
	 * err_fd may be 1 and 2 the wrong way round. */
	if ((fd = fcntl(rfd, F_DUPFD_CLOEXEC, 3)) >= 0)
		rfd = fd;
	if ((out_fd >= 0 && (o = fcntl(out_fd, F_DUPFD_CLOEXEC, 3)) < 0) ||
	    (err_fd >= 0 && (e = fcntl(err_fd, F_DUPFD_CLOEXEC, 3)) < 0)) {
		why(&r, errno, "cannot use the command's output descriptors", "", "");
		goto fail;
	}
	if (cgbase && cg_enter(cgbase, s->pids_max, &r) < 0)
		goto fail;
	if (cell_mounts(s, &r) < 0)
		goto fail;
	if (s->nofile) {
		rl.rlim_cur = rl.rlim_max = s->nofile;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			why(&r, errno, "cannot set RLIMIT_NOFILE", "", "");
			goto fail;
		}
	}
	if ((o >= 0 && dup2(o, 1) < 0) || (e >= 0 && dup2(e, 2) < 0)) {
		why(&r, errno, "cannot redirect the command's output", "", "");
		goto fail;
	}
	/* every signal is blocked since the fork, so no handler of the caller's runs here */
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			run_sig_set_default(sig); /* the kernel's: 32 and 33 too */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execv(argv[0], argv);
	why(&r, errno, "cannot run ", argv[0], "");
fail:
	if (write(rfd, &r, sizeof r) < 0)
		_exit(126);
	_exit(127);
}

/* --- in the parent ------------------------------------------------------------------ */

static int has_word(const char *list, const char *word, const char *seps)
{
	size_t n = strlen(word);

	while (*list) {
		size_t len = strcspn(list, seps);

		if (len == n && !strncmp(list, word, n))
			return 1;
		list += len;
		list += strspn(list, seps);
	}
	return 0;
}

/* The mount point and root of the first hierarchy of type fstype (with the pids
 * controller, for "cgroup"); 0 or -ENOENT. */
static int cg_mount(const char *fstype, char *mnt, size_t mntsz, char *root, size_t rootsz)
{
	char line[4096], m[PATH_MAX], rt[PATH_MAX], type[64], opts[1024];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int rc = -ENOENT;

	if (!f)
		return -errno;
	while (rc < 0 && fgets(line, sizeof line, f)) {
		char *sep = strstr(line, " - ");

		/* id parent major:minor root mount-point options ... - type source options */
		if (!sep || sscanf(line, "%*s %*s %*s %4095s %4095s", rt, m) != 2 ||
		    sscanf(sep + 3, "%63s %*s %1023s", type, opts) != 2 || strcmp(type, fstype))
			continue;
		if (!strcmp(fstype, "cgroup") && !has_word(opts, "pids", ","))
			continue;
		if (strlen(m) < mntsz && strlen(rt) < rootsz) {
			snprintf(mnt, mntsz, "%s", m);
			snprintf(root, rootsz, "%s", rt);
			rc = 0;
		}
	}
	fclose(f);
	return rc;
}

/* Our cgroup in the hierarchy of v2 (controller NULL) or of the v1 controller. */
static int own_cgroup(const char *controller, char *buf, size_t size)
{
	char line[4096];
	FILE *f = fopen("/proc/self/cgroup", "re");
	int rc = -ENOENT;

	if (!f)
		return -errno;
	while (rc < 0 && fgets(line, sizeof line, f)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (!c2)
			continue;
		*c2 = 0;
		/* v2 is "0::PATH"; v1 "ID:CONTROLLERS:PATH" */
		if (controller ? !has_word(c1 + 1, controller, ",") : strcmp(line, "0:"))
			continue;
		c2[1 + strcspn(c2 + 1, "\n")] = 0;
		if (strlen(c2 + 1) < size) {
			snprintf(buf, size, "%s", c2 + 1);
			rc = 0;
		}
	}
	fclose(f);
	return rc;
}

/* Our cgroup's directory in a hierarchy mounted at mnt from root: the mount may show a
 * subtree only (a container's bind of its own cgroup). */
static int cg_dir(const char *mnt, const char *root, const char *own, char *dir, size_t size)
{
	size_t rl = strlen(root);
	const char *rel = own;
	struct stat st;

	if (strcmp(root, "/") && !strncmp(own, root, rl) && (own[rl] == '/' || !own[rl]))
		rel = own + rl;
	if (!strcmp(rel, "/"))
		rel = "";
	if ((size_t)snprintf(dir, size, "%s%s", mnt, rel) >= size)
		return -ENAMETOOLONG;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		snprintf(dir, size, "%s", mnt);
	return 0;
}

/* Where the pids cell makes its cgroup: the nearest cgroup v2 from ours up that hands
 * the pids controller to its children and that we may write, else our cgroup in the v1
 * pids hierarchy. -ENOTSUP with why in err when neither is usable. */
static int pids_base(char *base, size_t size, char *err, size_t errsz)
{
	char mnt[PATH_MAX], root[PATH_MAX], own[PATH_MAX], dir[PATH_MAX], file[PATH_MAX + 32];
	char v2why[PATH_MAX + 64] = "no cgroup2 mount", line[512];
	size_t ml;

	if (!cg_mount("cgroup2", mnt, sizeof mnt, root, sizeof root) &&
	    !own_cgroup(NULL, own, sizeof own) && !cg_dir(mnt, root, own, dir, sizeof dir)) {
		snprintf(v2why, sizeof v2why,
			 "pids is not enabled for children of any writable cgroup from %s up", dir);
		ml = strlen(mnt);
		for (;;) {
			FILE *f;
			char *slash;
			int ok = 0;

			snprintf(file, sizeof file, "%s/cgroup.subtree_control", dir);
			if ((f = fopen(file, "re"))) {
				if (fgets(line, sizeof line, f))
					ok = has_word(line, "pids", " \n");
				fclose(f);
			}
			if (ok && access(dir, W_OK) == 0 && strlen(dir) < size) {
				memcpy(base, dir, strlen(dir) + 1);
				return 0;
			}
			if (strlen(dir) <= ml || !(slash = strrchr(dir, '/')) || slash < dir + ml)
				break;
			*slash = 0;
		}
	}
	if (cg_mount("cgroup", mnt, sizeof mnt, root, sizeof root) < 0) {
		snprintf(err, errsz,
			 "no writable cgroup with the pids controller (cgroup v2: %s; cgroup v1: "
			 "no pids hierarchy mounted)",
			 v2why);
		return -ENOTSUP;
	}
	if (own_cgroup("pids", own, sizeof own) < 0)
		snprintf(own, sizeof own, "/");
	if (cg_dir(mnt, root, own, dir, sizeof dir) < 0 || strlen(dir) >= size) {
		snprintf(err, errsz,
			 "no writable cgroup with the pids controller (cgroup v2: %s; cgroup v1: "
			 "path too long)",
			 v2why);
		return -ENOTSUP;
	}
	if (access(dir, W_OK) < 0) {
		snprintf(err, errsz,
			 "no writable cgroup with the pids controller (cgroup v2: %s; cgroup v1: "
			 "%s: %s)",
			 v2why, dir, strerror(errno));
		return -ENOTSUP;
	}
	memcpy(base, dir, strlen(dir) + 1);
	return 0;
}

/* Ends what is left in cgroup dir and removes it. The command has ended, but what it
 * started in the background may still run there, and a cgroup with processes cannot be
 * removed. */
static int cg_remove(const char *dir, char *err, size_t errsz)
{
	char file[PATH_MAX + 64];
	struct timespec now, end, nap = {0, 5 * 1000 * 1000};

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += 5;
	for (;;) {
		FILE *f;
		long pid;

		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (errno != EBUSY || now.tv_sec > end.tv_sec ||
		    (now.tv_sec == end.tv_sec && now.tv_nsec > end.tv_nsec)) {
			int e = errno;

			snprintf(err, errsz, "cannot remove cgroup %s: %s", dir, strerror(e));
			return -e;
		}
		snprintf(file, sizeof file, "%s/cgroup.kill", dir);
		if (write_str(file, "1") < 0) {
			/* no cgroup.kill (v1, or v2 before Linux 5.14) */
			snprintf(file, sizeof file, "%s/cgroup.procs", dir);
			if ((f = fopen(file, "re"))) {
				while (fscanf(f, "%ld", &pid) == 1)
					if (pid > 0)
						kill((pid_t)pid, SIGKILL);
				fclose(f);
			}
		}
		nanosleep(&nap, NULL);
	}
}

static ssize_t read_full(int fd, void *buf, size_t size)
{
	size_t got = 0;

	while (got < size) {
		ssize_t n = read(fd, (char *)buf + got, size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return got ? (ssize_t)got : -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int vmatrix_exec(const char *name, char *const argv[], int out_fd, int err_fd, int *status,
		 char *err, size_t errsz)
{
	/* cgbase leaves room for /muster-matrix-PID/cgroup.procs */
	char cgbase[PATH_MAX], cgdir[PATH_MAX + 32], scratch[8];
	const struct setup *s = NULL;
	struct report r;
	sigset_t all, old;
	ssize_t n;
	size_t i;
	pid_t pid;
	int pfd[2], wst = 0, e, rc = 0, cgrc = 0;

	if (!err || !errsz) {
		err = scratch;
		errsz = sizeof scratch;
	}
	err[0] = 0;
	for (i = 0; name && i < ARRAY_SIZE(cells); i++)
		if (!strcmp(name, cells[i].name))
			s = &setups[i];
	if (!s) {
		snprintf(err, errsz, "unknown matrix cell '%s'", name ? name : "");
		return -EINVAL;
	}
	if (!argv || !argv[0]) {
		snprintf(err, errsz, "no command to run");
		return -EINVAL;
	}
	if (geteuid() != 0) {
		snprintf(err, errsz, "needs root (mount namespaces)");
		return -EPERM;
	}
	cgbase[0] = 0;
	if (s->pids_max && (rc = pids_base(cgbase, sizeof cgbase - 64, err, errsz)) < 0)
		return rc;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		e = errno;
		snprintf(err, errsz, "cannot make a pipe: %s", strerror(e));
		return -e;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		child(s, cgbase[0] ? cgbase : NULL, argv, out_fd, err_fd, pfd[1]);
	e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(pfd[1]);
	if (pid < 0) {
		close(pfd[0]);
		snprintf(err, errsz, "cannot fork: %s", strerror(e));
		return -e;
	}
	/* end of file: the command was executed (the pipe closed on exec) */
	n = read_full(pfd[0], &r, sizeof r);
	close(pfd[0]);
	while (waitpid(pid, &wst, 0) < 0) {
		if (errno == EINTR)
			continue;
		e = errno;
		snprintf(err, errsz, "cannot wait for the command: %s", strerror(e));
		rc = -e;
		break;
	}
	if (status)
		*status = wst;
	if (cgbase[0]) {
		snprintf(cgdir, sizeof cgdir, "%s/muster-matrix-%d", cgbase, (int)pid);
		cgrc = cg_remove(cgdir, err, errsz);
	}
	if (n == (ssize_t)sizeof r) {
		r.msg[sizeof r.msg - 1] = 0;
		if (r.err <= 0)
			r.err = EIO;
		if (r.plain)
			snprintf(err, errsz, "%s", r.msg);
		else
			snprintf(err, errsz, "%s: %s", r.msg, strerror(r.err));
		return -r.err;
	}
	if (n != 0) {
		/* a short report: the child died while writing it */
		snprintf(err, errsz, "cannot read why the cell could not be set up");
		return -EIO;
	}
	return rc ? rc : cgrc;
}
