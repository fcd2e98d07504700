/*
 * queue.c - queues of the local backend.
 *
 * A message lives in msgs (id -> header, queue name, payload) from send to ack, and in
 * exactly one of three indexes of its queue:
 *   ready    QUEUE NUL (9-priority) ID  -> attempts so far (u32)
 *   delayed  QUEUE NUL DUE_NS ID        -> attempts so far
 *   leases   QUEUE NUL ID               -> lrec (attempt, owner pid+start, due)
 * The queue record (queues db) counts the three and holds policy. All moves happen in
 * one LMDB write transaction, so a process killed at any instant leaves each message in
 * exactly one index. Times in indexes are CLOCK_MONOTONIC nanoseconds (immune to wall
 * clock jumps; a bus does not outlive a reboot on tmpfs).
 *
 * A lease ends when its due time passes (found by the next receiver once the queue's
 * check_ns lower bound is reached) or when its owner process is gone (found by a
 * sweep, at most every SWEEP_NS per queue, that checks owners outside the write lock).
 */
#define _GNU_SOURCE
#include "local.h"
#include "codec.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define KEYBUF (MST_NAME_MAX + 2 + 16)
#define SWEEP_BATCH 1024

static void q_default(struct qrec *q, const char *name)
{
	memset(q, 0, sizeof *q);
	q->ver = REC_VERSION;
	q->max_attempts = DEFAULT_MAX_ATTEMPTS;
	q->lease_ms = DEFAULT_LEASE_MS;
	q->check_ns = INT64_MAX;
	if (strlen(name) + 5 <= MST_NAME_MAX && !strstr(name, ".dead"))
		snprintf(q->dlq, sizeof q->dlq, "%s.dead", name);
	else if (strcmp(name, "muster.dead") != 0)
		snprintf(q->dlq, sizeof q->dlq, "muster.dead");
}

/* Reads queue name into q. *exists (may be NULL) tells whether it was found; a
 * missing queue gets the defaults. */
static int q_get(struct local_bus *lb, MDB_txn *txn, const char *name, struct qrec *q, int *exists)
{
	MDB_val k = {strlen(name), (void *)name}, v;
	int rc = mdb_get(txn, lb->dbi[DB_QUEUES], &k, &v);

	if (exists)
		*exists = rc == 0;
	if (rc == MDB_NOTFOUND) {
		q_default(q, name);
		return 0;
	}
	if (rc)
		return local__err(rc);
	return codec_qrec_decode(v.mv_data, v.mv_size, q);
}

static int q_put(struct local_bus *lb, MDB_txn *txn, const char *name, const struct qrec *q)
{
	MDB_val k = {strlen(name), (void *)name}, v;
	int rc;

	v.mv_size = codec_qrec_size(q);
	rc = mdb_put(txn, lb->dbi[DB_QUEUES], &k, &v, MDB_RESERVE);
	if (rc)
		return local__err(rc);
	codec_qrec_encode(q, v.mv_data);
	return 0;
}

static int next_ids(struct local_bus *lb, MDB_txn *txn, size_t n, uint64_t *first)
{
	MDB_val k = {7, (void *)"next_id"}, v;
	uint64_t id;
	int rc = mdb_get(txn, lb->dbi[DB_META], &k, &v);

	if (rc)
		return local__err(rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc);
	if (v.mv_size != 8)
		return MST_ECORRUPT;
	memcpy(&id, v.mv_data, 8);
	*first = id;
	id += n;
	v.mv_size = 8;
	v.mv_data = &id;
	return local__err(mdb_put(txn, lb->dbi[DB_META], &k, &v, 0));
}

/* Puts k, v. Keys mostly grow (ids do), and a key beyond the last one is appended
 * without a search from the root; any other key is put as usual. */
static int put_maybe_append(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v)
{
	int r = mdb_put(txn, dbi, k, v, MDB_APPEND);

	return r == MDB_KEYEXIST ? mdb_put(txn, dbi, k, v, 0) : r;
}

static int put_ready(struct local_bus *lb, MDB_txn *txn, const char *queue, int prio, uint64_t id,
		     uint32_t attempts)
{
	char kb[KEYBUF];
	MDB_val k, v = {4, &attempts};

	k.mv_size = local__key(kb, queue, &id, 1, 9 - prio);
	k.mv_data = kb;
	return local__err(put_maybe_append(txn, lb->dbi[DB_READY], &k, &v));
}

static int put_delayed(struct local_bus *lb, MDB_txn *txn, const char *queue, int64_t due,
		       uint64_t id, uint32_t attempts)
{
	char kb[KEYBUF];
	uint64_t nums[2] = {(uint64_t)due, id};
	MDB_val k, v = {4, &attempts};

	k.mv_size = local__key(kb, queue, nums, 2, -1);
	k.mv_data = kb;
	return local__err(mdb_put(txn, lb->dbi[DB_DELAYED], &k, &v, 0));
}

static int get_msg(struct local_bus *lb, MDB_txn *txn, uint64_t id, MDB_val *v, struct mrec *m)
{
	unsigned char kb[8];
	MDB_val k = {8, kb};
	int rc;

	local__put_be64(kb, id);
	rc = mdb_get(txn, lb->dbi[DB_MSGS], &k, v);
	if (rc)
		return local__err(rc);
	return codec_mrec_decode(v->mv_data, v->mv_size, m);
}

/* Moves message id of queue q (record *qr, already counted out of its index) back to
 * ready after delay_ns, or to the dead-letter queue when attempts are used up. */
static int requeue(struct local_bus *lb, MDB_txn *txn, const char *queue, struct qrec *qr,
		   uint64_t id, uint32_t attempts, int64_t delay_ns, int64_t now)
{
	struct mrec m;
	MDB_val v;
	int rc;

	rc = get_msg(lb, txn, id, &v, &m);
	if (rc < 0)
		return rc == MST_ENOTFOUND ? MST_ECORRUPT : rc;
	if (qr->max_attempts && attempts >= qr->max_attempts && qr->dlq[0] &&
	    strcmp(qr->dlq, queue) != 0) {
		struct qrec dq;
		unsigned char kb[8];
		MDB_val k = {8, kb}, nv;
		size_t dl = strlen(qr->dlq);
		uint8_t prio = m.prio;
		int64_t sent = m.sent_ms;
		void *copy = malloc(m.len ? m.len : 1);

		if (!copy)
			return -ENOMEM;
		memcpy(copy, m.data, m.len);
		local__put_be64(kb, id);
		nv.mv_size = codec_mrec_size(dl, m.len);
		rc = mdb_put(txn, lb->dbi[DB_MSGS], &k, &nv, MDB_RESERVE);
		if (rc == 0)
			codec_mrec_encode(nv.mv_data, prio, sent, qr->dlq, dl, copy, m.len);
		free(copy);
		if (rc)
			return local__err(rc);
		if ((rc = q_get(lb, txn, qr->dlq, &dq, NULL)) < 0 ||
		    (rc = put_ready(lb, txn, qr->dlq, prio, id, 0)) < 0)
			return rc;
		dq.ready++;
		dq.sent++;
		qr->dead++;
		return q_put(lb, txn, qr->dlq, &dq);
	}
	qr->redelivered++;
	if (delay_ns > 0) {
		qr->delayed++;
		return put_delayed(lb, txn, queue, now + delay_ns, id, attempts);
	}
	qr->ready++;
	return put_ready(lb, txn, queue, m.prio, id, attempts);
}

