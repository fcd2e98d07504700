/*
 * envfacts.c - the facts of an environment that decide whether muster works there:
 * where a bus goes and why, that file system and /dev/shm, descriptor and process
 * limits, the cgroup's limits, container or virtual machine, security modules, kernel.
 * muster doctor prints them; muster validate env records them in its report.
 */
#define _GNU_SOURCE
#include "validate.h"

#include "../run/run.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

static const char *fs_name(unsigned long t)
{
	switch (t) {
	case 0x01021994:
		return "tmpfs";
	case 0xEF53:
		return "ext4";
	case 0x58465342:
		return "xfs";
	case 0x9123683E:
		return "btrfs";
	case 0x794c7630:
		return "overlay";
	case 0x65735546:
		return "fuse";
	case 0x6969:
		return "nfs";
	case 0x858458f6:
		return "ramfs";
	case 0x01021997:
		return "9p";
	default:
		return "other";
	}
}

int venv_slurp(const char *path, char *buf, size_t sz)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	buf[0] = 0;
	if (fd < 0)
		return -1;
	n = read(fd, buf, sz - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return 0;
}

static long long file_ll(const char *path)
{
	char buf[64];

	return venv_slurp(path, buf, sizeof buf) == 0 ? strtoll(buf, NULL, 10) : -1;
}

void venv_fs(const char *path, struct venv_fs *fi)
{
	struct statfs sf;
	struct statvfs sv;
	struct stat st;

	memset(fi, 0, sizeof *fi);
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode) || statfs(path, &sf) < 0 ||
	    statvfs(path, &sv) < 0)
		return;
	fi->ok = 1;
	snprintf(fi->type, sizeof fi->type, "%s", fs_name((unsigned long)sf.f_type));
	fi->size = (unsigned long long)sv.f_blocks * sv.f_frsize;
	fi->avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
	fi->readonly = (sv.f_flag & ST_RDONLY) != 0;
	fi->writable = access(path, W_OK | X_OK) == 0;
}

static const char *container_kind(char *buf, size_t size)
{
	if (access("/.dockerenv", F_OK) == 0)
		return "docker";
	if (access("/run/.containerenv", F_OK) == 0)
		return "podman";
	if (getenv("KUBERNETES_SERVICE_HOST"))
		return "kubernetes";
	if (venv_slurp("/proc/1/cgroup", buf, size) == 0) {
		if (strstr(buf, "kubepods"))
			return "kubernetes";
		if (strstr(buf, "docker"))
			return "docker";
		if (strstr(buf, "lxc"))
			return "lxc";
	}
	if (venv_slurp("/proc/1/environ", buf, size) == 0 && memmem(buf, size, "container=", 10))
		return "container";
	return "none detected";
}

static int hypervisor(void)
{
	char line[4096];
	FILE *f = fopen("/proc/cpuinfo", "re");
	int yes = 0;

	while (f && !yes && fgets(line, sizeof line, f))
		yes = !strncmp(line, "flags", 5) && strstr(line, " hypervisor");
	if (f)
		fclose(f);
	return yes;
}

/* path into buf when it can be read; buf as it was otherwise. */
static void slurp_if(const char *path, char *buf, size_t size)
{
	char tmp[64];

	if (size >= sizeof tmp && venv_slurp(path, tmp, sizeof tmp) == 0 && tmp[0])
		memcpy(buf, tmp, sizeof tmp);
}

/* The limits of our cgroups: v2 ("0::PATH", under the cgroup2 mount, which a hybrid
 * host has at /sys/fs/cgroup/unified), and where v2 has no such controller the v1
 * pids and memory hierarchies. */
