/*
 * concurrency.c - 200 concurrent processes on one queue: senders and receivers start
 * together, and a checker proves by message id that every message was received and
 * acknowledged exactly once, nothing was lost and nothing was delivered after its ack.
 *
 *   concurrency [-s SENDERS] [-r RECEIVERS] [-n PER_SENDER] [-d DIR] [-k]
 *
 * Defaults: 100 senders of 50 messages each and 100 receivers. Every process opens its
 * own handle, then all wait on a futex in shared memory until the driver releases them
 * at once. Sender S sends "sS-1" .. "sS-N" (one message per mst_send); receivers loop on
 * mst_recv (one message, 200 ms wait) and mst_ack. Each process appends fixed-size
 * records (one write(2) each) to a shared O_APPEND log:
 *   S PAYLOAD ID            sender: mst_send returned ID
 *   R PAYLOAD ID ATTEMPT PID  receiver PID: mst_recv returned it
 *   A PAYLOAD ID PID          receiver PID: mst_ack returned 0
 *   E PAYLOAD ID RC         receiver: mst_ack failed
 *   X ROLE RC               any: an unexpected error (the process then exits 4)
 * Nobody is killed here, so each message must be sent once, received exactly once
 * (attempt 1), acknowledged once by the process that received it, with no record of it
 * after its ack;
 * ids must be unique; the queue must end with ready = leased = delayed = dead = 0 and
 * its sent and acked counters equal to the number of messages.
 * Exit status: 0 when every check holds, 1 when one fails, 2 on a usage or setup error.
 */
#define _GNU_SOURCE
#include "muster.h"
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define QUEUE "conc"
#define MAX_EXAMPLES 8
#define START_TIMEOUT_NS (60 * 1000000000LL)
#define DRAIN_TIMEOUT_NS (60 * 1000000000LL)
#define STALL_NS (10 * 1000000000LL)

/* Memory shared by the driver and every process it forks. */
struct shared {
	uint32_t go;    /* futex word: 1 when the processes may start */
	uint32_t ready; /* processes that have opened their handle */
	uint32_t stop;  /* receivers: exit at the next idle recv */
};

static struct shared *sh;
static int log_fd = -1;
static char bus_dir[4200];
static pid_t driver;

__attribute__((format(printf, 1, 2))) static void logf_(const char *fmt, ...)
{
	char rec[REC + 1];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(rec, sizeof rec, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= REC)
		abort();
	memset(rec + n, ' ', (size_t)(REC - 1 - n));
	rec[REC - 1] = '\n';
	if (write(log_fd, rec, REC) != REC)
		abort();
}

/* Opens a handle, reports ready and waits for the start signal. */
static mst_bus *child_start(const char *role)
{
	mst_bus *bus;
	int rc = mst_bus_open(&bus, bus_dir, NULL);

	if (rc < 0) {
		logf_("X %s %d", role, rc);
		exit(4);
	}
	__atomic_fetch_add(&sh->ready, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&sh->go, __ATOMIC_SEQ_CST))
		syscall(SYS_futex, &sh->go, FUTEX_WAIT, 0, NULL, NULL, 0);
	return bus;
}

static void sender(int idx, int n)
{
	mst_bus *bus = child_start("sender");
	char payload[32];
	uint64_t id;
	int i, len, rc;

	for (i = 1; i <= n; i++) {
		len = snprintf(payload, sizeof payload, "s%d-%d", idx, i);
		rc = mst_send(bus, QUEUE, payload, (size_t)len, NULL, &id);
		if (rc < 0) {
			logf_("X sender %d", rc);
			exit(4);
		}
		logf_("S %s %" PRIx64, payload, id);
	}
	mst_bus_close(bus);
	exit(0);
}

static void receiver(void)
{
	mst_bus *bus = child_start("receiver");
	mst_recv_opts ro = {200, 0};
	mst_msg m;
	size_t n;
	int rc;

	/* stop is set once the queue is drained (or given up on) */
	while (!__atomic_load_n(&sh->stop, __ATOMIC_SEQ_CST)) {
		rc = mst_recv(bus, QUEUE, &ro, &m, 1, &n);
		if (rc == MST_ETIMEOUT)
			continue;
		if (rc < 0) {
			logf_("X receiver %d", rc);
			exit(4);
		}
		logf_("R %s %" PRIx64 " %" PRIu32 " %d", (char *)m.data, m.id, m.attempt,
		      (int)getpid());
		rc = mst_ack(bus, m.id);
		if (rc < 0)
			logf_("E %s %" PRIx64 " %d", (char *)m.data, m.id, rc);
		else
			logf_("A %s %" PRIx64 " %d", (char *)m.data, m.id, (int)getpid());
		mst_msg_free(&m);
	}
	mst_bus_close(bus);
	exit(0);
}

