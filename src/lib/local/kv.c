/*
 * kv.c - the key-value store of the local backend.
 *
 *   kv    KEY -> revision (8) + wall-clock ms (8) + value
 *   meta  "kv_rev" -> the last revision handed out (bus-wide, increasing)
 * Every set, compare-and-set and delete takes a new revision in its commit and then
 * wakes the key's slot, so watchers sleep in the kernel until the key changes.
 */
#define _GNU_SOURCE
#include "local.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int next_rev(struct local_bus *lb, MDB_txn *txn, uint64_t *rev)
{
	MDB_val k = {6, (void *)"kv_rev"}, v;
	uint64_t r = 0;
	int rc = mdb_get(txn, lb->dbi[DB_META], &k, &v);

	if (rc == 0 && v.mv_size == 8)
		memcpy(&r, v.mv_data, 8);
	else if (rc == 0 || rc != MDB_NOTFOUND)
		return rc ? local__err(rc) : MST_ECORRUPT;
	r++;
	v.mv_size = 8;
	v.mv_data = &r;
	*rev = r;
	return local__err(mdb_put(txn, lb->dbi[DB_META], &k, &v, 0));
}

static int fill(mst_kv *out, const char *key, size_t klen, const MDB_val *v)
{
	memset(out, 0, sizeof *out);
	if (v->mv_size < 16 || klen > MST_NAME_MAX)
		return MST_ECORRUPT;
	memcpy(out->key, key, klen);
	memcpy(&out->rev, v->mv_data, 8);
	out->len = v->mv_size - 16;
	out->value = malloc(out->len + 1);
	if (!out->value)
		return -ENOMEM;
	memcpy(out->value, (char *)v->mv_data + 16, out->len);
	((char *)out->value)[out->len] = 0;
	return 0;
}

int local__kv_get(mst_bus *bus, const char *key, mst_kv *out)
{
	struct local_bus *lb = LB(bus);
	MDB_val k = {strlen(key), (void *)key}, v;
	MDB_txn *txn;
	int rc, r;

	if ((rc = local__txn(lb, 1, &txn)) < 0)
		return rc;
	r = mdb_get(txn, lb->dbi[DB_KV], &k, &v);
	rc = r ? local__err(r) : fill(out, key, k.mv_size, &v);
	local__abort(lb, txn);
	return rc;
}

int local__kv_put_in(struct local_bus *lb, MDB_txn *txn, const char *key, const void *value,
		     size_t len, int cas, uint64_t expected, uint64_t *rev)
{
	MDB_val k = {strlen(key), (void *)key}, v;
	int64_t wall = mst__wall_ms();
	int rc, r;

	r = mdb_get(txn, lb->dbi[DB_KV], &k, &v);
	if (r && r != MDB_NOTFOUND)
		return local__err(r);
	if (cas) {
		uint64_t cur = 0;
		if (r == 0) {
			if (v.mv_size < 16)
				return MST_ECORRUPT;
			memcpy(&cur, v.mv_data, 8);
		}
		if (cur != expected)
			return MST_ECONFLICT;
	}
	if ((rc = next_rev(lb, txn, rev)) < 0)
		return rc;
	/* no longer deleted; done before the reserve below, which no update may follow */
	r = mdb_del(txn, lb->dbi[DB_KVDEL], &k, NULL);
	if (r && r != MDB_NOTFOUND)
		return local__err(r);
	v.mv_size = 16 + len;
	if ((r = mdb_put(txn, lb->dbi[DB_KV], &k, &v, MDB_RESERVE)))
		return local__err(r);
	memcpy(v.mv_data, rev, 8);
	memcpy((char *)v.mv_data + 8, &wall, 8);
	if (len)
		memcpy((char *)v.mv_data + 16, value, len);
	return 0;
}

int local__kv_put(mst_bus *bus, const char *key, const void *value, size_t len, int cas,
		  uint64_t expected, uint64_t *rev)
{
	struct local_bus *lb = LB(bus);
	MDB_txn *txn;
	uint64_t nrev;
	int rc;

	if ((rc = local__txn(lb, 0, &txn)) < 0)
		return rc;
	if ((rc = local__room(lb, txn, len + 64)) < 0 ||
	    (rc = local__kv_put_in(lb, txn, key, value, len, cas, expected, &nrev)) < 0) {
		local__abort(lb, txn);
		return rc;
	}
	if ((rc = local__commit(lb, txn)) < 0)
		return rc;
	if (rev)
		*rev = nrev;
	local__wake(local__slot(lb, WAKE_KEY, key));
	return 0;
}

int local__kv_del_in(struct local_bus *lb, MDB_txn *txn, const char *key, uint64_t *rev)
{
	MDB_val k = {strlen(key), (void *)key}, dv = {8, rev};
	int rc, r;

	if ((r = mdb_del(txn, lb->dbi[DB_KV], &k, NULL)))
		return local__err(r);
	if ((rc = next_rev(lb, txn, rev)) < 0)
		return rc;
	/* the deletion's revision, for watchers that come later */
	return local__err(mdb_put(txn, lb->dbi[DB_KVDEL], &k, &dv, 0));
}

int local__kv_del(mst_bus *bus, const char *key)
{
	struct local_bus *lb = LB(bus);
	MDB_txn *txn;
	uint64_t nrev;
	int rc;

	if ((rc = local__txn(lb, 0, &txn)) < 0)
		return rc;
	if ((rc = local__kv_del_in(lb, txn, key, &nrev)) < 0) {
		local__abort(lb, txn);
		return rc;
	}
	if ((rc = local__commit(lb, txn)) < 0)
		return rc;
	local__wake(local__slot(lb, WAKE_KEY, key));
	return 0;
}