/* Pages freed by a commit (an ack's, say) can be reused only after a later commit:
 * LMDB keeps the previous snapshot intact. A sender that finds the store full makes
 * one small commit, so that its next try can use the room an ack just made. */
static int release_freed(struct local_bus *lb)
{
	MDB_val k = {6, (void *)"gc_gen"}, v;
	uint64_t gen = 0;
	MDB_txn *txn;
	int rc;

	if ((rc = local__txn(lb, 0, &txn)) < 0)
		return rc;
	if (mdb_get(txn, lb->dbi[DB_META], &k, &v) == 0 && v.mv_size == 8)
		memcpy(&gen, v.mv_data, 8);
	gen++;
	v.mv_size = 8;
	v.mv_data = &gen;
	if ((rc = mdb_put(txn, lb->dbi[DB_META], &k, &v, 0))) {
		local__abort(lb, txn);
		return local__err(rc);
	}
	return local__commit(lb, txn);
}

/* Idempotency keys are kept KEY_RETENTION_MS: keytime (send time, queue NUL key) orders
 * them by age, and each keyed send forgets up to 64 expired ones. A key sent again after
 * it expired has a newer time in keys, so its old keytime entry only removes itself. */
static int purge_keys(struct local_bus *lb, MDB_txn *txn, int64_t wall)
{
	MDB_cursor *c;
	MDB_val k, v;
	int r, n = 0;

	if ((r = mdb_cursor_open(txn, lb->dbi[DB_KEYTIME], &c)))
		return local__err(r);
	while (n++ < 64 && (r = mdb_cursor_get(c, &k, &v, MDB_FIRST)) == 0) {
		char kb[8 + 2 * MST_NAME_MAX + 2];
		MDB_val kk, kv;
		int64_t t;

		if (k.mv_size <= 8 || k.mv_size > sizeof kb) {
			r = MDB_CORRUPTED;
			break;
		}
		t = (int64_t)local__be64(k.mv_data);
		if (wall - t < KEY_RETENTION_MS)
			break;
		memcpy(kb, k.mv_data, k.mv_size);
		kk.mv_size = k.mv_size - 8;
		kk.mv_data = kb + 8;
		if ((r = mdb_cursor_del(c, 0)))
			break;
		r = mdb_get(txn, lb->dbi[DB_KEYS], &kk, &kv);
		if (r == 0 && kv.mv_size == 16 && !memcmp((char *)kv.mv_data + 8, &t, 8))
			r = mdb_del(txn, lb->dbi[DB_KEYS], &kk, NULL);
		if (r && r != MDB_NOTFOUND)
			break;
		r = 0;
	}
	mdb_cursor_close(c);
	return r == MDB_NOTFOUND ? 0 : local__err(r);
}

/* The idempotency key of message i of a send, or NULL. */
static const char *send_key(const mst_send_opts *opts, size_t i)
{
	if (!opts)
		return NULL;
	if (opts->keys)
		return opts->keys[i];
	return i == 0 ? opts->key : NULL;
}

/* Looks up key (of queue) in keys: 1 and *id when it was sent within the retention,
 * 0 when not, or an error. kk receives the key's record key (in kb). */
static int key_find(struct local_bus *lb, MDB_txn *txn, const char *queue, const char *key,
		    int64_t wall, char *kb, MDB_val *kk, uint64_t *id)
{
	size_t klen = strlen(key);
	MDB_val kv;
	int rc;

	kk->mv_size = local__key(kb, queue, NULL, 0, -1);
	memcpy(kb + kk->mv_size, key, klen);
	kk->mv_size += klen;
	kk->mv_data = kb;
	rc = mdb_get(txn, lb->dbi[DB_KEYS], kk, &kv);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return local__err(rc);
	if (kv.mv_size == 16) {
		int64_t t;

		memcpy(&t, (char *)kv.mv_data + 8, 8);
		if (wall - t < KEY_RETENTION_MS) {
			memcpy(id, kv.mv_data, 8);
			return 1;
		}
	}
	return 0;
}

/* Remembers key kk (from key_find) as sent now as message id. */
static int key_put(struct local_bus *lb, MDB_txn *txn, const MDB_val *kk, uint64_t id, int64_t wall)
{
	unsigned char val[16], tk[8 + KEYBUF * 2];
	MDB_val kv = {16, val}, tkk, empty = {0, NULL};
	int rc;

	memcpy(val, &id, 8);
	memcpy(val + 8, &wall, 8);
	local__put_be64(tk, (uint64_t)wall);
	memcpy(tk + 8, kk->mv_data, kk->mv_size);
	tkk.mv_size = 8 + kk->mv_size;
	tkk.mv_data = tk;
	if ((rc = local__err(mdb_put(txn, lb->dbi[DB_KEYS], (MDB_val *)kk, &kv, 0))) < 0 ||
	    (rc = local__err(mdb_put(txn, lb->dbi[DB_KEYTIME], &tkk, &empty, 0))) < 0)
		return rc;
	return 0;
}

