/*
 * store.c - opening a local bus: directory, LMDB environment, wake file.
 *
 * Invariants:
 *  - store.mdb is preallocated to the quota whenever writemap=1 in bus.conf, so a
 *    write through the shared mapping never lands in a hole: a full tmpfs yields
 *    MDB_MAP_FULL (bus full) from LMDB, never SIGBUS. The lock and wake files are
 *    preallocated likewise.
 *  - Every process of a bus opens the store with the same flags (from bus.conf).
 *  - Creation happens under an exclusive flock on .init; openers read bus.conf under
 *    a shared one, so nobody sees a half-made bus.
 *  - Wake-ups: after a commit that makes something available, the committer bumps
 *    the slot's seq and wakes sleepers with FUTEX_WAKE; a waiter reads seq before
 *    looking, so a commit between its look and its sleep is never missed.
 */
#define _GNU_SOURCE
#include "local.h"
#include "codec.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define WAKE_MAGIC 0x6d777331u /* "msw1" */
#define LOCKFILE_SIZE (1u << 20)
#define DEFAULT_QUOTA (256ull << 20)
#define MIN_QUOTA (1ull << 20)

static const char *const db_names[DB_COUNT] = {
	"meta", "queues", "msgs", "ready", "leases", "delayed", "keys", "topics", "tlog", "kv",
};

int local__err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return MST_ENOTFOUND;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
	case MDB_PAGE_FULL:
	case ENOSPC:
	case EDQUOT:
		return MST_EFULL;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_BAD_TXN:
	case MDB_PANIC:
		return MST_ECORRUPT;
	case MDB_VERSION_MISMATCH:
		return MST_EVERSION;
	case MDB_READERS_FULL:
		return -EAGAIN;
	default:
		if (rc > 0 && rc < 4096)
			return -rc;
		return MST_EBACKEND;
	}
}

int local__txn(struct local_bus *lb, int rdonly, MDB_txn **txn)
{
	int rc = mdb_txn_begin(lb->env, NULL, rdonly ? MDB_RDONLY : 0, txn);

	if (rc == MDB_READERS_FULL) {
		int dead = 0;
		mdb_reader_check(lb->env, &dead);
		rc = mdb_txn_begin(lb->env, NULL, rdonly ? MDB_RDONLY : 0, txn);
	}
	return local__err(rc);
}

int local__commit(struct local_bus *lb, MDB_txn *txn)
{
	int rc = mdb_txn_commit(txn);

	if (rc == MDB_MAP_FULL) {
		int dead = 0;
		mdb_reader_check(lb->env, &dead);
	}
	return local__err(rc);
}

/* Writes that add data (send, publish, kv set) leave a tenth of the store free, so
 * that the work of draining a full bus (recv, ack, nack, which copy pages before
 * changing them) always finds room. Pages are counted only when the store's high-water
 * mark is past the line: in-use pages are the high-water mark less the free list. */
int local__room(struct local_bus *lb, MDB_txn *txn, size_t bytes)
{
	MDB_envinfo ei;
	MDB_stat st;
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t pages, line, used, freep = 0;
	int r;

	if (mdb_env_info(lb->env, &ei) || mdb_env_stat(lb->env, &st))
		return 0;
	pages = lb->quota / st.ms_psize;
	line = pages - pages / 10;
	if (ei.me_last_pgno + 1 < line)
		return 0;
	if (mdb_cursor_open(txn, 0, &c))
		return 0;
	for (r = mdb_cursor_get(c, &k, &v, MDB_FIRST); r == 0;
	     r = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		size_t n;
		if (v.mv_size < sizeof n)
			continue;
		memcpy(&n, v.mv_data, sizeof n);
		freep += n;
	}
	mdb_cursor_close(c);
	used = ei.me_last_pgno + 1 > freep ? ei.me_last_pgno + 1 - freep : 0;
	/* the data plus a few pages of index and copy-on-write per commit */
	if (used + bytes / st.ms_psize + 8 > line)
		return MST_EFULL;
	return 0;
}

/* --- wake slots ------------------------------------------------------------------ */

struct wake_slot *local__slot(struct local_bus *lb, int kind, const char *name)
{
	uint32_t h = 2166136261u;

