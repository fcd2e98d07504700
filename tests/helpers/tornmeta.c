/*
 * tornmeta.c - a writer that dies half-way through writing LMDB's meta page must not
 * cost the bus its last commits (regression test for the "writer lock" of store.c).
 *
 *   tornmeta [-d DIR] [-k]
 *
 * With MDB_WRITEMAP, liblmdb 0.9.24 (Debian) stores the new txnid into the meta page
 * before the root of the main tree; a SIGKILL between the two leaves a meta page naming
 * transaction C with the trees of C - 2. The crash test hits that one instruction only
 * now and then, so this test makes the state on purpose: a child opens a write
 * transaction through the backend (holding the bus's wlock and LMDB's writer mutex),
 * notes it as committing, stores C into the meta page of C - 2 and kills itself. The
 * bus must then still hold message A, sent and acknowledged as committed just before,
 * and must work on: in two cases, when nobody else has the bus open (the next opener
 * repairs it) and when the parent keeps a handle open all along (its next write
 * repairs it). Without the repair, LMDB takes the torn page as the newest: A is gone,
 * and later writers abort in mdb_page_touch or fail with MDB_CORRUPTED.
 * Exit status: 0 when every check holds, 1 when one fails, 2 on a setup error.
 */
#define _GNU_SOURCE
#include "local/local.h"
#include "helpers.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define META_OFF 16
#define META_TXNID 128
#define ROUNDS 2000

static int failures;

__attribute__((format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("tornmeta: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	failures++;
}

/* The child: tears the meta page of its own transaction and dies with the locks. */
static void tear_and_die(const char *dir)
{
	struct local_bus *lb;
	MDB_val k = {4, "torn"}, v = {4, "torn"};
	MDB_txn *txn;
	MDB_stat st;
	mst_bus *bus;
	unsigned char *map;
	uint64_t c;
	int fd;

	if (mst_bus_open(&bus, dir, NULL) < 0)
		_exit(3);
	lb = LB(bus);
	if (local__txn(lb, 0, &txn) < 0 || mdb_put(txn, lb->dbi[DB_META], &k, &v, 0))
		_exit(3);
	if (mdb_env_stat(lb->env, &st) || mdb_env_get_fd(lb->env, &fd))
		_exit(3);
	map = mmap(NULL, 2 * (size_t)st.ms_psize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		_exit(3);
	c = mdb_txn_id(txn);
	/* what local__commit notes before mdb_txn_commit, then the first store of the
	 * meta page that counts: its txnid (the page of C - 2 keeps its trees) */
	__atomic_store_n(&lb->wake->committing, c, __ATOMIC_SEQ_CST);
	__atomic_store_n((uint64_t *)(map + (c & 1) * st.ms_psize + META_OFF + META_TXNID), c,
	                 __ATOMIC_SEQ_CST);
	raise(SIGKILL);
	_exit(3);
}

static void one_case(const char *dir, int shared)
{
	const char *what = shared ? "with a handle open" : "alone";
	mst_bus *bus = NULL, *keep = NULL;
	mst_stats ms;
	mst_msg m;
	uint64_t ida, id;
	size_t n;
	pid_t pid;
	int rc, st, i;

	/* A is the last commit before the torn one: its meta page is the one kept */
	if ((rc = mst_bus_open(&bus, dir, NULL)) < 0 ||
	    (rc = mst_send(bus, "torn.work", "w", 1, NULL, &id)) < 0 ||
	    (rc = mst_send(bus, "torn", "A", 1, NULL, &ida)) < 0 ||
	    (rc = mst_stats_get(bus, &ms)) < 0) {
		fprintf(stderr, "tornmeta: setup (%s): %s\n", what, mst_strerror(rc));
		exit(2);
	}
	if (!ms.writemap) {
		/* LMDB then writes meta pages with pwrite: nothing to tear, nothing to test */
		printf("tornmeta: skip: the store of %s is not written through its mapping\n", dir);
		exit(0);
	}
	if (shared)
		keep = bus;
	else
		mst_bus_close(bus);
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("tornmeta: fork");
		exit(2);
	}
	if (pid == 0)
		tear_and_die(dir);
	if (waitpid(pid, &st, 0) < 0 || !WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
		fprintf(stderr, "tornmeta: the child did not die as planned (status 0x%x)\n", st);
		exit(2);
	}
	if (shared) {
		/* the repair comes with this handle's next write: make one first */
		bus = keep;
		if ((rc = mst_send(bus, "torn.work", "w", 1, NULL, &id)) < 0)
			fail("%s: first send after the death: %s", what, mst_strerror(rc));
	} else if ((rc = mst_bus_open(&bus, dir, NULL)) < 0) {
		fail("%s: open after the death: %s", what, mst_strerror(rc));
		return;
	}
	rc = mst_peek(bus, "torn", &m, 1, &n);
	if (rc < 0 || n != 1 || m.id != ida || m.len != 1 || memcmp(m.data, "A", 1) != 0)
		fail("%s: message A (id %" PRIu64 ", committed before the death) is gone: %s", what,
		     ida,
		     rc < 0 ? mst_strerror(rc)
		     : n    ? "another message is first"
		            : "empty");
	if (rc == 0 && n)
		mst_msg_free(&m);
	/* the store must go on working: many commits reuse the pages the free list holds */
	for (i = 0; i < ROUNDS && failures == 0; i++) {
		if ((rc = mst_send(bus, "torn.work", "w", 1, NULL, &id)) < 0 ||
		    (rc = mst_recv(bus, "torn.work", NULL, &m, 1, &n)) < 0) {
			fail("%s: round %d after the death: %s", what, i, mst_strerror(rc));
			break;
		}
		rc = mst_ack(bus, m.id);
		mst_msg_free(&m);
		if (rc < 0)
			fail("%s: ack in round %d after the death: %s", what, i, mst_strerror(rc));
	}
	mst_bus_close(bus);
	if (!failures)
		printf("# %s: message A kept, %d send/recv/ack rounds after the death\n", what,
		       ROUNDS);
}

int main(int argc, char **argv)
{
	const char *given = NULL;
	char dir[4096], bus1[4200], bus2[4200];
	int opt, keep = 0;

	while ((opt = getopt(argc, argv, "d:k")) != -1) {
		if (opt == 'd')
			given = optarg;
		else if (opt == 'k')
			keep = 1;
		else {
			fprintf(stderr, "usage: tornmeta [-d DIR] [-k]\n");
			return 2;
		}
	}
	helper_make_dir(dir, sizeof dir, given, "tornmeta", "torn");
	snprintf(bus1, sizeof bus1, "%s/alone", dir);
	snprintf(bus2, sizeof bus2, "%s/shared", dir);
	one_case(bus1, 0);
	one_case(bus2, 1);
	printf("tornmeta: %s\n", failures ? "FAIL" : "ok");
	return helper_finish_dir(dir, failures, keep, given != NULL, "tornmeta");
}