int local__send(mst_bus *bus, const char *queue, const mst_buf *msgs, size_t n,
		const mst_send_opts *opts, uint64_t *ids)
{
	struct local_bus *lb = LB(bus);
	struct wake_slot *space = local__slot(lb, WAKE_SPACE, "");
	int64_t wait_ms = opts ? opts->wait_ms : 0;
	int64_t deadline = mst__deadline(wait_ms);
	int64_t delay_ns = opts && opts->delay_ms > 0 ? opts->delay_ms * 1000000 : 0;
	int prio = opts ? opts->priority : 0;
	size_t qlen = strlen(queue), i, total = 0;
	int rc, released = 0;

	for (i = 0; i < n; i++)
		total += codec_mrec_size(qlen, msgs[i].len) + 2 * (qlen + 10);

	for (;;) {
		uint32_t seen = __atomic_load_n(&space->seq, __ATOMIC_SEQ_CST);
		struct qrec q;
		MDB_txn *txn;
		uint64_t first = 0;
		int64_t now = mst_now_ns(), wall = mst__wall_ms();
		size_t added = 0, keyed = 0;

		if ((rc = local__txn(lb, 0, &txn)) < 0)
			return rc;
		/* a single keyed send seen before adds nothing and takes no room */
		if (n == 1 && send_key(opts, 0)) {
			char kb[KEYBUF * 2];
			MDB_val kk;
			uint64_t old;

			rc = key_find(lb, txn, queue, send_key(opts, 0), wall, kb, &kk, &old);
			if (rc < 0)
				goto abort;
			if (rc == 1) {
				if (ids)
					ids[0] = old;
				local__abort(lb, txn);
				return 0;
			}
		}
		if ((rc = local__room(lb, txn, total)) < 0 ||
		    (rc = q_get(lb, txn, queue, &q, NULL)) < 0 ||
		    (rc = next_ids(lb, txn, n, &first)) < 0)
			goto abort;
		for (i = 0; i < n; i++) {
			const char *key = send_key(opts, i);
			unsigned char ib[8];
			MDB_val k = {8, ib}, v, kk;
			char kb[KEYBUF * 2];
			uint64_t old;

			if (key) {
				/* sent before (or twice in this batch): its first id, no copy */
				if ((rc = key_find(lb, txn, queue, key, wall, kb, &kk, &old)) < 0)
					goto abort;
				if (rc == 1) {
					if (ids)
						ids[i] = old;
					continue;
				}
				if ((rc = key_put(lb, txn, &kk, first + i, wall)) < 0)
					goto abort;
				keyed++;
			}
			local__put_be64(ib, first + i);
			v.mv_size = codec_mrec_size(qlen, msgs[i].len);
			rc = mdb_put(txn, lb->dbi[DB_MSGS], &k, &v, MDB_RESERVE | MDB_APPEND);
			if (rc == MDB_KEYEXIST) /* ids out of order: store damaged */
				rc = MDB_CORRUPTED;
			if (rc) {
				rc = local__err(rc);
				goto abort;
			}
			codec_mrec_encode(v.mv_data, (uint8_t)prio, wall, queue, qlen, msgs[i].data,
					  msgs[i].len);
			if (delay_ns)
				rc = put_delayed(lb, txn, queue, now + delay_ns, first + i, 0);
			else
				rc = put_ready(lb, txn, queue, prio, first + i, 0);
			if (rc < 0)
				goto abort;
			if (ids)
				ids[i] = first + i;
			added++;
		}
		if (delay_ns)
			q.delayed += added;
		else
			q.ready += added;
		q.sent += added;
		if ((rc = q_put(lb, txn, queue, &q)) < 0)
			goto abort;
		if (keyed && (rc = purge_keys(lb, txn, wall)) < 0)
			goto abort;
		rc = local__commit(lb, txn);
		if (rc == 0) {
			if (added)
				local__wake(local__slot(lb, WAKE_QUEUE, queue));
			return 0;
		}
		goto full;
	abort:
		local__abort(lb, txn);
	full:
		if (rc != MST_EFULL)
			return rc;
		if (!released && release_freed(lb) == 0) {
			released = 1;
			continue;
		}
		if (local__sleep(space, seen, mst__ms_left(deadline)) == MST_ETIMEOUT &&
		    mst__ms_left(deadline) == 0)
			return MST_EFULL;
		released = 0;
	}
}

/* After a delete, continues a scan at the first key after the deleted one (a copy of
 * it in kb2): a cursor's position after mdb_cursor_del is not relied upon. */
static int reseek(MDB_cursor *c, MDB_val *k, MDB_val *v, char *kb2, size_t klen)
{
	k->mv_size = klen;
	k->mv_data = kb2;
	return mdb_cursor_get(c, k, v, MDB_SET_RANGE);
}

/* Moves due delayed messages to ready and ends expired leases. */
static int promote(struct local_bus *lb, MDB_txn *txn, const char *queue, struct qrec *q,
		   int64_t now, int *changed)
{
	char kb[KEYBUF], kb2[KEYBUF];
	size_t plen = strlen(queue) + 1, klen;
	MDB_cursor *c;
	MDB_val k, v;
	int rc = 0, r;

	if (q->delayed) {
		if ((r = mdb_cursor_open(txn, lb->dbi[DB_DELAYED], &c)))
			return local__err(r);
		k.mv_size = local__key(kb, queue, NULL, 0, -1);
		k.mv_data = kb;
		r = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		while (r == 0 && k.mv_size == plen + 16 && !memcmp(k.mv_data, queue, plen)) {
			int64_t due = (int64_t)local__be64((char *)k.mv_data + plen);
			uint64_t id = local__be64((char *)k.mv_data + plen + 8);
			uint32_t att;
			struct mrec m;
			MDB_val mv;

			if (due > now || v.mv_size != 4)
				break;
			memcpy(&att, v.mv_data, 4);
			if ((rc = get_msg(lb, txn, id, &mv, &m)) < 0 ||
			    (rc = put_ready(lb, txn, queue, m.prio, id, att)) < 0)
				break;
			klen = k.mv_size;
			memcpy(kb2, k.mv_data, klen);
			if ((r = mdb_cursor_del(c, 0))) {
				rc = local__err(r);
				break;
			}
			q->delayed--;
			q->ready++;
			*changed = 1;
			r = reseek(c, &k, &v, kb2, klen);
		}
		mdb_cursor_close(c);
		if (rc < 0)
			return rc == MST_ENOTFOUND ? MST_ECORRUPT : rc;
	}
	if (q->leased && q->check_ns <= now) {
		int64_t next = INT64_MAX;

		if ((r = mdb_cursor_open(txn, lb->dbi[DB_LEASES], &c)))
			return local__err(r);
		k.mv_size = local__key(kb, queue, NULL, 0, -1);
		k.mv_data = kb;
		r = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		while (r == 0 && k.mv_size == plen + 8 && !memcmp(k.mv_data, queue, plen)) {
			struct lrec l;
			uint64_t id = local__be64((char *)k.mv_data + plen);

			if ((rc = codec_lrec_decode(v.mv_data, v.mv_size, &l)) < 0)
				break;
			if (l.due_ns > now) {
				if (l.due_ns < next)
					next = l.due_ns;
				r = mdb_cursor_get(c, &k, &v, MDB_NEXT);
				continue;
			}
			klen = k.mv_size;
			memcpy(kb2, k.mv_data, klen);
			if ((r = mdb_cursor_del(c, 0))) {
				rc = local__err(r);
				break;
			}
			q->leased--;
			if ((rc = requeue(lb, txn, queue, q, id, l.attempt, 0, now)) < 0)
				break;
			*changed = 1;
			r = reseek(c, &k, &v, kb2, klen);
		}
		mdb_cursor_close(c);
		if (rc < 0)
			return rc;
		q->check_ns = next;
		*changed = 1;
	}
	return 0;
}

/* Finds leases of queue whose owner is gone and makes their messages ready again.
 * Owners are checked under a read transaction (no write lock held); the write
 * transaction re-checks that each lease is unchanged. Returns how many were freed. */
