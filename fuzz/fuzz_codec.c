/*
 * fuzz_codec.c - the record decoders of the local store (codec.h) on untrusted bytes.
 *
 * Every input goes to every decoder. A decoder must reject it or accept it in
 * canonical form: re-encoding the decoded record gives back the input byte for byte
 * (the reserved bytes of a message header aside), and the names it yields are names a
 * writer could have stored. The input is also read as field values for an
 * encode -> decode round trip of each record type, whose truncations and extensions
 * must be rejected.
 */
#include "codec.h"
#include "fuzz.h"
#include "muster.h"

#include <string.h>

#define MREC_HDR 16 /* the fixed header of an encoded message record */

static const char name_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                 "0123456789._:-";

/* Fills name with a valid name of 1..MST_NAME_MAX characters (or "" if allow_empty
 * and the input says so) taken from the input. */
static void fuzz_name(struct fuzz_in *in, char *name, int allow_empty)
{
	size_t n = fuzz_u8(in) % (MST_NAME_MAX + 1), i;

	if (n == 0 && !allow_empty)
		n = 1;
	for (i = 0; i < n; i++)
		name[i] = name_chars[fuzz_u8(in) % (sizeof name_chars - 1)];
	name[n] = 0;
}

static void decode_qrec(const uint8_t *data, size_t size)
{
	struct qrec q;
	unsigned char *re;

	if (codec_qrec_decode(data, size, &q) < 0)
		return;
	CHECK(q.ver == REC_VERSION);
	CHECK(q.dlq[0] == 0 || mst_name_check(q.dlq) == 0);
	CHECK(codec_qrec_size(&q) == size);
	re = malloc(size);
	CHECK(re);
	codec_qrec_encode(&q, re);
	CHECK(memcmp(re, data, size) == 0);
	free(re);
}

static void decode_mrec(const uint8_t *data, size_t size)
{
	struct mrec m;
	unsigned char *re;

	if (codec_mrec_decode(data, size, &m) < 0)
		return;
	CHECK(m.prio <= 9);
	CHECK(m.qlen >= 1 && m.qlen <= MST_NAME_MAX);
	CHECK((const uint8_t *)m.queue == data + MREC_HDR);
	CHECK((const uint8_t *)m.data == data + MREC_HDR + m.qlen);
	CHECK(MREC_HDR + m.qlen + m.len == size);
	/* readers copy the queue name into a C string: a NUL would name another queue */
	CHECK(memchr(m.queue, 0, m.qlen) == NULL);
	CHECK(codec_mrec_size(m.qlen, m.len) == size);
	re = malloc(size);
	CHECK(re);
	codec_mrec_encode(re, m.prio, m.sent_ms, m.queue, m.qlen, m.data, m.len);
	/* bytes 4..7 are reserved: written as zero, not checked on reading */
	CHECK(memcmp(re, data, 4) == 0);
	CHECK(memcmp(re + 8, data + 8, size - 8) == 0);
	free(re);
}

static void decode_lrec(const uint8_t *data, size_t size)
{
	struct lrec l;
	unsigned char re[LREC_SIZE];

	if (codec_lrec_decode(data, size, &l) < 0)
		return;
	CHECK(size == LREC_SIZE);
	codec_lrec_encode(&l, re);
	CHECK(memcmp(re, data, LREC_SIZE) == 0);
}

static void decode_trec(const uint8_t *data, size_t size)
{
	struct trec t;
	unsigned char re[TREC_SIZE];

	if (codec_trec_decode(data, size, &t) < 0)
		return;
	CHECK(size == TREC_SIZE);
	CHECK(t.next_seq != 0 && t.max_age_ms >= 0);
	codec_trec_encode(&t, re);
	CHECK(memcmp(re, data, TREC_SIZE) == 0);
}

/* buf holds a valid record of len bytes: checks that dec rejects every shorter prefix
 * of it and the record with one more byte. */
static void check_exact(const unsigned char *buf, size_t len,
                        int (*dec)(const void *, size_t, void *))
{
	unsigned char *cut;
	size_t n;

	for (n = 0; n < len; n++) {
		/* a copy of exactly n bytes, so that a read past n is caught */
		cut = malloc(n ? n : 1);
		CHECK(cut);
		memcpy(cut, buf, n);
		CHECK(dec(cut, n, NULL) < 0);
		free(cut);
	}
	cut = malloc(len + 1);
	CHECK(cut);
	memcpy(cut, buf, len);
	cut[len] = 0;
	CHECK(dec(cut, len + 1, NULL) < 0);
	free(cut);
}

static int dec_qrec(const void *in, size_t len, void *unused)
{
	struct qrec q;

	return codec_qrec_decode(in, len, &q);
}

static int dec_lrec(const void *in, size_t len, void *unused)
{
	struct lrec l;

	return codec_lrec_decode(in, len, &l);
}

