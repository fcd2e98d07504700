/*
 * topic.c - topics of the local backend: append-only logs with retention.
 *
 *   topics  NAME               -> trec (next sequence number, retention)
 *   tlog    NAME NUL SEQ(be64) -> wall-clock ms (8 bytes) + payload
 * Retention (count and age) is applied by each publish in its own commit, so a log
 * never exceeds its limits by more than the entry being added.
 */
#define _GNU_SOURCE
#include "local.h"
#include "codec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define KEYBUF (MST_NAME_MAX + 2 + 16)
#define DEFAULT_MAX_COUNT 100000

static int t_get(struct local_bus *lb, MDB_txn *txn, const char *name, struct trec *t, int *exists)
{
	MDB_val k = {strlen(name), (void *)name}, v;
	int rc = mdb_get(txn, lb->dbi[DB_TOPICS], &k, &v);

	*exists = rc == 0;
	if (rc == MDB_NOTFOUND) {
		t->next_seq = 1;
		t->max_count = DEFAULT_MAX_COUNT;
		t->max_age_ms = 0;
		return 0;
	}
	if (rc)
		return local__err(rc);
	return codec_trec_decode(v.mv_data, v.mv_size, t);
}

static int t_put(struct local_bus *lb, MDB_txn *txn, const char *name, const struct trec *t)
{
	MDB_val k = {strlen(name), (void *)name}, v;
	unsigned char buf[TREC_SIZE];

	codec_trec_encode(t, buf);
	v.mv_size = TREC_SIZE;
	v.mv_data = buf;
	return local__err(mdb_put(txn, lb->dbi[DB_TOPICS], &k, &v, 0));
}

/* Deletes the oldest entries beyond t's retention. */
static int trim(struct local_bus *lb, MDB_txn *txn, const char *topic, const struct trec *t)
{
	char kb[KEYBUF];
	size_t plen = strlen(topic) + 1;
	int64_t cutoff = t->max_age_ms ? mst__wall_ms() - t->max_age_ms : INT64_MIN;
	MDB_cursor *c;
	MDB_val k, v;
	int r;

	if ((r = mdb_cursor_open(txn, lb->dbi[DB_TLOG], &c)))
		return local__err(r);
	for (;;) {
		uint64_t seq;
		int64_t when;

		k.mv_size = local__key(kb, topic, NULL, 0, -1);
		k.mv_data = kb;
		r = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (r || k.mv_size != plen + 8 || memcmp(k.mv_data, topic, plen) || v.mv_size < 8)
			break;
		seq = local__be64((char *)k.mv_data + plen);
		memcpy(&when, v.mv_data, 8);
		if (!(t->max_count && t->next_seq - seq > t->max_count) && when >= cutoff)
			break;
		if ((r = mdb_cursor_del(c, 0)))
			break;
	}
	mdb_cursor_close(c);
	return r == MDB_NOTFOUND ? 0 : local__err(r);
}

int local__publish_in(struct local_bus *lb, MDB_txn *txn, const char *topic, const void *data,
		      size_t len, uint64_t *seq)
{
	char kb[KEYBUF];
	struct trec t;
	MDB_val k, v;
	int64_t wall = mst__wall_ms();
	int rc, r, exists;

	if ((rc = t_get(lb, txn, topic, &t, &exists)) < 0)
		return rc;
	k.mv_size = local__key(kb, topic, &t.next_seq, 1, -1);
	k.mv_data = kb;
	v.mv_size = 8 + len;
	if ((r = mdb_put(txn, lb->dbi[DB_TLOG], &k, &v, MDB_RESERVE)))
		return local__err(r);
	memcpy(v.mv_data, &wall, 8);
	if (len)
		memcpy((char *)v.mv_data + 8, data, len);
	*seq = t.next_seq++;
	if ((rc = trim(lb, txn, topic, &t)) < 0)
		return rc;
	return t_put(lb, txn, topic, &t);
}

int local__publish(mst_bus *bus, const char *topic, const void *data, size_t len, uint64_t *seq)
{
	struct local_bus *lb = LB(bus);
	MDB_txn *txn;
	uint64_t s;
	int rc;

	if ((rc = local__txn(lb, 0, &txn)) < 0)
		return rc;
	if ((rc = local__room(lb, txn, len + 64)) < 0 ||
	    (rc = local__publish_in(lb, txn, topic, data, len, &s)) < 0) {
		local__abort(lb, txn);
		return rc;
	}
	if ((rc = local__commit(lb, txn)) < 0)
		return rc;
	if (seq)
		*seq = s;
	local__wake(local__slot(lb, WAKE_TOPIC, topic));
	return 0;
}

