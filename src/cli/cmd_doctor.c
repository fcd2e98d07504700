/*
 * cmd_doctor.c - muster doctor and muster stats.
 *
 * doctor reports where the bus lives and why, the file system under it, the limits
 * that matter to a swarm of agents (fds, processes, cgroup memory and pids), whether
 * we run in a container, and which security modules are active.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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
	default:
		return "other";
	}
}

/* Reads a small text file into buf, without the trailing newline. */
static int slurp(const char *path, char *buf, size_t sz)
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

static const char *container_kind(void)
{
	char buf[4096];

	if (access("/.dockerenv", F_OK) == 0)
		return "docker";
	if (access("/run/.containerenv", F_OK) == 0)
		return "podman";
	if (getenv("KUBERNETES_SERVICE_HOST"))
		return "kubernetes";
	if (slurp("/proc/1/environ", buf, sizeof buf) == 0 &&
	    memmem(buf, sizeof buf, "container=", 10))
		return "container";
	return "none detected";
}

struct fsinfo {
	int ok;
	char type[32];
	unsigned long long size, avail;
	int readonly;
};

static void fs_of(const char *path, struct fsinfo *fi)
{
	struct statfs sf;
	struct statvfs sv;

	memset(fi, 0, sizeof *fi);
	if (statfs(path, &sf) < 0 || statvfs(path, &sv) < 0)
		return;
	fi->ok = 1;
	snprintf(fi->type, sizeof fi->type, "%s", fs_name((unsigned long)sf.f_type));
	fi->size = (unsigned long long)sv.f_blocks * sv.f_frsize;
	fi->avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
	fi->readonly = (sv.f_flag & ST_RDONLY) != 0;
}

static void jkv(bool *first, const char *key)
{
	printf("%s\"%s\":", *first ? "" : ",", key);
	*first = false;
}

static void jstr(bool *first, const char *key, const char *val)
{
	jkv(first, key);
	json_str(stdout, val, strlen(val));
}

static void jnum(bool *first, const char *key, long long v)
{
	jkv(first, key);
	printf("%lld", v);
}

