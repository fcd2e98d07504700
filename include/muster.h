/*
 * muster.h - the public C API of muster, a daemonless, crash-safe coordination bus.
 *
 * A bus is a named coordination space holding queues (leases, acks, redelivery,
 * priorities, delays, dead letters), topics (append-only logs), a key-value store and
 * named locks. The local backend keeps a bus in a directory on tmpfs; the API does not
 * assume any particular backend.
 *
 * Conventions (every function below follows them unless its comment says otherwise):
 *  - Functions return 0 on success or a negative error code: -errno for system
 *    failures, or one of the MST_E* codes below (all <= -1000, disjoint from errno).
 *    mst_strerror() describes any of them. The library never prints and never exits.
 *  - Memory returned through an out-parameter belongs to the caller and is released
 *    with the matching *_free() function.
 *  - An mst_bus handle may be used by one thread at a time; open one handle per
 *    thread. A handle must not be used in a child after fork(): open a new one there.
 *  - Names of queues, topics, keys and locks match [A-Za-z0-9._:-]{1,128}.
 *  - Times are in milliseconds unless named otherwise; a wait of -1 means forever,
 *    0 means do not wait. Durations above MST_DURATION_MAX_MS are MST_EINVAL.
 *  - The local backend's store (LMDB) has no page checksums: a store file scribbled on
 *    by something else can make a call fault or abort the process.
 */
#ifndef MUSTER_H
#define MUSTER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MST_VERSION "0.1.0"
#define MST_NAME_MAX 128
#define MST_PAYLOAD_MAX_DEFAULT (1024 * 1024)
/* Longest duration any call accepts (ten years, in ms); longer is MST_EINVAL. */
#define MST_DURATION_MAX_MS (315360000000LL)

/* Error codes. X(name, value, message); one table generates enum, names and text. */
#define MST_ERRORS(X)                                                                              \
	X(MST_EINVAL, -1000, "invalid argument")                                                   \
	X(MST_ENAME, -1001, "invalid name (allowed: [A-Za-z0-9._:-]{1,128})")                      \
	X(MST_ETOOBIG, -1002, "payload too large")                                                 \
	X(MST_ENOTFOUND, -1003, "not found")                                                       \
	X(MST_ENOTHELD, -1004, "not held by this caller")                                          \
	X(MST_EEMPTY, -1005, "nothing available")                                                  \
	X(MST_ETIMEOUT, -1006, "timed out")                                                        \
	X(MST_EFULL, -1007, "bus is full")                                                         \
	X(MST_ECONFLICT, -1008, "revision conflict")                                               \
	X(MST_EBUSY, -1009, "held by another process")                                             \
	X(MST_EINSECURE, -1010, "bus directory is not safe to use")                                \
	X(MST_ECORRUPT, -1011, "bus store is corrupt")                                             \
	X(MST_EVERSION, -1012, "bus store has an unsupported version")                             \
	X(MST_ENOOWNER, -1013, "the owning process is gone")                                       \
	X(MST_EBACKEND, -1014, "backend failure")                                                  \
	X(MST_EURL, -1015, "unsupported bus URL")                                                  \
	X(MST_ESKIPPED, -1016, "not applied: the operation it depended on was not")

enum mst_error {
#define MST_X_ENUM(name, value, msg) name = value,
	MST_ERRORS(MST_X_ENUM)
#undef MST_X_ENUM
};

/* A static description of err (a negative errno or an MST_E* code). Never NULL;
 * thread-safe. */
const char *mst_strerror(int err);

/* The symbolic name of err ("MST_EFULL", "ENOENT", ...). Never NULL; thread-safe. */
const char *mst_errname(int err);

/* 0 if name is a valid name of a queue, topic, key or lock, else MST_ENAME. */
int mst_name_check(const char *name);

/* Monotonic clock in nanoseconds (CLOCK_MONOTONIC). */
int64_t mst_now_ns(void);

/* ---------------------------------------------------------------------------------
 * Buses
 */

typedef struct mst_bus mst_bus;

typedef struct mst_bus_opts {
	/* Lease owner for recv and lock-free ownership checks (ack/nack/touch). 0 means
	 * the calling process. A lease is released as soon as its owner is gone. */
	pid_t owner_pid;
	/* Size limit of the bus store in bytes when the bus is created; 0 picks a
	 * default (256 MiB, at most a quarter of the free space of its file system).
	 * Ignored when the bus exists already. */
	uint64_t quota;
	/* Largest payload accepted by send/publish/set; 0 means 1 MiB. */
	size_t payload_max;
	/* Do not create the bus when it does not exist: fail with MST_ENOTFOUND. */
	int no_create;
	/* Stores of the bus when it is created (0 or 1: one; at most MST_SHARDS_MAX),
	 * each with its own writer lock: queues are spread over them by name (a queue and
	 * its NAME.dead go together), keys, topics and locks stay in the first. The quota
	 * is shared out between them. Ignored when the bus exists already. */
	unsigned shards;
} mst_bus_opts;

