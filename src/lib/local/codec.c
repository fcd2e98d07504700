/*
 * codec.c - encoding and checked decoding of the local store's records.
 *
 * Layouts are little-endian fixed-width fields written with memcpy (no alignment or
 * padding assumptions). The store lives on one machine, but decoding still checks
 * every length so that a damaged store yields MST_ECORRUPT instead of a crash.
 */
#include "codec.h"

#include "muster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QREC_FIXED 88 /* 4+4+8 + 7*8 + 8 + 8 (dlq length) */
#define MREC_FIXED 16 /* ver, prio, qlen(2), pad(4), sent_ms(8) */

static void put32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, 4);
}
static void put64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, 8);
}
static uint32_t get32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}
static uint64_t get64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

size_t codec_qrec_size(const struct qrec *q)
{
	return QREC_FIXED + strlen(q->dlq);
}

void codec_qrec_encode(const struct qrec *q, void *out)
{
	unsigned char *p = out;
	size_t dl = strlen(q->dlq);

	put32(p, REC_VERSION);
	put32(p + 4, q->max_attempts);
	put64(p + 8, (uint64_t)q->lease_ms);
	put64(p + 16, q->ready);
	put64(p + 24, q->leased);
	put64(p + 32, q->delayed);
	put64(p + 40, q->dead);
	put64(p + 48, q->sent);
	put64(p + 56, q->acked);
	put64(p + 64, q->redelivered);
	put64(p + 72, (uint64_t)q->check_ns);
	put64(p + 80, dl);
	memcpy(p + QREC_FIXED, q->dlq, dl);
}

int codec_qrec_decode(const void *in, size_t len, struct qrec *q)
{
	const unsigned char *p = in;
	uint64_t dl;

	if (len < QREC_FIXED || get32(p) != REC_VERSION)
		return MST_ECORRUPT;
	dl = get64(p + 80);
	if (dl > MST_NAME_MAX || len != QREC_FIXED + dl)
		return MST_ECORRUPT;
	q->ver = REC_VERSION;
	q->max_attempts = get32(p + 4);
	q->lease_ms = (int64_t)get64(p + 8);
	q->ready = get64(p + 16);
	q->leased = get64(p + 24);
	q->delayed = get64(p + 32);
	q->dead = get64(p + 40);
	q->sent = get64(p + 48);
	q->acked = get64(p + 56);
	q->redelivered = get64(p + 64);
	q->check_ns = (int64_t)get64(p + 72);
	memcpy(q->dlq, p + QREC_FIXED, dl);
	q->dlq[dl] = 0;
	/* a NUL inside would cut the name short: the check must see all dl bytes */
	if (dl && (strlen(q->dlq) != dl || mst_name_check(q->dlq) < 0))
		return MST_ECORRUPT;
	return 0;
}

size_t codec_mrec_size(size_t qlen, size_t len)
{
	return MREC_FIXED + qlen + len;
}

void codec_mrec_encode(void *out, uint8_t prio, int64_t sent_ms, const char *queue, size_t qlen,
		       const void *data, size_t len)
{
	unsigned char *p = out;

	p[0] = REC_VERSION;
	p[1] = prio;
	p[2] = (unsigned char)(qlen & 0xff);
	p[3] = (unsigned char)(qlen >> 8);
	put32(p + 4, 0);
	put64(p + 8, (uint64_t)sent_ms);
	memcpy(p + MREC_FIXED, queue, qlen);
	if (len)
		memcpy(p + MREC_FIXED + qlen, data, len);
}

int codec_mrec_decode(const void *in, size_t len, struct mrec *m)
{
	const unsigned char *p = in;
	size_t qlen;

	if (len < MREC_FIXED || p[0] != REC_VERSION)
		return MST_ECORRUPT;
	qlen = (size_t)p[2] | ((size_t)p[3] << 8);
	if (qlen == 0 || qlen > MST_NAME_MAX || len < MREC_FIXED + qlen || p[1] > 9)
		return MST_ECORRUPT;
	/* readers copy the name into a C string: a NUL in it would name another queue */
	if (memchr(p + MREC_FIXED, 0, qlen))
		return MST_ECORRUPT;
	m->prio = p[1];
	m->sent_ms = (int64_t)get64(p + 8);
	m->queue = (const char *)p + MREC_FIXED;
	m->qlen = qlen;
	m->data = p + MREC_FIXED + qlen;
	m->len = len - MREC_FIXED - qlen;
	return 0;
}

