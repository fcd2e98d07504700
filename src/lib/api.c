/*
 * api.c - the public entry points: argument checks, then the backend.
 *
 * Everything a caller can get wrong (names, sizes, ranges, NULLs) is rejected here with
 * a muster error before any backend is touched, so backends only see valid requests.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A wait: -1 (forever) or 0..MST_DURATION_MAX_MS. A duration: 0..MST_DURATION_MAX_MS. */
static bool bad_wait(int64_t ms)
{
	return ms < -1 || ms > MST_DURATION_MAX_MS;
}

static bool bad_duration(int64_t ms)
{
	return ms < 0 || ms > MST_DURATION_MAX_MS;
}

int mst_bus_open(mst_bus **out, const char *url, const mst_bus_opts *opts)
{
	char dir[PATH_MAX], why[16];
	mst__owner owner;
	pid_t pid;
	int rc;

	if (!out)
		return MST_EINVAL;
	*out = NULL;
	pid = opts && opts->owner_pid > 0 ? opts->owner_pid : getpid();
	if (mst__owner_of(pid, &owner) < 0)
		return MST_ENOOWNER;
	rc = mst__url_resolve(url, dir, sizeof dir, why, sizeof why);
	if (rc < 0)
		return rc;
	if (opts && opts->shards > MST_SHARDS_MAX)
		return MST_EINVAL;
	rc = mst__local_open(out, dir, opts);
	if (rc < 0)
		return rc;
	(*out)->owner = owner;
	(*out)->payload_max =
		opts && opts->payload_max ? opts->payload_max : MST_PAYLOAD_MAX_DEFAULT;
	if (mst__local_shards(*out) > 1 &&
	    (rc = mst__shard_open(out, opts, mst__local_shards(*out))) < 0)
		return rc;
	return 0;
}

void mst_bus_close(mst_bus *bus)
{
	if (bus)
		bus->be->close(bus);
}

const char *mst_bus_path(const mst_bus *bus)
{
	return bus ? bus->path : NULL;
}

pid_t mst_bus_owner(const mst_bus *bus)
{
	return bus ? bus->owner.pid : 0;
}

size_t mst_bus_payload_max(const mst_bus *bus)
{
	return bus ? bus->payload_max : 0;
}

static int check_send(mst_bus *bus, const char *queue, const mst_send_opts *opts)
{
	if (!bus)
		return MST_EINVAL;
	if (mst_name_check(queue) < 0)
		return MST_ENAME;
	if (opts && (opts->priority < 0 || opts->priority > 9 || bad_duration(opts->delay_ms) ||
		     bad_wait(opts->wait_ms)))
		return MST_EINVAL;
	if (opts && opts->key && mst_name_check(opts->key) < 0)
		return MST_ENAME;
	return 0;
}

/* The keys of a batch: valid names, or NULL. */
static int check_keys(const mst_send_opts *opts, size_t n)
{
	size_t i;

	for (i = 0; opts && opts->keys && i < n; i++)
		if (opts->keys[i] && mst_name_check(opts->keys[i]) < 0)
			return MST_ENAME;
	return 0;
}

int mst_send(mst_bus *bus, const char *queue, const void *data, size_t len,
	     const mst_send_opts *opts, uint64_t *id)
{
	mst_buf b = {data, len};
	int rc = check_send(bus, queue, opts);

	if (rc < 0)
		return rc;
	if ((!data && len) || (opts && opts->keys))
		return MST_EINVAL;
	if (len > bus->payload_max)
		return MST_ETOOBIG;
	return bus->be->send(bus, queue, &b, 1, opts, id);
}

int mst_send_batch(mst_bus *bus, const char *queue, const mst_buf *msgs, size_t n,
		   const mst_send_opts *opts, uint64_t *ids)
{
	size_t i;
	int rc = check_send(bus, queue, opts);

	if (rc < 0)
		return rc;
	if ((opts && opts->key) || (!msgs && n))
		return MST_EINVAL;
	if ((rc = check_keys(opts, n)) < 0)
		return rc;
	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		if (!msgs[i].data && msgs[i].len)
			return MST_EINVAL;
		if (msgs[i].len > bus->payload_max)
			return MST_ETOOBIG;
	}
	return bus->be->send(bus, queue, msgs, n, opts, ids);
}

int mst_recv(mst_bus *bus, const char *queue, const mst_recv_opts *opts, mst_msg *msgs, size_t max,
	     size_t *n)
{
	if (!bus || !msgs || !n || max == 0)
		return MST_EINVAL;
	*n = 0;
	if (mst_name_check(queue) < 0)
		return MST_ENAME;
	if (opts && (bad_duration(opts->lease_ms) || bad_wait(opts->wait_ms)))
		return MST_EINVAL;
	return bus->be->recv(bus, queue, opts, msgs, max, n);
}