static void cgroup_limits(struct venv *e)
{
	char cg[4096], mnt[PATH_MAX], path[2 * PATH_MAX], *line, *save = NULL;
	int have_mnt = run_cgroup2_mount(mnt, sizeof mnt) == 0;

	if (venv_slurp("/proc/self/cgroup", cg, sizeof cg) < 0)
		return;
	for (line = strtok_r(cg, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (!c2)
			continue;
		if (c1 == line + 1 && line[0] == '0' && c1 + 1 == c2) {
			snprintf(e->cgroup, sizeof e->cgroup, "%s", c2 + 1);
			if (!have_mnt)
				continue;
			/* a v2 value where there is one (else what v1 said stays) */
			snprintf(path, sizeof path, "%s%s/memory.max", mnt, c2 + 1);
			slurp_if(path, e->cg_memory_max, sizeof e->cg_memory_max);
			snprintf(path, sizeof path, "%s%s/pids.max", mnt, c2 + 1);
			slurp_if(path, e->cg_pids_max, sizeof e->cg_pids_max);
			snprintf(path, sizeof path, "%s%s/cpu.max", mnt, c2 + 1);
			slurp_if(path, e->cg_cpu_max, sizeof e->cg_cpu_max);
		} else if (strstr(c1 + 1, "pids") && !e->cg_pids_max[0]) {
			snprintf(path, sizeof path, "/sys/fs/cgroup/pids%.*s/pids.max",
				 (int)strcspn(c2 + 1, "\n"), c2 + 1);
			slurp_if(path, e->cg_pids_max, sizeof e->cg_pids_max);
		} else if (strstr(c1 + 1, "memory") && !e->cg_memory_max[0]) {
			snprintf(path, sizeof path, "/sys/fs/cgroup/memory%s/memory.limit_in_bytes",
				 c2 + 1);
			slurp_if(path, e->cg_memory_max, sizeof e->cg_memory_max);
			/* v1's "no limit" is a page-rounded LLONG_MAX */
			if (strtoll(e->cg_memory_max, NULL, 10) >= (1LL << 62))
				snprintf(e->cg_memory_max, sizeof e->cg_memory_max, "max");
		}
	}
}

void venv_read(struct venv *e, const char *url)
{
	struct utsname un;
	char buf[4096];
	int fd;

	memset(e, 0, sizeof *e);
	e->locate_rc = mst_bus_locate(url, e->bus_dir, sizeof e->bus_dir, e->why, sizeof e->why);
	if (e->locate_rc == 0) {
		venv_fs(e->bus_dir, &e->bus_fs);
		if (!e->bus_fs.ok) { /* not created yet: its base */
			char parent[PATH_MAX], *s;

			snprintf(parent, sizeof parent, "%s", e->bus_dir);
			if ((s = strrchr(parent, '/')) && s != parent)
				*s = 0;
			venv_fs(parent, &e->bus_fs);
		}
	}
	venv_fs("/dev/shm", &e->shm_fs);
	getrlimit(RLIMIT_NOFILE, &e->nofile);
	getrlimit(RLIMIT_NPROC, &e->nproc);
	e->file_max = file_ll("/proc/sys/fs/file-max");
	e->pid_max = file_ll("/proc/sys/kernel/pid_max");
	e->cpus = sysconf(_SC_NPROCESSORS_ONLN);
	{
		FILE *f = fopen("/proc/meminfo", "re");
		char line[256];

		e->mem_total = e->mem_avail = -1;
		while (f && fgets(line, sizeof line, f)) {
			if (sscanf(line, "MemTotal: %lld kB", &e->mem_total) == 1)
				e->mem_total *= 1024;
			if (sscanf(line, "MemAvailable: %lld kB", &e->mem_avail) == 1)
				e->mem_avail *= 1024;
		}
		if (f)
			fclose(f);
	}
	cgroup_limits(e);
	snprintf(e->container, sizeof e->container, "%s", container_kind(buf, sizeof buf));
	e->hypervisor = hypervisor();
	venv_slurp("/sys/class/dmi/id/product_name", e->product, sizeof e->product);
	if (venv_slurp("/sys/kernel/security/lsm", e->lsm, sizeof e->lsm) < 0)
		snprintf(e->lsm, sizeof e->lsm, "unknown");
	venv_slurp("/proc/self/attr/apparmor/current", e->apparmor, sizeof e->apparmor);
	if (uname(&un) == 0) {
		snprintf(e->kernel, sizeof e->kernel, "%s", un.release);
		snprintf(e->machine, sizeof e->machine, "%s", un.machine);
	}
	fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	e->pidfd = fd >= 0;
	if (fd >= 0)
		close(fd);
}

static json_t *fs_json(const struct venv_fs *f)
{
	if (!f->ok)
		return json_pack("{s:b}", "present", 0);
	return json_pack("{s:b, s:s, s:I, s:I, s:b, s:b}", "present", 1, "type", f->type, "size",
			 (json_int_t)f->size, "free", (json_int_t)f->avail, "readonly", f->readonly,
			 "writable", f->writable);
}

static json_t *lim_json(rlim_t v)
{
	return v == RLIM_INFINITY ? json_null() : json_integer((json_int_t)v);
}

static json_t *str_or_null(const char *s)
{
	return *s ? json_string(s) : json_null();
}

json_t *venv_json(const struct venv *e)
{
	json_t *o = json_object();

	json_object_set_new(o, "bus_dir", e->locate_rc ? json_null() : json_string(e->bus_dir));
	json_object_set_new(o, "why", json_string(e->why));
	json_object_set_new(o, "bus_fs", fs_json(&e->bus_fs));
	json_object_set_new(o, "dev_shm", fs_json(&e->shm_fs));
	json_object_set_new(o, "nofile",
			    json_pack("{s:o, s:o}", "soft", lim_json(e->nofile.rlim_cur), "hard",
				      lim_json(e->nofile.rlim_max)));
	json_object_set_new(o, "nproc",
			    json_pack("{s:o, s:o}", "soft", lim_json(e->nproc.rlim_cur), "hard",
				      lim_json(e->nproc.rlim_max)));
	json_object_set_new(o, "file_max", json_integer(e->file_max));
	json_object_set_new(o, "pid_max", json_integer(e->pid_max));
	json_object_set_new(o, "cpus", json_integer(e->cpus));
	json_object_set_new(o, "memory",
			    json_pack("{s:I, s:I}", "total", (json_int_t)e->mem_total, "available",
				      (json_int_t)e->mem_avail));
	json_object_set_new(o, "cgroup",
			    json_pack("{s:o, s:o, s:o, s:o}", "path", str_or_null(e->cgroup),
				      "memory_max", str_or_null(e->cg_memory_max), "pids_max",
				      str_or_null(e->cg_pids_max), "cpu_max",
				      str_or_null(e->cg_cpu_max)));
	json_object_set_new(o, "container", json_string(e->container));
	json_object_set_new(o, "hypervisor", json_boolean(e->hypervisor));
	json_object_set_new(o, "product", str_or_null(e->product));
	json_object_set_new(o, "lsm", json_string(e->lsm));
	json_object_set_new(o, "apparmor", str_or_null(e->apparmor));
	json_object_set_new(o, "kernel", json_string(e->kernel));
	json_object_set_new(o, "machine", json_string(e->machine));
	json_object_set_new(o, "pidfd", json_boolean(e->pidfd));
	return o;
}