static int sweep(struct local_bus *lb, const char *queue)
{
	struct {
		uint64_t id;
		struct lrec l;
	} *dead = NULL;
	char kb[KEYBUF];
	size_t plen = strlen(queue) + 1, nd = 0, i;
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	struct qrec q;
	mst__owner last = {0, 0, 0};
	int rc, r, changed = 0, last_gone = 0;
	int64_t now = mst_now_ns();

	if ((rc = local__txn(lb, 1, &txn)) < 0)
		return rc;
	if ((r = mdb_cursor_open(txn, lb->dbi[DB_LEASES], &c))) {
		local__abort(lb, txn);
		return local__err(r);
	}
	k.mv_size = local__key(kb, queue, NULL, 0, -1);
	k.mv_data = kb;
	r = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (r == 0 && k.mv_size == plen + 8 && !memcmp(k.mv_data, queue, plen) &&
	       nd < SWEEP_BATCH) {
		struct lrec l;
		mst__owner o;

		if (codec_lrec_decode(v.mv_data, v.mv_size, &l) == 0) {
			o.pid = l.pid;
			o.start = l.start;
			o.ns = l.ns;
			/* leases of one owner are often adjacent: check each owner once */
			if (o.pid != last.pid || o.start != last.start || o.ns != last.ns) {
				last = o;
				last_gone = mst__owner_gone(&o);
			}
			if (last_gone) {
				void *nb = realloc(dead, (nd + 1) * sizeof *dead);
				if (!nb)
					break;
				dead = nb;
				dead[nd].id = local__be64((char *)k.mv_data + plen);
				dead[nd].l = l;
				nd++;
			}
		}
		r = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	local__abort(lb, txn);
	if (!nd)
		return 0;

	if ((rc = local__txn(lb, 0, &txn)) < 0)
		goto out;
	if ((rc = q_get(lb, txn, queue, &q, NULL)) < 0)
		goto abort;
	for (i = 0; i < nd; i++) {
		struct lrec l;

		k.mv_size = local__key(kb, queue, &dead[i].id, 1, -1);
		k.mv_data = kb;
		r = mdb_get(txn, lb->dbi[DB_LEASES], &k, &v);
		if (r == MDB_NOTFOUND)
			continue; /* acked or requeued meanwhile */
		if (r || codec_lrec_decode(v.mv_data, v.mv_size, &l) < 0 ||
		    l.pid != dead[i].l.pid || l.start != dead[i].l.start ||
		    l.attempt != dead[i].l.attempt)
			continue;
		if ((r = mdb_del(txn, lb->dbi[DB_LEASES], &k, NULL))) {
			rc = local__err(r);
			goto abort;
		}
		q.leased--;
		if ((rc = requeue(lb, txn, queue, &q, dead[i].id, l.attempt, 0, now)) < 0)
			goto abort;
		changed++;
	}
	if (!changed) {
		local__abort(lb, txn);
		rc = 0;
		goto out;
	}
	if ((rc = q_put(lb, txn, queue, &q)) < 0)
		goto abort;
	rc = local__commit(lb, txn);
	if (rc == 0) {
		local__wake(local__slot(lb, WAKE_QUEUE, queue));
		if (q.dlq[0])
			local__wake(local__slot(lb, WAKE_QUEUE, q.dlq));
		rc = changed;
	}
	goto out;
abort:
	local__abort(lb, txn);
out:
	free(dead);
	return rc;
}

static void maybe_sweep(struct local_bus *lb, const char *queue, struct wake_slot *s)
{
	int64_t now = mst_now_ns();
	int64_t due = __atomic_load_n(&s->sweep_ns, __ATOMIC_RELAXED);

	if (due > now)
		return;
	if (!__atomic_compare_exchange_n(&s->sweep_ns, &due, now + SWEEP_NS, 0, __ATOMIC_SEQ_CST,
					 __ATOMIC_RELAXED))
		return;
	sweep(lb, queue);
}

/* Reads message id for recv. With a cursor on msgs (when several messages are wanted),
 * the record after the previous one is tried first: ready messages of one priority are
 * taken in id order, so this usually spares a search from the root. */
static int recv_msg(struct local_bus *lb, MDB_txn *txn, MDB_cursor *mc, int *placed, uint64_t id,
		    MDB_val *v, struct mrec *m)
{
	unsigned char kb[8];
	MDB_val k;
	int r = MDB_NOTFOUND;

	if (!mc)
		return get_msg(lb, txn, id, v, m);
	if (*placed) {
		r = mdb_cursor_get(mc, &k, v, MDB_NEXT);
		if (r == 0 && (k.mv_size != 8 || local__be64(k.mv_data) != id))
			r = MDB_NOTFOUND;
	}
	if (r) {
		local__put_be64(kb, id);
		k.mv_size = 8;
		k.mv_data = kb;
		r = mdb_cursor_get(mc, &k, v, MDB_SET_KEY);
	}
	if (r)
		return local__err(r);
	*placed = 1;
	return codec_mrec_decode(v->mv_data, v->mv_size, m);
}

/* Deletes the ready records of the n messages just leased, msgs[0..n-1]: consecutive
 * records of one queue, the last of which has key last (klen bytes). They go from the
 * last to the first: LMDB keeps a page's records packed from its end, in the order
 * they came, so deleting the newest moves nothing, while deleting the oldest moves all
 * the others (a memmove of most of a page per message). */
static int take_ready(MDB_cursor *c, const char *last, size_t klen, size_t plen,
		      const mst_msg *msgs, size_t n)
{
	MDB_val k = {klen, (void *)last}, v;
	int r = mdb_cursor_get(c, &k, &v, MDB_SET_KEY);

	while (r == 0) {
		if (k.mv_size != plen + 9 || memcmp(k.mv_data, last, plen) ||
		    local__be64((char *)k.mv_data + plen + 1) != msgs[n - 1].id)
			return MST_ECORRUPT;
		if ((r = mdb_cursor_del(c, 0)) || --n == 0)
			break;
		/* after a delete the cursor stands on the record that followed (or
		 * past the end): the previous record is the one before the deleted */
		r = mdb_cursor_get(c, &k, &v, MDB_PREV);
	}
	return r == MDB_NOTFOUND ? MST_ECORRUPT : local__err(r);
}

/* Looks at queue under a read transaction (no writer lock): 1 when a write
 * transaction has work (ready messages, a due delayed message, a lease past the
 * queue's check time), else 0 with *wake_at set to the next time there may be
 * (INT64_MAX: none) and *leased to whether leases are out. */
static int look(struct local_bus *lb, const char *queue, int64_t now, int64_t *wake_at, int *leased)
{
	size_t plen = strlen(queue) + 1;
	char kb[KEYBUF];
	struct qrec q;
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, exists, work = 0;

	*wake_at = INT64_MAX;
	*leased = 0;
	if ((rc = local__txn(lb, 1, &txn)) < 0)
		return rc;
	if ((rc = q_get(lb, txn, queue, &q, &exists)) < 0 || !exists)
		goto out;
	*leased = q.leased != 0;
	if (q.ready || (q.leased && q.check_ns <= now)) {
		work = 1;
		goto out;
	}
	if (q.leased)
		*wake_at = q.check_ns;
	if (q.delayed && mdb_cursor_open(txn, lb->dbi[DB_DELAYED], &c) == 0) {
		k.mv_size = local__key(kb, queue, NULL, 0, -1);
		k.mv_data = kb;
		if (mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) == 0 && k.mv_size == plen + 16 &&
		    !memcmp(k.mv_data, queue, plen)) {
			int64_t due = (int64_t)local__be64((char *)k.mv_data + plen);
			if (due <= now)
				work = 1;
			else if (due < *wake_at)
				*wake_at = due;
		}
		mdb_cursor_close(c);
	}
out:
	mdb_txn_abort(txn);
	return rc < 0 ? rc : work;
}

/* A waiting receiver must hear of a lease holder's death at once, not at the next sweep
 * tick: while it sleeps, a helper thread polls pidfds of the holders of the queue's
 * leases and, when one exits, marks it and wakes the queue's slot. */
#define WATCH_MAX 64

struct watch {
	pthread_t thread;
	int efd, n, died;
	int fds[WATCH_MAX];
	struct wake_slot *slot;
};

