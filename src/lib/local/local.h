/*
 * local.h - the local backend: a bus in a directory, state in LMDB, wake-ups by futex.
 *
 * Directory layout of a bus:
 *   bus.conf     text: format version, quota, whether the store is preallocated
 *   store.mdb    the LMDB data file, preallocated to the quota (fallocate), so writes
 *                through the shared mapping can never hit a hole on a full tmpfs
 *   store.mdb-lock  LMDB's lock file (robust writer mutex, reader table)
 *   wake         shared futex words, one 64-byte slot per hash of (kind, name)
 *   locks/NAME   one file per named lock (an OFD lock held by the holder)
 *   .init        flock'ed while the bus is created
 */
#ifndef MST_LOCAL_H
#define MST_LOCAL_H

#include "../internal.h"
#include "codec.h"

#include <lmdb.h>
#include <pthread.h>

#define LOCAL_FORMAT 1
#define WAKE_SLOTS 4096
#define SWEEP_NS (50 * 1000000LL) /* dead-owner sweep interval per queue */
#define DEFAULT_LEASE_MS 30000
#define DEFAULT_MAX_ATTEMPTS 5
#define KEY_RETENTION_MS (24LL * 3600 * 1000)

enum {
	DB_META,
	DB_QUEUES,
	DB_MSGS,
	DB_READY,
	DB_LEASES,
	DB_DELAYED,
	DB_KEYS,
	DB_TOPICS,
	DB_TLOG,
	DB_KV,
	DB_KEYTIME,
	DB_KVDEL,
	DB_COUNT
};

struct wake_slot {
	uint32_t seq;	  /* futex word: bumped after each commit that concerns the slot */
	uint32_t waiters; /* processes sleeping on seq */
	int64_t sweep_ns; /* next dead-owner sweep of the queue hashed here */
	char pad[48];
};

struct wake_file {
	uint32_t magic;
	uint32_t slots;
	/* Transaction id being committed by the holder of wlock; 0 outside mdb_txn_commit. */
	uint64_t committing;
	/* Robust process-shared mutex taken around every write transaction, before LMDB's
	 * own writer mutex (see "the writer lock" in store.c). */
	union {
		pthread_mutex_t m;
		char pad[48];
	} wlock;
	struct wake_slot slot[WAKE_SLOTS];
};

struct shared_env;

struct local_bus {
	struct mst_bus pub;
	MDB_env *env; /* shared by every handle of this process on the store (se) */
	struct shared_env *se;
	MDB_dbi dbi[DB_COUNT];
	struct wake_file *wake;
	size_t wake_len;
	uint64_t quota;
	int writemap;
	unsigned shards; /* from bus.conf: the stores of the bus (see shard/shard.c) */
	MDB_txn *wtxn;	 /* the open write transaction (wlock held), or NULL */
};

#define LB(bus) ((struct local_bus *)(bus))

/* Maps an LMDB or errno code to a muster error. */
int local__err(int rc);

/* Begin a transaction (write unless rdonly). Retries nothing; returns muster codes.
 * A write transaction holds the bus's wlock until local__commit or local__abort: end
 * every transaction with one of them, never with mdb_txn_commit or mdb_txn_abort. */
int local__txn(struct local_bus *lb, int rdonly, MDB_txn **txn);
/* Commit; on MDB_MAP_FULL clears stale readers so a retry may fit. */
int local__commit(struct local_bus *lb, MDB_txn *txn);
/* Abort (a read or a write transaction). */
void local__abort(struct local_bus *lb, MDB_txn *txn);
/* Deletes up to *budget entries of dbi whose keys start with the plen bytes of prefix
 * and are at least min_len long, from the first (seek, delete, seek again); each (may be
 * NULL) sees an entry before it goes and may change other databases (an LMDB code, 0 to
 * go on). *budget is counted down per entry. Returns a muster code. */
int local__delete_prefix(MDB_txn *txn, MDB_dbi dbi, const void *prefix, size_t plen, size_t min_len,
			 size_t *budget,
			 int (*each)(MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *arg),
			 void *arg);
/* MST_EFULL when adding bytes would eat into the reserve kept for draining. */
int local__room(struct local_bus *lb, MDB_txn *txn, size_t bytes);

