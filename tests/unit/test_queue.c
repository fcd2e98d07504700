/*
 * test_queue.c - queues: send/recv/ack, batches, priorities, payloads, leases and their
 * end (expiry, nack, owner death), dead letters, idempotency keys, delays, counts,
 * wake-ups across processes, a full bus and deleting a queue.
 */
#define _GNU_SOURCE
#include "unit.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t send_str(mst_bus *bus, const char *queue, const char *s, int prio)
{
	mst_send_opts o = {.priority = prio};
	uint64_t id = 0;
	int rc = mst_send(bus, queue, s, strlen(s), &o, &id);

	ck_assert_msg(rc == 0, "send %s: %s", queue, mst_strerror(rc));
	ck_assert_uint_ne(id, 0);
	return id;
}

/* Receives exactly one message (fails the test otherwise). */
static mst_msg recv_one(mst_bus *bus, const char *queue, int64_t wait_ms, int64_t lease_ms)
{
	mst_recv_opts o = {.wait_ms = wait_ms, .lease_ms = lease_ms};
	mst_msg m;
	size_t n = 99;
	int rc = mst_recv(bus, queue, &o, &m, 1, &n);

	ck_assert_msg(rc == 0, "recv %s: %s", queue, mst_strerror(rc));
	ck_assert_uint_eq(n, 1);
	return m;
}

static int recv_rc(mst_bus *bus, const char *queue, int64_t wait_ms)
{
	mst_recv_opts o = {.wait_ms = wait_ms};
	mst_msg m;
	size_t n = 99;
	int rc = mst_recv(bus, queue, &o, &m, 1, &n);

	if (rc == 0)
		mst_msg_free(&m);
	else
		ck_assert_uint_eq(n, 0);
	return rc;
}