	h = (h ^ (uint32_t)kind) * 16777619u;
	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 16777619u;
	return &lb->wake->slot[h % WAKE_SLOTS];
}

void local__wake(struct wake_slot *s)
{
	__atomic_fetch_add(&s->seq, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&s->waiters, __ATOMIC_SEQ_CST))
		syscall(SYS_futex, &s->seq, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

int local__sleep(struct wake_slot *s, uint32_t seen, int64_t timeout_ms)
{
	struct timespec ts, *tp = NULL;
	long r;

	if (timeout_ms <= 0)
		return MST_ETIMEOUT;
	if (timeout_ms != INT64_MAX) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (timeout_ms % 1000) * 1000000;
		tp = &ts;
	}
	__atomic_fetch_add(&s->waiters, 1, __ATOMIC_SEQ_CST);
	r = syscall(SYS_futex, &s->seq, FUTEX_WAIT, seen, tp, NULL, 0);
	__atomic_fetch_sub(&s->waiters, 1, __ATOMIC_SEQ_CST);
	if (r < 0 && errno == ETIMEDOUT)
		return MST_ETIMEOUT;
	return 0;
}

/* --- keys and messages ------------------------------------------------------------ */

uint64_t local__be64(const void *p)
{
	const unsigned char *b = p;
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | b[i];
	return v;
}