#define MST_SHARDS_MAX 16

/* Opens (creating when needed) the bus named by url: "local:NAME" (a bus named NAME
 * under the first usable base directory, see mst_bus_locate), "local:/abs/dir",
 * or a plain directory path. NULL means $MUSTER_BUS, else "local:default".
 * opts may be NULL. On success *out is a handle to close with mst_bus_close.
 * Errors: MST_EURL, MST_EINSECURE (symlink, foreign owner, group/world writable),
 * MST_ECORRUPT / MST_EVERSION (store unreadable), MST_EFULL (no room to create),
 * MST_ENOOWNER (opts->owner_pid is not alive), MST_ENOTFOUND (no_create), -errno. */
int mst_bus_open(mst_bus **out, const char *url, const mst_bus_opts *opts);

/* Closes the handle; NULL is allowed. Leases stay with their owner process. */
void mst_bus_close(mst_bus *bus);

/* The directory of the bus. Owned by the handle; valid until mst_bus_close. */
const char *mst_bus_path(const mst_bus *bus);

/* The owner (pid) that leases taken through this handle are attributed to. */
pid_t mst_bus_owner(const mst_bus *bus);

/* The largest payload (message, topic entry or value) the handle sends, in bytes:
 * mst_bus_opts.payload_max, or MST_PAYLOAD_MAX_DEFAULT. 0 for a NULL bus. */
size_t mst_bus_payload_max(const mst_bus *bus);

/* Where a bus would live and why. Fills dir (the base directory chosen, size
 * dirsz) and why (a sentence, size whysz) for url (NULL as in mst_bus_open).
 * It may create the base directory (0700), as opening would; never the bus itself.
 * Errors: MST_EURL, MST_EINVAL (no buffer), MST_EFULL or -errno when no base is usable. */
int mst_bus_locate(const char *url, char *dir, size_t dirsz, char *why, size_t whysz);

/* ---------------------------------------------------------------------------------
 * Queues
 *
 * send adds a message; recv reserves the first ready message (highest priority,
 * then oldest) under a lease for the handle's owner; ack deletes it; nack releases
 * it (optionally after a delay); touch extends the lease. A lease ends when it
 * expires or when its owner process is gone; the message is then ready again with
 * attempt+1. A message whose attempt would exceed the queue's max_attempts moves to
 * the dead-letter queue (default "QUEUE.dead"). Delivery is at-least-once.
 */

typedef struct mst_send_opts {
	int priority;		 /* 0..9, higher first; default 0 */
	int64_t delay_ms;	 /* not ready before this delay; default 0 */
	const char *key;	 /* idempotency key, per queue: the same key within 24 hours
				  * returns the first id and adds nothing */
	int64_t wait_ms;	 /* when the bus is full: wait this long for room (0: fail) */
	const char *const *keys; /* send_batch: one idempotency key per message (NULL
				  * entries: none), in place of key; a message whose key
				  * was sent before (or earlier in the batch) is not added
				  * and its id is the first one */
} mst_send_opts;

/* Sends one message of len bytes (binary safe) to queue, creating the queue when
 * new. *id receives the message id (unique in the bus; never reused). opts may be
 * NULL. Errors: MST_ENAME, MST_ETOOBIG, MST_EINVAL (priority out of range),
 * MST_EFULL (after wait_ms), -errno. */
int mst_send(mst_bus *bus, const char *queue, const void *data, size_t len,
	     const mst_send_opts *opts, uint64_t *id);

typedef struct mst_buf {
	const void *data;
	size_t len;
} mst_buf;

/* Sends n messages in one atomic commit (all or none). ids (n entries, may be NULL)
 * receive the ids in order. opts->key is not allowed here (MST_EINVAL): use opts->keys. */
int mst_send_batch(mst_bus *bus, const char *queue, const mst_buf *msgs, size_t n,
		   const mst_send_opts *opts, uint64_t *ids);

typedef struct mst_recv_opts {
	int64_t wait_ms;  /* how long to wait for a message; default 0 */
	int64_t lease_ms; /* lease duration; 0 means the queue's default (30 s) */
} mst_recv_opts;

