/*
 * result.c - the bus names of a run, and a task's result: its JSON, recorded once.
 *
 * A result is created under run.R.res.N by compare-and-set on revision 0, so of two
 * processes that finish the same task (a task redelivered while the worker of a dead
 * coordinator still ran it), one records it and the other learns that it lost. The
 * recorder publishes it on run.R.results for the master (which counts each index
 * once) in the same commit, and a coordinator acknowledges the task's message in it
 * too (coord.c).
 */
#define _GNU_SOURCE
#include "run.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int run_name(char *buf, size_t size, const char *run, const char *fmt, ...)
{
	va_list ap;
	int n, m;

	n = snprintf(buf, size, "run.%s.", run);
	if (n < 0 || (size_t)n >= size)
		return MST_ENAME;
	va_start(ap, fmt);
	m = vsnprintf(buf + n, size - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0 || (size_t)(n + m) >= size)
		return MST_ENAME;
	return mst_name_check(buf);
}

int64_t run_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t run_utf8_seq(const unsigned char *s, size_t left)
{
	size_t n, i;
	uint32_t c;

	if (s[0] < 0x80)
		return 1;
	n = s[0] >= 0xf0 && s[0] < 0xf5 ? 4
	    : s[0] >= 0xe0		? (s[0] < 0xf0 ? 3 : 0)
	    : s[0] >= 0xc2		? 2
					: 0;
	if (!n || n > left)
		return 0;
	c = s[0] & (0x7f >> n);
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return n;
}

/* Adds s (len bytes) to o under key, as a string: output is for people and JSON
 * tools, so bytes that are not UTF-8 become U+FFFD. */
static void set_text(json_t *o, const char *key, const char *s, size_t len)
{
	json_t *v = json_stringn(s, len);
	char *fixed;
	size_t i, j, n;

	if (!v && (fixed = malloc(len * 3 + 1))) {
		for (i = j = 0; i < len; i += n ? n : 1) {
			n = run_utf8_seq((const unsigned char *)s + i, len - i);
			if (n) {
				memcpy(fixed + j, s + i, n);
				j += n;
			} else {
				memcpy(fixed + j, "\xef\xbf\xbd", 3);
				j += 3;
			}
		}
		v = json_stringn(fixed, j);
		free(fixed);
	}
	if (v)
		json_object_set_new(o, key, v);
}

