/*
 * test_kv.c - the key-value store: revisions, compare-and-set, delete, prefix lists and
 * watches (in this process and woken from another), and purges of a prefix.
 */
#define _GNU_SOURCE
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static uint64_t set(mst_bus *bus, const char *key, const char *v)
{
	uint64_t rev = 0;
	int rc = mst_kv_set(bus, key, v, strlen(v), &rev);

	ck_assert_msg(rc == 0, "set %s: %s", key, mst_strerror(rc));
	ck_assert_uint_gt(rev, 0);
	return rev;
}

static void assert_value(mst_bus *bus, const char *key, const char *v, uint64_t rev)
{
	mst_kv kv;

	ck_assert_int_eq(mst_kv_get(bus, key, &kv), 0);
	ck_assert_str_eq(kv.key, key);
	ck_assert_uint_eq(kv.len, strlen(v));
	ck_assert_str_eq(kv.value, v);
	ck_assert_uint_eq(kv.rev, rev);
	mst_kv_free(&kv);
}

/* A deletion is reported only to a watcher whose revision it follows; a key that never
 * existed has nothing to report, and one set again is not deleted. */
START_TEST(test_watch_deletions)
{
	mst_bus *bus = unit_bus();
	uint64_t r1, r2;
	mst_kv kv;

	ck_assert_int_eq(mst_kv_watch(bus, "never", 5, 0, &kv), MST_EEMPTY);
	ck_assert_int_eq(mst_kv_watch(bus, "never", 5, 50, &kv), MST_ETIMEOUT);
	ck_assert_int_eq(mst_kv_set(bus, "k", "a", 1, &r1), 0);
	ck_assert_int_eq(mst_kv_del(bus, "k"), 0);
	ck_assert_int_eq(mst_kv_watch(bus, "k", r1, 0, &kv), 0);
	ck_assert_uint_eq(kv.rev, 0); /* deleted after r1 */
	mst_kv_free(&kv);
	ck_assert_int_eq(mst_kv_set(bus, "other", "b", 1, &r2), 0);
	/* nothing happened to k after r2 */
	ck_assert_int_eq(mst_kv_watch(bus, "k", r2, 0, &kv), MST_EEMPTY);
	ck_assert_int_eq(mst_kv_set(bus, "k", "c", 1, &r2), 0);
	ck_assert_int_eq(mst_kv_watch(bus, "k", r1, 0, &kv), 0);
	ck_assert_uint_eq(kv.rev, r2); /* set again: its value, not a deletion */
	ck_assert_str_eq(kv.value, "c");
	mst_kv_free(&kv);
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_set_get)
{
	mst_bus *bus = unit_bus();
	uint64_t r1 = set(bus, "a", "one"), r2, r3, r4;
	mst_kv kv;

	assert_value(bus, "a", "one", r1);
	r2 = set(bus, "a", "two");
	ck_assert_uint_gt(r2, r1);
	r3 = set(bus, "b", "x");
	ck_assert_uint_gt(r3, r2);
	assert_value(bus, "a", "two", r2);
	assert_value(bus, "b", "x", r3);
	/* binary and empty values */
	ck_assert_int_eq(mst_kv_set(bus, "bin", "\0\1\0", 3, &r4), 0);
	ck_assert_uint_gt(r4, r3);
	ck_assert_int_eq(mst_kv_get(bus, "bin", &kv), 0);
	ck_assert_uint_eq(kv.len, 3);
	ck_assert_mem_eq(kv.value, "\0\1\0", 3);
	mst_kv_free(&kv);
	mst_kv_free(&kv);
	mst_kv_free(NULL);
	ck_assert_int_eq(mst_kv_set(bus, "empty", NULL, 0, NULL), 0);
	assert_value(bus, "empty", "", r4 + 1);
	/* missing keys and bad arguments */
	ck_assert_int_eq(mst_kv_get(bus, "nope", &kv), MST_ENOTFOUND);
	ck_assert_int_eq(mst_kv_get(bus, "a b", &kv), MST_ENAME);
	ck_assert_int_eq(mst_kv_set(bus, "", "x", 1, NULL), MST_ENAME);
	ck_assert_int_eq(mst_kv_set(bus, "k", NULL, 1, NULL), MST_EINVAL);
	ck_assert_int_eq(mst_kv_get(bus, "a", NULL), MST_EINVAL);
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_cas)
{
	mst_bus *bus = unit_bus();
	uint64_t r1 = 0, r2 = 0, r3 = 99;

	/* expected 0: create only */
	ck_assert_int_eq(mst_kv_cas(bus, "c", 0, "v1", 2, &r1), 0);
	ck_assert_uint_gt(r1, 0);
	ck_assert_int_eq(mst_kv_cas(bus, "c", 0, "vX", 2, &r3), MST_ECONFLICT);
	ck_assert_uint_eq(r3, 99);
	assert_value(bus, "c", "v1", r1);
	ck_assert_int_eq(mst_kv_cas(bus, "c", r1, "v2", 2, &r2), 0);
	ck_assert_uint_gt(r2, r1);
	assert_value(bus, "c", "v2", r2);
	/* a stale revision conflicts and changes nothing */
	ck_assert_int_eq(mst_kv_cas(bus, "c", r1, "v3", 2, &r3), MST_ECONFLICT);
	ck_assert_int_eq(mst_kv_cas(bus, "c", r2 + 1000, "v3", 2, &r3), MST_ECONFLICT);
	assert_value(bus, "c", "v2", r2);
	/* a missing key has no revision but 0 */
	ck_assert_int_eq(mst_kv_cas(bus, "missing", r2, "v", 1, &r3), MST_ECONFLICT);
	ck_assert_int_eq(mst_kv_del(bus, "c"), 0);
	ck_assert_int_eq(mst_kv_cas(bus, "c", r2, "v", 1, &r3), MST_ECONFLICT);
	ck_assert_int_eq(mst_kv_cas(bus, "c", 0, "v4", 2, &r3), 0);
	ck_assert_uint_gt(r3, r2);
	assert_value(bus, "c", "v4", r3);
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_del)
{
	mst_bus *bus = unit_bus();
	uint64_t r1 = set(bus, "d", "v"), r2;
	mst_kv kv;

	ck_assert_int_eq(mst_kv_del(bus, "d"), 0);
	ck_assert_int_eq(mst_kv_get(bus, "d", &kv), MST_ENOTFOUND);
	ck_assert_int_eq(mst_kv_del(bus, "d"), MST_ENOTFOUND);
	ck_assert_int_eq(mst_kv_del(bus, "never"), MST_ENOTFOUND);
	ck_assert_int_eq(mst_kv_del(bus, "bad/name"), MST_ENAME);
	/* the deletion took a revision of its own */
	r2 = set(bus, "d", "again");
	ck_assert_uint_ge(r2, r1 + 2);
	assert_value(bus, "d", "again", r2);
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_list_prefix)
{
	static const char *const keys[] = {"app.b", "zzz", "app.a", "ap", "apq", "app.c", "APP.x"};
	static const char *const all[] = {"APP.x", "ap", "app.a", "app.b", "app.c", "apq", "zzz"};
	mst_bus *bus = unit_bus();
	mst_kv *list;
	size_t i, n;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
		set(bus, keys[i], keys[i]);
	ck_assert_int_eq(mst_kv_list(bus, "app.", &list, &n), 0);
	ck_assert_uint_eq(n, 3);
	for (i = 0; i < n; i++) {
		ck_assert_str_eq(list[i].key, all[i + 2]);
		ck_assert_str_eq(list[i].value, all[i + 2]);
		ck_assert_uint_gt(list[i].rev, 0);
	}
	mst_kv_list_free(list, n);
	ck_assert_int_eq(mst_kv_list(bus, "", &list, &n), 0);
	ck_assert_uint_eq(n, 7);
	for (i = 0; i < n; i++)
		ck_assert_str_eq(list[i].key, all[i]);
	mst_kv_list_free(list, n);
	ck_assert_int_eq(mst_kv_list(bus, NULL, &list, &n), 0);
	ck_assert_uint_eq(n, 7);
	mst_kv_list_free(list, n);
	ck_assert_int_eq(mst_kv_list(bus, "ap", &list, &n), 0);
	ck_assert_uint_eq(n, 5);
	mst_kv_list_free(list, n);
	ck_assert_int_eq(mst_kv_list(bus, "q", &list, &n), 0);
	ck_assert_uint_eq(n, 0);
	mst_kv_list_free(list, n);
	ck_assert_int_eq(mst_kv_list(bus, "zzzz", &list, &n), 0);
	ck_assert_uint_eq(n, 0);
	mst_kv_list_free(list, n);
	ck_assert_int_eq(mst_kv_list(bus, "a b", &list, &n), MST_ENAME);
	mst_kv_list_free(NULL, 0);
	mst_bus_close(bus);
}
END_TEST

