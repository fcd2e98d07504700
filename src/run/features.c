/*
 * features.c - the feature flags: the seed's rollout safety, a switch per optimization
 * so that one that misbehaves where muster is deployed can be turned off without a new
 * build. One config for all: the file $MUSTER_CONFIG, else
 * ${XDG_CONFIG_HOME:-~/.config}/muster/config ("NAME = on|off" lines, # comments), then
 * $MUSTER_FEATURES ("NAME=on,NAME=off"), which wins. muster doctor shows each flag and
 * where its value came from. A bad line is an error, never a silent default.
 *
 *   pooling         muster run --mode pool (long-lived agents); off: refused
 *   batching        a coordinator commits a loop turn's records together, and takes up
 *                   to 64 tasks per receive; off: a commit per record, a task per receive
 *   parallel_spawn  a coordinator per 250 agents and at least one per CPU, spawning side
 *                   by side; off: one coordinator (unless --coordinators says otherwise)
 *   sharding        a bus muster creates gets several stores, its queues spread over them
 *                   by name (on: 8; or the count, 2..16); off (the default): one store.
 *                   Off by default: it pays only with many writers on many queues, and
 *                   a write that spans stores is no longer one commit (see shard.c)
 */
#define _GNU_SOURCE
#include "run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[RUN_FEATURES] = {"pooling", "batching", "parallel_spawn",
						"sharding"};

const char *run_feature_name(enum run_feature f)
{
	return f < RUN_FEATURES ? names[f] : "?";
}

/* "on"/"off" (and 1/0, true/false, yes/no): 1, 0, or -1. */
static int parse_bool(const char *s, size_t len)
{
	static const char *const yes[] = {"on", "1", "true", "yes"}, *const no[] = {"off", "0",
										    "false", "no"};
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strlen(yes[i]) == len && !strncasecmp(s, yes[i], len))
			return 1;
		if (strlen(no[i]) == len && !strncasecmp(s, no[i], len))
			return 0;
	}
	return -1;
}

static void trim(const char **s, size_t *len)
{
	while (*len && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*len)--;
	}
	while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t' || (*s)[*len - 1] == '\r'))
		(*len)--;
}

/* One "NAME = VALUE" (sep '=') setting from where: 0 or -1 with f->err set. */
static int set_one(struct run_features *f, const char *s, size_t len, const char *where)
{
	const char *eq = memchr(s, '=', len), *v;
	size_t klen, vlen;
	int i, b;

	if (!eq) {
		snprintf(f->err, sizeof f->err, "%s: '%.*s' is not NAME=on|off", where, (int)len,
			 s);
		return -1;
	}
	klen = (size_t)(eq - s);
	v = eq + 1;
	vlen = len - klen - 1;
	trim(&s, &klen);
	trim(&v, &vlen);
	for (i = 0; i < RUN_FEATURES; i++)
		if (strlen(names[i]) == klen && !strncmp(s, names[i], klen))
			break;
	if (i == RUN_FEATURES) {
		snprintf(f->err, sizeof f->err,
			 "%s: unknown feature '%.*s' (pooling, batching, parallel_spawn, sharding)",
			 where, (int)klen, s);
		return -1;
	}
	if (i == RUN_SHARDING && vlen && vlen <= 2 && strspn(v, "0123456789") >= vlen) {
		/* a count of stores */
		unsigned n = (unsigned)strtoul(v, NULL, 10);

		if (n < 1 || n > MST_SHARDS_MAX) {
			snprintf(f->err, sizeof f->err,
				 "%s: sharding must be on, off or a count of stores from 1 to %d, "
				 "not '%.*s'",
				 where, MST_SHARDS_MAX, (int)vlen, v);
			return -1;
		}
		f->shards = n;
		f->on[i] = n > 1;
		snprintf(f->source[i], sizeof f->source[i], "%s", where);
		return 0;
	}
	if ((b = parse_bool(v, vlen)) < 0) {
		snprintf(f->err, sizeof f->err, "%s: %s must be on or off, not '%.*s'", where,
			 names[i], (int)vlen, v);
		return -1;
	}
	f->on[i] = b;
	if (i == RUN_SHARDING)
		f->shards = b ? RUN_SHARDS_DEFAULT : 1;
	snprintf(f->source[i], sizeof f->source[i], "%s", where);
	return 0;
}

static int load_file(struct run_features *f, const char *path, int given)
{
	FILE *fp = fopen(path, "re");
	char *line = NULL, where[PATH_MAX + 32];
	size_t cap = 0, lineno = 0;
	ssize_t n;
	int rc = 0;

	if (!fp) {
		if (errno == ENOENT && !given)
			return 0; /* no config: the defaults */
		snprintf(f->err, sizeof f->err, "config %s: %s", path, strerror(errno));
		return -1;
	}
	snprintf(f->file, sizeof f->file, "%s", path);
	while (rc == 0 && (n = getline(&line, &cap, fp)) > 0) {
		const char *s = line;
		size_t len = (size_t)n;
		char *hash = memchr(line, '#', (size_t)n);

		lineno++;
		if (hash)
			len = (size_t)(hash - line);
		while (len && (s[len - 1] == '\n'))
			len--;
		trim(&s, &len);
		if (!len)
			continue;
		snprintf(where, sizeof where, "%s:%zu", path, lineno);
		rc = set_one(f, s, len, where);
	}
	free(line);
	fclose(fp);
	return rc;
}

int run_features_load(struct run_features *f)
{
	const char *path = getenv("MUSTER_CONFIG"), *env = getenv("MUSTER_FEATURES"), *p;
	char def[PATH_MAX];
	int i;

	memset(f, 0, sizeof *f);
	for (i = 0; i < RUN_FEATURES; i++) {
		f->on[i] = i != RUN_SHARDING;
		snprintf(f->source[i], sizeof f->source[i], "default");
	}
	f->shards = 1;
	if (path && *path) {
		if (load_file(f, path, 1) < 0)
			return MST_EINVAL;
	} else {
		const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");

		if (xdg && *xdg)
			snprintf(def, sizeof def, "%s/muster/config", xdg);
		else if (home && *home)
			snprintf(def, sizeof def, "%s/.config/muster/config", home);
		else
			def[0] = 0;
		if (def[0] && load_file(f, def, 0) < 0)
			return MST_EINVAL;
	}
	for (p = env; p && *p;) {
		const char *e = strchrnul(p, ','), *s = p;
		size_t len = (size_t)(e - p);

		trim(&s, &len);
		if (len && set_one(f, s, len, "MUSTER_FEATURES") < 0)
			return MST_EINVAL;
		p = *e ? e + 1 : e;
	}
	return 0;
}
