/*
 * forget.c - muster forget: a finished run taken out of its bus (its results topic,
 * its queues, its keys and the records of their deletions, its files), so that a bus
 * in long use does not keep every run it ran.
 */
#define _GNU_SOURCE
#include "run.h"

#include <limits.h>
#include <string.h>
#include <sys/stat.h>

/* Deletes the queues whose names start with prefix; *n counts them. */
static int del_queues(mst_bus *bus, const char *prefix, size_t *n)
{
	mst_queue_info *qs;
	size_t cnt, i, plen = strlen(prefix);
	int rc;

	if ((rc = mst_queue_list(bus, &qs, &cnt)) < 0)
		return rc;
	for (i = 0; i < cnt; i++) {
		if (strncmp(qs[i].name, prefix, plen))
			continue;
		rc = mst_queue_delete(bus, qs[i].name);
		if (rc == 0)
			(*n)++;
		else if (rc != MST_ENOTFOUND)
			break;
		rc = 0;
	}
	mst_free(qs);
	return rc;
}

int run_forget(mst_bus *bus, const char *bus_dir, const char *run)
{
	char key[MST_NAME_MAX + 1], dir[PATH_MAX];
	size_t found = 0, n = 0;
	struct stat st;
	int rc;

	if ((rc = run_name(key, sizeof key, run, "master")) < 0)
		return rc;
	if (mst_lock_held(bus, key) == 1)
		return MST_EBUSY; /* a live master: stop the run first */
	/* every part goes on its own, so that a forget cut short can be done again: the run
	 * is unknown only when no part of it is left */
	if ((rc = run_name(key, sizeof key, run, "results")) < 0)
		return rc;
	if ((rc = mst_topic_delete(bus, key)) == 0)
		found++;
	else if (rc != MST_ENOTFOUND)
		return rc;
	if ((rc = run_proc_key(key, sizeof key, run, 0)) < 0 ||
	    (rc = mst_kv_purge(bus, key, &n)) < 0)
		return rc;
	found += n;
	if (snprintf(key, sizeof key, "run.%s.", run) >= (int)sizeof key)
		return MST_ENAME;
	/* its queues (tasks, replies, dead letters), then its keys */
	if ((rc = del_queues(bus, key, &found)) < 0 || (rc = mst_kv_purge(bus, key, &n)) < 0)
		return rc;
	found += n;
	if ((rc = run_dir(dir, sizeof dir, bus_dir, run)) == 0 && lstat(dir, &st) == 0) {
		found++;
		run_rmtree(dir);
	}
	return found ? 0 : MST_ENOTFOUND;
}