void local__put_be64(void *p, uint64_t v)
{
	unsigned char *b = p;
	int i;

	for (i = 7; i >= 0; i--) {
		b[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

size_t local__key(char *buf, const char *name, const uint64_t *nums, int n, int prefix_byte)
{
	size_t len = strlen(name);
	int i;

	memcpy(buf, name, len);
	buf[len++] = 0;
	if (prefix_byte >= 0)
		buf[len++] = (char)prefix_byte;
	for (i = 0; i < n; i++) {
		local__put_be64(buf + len, nums[i]);
		len += 8;
	}
	return len;
}

int local__fill_msg(mst_msg *m, uint64_t id, const char *queue, const void *data, size_t len)
{
	size_t qlen = strnlen(queue, sizeof m->queue - 1);

	memset(m, 0, sizeof *m);
	m->data = malloc(len + 1);
	if (!m->data)
		return -ENOMEM;
	if (len)
		memcpy(m->data, data, len);
	((char *)m->data)[len] = 0;
	m->len = len;
	m->id = id;
	/* memcpy, not snprintf: this runs for every message received; the memset
	 * above NUL-terminates it */
	memcpy(m->queue, queue, qlen);
	return 0;
}

/* --- opening ---------------------------------------------------------------------- */

static int path_in(char *out, size_t outsz, const char *dir, const char *name)
{
	if ((size_t)snprintf(out, outsz, "%s/%s", dir, name) >= outsz)
		return -ENAMETOOLONG;
	return 0;
}

/* Creates (or finds) file name in dir with exactly size bytes reserved. */
static int reserve_file(const char *dir, const char *name, off_t size)
{
	char path[PATH_MAX];
	struct stat st;
	int fd, rc;

	if ((rc = path_in(path, sizeof path, dir, name)) < 0)
		return rc;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
	} else if (st.st_size >= size) {
		rc = 0;
	} else {
		rc = posix_fallocate(fd, 0, size);
		rc = rc ? -rc : 0;
	}
	close(fd);
	return rc == -ENOSPC ? MST_EFULL : rc;
}

static int read_conf(const char *dir, struct busconf *c)
{
	char path[PATH_MAX], buf[512];
	ssize_t n;
	int fd, rc;

	if ((rc = path_in(path, sizeof path, dir, "bus.conf")) < 0)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? MST_ENOTFOUND : errno == ELOOP ? MST_EINSECURE : -errno;
	n = read(fd, buf, sizeof buf);
	close(fd);
	if (n < 0)
		return -errno;
	return codec_busconf_parse(buf, (size_t)n, c);
}

static int write_conf(const char *dir, const struct busconf *c)
{
	char path[PATH_MAX], tmp[PATH_MAX], buf[512];
	int fd, n, rc;

	if ((rc = path_in(path, sizeof path, dir, "bus.conf")) < 0 ||
	    (rc = path_in(tmp, sizeof tmp, dir, "bus.conf.tmp")) < 0)
		return rc;
	n = codec_busconf_format(c, buf, sizeof buf);
	if (n < 0)
		return n;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return errno == ENOSPC ? MST_EFULL : -errno;
	if (write(fd, buf, (size_t)n) != n) {
		rc = errno == ENOSPC ? MST_EFULL : -EIO;
		close(fd);
		unlink(tmp);
		return rc;
	}
	close(fd);
	if (rename(tmp, path) < 0)
		return -errno;
	return 0;
}

/* Does this file system reserve space with fallocate? */
static int can_fallocate(const char *dir)
{
	char path[PATH_MAX];
	int fd, rc;

	if (path_in(path, sizeof path, dir, ".probe") < 0)
		return 0;
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return 0;
	rc = fallocate(fd, 0, 0, 4096);
	close(fd);
	unlink(path);
	return rc == 0;
}

static uint64_t pick_quota(const char *dir, uint64_t want)
{
	struct statvfs sv;
	uint64_t freeb, q = want;

	if (!q) {
		q = DEFAULT_QUOTA;
		if (statvfs(dir, &sv) == 0) {
			freeb = (uint64_t)sv.f_bavail * sv.f_frsize;
			if (q > freeb / 4)
				q = freeb / 4;
		}
		if (q < MIN_QUOTA)
			q = MIN_QUOTA;
	}
	q = (q + 4095) & ~(uint64_t)4095;
	return q;
}

static int env_open(struct local_bus *lb, const char *dir, int create)
{
	char path[PATH_MAX];
	unsigned flags = MDB_NOSUBDIR | MDB_NOSYNC | MDB_NOMETASYNC | MDB_NORDAHEAD;
	int rc;

	if ((rc = path_in(path, sizeof path, dir, "store.mdb")) < 0)
		return rc;
	if (lb->writemap)
		flags |= MDB_WRITEMAP;
	if ((rc = mdb_env_create(&lb->env)) != 0)
		return local__err(rc);
	mdb_env_set_maxdbs(lb->env, DB_COUNT + 2);
	mdb_env_set_mapsize(lb->env, lb->quota);
	if (!create) {
		struct stat st;
		char lpath[PATH_MAX + 8];
		/* LMDB follows symlinks: the store and its lock must be our own files */
		snprintf(lpath, sizeof lpath, "%s-lock", path);
		if (lstat(lpath, &st) == 0 && !S_ISREG(st.st_mode))
			return MST_EINSECURE;
		if (lstat(path, &st) < 0)
			return errno == ENOENT ? MST_ECORRUPT : -errno;
		if (!S_ISREG(st.st_mode))
			return MST_EINSECURE;
		if (lb->writemap && (uint64_t)st.st_size != lb->quota)
			return MST_ECORRUPT; /* truncated or grown behind our back */
	}
	rc = mdb_env_open(lb->env, path, flags, 0600);
	if (rc != 0)
		return local__err(rc == ENOENT ? MDB_INVALID : rc);
	return 0;
}

static int dbi_open(struct local_bus *lb, int create)
{
	MDB_txn *txn;
	int i, rc;

	rc = mdb_txn_begin(lb->env, NULL, create ? 0 : MDB_RDONLY, &txn);
	if (rc)
		return local__err(rc);
	for (i = 0; i < DB_COUNT; i++) {
		rc = mdb_dbi_open(txn, db_names[i], create ? MDB_CREATE : 0, &lb->dbi[i]);
		if (rc) {
			mdb_txn_abort(txn);
			return local__err(rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc);
		}
	}
	if (create) {
		MDB_val k = {7, (void *)"next_id"}, v;
		uint64_t start;

		/* ids start at a random point so that a recreated bus never reuses the
		 * ids of an earlier one that a stale caller may still hold */
		if (mdb_get(txn, lb->dbi[DB_META], &k, &v) == MDB_NOTFOUND) {
			if (getrandom(&start, sizeof start, 0) != sizeof start)
				start = (uint64_t)mst_now_ns();
			start = (start & 0x0000ffffffffffffull) | 0x0001000000000000ull;
			v.mv_size = 8;
			v.mv_data = &start;
			rc = mdb_put(txn, lb->dbi[DB_META], &k, &v, 0);
		}
		if (rc) {
			mdb_txn_abort(txn);
			return local__err(rc);
		}
	}
	/* DBI handles opened in a transaction survive only if it commits */
	return local__commit(lb, txn);
}

static int wake_open(struct local_bus *lb, const char *dir)
{
	char path[PATH_MAX];
	struct stat st;
	uint32_t zero = 0;
	void *p;
	int fd, rc;

	if ((rc = path_in(path, sizeof path, dir, "wake")) < 0)
		return rc;
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ELOOP ? MST_EINSECURE : -errno;
	if (fstat(fd, &st) < 0 || (size_t)st.st_size < sizeof(struct wake_file)) {
		close(fd);
		return MST_ECORRUPT;
	}
	lb->wake_len = sizeof(struct wake_file);
	p = mmap(NULL, lb->wake_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -errno;
	lb->wake = p;
	__atomic_compare_exchange_n(&lb->wake->magic, &zero, WAKE_MAGIC, 0, __ATOMIC_SEQ_CST,
				    __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&lb->wake->magic, __ATOMIC_SEQ_CST) != WAKE_MAGIC)
		return MST_ECORRUPT;
	return 0;
}

/* Makes a new bus in dir (the caller holds .init exclusively). */
static int bus_create(struct local_bus *lb, const char *dir, const mst_bus_opts *opts)
{
	char path[PATH_MAX];
	struct busconf c = {LOCAL_FORMAT, 0, 0};
	struct statvfs sv;
	int rc, fd;

	c.quota = pick_quota(dir, opts ? opts->quota : 0);
	c.writemap = can_fallocate(dir);
	if (statvfs(dir, &sv) == 0 && (uint64_t)sv.f_bavail * sv.f_frsize < c.quota)
		return MST_EFULL;
	/* lock and wake files first: both are written through mappings */
	if ((rc = reserve_file(dir, "store.mdb-lock", LOCKFILE_SIZE)) < 0 ||
	    (rc = reserve_file(dir, "wake", sizeof(struct wake_file))) < 0)
		goto fail;
	if ((rc = path_in(path, sizeof path, dir, "locks")) < 0)
		goto fail;
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		goto fail;
	}
	lb->quota = c.quota;
	lb->writemap = c.writemap;
	if ((rc = path_in(path, sizeof path, dir, "store.mdb")) < 0)
		goto fail;
	unlink(path); /* leftovers of a creation that died before bus.conf */
	if ((rc = env_open(lb, dir, 1)) < 0)
		goto fail;
	if (c.writemap) {
		fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0) {
			rc = -errno;
			goto fail;
		}
		rc = posix_fallocate(fd, 0, (off_t)c.quota);
		close(fd);
		if (rc) {
			rc = rc == ENOSPC ? MST_EFULL : -rc;
			goto fail;
		}
	}
	if ((rc = dbi_open(lb, 1)) < 0)
		goto fail;
	if ((rc = write_conf(dir, &c)) < 0)
		goto fail;
	return 0;
fail:
	if (lb->env) {
		mdb_env_close(lb->env);
		lb->env = NULL;
	}
	if (path_in(path, sizeof path, dir, "store.mdb") == 0)
		unlink(path);
	return rc;
}