static void *watch_main(void *arg)
{
	struct watch *w = arg;
	struct pollfd p[WATCH_MAX + 1];
	int i, r;

	for (i = 0; i < w->n; i++) {
		p[i].fd = w->fds[i];
		p[i].events = POLLIN;
	}
	p[w->n].fd = w->efd;
	p[w->n].events = POLLIN;
	do
		r = poll(p, (nfds_t)w->n + 1, -1);
	while (r < 0 && errno == EINTR);
	for (i = 0; r > 0 && i < w->n; i++) {
		if (p[i].revents) {
			__atomic_store_n(&w->died, 1, __ATOMIC_SEQ_CST);
			local__wake(w->slot);
			break;
		}
	}
	return NULL;
}

/* Starts watching the owners of queue's leases (other than ourselves). 0 when every
 * owner is watched; 1 when one is gone already (the caller sweeps now); -1 when they
 * could not all be watched (too many, no pidfds): the caller then falls back to the
 * sweep tick. */
static int watch_start(struct local_bus *lb, mst_bus *bus, const char *queue,
		       struct wake_slot *slot, struct watch *w)
{
	size_t plen = strlen(queue) + 1;
	mst__owner seen[WATCH_MAX];
	char kb[KEYBUF];
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	int r, i, ok = 0, gone = 0;

	w->n = 0;
	w->died = 0;
	w->slot = slot;
	w->efd = -1;
	if (local__txn(lb, 1, &txn) < 0)
		return -1;
	if (mdb_cursor_open(txn, lb->dbi[DB_LEASES], &c)) {
		mdb_txn_abort(txn);
		return -1;
	}
	k.mv_size = local__key(kb, queue, NULL, 0, -1);
	k.mv_data = kb;
	ok = 1;
	for (r = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	     r == 0 && k.mv_size == plen + 8 && !memcmp(k.mv_data, queue, plen);
	     r = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		struct lrec l;
		mst__owner o;
		int fd;

		if (codec_lrec_decode(v.mv_data, v.mv_size, &l) < 0)
			continue;
		o.pid = l.pid;
		o.start = l.start;
		o.ns = l.ns;
		if (o.pid == bus->owner.pid && o.start == bus->owner.start)
			continue;
		for (i = 0; i < w->n; i++)
			if (seen[i].pid == o.pid && seen[i].start == o.start)
				break;
		if (i < w->n)
			continue;
		if (w->n == WATCH_MAX || (fd = mst__owner_pidfd(&o)) < 0) {
			/* too many, no pidfds, or gone already: then sweep now */
			ok = w->n < WATCH_MAX && mst__owner_gone(&o) ? 1 : 0;
			gone = ok;
			break;
		}
		seen[w->n] = o;
		w->fds[w->n++] = fd;
	}
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	if (gone) {
		for (i = 0; i < w->n; i++)
			close(w->fds[i]);
		w->n = 0;
		return 1;
	}
	if (!ok)
		goto fail;
	if (!w->n)
		return 0; /* only our own leases: nobody to watch */
	w->efd = eventfd(0, EFD_CLOEXEC);
	if (w->efd >= 0 && pthread_create(&w->thread, NULL, watch_main, w) == 0)
		return 0;
	if (w->efd >= 0)
		close(w->efd);
	w->efd = -1;
fail:
	for (i = 0; i < w->n; i++)
		close(w->fds[i]);
	w->n = 0;
	return -1;
}

static void watch_stop(struct watch *w)
{
	uint64_t one = 1;
	int i;

	if (w->efd < 0)
		return;
	if (write(w->efd, &one, sizeof one) < 0) {
		/* the thread then ends with the next event: join would wait; cancel */
		pthread_cancel(w->thread);
	}
	pthread_join(w->thread, NULL);
	close(w->efd);
	w->efd = -1;
	for (i = 0; i < w->n; i++)
		close(w->fds[i]);
	w->n = 0;
}

int local__recv(mst_bus *bus, const char *queue, const mst_recv_opts *opts, mst_msg *msgs,
		size_t max, size_t *n)
{
	struct local_bus *lb = LB(bus);
	struct wake_slot *slot = local__slot(lb, WAKE_QUEUE, queue);
	int64_t wait_ms = opts ? opts->wait_ms : 0;
	int64_t deadline = mst__deadline(wait_ms);
	size_t plen = strlen(queue) + 1;
	struct watch w;
	int rc, idle = 0;

	*n = 0;
	for (;;) {
		uint32_t seen = __atomic_load_n(&slot->seq, __ATOMIC_SEQ_CST);
		int64_t now, lease_ms, wake_at = INT64_MAX, left;
		char kb[KEYBUF], kb2[KEYBUF];
		size_t klen;
		struct qrec q;
		MDB_txn *txn;
		MDB_cursor *c = NULL, *mc = NULL;
		MDB_val k, v;
		int exists, changed = 0, r, leased = 0;
		uint64_t dead_before;
		size_t got = 0;

		maybe_sweep(lb, queue, slot);
		now = mst_now_ns();
		/* take the writer lock only when there is something to do; after a write
		 * that found nothing (another receiver was faster), wait once first */
		rc = idle ? 0 : look(lb, queue, now, &wake_at, &leased);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			if (idle && (rc = look(lb, queue, now, &wake_at, &leased)) < 0)
				return rc;
			idle = 0;
			goto wait;
		}
		if ((rc = local__txn(lb, 0, &txn)) < 0)
			return rc;
		if ((rc = q_get(lb, txn, queue, &q, &exists)) < 0)
			goto abort;
		dead_before = q.dead;
		if (exists && (rc = promote(lb, txn, queue, &q, now, &changed)) < 0)
			goto abort;
		lease_ms = opts && opts->lease_ms > 0 ? opts->lease_ms : q.lease_ms;
		if (exists && q.ready) {
			/* read once: now (monotonic, for due_ns) is read once too */
			int64_t wall = mst__wall_ms();
			int placed = 0;

			if ((r = mdb_cursor_open(txn, lb->dbi[DB_READY], &c)) ||
			    (max > 1 && (r = mdb_cursor_open(txn, lb->dbi[DB_MSGS], &mc)))) {
				rc = local__err(r);
				goto abort;
			}
			k.mv_size = local__key(kb, queue, NULL, 0, -1);
			k.mv_data = kb;
			r = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
			while (got < max && r == 0 && k.mv_size == plen + 9 &&
			       !memcmp(k.mv_data, queue, plen)) {
				uint64_t id = local__be64((char *)k.mv_data + plen + 1);
				unsigned char lv[LREC_SIZE];
				struct lrec l;
				struct mrec m;
				MDB_val mv, lk, lvv = {LREC_SIZE, lv};
				char lkb[KEYBUF];

				if (v.mv_size != 4) {
					rc = MST_ECORRUPT;
					goto abort;
				}
				memcpy(&l.attempt, v.mv_data, 4);
				l.attempt++;
				l.pid = bus->owner.pid;
				l.start = bus->owner.start;
				l.ns = bus->owner.ns;
				l.due_ns = now + lease_ms * 1000000;
				if ((rc = recv_msg(lb, txn, mc, &placed, id, &mv, &m)) < 0) {
					if (rc == MST_ENOTFOUND)
						rc = MST_ECORRUPT;
					goto abort;
				}
				if ((rc = local__fill_msg(&msgs[got], id, queue, m.data, m.len)) <
				    0)
					goto abort;
				msgs[got].priority = m.prio;
				msgs[got].attempt = l.attempt;
				msgs[got].sent_ms = m.sent_ms;
				msgs[got].lease_until_ms = wall + lease_ms;
				got++;
				codec_lrec_encode(&l, lv);
				lk.mv_size = local__key(lkb, queue, &id, 1, -1);
				lk.mv_data = lkb;
				klen = k.mv_size;
				memcpy(kb2, k.mv_data, klen);
				if ((r = put_maybe_append(txn, lb->dbi[DB_LEASES], &lk, &lvv))) {
					rc = local__err(r);
					goto abort;
				}
				q.ready--;
				q.leased++;
				if (l.due_ns < q.check_ns)
					q.check_ns = l.due_ns;
				changed = 1;
				r = mdb_cursor_get(c, &k, &v, MDB_NEXT);
			}
			if (got && (rc = take_ready(c, kb2, klen, plen, msgs, got)) < 0)
				goto abort;
			mdb_cursor_close(c);
			if (mc)
				mdb_cursor_close(mc);
			c = mc = NULL;
		}
		if (changed) {
			if ((rc = q_put(lb, txn, queue, &q)) < 0)
				goto abort;
			if ((rc = local__commit(lb, txn)) < 0)
				goto fail;
			/* more ready for other waiters; leases that ran out of attempts
			 * went to the dead letters, whose waiters must hear of it */
			if (q.ready)
				local__wake(slot);
			if (q.dead != dead_before && q.dlq[0])
				local__wake(local__slot(lb, WAKE_QUEUE, q.dlq));
		} else {
			local__abort(lb, txn);
		}
		if (got) {
			*n = got;
			return 0;
		}
		idle = 1;
		continue;
	wait:
		left = mst__ms_left(deadline);
		if (left == 0)
			return wait_ms == 0 ? MST_EEMPTY : MST_ETIMEOUT;
		/* a lease holder may die: watch the holders' pidfds while asleep, or, when
		 * that is not possible, look again after a sweep interval */
		w.efd = -1;
		rc = leased ? watch_start(lb, bus, queue, slot, &w) : 0;
		if (rc == 1 && sweep(lb, queue) > 0)
			continue; /* a holder had died: its messages are ready */
		if (rc != 0 && now + SWEEP_NS < wake_at)
			wake_at = now + SWEEP_NS;
		if (wake_at != INT64_MAX) {
			int64_t ms = (wake_at - mst_now_ns() + 999999) / 1000000;
			if (ms < 1)
				ms = 1;
			if (ms < left)
				left = ms;
		}
		local__sleep(slot, seen, left);
		if (w.efd >= 0) {
			watch_stop(&w);
			if (w.died)
				sweep(lb, queue); /* at once, not when the tick allows */
		}
		continue;
	abort:
		if (c)
			mdb_cursor_close(c);
		if (mc)
			mdb_cursor_close(mc);
		local__abort(lb, txn);
	fail:
		if (rc == MST_EFULL && got > 1) {
			/* a full store may still have room to lease fewer at once; take
			 * few, to leave room for the acks that will free it */
			max = got / 4 ? got / 4 : 1;
			while (got)
				mst_msg_free(&msgs[--got]);
			continue;
		}
		while (got)
			mst_msg_free(&msgs[--got]);
		return rc;
	}
}

