/*
 * internal.h - shared declarations of the muster library (not installed).
 *
 * The public API (api.c) validates arguments and forwards to a backend through
 * struct mst__backend. Only the local backend (local/) exists today; a Redis backend
 * will implement the same table. Nothing outside a backend knows its store.
 */
#ifndef MST_INTERNAL_H
#define MST_INTERNAL_H

#include "muster.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Identity of a live process: pid plus its start time (clock ticks since boot, from
 * /proc/PID/stat), so a reused pid is never mistaken for the original process. */
typedef struct mst__owner {
	int32_t pid;
	uint64_t start;
	uint64_t ns; /* pid namespace the pid is a number of (inode of /proc/self/ns/pid) */
} mst__owner;

/* Fills o for pid. -ESRCH if there is no such process (or it is a zombie). */
int mst__owner_of(pid_t pid, mst__owner *o);

/* 1 when o is certainly gone (no process, a zombie, or the pid now names another
 * process); 0 when it may be alive, or when its pid belongs to another pid namespace
 * than ours (nothing can be told from here: the lease then ends by expiry). Cheap for
 * repeated calls on the same owner (a small per-process cache of pidfds). */
int mst__owner_gone(const mst__owner *o);

/* A pidfd (close-on-exec, the caller closes it) that becomes readable when o exits;
 * -1 when o is gone already, in another pid namespace, or pidfds are unavailable. */
int mst__owner_pidfd(const mst__owner *o);

/* Wall clock in ms since the epoch. */
int64_t mst__wall_ms(void);

/* Deadline helpers on the monotonic clock: deadline for wait_ms (-1: none, INT64_MAX),
 * and milliseconds left until it (0 when passed). */
int64_t mst__deadline(int64_t wait_ms);
int64_t mst__ms_left(int64_t deadline_ns);

/* The backend table. Arguments are validated by api.c before a call. */
struct mst__backend {
	const char *name;
	void (*close)(mst_bus *bus);
	int (*send)(mst_bus *bus, const char *queue, const mst_buf *msgs, size_t n,
		    const mst_send_opts *opts, uint64_t *ids);
	int (*recv)(mst_bus *bus, const char *queue, const mst_recv_opts *opts, mst_msg *msgs,
		    size_t max, size_t *n);
	/* ack, nack or touch ids[0..n) in one commit; results[i] (may be NULL) gets 0 or
	 * MST_ENOTHELD per id; returns 0, MST_ENOTHELD if any was not held (the rest are
	 * settled), or another error (nothing settled) */
	int (*settle)(mst_bus *bus, const uint64_t *ids, size_t n, int op, int64_t ms,
		      int *results);
	int (*peek)(mst_bus *bus, const char *queue, mst_msg *msgs, size_t max, size_t *n);
	int (*queue_list)(mst_bus *bus, const char *only, mst_queue_info **out, size_t *n);
	int (*queue_config)(mst_bus *bus, const char *queue, uint32_t max_attempts,
			    int64_t lease_ms, const char *dead_letter);
	int (*queue_delete)(mst_bus *bus, const char *queue);
	int (*publish)(mst_bus *bus, const char *topic, const void *data, size_t len,
		       uint64_t *seq);
	int (*topic_config)(mst_bus *bus, const char *topic, const mst_topic_opts *opts);
	int (*topic_delete)(mst_bus *bus, const char *topic);
	int (*subscribe)(mst_bus *bus, const char *topic, uint64_t from, int64_t wait_ms,
			 mst_msg *msgs, size_t max, size_t *n, uint64_t *next);
	int (*kv_get)(mst_bus *bus, const char *key, mst_kv *out);
	int (*kv_put)(mst_bus *bus, const char *key, const void *value, size_t len, int cas,
		      uint64_t expected, uint64_t *rev);
	int (*kv_del)(mst_bus *bus, const char *key);
	int (*kv_list)(mst_bus *bus, const char *prefix, mst_kv **out, size_t *n);
	int (*kv_purge)(mst_bus *bus, const char *prefix, size_t *n);
	int (*kv_watch)(mst_bus *bus, const char *key, uint64_t since, int64_t wait_ms,
			mst_kv *out);
	/* ops[0..n) in one commit (validated; their rc and out zeroed) */
	int (*write)(mst_bus *bus, mst_op *ops, size_t n);
	int (*lock_acquire)(mst_bus *bus, const char *name, int64_t wait_ms, mst_lock **out);
	int (*lock_held)(mst_bus *bus, const char *name);
	int (*stats)(mst_bus *bus, mst_stats *out);
};

/* Of mst_write: a condition that leaves one op out (its rc), not the whole write. */
static inline int mst__left_out(int rc)
{
	return rc == MST_ECONFLICT || rc == MST_ENOTFOUND || rc == MST_ENOTHELD ||
	       rc == MST_ESKIPPED;
}

/* settle operations */
enum { MST__ACK = 1, MST__NACK = 2, MST__TOUCH = 3 };

/* The part of a handle every backend shares; backends embed it first. */
struct mst_bus {
	const struct mst__backend *be;
	char path[PATH_MAX];
	mst__owner owner;
	size_t payload_max;
};

/* The local backend: opens the bus in directory dir (already located). */
int mst__local_open(mst_bus **out, const char *dir, const mst_bus_opts *opts);
/* Of an open local store: its quota, and the stores of its bus (bus.conf's shards). */
uint64_t mst__local_quota(const mst_bus *bus);
unsigned mst__local_shards(const mst_bus *bus);

/* Sharding (shard/shard.c): wraps *bus, the first store of a bus of shards stores (a
 * local store already open, its owner and payload limit set), with the others, opening
 * (creating) DIR/shard.1 .. shard.N-1. On failure *bus is closed. */
int mst__shard_open(mst_bus **bus, const mst_bus_opts *opts, unsigned shards);

/* Resolves a URL to a local directory: name or absolute path. */
int mst__url_resolve(const char *url, char *dir, size_t dirsz, char *why, size_t whysz);

/* Checks that dir is a directory we own, mode without group/other write, not a
 * symlink. Creates it (0700) when create is set and it is missing. */
int mst__dir_check(const char *dir, bool create);

#endif