static void local_close(mst_bus *bus)
{
	struct local_bus *lb = LB(bus);

	if (lb->env)
		mdb_env_close(lb->env);
	if (lb->wake)
		munmap(lb->wake, lb->wake_len);
	free(lb);
}

int mst__local_open(mst_bus **out, const char *dir, const mst_bus_opts *opts)
{
	struct local_bus *lb;
	struct busconf c;
	char path[PATH_MAX];
	int rc, ifd = -1, dead;
	bool create = !(opts && opts->no_create);

	rc = mst__dir_check(dir, create);
	if (rc == -ENOENT && !create)
		return MST_ENOTFOUND;
	if (rc < 0)
		return rc;
	lb = calloc(1, sizeof *lb);
	if (!lb)
		return -ENOMEM;
	lb->pub.be = &local__backend;
	snprintf(lb->pub.path, sizeof lb->pub.path, "%s", dir);
	if (!create) {
		/* only look: a directory without a bus is left untouched */
		struct stat st;
		if ((rc = path_in(path, sizeof path, dir, "bus.conf")) < 0)
			goto fail;
		if (lstat(path, &st) < 0) {
			rc = errno == ENOENT ? MST_ENOTFOUND : -errno;
			goto fail;
		}
	}
	if ((rc = path_in(path, sizeof path, dir, ".init")) < 0)
		goto fail;
	ifd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (ifd < 0) {
		rc = errno == ELOOP ? MST_EINSECURE : errno == ENOSPC ? MST_EFULL : -errno;
		goto fail;
	}
	if (flock(ifd, LOCK_SH) < 0) {
		rc = -errno;
		goto fail;
	}
	rc = read_conf(dir, &c);
	if (rc == MST_ENOTFOUND && create) {
		flock(ifd, LOCK_UN);
		if (flock(ifd, LOCK_EX) < 0) {
			rc = -errno;
			goto fail;
		}
		rc = read_conf(dir, &c);
		if (rc == MST_ENOTFOUND)
			rc = bus_create(lb, dir, opts);
		else if (rc == 0)
			goto open_existing;
		if (rc < 0)
			goto fail;
		goto opened;
	}
	if (rc < 0)
		goto fail;
open_existing:
	if (c.format != LOCAL_FORMAT) {
		rc = MST_EVERSION;
		goto fail;
	}
	lb->quota = c.quota;
	lb->writemap = c.writemap;
	if ((rc = env_open(lb, dir, 0)) < 0 || (rc = dbi_open(lb, 0)) < 0)
		goto fail;
opened:
	if ((rc = wake_open(lb, dir)) < 0)
		goto fail;
	close(ifd);
	ifd = -1;
	mdb_reader_check(lb->env, &dead);
	*out = &lb->pub;
	return 0;
fail:
	if (ifd >= 0)
		close(ifd);
	local_close(&lb->pub);
	return rc;
}

