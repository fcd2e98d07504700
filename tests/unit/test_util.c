/*
 * test_util.c - names, error texts, clocks and the record codec of the local store.
 */
#define _GNU_SOURCE
#include "unit.h"

#include "local/codec.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- names ----------------------------------------------------------------------- */

START_TEST(test_name_valid)
{
	char n128[MST_NAME_MAX + 1];

	ck_assert_int_eq(mst_name_check("a"), 0);
	ck_assert_int_eq(mst_name_check("Z"), 0);
	ck_assert_int_eq(mst_name_check("0"), 0);
	ck_assert_int_eq(mst_name_check("jobs.high-prio_2:x"), 0);
	ck_assert_int_eq(mst_name_check("..."), 0);
	ck_assert_int_eq(mst_name_check("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					"0123456789._:-"),
			 0);
	memset(n128, 'n', MST_NAME_MAX);
	n128[MST_NAME_MAX] = 0;
	ck_assert_int_eq(mst_name_check(n128), 0);
}
END_TEST

START_TEST(test_name_invalid)
{
	static const char *const bad[] = {
		"",    " ",    "a b",  "a/b", "/",    "a\tb", "a\n", "caf\xc3\xa9",
		"a*",  "a?",   "a,b",  "a;b", "a=b",  "a\\b", "a@b", "a+b",
		"(a)", "\x7f", "\x01", "a'b", "a\"b",
	};
	char n129[MST_NAME_MAX + 2], n300[301];
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(mst_name_check(bad[i]) == MST_ENAME, "name \"%s\" accepted", bad[i]);
	ck_assert_int_eq(mst_name_check(NULL), MST_ENAME);
	memset(n129, 'n', MST_NAME_MAX + 1);
	n129[MST_NAME_MAX + 1] = 0;
	ck_assert_int_eq(mst_name_check(n129), MST_ENAME);
	memset(n300, 'x', 300);
	n300[300] = 0;
	ck_assert_int_eq(mst_name_check(n300), MST_ENAME);
	/* a bad character at the last allowed place */
	n129[MST_NAME_MAX - 1] = '/';
	n129[MST_NAME_MAX] = 0;
	ck_assert_int_eq(mst_name_check(n129), MST_ENAME);
}
END_TEST

/* --- errors ---------------------------------------------------------------------- */

START_TEST(test_errors_table)
{
	static const struct {
		int code;
		const char *name, *msg;
	} tab[] = {
#define X(name, value, msg) {value, #name, msg},
		MST_ERRORS(X)
#undef X
	};
	size_t i, j, n = sizeof tab / sizeof tab[0];

	ck_assert_uint_eq(n, 17);
	for (i = 0; i < n; i++) {
		ck_assert_int_le(tab[i].code, -1000);
		ck_assert_str_eq(mst_strerror(tab[i].code), tab[i].msg);
		ck_assert_str_eq(mst_errname(tab[i].code), tab[i].name);
		for (j = 0; j < i; j++)
			ck_assert_int_ne(tab[i].code, tab[j].code);
	}
	ck_assert_str_eq(mst_errname(MST_EFULL), "MST_EFULL");
	ck_assert_str_eq(mst_strerror(MST_EFULL), "bus is full");
	ck_assert_str_eq(mst_errname(MST_ENOTHELD), "MST_ENOTHELD");
}
END_TEST

START_TEST(test_errors_errno)
{
	static const int errs[] = {ENOENT, EACCES, ENOSPC, EAGAIN, EINVAL, ENOMEM, EIO};
	static const char *const names[] = {"ENOENT", "EACCES", "ENOSPC", "EAGAIN",
					    "EINVAL", "ENOMEM", "EIO"};
	static const int odd[] = {1,	 42,	  999,	   4096,    12345, -4096,
				  -5000, -999999, INT_MIN, INT_MAX, -1017, -1999};
	size_t i;

	for (i = 0; i < sizeof errs / sizeof errs[0]; i++) {
		ck_assert_str_eq(mst_strerror(-errs[i]), strerror(errs[i]));
		ck_assert_str_eq(mst_errname(-errs[i]), names[i]);
	}
	ck_assert_str_eq(mst_errname(0), "OK");
	ck_assert_str_eq(mst_strerror(0), "success");
	for (i = 0; i < sizeof odd / sizeof odd[0]; i++) {
		const char *m = mst_strerror(odd[i]), *nm = mst_errname(odd[i]);
		ck_assert_ptr_nonnull(m);
		ck_assert_ptr_nonnull(nm);
		ck_assert_int_gt((int)strlen(m), 0);
		ck_assert_int_gt((int)strlen(nm), 0);
	}
	/* errno values and muster codes never collide */
	ck_assert_str_ne(mst_strerror(MST_EINVAL), strerror(EINVAL));
}
END_TEST

START_TEST(test_clock)
{
	int64_t a = mst_now_ns(), b;
	int i;

	ck_assert_int_gt(a, 0);
	for (i = 0; i < 1000; i++) {
		b = mst_now_ns();
		ck_assert_int_ge(b, a);
		a = b;
	}
}
END_TEST

/* --- codec ----------------------------------------------------------------------- */

/* A small deterministic generator, so that a failure reproduces. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* A copy of len bytes of p in a buffer of exactly len bytes (ASan sees overreads). */
static void *exact(const void *p, size_t len)
{
	void *b = malloc(len ? len : 1);

	ck_assert_ptr_nonnull(b);
	if (len)
		memcpy(b, p, len);
	return b;
}

START_TEST(test_codec_qrec)
{
	struct qrec q = {0}, d;
	unsigned char buf[256];
	size_t sz, cut;
	void *e;

	q.max_attempts = 7;
	q.lease_ms = 12345;
	q.ready = 1;
	q.leased = 2;
	q.delayed = 3;
	q.dead = 4;
	q.sent = 5;
	q.acked = 6;
	q.redelivered = 0xfedcba9876543210ull;
	q.check_ns = INT64_MAX;
	snprintf(q.dlq, sizeof q.dlq, "jobs.dead");
	sz = codec_qrec_size(&q);
	ck_assert_uint_lt(sz, sizeof buf);
	codec_qrec_encode(&q, buf);
	e = exact(buf, sz);
	memset(&d, 0xa5, sizeof d);
	ck_assert_int_eq(codec_qrec_decode(e, sz, &d), 0);
	ck_assert_uint_eq(d.max_attempts, 7);
	ck_assert_int_eq(d.lease_ms, 12345);
	ck_assert_uint_eq(d.ready, 1);
	ck_assert_uint_eq(d.leased, 2);
	ck_assert_uint_eq(d.delayed, 3);
	ck_assert_uint_eq(d.dead, 4);
	ck_assert_uint_eq(d.sent, 5);
	ck_assert_uint_eq(d.acked, 6);
	ck_assert_uint_eq(d.redelivered, 0xfedcba9876543210ull);
	ck_assert_int_eq(d.check_ns, INT64_MAX);
	ck_assert_str_eq(d.dlq, "jobs.dead");
	free(e);

	/* every truncation and one extra byte are rejected */
	for (cut = 0; cut < sz; cut++) {
		e = exact(buf, cut);
		ck_assert_msg(codec_qrec_decode(e, cut, &d) == MST_ECORRUPT, "qrec cut %zu", cut);
		free(e);
	}
	buf[sz] = 'x';
	e = exact(buf, sz + 1);
	ck_assert_int_eq(codec_qrec_decode(e, sz + 1, &d), MST_ECORRUPT);
	free(e);

	/* an empty dead-letter name is fine */
	q.dlq[0] = 0;
	sz = codec_qrec_size(&q);
	codec_qrec_encode(&q, buf);
	ck_assert_int_eq(codec_qrec_decode(buf, sz, &d), 0);
	ck_assert_str_eq(d.dlq, "");

	/* wrong version, a dead-letter length beyond the limit, an invalid name */
	snprintf(q.dlq, sizeof q.dlq, "dl");
	sz = codec_qrec_size(&q);
	codec_qrec_encode(&q, buf);
	buf[0] ^= 0xff;
	ck_assert_int_eq(codec_qrec_decode(buf, sz, &d), MST_ECORRUPT);
	codec_qrec_encode(&q, buf);
	memset(buf + 80, 0xff, 8); /* dead-letter length */
	ck_assert_int_eq(codec_qrec_decode(buf, sz, &d), MST_ECORRUPT);
	codec_qrec_encode(&q, buf);
	buf[sz - 1] = '/';
	ck_assert_int_eq(codec_qrec_decode(buf, sz, &d), MST_ECORRUPT);
	/* a NUL inside the name would cut it short */
	codec_qrec_encode(&q, buf);
	buf[sz - 1] = 0;
	ck_assert_int_eq(codec_qrec_decode(buf, sz, &d), MST_ECORRUPT);
}
END_TEST

START_TEST(test_codec_mrec)
{
	static const unsigned char payload[] = {0, 1, 2, 0, 0xff, 'a', 0, 'b'};
	unsigned char buf[256];
	struct mrec m;
	size_t sz, cut;
	void *e;

	sz = codec_mrec_size(4, sizeof payload);
	codec_mrec_encode(buf, 9, 1700000000123, "jobs", 4, payload, sizeof payload);
	e = exact(buf, sz);
	ck_assert_int_eq(codec_mrec_decode(e, sz, &m), 0);
	ck_assert_uint_eq(m.prio, 9);
	ck_assert_int_eq(m.sent_ms, 1700000000123);
	ck_assert_uint_eq(m.qlen, 4);
	ck_assert_mem_eq(m.queue, "jobs", 4);
	ck_assert_uint_eq(m.len, sizeof payload);
	ck_assert_mem_eq(m.data, payload, sizeof payload);
	free(e);

	/* an empty payload */
	sz = codec_mrec_size(1, 0);
	codec_mrec_encode(buf, 0, -1, "q", 1, NULL, 0);
	ck_assert_int_eq(codec_mrec_decode(buf, sz, &m), 0);
	ck_assert_uint_eq(m.len, 0);
	ck_assert_uint_eq(m.qlen, 1);
	ck_assert_int_eq(m.sent_ms, -1);

	/* cuts into the header or the queue name are corrupt */
	sz = codec_mrec_size(4, sizeof payload);
	codec_mrec_encode(buf, 3, 5, "jobs", 4, payload, sizeof payload);
	for (cut = 0; cut < sz - sizeof payload; cut++) {
		e = exact(buf, cut);
		ck_assert_msg(codec_mrec_decode(e, cut, &m) == MST_ECORRUPT, "mrec cut %zu", cut);
		free(e);
	}
	/* a cut in the payload just shortens the payload: never past the end */
	e = exact(buf, sz - 3);
	ck_assert_int_eq(codec_mrec_decode(e, sz - 3, &m), 0);
	ck_assert_uint_eq(m.len, sizeof payload - 3);
	ck_assert_ptr_eq((const char *)m.data + m.len, (const char *)e + sz - 3);
	free(e);

	/* version, priority over 9, queue length 0 or over the name limit */
	buf[0] = 2;
	ck_assert_int_eq(codec_mrec_decode(buf, sz, &m), MST_ECORRUPT);
	buf[0] = REC_VERSION;
	buf[1] = 10;
	ck_assert_int_eq(codec_mrec_decode(buf, sz, &m), MST_ECORRUPT);
	buf[1] = 3;
	buf[2] = 0;
	buf[3] = 0;
	ck_assert_int_eq(codec_mrec_decode(buf, sz, &m), MST_ECORRUPT);
	buf[2] = MST_NAME_MAX + 1;
	ck_assert_int_eq(codec_mrec_decode(buf, sz, &m), MST_ECORRUPT);
	buf[2] = 0xff;
	buf[3] = 0xff;
	ck_assert_int_eq(codec_mrec_decode(buf, sz, &m), MST_ECORRUPT);
	/* a NUL inside the queue name would make it name another queue */
	codec_mrec_encode(buf, 3, 5, "jo\0s", 4, payload, sizeof payload);
	ck_assert_int_eq(codec_mrec_decode(buf, sz, &m), MST_ECORRUPT);
}
END_TEST

START_TEST(test_codec_lrec_trec)
{
	struct lrec l = {3, 4242, 987654321ull, 123456789012345, 4026531836ull}, ld;
	struct trec t = {77, 3, 60000}, td;
	unsigned char buf[64];
	size_t cut;

	codec_lrec_encode(&l, buf);
	ck_assert_int_eq(codec_lrec_decode(buf, LREC_SIZE, &ld), 0);
	ck_assert_uint_eq(ld.attempt, 3);
	ck_assert_int_eq(ld.pid, 4242);
	ck_assert_uint_eq(ld.start, 987654321ull);
	ck_assert_int_eq(ld.due_ns, 123456789012345);
	ck_assert_uint_eq(ld.ns, 4026531836ull);
	for (cut = 0; cut < LREC_SIZE + 8; cut++)
		if (cut != LREC_SIZE)
			ck_assert_int_eq(codec_lrec_decode(buf, cut, &ld), MST_ECORRUPT);

	codec_trec_encode(&t, buf);
	ck_assert_int_eq(codec_trec_decode(buf, TREC_SIZE, &td), 0);
	ck_assert_uint_eq(td.next_seq, 77);
	ck_assert_uint_eq(td.max_count, 3);
	ck_assert_int_eq(td.max_age_ms, 60000);
	for (cut = 0; cut < TREC_SIZE + 8; cut++)
		if (cut != TREC_SIZE)
			ck_assert_int_eq(codec_trec_decode(buf, cut, &td), MST_ECORRUPT);
	t.next_seq = 0;
	codec_trec_encode(&t, buf);
	ck_assert_int_eq(codec_trec_decode(buf, TREC_SIZE, &td), MST_ECORRUPT);
	t.next_seq = 1;
	t.max_age_ms = -5;
	codec_trec_encode(&t, buf);
	ck_assert_int_eq(codec_trec_decode(buf, TREC_SIZE, &td), MST_ECORRUPT);
}
END_TEST

START_TEST(test_codec_busconf)
{
	struct busconf c = {1, 64ull << 20, 1, 1}, d;
	char text[512];
	int n;

	n = codec_busconf_format(&c, text, sizeof text);
	ck_assert_int_gt(n, 0);
	ck_assert_uint_eq(strlen(text), (size_t)n);
	ck_assert_ptr_null(strstr(text, "shards")); /* one store: no line */
	ck_assert_int_eq(codec_busconf_parse(text, (size_t)n, &d), 0);
	ck_assert_uint_eq(d.format, 1);
	ck_assert_uint_eq(d.quota, 64ull << 20);
	ck_assert_int_eq(d.writemap, 1);
	ck_assert_uint_eq(d.shards, 1);
	/* shards: kept when more than one, refused out of 1..16 */
	c.shards = 8;
	n = codec_busconf_format(&c, text, sizeof text);
	ck_assert_int_eq(codec_busconf_parse(text, (size_t)n, &d), 0);
	ck_assert_uint_eq(d.shards, 8);
	ck_assert_int_eq(codec_busconf_parse("format=1\nquota=1\nwritemap=0\nshards=0\n", 38, &d),
			 MST_ECORRUPT);
	ck_assert_int_eq(codec_busconf_parse("format=1\nquota=1\nwritemap=0\nshards=17\n", 39, &d),
			 MST_ECORRUPT);
	c.shards = 1;
	/* too small a buffer is an error, not a truncated file */
	ck_assert_int_eq(codec_busconf_format(&c, text, 10), MST_EINVAL);

	/* unknown keys, comments and blank lines are ignored; the order is free */
	snprintf(text, sizeof text, "\n# hi\nwritemap=0\nfuture=1\nquota=4096\nformat=1");
	ck_assert_int_eq(codec_busconf_parse(text, strlen(text), &d), 0);
	ck_assert_uint_eq(d.quota, 4096);
	ck_assert_int_eq(d.writemap, 0);

	static const char *const bad[] = {
		"",
		"format=1\nquota=1\n",				       /* writemap missing */
		"format=1\nwritemap=1\n",			       /* quota missing */
		"quota=1\nwritemap=1\n",			       /* format missing */
		"format=1\nquota=1\nwritemap=2\n",		       /* writemap out of range */
		"format=1001\nquota=1\nwritemap=1\n",		       /* format out of range */
		"format=1\nquota=\nwritemap=1\n",		       /* empty number */
		"format=1\nquota=-1\nwritemap=1\n",		       /* sign */
		"format=1\nquota=1x\nwritemap=1\n",		       /* trailing junk */
		"format=1\nquota 1\nwritemap=1\n",		       /* no '=' */
		"format=1\nquota=18446744073709551616\nwritemap=1\n",  /* overflow */
		"format=1\nquota=123456789012345678901\nwritemap=1\n", /* too long */
		"\x01\x02garbage\xff\n",
	};
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		void *e = exact(bad[i], strlen(bad[i]));
		ck_assert_msg(codec_busconf_parse(e, strlen(bad[i]), &d) == MST_ECORRUPT,
			      "bus.conf accepted: %s", bad[i]);
		free(e);
	}
	/* the largest quota still parses */
	snprintf(text, sizeof text, "format=1\nquota=18446744073709551615\nwritemap=1\n");
	ck_assert_int_eq(codec_busconf_parse(text, strlen(text), &d), 0);
	ck_assert_uint_eq(d.quota, UINT64_MAX);
}
END_TEST

