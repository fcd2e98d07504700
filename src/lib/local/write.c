/*
 * write.c - mst_write on the local backend: key-value changes, topic entries and acks
 * in one write transaction.
 *
 * Each op runs the same code as its single call (kv.c, topic.c, queue.c) inside the one
 * transaction. An op whose condition does not hold (a cas on another revision, a
 * delete of a missing key, an ack of a message not held, an op whose if_ok was left
 * out) leaves the transaction usable and is only left out; any other failure aborts
 * the whole write. After the commit the keys, topics and space waiters concerned are
 * woken once each.
 */
#define _GNU_SOURCE
#include "local.h"

#include <string.h>

static int apply(mst_bus *bus, MDB_txn *txn, struct qcache *qc, mst_op *ops, size_t i)
{
	struct local_bus *lb = LB(bus);
	mst_op *op = &ops[i];

	if (op->if_ok && ops[op->if_ok - 1].rc != 0)
		return MST_ESKIPPED;
	switch (op->kind) {
	case MST_OP_KV_SET:
	case MST_OP_KV_CAS:
		return local__kv_put_in(lb, txn, op->name, op->data, op->len,
					op->kind == MST_OP_KV_CAS, op->expected, &op->out);
	case MST_OP_KV_DEL:
		return local__kv_del_in(lb, txn, op->name, &op->out);
	case MST_OP_PUBLISH:
		return local__publish_in(lb, txn, op->name, op->data, op->len, &op->out);
	case MST_OP_ACK:
		return local__ack_in(bus, txn, qc, op->id);
	}
	return MST_EINVAL;
}

int local__write(mst_bus *bus, mst_op *ops, size_t n)
{
	struct local_bus *lb = LB(bus);
	struct qcache qc = {.loaded = 0};
	struct wake_slot *last = NULL, *s;
	MDB_txn *txn;
	size_t i, bytes = 0;
	int rc, first = 0, acked = 0;

	for (i = 0; i < n; i++)
		bytes += ops[i].len + 64;
	if ((rc = local__txn(lb, 0, &txn)) < 0)
		goto failed;
	if ((rc = local__room(lb, txn, bytes)) < 0)
		goto abort;
	for (i = 0; i < n; i++) {
		rc = apply(bus, txn, &qc, ops, i);
		ops[i].rc = rc;
		if (rc < 0 && !mst__left_out(rc))
			goto abort;
		if (rc < 0) {
			ops[i].out = 0;
			if (!first)
				first = rc;
		}
	}
	if ((rc = local__qcache_flush(lb, txn, &qc)) < 0)
		goto abort;
	if ((rc = local__commit(lb, txn)) < 0)
		goto failed;
	for (i = 0; i < n; i++) {
		if (ops[i].rc)
			continue;
		if (ops[i].kind == MST_OP_ACK) {
			acked = 1;
			continue;
		}
		s = local__slot(lb, ops[i].kind == MST_OP_PUBLISH ? WAKE_TOPIC : WAKE_KEY,
				ops[i].name);
		if (s != last)
			local__wake(s);
		last = s;
	}
	if (acked)
		local__wake(local__slot(lb, WAKE_SPACE, ""));
	return first;
abort:
	local__abort(lb, txn);
failed:
	for (i = 0; i < n; i++) {
		ops[i].rc = rc;
		ops[i].out = 0;
	}
	return rc;
}