static int qcache_use(struct local_bus *lb, MDB_txn *txn, struct qcache *qc, const char *name)
{
	int rc;

	if (qc->loaded && !strcmp(qc->name, name))
		return 0;
	if (qc->loaded && qc->dirty && (rc = q_put(lb, txn, qc->name, &qc->q)) < 0)
		return rc;
	snprintf(qc->name, sizeof qc->name, "%s", name);
	qc->loaded = 1;
	qc->dirty = 0;
	return q_get(lb, txn, name, &qc->q, NULL);
}

/* Settles one message inside txn. MST_ENOTHELD leaves the transaction usable; any
 * other error does not. *wake_queue is set when the queue (or its dead letters) gained
 * a ready message. */
/* Finds k with cursor c (placed: c stands where a previous find left it, or on the
 * record after the one it deleted there). The record before the found one is tried
 * first, as a batch is settled from its last id to its first (see take_ready on why)
 * and its ids mostly come in order; the key is compared, so a miss only costs the
 * search that follows. */
static int cursor_find(MDB_cursor *c, int *placed, MDB_val *k, MDB_val *v)
{
	if (*placed) {
		MDB_val ck;
		int r = mdb_cursor_get(c, &ck, v, MDB_PREV);

		if (r == 0 && ck.mv_size == k->mv_size &&
		    !memcmp(ck.mv_data, k->mv_data, k->mv_size))
			return 0;
	}
	*placed = 1;
	return mdb_cursor_get(c, k, v, MDB_SET_KEY);
}

static int settle_one(mst_bus *bus, MDB_txn *txn, struct qcache *qc, uint64_t id, int op,
		      int64_t ms, int64_t now, int *wake_queue, MDB_cursor *cm, MDB_cursor *cl,
		      int *placed)
{
	struct local_bus *lb = LB(bus);
	char queue[MST_NAME_MAX + 1], kb[KEYBUF];
	unsigned char ib[8];
	struct mrec m;
	struct lrec l;
	MDB_val mv, k, v, ik = {8, ib};
	int rc, r;

	/* with cursors (acks), the records found are deleted where they are found,
	 * without a second search */
	local__put_be64(ib, id);
	r = cm ? cursor_find(cm, &placed[0], &ik, &mv) : mdb_get(txn, lb->dbi[DB_MSGS], &ik, &mv);
	if (r)
		return r == MDB_NOTFOUND ? MST_ENOTHELD : local__err(r);
	if ((rc = codec_mrec_decode(mv.mv_data, mv.mv_size, &m)) < 0)
		return rc;
	memcpy(queue, m.queue, m.qlen);
	queue[m.qlen] = 0;
	k.mv_size = local__key(kb, queue, &id, 1, -1);
	k.mv_data = kb;
	r = cl ? cursor_find(cl, &placed[1], &k, &v) : mdb_get(txn, lb->dbi[DB_LEASES], &k, &v);
	if (r)
		return r == MDB_NOTFOUND ? MST_ENOTHELD : local__err(r);
	if ((rc = codec_lrec_decode(v.mv_data, v.mv_size, &l)) < 0)
		return rc;
	if (l.pid != bus->owner.pid || l.start != bus->owner.start || l.ns != bus->owner.ns) {
		/* held by someone else, unless that owner is gone and nobody has taken
		 * the message back yet: then settling it cannot hurt anyone (a caller
		 * reached through a short-lived wrapper, such as sh -c, is the usual
		 * case) */
		mst__owner o = {l.pid, l.start, l.ns};
		if (!mst__owner_gone(&o))
			return MST_ENOTHELD;
	}
	if ((rc = qcache_use(lb, txn, qc, queue)) < 0)
		return rc;
	if (op == MST__TOUCH) {
		unsigned char lv[LREC_SIZE];
		MDB_val nv = {LREC_SIZE, lv};

		l.due_ns = now + (ms > 0 ? ms : qc->q.lease_ms) * 1000000;
		l.pid = bus->owner.pid; /* a lease taken over from a dead owner */
		l.start = bus->owner.start;
		l.ns = bus->owner.ns;
		codec_lrec_encode(&l, lv);
		/* a shorter lease must be found when it ends */
		if (l.due_ns < qc->q.check_ns) {
			qc->q.check_ns = l.due_ns;
			qc->dirty = 1;
		}
		return local__err(mdb_put(txn, lb->dbi[DB_LEASES], &k, &nv, 0));
	}
	if ((r = cl ? mdb_cursor_del(cl, 0) : mdb_del(txn, lb->dbi[DB_LEASES], &k, NULL)))
		return local__err(r);
	qc->q.leased--;
	qc->dirty = 1;
	if (op == MST__ACK) {
		if ((r = cm ? mdb_cursor_del(cm, 0) : mdb_del(txn, lb->dbi[DB_MSGS], &ik, NULL)))
			return local__err(r);
		qc->q.acked++;
		return 0;
	}
	*wake_queue = 1;
	return requeue(lb, txn, queue, &qc->q, id, l.attempt, ms > 0 ? ms * 1000000 : 0, now);
}

