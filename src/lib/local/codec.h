/*
 * codec.h - the record formats of the local store.
 *
 * Every value the local backend keeps in LMDB is one of these records. Decoders take
 * untrusted bytes (a store may be scribbled on) and return MST_ECORRUPT rather than
 * read past the end; they are fuzzed (fuzz/fuzz_codec.c).
 */
#ifndef MST_CODEC_H
#define MST_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define REC_VERSION 1

/* queues: name -> qrec [+ dead-letter name] */
struct qrec {
	uint32_t ver;
	uint32_t max_attempts;
	int64_t lease_ms;
	uint64_t ready, leased, delayed, dead, sent, acked, redelivered;
	int64_t check_ns; /* earliest time a lease may expire (a lower bound) */
	char dlq[129];
};

/* msgs: id -> mrec header + queue name + payload */
struct mrec {
	uint8_t prio;
	int64_t sent_ms;
	const char *queue; /* points into the encoded record, qlen bytes */
	size_t qlen;
	const void *data; /* points into the encoded record */
	size_t len;
};

/* leases: queue NUL id -> lrec */
struct lrec {
	uint32_t attempt;
	int32_t pid;
	uint64_t start;
	int64_t due_ns;
	uint64_t ns; /* pid namespace of pid */
};

/* topics: name -> trec */
struct trec {
	uint64_t next_seq;
	uint64_t max_count;
	int64_t max_age_ms;
};

size_t codec_qrec_size(const struct qrec *q);
void codec_qrec_encode(const struct qrec *q, void *out);
int codec_qrec_decode(const void *in, size_t len, struct qrec *q);

size_t codec_mrec_size(size_t qlen, size_t len);
void codec_mrec_encode(void *out, uint8_t prio, int64_t sent_ms, const char *queue, size_t qlen,
		       const void *data, size_t len);
int codec_mrec_decode(const void *in, size_t len, struct mrec *m);

#define LREC_SIZE 32
void codec_lrec_encode(const struct lrec *l, void *out);
int codec_lrec_decode(const void *in, size_t len, struct lrec *l);

#define TREC_SIZE 24
void codec_trec_encode(const struct trec *t, void *out);
int codec_trec_decode(const void *in, size_t len, struct trec *t);

/* bus.conf: "key=value" lines. Unknown keys are ignored; a malformed line is an
 * error. */
struct busconf {
	unsigned format;
	uint64_t quota;
	int writemap;
	unsigned shards; /* stores of the bus (this one and shard.1 .. shard.N-1); 1 when absent */
};
int codec_busconf_parse(const char *text, size_t len, struct busconf *c);
int codec_busconf_format(const struct busconf *c, char *out, size_t outsz);

#endif
