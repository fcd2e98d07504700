/*
 * test_topic.c - topics: publish, subscribe from earliest / a sequence / latest,
 * retention by count and age, and a subscriber in another process woken by a publish.
 */
#define _GNU_SOURCE
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t pub(mst_bus *bus, const char *topic, const char *s)
{
	uint64_t seq = 0;
	int rc = mst_publish(bus, topic, s, strlen(s), &seq);

	ck_assert_msg(rc == 0, "publish %s: %s", topic, mst_strerror(rc));
	return seq;
}

/* Reads every entry from from (wait 0) and checks their sequences and payloads
 * ("e<seq>"). Returns the count; *next receives the continuation. */
static size_t read_all(mst_bus *bus, const char *topic, uint64_t from, uint64_t first,
		       uint64_t *next)
{
	mst_msg msgs[32];
	size_t n = 0, i;
	char want[32];
	int rc = mst_subscribe(bus, topic, from, 0, msgs, 32, &n, next);

	if (rc == MST_EEMPTY)
		return 0;
	ck_assert_msg(rc == 0, "subscribe %s: %s", topic, mst_strerror(rc));
	for (i = 0; i < n; i++) {
		snprintf(want, sizeof want, "e%llu", (unsigned long long)(first + i));
		ck_assert_uint_eq(msgs[i].id, first + i);
		ck_assert_str_eq(msgs[i].data, want);
		ck_assert_str_eq(msgs[i].queue, topic);
		mst_msg_free(&msgs[i]);
	}
	ck_assert_uint_eq(*next, first + n);
	return n;
}

static void publish_seq(mst_bus *bus, const char *topic, uint64_t from, uint64_t to)
{
	char s[32];
	uint64_t i;

	for (i = from; i <= to; i++) {
		snprintf(s, sizeof s, "e%llu", (unsigned long long)i);
		ck_assert_uint_eq(pub(bus, topic, s), i);
	}
}

/* A deleted topic has no entries and no settings; a neighbour whose name starts the
 * same keeps its own; the next publish starts again at 1. */
