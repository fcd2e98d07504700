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
#include <pthread.h>
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

#define WAKE_MAGIC 0x6d777332u /* "msw2": with wlock */
#define LOCKFILE_SIZE (1u << 20)
#define WLOCK_RECHECK_MS 100
#define WLOCK_SPIN_NS 30000LL
#define DEFAULT_QUOTA (256ull << 20)
#define MIN_QUOTA (1ull << 20)

static const char *const db_names[DB_COUNT] = {
	"meta", "queues", "msgs", "ready", "leases",  "delayed",
	"keys", "topics", "tlog", "kv",	   "keytime", "kvdel",
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

/* --- the writer lock ---------------------------------------------------------------
 *
 * LMDB recovers from a writer that died inside a transaction: its robust mutex reports
 * EOWNERDEAD to the next writer, which takes the newest meta page as the truth (and
 * the first process to open a store nobody has open takes it likewise). That is sound
 * only if a meta page is never seen half-written. With MDB_WRITEMAP it can be:
 * mdb_env_write_meta stores into the shared mapping with plain stores and, on x86, no
 * compiler barrier, and the Debian build of liblmdb 0.9.24 stores mm_txnid before the
 * last 16 bytes of mm_dbs[MAIN_DBI] (its entry count and root page). A writer killed
 * between those two instructions leaves a meta page that names the new transaction
 * with the main tree of the one two before it, whose pages the free list already
 * holds: the next writers abort in mdb_page_touch ("mp->mp_pgno != pgno") or read
 * garbage, and acknowledged work is lost.
 *
 * So every write transaction of the bus runs under wlock, a robust mutex in the wake
 * file taken before LMDB's writer mutex, and its holder notes in "committing" the id of
 * the transaction it is committing. When a holder dies, the next taker of wlock learns
 * it before LMDB's recovery runs and undoes a meta page that may be incomplete
 * (heal_meta). Opening a bus takes wlock too, around mdb_env_open, so that a process
 * opening a store that nobody has open any more repairs it before LMDB reads it. */

#define META_OFF 16 /* the meta sits after the 16-byte page header */
#define META_MAGIC 0xbeefc0deu
#define META_TXNID 128 /* offset of mm_txnid in MDB_meta (data format version 1) */

/* The holder of wlock died in the commit of transaction c, after storing c into one of
 * the two meta pages (the other holds c - 1) and maybe before the rest of that page.
 * Unless c was published to readers (LMDB's shared txnid, which a new read transaction
 * starts from, says c: then the page was complete, as the shared txnid is stored after
 * it), give the page back the id it had, c - 2, so that the meta of c - 1, which is
 * whole, is the newest. Nobody saw c and its commit never returned: it is as if it had
 * not happened. alone: no other process has the store open (LMDB may then have taken
 * its shared txnid from the meta pages as they were; nobody can be reading c either).
 * Returns 1 when it rolled c back. */
static int heal_meta(struct local_bus *lb, int alone)
{
	uint64_t c = __atomic_load_n(&lb->wake->committing, __ATOMIC_SEQ_CST);
	uint64_t txnid[2], published;
	unsigned char *map, *meta[2];
	uint32_t magic, version;
	MDB_stat st;
	MDB_txn *rt;
	size_t len;
	int i, fd, newer, healed = 0;

	/* without MDB_WRITEMAP LMDB writes a meta page with one pwrite: never torn */
	if (!c || !lb->writemap || mdb_env_stat(lb->env, &st) || mdb_env_get_fd(lb->env, &fd))
		return 0;
	/* LMDB's own mapping is not exposed: map the two meta pages once more */
	len = 2 * (size_t)st.ms_psize;
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return 0;
	for (i = 0; i < 2; i++) {
		meta[i] = map + (size_t)i * st.ms_psize + META_OFF;
		memcpy(&magic, meta[i], 4);
		memcpy(&version, meta[i] + 4, 4);
		if (magic != META_MAGIC || version != 1)
			goto out; /* not the format this repair knows */
		txnid[i] = __atomic_load_n((uint64_t *)(meta[i] + META_TXNID), __ATOMIC_SEQ_CST);
	}
	newer = txnid[1] > txnid[0];
	if (txnid[newer] != c || txnid[!newer] != c - 1)
		goto out; /* it died before storing c: the meta pages are as they were */
	if (!alone) {
		if (mdb_txn_begin(lb->env, NULL, MDB_RDONLY, &rt))
			goto out;
		published = mdb_txn_id(rt);
		mdb_txn_abort(rt);
		if (published != c - 1)
			goto out;
	}
	__atomic_store_n((uint64_t *)(meta[newer] + META_TXNID), c >= 2 ? c - 2 : 0,
			 __ATOMIC_SEQ_CST);
	healed = 1;
out:
	munmap(map, len);
	return healed;
}

/* Takes wlock; *dead tells whether its last holder died holding it (the caller then
 * repairs and calls wlock_recovered). */
static int wlock_lock(struct local_bus *lb, int *dead)
{
	pthread_mutex_t *m = &lb->wake->wlock.m;
	int64_t now, until = 0;
	struct timespec ts;
	int rc, spins;

	/* Spin a little first. Transactions are short; and a waiter that sleeps is woken
	 * by an unlock only to race the processes that are running for the lock, and
	 * when it loses, it sleeps again at the back of the kernel's queue: under many
	 * writers the sleepers starve. A spinner sees the lock free at once and takes
	 * it. (Sleepers that wake by themselves to spin again were tried: with hundreds
	 * of them the spinning eats the CPUs the holders need.) */
	for (spins = 0;; spins++) {
		if (__atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED) == 0) {
			rc = pthread_mutex_trylock(m);
			if (rc != EBUSY)
				goto got;
		}
		if ((spins & 63) == 0) {
			now = mst_now_ns();
			if (!until)
				until = now + WLOCK_SPIN_NS;
			else if (now > until)
				break;
		}
		__builtin_ia32_pause();
	}
	/* A waiter is woken by one FUTEX_WAKE (at unlock, or from the kernel when the
	 * holder dies). If that waiter is killed before it takes the lock, the wake is
	 * lost and the others would sleep on a free lock for ever: so nobody sleeps
	 * longer than WLOCK_RECHECK_MS before looking at the lock again. */
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += WLOCK_RECHECK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		rc = pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &ts);
		if (rc != ETIMEDOUT)
			break;
	}
