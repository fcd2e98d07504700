/*
 * test_write.c - mst_write: key-value changes, topic entries and acks in one commit;
 * ops left out by their conditions, bad input that commits nothing, a full store that
 * commits nothing, watchers woken, and all-or-nothing under kill -9.
 */
#define _GNU_SOURCE
#include "unit.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static mst_op op(enum mst_op_kind kind, const char *name, const char *data)
{
	mst_op o = {.kind = kind, .name = name, .data = data, .len = data ? strlen(data) : 0};

	return o;
}

static int has_key(mst_bus *bus, const char *key, const char *want)
{
	mst_kv kv;
	int rc = mst_kv_get(bus, key, &kv), same;

	if (rc == MST_ENOTFOUND)
		return 0;
	ck_assert_int_eq(rc, 0);
	same = !want || (kv.len == strlen(want) && !memcmp(kv.value, want, kv.len));
	mst_kv_free(&kv);
	return same ? 1 : -1;
}

/* Every kind of op in one write: all applied, their outputs given, one commit. */
START_TEST(test_write_all_kinds)
{
	mst_bus *bus = unit_bus();
	mst_op ops[6];
	mst_msg m, e[4];
	mst_queue_info qi;
	uint64_t id, next;
	size_t n;

	ck_assert_int_eq(mst_kv_set(bus, "old", "x", 1, NULL), 0);
	ck_assert_int_eq(mst_send(bus, "jobs", "job", 3, NULL, &id), 0);
	ck_assert_int_eq(mst_recv(bus, "jobs", NULL, &m, 1, &n), 0);
	ck_assert_uint_eq(n, 1);
	ops[0] = op(MST_OP_KV_SET, "a", "1");
	ops[1] = op(MST_OP_KV_CAS, "res.1", "done");
	ops[2] = op(MST_OP_PUBLISH, "results", "done");
	ops[2].if_ok = 2;
	ops[3] = op(MST_OP_KV_DEL, "old", NULL);
	ops[4] = op(MST_OP_ACK, NULL, NULL);
	ops[4].id = m.id;
	ops[5] = op(MST_OP_PUBLISH, "results", "more");
	ck_assert_int_eq(mst_write(bus, ops, 6), 0);
	for (n = 0; n < 6; n++)
		ck_assert_int_eq(ops[n].rc, 0);
	/* revisions increase in op order; topic entries are numbered from 1 */
	ck_assert_uint_gt(ops[1].out, ops[0].out);
	ck_assert_uint_gt(ops[3].out, ops[1].out);
	ck_assert_uint_eq(ops[2].out, 1);
	ck_assert_uint_eq(ops[5].out, 2);
	ck_assert_int_eq(has_key(bus, "a", "1"), 1);
	ck_assert_int_eq(has_key(bus, "res.1", "done"), 1);
	ck_assert_int_eq(has_key(bus, "old", NULL), 0);
	ck_assert_int_eq(mst_subscribe(bus, "results", MST_FROM_EARLIEST, 0, e, 4, &n, &next), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(memcmp(e[0].data, "done", 4), 0);
	ck_assert_int_eq(memcmp(e[1].data, "more", 4), 0);
	mst_msg_free(&e[0]);
	mst_msg_free(&e[1]);
	ck_assert_int_eq(mst_queue_stat(bus, "jobs", &qi), 0);
	ck_assert_uint_eq(qi.leased, 0);
	ck_assert_uint_eq(qi.acked, 1);
	ck_assert_uint_eq(qi.ready, 0);
	ck_assert_int_eq(mst_ack(bus, m.id), MST_ENOTHELD); /* acked once */
	mst_msg_free(&m);
	ck_assert_int_eq(mst_write(bus, NULL, 0), 0);
	mst_bus_close(bus);
}
END_TEST

/* Ops whose condition fails are left out, with their dependents; the rest commit, and
 * the write returns the first reason. */
START_TEST(test_write_left_out)
{
	mst_bus *bus = unit_bus();
	mst_op ops[7];
	mst_msg e[4];
	uint64_t next;
	size_t n;

	ck_assert_int_eq(mst_kv_set(bus, "res.1", "first", 5, NULL), 0);
	ops[0] = op(MST_OP_KV_CAS, "res.1", "second"); /* exists: conflict */
	ops[1] = op(MST_OP_PUBLISH, "results", "second");
	ops[1].if_ok = 1;
	ops[2] = op(MST_OP_KV_CAS, "res.2", "only");
	ops[3] = op(MST_OP_PUBLISH, "results", "only");
	ops[3].if_ok = 3;
	ops[4] = op(MST_OP_KV_DEL, "missing", NULL);
	ops[5] = op(MST_OP_ACK, NULL, NULL);
	ops[5].id = 12345; /* never sent */
	ops[6] = op(MST_OP_KV_SET, "after", "yes");
	ops[6].if_ok = 2; /* depends on a skipped op: skipped too */
	ck_assert_int_eq(mst_write(bus, ops, 7), MST_ECONFLICT);
	ck_assert_int_eq(ops[0].rc, MST_ECONFLICT);
	ck_assert_int_eq(ops[1].rc, MST_ESKIPPED);
	ck_assert_int_eq(ops[2].rc, 0);
	ck_assert_int_eq(ops[3].rc, 0);
	ck_assert_int_eq(ops[4].rc, MST_ENOTFOUND);
	ck_assert_int_eq(ops[5].rc, MST_ENOTHELD);
	ck_assert_int_eq(ops[6].rc, MST_ESKIPPED);
	ck_assert_uint_eq(ops[0].out, 0);
	ck_assert_int_eq(has_key(bus, "res.1", "first"), 1);
	ck_assert_int_eq(has_key(bus, "res.2", "only"), 1);
	ck_assert_int_eq(has_key(bus, "after", NULL), 0);
	ck_assert_int_eq(mst_subscribe(bus, "results", MST_FROM_EARLIEST, 0, e, 4, &n, &next), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(memcmp(e[0].data, "only", 4), 0);
	mst_msg_free(&e[0]);
	/* the cas that expects the current revision succeeds */
	{
		mst_kv kv;

		ck_assert_int_eq(mst_kv_get(bus, "res.1", &kv), 0);
		ops[0] = op(MST_OP_KV_CAS, "res.1", "second");
		ops[0].expected = kv.rev;
		mst_kv_free(&kv);
		ck_assert_int_eq(mst_write(bus, ops, 1), 0);
		ck_assert_int_eq(has_key(bus, "res.1", "second"), 1);
	}
	mst_bus_close(bus);
}
END_TEST

/* Bad input is refused before anything is written: every op's rc holds the error. */
START_TEST(test_write_bad_input)
{
	mst_bus *bus = unit_bus();
	char *big = malloc(MST_PAYLOAD_MAX_DEFAULT + 1);
	mst_op ops[2];
	int k;
	struct {
		mst_op bad;
		int rc;
	} cases[] = {
		{{.kind = 0, .name = "k"}, MST_EINVAL},
		{{.kind = MST_OP_ACK + 1, .name = "k"}, MST_EINVAL},
		{{.kind = MST_OP_KV_SET, .name = "bad name"}, MST_ENAME},
		{{.kind = MST_OP_PUBLISH, .name = NULL}, MST_ENAME},
		{{.kind = MST_OP_KV_SET, .name = "k", .data = NULL, .len = 3}, MST_EINVAL},
		{{.kind = MST_OP_KV_SET, .name = "k", .if_ok = 2}, MST_EINVAL}, /* itself */
		{{.kind = MST_OP_KV_SET, .name = "k", .if_ok = 3}, MST_EINVAL}, /* later */
		{{.kind = MST_OP_PUBLISH,
		  .name = "t",
		  .data = big,
		  .len = MST_PAYLOAD_MAX_DEFAULT + 1},
		 MST_ETOOBIG},
	};

	ck_assert_ptr_nonnull(big);
	memset(big, 'x', MST_PAYLOAD_MAX_DEFAULT + 1);
	for (k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
		ops[0] = op(MST_OP_KV_SET, "first", "1");
		ops[1] = cases[k].bad;
		ck_assert_msg(mst_write(bus, ops, 2) == cases[k].rc, "case %d", k);
		ck_assert_int_eq(ops[0].rc, cases[k].rc);
		ck_assert_int_eq(ops[1].rc, cases[k].rc);
		ck_assert_int_eq(has_key(bus, "first", NULL), 0);
	}
	ck_assert_int_eq(mst_write(NULL, ops, 1), MST_EINVAL);
	ck_assert_int_eq(mst_write(bus, NULL, 1), MST_EINVAL);
	free(big);
	mst_bus_close(bus);
}
END_TEST

/* A write that does not fit in the store commits nothing; a smaller one still fits. */
START_TEST(test_write_full)
{
	char *dir = unit_tmpdir();
	mst_bus_opts o = {.quota = 2 << 20};
	size_t big = 512 << 10;
	char *v = malloc(big), key[32];
	mst_bus *bus;
	mst_op ops[8];
	int i, rc = 0, k;

	ck_assert_ptr_nonnull(v);
	memset(v, 'v', big);
	ck_assert_int_eq(mst_bus_open(&bus, dir, &o), 0);
	for (k = 0; k < 16 && rc == 0; k++) {
		for (i = 0; i < 8; i++) {
			snprintf(key, sizeof key, "k%d.%d", k, i);
			ops[i] = op(MST_OP_KV_SET, strdup(key), NULL);
			ops[i].data = v;
			ops[i].len = big;
		}
		rc = mst_write(bus, ops, 8);
		for (i = 0; i < 8; i++) {
			ck_assert_int_eq(ops[i].rc, rc);
			ck_assert_int_eq(has_key(bus, ops[i].name, NULL), rc == 0);
			free((char *)ops[i].name);
		}
	}
	ck_assert_int_eq(rc, MST_EFULL);
	ops[0] = op(MST_OP_KV_SET, "small", "s");
	ck_assert_int_eq(mst_write(bus, ops, 1), 0);
	free(v);
	free(dir);
	mst_bus_close(bus);
}
END_TEST

/* A watcher of a key and a subscriber of a topic in another process are woken by the
 * write. */
START_TEST(test_write_wakes)
{
	mst_bus *bus = unit_bus();
	const char *dir = mst_bus_path(bus);
	int up[2], status, got;
	mst_op ops[2];
	int64_t t0;
	pid_t pid;
	char c;

	ck_assert_int_eq(pipe(up), 0);
	pid = unit_fork();
	if (pid == 0) {
		mst_bus *b = unit_open(dir, 0);
		mst_msg m;
		mst_kv kv;
		uint64_t next;
		size_t n;
		int ok;

		close(up[0]);
		unit_write_full(up[1], "r", 1);
		ok = mst_kv_watch(b, "cfg", 0, 5000, &kv) == 0 && kv.len == 3;
		mst_kv_free(&kv);
		ok = ok &&
		     mst_subscribe(b, "log", MST_FROM_EARLIEST, 5000, &m, 1, &n, &next) == 0 &&
		     n == 1 && m.len == 5;
		if (ok)
			mst_msg_free(&m);
		unit_write_full(up[1], &ok, sizeof ok);
		_exit(ok ? 0 : 1);
	}
	close(up[1]);
	ck_assert_int_eq(unit_read_full(up[0], &c, 1), 0);
	ck_assert_msg(unit_wait_asleep(pid, SYS_futex, 3000), "child never blocked");
	t0 = mst_now_ns();
	ops[0] = op(MST_OP_KV_SET, "cfg", "new");
	ops[1] = op(MST_OP_PUBLISH, "log", "entry");
	ck_assert_int_eq(mst_write(bus, ops, 2), 0);
	ck_assert_int_eq(unit_read_full(up[0], &got, sizeof got), 0);
	ck_assert_msg(unit_ms_since(t0) < 1000, "woken after %lld ms",
		      (long long)unit_ms_since(t0));
	ck_assert(got);
	status = unit_reap(pid, 5000);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(up[0]);
	mst_bus_close(bus);
}
END_TEST

/* A writer killed -9 at any moment leaves each write whole or absent: the two keys and
 * the topic entry of round i are there together or not at all. */
START_TEST(test_write_all_or_nothing_under_kill)
{
	mst_bus *bus = unit_bus();
	const char *dir = mst_bus_path(bus);
	int round, i, whole = 0, status;
	pid_t pid;

	for (round = 0; round < 3; round++) {
		char topic[16];
		mst_msg *e = calloc(4096, sizeof *e);
		uint64_t next;
		size_t n = 0, j;
		char *seen;

		snprintf(topic, sizeof topic, "log%d", round);
		pid = unit_fork();
		if (pid == 0) {
			mst_bus *b = unit_open(dir, 0);
			char ka[32], kb[32], val[16];
			mst_op ops[3];

			for (i = 0; i < 100000; i++) {
				snprintf(ka, sizeof ka, "a%d.%d", round, i);
				snprintf(kb, sizeof kb, "b%d.%d", round, i);
				snprintf(val, sizeof val, "%d", i);
				ops[0] = op(MST_OP_KV_SET, ka, val);
				ops[1] = op(MST_OP_PUBLISH, topic, val);
				ops[2] = op(MST_OP_KV_CAS, kb, val);
				if (mst_write(b, ops, 3) != 0)
					_exit(1);
			}
			_exit(0);
		}
		usleep(20000 + 15000 * round);
		kill(pid, SIGKILL);
		status = unit_reap(pid, 5000);
		ck_assert(WIFSIGNALED(status));
		seen = calloc(100000, 1);
		for (next = MST_FROM_EARLIEST;;) {
			int rc = mst_subscribe(bus, topic, next, 0, e, 4096, &n, &next);

			if (rc == MST_EEMPTY)
				break;
			ck_assert_int_eq(rc, 0);
			for (j = 0; j < n; j++) {
				seen[atoi(e[j].data)] = 1;
				mst_msg_free(&e[j]);
			}
		}
		for (i = 0; i < 100000; i++) {
			char ka[32], kb[32];
			int a, b;

			snprintf(ka, sizeof ka, "a%d.%d", round, i);
			snprintf(kb, sizeof kb, "b%d.%d", round, i);
			a = has_key(bus, ka, NULL);
			b = has_key(bus, kb, NULL);
			ck_assert_msg(a == b && a == seen[i],
				      "round %d write %d: a %d b %d entry %d", round, i, a, b,
				      seen[i]);
			if (!a) /* the writes came one after another: none later either */
				break;
			whole += a;
		}
		free(seen);
		free(e);
	}
	ck_assert_int_gt(whole, 0);
	mst_bus_close(bus);
}
END_TEST

Suite *suite_write(void)
{
	Suite *s = suite_create("write");
	TCase *tc = tcase_create("write");

	tcase_add_test(tc, test_write_all_kinds);
	tcase_add_test(tc, test_write_left_out);
	tcase_add_test(tc, test_write_bad_input);
	tcase_add_test(tc, test_write_full);
	tcase_add_test(tc, test_write_wakes);
	tcase_add_test(tc, test_write_all_or_nothing_under_kill);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}
