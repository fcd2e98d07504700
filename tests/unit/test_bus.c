/*
 * test_bus.c - opening buses: creation, reopening, hostile directories, damaged stores,
 * owners.
 */
#define _GNU_SOURCE
#include "unit.h"

#include <pthread.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* path of name inside dir (malloc'ed) */
static char *join(const char *dir, const char *name)
{
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
	return p;
}

/* A new bus in a fresh directory (not yet existing before the open); closed again. */
static char *made_bus(void)
{
	char *tmp = unit_tmpdir(), *dir = join(tmp, "bus");
	mst_bus_opts opts = {.quota = 4u << 20};
	mst_bus *bus;
	uint64_t id;

	ck_assert_int_eq(mst_bus_open(&bus, dir, &opts), 0);
	ck_assert_int_eq(mst_send(bus, "q", "hello", 5, NULL, &id), 0);
	mst_bus_close(bus);
	free(tmp);
	return dir;
}

static int try_open(const char *url, int no_create)
{
	mst_bus_opts opts = {.quota = 4u << 20, .no_create = no_create};
	mst_bus *bus = (mst_bus *)&opts; /* must be reset to NULL on failure */
	int rc = mst_bus_open(&bus, url, &opts);

	if (rc == 0) {
		ck_assert_ptr_nonnull(bus);
		mst_bus_close(bus);
	} else {
		ck_assert_ptr_null(bus);
	}
	return rc;
}

static void assert_file(const char *dir, const char *name)
{
	char *p = join(dir, name);
	struct stat st;

	ck_assert_msg(lstat(p, &st) == 0, "%s missing", p);
	ck_assert_msg(S_ISREG(st.st_mode), "%s is not a regular file", p);
	ck_assert_uint_eq(st.st_mode & 077, 0);
	free(p);
}

START_TEST(test_open_creates)
{
	char *tmp = unit_tmpdir(), *dir = join(tmp, "newbus");
	mst_bus_opts opts = {.quota = 4u << 20};
	mst_bus *bus = NULL;
	mst_stats st;
	struct stat sb;

	ck_assert_int_eq(lstat(dir, &sb), -1);
	ck_assert_int_eq(mst_bus_open(&bus, dir, &opts), 0);
	ck_assert_ptr_nonnull(bus);
	ck_assert_int_eq(lstat(dir, &sb), 0);
	ck_assert(S_ISDIR(sb.st_mode));
	ck_assert_uint_eq(sb.st_mode & 07777, 0700);
	ck_assert_uint_eq(sb.st_uid, geteuid());
	assert_file(dir, "bus.conf");
	assert_file(dir, "store.mdb");
	assert_file(dir, "wake");
	ck_assert_str_eq(mst_bus_path(bus), dir);
	ck_assert_int_eq(mst_bus_owner(bus), getpid());
	ck_assert_int_eq(mst_stats_get(bus, &st), 0);
	ck_assert_uint_eq(st.store_bytes, 4u << 20);
	ck_assert_uint_eq(st.queues, 0);
	ck_assert_uint_eq(st.keys, 0);
	ck_assert_uint_gt(st.used_bytes, 0);
	ck_assert_uint_le(st.used_bytes, st.store_bytes);
	mst_bus_close(bus);
	mst_bus_close(NULL);
	free(dir);
	free(tmp);
}
END_TEST

/* Two handles of one process on one store (a handle per thread), one of them closed
 * while the other goes on, and other processes opening the bus meanwhile: LMDB must
 * see the process as one reader (one environment), or its liveness locks are lost
 * and other processes take the survivor's reader slot (MDB_BAD_RSLOT). */
struct reader_arg {
	mst_bus *bus;
	int stop, errors, reads;
};