got:
	*dead = rc == EOWNERDEAD;
	if (rc && rc != EOWNERDEAD)
		return rc == ENOTRECOVERABLE ? MST_ECORRUPT : -rc;
	return 0;
}

static int wlock_recovered(struct local_bus *lb)
{
	int rc;

	__atomic_store_n(&lb->wake->committing, 0, __ATOMIC_SEQ_CST);
	rc = pthread_mutex_consistent(&lb->wake->wlock.m);
	if (rc) {
		pthread_mutex_unlock(&lb->wake->wlock.m);
		return -rc;
	}
	return 0;
}

/* Marks the end of the write transaction txn; 1 if it was the one holding wlock. */
static int wlock_drop(struct local_bus *lb, MDB_txn *txn)
{
	if (!txn || txn != lb->wtxn)
		return 0;
	lb->wtxn = NULL;
	return 1;
}

int local__txn(struct local_bus *lb, int rdonly, MDB_txn **txn)
{
	int rc, dead;

	if (!rdonly) {
		if ((rc = wlock_lock(lb, &dead)) < 0)
			return rc;
		if (dead) {
			heal_meta(lb, 0);
			if ((rc = wlock_recovered(lb)) < 0)
				return rc;
		}
	}
	rc = mdb_txn_begin(lb->env, NULL, rdonly ? MDB_RDONLY : 0, txn);
	if (rc == MDB_READERS_FULL) {
		int nd = 0;
		mdb_reader_check(lb->env, &nd);
		rc = mdb_txn_begin(lb->env, NULL, rdonly ? MDB_RDONLY : 0, txn);
	}
	if (!rdonly) {
		if (rc)
			pthread_mutex_unlock(&lb->wake->wlock.m);
		else
			lb->wtxn = *txn;
	}
	return local__err(rc);
}