/* Random bytes into every decoder: no crash, no read past the end (ASan), and any
 * accepted record is self-consistent. */
START_TEST(test_codec_garbage)
{
	unsigned char src[300];
	int round;

	for (round = 0; round < 4000; round++) {
		size_t len = (size_t)(rng() % sizeof src), i;
		struct qrec q;
		struct mrec m;
		struct lrec l;
		struct trec t;
		struct busconf c;
		void *e;

		for (i = 0; i < len; i++)
			src[i] = (unsigned char)rng();
		/* make well-formed headers likely enough to reach the deeper checks */
		if (round % 3 == 0 && len > 4) {
			src[0] = REC_VERSION;
			src[1] = (unsigned char)(rng() % 12);
			src[2] = (unsigned char)(rng() % 140);
			src[3] = 0;
		}
		e = exact(src, len);
		if (codec_qrec_decode(e, len, &q) == 0) {
			ck_assert_uint_le(strlen(q.dlq), MST_NAME_MAX);
			ck_assert_uint_eq(len, 88 + strlen(q.dlq));
		}
		if (codec_mrec_decode(e, len, &m) == 0) {
			ck_assert_uint_le(m.prio, 9);
			ck_assert_uint_ge(m.qlen, 1);
			ck_assert_uint_le(m.qlen, MST_NAME_MAX);
			ck_assert_uint_eq(16 + m.qlen + m.len, len);
		}
		if (codec_lrec_decode(e, len, &l) == 0)
			ck_assert_uint_eq(len, LREC_SIZE);
		if (codec_trec_decode(e, len, &t) == 0) {
			ck_assert_uint_eq(len, TREC_SIZE);
			ck_assert_uint_ne(t.next_seq, 0);
		}
		if (codec_busconf_parse(e, len, &c) == 0)
			ck_assert_int_le(c.writemap, 1);
		free(e);
	}
}
END_TEST

Suite *suite_util(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("names_errors");
	TCase *tcc = tcase_create("codec");

	tcase_add_test(tc, test_name_valid);
	tcase_add_test(tc, test_name_invalid);
	tcase_add_test(tc, test_errors_table);
	tcase_add_test(tc, test_errors_errno);
	tcase_add_test(tc, test_clock);
	suite_add_tcase(s, tc);
	tcase_add_test(tcc, test_codec_qrec);
	tcase_add_test(tcc, test_codec_mrec);
	tcase_add_test(tcc, test_codec_lrec_trec);
	tcase_add_test(tcc, test_codec_busconf);
	tcase_add_test(tcc, test_codec_garbage);
	tcase_set_timeout(tcc, 30);
	suite_add_tcase(s, tcc);
	return s;
}