START_TEST(test_topic_delete)
{
	mst_bus *bus = unit_bus();
	mst_topic_opts o = {.max_count = 5};
	mst_msg m;
	uint64_t next;
	size_t n;

	publish_seq(bus, "log", 1, 40);
	publish_seq(bus, "log2", 1, 3);
	ck_assert_int_eq(mst_topic_config(bus, "log", &o), 0);
	ck_assert_int_eq(mst_topic_delete(bus, "log"), 0);
	ck_assert_int_eq(mst_subscribe(bus, "log", MST_FROM_EARLIEST, 0, &m, 1, &n, &next),
			 MST_EEMPTY);
	ck_assert_uint_eq(read_all(bus, "log2", MST_FROM_EARLIEST, 1, &next), 3);
	ck_assert_int_eq(mst_topic_delete(bus, "log"), MST_ENOTFOUND);
	ck_assert_int_eq(mst_topic_delete(bus, "never"), MST_ENOTFOUND);
	ck_assert_int_eq(mst_topic_delete(bus, "bad name"), MST_ENAME);
	/* a fresh start, with the default retention (not max_count 5) */
	publish_seq(bus, "log", 1, 8);
	ck_assert_uint_eq(read_all(bus, "log", MST_FROM_EARLIEST, 1, &next), 8);
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_publish_subscribe)
{
	mst_bus *bus = unit_bus();
	uint64_t next = 0;
	mst_msg m;
	size_t n;
	int64_t t0;

	ck_assert_int_eq(mst_subscribe(bus, "t", MST_FROM_EARLIEST, 0, &m, 1, &n, &next),
			 MST_EEMPTY);
	publish_seq(bus, "t", 1, 5);
	ck_assert_uint_eq(read_all(bus, "t", MST_FROM_EARLIEST, 1, &next), 5);
	ck_assert_uint_eq(next, 6);
	ck_assert_uint_eq(read_all(bus, "t", 3, 3, &next), 3);
	ck_assert_uint_eq(read_all(bus, "t", 5, 5, &next), 1);
	/* reading does not consume */
	ck_assert_uint_eq(read_all(bus, "t", 1, 1, &next), 5);
	/* max limits the batch and next continues it */
	ck_assert_int_eq(mst_subscribe(bus, "t", 2, 0, &m, 1, &n, &next), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(m.id, 2);
	ck_assert_uint_eq(next, 3);
	mst_msg_free(&m);
	/* past the end */
	ck_assert_int_eq(mst_subscribe(bus, "t", 6, 0, &m, 1, &n, &next), MST_EEMPTY);
	ck_assert_uint_eq(n, 0);
	t0 = mst_now_ns();
	ck_assert_int_eq(mst_subscribe(bus, "t", 6, 50, &m, 1, &n, &next), MST_ETIMEOUT);
	ck_assert_int_ge(unit_ms_since(t0), 50);
	ck_assert_int_lt(unit_ms_since(t0), 1000);
	/* topics are independent; binary entries round-trip */
	ck_assert_int_eq(mst_publish(bus, "bin", "a\0b", 3, NULL), 0);
	ck_assert_int_eq(mst_subscribe(bus, "bin", 0, 0, &m, 1, &n, NULL), 0);
	ck_assert_uint_eq(m.id, 1);
	ck_assert_uint_eq(m.len, 3);
	ck_assert_mem_eq(m.data, "a\0b", 3);
	mst_msg_free(&m);
	/* bad arguments */
	ck_assert_int_eq(mst_publish(bus, "bad name", "x", 1, NULL), MST_ENAME);
	ck_assert_int_eq(mst_publish(bus, "t", NULL, 1, NULL), MST_EINVAL);
	ck_assert_int_eq(mst_subscribe(bus, "", 0, 0, &m, 1, &n, NULL), MST_ENAME);
	ck_assert_int_eq(mst_subscribe(bus, "t", 0, 0, &m, 0, &n, NULL), MST_EINVAL);
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_from_latest)
{
	mst_bus *bus = unit_bus();
	uint64_t next = 0;
	mst_msg m;
	size_t n;

	publish_seq(bus, "l", 1, 3);
	ck_assert_int_eq(mst_subscribe(bus, "l", MST_FROM_LATEST, 0, &m, 1, &n, &next), MST_EEMPTY);
	ck_assert_uint_eq(next, 4);
	publish_seq(bus, "l", 4, 4);
	ck_assert_uint_eq(read_all(bus, "l", next, 4, &next), 1);
	ck_assert_uint_eq(next, 5);
	/* latest of a topic that does not exist yet starts at its first entry */
	ck_assert_int_eq(mst_subscribe(bus, "new", MST_FROM_LATEST, 0, &m, 1, &n, &next),
			 MST_EEMPTY);
	ck_assert_uint_eq(next, 1);
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_retention_count)
{
	mst_bus *bus = unit_bus();
	mst_topic_opts o = {.max_count = 3};
	uint64_t next;

	ck_assert_int_eq(mst_topic_config(bus, "c", &o), 0);
	publish_seq(bus, "c", 1, 10);
	ck_assert_uint_eq(read_all(bus, "c", MST_FROM_EARLIEST, 8, &next), 3);
	ck_assert_uint_eq(next, 11);
	/* asking for a trimmed entry starts at the oldest kept */
	ck_assert_uint_eq(read_all(bus, "c", 2, 8, &next), 3);
	/* shrinking trims at once; a 0 keeps the current limit */
	publish_seq(bus, "d", 1, 6);
	o.max_count = 2;
	ck_assert_int_eq(mst_topic_config(bus, "d", &o), 0);
	ck_assert_uint_eq(read_all(bus, "d", 0, 5, &next), 2);
	o.max_count = 0;
	ck_assert_int_eq(mst_topic_config(bus, "d", &o), 0);
	publish_seq(bus, "d", 7, 9);
	ck_assert_uint_eq(read_all(bus, "d", 0, 8, &next), 2);
	/* bad arguments */
	o.max_age_ms = -1;
	ck_assert_int_eq(mst_topic_config(bus, "d", &o), MST_EINVAL);
	ck_assert_int_eq(mst_topic_config(bus, "d", NULL), MST_EINVAL);
	o.max_age_ms = 0;
	ck_assert_int_eq(mst_topic_config(bus, "a b", &o), MST_ENAME);
	mst_bus_close(bus);
}
END_TEST

/* Waits until the wall clock is past t_ms: entries stamped before t_ms are then older
 * than the age limit (this ages data; it does not wait for anything to settle). */
static void wall_past(int64_t t_ms)
{
	struct timespec ts, tick = {0, 5000000};

	for (;;) {
		clock_gettime(CLOCK_REALTIME, &ts);
		if ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 > t_ms)
			return;
		nanosleep(&tick, NULL);
	}
}