int local__commit(struct local_bus *lb, MDB_txn *txn)
{
	int w = wlock_drop(lb, txn);
	int rc;

	if (w)
		__atomic_store_n(&lb->wake->committing, (uint64_t)mdb_txn_id(txn),
				 __ATOMIC_SEQ_CST);
	rc = mdb_txn_commit(txn);
	if (w) {
		__atomic_store_n(&lb->wake->committing, 0, __ATOMIC_SEQ_CST);
		pthread_mutex_unlock(&lb->wake->wlock.m);
	}
	if (rc == MDB_MAP_FULL) {
		int dead = 0;
		mdb_reader_check(lb->env, &dead);
	}
	return local__err(rc);
}

void local__abort(struct local_bus *lb, MDB_txn *txn)
{
	int w = wlock_drop(lb, txn);

	mdb_txn_abort(txn);
	if (w)
		pthread_mutex_unlock(&lb->wake->wlock.m);
}

/* The pages of one tree (its branch, leaf and overflow pages) as of txn. */
static uint64_t tree_pages(MDB_txn *txn, MDB_dbi dbi)
{
	MDB_stat s;

	if (mdb_stat(txn, dbi, &s))
		return 0;
	return s.ms_branch_pages + s.ms_leaf_pages + s.ms_overflow_pages;
}

/* Writes that add data (send, publish, kv set) leave a tenth of the store free, so
 * that the work of draining a full bus (recv, ack, nack, which copy pages before
 * changing them) always finds room. Pages are counted only when the store's high-water
 * mark is past the line: in-use pages are the pages of all trees. */