int local__stats(mst_bus *bus, mst_stats *out)
{
	struct local_bus *lb = LB(bus);
	mst_queue_info *qs = NULL;
	MDB_envinfo ei;
	MDB_stat st;
	MDB_txn *txn;
	size_t n = 0, i;
	int rc;

	memset(out, 0, sizeof *out);
	rc = local__queue_list(bus, NULL, &qs, &n);
	if (rc < 0)
		return rc;
	out->queues = n;
	for (i = 0; i < n; i++) {
		out->ready += qs[i].ready;
		out->leased += qs[i].leased;
		out->delayed += qs[i].delayed;
		out->dead += qs[i].dead;
		out->sent += qs[i].sent;
		out->acked += qs[i].acked;
		out->redelivered += qs[i].redelivered;
	}
	free(qs);
	mdb_env_info(lb->env, &ei);
	mdb_env_stat(lb->env, &st);
	out->store_bytes = lb->quota;
	out->used_bytes = (uint64_t)(ei.me_last_pgno + 1) * st.ms_psize;
	out->readers_max = ei.me_maxreaders;
	out->readers_used = ei.me_numreaders;
	out->writemap = lb->writemap;
	if ((rc = local__txn(lb, 1, &txn)) < 0)
		return rc;
	if (mdb_stat(txn, lb->dbi[DB_TOPICS], &st) == 0)
		out->topics = st.ms_entries;
	if (mdb_stat(txn, lb->dbi[DB_KV], &st) == 0)
		out->keys = st.ms_entries;
	mdb_txn_abort(txn);
	return 0;
}

const struct mst__backend local__backend = {
	.name = "local",
	.close = local_close,
	.send = local__send,
	.recv = local__recv,
	.settle = local__settle,
	.peek = local__peek,
	.queue_list = local__queue_list,
	.queue_config = local__queue_config,
	.publish = local__publish,
	.topic_config = local__topic_config,
	.subscribe = local__subscribe,
	.kv_get = local__kv_get,
	.kv_put = local__kv_put,
	.kv_del = local__kv_del,
	.kv_list = local__kv_list,
	.kv_watch = local__kv_watch,
	.lock_acquire = local__lock_acquire,
	.lock_held = local__lock_held,
	.stats = local__stats,
};