void mst_msg_free(mst_msg *msg)
{
	if (!msg)
		return;
	free(msg->data);
	msg->data = NULL;
	msg->len = 0;
}

int mst_ack(mst_bus *bus, uint64_t id)
{
	if (!bus)
		return MST_EINVAL;
	return bus->be->settle(bus, &id, 1, MST__ACK, 0, NULL);
}

int mst_nack(mst_bus *bus, uint64_t id, int64_t delay_ms)
{
	if (!bus || bad_duration(delay_ms))
		return MST_EINVAL;
	return bus->be->settle(bus, &id, 1, MST__NACK, delay_ms, NULL);
}

int mst_touch(mst_bus *bus, uint64_t id, int64_t lease_ms)
{
	if (!bus || bad_duration(lease_ms))
		return MST_EINVAL;
	return bus->be->settle(bus, &id, 1, MST__TOUCH, lease_ms, NULL);
}

int mst_settle_batch(mst_bus *bus, enum mst_settle op, const uint64_t *ids, size_t n, int64_t ms,
		     int *results)
{
	if (!bus || (!ids && n) || bad_duration(ms))
		return MST_EINVAL;
	if (op != MST_SETTLE_ACK && op != MST_SETTLE_NACK && op != MST_SETTLE_TOUCH)
		return MST_EINVAL;
	if (n == 0)
		return 0;
	return bus->be->settle(bus, ids, n,
			       op == MST_SETTLE_ACK    ? MST__ACK
			       : op == MST_SETTLE_NACK ? MST__NACK
						       : MST__TOUCH,
			       ms, results);
}

int mst_peek(mst_bus *bus, const char *queue, mst_msg *msgs, size_t max, size_t *n)
{
	if (!bus || !msgs || !n)
		return MST_EINVAL;
	*n = 0;
	if (mst_name_check(queue) < 0)
		return MST_ENAME;
	if (max == 0)
		return 0;
	return bus->be->peek(bus, queue, msgs, max, n);
}

int mst_queue_list(mst_bus *bus, mst_queue_info **out, size_t *n)
{
	if (!bus || !out || !n)
		return MST_EINVAL;
	return bus->be->queue_list(bus, NULL, out, n);
}

int mst_queue_stat(mst_bus *bus, const char *queue, mst_queue_info *info)
{
	mst_queue_info *list;
	size_t n;
	int rc;

	if (!bus || !info)
		return MST_EINVAL;
	if (mst_name_check(queue) < 0)
		return MST_ENAME;
	rc = bus->be->queue_list(bus, queue, &list, &n);
	if (rc < 0)
		return rc;
	*info = list[0];
	free(list);
	return 0;
}

int mst_queue_config(mst_bus *bus, const char *queue, uint32_t max_attempts, int64_t lease_ms,
		     const char *dead_letter)
{
	if (!bus || bad_duration(lease_ms))
		return MST_EINVAL;
	if (mst_name_check(queue) < 0 || (dead_letter && mst_name_check(dead_letter) < 0))
		return MST_ENAME;
	if (dead_letter && !strcmp(dead_letter, queue))
		return MST_EINVAL;
	return bus->be->queue_config(bus, queue, max_attempts, lease_ms, dead_letter);
}

int mst_queue_delete(mst_bus *bus, const char *queue)
{
	if (!bus)
		return MST_EINVAL;
	if (mst_name_check(queue) < 0)
		return MST_ENAME;
	return bus->be->queue_delete(bus, queue);
}

void mst_free(void *p)
{
	free(p);
}

int mst_publish(mst_bus *bus, const char *topic, const void *data, size_t len, uint64_t *seq)
{
	if (!bus || (!data && len))
		return MST_EINVAL;
	if (mst_name_check(topic) < 0)
		return MST_ENAME;
	if (len > bus->payload_max)
		return MST_ETOOBIG;
	return bus->be->publish(bus, topic, data, len, seq);
}

int mst_topic_config(mst_bus *bus, const char *topic, const mst_topic_opts *opts)
{
	if (!bus || !opts || bad_duration(opts->max_age_ms))
		return MST_EINVAL;
	if (mst_name_check(topic) < 0)
		return MST_ENAME;
	return bus->be->topic_config(bus, topic, opts);
}

int mst_topic_delete(mst_bus *bus, const char *topic)
{
	if (!bus)
		return MST_EINVAL;
	if (mst_name_check(topic) < 0)
		return MST_ENAME;
	return bus->be->topic_delete(bus, topic);
}

int mst_subscribe(mst_bus *bus, const char *topic, uint64_t from, int64_t wait_ms, mst_msg *msgs,
		  size_t max, size_t *n, uint64_t *next)
{
	if (!bus || !msgs || !n || max == 0 || bad_wait(wait_ms))
		return MST_EINVAL;
	*n = 0;
	if (mst_name_check(topic) < 0)
		return MST_ENAME;
	return bus->be->subscribe(bus, topic, from, wait_ms, msgs, max, n, next);
}

