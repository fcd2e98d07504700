/*
 * shard.c - a bus of several stores: queues spread over them by name.
 *
 * Every write to a local store takes that store's one writer lock, so many processes
 * writing to many queues of one store wait for each other however many cores there
 * are. A sharded bus has N stores (N from bus.conf, fixed when the bus is created): the
 * bus directory itself is store 0 and DIR/shard.K is store K, each a whole local store
 * with its own lock, wake-up words and quota share.
 *
 *   queue Q        store hash(Q) % N, hashing Q up to its first ".dead", so that a
 *                  queue and its dead-letter queue Q.dead are in one store (a dead
 *                  letter moves inside one transaction)
 *   muster.dead    the dead letters of queues with long names: one per store, read
 *                  store by store
 *   keys, topics,  store 0
 *   locks
 *   message ids    local id * 16 + store: unique in the bus, and an ack finds its store
 *
 * The stores are made with the bus (their space is taken at once, as one store's is).
 * A handle opens store 0 at once and another store when it first needs it: a process
 * that uses one queue maps two stores, not N, and its start and exit cost what they
 * cost on a bus of one store. A store missing (its creation cut short) is made again by
 * a write or a receive, and reads as empty.
 *
 * What a single store gives in one commit and a sharded bus does not:
 *   - mst_write with acks of messages in other stores than store 0 commits once per
 *     store: the keys and topics (store 0) first when they come first. An op's if_ok
 *     may name an op of a store written before it; otherwise MST_EINVAL.
 *   - mst_settle_batch over several stores settles each store in its own commit.
 *   - a custom dead-letter queue must be in the queue's store (MST_EINVAL otherwise).
 */
#define _GNU_SOURCE
#include "../internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define SHARD_BITS 4
#define SHARD_MASK ((1u << SHARD_BITS) - 1)
#define DEAD_ALL "muster.dead"

struct shard_bus {
	struct mst_bus pub;
	unsigned n;
	mst_bus_opts opts;	    /* for opening the other stores */
	mst_bus *s[MST_SHARDS_MAX]; /* NULL until first used (store 0: always open) */
};

#define SB(bus) ((struct shard_bus *)(bus))

/* Store k, opened on first use; NULL with *rc set when it cannot be. A store missing
 * (its creation cut short) is made again when create is set (writes, receives), and is
 * MST_ENOTFOUND otherwise (reads: it holds nothing). Threads of one handle may race
 * here: the loser closes its copy. */
static mst_bus *store(struct shard_bus *sb, unsigned k, int create, int *rc)
{
	mst_bus *b = __atomic_load_n(&sb->s[k], __ATOMIC_ACQUIRE), *expect = NULL;
	mst_bus_opts o = sb->opts;
	char dir[PATH_MAX];

	if (b)
		return b;
	if (snprintf(dir, sizeof dir, "%s/shard.%u", sb->pub.path, k) >= (int)sizeof dir) {
		*rc = MST_EURL;
		return NULL;
	}
	o.no_create = !create;
	if ((*rc = mst__local_open(&b, dir, &o)) < 0)
		return NULL;
	b->owner = sb->pub.owner;
	b->payload_max = sb->pub.payload_max;
	if (!__atomic_compare_exchange_n(&sb->s[k], &expect, b, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		mst_bus_close(b);
		b = expect;
	}
	return b;
}

/* Declares mst_bus *S (store k, made if missing) or returns its error. */
#define STORE_OR_RETURN(S, sb, k)                                                                  \
	int S##_rc = 0;                                                                            \
	mst_bus *S = store(sb, k, 1, &S##_rc);                                                     \
	if (!S)                                                                                    \
	return S##_rc

static const struct mst__backend shard_backend;

/* The store of queue: FNV-1a of its name up to the first ".dead". */
static unsigned route(const struct shard_bus *sb, const char *queue)
{
	const char *dead = strstr(queue, ".dead");
	size_t len = dead ? (size_t)(dead - queue) : strlen(queue), i;
	uint32_t h = 2166136261u;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)queue[i];
		h *= 16777619u;
	}
	return h % sb->n;
}

static uint64_t gid(uint64_t local, unsigned k)
{
	return local << SHARD_BITS | k;
}

static void map_ids(uint64_t *ids, size_t n, unsigned k)
{
	size_t i;

	for (i = 0; i < n; i++)
		ids[i] = gid(ids[i], k);
}

static void map_msgs(mst_msg *msgs, size_t n, unsigned k)
{
	size_t i;

	for (i = 0; i < n; i++)
		msgs[i].id = gid(msgs[i].id, k);
}