char *run_result_json(const struct run_result *r)
{
	json_t *o = json_object();
	char *s;

	if (!o)
		return NULL;
	json_object_set_new(o, "id", json_string(r->id));
	json_object_set_new(o, "n", json_integer((json_int_t)r->idx));
	json_object_set_new(o, "status", json_string(r->status));
	if (r->exit_code >= 0)
		json_object_set_new(o, "exit_code", json_integer(r->exit_code));
	else
		json_object_set_new(o, "exit_code", json_null());
	if (r->signal > 0)
		json_object_set_new(o, "signal", json_integer(r->signal));
	if (r->reason && *r->reason)
		json_object_set_new(o, "reason", json_string(r->reason));
	set_text(o, "output", r->output ? r->output : "", r->output ? r->output_len : 0);
	if (r->output_truncated)
		json_object_set_new(o, "output_truncated", json_true());
	if (r->output_file)
		json_object_set_new(o, "output_file", json_string(r->output_file));
	if (r->err_len)
		set_text(o, "stderr", r->err, r->err_len);
	json_object_set_new(o, "attempts", json_integer(r->attempts));
	json_object_set_new(o, "agent", json_integer(r->agent));
	json_object_set_new(o, "coordinator", json_integer(r->coordinator));
	json_object_set_new(o, "start_ms", json_integer(r->start_ms));
	json_object_set_new(o, "duration_ms", json_real((double)r->duration_us / 1000.0));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

int run_result_ops(const char *run, const struct run_result *r, mst_op ops[2])
{
	char key[MST_NAME_MAX + 1], topic[MST_NAME_MAX + 1];
	int rc;

	memset(ops, 0, 2 * sizeof *ops);
	if ((rc = run_name(key, sizeof key, run, "res.%zu", r->idx)) < 0 ||
	    (rc = run_name(topic, sizeof topic, run, "results")) < 0)
		return rc;
	ops[0].kind = MST_OP_KV_CAS;
	ops[0].expected = 0;
	ops[0].name = strdup(key);
	ops[0].data = run_result_json(r);
	ops[1].kind = MST_OP_PUBLISH;
	ops[1].name = strdup(topic);
	ops[1].if_ok = 1;
	if (!ops[0].name || !ops[0].data || !ops[1].name) {
		run_result_ops_free(ops);
		return -ENOMEM;
	}
	ops[0].len = ops[1].len = strlen(ops[0].data);
	ops[1].data = ops[0].data;
	return 0;
}

void run_result_ops_free(mst_op ops[2])
{
	free((char *)ops[0].name);
	free((char *)ops[0].data);
	free((char *)ops[1].name);
	ops[0].name = ops[1].name = NULL;
	ops[0].data = ops[1].data = NULL;
}

int run_result_record(mst_bus *bus, const char *run, const struct run_result *r)
{
	mst_op ops[2];
	int rc;

	if ((rc = run_result_ops(run, r, ops)) < 0)
		return rc;
	rc = mst_write(bus, ops, 2);
	run_result_ops_free(ops);
	return rc; /* MST_ECONFLICT: recorded already, by someone else */
}

int run_result_republish(mst_bus *bus, const char *run, size_t idx)
{
	char key[MST_NAME_MAX + 1], topic[MST_NAME_MAX + 1];
	mst_kv kv;
	int rc;

	if ((rc = run_name(key, sizeof key, run, "res.%zu", idx)) < 0 ||
	    (rc = run_name(topic, sizeof topic, run, "results")) < 0)
		return rc;
	if ((rc = mst_kv_get(bus, key, &kv)) < 0)
		return rc;
	rc = mst_publish(bus, topic, kv.value, kv.len, NULL);
	mst_kv_free(&kv);
	return rc;
}

int run_count_failure(mst_bus *bus, const char *run, size_t idx)
{
	char key[MST_NAME_MAX + 1], val[24];
	int rc, tries;

	if ((rc = run_name(key, sizeof key, run, "fail.%zu", idx)) < 0)
		return rc;
	/* compare-and-set: two processes failing the same task both count */
	for (tries = 0; tries < 100; tries++) {
		mst_kv kv;
		uint64_t rev = 0;
		long n = 0;

		rc = mst_kv_get(bus, key, &kv);
		if (rc == 0) {
			n = strtol(kv.value, NULL, 10);
			rev = kv.rev;
			mst_kv_free(&kv);
		} else if (rc != MST_ENOTFOUND) {
			return rc;
		}
		snprintf(val, sizeof val, "%ld", n + 1);
		rc = mst_kv_cas(bus, key, rev, val, strlen(val), NULL);
		if (rc == 0)
			return (int)(n + 1);
		if (rc != MST_ECONFLICT)
			return rc;
	}
	return MST_ECONFLICT;
}

static int by_index(const void *a, const void *b)
{
	const char *x = strrchr(((const mst_kv *)a)->key, '.');
	const char *y = strrchr(((const mst_kv *)b)->key, '.');
	unsigned long long i = strtoull(x + 1, NULL, 10), j = strtoull(y + 1, NULL, 10);

	return i < j ? -1 : i > j;
}

int run_results_list(mst_bus *bus, const char *run, mst_kv **out, size_t *n)
{
	char prefix[MST_NAME_MAX + 1];
	int rc;

	if ((rc = run_name(prefix, sizeof prefix, run, "res.")) < 0 ||
	    (rc = mst_kv_list(bus, prefix, out, n)) < 0)
		return rc;
	if (*n > 1) /* (qsort wants a list: none is NULL) */
		qsort(*out, *n, sizeof **out, by_index);
	return 0;
}

char *run_memdup(const char *s, size_t len)
{
	char *d = malloc(len + 1);

	if (d) {
		memcpy(d, s, len);
		d[len] = 0;
	}
	return d;
}