static int check_op(const mst_bus *bus, const mst_op *op, size_t i)
{
	if (op->kind < MST_OP_KV_SET || op->kind > MST_OP_ACK || op->if_ok > i)
		return MST_EINVAL;
	if (op->kind == MST_OP_ACK)
		return 0;
	if (mst_name_check(op->name) < 0)
		return MST_ENAME;
	if (op->kind == MST_OP_KV_DEL)
		return 0;
	if (!op->data && op->len)
		return MST_EINVAL;
	return op->len > bus->payload_max ? MST_ETOOBIG : 0;
}

int mst_write(mst_bus *bus, mst_op *ops, size_t n)
{
	size_t i;
	int rc = 0;

	if (!bus || (!ops && n))
		return MST_EINVAL;
	for (i = 0; i < n && !rc; i++)
		rc = check_op(bus, &ops[i], i);
	for (i = 0; i < n; i++) {
		ops[i].rc = rc;
		ops[i].out = 0;
	}
	if (rc || !n)
		return rc;
	return bus->be->write(bus, ops, n);
}

int mst_kv_get(mst_bus *bus, const char *key, mst_kv *out)
{
	if (!bus || !out)
		return MST_EINVAL;
	if (mst_name_check(key) < 0)
		return MST_ENAME;
	return bus->be->kv_get(bus, key, out);
}

int mst_kv_set(mst_bus *bus, const char *key, const void *value, size_t len, uint64_t *rev)
{
	if (!bus || (!value && len))
		return MST_EINVAL;
	if (mst_name_check(key) < 0)
		return MST_ENAME;
	if (len > bus->payload_max)
		return MST_ETOOBIG;
	return bus->be->kv_put(bus, key, value, len, 0, 0, rev);
}

int mst_kv_cas(mst_bus *bus, const char *key, uint64_t expected, const void *value, size_t len,
	       uint64_t *rev)
{
	if (!bus || (!value && len))
		return MST_EINVAL;
	if (mst_name_check(key) < 0)
		return MST_ENAME;
	if (len > bus->payload_max)
		return MST_ETOOBIG;
	return bus->be->kv_put(bus, key, value, len, 1, expected, rev);
}

int mst_kv_del(mst_bus *bus, const char *key)
{
	if (!bus)
		return MST_EINVAL;
	if (mst_name_check(key) < 0)
		return MST_ENAME;
	return bus->be->kv_del(bus, key);
}

int mst_kv_list(mst_bus *bus, const char *prefix, mst_kv **out, size_t *n)
{
	if (!bus || !out || !n)
		return MST_EINVAL;
	if (!prefix)
		prefix = "";
	if (*prefix && mst_name_check(prefix) < 0)
		return MST_ENAME;
	return bus->be->kv_list(bus, prefix, out, n);
}

int mst_kv_purge(mst_bus *bus, const char *prefix, size_t *n)
{
	size_t dummy;

	if (!bus || !prefix)
		return MST_EINVAL;
	if (mst_name_check(prefix) < 0)
		return MST_ENAME;
	return bus->be->kv_purge(bus, prefix, n ? n : &dummy);
}

int mst_kv_watch(mst_bus *bus, const char *key, uint64_t since, int64_t wait_ms, mst_kv *out)
{
	if (!bus || !out || bad_wait(wait_ms))
		return MST_EINVAL;
	if (mst_name_check(key) < 0)
		return MST_ENAME;
	return bus->be->kv_watch(bus, key, since, wait_ms, out);
}

void mst_kv_free(mst_kv *kv)
{
	if (!kv)
		return;
	free(kv->value);
	kv->value = NULL;
	kv->len = 0;
}

void mst_kv_list_free(mst_kv *list, size_t n)
{
	size_t i;

	if (!list)
		return;
	for (i = 0; i < n; i++)
		free(list[i].value);
	free(list);
}

int mst_lock_acquire(mst_bus *bus, const char *name, int64_t wait_ms, mst_lock **out)
{
	if (!bus || !out || bad_wait(wait_ms))
		return MST_EINVAL;
	*out = NULL;
	if (mst_name_check(name) < 0)
		return MST_ENAME;
	return bus->be->lock_acquire(bus, name, wait_ms, out);
}

int mst_lock_held(mst_bus *bus, const char *name)
{
	if (!bus)
		return MST_EINVAL;
	if (mst_name_check(name) < 0)
		return MST_ENAME;
	return bus->be->lock_held(bus, name);
}

int mst_stats_get(mst_bus *bus, mst_stats *out)
{
	if (!bus || !out)
		return MST_EINVAL;
	return bus->be->stats(bus, out);
}