int local__ack_in(mst_bus *bus, MDB_txn *txn, struct qcache *qc, uint64_t id)
{
	int wake = 0, placed[2] = {0, 0};

	return settle_one(bus, txn, qc, id, MST__ACK, 0, mst_now_ns(), &wake, NULL, NULL, placed);
}

int local__qcache_flush(struct local_bus *lb, MDB_txn *txn, struct qcache *qc)
{
	return qc->loaded && qc->dirty ? q_put(lb, txn, qc->name, &qc->q) : 0;
}

int local__settle(mst_bus *bus, const uint64_t *ids, size_t n, int op, int64_t ms, int *results)
{
	struct local_bus *lb = LB(bus);
	struct qcache qc = {.loaded = 0};
	struct {
		char name[MST_NAME_MAX + 1], dlq[MST_NAME_MAX + 1];
	} *woken = NULL;
	size_t nwoken = 0, i, j;
	MDB_txn *txn;
	MDB_cursor *cm = NULL, *cl = NULL;
	int placed[2] = {0, 0};
	int64_t now = mst_now_ns();
	int rc, worst = 0, done = 0;

	if (op == MST__NACK && !(woken = malloc(n * sizeof *woken)))
		return -ENOMEM;
	if ((rc = local__txn(lb, 0, &txn)) < 0)
		goto out;
	if (op == MST__ACK && n > 1 &&
	    ((rc = local__err(mdb_cursor_open(txn, lb->dbi[DB_MSGS], &cm))) < 0 ||
	     (rc = local__err(mdb_cursor_open(txn, lb->dbi[DB_LEASES], &cl))) < 0))
		goto abort;
	for (i = 0; results && i < n; i++)
		results[i] = 1; /* not reached (yet): see failed */
	for (j = n; j-- > 0;) {
		int wq = 0;

		i = j;
		rc = settle_one(bus, txn, &qc, ids[i], op, ms, now, &wq, cm, cl, placed);
		if (results)
			results[i] = rc;
		if (rc == MST_ENOTHELD) {
			worst = rc;
			continue;
		}
		if (rc < 0)
			goto abort;
		done++;
		/* queues that gained ready messages are woken after the commit */
		if (wq && (!nwoken || strcmp(woken[nwoken - 1].name, qc.name))) {
			memcpy(woken[nwoken].name, qc.name, sizeof qc.name);
			memcpy(woken[nwoken].dlq, qc.q.dlq, sizeof qc.q.dlq);
			nwoken++;
		}
	}
	if (cm)
		mdb_cursor_close(cm);
	if (cl)
		mdb_cursor_close(cl);
	cm = cl = NULL;
	if (!done) {
		local__abort(lb, txn);
		rc = worst;
		goto out;
	}
	if (qc.dirty && (rc = q_put(lb, txn, qc.name, &qc.q)) < 0)
		goto abort;
	if ((rc = local__commit(lb, txn)) < 0)
		goto failed;
	if (op == MST__ACK)
		local__wake(local__slot(lb, WAKE_SPACE, ""));
	for (i = 0; i < nwoken; i++) {
		local__wake(local__slot(lb, WAKE_QUEUE, woken[i].name));
		if (woken[i].dlq[0])
			local__wake(local__slot(lb, WAKE_QUEUE, woken[i].dlq));
	}
	rc = worst;
	goto out;
abort:
	if (cm)
		mdb_cursor_close(cm);
	if (cl)
		mdb_cursor_close(cl);
	local__abort(lb, txn);
failed:
	/* nothing was settled: every id reports the error (those not held keep saying so) */
	for (i = 0; results && i < n; i++)
		if (results[i] != MST_ENOTHELD)
			results[i] = rc;
out:
	free(woken);
	return rc;
}