static int dec_trec(const void *in, size_t len, void *unused)
{
	struct trec t;

	return codec_trec_decode(in, len, &t);
}

static void roundtrip_qrec(struct fuzz_in *in)
{
	struct qrec q, d;
	unsigned char *buf;
	size_t len;

	memset(&q, 0, sizeof q);
	q.max_attempts = (uint32_t)fuzz_u64(in);
	q.lease_ms = (int64_t)fuzz_u64(in);
	q.ready = fuzz_u64(in);
	q.leased = fuzz_u64(in);
	q.delayed = fuzz_u64(in);
	q.dead = fuzz_u64(in);
	q.sent = fuzz_u64(in);
	q.acked = fuzz_u64(in);
	q.redelivered = fuzz_u64(in);
	q.check_ns = (int64_t)fuzz_u64(in);
	fuzz_name(in, q.dlq, 1);
	len = codec_qrec_size(&q);
	buf = malloc(len);
	CHECK(buf);
	codec_qrec_encode(&q, buf);
	CHECK(codec_qrec_decode(buf, len, &d) == 0);
	CHECK(d.ver == REC_VERSION && d.max_attempts == q.max_attempts);
	CHECK(d.lease_ms == q.lease_ms && d.check_ns == q.check_ns);
	CHECK(d.ready == q.ready && d.leased == q.leased && d.delayed == q.delayed);
	CHECK(d.dead == q.dead && d.sent == q.sent && d.acked == q.acked);
	CHECK(d.redelivered == q.redelivered && strcmp(d.dlq, q.dlq) == 0);
	check_exact(buf, len, dec_qrec);
	free(buf);
}

static void roundtrip_mrec(struct fuzz_in *in)
{
	char queue[MST_NAME_MAX + 1];
	uint8_t prio = fuzz_u8(in) % 10;
	int64_t sent = (int64_t)fuzz_u64(in);
	size_t qlen, plen = fuzz_u8(in), n, len;
	unsigned char *buf, *cut;
	struct mrec m;

	fuzz_name(in, queue, 0);
	qlen = strlen(queue);
	if (plen > in->n)
		plen = in->n;
	len = codec_mrec_size(qlen, plen);
	buf = malloc(len);
	CHECK(buf);
	codec_mrec_encode(buf, prio, sent, queue, qlen, in->p, plen);
	CHECK(codec_mrec_decode(buf, len, &m) == 0);
	CHECK(m.prio == prio && m.sent_ms == sent);
	CHECK(m.qlen == qlen && memcmp(m.queue, queue, qlen) == 0);
	CHECK(m.len == plen && (plen == 0 || memcmp(m.data, in->p, plen) == 0));
	/* any cut inside the header or the queue name is rejected */
	for (n = 0; n < MREC_HDR + qlen; n++) {
		cut = malloc(n ? n : 1);
		CHECK(cut);
		memcpy(cut, buf, n);
		CHECK(codec_mrec_decode(cut, n, &m) < 0);
		free(cut);
	}
	free(buf);
	in->p += plen;
	in->n -= plen;
}

static void roundtrip_lrec(struct fuzz_in *in)
{
	struct lrec l, d;
	unsigned char buf[LREC_SIZE];

	l.attempt = (uint32_t)fuzz_u64(in);
	l.pid = (int32_t)(uint32_t)fuzz_u64(in);
	l.start = fuzz_u64(in);
	l.due_ns = (int64_t)fuzz_u64(in);
	l.ns = fuzz_u64(in);
	codec_lrec_encode(&l, buf);
	CHECK(codec_lrec_decode(buf, sizeof buf, &d) == 0);
	CHECK(d.attempt == l.attempt && d.pid == l.pid && d.start == l.start &&
	      d.due_ns == l.due_ns && d.ns == l.ns);
	check_exact(buf, sizeof buf, dec_lrec);
}

static void roundtrip_trec(struct fuzz_in *in)
{
	struct trec t, d;
	unsigned char buf[TREC_SIZE];

	t.next_seq = fuzz_u64(in) | 1;
	t.max_count = fuzz_u64(in);
	t.max_age_ms = (int64_t)(fuzz_u64(in) >> 1);
	codec_trec_encode(&t, buf);
	CHECK(codec_trec_decode(buf, sizeof buf, &d) == 0);
	CHECK(d.next_seq == t.next_seq && d.max_count == t.max_count &&
	      d.max_age_ms == t.max_age_ms);
	check_exact(buf, sizeof buf, dec_trec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};

	decode_qrec(data, size);
	decode_mrec(data, size);
	decode_lrec(data, size);
	decode_trec(data, size);

	switch (fuzz_u8(&in) % 4) {
	case 0:
		roundtrip_qrec(&in);
		break;
	case 1:
		roundtrip_mrec(&in);
		break;
	case 2:
		roundtrip_lrec(&in);
		break;
	default:
		roundtrip_trec(&in);
		break;
	}
	return 0;
}