void codec_lrec_encode(const struct lrec *l, void *out)
{
	unsigned char *p = out;

	put32(p, l->attempt);
	put32(p + 4, (uint32_t)l->pid);
	put64(p + 8, l->start);
	put64(p + 16, (uint64_t)l->due_ns);
	put64(p + 24, l->ns);
}

int codec_lrec_decode(const void *in, size_t len, struct lrec *l)
{
	const unsigned char *p = in;

	if (len != LREC_SIZE)
		return MST_ECORRUPT;
	l->attempt = get32(p);
	l->pid = (int32_t)get32(p + 4);
	l->start = get64(p + 8);
	l->due_ns = (int64_t)get64(p + 16);
	l->ns = get64(p + 24);
	return 0;
}

void codec_trec_encode(const struct trec *t, void *out)
{
	unsigned char *p = out;

	put64(p, t->next_seq);
	put64(p + 8, t->max_count);
	put64(p + 16, (uint64_t)t->max_age_ms);
}

int codec_trec_decode(const void *in, size_t len, struct trec *t)
{
	const unsigned char *p = in;

	if (len != TREC_SIZE)
		return MST_ECORRUPT;
	t->next_seq = get64(p);
	t->max_count = get64(p + 8);
	t->max_age_ms = (int64_t)get64(p + 16);
	if (t->next_seq == 0 || t->max_age_ms < 0)
		return MST_ECORRUPT;
	return 0;
}

/* Parses an unsigned decimal of exactly len bytes. */
static int parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 20)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

int codec_busconf_parse(const char *text, size_t len, struct busconf *c)
{
	size_t i = 0;
	int seen = 0;

	memset(c, 0, sizeof *c);
	while (i < len) {
		size_t end = i, eq;
		uint64_t v;

		while (end < len && text[end] != '\n')
			end++;
		if (end == i || text[i] == '#') {
			i = end + 1;
			continue;
		}
		for (eq = i; eq < end && text[eq] != '='; eq++)
			;
		if (eq == end || parse_u64(text + eq + 1, end - eq - 1, &v) < 0)
			return MST_ECORRUPT;
		if (eq - i == 6 && !memcmp(text + i, "format", 6)) {
			if (v > 1000)
				return MST_ECORRUPT;
			c->format = (unsigned)v;
			seen |= 1;
		} else if (eq - i == 5 && !memcmp(text + i, "quota", 5)) {
			c->quota = v;
			seen |= 2;
		} else if (eq - i == 6 && !memcmp(text + i, "shards", 6)) {
			if (v < 1 || v > MST_SHARDS_MAX)
				return MST_ECORRUPT;
			c->shards = (unsigned)v;
		} else if (eq - i == 8 && !memcmp(text + i, "writemap", 8)) {
			if (v > 1)
				return MST_ECORRUPT;
			c->writemap = (int)v;
			seen |= 4;
		}
		i = end + 1;
	}
	if (!c->shards)
		c->shards = 1;
	return seen == 7 ? 0 : MST_ECORRUPT;
}

int codec_busconf_format(const struct busconf *c, char *out, size_t outsz)
{
	int n = snprintf(out, outsz,
			 "# muster bus; do not edit\nformat=%u\nquota=%llu\nwritemap=%d\n",
			 c->format, (unsigned long long)c->quota, c->writemap);

	if (n >= 0 && (size_t)n < outsz && c->shards > 1)
		n += snprintf(out + n, outsz - (size_t)n, "shards=%u\n", c->shards);
	return (n < 0 || (size_t)n >= outsz) ? MST_EINVAL : n;
}