/* Wake slots: kinds keep queues, topics and keys of one name apart. */
enum { WAKE_QUEUE = 'q', WAKE_TOPIC = 't', WAKE_KEY = 'k', WAKE_SPACE = 's' };
struct wake_slot *local__slot(struct local_bus *lb, int kind, const char *name);
void local__wake(struct wake_slot *s);
/* Sleeps until s->seq differs from seen or timeout_ms passes (INT64_MAX: forever).
 * Returns 0 (woken or changed) or MST_ETIMEOUT. */
int local__sleep(struct wake_slot *s, uint32_t seen, int64_t timeout_ms);

/* Key builders: name + NUL + big-endian numbers. Return the key length. */
size_t local__key(char *buf, const char *name, const uint64_t *nums, int n, int prefix_byte);
uint64_t local__be64(const void *p);
void local__put_be64(void *p, uint64_t v);

/* Shared copy of a message into an mst_msg (malloc'ed payload). */
int local__fill_msg(mst_msg *m, uint64_t id, const char *queue, const void *data, size_t len);

extern const struct mst__backend local__backend;

/* queue.c */
int local__send(mst_bus *bus, const char *queue, const mst_buf *msgs, size_t n,
		const mst_send_opts *opts, uint64_t *ids);
int local__recv(mst_bus *bus, const char *queue, const mst_recv_opts *opts, mst_msg *msgs,
		size_t max, size_t *n);
int local__settle(mst_bus *bus, const uint64_t *ids, size_t n, int op, int64_t ms, int *results);
/* The queue record a batch of settlements is working on: loaded on first use, written
 * back (local__qcache_flush) when the batch moves to another queue and at the end. */
struct qcache {
	char name[MST_NAME_MAX + 1];
	struct qrec q;
	int loaded, dirty;
};
/* Acks id inside txn (mst_write). MST_ENOTHELD leaves txn usable; other errors do not. */
int local__ack_in(mst_bus *bus, MDB_txn *txn, struct qcache *qc, uint64_t id);
int local__qcache_flush(struct local_bus *lb, MDB_txn *txn, struct qcache *qc);
int local__peek(mst_bus *bus, const char *queue, mst_msg *msgs, size_t max, size_t *n);
int local__queue_list(mst_bus *bus, const char *only, mst_queue_info **out, size_t *n);
int local__queue_config(mst_bus *bus, const char *queue, uint32_t max_attempts, int64_t lease_ms,
			const char *dead_letter);
int local__stats(mst_bus *bus, mst_stats *out);
/* topic.c */
int local__publish(mst_bus *bus, const char *topic, const void *data, size_t len, uint64_t *seq);
/* Appends inside txn; *seq gets its number. Errors leave txn unusable. */
int local__publish_in(struct local_bus *lb, MDB_txn *txn, const char *topic, const void *data,
		      size_t len, uint64_t *seq);
int local__topic_config(mst_bus *bus, const char *topic, const mst_topic_opts *opts);
int local__topic_delete(mst_bus *bus, const char *topic);
int local__queue_delete(mst_bus *bus, const char *queue);
int local__subscribe(mst_bus *bus, const char *topic, uint64_t from, int64_t wait_ms, mst_msg *msgs,
		     size_t max, size_t *n, uint64_t *next);
/* kv.c */
int local__kv_get(mst_bus *bus, const char *key, mst_kv *out);
int local__kv_put(mst_bus *bus, const char *key, const void *value, size_t len, int cas,
		  uint64_t expected, uint64_t *rev);
int local__kv_del(mst_bus *bus, const char *key);
/* Inside txn; *rev gets the change's revision. MST_ECONFLICT (cas) and MST_ENOTFOUND
 * (del) leave txn usable; other errors do not. */
int local__kv_put_in(struct local_bus *lb, MDB_txn *txn, const char *key, const void *value,
		     size_t len, int cas, uint64_t expected, uint64_t *rev);
int local__kv_del_in(struct local_bus *lb, MDB_txn *txn, const char *key, uint64_t *rev);
/* write.c */
int local__write(mst_bus *bus, mst_op *ops, size_t n);
int local__kv_list(mst_bus *bus, const char *prefix, mst_kv **out, size_t *n);
int local__kv_purge(mst_bus *bus, const char *prefix, size_t *n);
int local__kv_watch(mst_bus *bus, const char *key, uint64_t since, int64_t wait_ms, mst_kv *out);
/* lock.c */
int local__lock_acquire(mst_bus *bus, const char *name, int64_t wait_ms, mst_lock **out);
int local__lock_held(mst_bus *bus, const char *name);

#endif