static void shard_close(mst_bus *bus)
{
	struct shard_bus *sb = SB(bus);
	unsigned k;

	for (k = 0; k < sb->n; k++)
		mst_bus_close(sb->s[k]);
	free(sb);
}

static int shard_send(mst_bus *bus, const char *queue, const mst_buf *msgs, size_t n,
		      const mst_send_opts *opts, uint64_t *ids)
{
	struct shard_bus *sb = SB(bus);
	unsigned k = route(sb, queue);
	STORE_OR_RETURN(st, sb, k);
	int rc = st->be->send(st, queue, msgs, n, opts, ids);

	if (rc == 0 && ids)
		map_ids(ids, n, k);
	return rc;
}

/* muster.dead: each store's in turn; a wait polls them every 20 ms. */
static int recv_dead(struct shard_bus *sb, const mst_recv_opts *opts, mst_msg *msgs, size_t max,
		     size_t *n)
{
	int64_t deadline = mst__deadline(opts ? opts->wait_ms : 0);
	mst_recv_opts o = {0, opts ? opts->lease_ms : 0};

	for (;;) {
		unsigned k;
		int64_t left;

		for (k = 0; k < sb->n; k++) {
			int rc = 0;
			mst_bus *st = store(sb, k, 0, &rc);

			if (st)
				rc = st->be->recv(st, DEAD_ALL, &o, msgs, max, n);
			else if (rc == MST_ENOTFOUND)
				continue; /* a store never made holds nothing */
			if (rc == 0) {
				map_msgs(msgs, *n, k);
				return 0;
			}
			if (rc != MST_EEMPTY)
				return rc;
		}
		left = mst__ms_left(deadline);
		if (left == 0)
			return opts && opts->wait_ms ? MST_ETIMEOUT : MST_EEMPTY;
		{
			struct timespec ts = {0, (left < 20 ? left : 20) * 1000000L};

			nanosleep(&ts, NULL);
		}
	}
}

static int shard_recv(mst_bus *bus, const char *queue, const mst_recv_opts *opts, mst_msg *msgs,
		      size_t max, size_t *n)
{
	struct shard_bus *sb = SB(bus);
	unsigned k;
	int rc;

	if (!strcmp(queue, DEAD_ALL))
		return recv_dead(sb, opts, msgs, max, n);
	k = route(sb, queue);
	{
		STORE_OR_RETURN(st, sb, k);
		rc = st->be->recv(st, queue, opts, msgs, max, n);
	}
	if (rc == 0)
		map_msgs(msgs, *n, k);
	return rc;
}

static int shard_settle(mst_bus *bus, const uint64_t *ids, size_t n, int op, int64_t ms,
			int *results)
{
	struct shard_bus *sb = SB(bus);
	uint64_t *lids = malloc(n * sizeof *lids);
	int *lres = malloc(n * sizeof *lres);
	size_t *at = malloc(n * sizeof *at);
	int rc = 0, notheld = 0;
	unsigned k;
	size_t i;

	if (!lids || !lres || !at) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((ids[i] & SHARD_MASK) >= sb->n) {
			/* no store of this bus made it */
			if (results)
				results[i] = MST_ENOTHELD;
			notheld = 1;
		}
	}
	for (k = 0; k < sb->n && rc == 0; k++) {
		size_t m = 0, j;

		for (i = 0; i < n; i++)
			if ((ids[i] & SHARD_MASK) == k) {
				at[m] = i;
				lids[m++] = ids[i] >> SHARD_BITS;
			}
		if (!m)
			continue;
		mst_bus *st = store(sb, k, 0, &rc);

		if (!st && rc == MST_ENOTFOUND) {
			/* a store never made holds no lease */
			for (j = 0; j < m; j++)
				lres[j] = MST_ENOTHELD;
			rc = MST_ENOTHELD;
		} else if (!st) {
			break;
		} else {
			rc = st->be->settle(st, lids, m, op, ms, lres);
		}
		if (rc == MST_ENOTHELD) {
			notheld = 1;
			rc = 0;
		}
		for (j = 0; j < m && results; j++)
			results[at[j]] = rc ? rc : lres[j];
	}
out:
	free(lids);
	free(lres);
	free(at);
	return rc ? rc : notheld ? MST_ENOTHELD : 0;
}