START_TEST(test_retention_age)
{
	mst_bus *bus = unit_bus();
	mst_topic_opts o = {.max_age_ms = 150};
	uint64_t next;
	mst_msg m;
	size_t n;

	ck_assert_int_eq(mst_topic_config(bus, "age", &o), 0);
	publish_seq(bus, "age", 1, 3);
	/* young entries stay */
	ck_assert_uint_eq(read_all(bus, "age", 0, 1, &next), 3);
	ck_assert_int_eq(mst_subscribe(bus, "age", 0, 0, &m, 1, &n, &next), 0);
	wall_past(m.sent_ms + 150 + 20);
	mst_msg_free(&m);
	publish_seq(bus, "age", 4, 4);
	ck_assert_uint_eq(read_all(bus, "age", 0, 4, &next), 1);
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_subscribe_wakes_child)
{
	mst_bus *bus = unit_bus();
	const char *dir = mst_bus_path(bus);
	int up[2], status, ok = -1;
	int64_t t0;
	pid_t pid;
	char c;

	publish_seq(bus, "w", 1, 3);
	ck_assert_int_eq(pipe(up), 0);
	pid = unit_fork();
	if (pid == 0) {
		mst_bus *b = unit_open(dir, 0);
		mst_msg m[4];
		size_t n = 0;
		uint64_t next = 0;
		int rc;

		close(up[0]);
		unit_write_full(up[1], "r", 1);
		/* from latest: only what is published from now on */
		rc = mst_subscribe(b, "w", MST_FROM_LATEST, 5000, m, 4, &n, &next);
		ok = rc == 0 && n == 1 && m[0].id == 4 && !strcmp(m[0].data, "e4") && next == 5;
		unit_write_full(up[1], &ok, sizeof ok);
		_exit(ok ? 0 : 1);
	}
	close(up[1]);
	ck_assert_int_eq(unit_read_full(up[0], &c, 1), 0);
	ck_assert_msg(unit_wait_asleep(pid, SYS_futex, 3000), "child never blocked");
	t0 = mst_now_ns();
	publish_seq(bus, "w", 4, 4);
	ck_assert_int_eq(unit_read_full(up[0], &ok, sizeof ok), 0);
	ck_assert_msg(unit_ms_since(t0) < 1000, "woken after %lld ms",
		      (long long)unit_ms_since(t0));
	ck_assert_msg(ok == 1, "child got the wrong entries");
	status = unit_reap(pid, 5000);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(up[0]);
	mst_bus_close(bus);
}
END_TEST

Suite *suite_topic(void)
{
	Suite *s = suite_create("topic");
	TCase *tc = tcase_create("topic");

	tcase_add_test(tc, test_publish_subscribe);
	tcase_add_test(tc, test_topic_delete);
	tcase_add_test(tc, test_from_latest);
	tcase_add_test(tc, test_retention_count);
	tcase_add_test(tc, test_retention_age);
	tcase_add_test(tc, test_subscribe_wakes_child);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}