/* Keys listed per read transaction: a long list is read in several, so that it never
 * holds a snapshot long (LMDB cannot reuse the pages freed after the oldest snapshot
 * still read: a slow list under heavy writing would fill the store). */
#define LIST_CHUNK 512

int local__kv_list(mst_bus *bus, const char *prefix, mst_kv **out, size_t *n)
{
	struct local_bus *lb = LB(bus);
	size_t plen = strlen(prefix), cnt = 0, cap = 0, in_txn;
	char last[MST_NAME_MAX + 1];
	size_t last_len = 0;
	mst_kv *list = NULL;
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	int rc = 0, r, more = 1;

	*out = NULL;
	*n = 0;
	while (more && rc == 0) {
		if ((rc = local__txn(lb, 1, &txn)) < 0)
			break;
		if ((r = mdb_cursor_open(txn, lb->dbi[DB_KV], &c))) {
			local__abort(lb, txn);
			rc = local__err(r);
			break;
		}
		if (last_len) { /* after the last key of the previous chunk */
			k.mv_size = last_len;
			k.mv_data = last;
			r = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
			if (r == 0 && k.mv_size == last_len && !memcmp(k.mv_data, last, last_len))
				r = mdb_cursor_get(c, &k, &v, MDB_NEXT);
		} else if (plen) {
			k.mv_size = plen;
			k.mv_data = (void *)prefix;
			r = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		} else {
			r = mdb_cursor_get(c, &k, &v, MDB_FIRST);
		}
		more = 0;
		for (in_txn = 0; r == 0 && k.mv_size >= plen && !memcmp(k.mv_data, prefix, plen);
		     in_txn++) {
			if (in_txn == LIST_CHUNK && k.mv_size <= sizeof last) {
				more = 1; /* the rest in a new transaction */
				break;
			}
			if (cnt == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				void *nl = realloc(list, ncap * sizeof *list);

				if (!nl) {
					rc = -ENOMEM;
					break;
				}
				list = nl;
				cap = ncap;
			}
			if ((rc = fill(&list[cnt], k.mv_data, k.mv_size, &v)) < 0)
				break;
			cnt++;
			memcpy(last, k.mv_data, k.mv_size < sizeof last ? k.mv_size : sizeof last);
			last_len = k.mv_size < sizeof last ? k.mv_size : sizeof last;
			r = mdb_cursor_get(c, &k, &v, MDB_NEXT);
		}
		mdb_cursor_close(c);
		local__abort(lb, txn);
	}
	if (rc < 0) {
		mst_kv_list_free(list, cnt);
		return rc;
	}
	*out = list;
	*n = cnt;
	return 0;
}

/* The revision at which key was last deleted (0: never, or set again since). */
static uint64_t deleted_rev(struct local_bus *lb, const char *key)
{
	MDB_val k = {strlen(key), (void *)key}, v;
	MDB_txn *txn;
	uint64_t rev = 0;

	if (local__txn(lb, 1, &txn) < 0)
		return 0;
	if (mdb_get(txn, lb->dbi[DB_KVDEL], &k, &v) == 0 && v.mv_size == 8)
		memcpy(&rev, v.mv_data, 8);
	mdb_txn_abort(txn);
	return rev;
}

int local__kv_watch(mst_bus *bus, const char *key, uint64_t since, int64_t wait_ms, mst_kv *out)
{
	struct local_bus *lb = LB(bus);
	struct wake_slot *slot = local__slot(lb, WAKE_KEY, key);
	int64_t deadline = mst__deadline(wait_ms);

	for (;;) {
		uint32_t seen = __atomic_load_n(&slot->seq, __ATOMIC_SEQ_CST);
		int64_t left;
		int rc = local__kv_get(bus, key, out);

		if (rc == 0 && out->rev > since)
			return 0;
		if (rc == 0)
			mst_kv_free(out);
		else if (rc != MST_ENOTFOUND)
			return rc;
		else if (since > 0 && deleted_rev(lb, key) > since) {
			/* the key was deleted after revision since */
			memset(out, 0, sizeof *out);
			snprintf(out->key, sizeof out->key, "%s", key);
			return 0;
		}
		left = mst__ms_left(deadline);
		if (left == 0)
			return wait_ms == 0 ? MST_EEMPTY : MST_ETIMEOUT;
		local__sleep(slot, seen, left);
	}
}

#define PURGE_BATCH 512

int local__kv_purge(mst_bus *bus, const char *prefix, size_t *n)
{
	struct local_bus *lb = LB(bus);
	size_t plen = strlen(prefix);

	*n = 0;
	for (;;) {
		size_t budget = PURGE_BATCH, got;
		MDB_txn *txn;
		int rc;

		if ((rc = local__txn(lb, 0, &txn)) < 0)
			return rc;
		rc = local__delete_prefix(txn, lb->dbi[DB_KV], prefix, plen, 0, &budget, NULL,
					  NULL);
		got = PURGE_BATCH - budget; /* keys; then deletion records */
		if (rc == 0)
			rc = local__delete_prefix(txn, lb->dbi[DB_KVDEL], prefix, plen, 0, &budget,
						  NULL, NULL);
		if (rc < 0 || budget == PURGE_BATCH) {
			local__abort(lb, txn);
			return rc; /* 0 when nothing was left */
		}
		if ((rc = local__commit(lb, txn)) < 0)
			return rc;
		*n += got; /* counted once committed */
	}
}