int cmd_doctor(struct cli *cli, int argc, char **argv)
{
	char dir[PATH_MAX], why[2048], cg[512], path[PATH_MAX + 64], mem[64], pids[64], lsm[256];
	struct fsinfo bus_fs, shm_fs;
	struct rlimit nofile, nproc;
	struct utsname un;
	mst_bus_opts opts = {.no_create = 1};
	mst_stats st;
	mst_bus *bus = NULL;
	bool json = false, first = true;
	int rc, i, bus_rc, pidfd_ok;
	const char *url = cli->bus_url;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else
			return die(EXIT_USAGE, "doctor: unexpected argument '%s'", argv[i]);
	}
	rc = mst_bus_locate(url, dir, sizeof dir, why, sizeof why);
	if (rc < 0)
		return fail(rc, "cannot locate a bus directory (%s)", why);
	fs_of(dir, &bus_fs);
	if (!bus_fs.ok) {
		char parent[PATH_MAX], *s;
		snprintf(parent, sizeof parent, "%s", dir);
		if ((s = strrchr(parent, '/')) && s != parent)
			*s = 0;
		fs_of(parent, &bus_fs);
	}
	fs_of("/dev/shm", &shm_fs);
	getrlimit(RLIMIT_NOFILE, &nofile);
	getrlimit(RLIMIT_NPROC, &nproc);
	uname(&un);
	cg[0] = mem[0] = pids[0] = 0;
	if (slurp("/proc/self/cgroup", cg, sizeof cg) == 0 && !strncmp(cg, "0::", 3)) {
		snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.max", cg + 3);
		slurp(path, mem, sizeof mem);
		snprintf(path, sizeof path, "/sys/fs/cgroup%s/pids.max", cg + 3);
		slurp(path, pids, sizeof pids);
	}
	if (slurp("/sys/kernel/security/lsm", lsm, sizeof lsm) < 0)
		snprintf(lsm, sizeof lsm, "unknown");
	rc = (int)syscall(SYS_pidfd_open, getpid(), 0);
	pidfd_ok = rc >= 0;
	if (rc >= 0)
		close(rc);
	bus_rc = mst_bus_open(&bus, url, &opts);
	if (bus_rc == 0)
		bus_rc = mst_stats_get(bus, &st);

	if (json) {
		putchar('{');
		jstr(&first, "version", MST_VERSION);
		jstr(&first, "bus_dir", dir);
		jstr(&first, "why", why);
		jstr(&first, "fs_type", bus_fs.ok ? bus_fs.type : "unknown");
		jnum(&first, "fs_size", (long long)bus_fs.size);
		jnum(&first, "fs_free", (long long)bus_fs.avail);
		jkv(&first, "dev_shm");
		if (shm_fs.ok)
			printf("{\"present\":true,\"type\":\"%s\",\"size\":%llu,\"free\":%llu,"
			       "\"readonly\":%s}",
			       shm_fs.type, shm_fs.size, shm_fs.avail,
			       shm_fs.readonly ? "true" : "false");
		else
			printf("{\"present\":false}");
		jnum(&first, "nofile_soft", (long long)nofile.rlim_cur);
		jnum(&first, "nofile_hard", (long long)nofile.rlim_max);
		jnum(&first, "nproc_soft", (long long)nproc.rlim_cur);
		jstr(&first, "cgroup", cg[0] ? cg : "unknown");
		jstr(&first, "cgroup_memory_max", mem[0] ? mem : "unknown");
		jstr(&first, "cgroup_pids_max", pids[0] ? pids : "unknown");
		jstr(&first, "container", container_kind());
		jstr(&first, "lsm", lsm);
		jstr(&first, "kernel", un.release);
		jkv(&first, "pidfd");
		printf("%s", pidfd_ok ? "true" : "false");
		jkv(&first, "bus");
		if (bus_rc == 0)
			printf("{\"exists\":true,\"store_bytes\":%llu,\"used_bytes\":%llu,"
			       "\"writemap\":%s,\"readers_max\":%llu,\"queues\":%llu}",
			       (unsigned long long)st.store_bytes,
			       (unsigned long long)st.used_bytes, st.writemap ? "true" : "false",
			       (unsigned long long)st.readers_max, (unsigned long long)st.queues);
		else if (bus_rc == MST_ENOTFOUND)
			printf("{\"exists\":false}");
		else
			printf("{\"exists\":true,\"error\":\"%s\"}", mst_strerror(bus_rc));
		printf("}\n");
	} else {
		printf("muster %s\n", MST_VERSION);
		printf("bus directory   %s\n  why           %s\n", dir, why);
		printf("  file system   %s, %llu MiB, %llu MiB free\n",
		       bus_fs.ok ? bus_fs.type : "?", bus_fs.size >> 20, bus_fs.avail >> 20);
		if (shm_fs.ok)
			printf("/dev/shm        %s, %llu MiB, %llu MiB free%s\n", shm_fs.type,
			       shm_fs.size >> 20, shm_fs.avail >> 20,
			       shm_fs.readonly ? ", read-only" : "");
		else
			printf("/dev/shm        missing\n");
		printf("open files      %llu (hard %llu)\n", (unsigned long long)nofile.rlim_cur,
		       (unsigned long long)nofile.rlim_max);
		printf("processes       %llu\n", (unsigned long long)nproc.rlim_cur);
		printf("cgroup          %s (memory.max %s, pids.max %s)\n", cg[0] ? cg : "unknown",
		       mem[0] ? mem : "unknown", pids[0] ? pids : "unknown");
		printf("container       %s\n", container_kind());
		printf("security        %s\n", lsm);
		printf("kernel          %s, pidfd %s\n", un.release, pidfd_ok ? "yes" : "no");
		if (bus_rc == 0)
			printf("store           %llu MiB reserved, %llu MiB used, %s, %llu reader "
			       "slots, %llu queues\n",
			       (unsigned long long)st.store_bytes >> 20,
			       (unsigned long long)st.used_bytes >> 20,
			       st.writemap ? "preallocated (writemap)" : "not preallocated",
			       (unsigned long long)st.readers_max, (unsigned long long)st.queues);
		else if (bus_rc == MST_ENOTFOUND)
			printf("store           not created yet\n");
		else
			printf("store           unusable: %s\n", mst_strerror(bus_rc));
	}
	mst_bus_close(bus);
	return EXIT_OK;
}