int local__topic_delete(mst_bus *bus, const char *topic)
{
	struct local_bus *lb = LB(bus);
	char kb[KEYBUF];
	size_t plen = strlen(topic) + 1;
	MDB_val k = {strlen(topic), (void *)topic};
	size_t budget = SIZE_MAX;
	MDB_txn *txn;
	int rc, r, found = 0;

	if ((rc = local__txn(lb, 0, &txn)) < 0)
		return rc;
	r = mdb_del(txn, lb->dbi[DB_TOPICS], &k, NULL);
	if (r && r != MDB_NOTFOUND) {
		rc = local__err(r);
		goto abort;
	}
	found = r == 0;
	/* every entry, TOPIC NUL SEQ */
	k.mv_size = local__key(kb, topic, NULL, 0, -1);
	if ((rc = local__delete_prefix(txn, lb->dbi[DB_TLOG], kb, k.mv_size, plen + 8, &budget,
				       NULL, NULL)) < 0)
		goto abort;
	found |= budget != SIZE_MAX;
	if (!found) {
		rc = MST_ENOTFOUND;
		goto abort;
	}
	if ((rc = local__commit(lb, txn)) < 0)
		return rc;
	local__wake(local__slot(lb, WAKE_TOPIC, topic));
	return 0;
abort:
	local__abort(lb, txn);
	return rc;
}

int local__topic_config(mst_bus *bus, const char *topic, const mst_topic_opts *opts)
{
	struct local_bus *lb = LB(bus);
	struct trec t;
	MDB_txn *txn;
	int rc, exists;

	if ((rc = local__txn(lb, 0, &txn)) < 0)
		return rc;
	if ((rc = t_get(lb, txn, topic, &t, &exists)) < 0)
		goto abort;
	if (opts->max_count)
		t.max_count = opts->max_count;
	if (opts->max_age_ms > 0)
		t.max_age_ms = opts->max_age_ms;
	if ((rc = trim(lb, txn, topic, &t)) < 0 || (rc = t_put(lb, txn, topic, &t)) < 0)
		goto abort;
	return local__commit(lb, txn);
abort:
	local__abort(lb, txn);
	return rc;
}

int local__subscribe(mst_bus *bus, const char *topic, uint64_t from, int64_t wait_ms, mst_msg *msgs,
		     size_t max, size_t *n, uint64_t *next)
{
	struct local_bus *lb = LB(bus);
	struct wake_slot *slot = local__slot(lb, WAKE_TOPIC, topic);
	int64_t deadline = mst__deadline(wait_ms);
	size_t plen = strlen(topic) + 1;
	int rc;

	*n = 0;
	if (from == MST_FROM_EARLIEST)
		from = 1;
	for (;;) {
		uint32_t seen = __atomic_load_n(&slot->seq, __ATOMIC_SEQ_CST);
		char kb[KEYBUF];
		struct trec t;
		MDB_txn *txn;
		MDB_cursor *c;
		MDB_val k, v;
		size_t got = 0;
		int r, exists;
		int64_t left;

		if ((rc = local__txn(lb, 1, &txn)) < 0)
			return rc;
		if ((rc = t_get(lb, txn, topic, &t, &exists)) < 0) {
			local__abort(lb, txn);
			return rc;
		}
		if (from == MST_FROM_LATEST)
			from = t.next_seq;
		if ((r = mdb_cursor_open(txn, lb->dbi[DB_TLOG], &c))) {
			local__abort(lb, txn);
			return local__err(r);
		}
		k.mv_size = local__key(kb, topic, &from, 1, -1);
		k.mv_data = kb;
		r = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		while (got < max && r == 0 && k.mv_size == plen + 8 &&
		       !memcmp(k.mv_data, topic, plen)) {
			uint64_t seq = local__be64((char *)k.mv_data + plen);
			int64_t when;

			if (v.mv_size < 8) {
				rc = MST_ECORRUPT;
				break;
			}
			memcpy(&when, v.mv_data, 8);
			if ((rc = local__fill_msg(&msgs[got], seq, topic, (char *)v.mv_data + 8,
						  v.mv_size - 8)) < 0)
				break;
			msgs[got].sent_ms = when;
			got++;
			from = seq + 1;
			r = mdb_cursor_get(c, &k, &v, MDB_NEXT);
		}
		mdb_cursor_close(c);
		local__abort(lb, txn);
		if (rc < 0) {
			while (got)
				mst_msg_free(&msgs[--got]);
			return rc;
		}
		if (next)
			*next = from;
		if (got) {
			*n = got;
			return 0;
		}
		left = mst__ms_left(deadline);
		if (left == 0)
			return wait_ms == 0 ? MST_EEMPTY : MST_ETIMEOUT;
		local__sleep(slot, seen, left);
	}
}