typedef struct mst_msg {
	uint64_t id;
	void *data; /* payload, NUL-terminated for convenience (not counted) */
	size_t len;
	int priority;
	uint32_t attempt;	/* 1 on first delivery */
	int64_t sent_ms;	/* wall-clock time of send, ms since the epoch */
	int64_t lease_until_ms; /* wall-clock expiry of the lease (0 for peek) */
	char queue[MST_NAME_MAX + 1];
} mst_msg;

/* Reserves up to max (>= 1, else MST_EINVAL) messages of queue into msgs[0..*n). Waits up to
 * opts->wait_ms for the first one (later ones are taken only if ready). *n receives
 * the count. Each message must be released with mst_msg_free.
 * Errors: MST_ENAME, MST_EEMPTY (wait 0, nothing ready), MST_ETIMEOUT, -errno. */
int mst_recv(mst_bus *bus, const char *queue, const mst_recv_opts *opts, mst_msg *msgs, size_t max,
	     size_t *n);

/* Frees the payload of msg (not msg itself). NULL and repeated calls are safe. */
void mst_msg_free(mst_msg *msg);

/* Acknowledges (deletes) message id, which the handle's owner must hold.
 * Errors: MST_ENOTHELD (unknown, already acknowledged, or leased to someone else
 * after this owner's lease ended), -errno. */
int mst_ack(mst_bus *bus, uint64_t id);

/* Releases message id back to its queue, ready after delay_ms, with attempt+1 on
 * its next delivery (it moves to the dead-letter queue when attempts are used up).
 * Errors as mst_ack. */
int mst_nack(mst_bus *bus, uint64_t id, int64_t delay_ms);

/* Extends the lease of message id to lease_ms from now. Errors as mst_ack. */
int mst_touch(mst_bus *bus, uint64_t id, int64_t lease_ms);

enum mst_settle { MST_SETTLE_ACK = 1, MST_SETTLE_NACK = 2, MST_SETTLE_TOUCH = 3 };

/* Acks, nacks (ready after ms) or touches (lease ms from now; 0: the queue's lease)
 * the n messages ids in one commit. results (n entries, may be NULL) receive 0 or
 * MST_ENOTHELD for each id. Returns 0 when every id was settled; MST_ENOTHELD when some
 * were not held (the others are settled all the same); any other error means none was
 * settled (results then hold that error for the ids that had passed). */
int mst_settle_batch(mst_bus *bus, enum mst_settle op, const uint64_t *ids, size_t n, int64_t ms,
		     int *results);

/* Copies up to max ready messages of queue (in delivery order) into msgs without
 * leasing them. *n receives the count. */
int mst_peek(mst_bus *bus, const char *queue, mst_msg *msgs, size_t max, size_t *n);
/* (peek errors: MST_ENAME, MST_EINVAL; an unknown queue has no messages: *n = 0.) */

typedef struct mst_queue_info {
	char name[MST_NAME_MAX + 1];
	uint64_t ready, leased, delayed, dead;
	uint64_t sent, acked, redelivered;
	uint32_t max_attempts;
	int64_t lease_ms;
	char dead_letter[MST_NAME_MAX + 1];
} mst_queue_info;

/* Lists queues. *out (free with mst_free) receives *n entries, sorted by name. */
int mst_queue_list(mst_bus *bus, mst_queue_info **out, size_t *n);
/* (list errors: MST_EINVAL, MST_ECORRUPT, -ENOMEM.) Leases whose owners are gone are
 * returned to their queues before counting; an expired lease or a delayed message
 * that is due counts as leased or delayed until a receiver looks. dead counts messages moved to the
 * dead-letter queue over the queue's life. */

/* Information on one queue. Errors: MST_ENOTFOUND. */
int mst_queue_stat(mst_bus *bus, const char *queue, mst_queue_info *info);

/* Sets a queue's policy (creating the queue). max_attempts 0, lease_ms 0 or
 * dead_letter NULL keep the current value. */
int mst_queue_config(mst_bus *bus, const char *queue, uint32_t max_attempts, int64_t lease_ms,
		     const char *dead_letter);
/* Errors: MST_ENAME, MST_EINVAL (dead_letter is queue itself, lease out of range).
 * The default dead-letter queue is QUEUE.dead; a queue whose name holds ".dead" or is
 * longer than 123 characters sends its dead letters to muster.dead. */

/* Deletes queue: its messages (ready, delayed and leased), its idempotency keys and its
 * record with its counters and policy. Large queues go a batch of messages per commit,
 * the record last, so a delete cut short can be done again; stop the queue's senders
 * first, or what they send meanwhile may stay. A holder of a deleted message gets
 * MST_ENOTHELD on its ack. Errors: MST_ENOTFOUND (no such queue), MST_ENAME. */