int cmd_stats(struct cli *cli, int argc, char **argv)
{
	mst_queue_info *qs = NULL;
	mst_stats st;
	mst_bus *bus;
	size_t n = 0, i;
	bool json = false;
	int rc, code;

	for (i = 1; i < (size_t)argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else
			return die(EXIT_USAGE, "stats: unexpected argument '%s'", argv[i]);
	}
	if ((code = cli_open(cli, 0, &bus)))
		return code;
	rc = mst_stats_get(bus, &st);
	if (rc == 0)
		rc = mst_queue_list(bus, &qs, &n);
	if (rc < 0) {
		mst_bus_close(bus);
		return fail(rc, "cannot read statistics");
	}
	if (json) {
		printf("{\"bus\":");
		json_str(stdout, mst_bus_path(bus), strlen(mst_bus_path(bus)));
		printf(",\"store_bytes\":%llu,\"used_bytes\":%llu,\"writemap\":%s,"
		       "\"readers_max\":%llu,\"readers_used\":%llu,\"queues\":%llu,\"topics\":%llu,"
		       "\"keys\":%llu,\"ready\":%llu,\"leased\":%llu,\"delayed\":%llu,\"dead\":%"
		       "llu,"
		       "\"sent\":%llu,\"acked\":%llu,\"redelivered\":%llu,\"queue\":{",
		       (unsigned long long)st.store_bytes, (unsigned long long)st.used_bytes,
		       st.writemap ? "true" : "false", (unsigned long long)st.readers_max,
		       (unsigned long long)st.readers_used, (unsigned long long)st.queues,
		       (unsigned long long)st.topics, (unsigned long long)st.keys,
		       (unsigned long long)st.ready, (unsigned long long)st.leased,
		       (unsigned long long)st.delayed, (unsigned long long)st.dead,
		       (unsigned long long)st.sent, (unsigned long long)st.acked,
		       (unsigned long long)st.redelivered);
		for (i = 0; i < n; i++) {
			if (i)
				putchar(',');
			json_str(stdout, qs[i].name, strlen(qs[i].name));
			printf(":{\"ready\":%llu,\"leased\":%llu,\"delayed\":%llu,\"dead\":%llu,"
			       "\"sent\":%llu,\"acked\":%llu}",
			       (unsigned long long)qs[i].ready, (unsigned long long)qs[i].leased,
			       (unsigned long long)qs[i].delayed, (unsigned long long)qs[i].dead,
			       (unsigned long long)qs[i].sent, (unsigned long long)qs[i].acked);
		}
		printf("}}\n");
	} else {
		printf("bus %s\n", mst_bus_path(bus));
		printf("store: %llu MiB reserved, %llu KiB used, %s\n",
		       (unsigned long long)st.store_bytes >> 20,
		       (unsigned long long)st.used_bytes >> 10,
		       st.writemap ? "writemap" : "no writemap");
		printf("queues %llu, topics %llu, keys %llu, readers %llu/%llu\n",
		       (unsigned long long)st.queues, (unsigned long long)st.topics,
		       (unsigned long long)st.keys, (unsigned long long)st.readers_used,
		       (unsigned long long)st.readers_max);
		printf("messages: ready %llu, leased %llu, delayed %llu, dead %llu; sent %llu, "
		       "acked "
		       "%llu, redelivered %llu\n",
		       (unsigned long long)st.ready, (unsigned long long)st.leased,
		       (unsigned long long)st.delayed, (unsigned long long)st.dead,
		       (unsigned long long)st.sent, (unsigned long long)st.acked,
		       (unsigned long long)st.redelivered);
	}
	mst_free(qs);
	mst_bus_close(bus);
	return EXIT_OK;
}