static int shard_peek(mst_bus *bus, const char *queue, mst_msg *msgs, size_t max, size_t *n)
{
	struct shard_bus *sb = SB(bus);
	unsigned k;
	int rc;

	if (!strcmp(queue, DEAD_ALL)) {
		size_t got = 0, m;

		for (k = 0; k < sb->n && got < max; k++) {
			mst_bus *st = store(sb, k, 0, &rc);

			if (!st && rc == MST_ENOTFOUND)
				continue;
			if (!st || (rc = st->be->peek(st, queue, msgs + got, max - got, &m)) < 0) {
				while (got)
					mst_msg_free(&msgs[--got]);
				return rc;
			}
			map_msgs(msgs + got, m, k);
			got += m;
		}
		*n = got;
		return 0;
	}
	k = route(sb, queue);
	{
		mst_bus *st = store(sb, k, 0, &rc);

		if (!st && rc == MST_ENOTFOUND) {
			*n = 0; /* as an unknown queue */
			return 0;
		}
		if (!st)
			return rc;
		rc = st->be->peek(st, queue, msgs, max, n);
	}
	if (rc == 0)
		map_msgs(msgs, *n, k);
	return rc;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const mst_queue_info *)a)->name, ((const mst_queue_info *)b)->name);
}

/* Adds the counts of b to a (the same queue, muster.dead, in two stores). */
static void merge(mst_queue_info *a, const mst_queue_info *b)
{
	a->ready += b->ready;
	a->leased += b->leased;
	a->delayed += b->delayed;
	a->dead += b->dead;
	a->sent += b->sent;
	a->acked += b->acked;
	a->redelivered += b->redelivered;
}

static int shard_queue_list(mst_bus *bus, const char *only, mst_queue_info **out, size_t *n)
{
	struct shard_bus *sb = SB(bus);
	mst_queue_info *all = NULL, *part, *p;
	size_t cnt = 0, m, i, j;
	unsigned k;
	int rc;

	if (only && strcmp(only, DEAD_ALL)) {
		mst_bus *st = store(sb, route(sb, only), 0, &rc);

		return st ? st->be->queue_list(st, only, out, n) : rc;
	}
	for (k = 0; k < sb->n; k++) {
		mst_bus *st = store(sb, k, 0, &rc);

		if (st)
			rc = st->be->queue_list(st, only, &part, &m);
		if (rc == MST_ENOTFOUND)
			continue;
		if (rc < 0) {
			free(all);
			return rc;
		}
		if (m && !(p = realloc(all, (cnt + m) * sizeof *all))) {
			free(part);
			free(all);
			return -ENOMEM;
		}
		if (m) {
			all = p;
			memcpy(all + cnt, part, m * sizeof *all);
			cnt += m;
		}
		free(part);
	}
	if (only && !cnt)
		return MST_ENOTFOUND;
	if (cnt)
		qsort(all, cnt, sizeof *all, by_name);
	for (i = 0, j = 0; i < cnt; i++) {
		if (j && !strcmp(all[j - 1].name, all[i].name))
			merge(&all[j - 1], &all[i]);
		else
			all[j++] = all[i];
	}
	*out = all;
	*n = j;
	return 0;
}

static int shard_queue_config(mst_bus *bus, const char *queue, uint32_t max_attempts,
			      int64_t lease_ms, const char *dead_letter)
{
	struct shard_bus *sb = SB(bus);
	unsigned k = route(sb, queue);

	if (dead_letter && route(sb, dead_letter) != k)
		return MST_EINVAL; /* a dead letter cannot move between stores in one commit */
	{
		STORE_OR_RETURN(st, sb, k);
		return st->be->queue_config(st, queue, max_attempts, lease_ms, dead_letter);
	}
}

static int shard_queue_delete(mst_bus *bus, const char *queue)
{
	struct shard_bus *sb = SB(bus);
	unsigned k;
	int rc, found = 0;

	if (strcmp(queue, DEAD_ALL)) {
		mst_bus *st = store(sb, route(sb, queue), 0, &rc);

		return st ? st->be->queue_delete(st, queue) : rc;
	}
	for (k = 0; k < sb->n; k++) {
		mst_bus *st = store(sb, k, 0, &rc);

		if (st)
			rc = st->be->queue_delete(st, queue);
		if (rc == 0)
			found = 1;
		else if (rc != MST_ENOTFOUND)
			return rc;
	}
	return found ? 0 : MST_ENOTFOUND;
}

/* Keys, topics and locks: store 0. */
#define S0(bus) (SB(bus)->s[0])

static int shard_publish(mst_bus *bus, const char *topic, const void *data, size_t len,
			 uint64_t *seq)
{
	return S0(bus)->be->publish(S0(bus), topic, data, len, seq);
}

static int shard_topic_config(mst_bus *bus, const char *topic, const mst_topic_opts *opts)
{
	return S0(bus)->be->topic_config(S0(bus), topic, opts);
}