int mst_queue_delete(mst_bus *bus, const char *queue);

/* Frees memory returned by list functions. NULL is allowed. */
void mst_free(void *p);

/* ---------------------------------------------------------------------------------
 * Topics: append-only logs. Each entry has a sequence number, increasing from 1.
 */

typedef struct mst_topic_opts {
	uint64_t max_count; /* keep at most this many entries; 0 keeps the current */
	int64_t max_age_ms; /* drop entries older than this; 0 keeps the current */
} mst_topic_opts;

/* Appends len bytes to topic, creating it. *seq (may be NULL) receives its number.
 * Entries beyond the topic's retention are removed in the same commit. */
int mst_publish(mst_bus *bus, const char *topic, const void *data, size_t len, uint64_t *seq);
/* (publish errors: MST_ENAME, MST_ETOOBIG, MST_EFULL, -errno.) Age retention is applied
 * when a topic is published to, so an idle topic keeps old entries until then. */

/* Sets retention of topic (creating it). */
int mst_topic_config(mst_bus *bus, const char *topic, const mst_topic_opts *opts);
/* (errors: MST_ENAME, MST_EINVAL.) */

/* Deletes topic: its entries and its settings, in one commit; a later publish starts
 * it again from sequence 1. Subscribers waiting on it are woken. Errors:
 * MST_ENOTFOUND (no such topic), MST_ENAME. */
int mst_topic_delete(mst_bus *bus, const char *topic);

#define MST_FROM_EARLIEST 0
#define MST_FROM_LATEST UINT64_MAX

/* Reads up to max entries of topic with sequence >= from (MST_FROM_EARLIEST, an
 * entry number, or MST_FROM_LATEST for only entries published after the call),
 * waiting up to wait_ms for the first. Entries are returned as mst_msg with id =
 * sequence; release each with mst_msg_free. *next receives the sequence to pass as
 * from to continue. Errors: MST_ETIMEOUT, MST_EEMPTY (wait 0), MST_ENAME. */
int mst_subscribe(mst_bus *bus, const char *topic, uint64_t from, int64_t wait_ms, mst_msg *msgs,
		  size_t max, size_t *n, uint64_t *next);

/* ---------------------------------------------------------------------------------
 * Key-value store. Every change gets a new bus-wide revision number.
 */

typedef struct mst_kv {
	char key[MST_NAME_MAX + 1];
	void *value; /* NUL-terminated for convenience (not counted) */
	size_t len;
	uint64_t rev; /* revision of the last change; 0 when deleted */
} mst_kv;

/* Reads key. Errors: MST_ENOTFOUND. Free with mst_kv_free. */
int mst_kv_get(mst_bus *bus, const char *key, mst_kv *out);

/* Sets key to value; *rev (may be NULL) receives the new revision. */
int mst_kv_set(mst_bus *bus, const char *key, const void *value, size_t len, uint64_t *rev);
/* (set and cas errors: MST_ENAME, MST_ETOOBIG, MST_EFULL, -errno; cas also MST_ECONFLICT.) */

/* Sets key only if its current revision is expected (0: the key must not exist).
 * Errors: MST_ECONFLICT. */
int mst_kv_cas(mst_bus *bus, const char *key, uint64_t expected, const void *value, size_t len,
	       uint64_t *rev);

/* Deletes key. Errors: MST_ENOTFOUND. */
int mst_kv_del(mst_bus *bus, const char *key);

/* Lists keys starting with prefix ("" for all), sorted, values included.
 * *out (free with mst_kv_list_free) receives *n entries. A long list is read a few
 * hundred keys per transaction (never holding the store's old pages long): a key
 * changed while it is listed shows its state before or after the change. */
int mst_kv_list(mst_bus *bus, const char *prefix, mst_kv **out, size_t *n);

/* Waits until key changes to a revision above since (0: any existing value is a
 * change), up to wait_ms. On success *out holds the new state (rev 0 and no value
 * when the key was deleted). Errors: MST_ETIMEOUT, MST_EEMPTY (wait 0). */
int mst_kv_watch(mst_bus *bus, const char *key, uint64_t since, int64_t wait_ms, mst_kv *out);

/* Forgets every key starting with prefix (not "": at least one character) and the
 * records of earlier deletions under it, a few hundred per commit: nothing of them is
 * left, so a bus in long use does not keep the history of what it forgot. Nobody is
 * told: a watcher of a purged key goes on waiting (mst_kv_del tells it). *n (may be
 * NULL) receives how many keys were deleted in the commits made. Errors: MST_ENAME
 * (also for ""). */
