/*
 * cmd_doctor.c - muster doctor and muster stats.
 *
 * doctor reports where the bus lives and why, the file system under it, the limits
 * that matter to a swarm of agents (fds, processes, cgroup memory and pids), whether
 * we run in a container, and which security modules are active.
 */
#define _GNU_SOURCE
#include "cli.h"

#include "../run/run.h"
#include "../validate/validate.h"

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
	struct venv e;
	struct run_features feat;
	mst_bus_opts opts = {.no_create = 1};
	mst_stats st;
	mst_bus *bus = NULL;
	bool json = false, first = true;
	int i, bus_rc, feat_rc, k;
	const char *url = cli->bus_url;
	const struct venv_fs *bf = &e.bus_fs, *sf = &e.shm_fs;
	const char *cg, *mem, *pids;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else
			return die(EXIT_USAGE, "doctor: unexpected argument '%s'", argv[i]);
	}
	venv_read(&e, url);
	if (e.locate_rc < 0)
		return fail(e.locate_rc, "cannot locate a bus directory (%s)", e.why);
	cg = e.cgroup[0] ? e.cgroup : "unknown";
	mem = e.cg_memory_max[0] ? e.cg_memory_max : "unknown";
	pids = e.cg_pids_max[0] ? e.cg_pids_max : "unknown";
	bus_rc = mst_bus_open(&bus, url, &opts);
	if (bus_rc == 0)
		bus_rc = mst_stats_get(bus, &st);
	feat_rc = run_features_load(&feat);

	if (json) {
		putchar('{');
		jstr(&first, "version", MST_VERSION);
		jstr(&first, "bus_dir", e.bus_dir);
		jstr(&first, "why", e.why);
		jstr(&first, "fs_type", bf->ok ? bf->type : "unknown");
		jnum(&first, "fs_size", (long long)bf->size);
		jnum(&first, "fs_free", (long long)bf->avail);
		jkv(&first, "dev_shm");
		if (sf->ok)
			printf("{\"present\":true,\"type\":\"%s\",\"size\":%llu,\"free\":%llu,"
			       "\"readonly\":%s}",
			       sf->type, sf->size, sf->avail, sf->readonly ? "true" : "false");
		else
			printf("{\"present\":false}");
		jnum(&first, "nofile_soft", (long long)e.nofile.rlim_cur);
		jnum(&first, "nofile_hard", (long long)e.nofile.rlim_max);
		jnum(&first, "nproc_soft", (long long)e.nproc.rlim_cur);
		jstr(&first, "cgroup", cg);
		jstr(&first, "cgroup_memory_max", mem);
		jstr(&first, "cgroup_pids_max", pids);
		jstr(&first, "container", e.container);
		jstr(&first, "lsm", e.lsm);
		jstr(&first, "kernel", e.kernel);
		jkv(&first, "pidfd");
		printf("%s", e.pidfd ? "true" : "false");
		jkv(&first, "bus");
		if (bus_rc == 0)
			printf("{\"exists\":true,\"store_bytes\":%llu,\"used_bytes\":%llu,"
			       "\"writemap\":%s,\"readers_max\":%llu,\"queues\":%llu,"
			       "\"shards\":%u}",
			       (unsigned long long)st.store_bytes,
			       (unsigned long long)st.used_bytes, st.writemap ? "true" : "false",
			       (unsigned long long)st.readers_max, (unsigned long long)st.queues,
			       st.shards);
		else if (bus_rc == MST_ENOTFOUND)
			printf("{\"exists\":false}");
		else
			printf("{\"exists\":true,\"error\":\"%s\"}", mst_strerror(bus_rc));
		jkv(&first, "features");
		putchar('{');
		for (k = 0; feat_rc == 0 && k < RUN_FEATURES; k++) {
			printf("%s\"%s\":{\"on\":%s,", k ? "," : "",
			       run_feature_name((enum run_feature)k),
			       feat.on[k] ? "true" : "false");
			if (k == RUN_SHARDING)
				printf("\"stores\":%u,", feat.shards);
			printf("\"source\":");
			json_str(stdout, feat.source[k], strlen(feat.source[k]));
			putchar('}');
		}
		if (feat_rc < 0) {
			printf("\"error\":");
			json_str(stdout, feat.err, strlen(feat.err));
		}
		putchar('}');
		printf("}\n");
	} else {
		printf("muster %s\n", MST_VERSION);
		printf("bus directory   %s\n  why           %s\n", e.bus_dir, e.why);
		printf("  file system   %s, %llu MiB, %llu MiB free\n", bf->ok ? bf->type : "?",
		       bf->size >> 20, bf->avail >> 20);
		if (sf->ok)
			printf("/dev/shm        %s, %llu MiB, %llu MiB free%s\n", sf->type,
			       sf->size >> 20, sf->avail >> 20, sf->readonly ? ", read-only" : "");
		else
			printf("/dev/shm        missing\n");
		printf("open files      %llu (hard %llu)\n", (unsigned long long)e.nofile.rlim_cur,
		       (unsigned long long)e.nofile.rlim_max);
		printf("processes       %llu\n", (unsigned long long)e.nproc.rlim_cur);
		printf("cgroup          %s (memory.max %s, pids.max %s)\n", cg, mem, pids);
		printf("container       %s\n", e.container);
		printf("security        %s\n", e.lsm);
		printf("kernel          %s, pidfd %s\n", e.kernel, e.pidfd ? "yes" : "no");
		if (bus_rc == 0)
			printf("store           %llu MiB reserved, %llu MiB used, %s, %llu reader "
			       "slots, %llu queues, %u store%s\n",
			       (unsigned long long)st.store_bytes >> 20,
			       (unsigned long long)st.used_bytes >> 20,
			       st.writemap ? "preallocated (writemap)" : "not preallocated",
			       (unsigned long long)st.readers_max, (unsigned long long)st.queues,
			       st.shards, st.shards == 1 ? "" : "s (sharded)");
		else if (bus_rc == MST_ENOTFOUND)
			printf("store           not created yet\n");
		else
			printf("store           unusable: %s\n", mst_strerror(bus_rc));
		if (feat_rc < 0)
			printf("features        unusable config: %s\n", feat.err);
		for (k = 0; feat_rc == 0 && k < RUN_FEATURES; k++) {
			char on[32];

			if (k == RUN_SHARDING && feat.on[k])
				snprintf(on, sizeof on, "on, %u stores", feat.shards);
			else
				snprintf(on, sizeof on, "%s", feat.on[k] ? "on" : "off");
			printf("%s%s %s (%s)%s", k ? ", " : "features        ",
			       run_feature_name((enum run_feature)k), on, feat.source[k],
			       k + 1 == RUN_FEATURES ? "\n" : "");
		}
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
		printf(",\"shards\":%u", st.shards);
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
		printf("store: %llu MiB reserved, %llu KiB used, %s",
		       (unsigned long long)st.store_bytes >> 20,
		       (unsigned long long)st.used_bytes >> 10,
		       st.writemap ? "writemap" : "no writemap");
		if (st.shards > 1)
			printf(", %u stores (sharded)", st.shards);
		putchar('\n');
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