int local__room(struct local_bus *lb, MDB_txn *txn, size_t bytes)
{
	MDB_envinfo ei;
	MDB_stat st;
	uint64_t pages, line, used;
	int i;

	if (mdb_env_info(lb->env, &ei) || mdb_env_stat(lb->env, &st))
		return 0;
	pages = lb->quota / st.ms_psize;
	line = pages - pages / 10;
	if (ei.me_last_pgno + 1 < line)
		return 0;
	/* LMDB refuses a cursor on its free list inside a write transaction: count the
	 * pages of every tree instead (the two metas, free list, main, ours) */
	used = 2 + tree_pages(txn, 0) + tree_pages(txn, 1);
	for (i = 0; i < DB_COUNT; i++)
		used += tree_pages(txn, lb->dbi[i]);
	/* the data must fit below the line; its few pages of index and copy-on-write
	 * come out of the tenth kept free (so that one ack makes room for one send) */
	if (used + bytes / st.ms_psize > line)
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

int local__delete_prefix(MDB_txn *txn, MDB_dbi dbi, const void *prefix, size_t plen, size_t min_len,
			 size_t *budget,
			 int (*each)(MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *arg),
			 void *arg)
{
	MDB_cursor *c;
	MDB_val k, v;
	int r;

	if ((r = mdb_cursor_open(txn, dbi, &c)))
		return local__err(r);
	while (*budget > 0) {
		k.mv_size = plen;
		k.mv_data = (void *)prefix;
		r = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (r || k.mv_size < plen || k.mv_size < min_len || memcmp(k.mv_data, prefix, plen))
			break;
		if ((each && (r = each(txn, &k, &v, arg))) || (r = mdb_cursor_del(c, 0)))
			break;
		(*budget)--;
	}
	mdb_cursor_close(c);
	return r == 0 || r == MDB_NOTFOUND ? 0 : local__err(r);
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

/* LMDB's assertions fire on a damaged store, and LMDB then prints and aborts. The
 * library never prints: it aborts first, and the report is left to the caller (the
 * CLI turns the signal into a one-line error and exit code 8). */
static void quiet_assert(MDB_env *env, const char *msg)
{
	(void)env;
	(void)msg;
	abort();
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
	mdb_env_set_assert(lb->env, quiet_assert);
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

	if ((rc = local__txn(lb, !create, &txn)) < 0)
		return rc;
	for (i = 0; i < DB_COUNT; i++) {
		rc = mdb_dbi_open(txn, db_names[i], create ? MDB_CREATE : 0, &lb->dbi[i]);
		if (rc) {
			local__abort(lb, txn);
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
			local__abort(lb, txn);
			return local__err(rc);
		}
	}
	/* DBI handles opened in a transaction survive only if it commits */
	return local__commit(lb, txn);
}

/* Maps the wake file. The creator of the bus (init) sets up wlock and then the magic;
 * nobody else can open the bus before bus.conf exists, so nobody sees it half-made. */
static int wake_open(struct local_bus *lb, const char *dir, int init)
{
	char path[PATH_MAX];
	pthread_mutexattr_t ma;
	struct stat st;
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
	if (init) {
		/* also after a creation that died half-way: no process uses the bus yet */
		if ((rc = pthread_mutexattr_init(&ma)) != 0)
			return -rc;
		rc = pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
		if (!rc)
			rc = pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
		if (!rc)
			rc = pthread_mutex_init(&lb->wake->wlock.m, &ma);
		pthread_mutexattr_destroy(&ma);
		if (rc)
			return -rc;
		lb->wake->slots = WAKE_SLOTS;
		lb->wake->committing = 0;
		__atomic_store_n(&lb->wake->magic, WAKE_MAGIC, __ATOMIC_SEQ_CST);
	}
	if (__atomic_load_n(&lb->wake->magic, __ATOMIC_SEQ_CST) != WAKE_MAGIC)
		return MST_ECORRUPT;
	return 0;
}

/* Opens the store of an existing bus under wlock (see "the writer lock"): when a
 * writer died holding it, the store is repaired before anyone writes, and before LMDB
 * reads a store that nobody else has open. */
/* --- one environment per store per process ------------------------------------------
 *
 * LMDB must not have a store open twice in one process: its liveness locks are POSIX
 * record locks, which belong to the process, so a second environment takes the
 * "exclusive" lock its own process holds shared (and, alone, initializes the reader
 * table under the first one's feet: two threads end up on one reader slot,
 * MDB_BAD_RSLOT), and closing either one drops the locks of both. So the handles a
 * process opens on one store (a handle per thread) share one MDB_env, counted; each
 * thread still gets a reader slot of its own (LMDB keeps it thread-local). A child of
 * fork shares nothing with its parent: entries are per pid. */
struct shared_env {
	struct shared_env *next;
	dev_t dev;
	ino_t ino;
	pid_t pid;
	MDB_env *env;
	MDB_dbi dbi[DB_COUNT];
	int refs;
};

static pthread_mutex_t shared_mu = PTHREAD_MUTEX_INITIALIZER;
static struct shared_env *shared_envs;
static pthread_once_t shared_once = PTHREAD_ONCE_INIT;

/* A fork while another thread holds shared_mu must not leave it held in the child. */
static void shared_prepare(void)
{
	pthread_mutex_lock(&shared_mu);
}

static void shared_parent(void)
{
	pthread_mutex_unlock(&shared_mu);
}

static void shared_child(void)
{
	pthread_mutex_init(&shared_mu, NULL);
}

static void shared_init(void)
{
	pthread_atfork(shared_prepare, shared_parent, shared_child);
}

static void shared_lock(void)
{
	pthread_once(&shared_once, shared_init);
	pthread_mutex_lock(&shared_mu);
}

/* The identity of dir's store file; 0 or -errno. */
static int store_id(const char *dir, dev_t *dev, ino_t *ino)
{
	char path[PATH_MAX];
	struct stat st;
	int rc;

	if ((rc = path_in(path, sizeof path, dir, "store.mdb")) < 0)
		return rc;
	if (stat(path, &st) < 0)
		return -errno;
	*dev = st.st_dev;
	*ino = st.st_ino;
	return 0;
}

/* Under shared_mu: takes this process's environment of the store of dir, if there
 * is one. 1 if lb has it now, 0 if not. */
static int shared_take(struct local_bus *lb, const char *dir)
{
	struct shared_env *se;
	dev_t dev;
	ino_t ino;
	pid_t pid = getpid();

	if (store_id(dir, &dev, &ino) < 0)
		return 0;
	for (se = shared_envs; se; se = se->next)
		if (se->pid == pid && se->dev == dev && se->ino == ino) {
			se->refs++;
			lb->se = se;
			lb->env = se->env;
			memcpy(lb->dbi, se->dbi, sizeof lb->dbi);
			return 1;
		}
	return 0;
}

/* Under shared_mu: makes lb's freshly opened environment the process's one. */
static int shared_add(struct local_bus *lb, const char *dir)
{
	struct shared_env *se = calloc(1, sizeof *se);
	int rc;

	if (!se)
		return -ENOMEM;
	if ((rc = store_id(dir, &se->dev, &se->ino)) < 0) {
		free(se);
		return rc;
	}
	se->pid = getpid();
	se->env = lb->env;
	memcpy(se->dbi, lb->dbi, sizeof se->dbi);
	se->refs = 1;
	se->next = shared_envs;
	shared_envs = se;
	lb->se = se;
	return 0;
}

/* Lets go of lb's environment: closed with the process's last handle on it. */
static void shared_release(struct local_bus *lb)
{
	struct shared_env **p;

	if (!lb->env)
		return;
	if (!lb->se) {
		mdb_env_close(lb->env);
		lb->env = NULL;
		return;
	}
	shared_lock();
	if (--lb->se->refs == 0) {
		for (p = &shared_envs; *p; p = &(*p)->next)
			if (*p == lb->se) {
				*p = lb->se->next;
				break;
			}
		/* a child of fork does not close its parent's environment (LMDB) */
		if (lb->se->pid == getpid())
			mdb_env_close(lb->env);
		free(lb->se);
	}
	pthread_mutex_unlock(&shared_mu);
	lb->se = NULL;
	lb->env = NULL;
}

static int store_open_env(struct local_bus *lb, const char *dir)
{
	MDB_envinfo ei;
	int rc, dead, alone;

	if ((rc = wlock_lock(lb, &dead)) < 0)
		return rc;
	rc = env_open(lb, dir, 0);
	if (rc == 0)
		rc = dbi_open(lb, 0);
	if (rc == 0 && dead) {
		/* the read transaction of dbi_open took a reader slot: if it is the only
		 * one, nobody else has the store open */
		alone = mdb_env_info(lb->env, &ei) == 0 && ei.me_numreaders <= 1;
		if (heal_meta(lb, alone) && alone) {
			/* LMDB took its shared txnid from the meta pages as they were: open
			 * again, still alone, so that it takes it from them as they are now */
			mdb_env_close(lb->env);
			lb->env = NULL;
			rc = env_open(lb, dir, 0);
			if (rc == 0)
				rc = dbi_open(lb, 0);
		}
	}
	if (dead) {
		if (rc == 0)
			__atomic_store_n(&lb->wake->committing, 0, __ATOMIC_SEQ_CST);
		pthread_mutex_consistent(&lb->wake->wlock.m);
	}
	pthread_mutex_unlock(&lb->wake->wlock.m);
	return rc;
}

/* Opens the store of dir for lb: this process's environment if it has one, else a
 * new one (repaired if its last writer died), which becomes the process's one. */
static int store_open(struct local_bus *lb, const char *dir)
{
	int rc;

	shared_lock();
	if (shared_take(lb, dir)) {
		pthread_mutex_unlock(&shared_mu);
		return 0;
	}
	rc = store_open_env(lb, dir);
	if (rc == 0 && (rc = shared_add(lb, dir)) < 0) {
		mdb_env_close(lb->env);
		lb->env = NULL;
	}
	pthread_mutex_unlock(&shared_mu);
	return rc;
}

/* Makes a new bus in dir (the caller holds .init exclusively). */
static int bus_create(struct local_bus *lb, const char *dir, const mst_bus_opts *opts)
{
	char path[PATH_MAX];
	struct busconf c = {LOCAL_FORMAT, 0, 0, 1};
	struct statvfs sv;
	int rc, fd;

	c.quota = pick_quota(dir, opts ? opts->quota : 0);
	if (opts && opts->shards > 1) {
		/* the quota is the bus's: each store gets its share */
		c.shards = opts->shards;
		c.quota = c.quota / c.shards < MIN_QUOTA ? MIN_QUOTA : c.quota / c.shards;
		c.quota = (c.quota + 4095) & ~(uint64_t)4095;
	}
	c.writemap = can_fallocate(dir);
	/* room for every store of the bus: its data file, lock file and wake words */
	if (statvfs(dir, &sv) == 0 &&
	    (uint64_t)sv.f_bavail * sv.f_frsize <
		    (c.quota + LOCKFILE_SIZE + sizeof(struct wake_file)) * c.shards)
		return MST_EFULL;
	/* lock and wake files first: both are written through mappings */
	if ((rc = reserve_file(dir, "store.mdb-lock", LOCKFILE_SIZE)) < 0 ||
	    (rc = reserve_file(dir, "wake", sizeof(struct wake_file))) < 0 ||
	    (rc = wake_open(lb, dir, 1)) < 0)
		goto fail;
	if ((rc = path_in(path, sizeof path, dir, "locks")) < 0)
		goto fail;
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		goto fail;
	}
	lb->quota = c.quota;
	lb->writemap = c.writemap;
	lb->shards = c.shards;
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
	shared_lock();
	rc = shared_add(lb, dir);
	pthread_mutex_unlock(&shared_mu);
	if (rc < 0)
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

	shared_release(lb);
	if (lb->wake)
		munmap(lb->wake, lb->wake_len);
	free(lb);
}

uint64_t mst__local_quota(const mst_bus *bus)
{
	return LB(bus)->quota;
}

unsigned mst__local_shards(const mst_bus *bus)
{
	return LB(bus)->shards;
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
	lb->shards = c.shards;
	if ((rc = wake_open(lb, dir, 0)) < 0 || (rc = store_open(lb, dir)) < 0)
		goto fail;
opened:
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
	out->shards = 1;
	if ((rc = local__txn(lb, 1, &txn)) < 0)
		return rc;
	if (mdb_stat(txn, lb->dbi[DB_TOPICS], &st) == 0)
		out->topics = st.ms_entries;
	if (mdb_stat(txn, lb->dbi[DB_KV], &st) == 0)
		out->keys = st.ms_entries;
	local__abort(lb, txn);
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
	.queue_delete = local__queue_delete,
	.publish = local__publish,
	.topic_delete = local__topic_delete,
	.topic_config = local__topic_config,
	.subscribe = local__subscribe,
	.kv_get = local__kv_get,
	.kv_put = local__kv_put,
	.kv_del = local__kv_del,
	.kv_list = local__kv_list,
	.kv_purge = local__kv_purge,
	.kv_watch = local__kv_watch,
	.write = local__write,
	.lock_acquire = local__lock_acquire,
	.lock_held = local__lock_held,
	.stats = local__stats,
};