static int shard_topic_delete(mst_bus *bus, const char *topic)
{
	return S0(bus)->be->topic_delete(S0(bus), topic);
}

static int shard_subscribe(mst_bus *bus, const char *topic, uint64_t from, int64_t wait_ms,
			   mst_msg *msgs, size_t max, size_t *n, uint64_t *next)
{
	return S0(bus)->be->subscribe(S0(bus), topic, from, wait_ms, msgs, max, n, next);
}

static int shard_kv_get(mst_bus *bus, const char *key, mst_kv *out)
{
	return S0(bus)->be->kv_get(S0(bus), key, out);
}

static int shard_kv_put(mst_bus *bus, const char *key, const void *value, size_t len, int cas,
			uint64_t expected, uint64_t *rev)
{
	return S0(bus)->be->kv_put(S0(bus), key, value, len, cas, expected, rev);
}

static int shard_kv_del(mst_bus *bus, const char *key)
{
	return S0(bus)->be->kv_del(S0(bus), key);
}

static int shard_kv_list(mst_bus *bus, const char *prefix, mst_kv **out, size_t *n)
{
	return S0(bus)->be->kv_list(S0(bus), prefix, out, n);
}

static int shard_kv_purge(mst_bus *bus, const char *prefix, size_t *n)
{
	return S0(bus)->be->kv_purge(S0(bus), prefix, n);
}

static int shard_kv_watch(mst_bus *bus, const char *key, uint64_t since, int64_t wait_ms,
			  mst_kv *out)
{
	return S0(bus)->be->kv_watch(S0(bus), key, since, wait_ms, out);
}

static int shard_lock_acquire(mst_bus *bus, const char *name, int64_t wait_ms, mst_lock **out)
{
	return S0(bus)->be->lock_acquire(S0(bus), name, wait_ms, out);
}

static int shard_lock_held(mst_bus *bus, const char *name)
{
	return S0(bus)->be->lock_held(S0(bus), name);
}

/* The store of op: its message's for an ack, else 0; n (no store) for an ack of an id
 * no store of this bus made. */
static unsigned op_store(const struct shard_bus *sb, const mst_op *op)
{
	if (op->kind != MST_OP_ACK)
		return 0;
	return (op->id & SHARD_MASK) < sb->n ? (unsigned)(op->id & SHARD_MASK) : sb->n;
}

/* ops in one commit per store, the stores in the order of their first op. */
static int shard_write(mst_bus *bus, mst_op *ops, size_t n)
{
	struct shard_bus *sb = SB(bus);
	unsigned char *st = malloc(n ? n : 1);
	size_t *at = malloc((n ? n : 1) * sizeof *at);
	mst_op *sub = malloc((n ? n : 1) * sizeof *sub);
	int rank[MST_SHARDS_MAX + 1], order[MST_SHARDS_MAX], norder = 0, rc = 0, g, committed = 0;
	size_t i;

	if (!st || !at || !sub) {
		rc = -ENOMEM;
		goto fail;
	}
	for (g = 0; g <= MST_SHARDS_MAX; g++)
		rank[g] = -1;
	for (i = 0; i < n; i++) {
		st[i] = (unsigned char)op_store(sb, &ops[i]);
		if (st[i] == sb->n) {
			ops[i].rc = MST_ENOTHELD;
			continue;
		}
		if (rank[st[i]] < 0) {
			rank[st[i]] = norder;
			order[norder++] = st[i];
		}
	}
	/* an if_ok must name an op of the same store or of one written before */
	for (i = 0; i < n; i++) {
		size_t j = ops[i].if_ok;

		if (j && st[i] != sb->n && st[j - 1] != sb->n && rank[st[j - 1]] > rank[st[i]]) {
			rc = MST_EINVAL;
			goto fail;
		}
	}
	for (g = 0; g < norder; g++) {
		unsigned k = (unsigned)order[g];
		size_t m = 0, j;

		for (i = 0; i < n; i++) {
			if (st[i] != k)
				continue;
			at[i] = SIZE_MAX;
			j = ops[i].if_ok;
			if (j && (st[j - 1] != k ? ops[j - 1].rc != 0 : at[j - 1] == SIZE_MAX)) {
				ops[i].rc = MST_ESKIPPED; /* its condition was left out */
				continue;
			}
			sub[m] = ops[i];
			sub[m].if_ok = j && st[j - 1] == k ? at[j - 1] + 1 : 0;
			if (sub[m].kind == MST_OP_ACK)
				sub[m].id >>= SHARD_BITS;
			at[i] = m++;
		}
		if (!m)
			continue;
		mst_bus *stk = store(sb, k, 0, &rc);

		if (stk) {
			rc = stk->be->write(stk, sub, m);
		} else if (rc == MST_ENOTFOUND) {
			/* only acks go to a store other than 0, and one never made holds none */
			for (j = 0; j < m; j++)
				sub[j].rc = MST_ENOTHELD;
			rc = MST_ENOTHELD;
		}
		if (rc < 0 && !mst__left_out(rc)) {
			/* this store's ops failed; the stores before it stay committed */
			for (i = 0; i < n; i++)
				if (st[i] != sb->n && rank[st[i]] >= g) {
					ops[i].rc = rc;
					ops[i].out = 0;
				}
			if (!committed)
				goto fail;
			goto out;
		}
		committed = 1;
		for (i = 0; i < n; i++)
			if (st[i] == k && at[i] != SIZE_MAX) {
				ops[i].rc = sub[at[i]].rc;
				ops[i].out = sub[at[i]].out;
			}
	}
	rc = 0;
	for (i = 0; i < n && !rc; i++)
		rc = ops[i].rc;
	goto out;
fail:
	for (i = 0; i < n; i++) {
		ops[i].rc = rc;
		ops[i].out = 0;
	}
out:
	free(st);
	free(at);
	free(sub);
	return rc;
}