static void assert_counts(mst_bus *bus, const char *queue, uint64_t ready, uint64_t leased,
			  uint64_t delayed)
{
	mst_queue_info qi;

	ck_assert_int_eq(mst_queue_stat(bus, queue, &qi), 0);
	ck_assert_str_eq(qi.name, queue);
	ck_assert_msg(qi.ready == ready && qi.leased == leased && qi.delayed == delayed,
		      "%s: ready %llu leased %llu delayed %llu, expected %llu %llu %llu", queue,
		      (unsigned long long)qi.ready, (unsigned long long)qi.leased,
		      (unsigned long long)qi.delayed, (unsigned long long)ready,
		      (unsigned long long)leased, (unsigned long long)delayed);
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- basics ---------------------------------------------------------------------- */

START_TEST(test_send_recv_ack)
{
	mst_bus *bus = unit_bus();
	mst_queue_info qi;
	int64_t before = wall_ms();
	uint64_t id = send_str(bus, "jobs", "hello", 0);
	mst_msg m;

	assert_counts(bus, "jobs", 1, 0, 0);
	m = recv_one(bus, "jobs", 0, 0);
	ck_assert_uint_eq(m.id, id);
	ck_assert_uint_eq(m.len, 5);
	ck_assert_str_eq(m.data, "hello");
	ck_assert_str_eq(m.queue, "jobs");
	ck_assert_uint_eq(m.attempt, 1);
	ck_assert_int_eq(m.priority, 0);
	ck_assert_int_ge(m.sent_ms, before);
	ck_assert_int_le(m.sent_ms, wall_ms());
	/* the default lease is 30 s */
	ck_assert_int_ge(m.lease_until_ms, before + 29000);
	ck_assert_int_le(m.lease_until_ms, wall_ms() + 30000);
	assert_counts(bus, "jobs", 0, 1, 0);
	ck_assert_int_eq(recv_rc(bus, "jobs", 0), MST_EEMPTY);
	ck_assert_int_eq(mst_ack(bus, id), 0);
	ck_assert_int_eq(mst_queue_stat(bus, "jobs", &qi), 0);
	ck_assert_uint_eq(qi.ready + qi.leased + qi.delayed + qi.dead, 0);
	ck_assert_uint_eq(qi.sent, 1);
	ck_assert_uint_eq(qi.acked, 1);
	ck_assert_uint_eq(qi.redelivered, 0);
	ck_assert_int_eq(recv_rc(bus, "jobs", 0), MST_EEMPTY);
	mst_msg_free(&m);
	mst_msg_free(&m); /* repeated frees are safe */
	mst_msg_free(NULL);
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_settle_batch)
{
	mst_bus *bus = unit_bus();
	uint64_t ids[5], bogus[3];
	int res[5], i;
	mst_msg m;

	for (i = 0; i < 4; i++) {
		ids[i] = send_str(bus, i < 2 ? "a" : "b", "x", 0);
		m = recv_one(bus, i < 2 ? "a" : "b", 0, 0);
		ck_assert_uint_eq(m.id, ids[i]);
		mst_msg_free(&m);
	}
	ids[4] = ids[3] + 1000; /* never sent */
	/* one unknown id: the others are acked all the same, in one commit */
	ck_assert_int_eq(mst_settle_batch(bus, MST_SETTLE_ACK, ids, 5, 0, res), MST_ENOTHELD);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(res[i], 0);
	ck_assert_int_eq(res[4], MST_ENOTHELD);
	assert_counts(bus, "a", 0, 0, 0);
	assert_counts(bus, "b", 0, 0, 0);
	/* acked ones are no longer held */
	ck_assert_int_eq(mst_settle_batch(bus, MST_SETTLE_ACK, ids, 2, 0, res), MST_ENOTHELD);
	ck_assert_int_eq(res[0], MST_ENOTHELD);
	ck_assert_int_eq(res[1], MST_ENOTHELD);
	/* a batch nack returns every message with attempt 2 */
	for (i = 0; i < 3; i++) {
		bogus[i] = send_str(bus, "c", "y", 0);
		m = recv_one(bus, "c", 0, 0);
		mst_msg_free(&m);
	}
	ck_assert_int_eq(mst_settle_batch(bus, MST_SETTLE_NACK, bogus, 3, 0, NULL), 0);
	assert_counts(bus, "c", 3, 0, 0);
	m = recv_one(bus, "c", 0, 0);
	ck_assert_uint_eq(m.attempt, 2);
	mst_msg_free(&m);
	ck_assert_int_eq(mst_settle_batch(bus, 99, bogus, 3, 0, NULL), MST_EINVAL);
	ck_assert_int_eq(mst_settle_batch(bus, MST_SETTLE_ACK, NULL, 0, 0, NULL), 0);
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_batch)
{
	enum { N = 100 };
	mst_bus *bus = unit_bus();
	mst_buf bufs[N];
	char text[N][16];
	uint64_t ids[N], more[2];
	mst_msg msgs[64];
	mst_recv_opts ro = {0};
	mst_send_opts key = {.key = "k"};
	size_t i, j, n, got = 0;

	for (i = 0; i < N; i++) {
		snprintf(text[i], sizeof text[i], "m%03zu", i);
		bufs[i].data = text[i];
		bufs[i].len = strlen(text[i]);
	}
	ck_assert_int_eq(mst_send_batch(bus, "b", bufs, N, NULL, ids), 0);
	for (i = 1; i < N; i++)
		ck_assert_uint_gt(ids[i], ids[i - 1]);
	ck_assert_int_eq(mst_send_batch(bus, "b", bufs, 2, NULL, more), 0);
	ck_assert_uint_gt(more[0], ids[N - 1]);
	assert_counts(bus, "b", N + 2, 0, 0);
	/* FIFO across batches and recv calls: 64, then the remaining 38 */
	while (got < N + 2) {
		ck_assert_int_eq(mst_recv(bus, "b", &ro, msgs, 64, &n), 0);
		ck_assert_uint_eq(n, got == 0 ? 64 : N + 2 - 64);
		for (j = 0; j < n; j++, got++) {
			if (got < N) {
				ck_assert_uint_eq(msgs[j].id, ids[got]);
				ck_assert_str_eq(msgs[j].data, text[got]);
			} else {
				ck_assert_uint_eq(msgs[j].id, more[got - N]);
				ck_assert_str_eq(msgs[j].data, text[got - N]);
			}
			ck_assert_uint_eq(msgs[j].attempt, 1);
			ck_assert_int_eq(mst_ack(bus, msgs[j].id), 0);
			mst_msg_free(&msgs[j]);
		}
	}
	ck_assert_int_eq(recv_rc(bus, "b", 0), MST_EEMPTY);
	/* an empty batch, a key (not allowed), a missing array */
	ck_assert_int_eq(mst_send_batch(bus, "b", bufs, 0, NULL, ids), 0);
	ck_assert_int_eq(mst_send_batch(bus, "b", bufs, 2, &key, ids), MST_EINVAL);
	ck_assert_int_eq(mst_send_batch(bus, "b", NULL, 2, NULL, ids), MST_EINVAL);
	assert_counts(bus, "b", 0, 0, 0);
	mst_bus_close(bus);
}
END_TEST

/* Large batches span many pages of every index: recv takes its messages from the
 * ready index last to first and settle_batch acks from the last id to the first;
 * every message must come out once, in priority then id order, and each settlement
 * must land on its own id whatever the order of the ids given. */
START_TEST(test_batch_large)
{
	enum { N = 6000, CHUNK = 700 };
	mst_bus *bus = unit_bus();
	static uint64_t ids[N], got_ids[N], order[N];
	static int res[N + 1], seen[N];
	mst_msg *msgs = calloc(CHUNK, sizeof *msgs);
	mst_send_opts so = {0};
	mst_recv_opts ro = {0};
	size_t i, j, n, got = 0, acked = 0;
	char text[32];

	ck_assert_ptr_nonnull(msgs);
	for (i = 0; i < N; i++) {
		so.priority = (int)(i % 3);
		snprintf(text, sizeof text, "m%05zu", i);
		ck_assert_int_eq(mst_send(bus, "big", text, strlen(text), &so, &ids[i]), 0);
		ck_assert_uint_eq(ids[i], ids[0] + i); /* the checks below rely on it */
	}
	while (got < N) {
		ck_assert_int_eq(mst_recv(bus, "big", &ro, msgs, CHUNK, &n), 0);
		ck_assert_uint_gt(n, 0);
		for (j = 0; j < n; j++) {
			got_ids[got + j] = msgs[j].id;
			mst_msg_free(&msgs[j]);
		}
		/* ack every other message of the chunk as one batch, in reverse, with
		 * an id nobody holds in the middle; the rest go one by one later */
		for (j = 0, acked = 0; j < n; j += 2)
			order[acked++] = got_ids[got + n - 1 - j];
		memmove(&order[acked / 2 + 1], &order[acked / 2],
			(acked - acked / 2) * sizeof *order);
		order[acked / 2] = ids[N - 1] + 12345;
		ck_assert_int_eq(mst_settle_batch(bus, MST_SETTLE_ACK, order, acked + 1, 0, res),
				 MST_ENOTHELD);
		for (j = 0; j <= acked; j++)
			ck_assert_int_eq(res[j], j == acked / 2 ? MST_ENOTHELD : 0);
		/* acked ones are no longer held; the others still are */
		ck_assert_int_eq(mst_ack(bus, order[0]), MST_ENOTHELD);
		for (j = 1; j < n; j += 2)
			ck_assert_int_eq(mst_ack(bus, got_ids[got + n - 1 - j]), 0);
		got += n;
	}
	/* priority 2 first, then 1, then 0; ids ascending within a priority */
	for (i = 0; i < N; i++) {
		size_t k = (size_t)(got_ids[i] - ids[0]);

		ck_assert_uint_lt(k, N);
		ck_assert_int_eq(seen[k]++, 0);
		if (i > 0) {
			size_t p = (size_t)(got_ids[i - 1] - ids[0]);

			ck_assert(p % 3 > k % 3 || (p % 3 == k % 3 && p < k));
		}
	}
	assert_counts(bus, "big", 0, 0, 0);
	free(msgs);
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_batch_all_or_none)
{
	mst_bus *bus = unit_bus();
	mst_buf bufs[3] = {{"a", 1}, {NULL, 0}, {NULL, 0}};
	mst_queue_info qi;
	size_t big = MST_PAYLOAD_MAX_DEFAULT + 1;
	char *p = calloc(1, big);
	uint64_t ids[3] = {0, 0, 0};

	bufs[2].data = p;
	bufs[2].len = big;
	ck_assert_int_eq(mst_send_batch(bus, "aon", bufs, 3, NULL, ids), MST_ETOOBIG);
	ck_assert_int_eq(mst_queue_stat(bus, "aon", &qi), MST_ENOTFOUND);
	bufs[2].len = 3; /* a NULL payload of non-zero length */
	bufs[2].data = NULL;
	ck_assert_int_eq(mst_send_batch(bus, "aon", bufs, 3, NULL, ids), MST_EINVAL);
	ck_assert_int_eq(mst_queue_stat(bus, "aon", &qi), MST_ENOTFOUND);
	/* an empty message with a NULL pointer is fine */
	bufs[2].len = 0;
	ck_assert_int_eq(mst_send_batch(bus, "aon", bufs, 3, NULL, ids), 0);
	assert_counts(bus, "aon", 3, 0, 0);
	free(p);
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_priority_order)
{
	static const struct {
		const char *s;
		int prio;
	} in[] = {{"a0", 0}, {"b5", 5}, {"c0", 0}, {"d9", 9}, {"e5", 5}, {"f1", 1}, {"g9", 9}};
	static const char *const want[] = {"d9", "g9", "b5", "e5", "f1", "a0", "c0"};
	mst_bus *bus = unit_bus();
	mst_msg msgs[8];
	mst_recv_opts ro = {0};
	size_t i, n;
	uint64_t ids[7];

	for (i = 0; i < 7; i++) {
		ids[i] = send_str(bus, "p", in[i].s, in[i].prio);
		ck_assert_uint_gt(ids[i], i ? ids[i - 1] : 0);
	}
	/* one message at a time */
	for (i = 0; i < 3; i++) {
		mst_msg m = recv_one(bus, "p", 0, 0);
		ck_assert_str_eq(m.data, want[i]);
		ck_assert_int_eq(m.priority, want[i][1] - '0');
		mst_msg_free(&m);
	}
	/* and the rest in one call */
	ck_assert_int_eq(mst_recv(bus, "p", &ro, msgs, 8, &n), 0);
	ck_assert_uint_eq(n, 4);
	for (i = 0; i < n; i++) {
		ck_assert_str_eq(msgs[i].data, want[i + 3]);
		mst_msg_free(&msgs[i]);
	}
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_binary_payload)
{
	mst_bus *bus = unit_bus();
	unsigned char bin[512];
	uint64_t id, eid;
	mst_msg m, pk;
	size_t i, n;

	for (i = 0; i < sizeof bin; i++)
		bin[i] = (unsigned char)(i * 7);
	bin[0] = bin[1] = bin[511] = 0;
	ck_assert_int_eq(mst_send(bus, "bin", bin, sizeof bin, NULL, &id), 0);
	ck_assert_int_eq(mst_send(bus, "bin", NULL, 0, NULL, &eid), 0);
	ck_assert_int_eq(mst_peek(bus, "bin", &pk, 1, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(pk.len, sizeof bin);
	ck_assert_mem_eq(pk.data, bin, sizeof bin);
	mst_msg_free(&pk);
	m = recv_one(bus, "bin", 0, 0);
	ck_assert_uint_eq(m.id, id);
	ck_assert_uint_eq(m.len, sizeof bin);
	ck_assert_mem_eq(m.data, bin, sizeof bin);
	ck_assert_int_eq(((char *)m.data)[m.len], 0);
	mst_msg_free(&m);
	m = recv_one(bus, "bin", 0, 0);
	ck_assert_uint_eq(m.id, eid);
	ck_assert_uint_eq(m.len, 0);
	ck_assert_ptr_nonnull(m.data);
	ck_assert_int_eq(((char *)m.data)[0], 0);
	mst_msg_free(&m);
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_payload_limits)
{
	mst_bus *bus = unit_bus(), *small;
	size_t max = MST_PAYLOAD_MAX_DEFAULT;
	char *big = malloc(max + 1);
	mst_bus_opts o = {.payload_max = 100, .no_create = 1};
	mst_msg m;
	uint64_t id;

	memset(big, 'x', max + 1);
	big[max - 1] = 'y';
	ck_assert_int_eq(mst_send(bus, "big", big, max + 1, NULL, &id), MST_ETOOBIG);
	ck_assert_int_eq(mst_send(bus, "big", big, max, NULL, &id), 0);
	m = recv_one(bus, "big", 0, 0);
	ck_assert_uint_eq(m.len, max);
	ck_assert_int_eq(((char *)m.data)[max - 1], 'y');
	mst_msg_free(&m);
	assert_counts(bus, "big", 0, 1, 0);
	/* a handle's own limit */
	ck_assert_int_eq(mst_bus_open(&small, mst_bus_path(bus), &o), 0);
	ck_assert_int_eq(mst_send(small, "s", big, 101, NULL, &id), MST_ETOOBIG);
	ck_assert_int_eq(mst_send(small, "s", big, 100, NULL, &id), 0);
	ck_assert_int_eq(mst_publish(small, "t", big, 101, NULL), MST_ETOOBIG);
	ck_assert_int_eq(mst_kv_set(small, "k", big, 101, NULL), MST_ETOOBIG);
	ck_assert_int_eq(mst_kv_cas(small, "k", 0, big, 101, NULL), MST_ETOOBIG);
	assert_counts(bus, "s", 1, 0, 0);
	mst_bus_close(small);
	free(big);
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_invalid_args)
{
	static const char *const bad[] = {"", "a b", "a/b", "x\n", NULL};
	mst_bus *bus = unit_bus();
	char n129[MST_NAME_MAX + 2];
	mst_send_opts o = {0};
	mst_recv_opts ro = {0};
	mst_queue_info qi, *list;
	mst_msg m;
	size_t i, n;
	uint64_t id;

	memset(n129, 'q', sizeof n129 - 1);
	n129[sizeof n129 - 1] = 0;
	for (i = 0; i <= sizeof bad / sizeof bad[0]; i++) {
		const char *q = i < sizeof bad / sizeof bad[0] ? bad[i] : n129;
		mst_buf b = {"x", 1};

		ck_assert_int_eq(mst_send(bus, q, "x", 1, NULL, &id), MST_ENAME);
		ck_assert_int_eq(mst_send_batch(bus, q, &b, 1, NULL, &id), MST_ENAME);
		ck_assert_int_eq(mst_recv(bus, q, NULL, &m, 1, &n), MST_ENAME);
		ck_assert_int_eq(mst_peek(bus, q, &m, 1, &n), MST_ENAME);
		ck_assert_int_eq(mst_queue_stat(bus, q, &qi), MST_ENAME);
		ck_assert_int_eq(mst_queue_config(bus, q, 3, 0, NULL), MST_ENAME);
		if (q)
			ck_assert_int_eq(mst_queue_config(bus, "ok", 3, 0, q), MST_ENAME);
		o.key = q ? q : "";
		ck_assert_int_eq(mst_send(bus, "ok", "x", 1, &o, &id), MST_ENAME);
	}
	o.key = NULL;
	o.priority = 10;
	ck_assert_int_eq(mst_send(bus, "ok", "x", 1, &o, &id), MST_EINVAL);
	o.priority = -1;
	ck_assert_int_eq(mst_send(bus, "ok", "x", 1, &o, &id), MST_EINVAL);
	o.priority = 9;
	o.delay_ms = -1;
	ck_assert_int_eq(mst_send(bus, "ok", "x", 1, &o, &id), MST_EINVAL);
	ck_assert_int_eq(mst_send(bus, "ok", NULL, 3, NULL, &id), MST_EINVAL);
	ck_assert_int_eq(mst_send(NULL, "ok", "x", 1, NULL, &id), MST_EINVAL);
	ck_assert_int_eq(mst_recv(bus, "ok", NULL, &m, 0, &n), MST_EINVAL);
	ro.lease_ms = -1;
	ck_assert_int_eq(mst_recv(bus, "ok", &ro, &m, 1, &n), MST_EINVAL);
	ck_assert_int_eq(mst_recv(bus, "ok", NULL, NULL, 1, &n), MST_EINVAL);
	ck_assert_int_eq(mst_nack(bus, 1, -1), MST_EINVAL);
	ck_assert_int_eq(mst_touch(bus, 1, -1), MST_EINVAL);
	ck_assert_int_eq(mst_ack(NULL, 1), MST_EINVAL);
	ck_assert_int_eq(mst_queue_config(bus, "ok", 3, 0, "ok"), MST_EINVAL);
	ck_assert_int_eq(mst_queue_config(bus, "ok", 3, -5, NULL), MST_EINVAL);
	ck_assert_int_eq(mst_queue_list(bus, NULL, &n), MST_EINVAL);
	/* nothing was created by any of these */
	ck_assert_int_eq(mst_queue_list(bus, &list, &n), 0);
	ck_assert_uint_eq(n, 0);
	mst_free(list);
	mst_free(NULL);
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_recv_empty)
{
	mst_bus *bus = unit_bus();
	mst_msg m;
	int64_t t0;
	int i;

	/* once for a queue that does not exist, once for an existing empty one */
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(recv_rc(bus, "e", 0), MST_EEMPTY);
		t0 = mst_now_ns();
		ck_assert_int_eq(recv_rc(bus, "e", 50), MST_ETIMEOUT);
		ck_assert_int_ge(unit_ms_since(t0), 50);
		ck_assert_int_lt(unit_ms_since(t0), 1000);
		send_str(bus, "e", "x", 0);
		m = recv_one(bus, "e", 0, 0);
		ck_assert_int_eq(mst_ack(bus, m.id), 0);
		mst_msg_free(&m);
	}
	mst_bus_close(bus);
}
END_TEST

/* --- settling: ack, nack, touch --------------------------------------------------- */

START_TEST(test_ack_errors)
{
	mst_bus *bus = unit_bus(), *other;
	uint64_t id = send_str(bus, "a", "one", 0), ready = send_str(bus, "a", "two", 0);
	int wfd, status;
	pid_t child;
	mst_msg m;

	/* unknown ids, and a message nobody holds */
	ck_assert_int_eq(mst_ack(bus, 0), MST_ENOTHELD);
	ck_assert_int_eq(mst_ack(bus, 12345), MST_ENOTHELD);
	ck_assert_int_eq(mst_ack(bus, UINT64_MAX), MST_ENOTHELD);
	ck_assert_int_eq(mst_nack(bus, 12345, 0), MST_ENOTHELD);
	ck_assert_int_eq(mst_touch(bus, 12345, 1000), MST_ENOTHELD);
	ck_assert_int_eq(mst_ack(bus, id), MST_ENOTHELD);
	assert_counts(bus, "a", 2, 0, 0);

	/* a handle of another (live) owner holds nothing of ours */
	child = unit_idle_child(&wfd);
	other = unit_open(mst_bus_path(bus), child);
	ck_assert_int_eq(mst_bus_owner(other), child);
	m = recv_one(bus, "a", 0, 0);
	ck_assert_uint_eq(m.id, id);
	ck_assert_int_eq(mst_ack(other, id), MST_ENOTHELD);
	ck_assert_int_eq(mst_nack(other, id, 0), MST_ENOTHELD);
	ck_assert_int_eq(mst_touch(other, id, 1000), MST_ENOTHELD);
	assert_counts(bus, "a", 1, 1, 0);

	/* ours: once, and only once */
	ck_assert_int_eq(mst_ack(bus, id), 0);
	ck_assert_int_eq(mst_ack(bus, id), MST_ENOTHELD);
	ck_assert_int_eq(mst_nack(bus, id, 0), MST_ENOTHELD);
	ck_assert_int_eq(mst_touch(bus, id, 0), MST_ENOTHELD);
	assert_counts(bus, "a", 1, 0, 0);
	mst_msg_free(&m);

	/* and the other owner's lease is not ours */
	m = recv_one(other, "a", 0, 0);
	ck_assert_uint_eq(m.id, ready);
	ck_assert_int_eq(mst_ack(bus, ready), MST_ENOTHELD);
	ck_assert_int_eq(mst_ack(other, ready), 0);
	mst_msg_free(&m);
	mst_bus_close(other);
	close(wfd);
	status = unit_reap(child, 5000);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_nack_redeliver)
{
	mst_bus *bus = unit_bus();
	uint64_t id = send_str(bus, "n", "payload", 3);
	mst_queue_info qi;
	mst_msg m = recv_one(bus, "n", 0, 0);

	ck_assert_uint_eq(m.attempt, 1);
	mst_msg_free(&m);
	ck_assert_int_eq(mst_nack(bus, id, 0), 0);
	ck_assert_int_eq(mst_nack(bus, id, 0), MST_ENOTHELD);
	assert_counts(bus, "n", 1, 0, 0);
	m = recv_one(bus, "n", 0, 0);
	ck_assert_uint_eq(m.id, id);
	ck_assert_uint_eq(m.attempt, 2);
	ck_assert_int_eq(m.priority, 3);
	ck_assert_str_eq(m.data, "payload");
	mst_msg_free(&m);
	ck_assert_int_eq(mst_ack(bus, id), 0);
	ck_assert_int_eq(mst_queue_stat(bus, "n", &qi), 0);
	ck_assert_uint_eq(qi.redelivered, 1);
	ck_assert_uint_eq(qi.acked, 1);
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_nack_delay)
{
	mst_bus *bus = unit_bus();
	uint64_t id = send_str(bus, "nd", "later", 0);
	mst_msg m = recv_one(bus, "nd", 0, 0), pk;
	int64_t t0;
	size_t n;

	mst_msg_free(&m);
	t0 = mst_now_ns();
	ck_assert_int_eq(mst_nack(bus, id, 300), 0);
	assert_counts(bus, "nd", 0, 0, 1);
	ck_assert_int_eq(recv_rc(bus, "nd", 0), MST_EEMPTY);
	ck_assert_int_eq(mst_peek(bus, "nd", &pk, 1, &n), 0);
	ck_assert_uint_eq(n, 0);
	m = recv_one(bus, "nd", 3000, 0);
	ck_assert_int_ge(unit_ms_since(t0), 300);
	ck_assert_int_lt(unit_ms_since(t0), 2000);
	ck_assert_uint_eq(m.id, id);
	ck_assert_uint_eq(m.attempt, 2);
	ck_assert_str_eq(m.data, "later");
	mst_msg_free(&m);
	ck_assert_int_eq(mst_ack(bus, id), 0);
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_touch)
{
	mst_bus *bus = unit_bus(), *other;
	uint64_t id = send_str(bus, "t", "slow job", 0);
	int64_t before = wall_ms();
	mst_recv_opts ro = {.wait_ms = 400};
	mst_msg m = recv_one(bus, "t", 0, 100);
	size_t n;
	int wfd, status;
	pid_t child = unit_idle_child(&wfd);

	ck_assert_int_le(m.lease_until_ms, wall_ms() + 100);
	mst_msg_free(&m);
	ck_assert_int_eq(mst_touch(bus, id, 10000), 0);
	other = unit_open(mst_bus_path(bus), child);
	/* without the touch the lease would have ended after 100 ms */
	ck_assert_int_eq(mst_recv(other, "t", &ro, &m, 1, &n), MST_ETIMEOUT);
	ck_assert_int_ge(wall_ms() - before, 400);
	assert_counts(bus, "t", 0, 1, 0);
	ck_assert_int_eq(mst_ack(bus, id), 0);
	mst_bus_close(other);
	close(wfd);
	status = unit_reap(child, 5000);
	ck_assert(WIFEXITED(status));
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_lease_expiry)
{
	mst_bus *bus = unit_bus(), *other;
	uint64_t id = send_str(bus, "le", "job", 0);
	mst_queue_info qi;
	int wfd, status;
	pid_t child = unit_idle_child(&wfd);
	int64_t t0;
	mst_msg m;

	other = unit_open(mst_bus_path(bus), child);
	t0 = mst_now_ns();
	m = recv_one(bus, "le", 0, 100);
	ck_assert_uint_eq(m.attempt, 1);
	mst_msg_free(&m);
	m = recv_one(other, "le", 3000, 0);
	ck_assert_int_ge(unit_ms_since(t0), 100);
	ck_assert_int_lt(unit_ms_since(t0), 2000);
	ck_assert_uint_eq(m.id, id);
	ck_assert_uint_eq(m.attempt, 2);
	ck_assert_str_eq(m.data, "job");
	mst_msg_free(&m);
	/* the first owner's lease has ended: it can no longer settle the message */
	ck_assert_int_eq(mst_ack(bus, id), MST_ENOTHELD);
	ck_assert_int_eq(mst_touch(bus, id, 1000), MST_ENOTHELD);
	ck_assert_int_eq(mst_ack(other, id), 0);
	ck_assert_int_eq(mst_queue_stat(bus, "le", &qi), 0);
	ck_assert_uint_eq(qi.redelivered, 1);
	ck_assert_uint_eq(qi.acked, 1);
	ck_assert_uint_eq(qi.leased, 0);
	mst_bus_close(other);
	close(wfd);
	status = unit_reap(child, 5000);
	ck_assert(WIFEXITED(status));
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_max_attempts)
{
	mst_bus *bus = unit_bus();
	mst_queue_info qi;
	uint64_t id, id2, id3;
	mst_msg m;

	ck_assert_int_eq(mst_queue_config(bus, "jobs", 2, 0, NULL), 0);
	ck_assert_int_eq(mst_queue_stat(bus, "jobs", &qi), 0);
	ck_assert_uint_eq(qi.max_attempts, 2);
	ck_assert_int_eq(qi.lease_ms, 30000);
	ck_assert_str_eq(qi.dead_letter, "jobs.dead");
	id = send_str(bus, "jobs", "poison", 4);
	m = recv_one(bus, "jobs", 0, 0);
	ck_assert_uint_eq(m.attempt, 1);
	mst_msg_free(&m);
	ck_assert_int_eq(mst_nack(bus, id, 0), 0);
	m = recv_one(bus, "jobs", 0, 0);
	ck_assert_uint_eq(m.attempt, 2);
	mst_msg_free(&m);
	ck_assert_int_eq(mst_nack(bus, id, 0), 0);
	ck_assert_int_eq(recv_rc(bus, "jobs", 0), MST_EEMPTY);
	ck_assert_int_eq(mst_queue_stat(bus, "jobs", &qi), 0);
	ck_assert_uint_eq(qi.dead, 1);
	ck_assert_uint_eq(qi.ready + qi.leased + qi.delayed, 0);
	assert_counts(bus, "jobs.dead", 1, 0, 0);
	m = recv_one(bus, "jobs.dead", 0, 0);
	ck_assert_uint_eq(m.id, id);
	ck_assert_str_eq(m.data, "poison");
	ck_assert_str_eq(m.queue, "jobs.dead");
	ck_assert_int_eq(m.priority, 4);
	ck_assert_uint_eq(m.attempt, 1);
	mst_msg_free(&m);
	ck_assert_int_eq(mst_ack(bus, id), 0);

	/* a named dead-letter queue, reached by lease expiry */
	ck_assert_int_eq(mst_queue_config(bus, "exp", 1, 50, "graveyard"), 0);
	id2 = send_str(bus, "exp", "dies", 0);
	m = recv_one(bus, "exp", 0, 0);
	ck_assert_int_le(m.lease_until_ms, wall_ms() + 50);
	mst_msg_free(&m);
	ck_assert_int_eq(recv_rc(bus, "exp", 300), MST_ETIMEOUT);
	assert_counts(bus, "exp", 0, 0, 0);
	m = recv_one(bus, "graveyard", 0, 0);
	ck_assert_uint_eq(m.id, id2);
	mst_msg_free(&m);
	/* configuration changes keep what they do not name */
	ck_assert_int_eq(mst_queue_config(bus, "exp", 0, 0, NULL), 0);
	ck_assert_int_eq(mst_queue_stat(bus, "exp", &qi), 0);
	ck_assert_uint_eq(qi.max_attempts, 1);
	ck_assert_int_eq(qi.lease_ms, 50);
	ck_assert_str_eq(qi.dead_letter, "graveyard");
	ck_assert_uint_eq(qi.dead, 1);
	/* the default is 5 attempts */
	id3 = send_str(bus, "five", "x", 0);
	ck_assert_int_eq(mst_queue_stat(bus, "five", &qi), 0);
	ck_assert_uint_eq(qi.max_attempts, 5);
	for (unsigned a = 1; a <= 5; a++) {
		m = recv_one(bus, "five", 0, 0);
		ck_assert_uint_eq(m.attempt, a);
		mst_msg_free(&m);
		ck_assert_int_eq(mst_nack(bus, id3, 0), 0);
	}
	ck_assert_int_eq(recv_rc(bus, "five", 0), MST_EEMPTY);
	assert_counts(bus, "five.dead", 1, 0, 0);
	mst_bus_close(bus);
}
END_TEST

/* --- keys, delays, peek, counts --------------------------------------------------- */

START_TEST(test_idempotency_key)
{
	mst_bus *bus = unit_bus();
	mst_send_opts k1 = {.key = "order-1"}, k2 = {.key = "order-2"};
	mst_queue_info qi;
	uint64_t a, b, c, d;
	mst_msg m;

	ck_assert_int_eq(mst_send(bus, "k", "first", 5, &k1, &a), 0);
	ck_assert_int_eq(mst_send(bus, "k", "second", 6, &k1, &b), 0);
	ck_assert_uint_eq(a, b);
	ck_assert_int_eq(mst_queue_stat(bus, "k", &qi), 0);
	ck_assert_uint_eq(qi.ready, 1);
	ck_assert_uint_eq(qi.sent, 1);
	ck_assert_int_eq(mst_send(bus, "k", "third", 5, &k2, &c), 0);
	ck_assert_uint_ne(c, a);
	/* keys are per queue */
	ck_assert_int_eq(mst_send(bus, "k2", "other", 5, &k1, &d), 0);
	ck_assert_uint_ne(d, a);
	m = recv_one(bus, "k", 0, 0);
	ck_assert_uint_eq(m.id, a);
	ck_assert_str_eq(m.data, "first");
	mst_msg_free(&m);
	ck_assert_int_eq(mst_ack(bus, a), 0);
	/* still the first id after the ack, and nothing new enqueued */
	ck_assert_int_eq(mst_send(bus, "k", "again", 5, &k1, &b), 0);
	ck_assert_uint_eq(b, a);
	assert_counts(bus, "k", 1, 0, 0);
	m = recv_one(bus, "k", 0, 0);
	ck_assert_uint_eq(m.id, c);
	mst_msg_free(&m);
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_batch_keys)
{
	mst_bus *bus = unit_bus();
	const char *keys1[] = {"t.0", NULL, "t.1", "t.0"};
	const char *keys2[] = {"t.1", "t.2", "t.3"};
	const char *bad[] = {"ok", "bad key"};
	mst_buf b1[] = {{"a", 1}, {"b", 1}, {"c", 1}, {"dup-of-a", 8}};
	mst_buf b2[] = {{"c-again", 7}, {"d", 1}, {"e", 1}};
	mst_send_opts o1 = {.keys = keys1}, o2 = {.keys = keys2, .priority = 3};
	mst_send_opts ob = {.keys = bad}, os = {.keys = keys1};
	uint64_t i1[4], i2[3], id;
	mst_queue_info qi;
	char seen[8] = {0};
	size_t k;

	ck_assert_int_eq(mst_send_batch(bus, "bk", b1, 4, &o1, i1), 0);
	/* the fourth repeats the first's key: same id, not added */
	ck_assert_uint_eq(i1[3], i1[0]);
	ck_assert_uint_ne(i1[1], i1[0]);
	ck_assert_uint_ne(i1[2], i1[1]);
	ck_assert_int_eq(mst_queue_stat(bus, "bk", &qi), 0);
	ck_assert_uint_eq(qi.ready, 3);
	ck_assert_uint_eq(qi.sent, 3);
	/* a later batch: t.1 is known, t.2 and t.3 are new */
	ck_assert_int_eq(mst_send_batch(bus, "bk", b2, 3, &o2, i2), 0);
	ck_assert_uint_eq(i2[0], i1[2]);
	ck_assert_int_eq(mst_queue_stat(bus, "bk", &qi), 0);
	ck_assert_uint_eq(qi.ready, 5);
	ck_assert_uint_eq(qi.sent, 5);
	/* every message once: d and e first (priority 3), then a, b, c */
	for (k = 0; k < 5; k++) {
		mst_msg m = recv_one(bus, "bk", 0, 0);

		ck_assert_uint_eq(m.len, 1);
		ck_assert(m.len == 1 && ((char *)m.data)[0] >= 'a' && ((char *)m.data)[0] <= 'e');
		ck_assert_int_eq(seen[((char *)m.data)[0] - 'a']++, 0);
		ck_assert_int_eq(m.priority, k < 2 ? 3 : 0);
		ck_assert_int_eq(mst_ack(bus, m.id), 0);
		mst_msg_free(&m);
	}
	/* keys stay after the ack: only the message without a key comes back */
	ck_assert_int_eq(mst_send_batch(bus, "bk", b1, 4, &o1, NULL), 0);
	assert_counts(bus, "bk", 1, 0, 0);
	/* a bad key refuses the whole batch; keys do not go with a single send */
	ck_assert_int_eq(mst_send_batch(bus, "bk", b1, 2, &ob, NULL), MST_ENAME);
	ck_assert_int_eq(mst_send(bus, "bk", "x", 1, &os, &id), MST_EINVAL);
	assert_counts(bus, "bk", 1, 0, 0);
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_delayed_send)
{
	mst_bus *bus = unit_bus();
	mst_send_opts d = {.delay_ms = 200}, late = {.delay_ms = 60000};
	uint64_t id, lid;
	int64_t t0 = mst_now_ns();
	mst_msg m, pk;
	size_t n;

	ck_assert_int_eq(mst_send(bus, "d", "soon", 4, &d, &id), 0);
	ck_assert_int_eq(mst_send(bus, "d", "late", 4, &late, &lid), 0);
	assert_counts(bus, "d", 0, 0, 2);
	ck_assert_int_eq(mst_peek(bus, "d", &pk, 1, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(recv_rc(bus, "d", 0), MST_EEMPTY);
	m = recv_one(bus, "d", 3000, 0);
	ck_assert_int_ge(unit_ms_since(t0), 200);
	ck_assert_int_lt(unit_ms_since(t0), 2000);
	ck_assert_uint_eq(m.id, id);
	ck_assert_uint_eq(m.attempt, 1);
	mst_msg_free(&m);
	assert_counts(bus, "d", 0, 1, 1);
	/* a delayed message does not hold back a ready one */
	id = send_str(bus, "d", "now", 0);
	m = recv_one(bus, "d", 0, 0);
	ck_assert_uint_eq(m.id, id);
	mst_msg_free(&m);
	assert_counts(bus, "d", 0, 2, 1);
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_peek)
{
	mst_bus *bus = unit_bus();
	static const char *const want[] = {"x", "a", "b", "c"};
	mst_msg msgs[8], m;
	size_t i, n;

	send_str(bus, "pk", "a", 0);
	send_str(bus, "pk", "b", 0);
	send_str(bus, "pk", "c", 0);
	send_str(bus, "pk", "x", 5);
	ck_assert_int_eq(mst_peek(bus, "pk", msgs, 8, &n), 0);
	ck_assert_uint_eq(n, 4);
	for (i = 0; i < n; i++) {
		ck_assert_str_eq(msgs[i].data, want[i]);
		ck_assert_int_eq(msgs[i].lease_until_ms, 0);
		ck_assert_uint_eq(msgs[i].attempt, 0);
		ck_assert_str_eq(msgs[i].queue, "pk");
		mst_msg_free(&msgs[i]);
	}
	assert_counts(bus, "pk", 4, 0, 0);
	ck_assert_int_eq(mst_peek(bus, "pk", msgs, 2, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(msgs[1].data, "a");
	mst_msg_free(&msgs[0]);
	mst_msg_free(&msgs[1]);
	ck_assert_int_eq(mst_peek(bus, "pk", msgs, 0, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(mst_peek(bus, "none", msgs, 8, &n), 0);
	ck_assert_uint_eq(n, 0);
	/* the peeked message is still first in line, first delivery */
	m = recv_one(bus, "pk", 0, 0);
	ck_assert_str_eq(m.data, "x");
	ck_assert_uint_eq(m.attempt, 1);
	mst_msg_free(&m);
	ck_assert_int_eq(mst_peek(bus, "pk", msgs, 8, &n), 0);
	ck_assert_uint_eq(n, 3);
	for (i = 0; i < n; i++) {
		ck_assert_str_eq(msgs[i].data, want[i + 1]);
		mst_msg_free(&msgs[i]);
	}
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_list_stat)
{
	mst_bus *bus = unit_bus();
	mst_send_opts late = {.delay_ms = 60000};
	mst_queue_info *list, qi;
	mst_stats st;
	mst_msg m;
	size_t n;
	uint64_t id;

	ck_assert_int_eq(mst_queue_list(bus, &list, &n), 0);
	ck_assert_uint_eq(n, 0);
	mst_free(list);
	ck_assert_int_eq(mst_queue_stat(bus, "zeta", &qi), MST_ENOTFOUND);
	send_str(bus, "zeta", "1", 0);
	send_str(bus, "zeta", "2", 0);
	send_str(bus, "alpha", "1", 0);
	send_str(bus, "alpha", "2", 0);
	send_str(bus, "alpha", "3", 0);
	ck_assert_int_eq(mst_send(bus, "alpha", "4", 1, &late, &id), 0);
	m = recv_one(bus, "alpha", 0, 0);
	mst_msg_free(&m);
	ck_assert_int_eq(mst_queue_list(bus, &list, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(list[0].name, "alpha");
	ck_assert_str_eq(list[1].name, "zeta");
	ck_assert_uint_eq(list[0].ready, 2);
	ck_assert_uint_eq(list[0].leased, 1);
	ck_assert_uint_eq(list[0].delayed, 1);
	ck_assert_uint_eq(list[0].dead, 0);
	ck_assert_uint_eq(list[0].sent, 4);
	ck_assert_uint_eq(list[1].ready, 2);
	ck_assert_uint_eq(list[1].leased + list[1].delayed, 0);
	ck_assert_uint_eq(list[1].sent, 2);
	mst_free(list);
	ck_assert_int_eq(mst_stats_get(bus, &st), 0);
	ck_assert_uint_eq(st.queues, 2);
	ck_assert_uint_eq(st.ready, 4);
	ck_assert_uint_eq(st.leased, 1);
	ck_assert_uint_eq(st.delayed, 1);
	ck_assert_uint_eq(st.sent, 6);
	ck_assert_uint_eq(st.acked, 0);
	ck_assert_int_eq(mst_ack(bus, m.id), 0);
	assert_counts(bus, "alpha", 2, 0, 1);
	ck_assert_int_eq(mst_stats_get(bus, &st), 0);
	ck_assert_uint_eq(st.acked, 1);
	ck_assert_uint_eq(st.leased, 0);
	mst_bus_close(bus);
}
END_TEST

/* --- other processes -------------------------------------------------------------- */

struct report {
	int rc;
	int ok;
};

START_TEST(test_recv_wakes_child)
{
	mst_bus *bus = unit_bus();
	const char *dir = mst_bus_path(bus);
	int up[2], status;
	struct report r;
	int64_t t0;
	pid_t pid;
	char c;

	ck_assert_int_eq(pipe(up), 0);
	pid = unit_fork();
	if (pid == 0) {
		mst_bus *b = unit_open(dir, 0);
		mst_recv_opts ro = {.wait_ms = 5000};
		mst_msg m;
		size_t n = 0;

		close(up[0]);
		unit_write_full(up[1], "r", 1);
		r.rc = mst_recv(b, "wq", &ro, &m, 1, &n);
		r.ok = r.rc == 0 && n == 1 && m.len == 7 && !memcmp(m.data, "wake-up", 7) &&
		       mst_ack(b, m.id) == 0;
		unit_write_full(up[1], &r, sizeof r);
		_exit(r.ok ? 0 : 1);
	}
	close(up[1]);
	ck_assert_int_eq(unit_read_full(up[0], &c, 1), 0);
	/* send only once the child sleeps in recv, so that only a wake-up can end it */
	ck_assert_msg(unit_wait_asleep(pid, SYS_futex, 3000), "child never blocked in recv");
	t0 = mst_now_ns();
	send_str(bus, "wq", "wake-up", 0);
	ck_assert_int_eq(unit_read_full(up[0], &r, sizeof r), 0);
	ck_assert_msg(unit_ms_since(t0) < 1000, "woken after %lld ms",
		      (long long)unit_ms_since(t0));
	ck_assert_msg(r.ok, "child recv: %s", mst_strerror(r.rc));
	status = unit_reap(pid, 5000);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_counts(bus, "wq", 0, 0, 0);
	close(up[0]);
	mst_bus_close(bus);
}
END_TEST

START_TEST(test_dead_holder_redelivered)
{
	mst_bus *bus = unit_bus();
	const char *dir = mst_bus_path(bus);
	mst_recv_opts wait300 = {.wait_ms = 300, .lease_ms = 30000};
	mst_msg m;
	size_t n;
	int up[2], down[2], status;
	uint64_t id = send_str(bus, "dh", "precious", 0), held = 0;
	int64_t t0, ms;
	pid_t pid;

	ck_assert_int_eq(pipe(up), 0);
	ck_assert_int_eq(pipe(down), 0);
	pid = unit_fork();
	if (pid == 0) {
		mst_bus *b = unit_open(dir, 0);
		mst_recv_opts ro = {.wait_ms = 5000, .lease_ms = 30000};
		mst_msg cm;
		size_t cn;
		char c;

		close(up[0]);
		close(down[1]);
		if (mst_recv(b, "dh", &ro, &cm, 1, &cn) != 0)
			_exit(1);
		unit_write_full(up[1], &cm.id, sizeof cm.id);
		if (read(down[0], &c, 1) < 0) /* hold the lease until killed */
			_exit(2);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	ck_assert_int_eq(unit_read_full(up[0], &held, sizeof held), 0);
	ck_assert_uint_eq(held, id);
	assert_counts(bus, "dh", 0, 1, 0);
	/* while the holder lives (even stopped), its message is not redelivered */
	ck_assert_int_eq(mst_recv(bus, "dh", &wait300, &m, 1, &n), MST_ETIMEOUT);
	ck_assert_int_eq(kill(pid, SIGSTOP), 0);
	ck_assert_int_eq(mst_recv(bus, "dh", &wait300, &m, 1, &n), MST_ETIMEOUT);
	ck_assert_int_eq(mst_ack(bus, id), MST_ENOTHELD);
	assert_counts(bus, "dh", 0, 1, 0);
	/* once it is gone, the message comes back at once, not after the 30 s lease */
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	t0 = mst_now_ns();
	m = recv_one(bus, "dh", 3000, 30000);
	ms = unit_ms_since(t0);
	ck_assert_msg(ms < 1000, "redelivered after %lld ms", (long long)ms);
	ck_assert_uint_eq(m.id, id);
	ck_assert_uint_eq(m.attempt, 2);
	ck_assert_str_eq(m.data, "precious");
	mst_msg_free(&m);
	ck_assert_int_eq(mst_ack(bus, id), 0);
	status = unit_reap(pid, 5000);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	close(up[0]);
	close(down[1]);
	mst_bus_close(bus);
}
END_TEST

/* The same, with the holder already reaped when the receiver looks. */
START_TEST(test_reaped_holder_redelivered)
{
	mst_bus *bus = unit_bus();
	const char *dir = mst_bus_path(bus);
	uint64_t id = send_str(bus, "rh", "x", 0);
	int64_t t0, ms;
	int status;
	pid_t pid;
	mst_msg m;

	pid = unit_fork();
	if (pid == 0) {
		mst_bus *b = unit_open(dir, 0);
		mst_recv_opts ro = {.lease_ms = 30000};
		mst_msg cm;
		size_t cn;

		_exit(mst_recv(b, "rh", &ro, &cm, 1, &cn) == 0 && cm.id == id ? 0 : 1);
	}
	status = unit_reap(pid, 5000);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_counts(bus, "rh", 0, 1, 0);
	t0 = mst_now_ns();
	m = recv_one(bus, "rh", 3000, 0);
	ms = unit_ms_since(t0);
	ck_assert_msg(ms < 1000, "redelivered after %lld ms", (long long)ms);
	ck_assert_uint_eq(m.id, id);
	ck_assert_uint_eq(m.attempt, 2);
	mst_msg_free(&m);
	mst_bus_close(bus);
}
END_TEST

/* --- a full bus ------------------------------------------------------------------- */

#define CHUNK (64u << 10)

static mst_bus *small_bus(void)
{
	char *dir = unit_tmpdir();
	mst_bus_opts o = {.quota = 1u << 20};
	mst_bus *bus;

	ck_assert_int_eq(mst_bus_open(&bus, dir, &o), 0);
	free(dir);
	return bus;
}

/* Fills the bus with CHUNK-byte messages (message i filled with byte i) until it is
 * full; returns how many fit. */
static size_t fill(mst_bus *bus, unsigned char *buf)
{
	size_t count = 0;
	uint64_t id;
	int rc;

	for (;;) {
		memset(buf, (int)count, CHUNK);
		rc = mst_send(bus, "full", buf, CHUNK, NULL, &id);
		if (rc != 0)
			break;
		count++;
		ck_assert_uint_lt(count, 64); /* 1 MiB cannot hold 64 of them */
	}
	ck_assert_msg(rc == MST_EFULL, "send on a full bus: %s", mst_strerror(rc));
	ck_assert_uint_ge(count, 4);
	return count;
}

START_TEST(test_bus_full)
{
	mst_bus *bus = small_bus();
	unsigned char *buf = malloc(CHUNK);
	mst_send_opts w = {.wait_ms = 200};
	mst_queue_info qi;
	uint64_t ids[64], id;
	size_t count = fill(bus, buf), i, j, refit;
	int64_t t0;
	mst_msg m;

	ck_assert_int_eq(mst_queue_stat(bus, "full", &qi), 0);
	ck_assert_uint_eq(qi.sent, count);
	ck_assert_uint_eq(qi.ready, count);
	/* a send that may wait gives up after about its wait */
	t0 = mst_now_ns();
	ck_assert_int_eq(mst_send(bus, "full", buf, CHUNK, &w, &id), MST_EFULL);
	ck_assert_int_ge(unit_ms_since(t0), 200);
	ck_assert_int_lt(unit_ms_since(t0), 2000);
	/* other writers are refused the same way */
	ck_assert_int_eq(mst_publish(bus, "t", buf, CHUNK, NULL), MST_EFULL);
	ck_assert_int_eq(mst_kv_set(bus, "k", buf, CHUNK, NULL), MST_EFULL);
	ck_assert_int_eq(mst_queue_stat(bus, "full", &qi), 0);
	ck_assert_uint_eq(qi.sent, count);
	/* nothing was evicted or damaged: every message sent is received, in order */
	for (i = 0; i < count; i++) {
		m = recv_one(bus, "full", 0, 0);
		ck_assert_uint_eq(m.len, CHUNK);
		for (j = 0; j < CHUNK; j++)
			if (((unsigned char *)m.data)[j] != (unsigned char)i)
				ck_abort_msg("message %zu damaged at byte %zu", i, j);
		ids[i] = m.id;
		mst_msg_free(&m);
	}
	ck_assert_int_eq(recv_rc(bus, "full", 0), MST_EEMPTY);
	for (i = 0; i < count; i++)
		ck_assert_int_eq(mst_ack(bus, ids[i]), 0);
	/* and there is room again: about as much as before (the store's own records take
	 * a few pages more now, so not necessarily all of it) */
	memset(buf, 0x5a, CHUNK);
	for (refit = 0; refit <= count; refit++) {
		int rc = mst_send(bus, "full", buf, CHUNK, NULL, &id);
		if (rc == MST_EFULL)
			break;
		ck_assert_msg(rc == 0, "send after acks: %s", mst_strerror(rc));
	}
	ck_assert_msg(refit * 4 >= count * 3 && refit <= count, "%zu fit again of %zu", refit,
		      count);
	assert_counts(bus, "full", refit, 0, 0);
	free(buf);
	mst_bus_close(bus);
}
END_TEST

/* A send waiting for room on a full bus goes through when another process acks. */
START_TEST(test_full_send_waits_for_room)
{
	mst_bus *bus = small_bus();
	const char *dir = mst_bus_path(bus);
	unsigned char *buf = malloc(CHUNK);
	size_t count = fill(bus, buf);
	int up[2], status, rc;
	int64_t t0;
	pid_t pid;
	mst_msg m;
	char c;

	ck_assert_int_eq(pipe(up), 0);
	pid = unit_fork();
	if (pid == 0) {
		mst_bus *b = unit_open(dir, 0);
		mst_send_opts w = {.wait_ms = 5000};
		uint64_t id;

		close(up[0]);
		unit_write_full(up[1], "r", 1);
		memset(buf, 0xee, CHUNK);
		rc = mst_send(b, "full", buf, CHUNK, &w, &id);
		unit_write_full(up[1], &rc, sizeof rc);
		_exit(0);
	}
	close(up[1]);
	ck_assert_int_eq(unit_read_full(up[0], &c, 1), 0);
	ck_assert_msg(unit_wait_asleep(pid, SYS_futex, 3000), "sender never waited");
	m = recv_one(bus, "full", 0, 0);
	t0 = mst_now_ns();
	ck_assert_int_eq(mst_ack(bus, m.id), 0);
	mst_msg_free(&m);
	ck_assert_int_eq(unit_read_full(up[0], &rc, sizeof rc), 0);
	ck_assert_msg(rc == 0, "waiting send: %s", mst_strerror(rc));
	ck_assert_int_lt(unit_ms_since(t0), 1000);
	status = unit_reap(pid, 5000);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_counts(bus, "full", count, 0, 0);
	close(up[0]);
	free(buf);
	mst_bus_close(bus);
}
END_TEST

/* --- delete ----------------------------------------------------------------------- */

static uint64_t send_opt(mst_bus *bus, const char *queue, const char *s, const char *key,
			 int64_t delay_ms)
{
	mst_send_opts o = {.key = key, .delay_ms = delay_ms};
	uint64_t id = 0;
	int rc = mst_send(bus, queue, s, strlen(s), &o, &id);

	ck_assert_msg(rc == 0, "send %s: %s", queue, mst_strerror(rc));
	ck_assert_uint_ne(id, 0);
	return id;
}

/* Receives (waiting for delayed ones) and acks exactly the n messages ids of queue,
 * each once, and then finds it empty. */
static void drain_exactly(mst_bus *bus, const char *queue, const uint64_t *ids, size_t n)
{
	mst_recv_opts o = {.wait_ms = 3000};
	int seen[16] = {0};
	size_t got = 0, k, i, j;
	mst_msg msgs[16];

	ck_assert_uint_le(n, 16);
	while (got < n) {
		int rc = mst_recv(bus, queue, &o, msgs, 16, &k);

		ck_assert_msg(rc == 0, "recv %s after %zu of %zu: %s", queue, got, n,
			      mst_strerror(rc));
		for (i = 0; i < k; i++) {
			for (j = 0; j < n && ids[j] != msgs[i].id; j++)
				;
			ck_assert_msg(j < n, "%s: message %llx was not sent to it", queue,
				      (unsigned long long)msgs[i].id);
			ck_assert_msg(!seen[j]++, "%s: message %llx twice", queue,
				      (unsigned long long)msgs[i].id);
			ck_assert_int_eq(mst_ack(bus, msgs[i].id), 0);
			mst_msg_free(&msgs[i]);
			got++;
		}
	}
	ck_assert_int_eq(recv_rc(bus, queue, 0), MST_EEMPTY);
}

/* A deleted queue goes with its ready, delayed and leased messages, its idempotency
 * keys and its record; a queue whose name starts the same, one before it and its
 * dead-letter queue keep every message (by id) and their keys. */
START_TEST(test_queue_delete)
{
	static const char *const others[] = {"q2", "q.dead", "p"};
	mst_bus *bus = unit_bus();
	uint64_t held[2], ready[3], delayed, again[3], mine[3][4], id;
	mst_queue_info *list, qi;
	mst_stats st;
	mst_msg m, pk[4];
	size_t i, n;

	/* q: two leased (one with a key), three ready (one with a key), one delayed */
	held[0] = send_opt(bus, "q", "held-0", "k2", 0);
	held[1] = send_opt(bus, "q", "held-1", NULL, 0);
	for (i = 0; i < 2; i++) {
		m = recv_one(bus, "q", 0, 0);
		ck_assert_uint_eq(m.id, held[i]);
		mst_msg_free(&m);
	}
	ready[0] = send_opt(bus, "q", "ready-0", "k1", 0);
	ready[1] = send_opt(bus, "q", "ready-1", NULL, 0);
	ready[2] = send_str(bus, "q", "ready-2", 5);
	delayed = send_opt(bus, "q", "delayed", "k3", 60000);
	assert_counts(bus, "q", 3, 2, 1);
	/* the others: one leased, two ready (one with the key k1), one delayed (k3) */
	for (i = 0; i < 3; i++) {
		mine[i][0] = send_opt(bus, others[i], "leased", NULL, 0);
		m = recv_one(bus, others[i], 0, 0);
		ck_assert_uint_eq(m.id, mine[i][0]);
		mst_msg_free(&m);
		mine[i][1] = send_opt(bus, others[i], "ready-k1", "k1", 0);
		mine[i][2] = send_opt(bus, others[i], "ready", NULL, 0);
		mine[i][3] = send_opt(bus, others[i], "delayed-k3", "k3", 300);
		assert_counts(bus, others[i], 2, 1, 1);
	}

	ck_assert_int_eq(mst_queue_delete(bus, "q"), 0);
	ck_assert_int_eq(mst_queue_stat(bus, "q", &qi), MST_ENOTFOUND);
	ck_assert_int_eq(mst_queue_delete(bus, "q"), MST_ENOTFOUND);
	ck_assert_int_eq(mst_queue_list(bus, &list, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(list[0].name, "p");
	ck_assert_str_eq(list[1].name, "q.dead");
	ck_assert_str_eq(list[2].name, "q2");
	mst_free(list);
	/* the bus's totals are the others' only (a delayed one may be due by now) */
	ck_assert_int_eq(mst_stats_get(bus, &st), 0);
	ck_assert_uint_eq(st.queues, 3);
	ck_assert_uint_eq(st.ready + st.delayed, 9);
	ck_assert_uint_eq(st.leased, 3);
	/* a holder of a deleted message holds nothing */
	ck_assert_int_eq(mst_ack(bus, held[0]), MST_ENOTHELD);
	ck_assert_int_eq(mst_nack(bus, held[1], 0), MST_ENOTHELD);
	ck_assert_int_eq(mst_touch(bus, held[1], 0), MST_ENOTHELD);
	ck_assert_int_eq(mst_ack(bus, ready[0]), MST_ENOTHELD);
	ck_assert_int_eq(mst_peek(bus, "q", pk, 4, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(recv_rc(bus, "q", 0), MST_EEMPTY);
	/* its keys went: sent again, each is a new message of a new queue */
	again[0] = send_opt(bus, "q", "again-k1", "k1", 0);
	again[1] = send_opt(bus, "q", "again-k2", "k2", 0);
	again[2] = send_opt(bus, "q", "again-k3", "k3", 0);
	ck_assert_uint_ne(again[0], ready[0]);
	ck_assert_uint_ne(again[1], held[0]);
	ck_assert_uint_ne(again[2], delayed);
	ck_assert_uint_gt(again[0], delayed);
	assert_counts(bus, "q", 3, 0, 0);
	ck_assert_int_eq(mst_queue_stat(bus, "q", &qi), 0);
	ck_assert_uint_eq(qi.sent, 3);
	ck_assert_uint_eq(qi.acked, 0);
	drain_exactly(bus, "q", again, 3);
	/* the others kept their keys and every message */
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(
			mst_send(bus, others[i], "dup", 3, &(mst_send_opts){.key = "k1"}, &id), 0);
		ck_assert_uint_eq(id, mine[i][1]);
		ck_assert_int_eq(
			mst_send(bus, others[i], "dup", 3, &(mst_send_opts){.key = "k3"}, &id), 0);
		ck_assert_uint_eq(id, mine[i][3]);
		ck_assert_int_eq(mst_queue_stat(bus, others[i], &qi), 0);
		ck_assert_uint_eq(qi.ready + qi.delayed, 3);
		ck_assert_uint_eq(qi.leased, 1);
		ck_assert_uint_eq(qi.sent, 4);
		ck_assert_int_eq(mst_ack(bus, mine[i][0]), 0); /* still held */
		drain_exactly(bus, others[i], &mine[i][1], 3);
		assert_counts(bus, others[i], 0, 0, 0);
	}
	/* a queue with only its record (its policy); unknown queues; bad names */
	ck_assert_int_eq(mst_queue_config(bus, "bare", 3, 0, NULL), 0);
	ck_assert_int_eq(mst_queue_delete(bus, "bare"), 0);
	ck_assert_int_eq(mst_queue_stat(bus, "bare", &qi), MST_ENOTFOUND);
	ck_assert_int_eq(mst_queue_delete(bus, "never"), MST_ENOTFOUND);
	ck_assert_int_eq(mst_queue_delete(bus, "bad name"), MST_ENAME);
	ck_assert_int_eq(mst_queue_delete(bus, ""), MST_ENAME);
	ck_assert_int_eq(mst_queue_delete(bus, NULL), MST_ENAME);
	ck_assert_int_eq(mst_queue_delete(NULL, "q"), MST_EINVAL);
	mst_bus_close(bus);
}
END_TEST

#define BIG 3000

/* A queue of more messages and keys than one commit removes is deleted all the same:
 * nothing of it is left, and its neighbour keeps its own. */
START_TEST(test_queue_delete_large)
{
	static char payload[] = "payload";
	mst_bus *bus = unit_bus();
	const char **keys = calloc(BIG, sizeof *keys);
	char(*kbuf)[16] = calloc(BIG, sizeof *kbuf);
	mst_buf *bufs = calloc(BIG, sizeof *bufs);
	uint64_t *ids = calloc(BIG, sizeof *ids), id, last, near[2];
	mst_send_opts o = {0};
	mst_recv_opts ro = {0};
	mst_msg *msgs = calloc(100, sizeof *msgs);
	mst_queue_info qi;
	mst_stats st;
	size_t i, n;

	ck_assert(keys && kbuf && bufs && ids && msgs);
	for (i = 0; i < BIG; i++) {
		snprintf(kbuf[i], sizeof kbuf[i], "m.%04zu", i);
		keys[i] = kbuf[i];
		bufs[i].data = payload;
		bufs[i].len = sizeof payload - 1;
	}
	/* 2800 ready, 200 delayed, every one with a key; then 100 of them leased */
	for (i = 0; i < 2800; i += 700) {
		o.keys = keys + i;
		ck_assert_int_eq(mst_send_batch(bus, "big", bufs + i, 700, &o, ids + i), 0);
	}
	o.keys = keys + 2800;
	o.delay_ms = 60000;
	ck_assert_int_eq(mst_send_batch(bus, "big", bufs + 2800, 200, &o, ids + 2800), 0);
	ck_assert_int_eq(mst_recv(bus, "big", &ro, msgs, 100, &n), 0);
	ck_assert_uint_eq(n, 100);
	for (i = 0; i < n; i++)
		mst_msg_free(&msgs[i]);
	assert_counts(bus, "big", 2700, 100, 200);
	near[0] = send_opt(bus, "big2", "near", "m.0000", 0);
	near[1] = send_opt(bus, "bi", "near", "m.2999", 0);
	last = near[1];

	ck_assert_int_eq(mst_queue_delete(bus, "big"), 0);
	ck_assert_int_eq(mst_queue_stat(bus, "big", &qi), MST_ENOTFOUND);
	ck_assert_int_eq(mst_stats_get(bus, &st), 0);
	ck_assert_uint_eq(st.queues, 2);
	ck_assert_uint_eq(st.ready + st.leased + st.delayed, 2);
	ck_assert_int_eq(mst_ack(bus, ids[0]), MST_ENOTHELD);
	ck_assert_int_eq(mst_ack(bus, ids[99]), MST_ENOTHELD);
	/* every key went, from the first to the last */
	for (i = 0; i < BIG; i += 499) {
		ck_assert_int_eq(
			mst_send(bus, "big", "x", 1, &(mst_send_opts){.key = keys[i]}, &id), 0);
		ck_assert_uint_gt(id, last);
		last = id;
	}
	ck_assert_int_eq(mst_send(bus, "big", "x", 1, &(mst_send_opts){.key = keys[BIG - 1]}, &id),
			 0);
	ck_assert_uint_gt(id, last);
	/* the new queue holds only what was sent since */
	assert_counts(bus, "big", 8, 0, 0);
	ck_assert_int_eq(mst_peek(bus, "big", msgs, 100, &n), 0);
	ck_assert_uint_eq(n, 8);
	for (i = 0; i < n; i++) {
		ck_assert_uint_gt(msgs[i].id, near[1]);
		mst_msg_free(&msgs[i]);
	}
	drain_exactly(bus, "big2", &near[0], 1);
	drain_exactly(bus, "bi", &near[1], 1);
	free(keys);
	free(kbuf);
	free(bufs);
	free(ids);
	free(msgs);
	mst_bus_close(bus);
}
END_TEST

Suite *suite_queue(void)
{
	Suite *s = suite_create("queue");
	TCase *tb = tcase_create("basics");
	TCase *tl = tcase_create("leases");
	TCase *tp = tcase_create("processes");
	TCase *tf = tcase_create("full");
	TCase *td = tcase_create("delete");

	tcase_add_test(tb, test_send_recv_ack);
	tcase_add_test(tb, test_batch);
	tcase_add_test(tb, test_batch_large);
	tcase_add_test(tb, test_batch_all_or_none);
	tcase_add_test(tb, test_priority_order);
	tcase_add_test(tb, test_binary_payload);
	tcase_add_test(tb, test_payload_limits);
	tcase_add_test(tb, test_invalid_args);
	tcase_add_test(tb, test_recv_empty);
	tcase_add_test(tb, test_idempotency_key);
	tcase_add_test(tb, test_batch_keys);
	tcase_add_test(tb, test_delayed_send);
	tcase_add_test(tb, test_peek);
	tcase_add_test(tb, test_list_stat);
	tcase_set_timeout(tb, 30);
	suite_add_tcase(s, tb);
	tcase_add_test(tl, test_ack_errors);
	tcase_add_test(tl, test_nack_redeliver);
	tcase_add_test(tl, test_nack_delay);
	tcase_add_test(tl, test_touch);
	tcase_add_test(tl, test_lease_expiry);
	tcase_add_test(tl, test_max_attempts);
	tcase_set_timeout(tl, 30);
	suite_add_tcase(s, tl);
	tcase_add_test(tp, test_recv_wakes_child);
	tcase_add_test(tp, test_dead_holder_redelivered);
	tcase_add_test(tp, test_reaped_holder_redelivered);
	tcase_set_timeout(tp, 30);
	suite_add_tcase(s, tp);
	tcase_add_test(tf, test_bus_full);
	tcase_add_test(tf, test_settle_batch);
	tcase_add_test(tf, test_full_send_waits_for_room);
	tcase_set_timeout(tf, 30);
	suite_add_tcase(s, tf);
	tcase_add_test(td, test_queue_delete);
	tcase_add_test(td, test_queue_delete_large);
	tcase_set_timeout(td, 60);
	suite_add_tcase(s, td);
	return s;
}
