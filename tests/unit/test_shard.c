/*
 * test_shard.c - a bus of several stores (mst_bus_opts.shards): the layout and the
 * shared-out quota, queues spread over the stores with every message delivered once
 * (counted per id, also from processes writing side by side), a batch settle over
 * several stores, dead letters beside their queue and muster.dead read store by store,
 * mst_write across stores and its if_ok rules, and bad input.
 */
#define _GNU_SOURCE
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define STORE(id) ((unsigned)((id)&15))

static mst_bus *sharded(unsigned shards, char **dirp)
{
	mst_bus_opts opts = {.quota = 64u << 20, .shards = shards};
	mst_bus *bus = NULL;
	char *dir = unit_tmpdir();
	int rc = mst_bus_open(&bus, dir, &opts);

	ck_assert_msg(rc == 0, "mst_bus_open(%s, %u shards): %s", dir, shards, mst_strerror(rc));
	if (dirp)
		*dirp = dir;
	else
		free(dir);
	return bus;
}

/* The stores are directories of the bus; the count and the quota stay with the bus. */
START_TEST(test_shard_layout)
{
	char *dir, path[4096];
	mst_bus *bus = sharded(4, &dir), *again;
	mst_bus_opts plain = {.no_create = 1};
	struct stat st;
	mst_stats s;
	unsigned k;

	ck_assert_int_eq(mst_stats_get(bus, &s), 0);
	ck_assert_uint_eq(s.shards, 4);
	ck_assert_uint_eq(s.store_bytes, 64u << 20); /* 4 shares of 16 MiB */
	for (k = 1; k < 4; k++) {		     /* made with the bus */
		snprintf(path, sizeof path, "%s/shard.%u/store.mdb", dir, k);
		ck_assert_msg(stat(path, &st) == 0, "%s missing", path);
	}
	snprintf(path, sizeof path, "%s/shard.4", dir);
	ck_assert_int_ne(stat(path, &st), 0);
	/* opened again without asking for shards: still 4 */
	ck_assert_int_eq(mst_bus_open(&again, dir, &plain), 0);
	ck_assert_int_eq(mst_stats_get(again, &s), 0);
	ck_assert_uint_eq(s.shards, 4);
	mst_bus_close(again);
	mst_bus_close(bus);
	/* a store whose creation was cut short: reads find it empty and make nothing, a
	 * send to one of its queues makes it again */
	snprintf(path, sizeof path, "%s/shard.2", dir);
	unit_rmtree(path);
	ck_assert_int_eq(mst_bus_open(&again, dir, &plain), 0);
	ck_assert_int_eq(mst_stats_get(again, &s), 0);
	ck_assert_uint_eq(s.store_bytes, 64u << 20);
	ck_assert_uint_eq(s.queues, 0);
	ck_assert_int_eq(mst_ack(again, (1u << 4) | 2), MST_ENOTHELD);
	ck_assert_int_ne(stat(path, &st), 0);
	{
		char q[16];
		uint64_t id = 0;

		for (k = 0; k < 64 && STORE(id) != 2; k++) {
			snprintf(q, sizeof q, "re%u", k);
			ck_assert_int_eq(mst_send(again, q, "x", 1, NULL, &id), 0);
		}
		ck_assert_uint_eq(STORE(id), 2);
	}
	snprintf(path, sizeof path, "%s/shard.2/store.mdb", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	mst_bus_close(again);
	/* a bus created with one store says 1 */
	bus = unit_bus();
	ck_assert_int_eq(mst_stats_get(bus, &s), 0);
	ck_assert_uint_eq(s.shards, 1);
	mst_bus_close(bus);
	free(dir);
}
END_TEST

/* 64 queues of 20 messages: spread over the stores, every message received once and
 * acked in batches that span stores. */
START_TEST(test_shard_spread_once)
{
	enum { Q = 64, M = 20 };
	mst_bus *bus = sharded(4, NULL);
	static unsigned char seen[Q][M];
	uint64_t ids[Q * M], acks[M];
	unsigned stores = 0;
	char name[32], data[32];
	size_t i, j, n, total = 0;
	mst_msg msgs[M];
	mst_stats s;
	int results[M];

	for (i = 0; i < Q; i++)
		for (j = 0; j < M; j++) {
			snprintf(name, sizeof name, "q%zu", i);
			snprintf(data, sizeof data, "%zu.%zu", i, j);
			ck_assert_int_eq(
				mst_send(bus, name, data, strlen(data), NULL, &ids[i * M + j]), 0);
			stores |= 1u << STORE(ids[i * M + j]);
		}
	ck_assert_msg(stores == 0xf, "64 queues used stores %#x of 4", stores);
	for (i = 0; i < Q * M; i++)
		for (j = i + 1; j < Q * M; j++)
			ck_assert_msg(ids[i] != ids[j], "id %llu given twice",
				      (unsigned long long)ids[i]);
	/* receive one message of each of M queues, then settle them in one batch */
	for (i = 0; i < Q; i += 1) {
		for (;;) {
			size_t k, got = 0;

			for (k = 0; k < M && got < M; k++) {
				snprintf(name, sizeof name, "q%zu", (i + k) % Q);
				if (mst_recv(bus, name, NULL, &msgs[got], 1, &n) == 0) {
					unsigned a, b;

					ck_assert_int_eq(sscanf(msgs[got].data, "%u.%u", &a, &b),
							 2);
					ck_assert_msg(!seen[a][b]++, "%u.%u delivered twice", a, b);
					acks[got] = msgs[got].id;
					mst_msg_free(&msgs[got]);
					got++;
				}
			}
			if (!got)
				break;
			ck_assert_int_eq(
				mst_settle_batch(bus, MST_SETTLE_ACK, acks, got, 0, results), 0);
			for (k = 0; k < got; k++)
				ck_assert_int_eq(results[k], 0);
			total += got;
		}
	}
	ck_assert_uint_eq(total, Q * M);
	for (i = 0; i < Q; i++)
		for (j = 0; j < M; j++)
			ck_assert_msg(seen[i][j] == 1, "%zu.%zu delivered %u times", i, j,
				      seen[i][j]);
	ck_assert_int_eq(mst_stats_get(bus, &s), 0);
	ck_assert_uint_eq(s.queues, Q);
	ck_assert_uint_eq(s.acked, Q * M);
	ck_assert_uint_eq(s.ready + s.leased + s.delayed, 0);
	/* an id that no store of this bus gave */
	ck_assert_int_eq(mst_ack(bus, (ids[0] & ~(uint64_t)15) | 9), MST_ENOTHELD);
	ck_assert_int_eq(mst_ack(bus, ids[0]), MST_ENOTHELD); /* acked already */
	mst_bus_close(bus);
}
END_TEST

/* Writers in 4 processes, 4 queues each, side by side; every message once. */
START_TEST(test_shard_writers_side_by_side)
{
	enum { P = 4, QP = 4, M = 250 };
	char *dir, name[32], data[32];
	mst_bus *bus = sharded(4, &dir);
	static unsigned char seen[P][QP][M];
	pid_t pids[P];
	mst_msg m;
	size_t n, total = 0;
	int i, q, j, st;

	for (i = 0; i < P; i++) {
		pids[i] = unit_fork();
		if (pids[i] == 0) {
			mst_bus *b = unit_open(dir, 0);

			for (j = 0; j < M; j++)
				for (q = 0; q < QP; q++) {
					snprintf(name, sizeof name, "w%d.%d", i, q);
					snprintf(data, sizeof data, "%d %d %d", i, q, j);
					if (mst_send(b, name, data, strlen(data), NULL, NULL))
						_exit(1);
				}
			mst_bus_close(b);
			_exit(0);
		}
	}
	for (i = 0; i < P; i++) {
		st = unit_reap(pids[i], 60000);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer %d: status %d", i, st);
	}
	for (i = 0; i < P; i++)
		for (q = 0; q < QP; q++) {
			snprintf(name, sizeof name, "w%d.%d", i, q);
			while (mst_recv(bus, name, NULL, &m, 1, &n) == 0) {
				int a, b, c;

				ck_assert_int_eq(sscanf(m.data, "%d %d %d", &a, &b, &c), 3);
				ck_assert_msg(!seen[a][b][c]++, "%d %d %d twice", a, b, c);
				ck_assert_int_eq(mst_ack(bus, m.id), 0);
				mst_msg_free(&m);
				total++;
			}
		}
	ck_assert_uint_eq(total, P * QP * M);
	mst_bus_close(bus);
	free(dir);
}
END_TEST

/* A queue's dead letters stay beside it; a dead-letter queue in another store is
 * refused; muster.dead (long names) is read from every store. */
START_TEST(test_shard_dead_letters)
{
	mst_bus *bus = sharded(4, NULL);
	char name[160], dl[32];
	unsigned stores = 0;
	mst_queue_info qi;
	mst_msg m, dead[16];
	uint64_t id;
	size_t n, i;
	int ok = 0, refused = 0;

	ck_assert_int_eq(mst_queue_config(bus, "jobs", 1, 0, NULL), 0);
	ck_assert_int_eq(mst_send(bus, "jobs", "j", 1, NULL, &id), 0);
	ck_assert_int_eq(mst_recv(bus, "jobs", NULL, &m, 1, &n), 0);
	ck_assert_int_eq(mst_nack(bus, m.id, 0), 0);
	mst_msg_free(&m);
	ck_assert_int_eq(mst_recv(bus, "jobs.dead", NULL, &m, 1, &n), 0);
	ck_assert_str_eq(m.data, "j");
	ck_assert_uint_eq(STORE(m.id), STORE(id));
	ck_assert_int_eq(mst_ack(bus, m.id), 0);
	mst_msg_free(&m);
	for (i = 0; i < 32; i++) {
		int rc;

		snprintf(dl, sizeof dl, "other%zu", i);
		rc = mst_queue_config(bus, "jobs", 0, 0, dl);
		ck_assert_msg(rc == 0 || rc == MST_EINVAL, "%s", mst_strerror(rc));
		ok += rc == 0;
		refused += rc == MST_EINVAL;
	}
	ck_assert_int_gt(ok, 0);
	ck_assert_int_gt(refused, 0);
	/* 12 queues with names too long for NAME.dead, spread over the stores */
	for (i = 0; i < 12; i++) {
		memset(name, 'x', 125);
		snprintf(name + 125, sizeof name - 125, "%zu", i);
		ck_assert_int_eq(mst_queue_config(bus, name, 1, 0, NULL), 0);
		ck_assert_int_eq(mst_send(bus, name, name + 125, strlen(name + 125), NULL, &id), 0);
		stores |= 1u << STORE(id);
		ck_assert_int_eq(mst_recv(bus, name, NULL, &m, 1, &n), 0);
		ck_assert_int_eq(mst_nack(bus, m.id, 0), 0);
		mst_msg_free(&m);
	}
	ck_assert_msg(__builtin_popcount(stores) >= 2, "long names in stores %#x", stores);
	ck_assert_int_eq(mst_queue_stat(bus, "muster.dead", &qi), 0);
	ck_assert_uint_eq(qi.ready, 12);
	ck_assert_int_eq(mst_peek(bus, "muster.dead", dead, 16, &n), 0);
	ck_assert_uint_eq(n, 12);
	for (i = 0; i < n; i++)
		mst_msg_free(&dead[i]);
	for (i = 0; i < 12; i++) {
		ck_assert_int_eq(mst_recv(bus, "muster.dead", NULL, &m, 1, &n), 0);
		ck_assert_int_eq(mst_ack(bus, m.id), 0);
		mst_msg_free(&m);
	}
	ck_assert_int_eq(mst_recv(bus, "muster.dead", NULL, &m, 1, &n), MST_EEMPTY);
	mst_bus_close(bus);
}
END_TEST

/* Finds a queue whose messages are not in store 0 and leases one of its messages. */
static uint64_t lease_away(mst_bus *bus, const char *prefix, char *qname, size_t qsz)
{
	mst_msg m;
	uint64_t id = 0;
	size_t n;
	int i;

	for (i = 0; i < 64; i++) {
		snprintf(qname, qsz, "%s%d", prefix, i);
		ck_assert_int_eq(mst_send(bus, qname, "t", 1, NULL, &id), 0);
		if (STORE(id))
			break;
	}
	ck_assert_uint_ne(STORE(id), 0);
	ck_assert_int_eq(mst_recv(bus, qname, NULL, &m, 1, &n), 0);
	ck_assert_uint_eq(m.id, id);
	mst_msg_free(&m);
	return id;
}

/* mst_write with keys (store 0) and acks in another store. */
START_TEST(test_shard_write_across)
{
	mst_bus *bus = sharded(4, NULL);
	char q[32];
	uint64_t id = lease_away(bus, "a", q, sizeof q), id2;
	mst_op ops[3];
	mst_kv kv;
	mst_queue_info qi;

	memset(ops, 0, sizeof ops);
	ops[0].kind = MST_OP_KV_CAS;
	ops[0].name = "res.1";
	ops[0].data = "done";
	ops[0].len = 4;
	ops[1].kind = MST_OP_PUBLISH;
	ops[1].name = "results";
	ops[1].data = "done";
	ops[1].len = 4;
	ops[1].if_ok = 1;
	ops[2].kind = MST_OP_ACK;
	ops[2].id = id;
	ck_assert_int_eq(mst_write(bus, ops, 3), 0);
	ck_assert_int_eq(ops[0].rc, 0);
	ck_assert_uint_eq(ops[1].out, 1);
	ck_assert_int_eq(ops[2].rc, 0);
	ck_assert_int_eq(mst_queue_stat(bus, q, &qi), 0);
	ck_assert_uint_eq(qi.acked, 1);
	/* the same result again, with another task: the cas is left out, the publish
	 * skipped, the ack made */
	id2 = lease_away(bus, "b", q, sizeof q);
	ops[0].rc = ops[1].rc = ops[2].rc = 0;
	ops[2].id = id2;
	ck_assert_int_eq(mst_write(bus, ops, 3), MST_ECONFLICT);
	ck_assert_int_eq(ops[0].rc, MST_ECONFLICT);
	ck_assert_int_eq(ops[1].rc, MST_ESKIPPED);
	ck_assert_int_eq(ops[2].rc, 0);
	ck_assert_int_eq(mst_ack(bus, id2), MST_ENOTHELD);
	/* an ack first, then a key on its condition: the ack's store is written first */
	id = lease_away(bus, "c", q, sizeof q);
	memset(ops, 0, sizeof ops);
	ops[0].kind = MST_OP_ACK;
	ops[0].id = id;
	ops[1].kind = MST_OP_KV_SET;
	ops[1].name = "after";
	ops[1].data = "1";
	ops[1].len = 1;
	ops[1].if_ok = 1;
	ck_assert_int_eq(mst_write(bus, ops, 2), 0);
	ck_assert_int_eq(mst_kv_get(bus, "after", &kv), 0);
	mst_kv_free(&kv);
	/* a key whose condition is an ack of a store written after the key's: refused,
	 * nothing written */
	id = lease_away(bus, "d", q, sizeof q);
	memset(ops, 0, sizeof ops);
	ops[0].kind = MST_OP_KV_SET;
	ops[0].name = "first";
	ops[0].data = "1";
	ops[0].len = 1;
	ops[1].kind = MST_OP_ACK;
	ops[1].id = id;
	ops[2].kind = MST_OP_KV_SET;
	ops[2].name = "second";
	ops[2].data = "1";
	ops[2].len = 1;
	ops[2].if_ok = 2;
	ck_assert_int_eq(mst_write(bus, ops, 3), MST_EINVAL);
	ck_assert_int_eq(mst_kv_get(bus, "first", &kv), MST_ENOTFOUND);
	ck_assert_int_eq(mst_ack(bus, id), 0); /* still held: the ack was not made */
	mst_bus_close(bus);
}
END_TEST

/* Queues and keys in one bus: lists merged and sorted, deletes routed. */
START_TEST(test_shard_list_delete)
{
	mst_bus *bus = sharded(3, NULL);
	mst_queue_info *qs;
	char name[32];
	size_t n, i;

	for (i = 0; i < 30; i++) {
		snprintf(name, sizeof name, "list%02zu", i);
		ck_assert_int_eq(mst_send(bus, name, "x", 1, NULL, NULL), 0);
	}
	ck_assert_int_eq(mst_queue_list(bus, &qs, &n), 0);
	ck_assert_uint_eq(n, 30);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof name, "list%02zu", i);
		ck_assert_str_eq(qs[i].name, name);
		ck_assert_uint_eq(qs[i].ready, 1);
	}
	mst_free(qs);
	for (i = 0; i < 30; i += 2) {
		snprintf(name, sizeof name, "list%02zu", i);
		ck_assert_int_eq(mst_queue_delete(bus, name), 0);
		ck_assert_int_eq(mst_queue_delete(bus, name), MST_ENOTFOUND);
	}
	ck_assert_int_eq(mst_queue_list(bus, &qs, &n), 0);
	ck_assert_uint_eq(n, 15);
	mst_free(qs);
	ck_assert_int_eq(mst_kv_set(bus, "k.1", "v", 1, NULL), 0);
	ck_assert_int_eq(mst_publish(bus, "t", "e", 1, NULL), 0);
	ck_assert_int_eq(mst_kv_purge(bus, "k.", &n), 0);
	ck_assert_uint_eq(n, 1);
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_shard_bad_input)
{
	mst_bus_opts opts = {.shards = MST_SHARDS_MAX + 1};
	mst_bus *bus = NULL;
	char *dir = unit_tmpdir();

	ck_assert_int_eq(mst_bus_open(&bus, dir, &opts), MST_EINVAL);
	ck_assert_ptr_null(bus);
	opts.shards = MST_SHARDS_MAX;
	ck_assert_int_eq(mst_bus_open(&bus, dir, &opts), 0);
	mst_bus_close(bus);
	free(dir);
}
END_TEST

Suite *suite_shard(void)
{
	Suite *s = suite_create("shard");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_shard_layout);
	tcase_add_test(tc, test_shard_spread_once);
	tcase_add_test(tc, test_shard_writers_side_by_side);
	tcase_add_test(tc, test_shard_dead_letters);
	tcase_add_test(tc, test_shard_write_across);
	tcase_add_test(tc, test_shard_list_delete);
	tcase_add_test(tc, test_shard_bad_input);
	suite_add_tcase(s, tc);
	return s;
}