/* --- the checker ------------------------------------------------------------------ */

struct mstate {
	uint64_t id;
	int receiver; /* pid of the receiver */
	uint8_t sent, recv, acked;
};

struct counts {
	uint64_t lost, dup_send, dup_recv, after_ack, redelivered, bad_ack, failed_ack, bad_id,
	    unknown, errors, bad_lines, dup_ids;
};

__attribute__((format(printf, 2, 3))) static void example(uint64_t *counter, const char *fmt, ...)
{
	va_list ap;

	if ((*counter)++ >= MAX_EXAMPLES)
		return;
	va_start(ap, fmt);
	fputs("concurrency: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}



static void check_log(const char *path, struct mstate *ms, int nsend, int per, struct counts *c,
                      uint64_t *nrecv)
{
	FILE *f = fopen(path, "r");
	char rec[REC + 1], payload[64], role[32];
	uint64_t id, *ids, nids = 0;
	uint32_t attempt;
	int s, i, rc, end, pid;
	char tail;

	if (!f) {
		perror("concurrency: log");
		exit(2);
	}
	rec[REC] = 0;
	while (fread(rec, 1, REC, f) == REC) {
		struct mstate *m = NULL;
		char kind = rec[0];
		bool ok = false;

		end = 0;
		if (rec[REC - 1] != '\n' || memchr(rec, '\n', REC - 1) || rec[1] != ' ') {
			example(&c->bad_lines, "torn log record: %.*s", REC - 1, rec);
			continue;
		}
		if (kind == 'X') {
			ok = sscanf(rec, "X %31s %d%n", role, &rc, &end) == 2;
			example(&c->errors, "a %s failed: %s", role, ok ? mst_strerror(rc) : "?");
			if (!ok || !helper_rest_blank(rec, end))
				example(&c->bad_lines, "bad log record: %.*s", REC - 1, rec);
			continue;
		}
		if (sscanf(rec + 2, "%63s %" SCNx64, payload, &id) != 2) {
			example(&c->bad_lines, "bad log record: %.*s", REC - 1, rec);
			continue;
		}
		if (sscanf(payload, "s%d-%d%c", &s, &i, &tail) != 2 || s < 0 || s >= nsend ||
		    i < 1 || i > per) {
			example(&c->unknown, "record of a message nobody sent: %.*s", REC - 1, rec);
			continue;
		}
		m = &ms[(size_t)s * (size_t)per + (size_t)(i - 1)];
		if (m->id && m->id != id) {
			example(&c->bad_id, "%s has ids %" PRIx64 " and %" PRIx64, payload, m->id,
			        id);
			continue;
		}
		m->id = id;
		switch (kind) {
		case 'S':
			ok = sscanf(rec, "S %*s %*x%n", &end) == 0 && end > 0;
			if (m->sent++)
				example(&c->dup_send, "%s sent twice", payload);
			break;
		case 'R':
			ok = sscanf(rec, "R %*s %*x %" SCNu32 " %d%n", &attempt, &pid, &end) == 2;
			(*nrecv)++;
			if (m->acked)
				example(&c->after_ack, "%s received after its ack", payload);
			else if (m->recv)
				example(&c->dup_recv, "%s received twice", payload);
			if (ok && attempt != 1)
				example(&c->redelivered, "%s delivered with attempt %" PRIu32,
				        payload, attempt);
			m->recv++;
			if (ok)
				m->receiver = pid;
			break;
		case 'A':
			ok = sscanf(rec, "A %*s %*x %d%n", &pid, &end) == 1;
			if (!m->recv)
				example(&c->bad_ack, "%s acknowledged before it was received",
				        payload);
			else if (ok && pid != m->receiver)
				example(&c->bad_ack, "%s acknowledged by %d, received by %d",
				        payload, pid, m->receiver);
			if (m->acked++)
				example(&c->bad_ack, "%s acknowledged twice", payload);
			break;
		case 'E':
			ok = sscanf(rec, "E %*s %*x %d%n", &rc, &end) == 1;
			example(&c->failed_ack, "ack of %s failed: %s", payload,
			        ok ? mst_strerror(rc) : "?");
			break;
		default:
			break;
		}
		if (!ok || !helper_rest_blank(rec, end))
			example(&c->bad_lines, "bad log record: %.*s", REC - 1, rec);
	}
	if (!feof(f) || ftell(f) % REC)
		example(&c->bad_lines, "the log ends with a partial record");
	fclose(f);
	ids = malloc((size_t)nsend * (size_t)per * sizeof *ids);
	if (!ids)
		exit(2);
	for (s = 0; s < nsend; s++) {
		for (i = 1; i <= per; i++) {
			struct mstate *m = &ms[(size_t)s * (size_t)per + (size_t)(i - 1)];

			if (!m->sent)
				example(&c->lost, "s%d-%d never confirmed as sent", s, i);
			else if (!m->recv)
				example(&c->lost, "s%d-%d (id %" PRIx64 ") never received", s, i,
				        m->id);
			else if (!m->acked)
				example(&c->lost, "s%d-%d (id %" PRIx64 ") never acknowledged", s,
				        i, m->id);
			if (m->id)
				ids[nids++] = m->id;
		}
	}
	qsort(ids, nids, sizeof *ids, helper_cmp_u64);
	for (id = 1; id < nids; id++)
		if (ids[id] == ids[id - 1])
			example(&c->dup_ids, "id %" PRIx64 " names two messages", ids[id]);
	free(ids);
}

/* --- the driver ------------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr, "usage: concurrency [-s SENDERS] [-r RECEIVERS] [-n PER_SENDER] [-d DIR] "
	                "[-k]\n");
	exit(2);
}


static pid_t spawn(int sender_idx, int per)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		perror("concurrency: fork");
		return -1;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != driver)
			_exit(4);
		if (sender_idx >= 0)
			sender(sender_idx, per);
		receiver();
	}
	return pid;
}

/* Waits for pid (a sender or a receiver) and counts an abnormal end. */
static int reap(pid_t pid, const char *what)
{
	int st;

	if (pid <= 0)
		return 0;
	if (waitpid(pid, &st, 0) < 0) {
		perror("concurrency: waitpid");
		return 1;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "concurrency: a %s (pid %d) ended with status 0x%x\n", what,
		        (int)pid, st);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int nsend = 100, nrecv = 100, per = 50, opt, i, rc, failures = 0;
	const char *given = NULL;
	bool keep = false;
	char dir[4096], log_path[4200];
	int *role, ns = 0, nr = 0;
	pid_t *pids;
	mst_bus *bus;
	mst_queue_info qi, last;
	struct mstate *ms;
	struct counts c;
	struct rlimit rl;
	uint64_t received = 0, total;
	int64_t t0, t_go, t_sent, t_drained, t_moved, deadline;

	while ((opt = getopt(argc, argv, "s:r:n:d:k")) != -1) {
		switch (opt) {
		case 's':
			nsend = atoi(optarg);
			break;
		case 'r':
			nrecv = atoi(optarg);
			break;
		case 'n':
			per = atoi(optarg);
			break;
		case 'd':
			given = optarg;
			break;
		case 'k':
			keep = true;
			break;
		default:
			usage();
		}
	}
	if (nsend < 1 || nrecv < 1 || per < 1 || nsend > 100000 || per > 1000000)
		usage();
	/* each process holds a few descriptors of its own; the driver only pids */
	if (getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)(nsend + nrecv) + 64) {
		fprintf(stderr, "concurrency: RLIMIT_NPROC %llu is too low for %d processes\n",
		        (unsigned long long)rl.rlim_cur, nsend + nrecv);
		return 2;
	}
	driver = getpid();
	total = (uint64_t)nsend * (uint64_t)per;
	helper_make_dir(dir, sizeof dir, given, "concurrency", "conc");
	snprintf(bus_dir, sizeof bus_dir, "%s/bus", dir);
	snprintf(log_path, sizeof log_path, "%s/log", dir);
	printf("# concurrency: dir %s, %d senders x %d messages, %d receivers\n", dir, nsend, per,
	       nrecv);
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pids = calloc((size_t)(nsend + nrecv), sizeof *pids);
	role = calloc((size_t)(nsend + nrecv), sizeof *role);
	ms = calloc(total, sizeof *ms);
	if (sh == MAP_FAILED || !pids || !role || !ms) {
		perror("concurrency: memory");
		return 2;
	}
	memset(sh, 0, sizeof *sh);
	log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (log_fd < 0) {
		perror("concurrency: log");
		return 2;
	}
	/* the bus and the queue exist before anyone starts (a 30 s lease: no expiry here) */
	if ((rc = mst_bus_open(&bus, bus_dir, NULL)) < 0 ||
	    (rc = mst_queue_config(bus, QUEUE, 0, 30000, NULL)) < 0) {
		fprintf(stderr, "concurrency: cannot set up the bus: %s\n", mst_strerror(rc));
		return 2;
	}
	mst_bus_close(bus);

	t0 = mst_now_ns();
	/* interleave senders and receivers (role: sender index, or -1 for a receiver) */
	for (i = 0; i < nsend + nrecv; i++) {
		if (ns < nsend && (nr >= nrecv || (uint64_t)ns * (uint64_t)nrecv <=
		                                      (uint64_t)nr * (uint64_t)nsend))
			role[i] = ns++;
		else
			role[i] = -1, nr++;
	}
	for (i = 0; i < nsend + nrecv; i++) {
		pids[i] = spawn(role[i], per);
		if (pids[i] < 0) {
			failures++;
			break;
		}
	}
	deadline = mst_now_ns() + START_TIMEOUT_NS;
	while (!failures &&
	       __atomic_load_n(&sh->ready, __ATOMIC_SEQ_CST) < (uint32_t)(nsend + nrecv)) {
		if (mst_now_ns() > deadline) {
			fprintf(stderr,
			        "concurrency: only %u of %d processes opened the bus in time\n",
			        sh->ready, nsend + nrecv);
			failures++;
			break;
		}
		usleep(2000);
	}
	t_go = mst_now_ns();
	printf("# %d processes opened the bus in %.2f s\n", nsend + nrecv,
	       (double)(t_go - t0) / 1e9);
	__atomic_store_n(&sh->go, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &sh->go, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);

	/* senders first: they end by themselves */
	for (i = 0; i < nsend + nrecv; i++)
		if (role[i] >= 0)
			failures += reap(pids[i], "sender");
	t_sent = mst_now_ns();
	if ((rc = mst_bus_open(&bus, bus_dir, NULL)) < 0) {
		fprintf(stderr, "concurrency: cannot reopen the bus: %s\n", mst_strerror(rc));
		return 1;
	}
	/* drained when nothing is ready or leased; stuck when nothing moved for STALL_NS */
	deadline = mst_now_ns() + DRAIN_TIMEOUT_NS;
	t_moved = mst_now_ns();
	memset(&last, 0, sizeof last);
	for (;;) {
		int64_t now;

		if ((rc = mst_queue_stat(bus, QUEUE, &qi)) < 0) {
			fprintf(stderr, "concurrency: queue stat: %s\n", mst_strerror(rc));
			failures++;
			break;
		}
		if (!qi.ready && !qi.leased && !qi.delayed)
			break;
		now = mst_now_ns();
		if (qi.ready != last.ready || qi.leased != last.leased || qi.acked != last.acked) {
			last = qi;
			t_moved = now;
		}
		if (now > deadline || now - t_moved > STALL_NS) {
			fprintf(stderr,
			        "concurrency: queue not drained (%s): ready %" PRIu64
			        " leased %" PRIu64 "\n",
			        now > deadline ? "60 s" : "stuck for 10 s", qi.ready, qi.leased);
			failures++;
			break;
		}
		usleep(5000);
	}
	t_drained = mst_now_ns();
	__atomic_store_n(&sh->stop, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < nsend + nrecv; i++)
		if (role[i] < 0)
			failures += reap(pids[i], "receiver");
	rc = mst_queue_stat(bus, QUEUE, &qi);
	mst_bus_close(bus);
	if (rc < 0) {
		fprintf(stderr, "concurrency: queue stat: %s\n", mst_strerror(rc));
		return 1;
	}

	memset(&c, 0, sizeof c);
	check_log(log_path, ms, nsend, per, &c, &received);
	if (qi.sent != total || qi.acked != total || qi.ready || qi.leased || qi.delayed ||
	    qi.dead || qi.redelivered) {
		fprintf(stderr,
		        "concurrency: queue counters: sent %" PRIu64 " acked %" PRIu64
		        " ready %" PRIu64 " leased %" PRIu64 " delayed %" PRIu64 " dead %" PRIu64
		        " redelivered %" PRIu64 " (expected %" PRIu64 " sent and acked)\n",
		        qi.sent, qi.acked, qi.ready, qi.leased, qi.delayed, qi.dead, qi.redelivered,
		        total);
		failures++;
	}
	failures +=
	    (int)(c.lost + c.dup_send + c.dup_recv + c.after_ack + c.redelivered + c.bad_ack +
	          c.failed_ack + c.bad_id + c.unknown + c.errors + c.bad_lines + c.dup_ids);
	printf("# sends done %.2f s after the start, queue drained at %.2f s\n",
	       (double)(t_sent - t_go) / 1e9, (double)(t_drained - t_go) / 1e9);
	printf("concurrency: %s: %d senders %d receivers sent %" PRIu64 " received %" PRIu64
	       " lost %" PRIu64 " dup %" PRIu64 " after-ack %" PRIu64 " in %.1f s\n",
	       failures ? "FAIL" : "ok", nsend, nrecv, total, received, c.lost,
	       c.dup_recv + c.dup_send + c.dup_ids, c.after_ack, (double)(mst_now_ns() - t0) / 1e9);
	free(ms);
	free(pids);
	free(role);
	return helper_finish_dir(dir, failures, keep, given != NULL, "concurrency");
}