int local__peek(mst_bus *bus, const char *queue, mst_msg *msgs, size_t max, size_t *n)
{
	struct local_bus *lb = LB(bus);
	size_t plen = strlen(queue) + 1, got = 0;
	char kb[KEYBUF];
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, r;

	*n = 0;
	if ((rc = local__txn(lb, 1, &txn)) < 0)
		return rc;
	if ((r = mdb_cursor_open(txn, lb->dbi[DB_READY], &c))) {
		local__abort(lb, txn);
		return local__err(r);
	}
	k.mv_size = local__key(kb, queue, NULL, 0, -1);
	k.mv_data = kb;
	r = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (got < max && r == 0 && k.mv_size == plen + 9 && !memcmp(k.mv_data, queue, plen)) {
		uint64_t id = local__be64((char *)k.mv_data + plen + 1);
		struct mrec m;
		MDB_val mv;
		uint32_t att = 0;

		if ((rc = get_msg(lb, txn, id, &mv, &m)) < 0 ||
		    (rc = local__fill_msg(&msgs[got], id, queue, m.data, m.len)) < 0)
			break;
		if (v.mv_size == 4)
			memcpy(&att, v.mv_data, 4);
		msgs[got].priority = m.prio;
		msgs[got].attempt = att;
		msgs[got].sent_ms = m.sent_ms;
		got++;
		r = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	local__abort(lb, txn);
	if (rc < 0) {
		while (got)
			mst_msg_free(&msgs[--got]);
		return rc == MST_ENOTFOUND ? MST_ECORRUPT : rc;
	}
	*n = got;
	return 0;
}

static void fill_info(mst_queue_info *qi, const char *name, size_t nlen, const struct qrec *q)
{
	memset(qi, 0, sizeof *qi);
	memcpy(qi->name, name, nlen);
	qi->ready = q->ready;
	qi->leased = q->leased;
	qi->delayed = q->delayed;
	qi->dead = q->dead;
	qi->sent = q->sent;
	qi->acked = q->acked;
	qi->redelivered = q->redelivered;
	qi->max_attempts = q->max_attempts;
	qi->lease_ms = q->lease_ms;
	snprintf(qi->dead_letter, sizeof qi->dead_letter, "%s", q->dlq);
}

static int list_queues(struct local_bus *lb, const char *only, mst_queue_info **out, size_t *n);

/* Lists queues. Leases whose owners are gone are returned to their queues first (by
 * the same rate-limited sweep receivers run), so that the counts say what a receiver
 * would find rather than what the last receiver left. */
int local__queue_list(mst_bus *bus, const char *only, mst_queue_info **out, size_t *n)
{
	struct local_bus *lb = LB(bus);
	size_t i;
	int rc, freed = 0;

	rc = list_queues(lb, only, out, n);
	if (rc < 0)
		return rc;
	for (i = 0; i < *n; i++) {
		struct wake_slot *s;
		int64_t due;

		if (!(*out)[i].leased)
			continue;
		s = local__slot(lb, WAKE_QUEUE, (*out)[i].name);
		due = __atomic_load_n(&s->sweep_ns, __ATOMIC_RELAXED);
		if (due <= mst_now_ns() &&
		    __atomic_compare_exchange_n(&s->sweep_ns, &due, mst_now_ns() + SWEEP_NS, 0,
						__ATOMIC_SEQ_CST, __ATOMIC_RELAXED) &&
		    sweep(lb, (*out)[i].name) > 0)
			freed = 1;
	}
	if (!freed)
		return 0;
	free(*out);
	return list_queues(lb, only, out, n);
}

static int list_queues(struct local_bus *lb, const char *only, mst_queue_info **out, size_t *n)
{
	mst_queue_info *list = NULL;
	size_t cnt = 0;
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, r;

	*out = NULL;
	*n = 0;
	if ((rc = local__txn(lb, 1, &txn)) < 0)
		return rc;
	if ((r = mdb_cursor_open(txn, lb->dbi[DB_QUEUES], &c))) {
		local__abort(lb, txn);
		return local__err(r);
	}
	if (only) {
		k.mv_size = strlen(only);
		k.mv_data = (void *)only;
		r = mdb_cursor_get(c, &k, &v, MDB_SET_KEY);
	} else {
		r = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	}
	while (r == 0) {
		struct qrec q;
		void *nl;

		if (k.mv_size == 0 || k.mv_size > MST_NAME_MAX ||
		    (rc = codec_qrec_decode(v.mv_data, v.mv_size, &q)) < 0) {
			rc = MST_ECORRUPT;
			break;
		}
		nl = realloc(list, (cnt + 1) * sizeof *list);
		if (!nl) {
			rc = -ENOMEM;
			break;
		}
		list = nl;
		fill_info(&list[cnt++], k.mv_data, k.mv_size, &q);
		if (only)
			break;
		r = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	local__abort(lb, txn);
	if (rc < 0) {
		free(list);
		return rc;
	}
	if (only && !cnt)
		return MST_ENOTFOUND;
	*out = list;
	*n = cnt;
	return 0;
}

int local__queue_config(mst_bus *bus, const char *queue, uint32_t max_attempts, int64_t lease_ms,
			const char *dead_letter)
{
	struct local_bus *lb = LB(bus);
	struct qrec q;
	MDB_txn *txn;
	int rc;

	if ((rc = local__txn(lb, 0, &txn)) < 0)
		return rc;
	if ((rc = q_get(lb, txn, queue, &q, NULL)) < 0)
		goto abort;
	if (max_attempts)
		q.max_attempts = max_attempts;
	if (lease_ms > 0)
		q.lease_ms = lease_ms;
	if (dead_letter)
		snprintf(q.dlq, sizeof q.dlq, "%s", dead_letter);
	if ((rc = q_put(lb, txn, queue, &q)) < 0)
		goto abort;
	return local__commit(lb, txn);
abort:
	local__abort(lb, txn);
	return rc;
}

#define DELETE_BATCH 1024

struct del_ctx {
	struct local_bus *lb;
	uint64_t *count; /* the queue record's count of the index */
};

/* An index entry of a deleted queue: its message goes with it. */
static int del_message(MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *arg)
{
	struct del_ctx *d = arg;
	unsigned char idb[8];
	MDB_val mk = {8, idb};
	int r;

	(void)v;
	memcpy(idb, (const char *)k->mv_data + k->mv_size - 8, 8); /* the key ends in the id */
	r = mdb_del(txn, d->lb->dbi[DB_MSGS], &mk, NULL);
	if (r && r != MDB_NOTFOUND)
		return r;
	if (*d->count)
		(*d->count)--;
	return 0;
}

/* An idempotency key of a deleted queue: its keytime entry goes with it. */
static int del_keytime(MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *arg)
{
	struct del_ctx *d = arg;
	unsigned char tk[8 + KEYBUF * 2];
	MDB_val tkk = {8 + k->mv_size, tk};
	int64_t t;
	int r;

	if (v->mv_size != 16 || k->mv_size > sizeof tk - 8)
		return 0;
	memcpy(&t, (const char *)v->mv_data + 8, 8);
	local__put_be64(tk, (uint64_t)t);
	memcpy(tk + 8, k->mv_data, k->mv_size);
	r = mdb_del(txn, d->lb->dbi[DB_KEYTIME], &tkk, NULL);
	return r == MDB_NOTFOUND ? 0 : r;
}

/* Deletes queue a batch per commit (its messages from each index, its idempotency
 * keys), the record last, so that a delete cut short can be done again. */
int local__queue_delete(mst_bus *bus, const char *queue)
{
	struct local_bus *lb = LB(bus);
	struct wake_slot *s = local__slot(lb, WAKE_QUEUE, queue);
	char pk[KEYBUF];
	size_t plen = local__key(pk, queue, NULL, 0, -1);
	int any = 0;

	for (;;) {
		size_t budget = DELETE_BATCH;
		struct qrec q;
		MDB_txn *txn;
		int exists, rc;

		if ((rc = local__txn(lb, 0, &txn)) < 0)
			return rc;
		struct del_ctx r = {lb, &q.ready}, d = {lb, &q.delayed}, l = {lb, &q.leased};

		if ((rc = q_get(lb, txn, queue, &q, &exists)) < 0 ||
		    (rc = local__delete_prefix(txn, lb->dbi[DB_READY], pk, plen, plen + 8, &budget,
					       del_message, &r)) < 0 ||
		    (rc = local__delete_prefix(txn, lb->dbi[DB_DELAYED], pk, plen, plen + 8,
					       &budget, del_message, &d)) < 0 ||
		    (rc = local__delete_prefix(txn, lb->dbi[DB_LEASES], pk, plen, plen + 8, &budget,
					       del_message, &l)) < 0 ||
		    (rc = local__delete_prefix(txn, lb->dbi[DB_KEYS], pk, plen, plen + 1, &budget,
					       del_keytime, &r)) < 0)
			goto abort;
		if (budget == DELETE_BATCH) {
			/* nothing left but the record */
			if (!exists && !any) {
				local__abort(lb, txn);
				return MST_ENOTFOUND;
			}
			if (exists) {
				MDB_val k = {strlen(queue), (void *)queue};

				if ((rc = mdb_del(txn, lb->dbi[DB_QUEUES], &k, NULL))) {
					rc = local__err(rc);
					goto abort;
				}
			}
		} else if (exists && (rc = q_put(lb, txn, queue, &q)) < 0) {
			goto abort;
		}
		if ((rc = local__commit(lb, txn)) < 0)
			return rc;
		any = 1;
		local__wake(s);
		local__wake(local__slot(lb, WAKE_SPACE, ""));
		if (budget == DELETE_BATCH)
			return 0; /* the record went in this commit */
		continue;
	abort:
		local__abort(lb, txn);
		return rc;
	}
}