static void *reader_main(void *p)
{
	struct reader_arg *r = p;
	mst_kv kv;

	while (!__atomic_load_n(&r->stop, __ATOMIC_SEQ_CST)) {
		int rc = mst_kv_get(r->bus, "k", &kv);

		if (rc == 0)
			mst_kv_free(&kv);
		else
			r->errors++;
		__atomic_add_fetch(&r->reads, 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

START_TEST(test_handles_share_process)
{
	char *dir = unit_tmpdir();
	struct reader_arg ra = {0};
	mst_bus *a, *b;
	pthread_t th;
	int i, rounds;

	/* a new bus, opened twice by this process before anyone else opens it */
	ck_assert_int_eq(mst_bus_open(&a, dir, NULL), 0);
	ck_assert_int_eq(mst_kv_set(a, "k", "v", 1, NULL), 0);
	ck_assert_int_eq(mst_bus_open(&b, dir, NULL), 0);
	ra.bus = b;
	ck_assert_int_eq(pthread_create(&th, NULL, reader_main, &ra), 0);
	/* both threads read (and this one writes) at the same time, a while */
	for (rounds = 0; rounds < 200 || __atomic_load_n(&ra.reads, __ATOMIC_SEQ_CST) < 1000;
	     rounds++) {
		mst_kv kv;

		ck_assert_int_lt(rounds, 1000000);
		ck_assert_int_eq(mst_kv_get(a, "k", &kv), 0);
		mst_kv_free(&kv);
		ck_assert_int_eq(mst_kv_set(a, "k", "w", 1, NULL), 0);
	}
	__atomic_store_n(&ra.stop, 1, __ATOMIC_SEQ_CST);
	pthread_join(th, NULL);
	ck_assert_int_eq(ra.errors, 0);
	ck_assert_int_gt(ra.reads, 0);
	/* one handle closed: the other keeps its reader slot while other processes open
	 * the bus (each open clears the slots of processes it finds dead) and read */
	mst_bus_close(b);
	for (i = 0; i < 5; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			mst_bus *c = unit_open(dir, 0);
			mst_kv kv;
			int k, bad = 0;

			for (k = 0; k < 50; k++) {
				bad |= mst_kv_get(c, "k", &kv) != 0;
				mst_kv_free(&kv);
			}
			mst_bus_close(c);
			_exit(bad);
		}
		ck_assert_int_gt(pid, 0);
		for (rounds = 0; rounds < 100; rounds++) {
			mst_kv kv;
			int rc = mst_kv_get(a, "k", &kv);

			ck_assert_msg(rc == 0, "read after a handle closed: %s", mst_strerror(rc));
			mst_kv_free(&kv);
		}
		{
			int st;

			ck_assert_int_eq(waitpid(pid, &st, 0), pid);
			ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		}
	}
	ck_assert_int_eq(mst_kv_set(a, "k", "x", 1, NULL), 0);
	mst_bus_close(a);
	free(dir);
}
END_TEST

START_TEST(test_reopen)
{
	char *dir = made_bus(), url[4200];
	mst_bus_opts opts = {.quota = 128u << 20}; /* ignored: the bus exists */
	mst_bus *a, *b;
	mst_msg m;
	mst_kv kv;
	mst_stats st;
	size_t n;
	uint64_t rev;

	ck_assert_int_eq(mst_bus_open(&a, dir, &opts), 0);
	ck_assert_int_eq(mst_stats_get(a, &st), 0);
	ck_assert_uint_eq(st.store_bytes, 4u << 20);
	ck_assert_uint_eq(st.ready, 1);
	ck_assert_int_eq(mst_kv_set(a, "k", "v1", 2, &rev), 0);
	/* a second handle at the same time, by its "local:" URL, sees the same state */
	snprintf(url, sizeof url, "local:%s", dir);
	ck_assert_int_eq(mst_bus_open(&b, url, NULL), 0);
	ck_assert_int_eq(mst_kv_get(b, "k", &kv), 0);
	ck_assert_uint_eq(kv.rev, rev);
	ck_assert_str_eq(kv.value, "v1");
	mst_kv_free(&kv);
	ck_assert_int_eq(mst_recv(b, "q", NULL, &m, 1, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(m.data, "hello");
	ck_assert_int_eq(mst_ack(b, m.id), 0);
	mst_msg_free(&m);
	mst_bus_close(b);
	mst_bus_close(a);
	/* and after both closed, the state persists */
	ck_assert_int_eq(mst_bus_open(&a, dir, NULL), 0);
	ck_assert_int_eq(mst_recv(a, "q", NULL, &m, 1, &n), MST_EEMPTY);
	ck_assert_int_eq(mst_kv_get(a, "k", &kv), 0);
	ck_assert_str_eq(kv.value, "v1");
	mst_kv_free(&kv);
	mst_bus_close(a);
	free(dir);
}
END_TEST

START_TEST(test_url_forms)
{
	char *home = unit_tmpdir(), *expect = join(home, "named");
	char dir[4096], why[512];
	mst_bus *bus;

	ck_assert_int_eq(try_open("redis://localhost/0", 0), MST_EURL);
	ck_assert_int_eq(try_open("local:bad name", 0), MST_EURL);
	/* "." and ".." are valid names but would be the base directory or its parent */
	setenv("MUSTER_HOME", home, 1);
	ck_assert_int_eq(try_open("local:..", 0), MST_EURL);
	ck_assert_int_eq(try_open("local:.", 0), MST_EURL);
	ck_assert_int_eq(try_open("..", 0), MST_EURL);
	ck_assert_int_eq(mst_bus_locate("local:..", dir, sizeof dir, why, sizeof why), MST_EURL);
	ck_assert_int_eq(try_open("local:...", 0), 0);
	/* a bare name lives under $MUSTER_HOME when that is usable */
	ck_assert_int_eq(mst_bus_locate("local:named", dir, sizeof dir, why, sizeof why), 0);
	ck_assert_str_eq(dir, expect);
	ck_assert_ptr_nonnull(strstr(why, "MUSTER_HOME"));
	ck_assert_int_eq(mst_bus_open(&bus, "local:named", NULL), 0);
	ck_assert_str_eq(mst_bus_path(bus), expect);
	mst_bus_close(bus);
	/* $MUSTER_BUS is the default URL */
	setenv("MUSTER_BUS", expect, 1);
	ck_assert_int_eq(mst_bus_open(&bus, NULL, NULL), 0);
	ck_assert_str_eq(mst_bus_path(bus), expect);
	mst_bus_close(bus);
	free(expect);
	free(home);
}
END_TEST

START_TEST(test_refuse_symlink)
{
	char *dir = made_bus(), *tmp = unit_tmpdir(), *link = join(tmp, "link");
	char *dangling = join(tmp, "dangling");

	ck_assert_int_eq(symlink(dir, link), 0);
	ck_assert_int_eq(try_open(link, 0), MST_EINSECURE);
	ck_assert_int_eq(try_open(link, 1), MST_EINSECURE);
	ck_assert_int_eq(symlink("/nonexistent/muster", dangling), 0);
	ck_assert_int_eq(try_open(dangling, 0), MST_EINSECURE);
	/* the real directory is fine */
	ck_assert_int_eq(try_open(dir, 1), 0);
	free(dangling);
	free(link);
	free(tmp);
	free(dir);
}
END_TEST

START_TEST(test_refuse_writable)
{
	static const mode_t modes[] = {0720, 0702, 0770, 0707, 0777, 01777};
	char *dir = made_bus();
	size_t i;

	for (i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		ck_assert_int_eq(chmod(dir, modes[i]), 0);
		ck_assert_msg(try_open(dir, 0) == MST_EINSECURE, "mode %o accepted",
			      (unsigned)modes[i]);
	}
	/* read or search rights for others are not a hazard */
	ck_assert_int_eq(chmod(dir, 0755), 0);
	ck_assert_int_eq(try_open(dir, 0), 0);
	ck_assert_int_eq(chmod(dir, 0700), 0);
	ck_assert_int_eq(try_open(dir, 0), 0);
	free(dir);
}
END_TEST

START_TEST(test_refuse_foreign_owner)
{
	char *dir = made_bus(), *tmp = unit_tmpdir(), *fresh = join(tmp, "fresh");

	if (geteuid() != 0) {
		fprintf(stderr, "test_refuse_foreign_owner: skipped (needs root to chown)\n");
		free(fresh);
		free(tmp);
		free(dir);
		return;
	}
	ck_assert_int_eq(chown(dir, 65534, 65534), 0);
	ck_assert_int_eq(try_open(dir, 0), MST_EINSECURE);
	ck_assert_int_eq(try_open(dir, 1), MST_EINSECURE);
	/* an empty directory owned by someone else is not taken over either */
	ck_assert_int_eq(mkdir(fresh, 0700), 0);
	ck_assert_int_eq(chown(fresh, 65534, 65534), 0);
	ck_assert_int_eq(try_open(fresh, 0), MST_EINSECURE);
	ck_assert_int_eq(chown(dir, 0, 0), 0);
	ck_assert_int_eq(try_open(dir, 1), 0);
	free(fresh);
	free(tmp);
	free(dir);
}
END_TEST

START_TEST(test_not_a_directory)
{
	char *tmp = unit_tmpdir(), *file = join(tmp, "file");
	int fd = open(file, O_WRONLY | O_CREAT, 0600);

	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(try_open(file, 0), -ENOTDIR);
	free(file);
	free(tmp);
}
END_TEST

START_TEST(test_no_create)
{
	char *tmp = unit_tmpdir(), *missing = join(tmp, "missing"), *dir;
	struct stat st;

	ck_assert_int_eq(try_open(missing, 1), MST_ENOTFOUND);
	ck_assert_int_eq(lstat(missing, &st), -1);
	/* an existing empty directory holds no bus either, and none is made there */
	ck_assert_int_eq(try_open(tmp, 1), MST_ENOTFOUND);
	free(missing);
	missing = join(tmp, "bus.conf");
	ck_assert_int_eq(lstat(missing, &st), -1);
	free(missing);
	missing = join(tmp, "store.mdb");
	ck_assert_int_eq(lstat(missing, &st), -1);
	dir = made_bus();
	ck_assert_int_eq(try_open(dir, 1), 0);
	free(dir);
	free(missing);
	free(tmp);
}
END_TEST

START_TEST(test_store_truncated)
{
	char *dir = made_bus(), *store = join(dir, "store.mdb");
	struct stat st;

	ck_assert_int_eq(stat(store, &st), 0);
	ck_assert_int_eq(truncate(store, st.st_size / 2), 0);
	ck_assert_int_eq(try_open(dir, 0), MST_ECORRUPT);
	ck_assert_int_eq(try_open(dir, 1), MST_ECORRUPT);
	ck_assert_int_eq(truncate(store, 0), 0);
	ck_assert_int_eq(try_open(dir, 0), MST_ECORRUPT);
	/* refusing does not repair or recreate behind the caller's back */
	ck_assert_int_eq(stat(store, &st), 0);
	ck_assert_int_eq(st.st_size, 0);
	free(store);
	free(dir);
}
END_TEST

START_TEST(test_store_missing)
{
	char *dir = made_bus(), *store = join(dir, "store.mdb");

	ck_assert_int_eq(unlink(store), 0);
	ck_assert_int_eq(try_open(dir, 0), MST_ECORRUPT);
	free(store);
	free(dir);
}
END_TEST

static void scribble_conf(const char *dir, const char *text, size_t len)
{
	char *conf = join(dir, "bus.conf");
	int fd = open(conf, O_WRONLY | O_TRUNC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(unit_write_full(fd, text, len), 0);
	close(fd);
	free(conf);
}

START_TEST(test_conf_scribbled)
{
	static const char garbage[] = "\x7f\x45LF\x00\x01\x02 this is not a bus.conf \xff\xfe";
	char *dir = made_bus();

	scribble_conf(dir, garbage, sizeof garbage - 1);
	ck_assert_int_eq(try_open(dir, 0), MST_ECORRUPT);
	ck_assert_int_eq(try_open(dir, 1), MST_ECORRUPT);
	scribble_conf(dir, "", 0);
	ck_assert_int_eq(try_open(dir, 0), MST_ECORRUPT);
	scribble_conf(dir, "format=1\nquota=4194304\n", 23);
	ck_assert_int_eq(try_open(dir, 0), MST_ECORRUPT);
	/* a well-formed file of a future format is a version error */
	scribble_conf(dir, "format=2\nquota=4194304\nwritemap=1\n", 34);
	ck_assert_int_eq(try_open(dir, 0), MST_EVERSION);
	free(dir);
}
END_TEST

START_TEST(test_store_garbage)
{
	char *dir = made_bus(), *store = join(dir, "store.mdb");
	unsigned char junk[16384];
	uint32_t x = 12345;
	size_t i;
	int fd, rc;

	for (i = 0; i < sizeof junk; i++) {
		x = x * 1103515245u + 12345u;
		junk[i] = (unsigned char)(x >> 16);
	}
	fd = open(store, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(unit_write_full(fd, junk, sizeof junk), 0);
	close(fd);
	/* this process survives (a crash fails the test) and gets an error */
	rc = try_open(dir, 0);
	ck_assert_msg(rc < 0, "opened a store with garbage meta pages");
	ck_assert_msg(rc == MST_ECORRUPT || rc == MST_EVERSION, "error %s (%d)", mst_errname(rc),
		      rc);
	free(store);
	free(dir);
}
END_TEST

START_TEST(test_owner_pid)
{
	char *dir = made_bus();
	mst_bus_opts opts = {.no_create = 1};
	mst_bus *bus = NULL;
	int wfd, status;
	pid_t gone, zombie, live;

	/* a process that has exited and been reaped */
	gone = unit_fork();
	if (gone == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(gone, &status, 0), gone);
	opts.owner_pid = gone;
	ck_assert_int_eq(mst_bus_open(&bus, dir, &opts), MST_ENOOWNER);
	ck_assert_ptr_null(bus);
	/* a zombie is gone too */
	zombie = unit_fork();
	if (zombie == 0)
		_exit(0);
	ck_assert_int_eq(waitid(P_PID, (id_t)zombie, NULL, WEXITED | WNOWAIT), 0);
	opts.owner_pid = zombie;
	ck_assert_int_eq(mst_bus_open(&bus, dir, &opts), MST_ENOOWNER);
	ck_assert_int_eq(waitpid(zombie, &status, 0), zombie);
	/* a live process is a valid owner */
	live = unit_idle_child(&wfd);
	opts.owner_pid = live;
	ck_assert_int_eq(mst_bus_open(&bus, dir, &opts), 0);
	ck_assert_int_eq(mst_bus_owner(bus), live);
	mst_bus_close(bus);
	close(wfd);
	status = unit_reap(live, 5000);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	free(dir);
}
END_TEST

START_TEST(test_bad_args)
{
	mst_bus *bus = unit_bus();

	ck_assert_int_eq(mst_bus_open(NULL, "/tmp/x", NULL), MST_EINVAL);
	ck_assert_ptr_null(mst_bus_path(NULL));
	ck_assert_int_eq(mst_bus_owner(NULL), 0);
	ck_assert_int_eq(mst_stats_get(bus, NULL), MST_EINVAL);
	ck_assert_int_eq(mst_stats_get(NULL, NULL), MST_EINVAL);
	ck_assert_int_eq(mst_bus_locate(NULL, NULL, 0, NULL, 0), MST_EINVAL);
	mst_bus_close(bus);
}
END_TEST

Suite *suite_bus(void)
{
	Suite *s = suite_create("bus");
	TCase *tc = tcase_create("open");
	TCase *th = tcase_create("hostile");

	tcase_add_test(tc, test_open_creates);
	tcase_add_test(tc, test_reopen);
	tcase_add_test(tc, test_handles_share_process);
	tcase_add_test(tc, test_url_forms);
	tcase_add_test(tc, test_no_create);
	tcase_add_test(tc, test_owner_pid);
	tcase_add_test(tc, test_bad_args);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	tcase_add_test(th, test_refuse_symlink);
	tcase_add_test(th, test_refuse_writable);
	tcase_add_test(th, test_refuse_foreign_owner);
	tcase_add_test(th, test_not_a_directory);
	tcase_add_test(th, test_store_truncated);
	tcase_add_test(th, test_store_missing);
	tcase_add_test(th, test_conf_scribbled);
	tcase_add_test(th, test_store_garbage);
	tcase_set_timeout(th, 30);
	suite_add_tcase(s, th);
	return s;
}