int mst_kv_purge(mst_bus *bus, const char *prefix, size_t *n);

/* Frees the value of kv (not kv itself); NULL and repeated calls are safe. */
void mst_kv_free(mst_kv *kv);
/* Frees a list from mst_kv_list: its n values and the array. NULL is allowed. */
void mst_kv_list_free(mst_kv *list, size_t n);

/* ---------------------------------------------------------------------------------
 * Writes in one commit: key-value changes, topic entries and acks applied together.
 * A process that records the outcome of its work (a result under a key, an entry for
 * its followers, the ack of the message it worked on) does it in one commit instead
 * of three: nobody sees one without the others, and a crash leaves none or all.
 */

enum mst_op_kind {
	MST_OP_KV_SET = 1, /* name = value */
	MST_OP_KV_CAS,	   /* name = value if its revision is expected (0: it must not exist) */
	MST_OP_KV_DEL,	   /* delete name */
	MST_OP_PUBLISH,	   /* append data to topic name */
	MST_OP_ACK	   /* acknowledge message id (held by this caller) */
};

typedef struct mst_op {
	enum mst_op_kind kind;
	const char *name; /* the key or topic (not used by ack) */
	const void *data; /* the value or entry (set, cas, publish) */
	size_t len;
	uint64_t expected; /* cas */
	uint64_t id;	   /* ack */
	size_t if_ok;	   /* 0, or 1 + the index of an earlier op: applied only if that was */
	/* out */
	int rc;	      /* 0, or why this op was left out: MST_ECONFLICT (cas), MST_ENOTFOUND
		       * (del), MST_ENOTHELD (ack), MST_ESKIPPED (its if_ok was left out) */
	uint64_t out; /* the new revision (set, cas, del) or the entry's sequence (publish) */
} mst_op;

/* Applies ops[0..n) in order in one commit. An op whose condition does not hold is left
 * out (its rc says why) and the others are applied. Returns 0 when every op was
 * applied; the rc of the first op left out when some were (the others are committed);
 * any other error means nothing was committed (and every op's rc holds it).
 * Errors: MST_EINVAL (unknown kind, if_ok not earlier, NULL data with a length),
 * MST_ENAME, MST_ETOOBIG (an entry or value above the bus's payload limit), MST_EFULL. */
int mst_write(mst_bus *bus, mst_op *ops, size_t n);

/* ---------------------------------------------------------------------------------
 * Locks: named mutual exclusion released by the kernel when the holder dies.
 * The holder is the open file description of the lock: children created by fork
 * share it, and it stays held until every process sharing it has closed it or died.
 * Its descriptor is close-on-exec: a program exec'd holds it only after
 * mst_lock_fd(lock, 1). A waiting acquire sleeps in the kernel until the release.
 */

typedef struct mst_lock mst_lock;

/* Takes lock name, waiting up to wait_ms. *out receives the held lock.
 * Errors: MST_EBUSY (wait 0), MST_ETIMEOUT, MST_ENAME, -errno. */
int mst_lock_acquire(mst_bus *bus, const char *name, int64_t wait_ms, mst_lock **out);

/* The descriptor that holds the lock. As a side effect, inherit != 0 clears its
 * close-on-exec flag (so that a program exec'd keeps the lock, as muster lock does)
 * and inherit == 0 sets it. MST_EINVAL for a NULL lock. */
int mst_lock_fd(const mst_lock *lock, int inherit);

/* Releases and frees the lock; NULL is allowed. */
void mst_lock_release(mst_lock *lock);

/* 1 if name is held by someone, 0 if free. */
int mst_lock_held(mst_bus *bus, const char *name);
/* (held errors: MST_ENAME, MST_EINVAL, -errno.) */

/* ---------------------------------------------------------------------------------
 * Statistics
 */

typedef struct mst_stats {
	uint64_t store_bytes; /* size reserved for the store (the quota) */
	uint64_t used_bytes;  /* pages in use */
	uint64_t queues, topics, keys;
	uint64_t ready, leased, delayed, dead;
	uint64_t sent, acked, redelivered;
	uint64_t readers_max, readers_used;
	int writemap;	 /* store written through its shared mapping */
	unsigned shards; /* stores the bus's queues are spread over (1: not sharded) */
} mst_stats;

/* Fills out with the bus's figures (store size and use, reader slots of the local
 * backend, totals over all queues; see mst_queue_list for what counts mean).
 * Errors: MST_EINVAL, MST_ECORRUPT, -errno. */
int mst_stats_get(mst_bus *bus, mst_stats *out);

#ifdef __cplusplus
}
#endif
#endif