static int shard_stats(mst_bus *bus, mst_stats *out)
{
	struct shard_bus *sb = SB(bus);
	mst_stats s;
	unsigned k;
	int rc;

	if ((rc = S0(bus)->be->stats(S0(bus), out)) < 0)
		return rc;
	for (k = 1; k < sb->n; k++) {
		mst_bus *st = store(sb, k, 0, &rc);

		if (!st && rc == MST_ENOTFOUND) {
			out->store_bytes += sb->opts.quota; /* its share, not made yet */
			continue;
		}
		if (!st || (rc = st->be->stats(st, &s)) < 0)
			return rc;
		out->store_bytes += s.store_bytes;
		out->used_bytes += s.used_bytes;
		out->queues += s.queues;
		out->ready += s.ready;
		out->leased += s.leased;
		out->delayed += s.delayed;
		out->dead += s.dead;
		out->sent += s.sent;
		out->acked += s.acked;
		out->redelivered += s.redelivered;
	}
	out->shards = sb->n;
	return 0;
}

int mst__shard_open(mst_bus **bus, const mst_bus_opts *opts, unsigned shards)
{
	struct shard_bus *sb = calloc(1, sizeof *sb);
	mst_bus *first = *bus;

	*bus = NULL;
	if (!sb) {
		mst_bus_close(first);
		return -ENOMEM;
	}
	sb->pub = *first;
	sb->pub.be = &shard_backend;
	sb->n = shards;
	sb->s[0] = first;
	sb->opts = opts ? *opts : (mst_bus_opts){0};
	sb->opts.shards = 1;
	sb->opts.quota = mst__local_quota(first);
	if (!(opts && opts->no_create)) {
		/* the stores are made with the bus (the first opener after its creation makes
		 * them), so that its space is taken at once, as one store's is; an opener
		 * finds them there with a stat each */
		unsigned k;

		for (k = 1; k < shards; k++) {
			char path[PATH_MAX];
			struct stat st;
			int rc;

			if (snprintf(path, sizeof path, "%s/shard.%u/bus.conf", first->path, k) <
				    (int)sizeof path &&
			    stat(path, &st) == 0)
				continue;
			if (!store(sb, k, 1, &rc)) {
				shard_close(&sb->pub);
				return rc;
			}
		}
	}
	*bus = &sb->pub;
	return 0;
}

static const struct mst__backend shard_backend = {
	.name = "sharded",
	.close = shard_close,
	.send = shard_send,
	.recv = shard_recv,
	.settle = shard_settle,
	.peek = shard_peek,
	.queue_list = shard_queue_list,
	.queue_config = shard_queue_config,
	.queue_delete = shard_queue_delete,
	.publish = shard_publish,
	.topic_config = shard_topic_config,
	.topic_delete = shard_topic_delete,
	.subscribe = shard_subscribe,
	.kv_get = shard_kv_get,
	.kv_put = shard_kv_put,
	.kv_del = shard_kv_del,
	.kv_list = shard_kv_list,
	.kv_purge = shard_kv_purge,
	.kv_watch = shard_kv_watch,
	.write = shard_write,
	.lock_acquire = shard_lock_acquire,
	.lock_held = shard_lock_held,
	.stats = shard_stats,
};