/* A list longer than one read transaction's share: every key once, in order, values
 * right, also while another process keeps writing keys in and around the range. */
START_TEST(test_list_long)
{
	mst_bus *bus = unit_bus();
	char key[32], val[32];
	mst_kv *list;
	size_t i, n;
	pid_t pid;
	int st, round;

	for (i = 0; i < 3000; i++) {
		snprintf(key, sizeof key, "long.%05zu", i);
		snprintf(val, sizeof val, "v%zu", i);
		ck_assert_int_eq(mst_kv_set(bus, key, val, strlen(val), NULL), 0);
	}
	pid = unit_fork();
	if (pid == 0) { /* a writer of other keys, before, among and after them */
		mst_bus *b = unit_open(mst_bus_path(bus), 0);
		int k;

		for (k = 0; k < 3000; k++) {
			char kk[32];

			if (k % 3 == 0)
				snprintf(kk, sizeof kk, "lone.%d", k);
			else if (k % 3 == 1)
				snprintf(kk, sizeof kk, "long.%05d.x", k);
			else
				snprintf(kk, sizeof kk, "lonh.%d", k);
			if (mst_kv_set(b, kk, "w", 1, NULL) < 0)
				_exit(1);
		}
		mst_bus_close(b);
		_exit(0);
	}
	for (round = 0; round < 5; round++) {
		size_t base = 0;

		ck_assert_int_eq(mst_kv_list(bus, "long.", &list, &n), 0);
		ck_assert_uint_ge(n, 3000);
		for (i = 0; i < n; i++) {
			ck_assert(!strncmp(list[i].key, "long.", 5));
			if (i > 0)
				ck_assert_int_lt(strcmp(list[i - 1].key, list[i].key), 0);
			if (strlen(list[i].key) == 10) { /* one of ours */
				snprintf(key, sizeof key, "long.%05zu", base);
				snprintf(val, sizeof val, "v%zu", base);
				ck_assert_str_eq(list[i].key, key);
				ck_assert_str_eq(list[i].value, val);
				base++;
			}
		}
		ck_assert_uint_eq(base, 3000);
		mst_kv_list_free(list, n);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_watch_local)
{
	mst_bus *bus = unit_bus();
	uint64_t r1 = set(bus, "w", "v1");
	mst_kv kv;
	int64_t t0;

	/* since 0: any existing value is news */
	ck_assert_int_eq(mst_kv_watch(bus, "w", 0, 0, &kv), 0);
	ck_assert_uint_eq(kv.rev, r1);
	ck_assert_str_eq(kv.value, "v1");
	mst_kv_free(&kv);
	/* since an older revision: the current one */
	set(bus, "other", "x");
	ck_assert_int_eq(mst_kv_watch(bus, "w", r1 - 1, 0, &kv), 0);
	ck_assert_uint_eq(kv.rev, r1);
	mst_kv_free(&kv);
	/* since the current revision: nothing yet */
	ck_assert_int_eq(mst_kv_watch(bus, "w", r1, 0, &kv), MST_EEMPTY);
	t0 = mst_now_ns();
	ck_assert_int_eq(mst_kv_watch(bus, "w", r1, 50, &kv), MST_ETIMEOUT);
	ck_assert_int_ge(unit_ms_since(t0), 50);
	ck_assert_int_lt(unit_ms_since(t0), 1000);
	/* a key that does not exist, since 0 */
	ck_assert_int_eq(mst_kv_watch(bus, "none", 0, 0, &kv), MST_EEMPTY);
	/* a deletion is reported with revision 0 and no value */
	ck_assert_int_eq(mst_kv_del(bus, "w"), 0);
	ck_assert_int_eq(mst_kv_watch(bus, "w", r1, 0, &kv), 0);
	ck_assert_uint_eq(kv.rev, 0);
	ck_assert_str_eq(kv.key, "w");
	ck_assert_uint_eq(kv.len, 0);
	mst_kv_free(&kv);
	ck_assert_int_eq(mst_kv_watch(bus, "w w", 0, 0, &kv), MST_ENAME);
	mst_bus_close(bus);
}
END_TEST

struct report {
	int rc;
	int ok;
	uint64_t rev;
};

/* A child watches key since rev; the parent then runs change (set or delete). */
static void watch_from_child(int del)
{
	mst_bus *bus = unit_bus();
	const char *dir = mst_bus_path(bus);
	uint64_t since = set(bus, "cfg", "old"), rev = 0;
	int up[2], status;
	struct report r;
	int64_t t0;
	pid_t pid;
	char c;

	ck_assert_int_eq(pipe(up), 0);
	pid = unit_fork();
	if (pid == 0) {
		mst_bus *b = unit_open(dir, 0);
		mst_kv kv;

		close(up[0]);
		unit_write_full(up[1], "r", 1);
		r.rc = mst_kv_watch(b, "cfg", since, 5000, &kv);
		r.rev = r.rc == 0 ? kv.rev : 0;
		r.ok = r.rc == 0 &&
		       (del ? kv.rev == 0 && kv.len == 0
			    : kv.rev > since && kv.len == 3 && !memcmp(kv.value, "new", 3));
		unit_write_full(up[1], &r, sizeof r);
		_exit(r.ok ? 0 : 1);
	}
	close(up[1]);
	ck_assert_int_eq(unit_read_full(up[0], &c, 1), 0);
	ck_assert_msg(unit_wait_asleep(pid, SYS_futex, 3000), "child never blocked");
	/* a change to another key does not end the watch */
	set(bus, "unrelated", "x");
	t0 = mst_now_ns();
	if (del)
		ck_assert_int_eq(mst_kv_del(bus, "cfg"), 0);
	else
		rev = set(bus, "cfg", "new");
	ck_assert_int_eq(unit_read_full(up[0], &r, sizeof r), 0);
	ck_assert_msg(unit_ms_since(t0) < 1000, "woken after %lld ms",
		      (long long)unit_ms_since(t0));
	ck_assert_msg(r.ok, "child watch: %s, rev %llu", mst_strerror(r.rc),
		      (unsigned long long)r.rev);
	if (!del)
		ck_assert_uint_eq(r.rev, rev);
	status = unit_reap(pid, 5000);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(up[0]);
	mst_bus_close(bus);
}

START_TEST(test_watch_wakes_child)
{
	watch_from_child(0);
}
END_TEST

START_TEST(test_watch_wakes_child_on_delete)
{
	watch_from_child(1);
}
END_TEST

/* Counts the keys under prefix. */
static size_t count_prefix(mst_bus *bus, const char *prefix)
{
	mst_kv *list;
	size_t n;

	ck_assert_int_eq(mst_kv_list(bus, prefix, &list, &n), 0);
	mst_kv_list_free(list, n);
	return n;
}

/* A purge forgets the keys under its prefix and the records of their deletions, and
 * nothing else: not a key that is the prefix without its dot, nor one that starts the
 * same, nor the deletion of a key outside. */
START_TEST(test_purge)
{
	static const char *const under[] = {"a.1", "a.2", "a.x.y", "a."};
	static const char *const outside[] = {"a", "ab.x", "a-", "b.1", "A.1"};
	mst_bus *bus = unit_bus();
	uint64_t orev[5], del_since, odel_since, r;
	mst_stats st;
	mst_kv kv;
	size_t i, n = 99;

	for (i = 0; i < 4; i++)
		set(bus, under[i], under[i]);
	for (i = 0; i < 5; i++)
		orev[i] = set(bus, outside[i], outside[i]);
	del_since = set(bus, "a.gone", "x");
	ck_assert_int_eq(mst_kv_del(bus, "a.gone"), 0);
	odel_since = set(bus, "ab.gone", "x");
	ck_assert_int_eq(mst_kv_del(bus, "ab.gone"), 0);
	/* before the purge, the deletion is there to tell */
	ck_assert_int_eq(mst_kv_watch(bus, "a.gone", del_since, 0, &kv), 0);
	ck_assert_uint_eq(kv.rev, 0);
	ck_assert_str_eq(kv.key, "a.gone");
	mst_kv_free(&kv);

	ck_assert_int_eq(mst_kv_purge(bus, "a.", &n), 0);
	ck_assert_uint_eq(n, 4); /* keys, not deletion records */
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(mst_kv_get(bus, under[i], &kv), MST_ENOTFOUND);
	ck_assert_uint_eq(count_prefix(bus, "a."), 0);
	for (i = 0; i < 5; i++)
		assert_value(bus, outside[i], outside[i], orev[i]);
	ck_assert_uint_eq(count_prefix(bus, ""), 5);
	ck_assert_int_eq(mst_stats_get(bus, &st), 0);
	ck_assert_uint_eq(st.keys, 5);
	/* the purged deletion has no record left; the other one still does */
	ck_assert_int_eq(mst_kv_watch(bus, "a.gone", del_since, 0, &kv), MST_EEMPTY);
	ck_assert_int_eq(mst_kv_watch(bus, "a.1", 1, 0, &kv), MST_EEMPTY);
	ck_assert_int_eq(mst_kv_watch(bus, "ab.gone", odel_since, 0, &kv), 0);
	ck_assert_uint_eq(kv.rev, 0);
	mst_kv_free(&kv);
	/* nothing left to purge; n may be NULL */
	n = 99;
	ck_assert_int_eq(mst_kv_purge(bus, "a.", &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(mst_kv_purge(bus, "zzz", NULL), 0);
	ck_assert_int_eq(mst_kv_purge(bus, "a-", NULL), 0);
	ck_assert_int_eq(mst_kv_get(bus, "a-", &kv), MST_ENOTFOUND);
	/* revisions go on from where they were; a purged key can come back */
	r = set(bus, "a.1", "back");
	ck_assert_uint_gt(r, odel_since + 1);
	assert_value(bus, "a.1", "back", r);
	/* bad arguments: the empty prefix would be everything */
	ck_assert_int_eq(mst_kv_purge(bus, "", &n), MST_ENAME);
	ck_assert_int_eq(mst_kv_purge(bus, NULL, &n), MST_EINVAL);
	ck_assert_int_eq(mst_kv_purge(bus, "a b", &n), MST_ENAME);
	ck_assert_int_eq(mst_kv_purge(NULL, "a.", &n), MST_EINVAL);
	ck_assert_uint_eq(count_prefix(bus, ""), 5);
	mst_bus_close(bus);
}
END_TEST

/* More keys and deletion records than one commit takes: all of them go, n counts every
 * key, and the neighbours stay. */
START_TEST(test_purge_many)
{
	mst_bus *bus = unit_bus();
	uint64_t since[700];
	char key[32];
	mst_kv kv;
	size_t i, n = 0;

	for (i = 0; i < 1500; i++) {
		snprintf(key, sizeof key, "many.%05zu", i);
		set(bus, key, "v");
	}
	for (i = 0; i < 700; i++) {
		snprintf(key, sizeof key, "many.d.%04zu", i);
		since[i] = set(bus, key, "v");
		ck_assert_int_eq(mst_kv_del(bus, key), 0);
	}
	set(bus, "many", "stays");
	set(bus, "manz.1", "stays");
	set(bus, "many-", "stays");
	ck_assert_uint_eq(count_prefix(bus, "many."), 1500);
	ck_assert_int_eq(mst_kv_purge(bus, "many.", &n), 0);
	ck_assert_uint_eq(n, 1500);
	ck_assert_uint_eq(count_prefix(bus, "many."), 0);
	ck_assert_uint_eq(count_prefix(bus, ""), 3);
	for (i = 0; i < 700; i += 99) {
		snprintf(key, sizeof key, "many.d.%04zu", i);
		ck_assert_int_eq(mst_kv_watch(bus, key, since[i], 0, &kv), MST_EEMPTY);
	}
	ck_assert_int_eq(mst_kv_watch(bus, "many.d.0699", since[699], 0, &kv), MST_EEMPTY);
	mst_bus_close(bus);
}
END_TEST

Suite *suite_kv(void)
{
	Suite *s = suite_create("kv");
	TCase *tc = tcase_create("kv");

	tcase_add_test(tc, test_set_get);
	tcase_add_test(tc, test_watch_deletions);
	tcase_add_test(tc, test_cas);
	tcase_add_test(tc, test_del);
	tcase_add_test(tc, test_list_prefix);
	tcase_add_test(tc, test_list_long);
	tcase_add_test(tc, test_watch_local);
	tcase_add_test(tc, test_watch_wakes_child);
	tcase_add_test(tc, test_watch_wakes_child_on_delete);
	tcase_add_test(tc, test_purge);
	tcase_add_test(tc, test_purge_many);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}
