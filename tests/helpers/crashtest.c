/*
 * crashtest.c - SIGKILL producers and consumers of one queue at random instants, then
 * prove by message id that nothing was lost, nothing was delivered after its ack, and
 * that a lease held by a killed consumer came back in under a second.
 *
 *   crashtest [-t SECS] [-r ROUNDS] [-p PRODUCERS] [-c CONSUMERS] [-s SEED] [-d DIR] [-k]
 *
 * The driver forks producers and consumers against a fresh bus in DIR (default: a new
 * directory under /dev/shm or $TMPDIR) and then, round after round until SECS have
 * passed (or ROUNDS rounds), picks a victim, waits a random number of microseconds (or,
 * in one round of three, until the victim holds the store's writer lock, so that it
 * dies inside a write transaction), kills it with SIGKILL and starts a new process in
 * its place. One round in eight kills every consumer at once.
 *
 * Every process appends whole lines (one write(2) each) to one O_APPEND log:
 *   S PAYLOAD ID INC T          producer: mst_send of PAYLOAD returned ID
 *   R PAYLOAD ID INC ATTEMPT T  consumer: mst_recv returned PAYLOAD
 *   K PAYLOAD ID INC T          consumer: about to mst_ack
 *   A PAYLOAD ID INC T          consumer: mst_ack returned 0
 *   E PAYLOAD ID INC RC         consumer: mst_ack failed
 *   X ROLE INC RC               any: an unexpected error (the process then exits 4)
 *   D INC PID T HELD            driver: killed incarnation INC at T (HELD: it held the
 *                               writer lock just before the kill)
 * INC numbers every process the driver started (pids may be reused; INC never is), T is
 * mst_now_ns(). Producer P sends "pP-1", "pP-2", ... with the payload as idempotency
 * key; the last seq whose send returned is kept in memory shared with the driver, and a
 * restarted producer first sends the seq after it again (the key makes that safe), so
 * at the end the messages sent are exactly pP-1 .. pP-confirmed[P].
 *
 * After the last round the driver stops killing, lets producers finish, lets consumers
 * drain the queue and checks, from the log and the queue's counters:
 *  - every message sent was received, and acknowledged (an A record, or its last
 *    receiver was killed after its K record and the store counts it as acked: the
 *    queue's acked counter must equal its sent counter, and the queue must be empty);
 *  - the store holds each message once (sent counter = messages; ids agree and are
 *    unique), so idempotent resends did not duplicate;
 *  - no R of a message after an A of it (delivered-after-ack), no failed ack, no ack by
 *    a process that was not the message's latest receiver;
 *  - a message is received again only after its previous receiver was killed, with a
 *    higher attempt number, and never before that kill;
 *  - for each message a killed consumer held (its R logged, no K), the next R comes
 *    less than a second after the kill (max and p50 printed; usually tens of ms). The
 *    time holds the start of a replacement consumer too, which under a sanitizer
 *    ($MUSTER_SANITIZED) took past a second once: there the bound is a quarter of the
 *    30 s lease, which still tells the holder's death from the lease's end;
 *  - the queue's redelivered counter equals the redeliveries the log shows (attempt
 *    numbers count the deliveries to consumers killed before they could log them);
 *  - the queue ends with ready = leased = delayed = dead = 0 and an empty dead-letter
 *    queue, and the bus still works (a fresh send, recv and ack).
 * Exit status: 0 when every check holds, 1 when one fails, 2 on a usage or setup error.
 */
#define _GNU_SOURCE
#include "muster.h"
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define QUEUE "crash"
#define MAXP 16
#define MAXC 16
#define RECV_MAX 4
#define LEASE_MS 30000
#define REDELIVERY_LIMIT_NS 1000000000LL
#define REDELIVERY_LIMIT_SANITIZED_NS (LEASE_MS * 1000000LL / 4)
#define FINISH_TIMEOUT_NS (60 * 1000000000LL)
#define STALL_NS (10 * 1000000000LL)
#define MAX_EXAMPLES 8

/* Memory shared by the driver and every process it forks (it survives their deaths). */
struct shared {
	int finish;               /* producers: stop after the current seq */
	int stop;                 /* consumers: exit at the next idle recv */
	uint64_t confirmed[MAXP]; /* last seq of each producer whose send returned */
};

enum { ROLE_PRODUCER, ROLE_CONSUMER };

struct proc {
	pid_t pid;
	int inc;
};

struct incarnation {
	int role;
	int index;
	int64_t kill_ns; /* 0 if never killed */
	bool held;       /* held the writer lock just before the kill */
};

static struct shared *sh;
static int log_fd = -1;
static char bus_dir[4200];
static uint64_t rng;
static int failures;
static pid_t driver;

static struct incarnation *incs;
static int ninc, incs_cap;
static struct proc producers[MAXP], consumers[MAXC];
static int nprod = 4, ncons = 4;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Appends one record of exactly REC bytes (padded, newline-terminated). Records never
 * cross a page of the log: a write that SIGKILL interrupts between two pages of the
 * file would leave half a record, while one within a page is all or nothing. */
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

static mst_bus *child_open(const char *role, int inc)
{
	mst_bus *bus;
	int rc = mst_bus_open(&bus, bus_dir, NULL);

	if (rc < 0) {
		logf_("X %s %d %d", role, inc, rc);
		exit(4);
	}
	return bus;
}

/* A producer: resends the seq after the last confirmed one, then continues until
 * finish is set. */
static void producer(int idx, int inc)
{
	mst_bus *bus = child_open("producer", inc);
	uint64_t seq = __atomic_load_n(&sh->confirmed[idx], __ATOMIC_SEQ_CST) + 1;
	char payload[64];
	mst_send_opts so;
	uint64_t id;
	int rc, n;

	for (;;) {
		n = snprintf(payload, sizeof payload, "p%d-%" PRIu64, idx, seq);
		memset(&so, 0, sizeof so);
		so.key = payload;
		rc = mst_send(bus, QUEUE, payload, (size_t)n, &so, &id);
		if (rc < 0) {
			logf_("X producer %d %d", inc, rc);
			exit(4);
		}
		logf_("S %s %" PRIx64 " %d %" PRIx64, payload, id, inc, (uint64_t)mst_now_ns());
		__atomic_store_n(&sh->confirmed[idx], seq, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&sh->finish, __ATOMIC_SEQ_CST))
			break;
		seq++;
		if (rnd() % 4 == 0)
			usleep((useconds_t)(rnd() % 1000));
	}
	mst_bus_close(bus);
	exit(0);
}

/* A consumer: receives up to RECV_MAX messages at a time under a long lease (only
 * owner-death detection can free a killed consumer's lease quickly) and acks them. */
static void consumer(int inc)
{
	mst_bus *bus = child_open("consumer", inc);
	mst_recv_opts ro = {100, LEASE_MS};
	mst_msg msgs[RECV_MAX];
	size_t n, i;
	int rc;

	/* stop is set once the queue is drained (or given up on) */
	while (!__atomic_load_n(&sh->stop, __ATOMIC_SEQ_CST)) {
		size_t max = 1 + rnd() % RECV_MAX;

		rc = mst_recv(bus, QUEUE, &ro, msgs, max, &n);
		if (rc == MST_ETIMEOUT)
			continue;
		if (rc < 0) {
			logf_("X consumer %d %d", inc, rc);
			exit(4);
		}
		for (i = 0; i < n; i++)
			logf_("R %s %" PRIx64 " %d %" PRIu32 " %" PRIx64, (char *)msgs[i].data,
			      msgs[i].id, inc, msgs[i].attempt, (uint64_t)mst_now_ns());
		/* some work with the leases held: a wider window for kills */
		if (rnd() % 2)
			usleep((useconds_t)(rnd() % 500));
		for (i = 0; i < n; i++) {
			const char *p = msgs[i].data;

			logf_("K %s %" PRIx64 " %d %" PRIx64, p, msgs[i].id, inc,
			      (uint64_t)mst_now_ns());
			rc = mst_ack(bus, msgs[i].id);
			if (rc < 0)
				logf_("E %s %" PRIx64 " %d %d", p, msgs[i].id, inc, rc);
			else
				logf_("A %s %" PRIx64 " %d %" PRIx64, p, msgs[i].id, inc,
				      (uint64_t)mst_now_ns());
			mst_msg_free(&msgs[i]);
		}
	}
	mst_bus_close(bus);
	exit(0);
}

static int new_inc(int role, int index)
{
	if (ninc == incs_cap) {
		int cap = incs_cap ? incs_cap * 2 : 1024;
		void *p = realloc(incs, (size_t)cap * sizeof *incs);

		if (!p) {
			perror("crashtest: realloc");
			exit(2);
		}
		incs = p;
		incs_cap = cap;
	}
	memset(&incs[ninc], 0, sizeof incs[ninc]);
	incs[ninc].role = role;
	incs[ninc].index = index;
	return ninc++;
}

static void start(int role, int index)
{
	struct proc *p = role == ROLE_PRODUCER ? &producers[index] : &consumers[index];
	int inc = new_inc(role, index);
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		perror("crashtest: fork");
		exit(2);
	}
	if (pid == 0) {
		/* a driver that dies (or is timed out) takes its children along */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != driver)
			_exit(4);
		rng ^= (uint64_t)(inc + 1) * 0x9e3779b97f4a7c15ull;
		if (!rng)
			rng = 1;
		if (role == ROLE_PRODUCER)
			producer(index, inc);
		consumer(inc);
	}
	p->pid = pid;
	p->inc = inc;
}

/* The writer mutex of LMDB's lock file: glibc's robust pthread mutex at offset 64, its
 * owner's tid at 72 (checked at start-up by holding the lock ourselves). */
static volatile int32_t *wowner;

static void probe_setup(void)
{
	char path[4300];
	void *p;
	int fd;

	snprintf(path, sizeof path, "%s/store.mdb-lock", bus_dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return;
	if (*(uint32_t *)p != 0xbeefc0deu) {
		munmap(p, 4096);
		return;
	}
	wowner = (volatile int32_t *)((char *)p + 72);
}

/* Is the probe right? A producer that sends forever must be seen as the owner. */
static bool probe_check(void)
{
	int64_t end;
	bool seen = false;
	pid_t pid;
	int st;

	if (!wowner)
		return false;
	sh->finish = 0;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		mst_bus *bus;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (mst_bus_open(&bus, bus_dir, NULL) < 0)
			_exit(4);
		for (;;)
			mst_send(bus, "probe", "x", 1, NULL, NULL);
	}
	end = mst_now_ns() + 2000000000LL;
	while (!seen && mst_now_ns() < end)
		seen = *wowner == pid;
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return seen;
}

static void reap_or_fail(struct proc *p, const char *what)
{
	int st;

	if (!p->pid)
		return;
	if (waitpid(p->pid, &st, 0) < 0) {
		perror("crashtest: waitpid");
		exit(2);
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "crashtest: %s (inc %d, pid %d) ended with status 0x%x\n", what,
		        p->inc, (int)p->pid, st);
		failures++;
	}
	p->pid = 0;
}

/* Reaps children that ended by themselves during the rounds: always a failure, and
 * the end of the rounds (a broken bus would only make each new process fail too). */
static bool reap_unexpected(void)
{
	bool any = false;
	int st, i;
	pid_t pid;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		struct proc *p = NULL;

		for (i = 0; i < nprod; i++)
			if (producers[i].pid == pid)
				p = &producers[i];
		for (i = 0; i < ncons; i++)
			if (consumers[i].pid == pid)
				p = &consumers[i];
		if (!p)
			continue;
		fprintf(stderr, "crashtest: %s inc %d (pid %d) ended by itself, status 0x%x\n",
		        incs[p->inc].role == ROLE_PRODUCER ? "producer" : "consumer", p->inc,
		        (int)pid, st);
		failures++;
		any = true;
		p->pid = 0;
	}
	return any;
}

/* Kills the given processes (roles and indexes alike) with SIGKILL at once, reaps them
 * and starts new ones in their place. Returns how many held the writer lock just
 * before their kill. */
static int kill_set(int role, const int *idx, int n)
{
	struct proc *p[MAXC > MAXP ? MAXC : MAXP];
	bool held[MAXC > MAXP ? MAXC : MAXP];
	int64_t t[MAXC > MAXP ? MAXC : MAXP];
	int i, st, nheld = 0;

	for (i = 0; i < n; i++) {
		p[i] = role == ROLE_PRODUCER ? &producers[idx[i]] : &consumers[idx[i]];
		held[i] = wowner && *wowner == p[i]->pid;
		t[i] = mst_now_ns();
		kill(p[i]->pid, SIGKILL);
	}
	for (i = 0; i < n; i++) {
		if (waitpid(p[i]->pid, &st, 0) < 0) {
			perror("crashtest: waitpid");
			exit(2);
		}
		if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
			fprintf(stderr,
			        "crashtest: inc %d (pid %d) ended with status 0x%x before "
			        "its kill\n",
			        p[i]->inc, (int)p[i]->pid, st);
			failures++;
		}
		incs[p[i]->inc].kill_ns = t[i];
		incs[p[i]->inc].held = held[i];
		nheld += held[i];
		logf_("D %d %d %" PRIx64 " %d", p[i]->inc, (int)p[i]->pid, (uint64_t)t[i],
		      held[i] ? 1 : 0);
	}
	for (i = 0; i < n; i++)
		start(role, idx[i]);
	return nheld;
}

/* --- the checker ------------------------------------------------------------------ */

struct mstate {
	uint64_t id;      /* from S and R records; 0 until seen */
	int holder;       /* incarnation of the latest R, -1 before any */
	uint32_t attempt; /* attempt of the latest R */
	uint32_t nrecv;
	bool sent;    /* an S record was seen */
	bool acked;   /* an A record was seen */
	bool kholder; /* the latest receiver wrote its K record */
};

struct checker {
	uint64_t base[MAXP + 1];
	struct mstate *m;
	uint64_t total;
	uint64_t received, dups, unlogged, lost, acked_unconfirmed, after_ack, bad_ack, failed_ack,
	    bad_dup, early, slow, bad_id, unknown, errors_x, bad_lines;
	int64_t *redel;
	size_t nredel, redel_cap;
	int64_t redelivery_limit_ns;
};

/* Counts a failure of one kind and describes the first few. */
__attribute__((format(printf, 2, 3))) static void example(uint64_t *counter, const char *fmt, ...)
{
	va_list ap;

	if ((*counter)++ >= MAX_EXAMPLES)
		return;
	va_start(ap, fmt);
	fputs("crashtest: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static struct mstate *find(struct checker *c, const char *payload)
{
	unsigned p;
	uint64_t seq;
	char tail;

	if (sscanf(payload, "p%u-%" SCNu64 "%c", &p, &seq, &tail) != 2 || p >= (unsigned)nprod)
		return NULL;
	if (seq < 1 || c->base[p] + seq - 1 >= c->base[p + 1])
		return NULL;
	return &c->m[c->base[p] + seq - 1];
}

static void add_redelivery(struct checker *c, int64_t ns)
{
	if (c->nredel == c->redel_cap) {
		c->redel_cap = c->redel_cap ? c->redel_cap * 2 : 256;
		c->redel = realloc(c->redel, c->redel_cap * sizeof *c->redel);
		if (!c->redel)
			abort();
	}
	c->redel[c->nredel++] = ns;
}

static bool check_id(struct checker *c, struct mstate *m, const char *payload, uint64_t id)
{
	if (m->id == 0)
		m->id = id;
	if (m->id != id) {
		example(&c->bad_id, "%s has ids %" PRIu64 " and %" PRIu64, payload, m->id, id);
		return false;
	}
	return true;
}

static void on_recv(struct checker *c, struct mstate *m, const char *payload, int inc,
                    uint32_t attempt, int64_t t)
{
	c->received++;
	if (m->acked)
		example(&c->after_ack, "%s received by inc %d after it was acknowledged", payload,
		        inc);
	if (m->nrecv == 0) {
		if (attempt > 1)
			c->unlogged += attempt - 1;
	} else {
		const struct incarnation *prev = &incs[m->holder];

		c->dups++;
		if (m->holder == inc) {
			example(&c->bad_dup, "%s received twice by inc %d", payload, inc);
		} else if (!prev->kill_ns) {
			example(&c->bad_dup,
			        "%s received again by inc %d while inc %d (not killed) "
			        "held it",
			        payload, inc, m->holder);
		} else if (prev->kill_ns > t) {
			example(&c->early,
			        "%s received again by inc %d %.3f ms before its holder "
			        "inc %d was killed",
			        payload, inc, (double)(prev->kill_ns - t) / 1e6, m->holder);
		} else {
			/* the lease of the killed receiver came back: time it */
			add_redelivery(c, t - prev->kill_ns);
			if (t - prev->kill_ns >= c->redelivery_limit_ns)
				example(&c->slow, "%s redelivered %.1f ms after inc %d was killed",
				        payload, (double)(t - prev->kill_ns) / 1e6, m->holder);
		}
		if (attempt <= m->attempt)
			example(&c->bad_dup, "%s attempt %" PRIu32 " after attempt %" PRIu32,
			        payload, attempt, m->attempt);
		else if (attempt > m->attempt + 1)
			c->unlogged += attempt - m->attempt - 1;
	}
	m->nrecv++;
	m->holder = inc;
	m->attempt = attempt;
	m->kholder = false;
}


static int run_checker(struct checker *c, const char *log_path)
{
	FILE *f = fopen(log_path, "r");
	char line[REC + 1], payload[128], role[32];
	uint64_t id, i, t;
	int inc, rc, end;
	uint32_t attempt;

	if (!f) {
		perror("crashtest: log");
		return -1;
	}
	line[REC] = 0;
	while (fread(line, 1, REC, f) == REC) {
		struct mstate *m = NULL;
		char kind = line[0];
		bool ok = false;

		end = 0;
		if (line[REC - 1] != '\n' || memchr(line, '\n', REC - 1) || line[1] != ' ') {
			example(&c->bad_lines, "torn log record: %.*s", REC - 1, line);
			continue;
		}
		if (kind == 'S' || kind == 'R' || kind == 'K' || kind == 'A' || kind == 'E') {
			if (sscanf(line + 2, "%127s %" SCNx64, payload, &id) != 2) {
				example(&c->bad_lines, "bad log record: %.*s", REC - 1, line);
				continue;
			}
			m = find(c, payload);
			if (!m) {
				example(&c->unknown, "record of a message never confirmed: %.*s",
				        REC - 1, line);
				continue;
			}
			if (!check_id(c, m, payload, id))
				continue;
		}
		switch (kind) {
		case 'S':
			ok = sscanf(line, "S %*s %*x %d %" SCNx64 "%n", &inc, &t, &end) == 2;
			m->sent = true;
			break;
		case 'R':
			ok = sscanf(line, "R %*s %*x %d %" SCNu32 " %" SCNx64 "%n", &inc, &attempt,
			            &t, &end) == 3 &&
			     inc >= 0 && inc < ninc;
			if (ok && helper_rest_blank(line, end))
				on_recv(c, m, payload, inc, attempt, (int64_t)t);
			break;
		case 'K':
			ok = sscanf(line, "K %*s %*x %d %*x%n", &inc, &end) == 1;
			if (ok && inc == m->holder)
				m->kholder = true;
			break;
		case 'A':
			ok = sscanf(line, "A %*s %*x %d %*x%n", &inc, &end) == 1;
			if (ok && inc != m->holder)
				example(&c->bad_ack,
				        "%s acknowledged by inc %d, not its latest "
				        "receiver inc %d",
				        payload, inc, m->holder);
			m->acked = true;
			break;
		case 'E':
			ok = sscanf(line, "E %*s %*x %d %d%n", &inc, &rc, &end) == 2;
			example(&c->failed_ack, "ack of %s by inc %d failed: %s", payload, inc,
			        ok ? mst_strerror(rc) : "?");
			break;
		case 'X':
			ok = sscanf(line, "X %31s %d %d%n", role, &inc, &rc, &end) == 3;
			example(&c->errors_x, "%s inc %d failed: %s", role, inc,
			        ok ? mst_strerror(rc) : "?");
			break;
		case 'D':
			ok = sscanf(line, "D %d %*d %*x %*d%n", &inc, &end) == 1;
			break;
		default:
			break;
		}
		if (!ok || !helper_rest_blank(line, end))
			example(&c->bad_lines, "bad log record: %.*s", REC - 1, line);
	}
	if (!feof(f) || ftell(f) % REC)
		example(&c->bad_lines, "the log ends with a partial record");
	fclose(f);
	for (i = 0; i < c->total; i++) {
		struct mstate *m = &c->m[i];
		unsigned p = 0;

		while (c->base[p + 1] <= i)
			p++;
		if (!m->sent)
			example(&c->lost, "p%u-%" PRIu64 " confirmed but never logged as sent", p,
			        i - c->base[p] + 1);
		else if (m->nrecv == 0)
			example(&c->lost, "p%u-%" PRIu64 " (id %" PRIu64 ") never received", p,
			        i - c->base[p] + 1, m->id);
		else if (!m->acked && incs[m->holder].kill_ns && m->kholder)
			c->acked_unconfirmed++; /* its ack may have committed: the store says */
		else if (!m->acked)
			example(&c->lost,
			        "p%u-%" PRIu64 " (id %" PRIu64 ") received by inc %d%s, "
			        "never acknowledged nor redelivered",
			        p, i - c->base[p] + 1, m->id, m->holder,
			        incs[m->holder].kill_ns ? " (killed)" : "");
	}
	return 0;
}


static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* --- the driver ------------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr, "usage: crashtest [-t SECS] [-r ROUNDS] [-p PRODUCERS] [-c CONSUMERS] "
	                "[-s SEED] [-d DIR] [-k]\n");
	exit(2);
}



int main(int argc, char **argv)
{
	double secs = 20;
	long rounds = 0, r;
	uint64_t seed = 0;
	const char *given = NULL;
	bool keep = false, probe_ok;
	char dir[4096], log_path[4200];
	struct checker c;
	mst_queue_info qi, dq, last;
	mst_bus *bus;
	int64_t t0, t_end, t_kill_end, t_moved, now;
	long kills = 0, kills_p = 0, kills_c = 0, kills_held = 0, mass = 0;
	int opt, i, rc, dead_rc;
	uint64_t *ids, nids, dup_ids = 0;
	double max_ms = 0, p50_ms = 0;

	while ((opt = getopt(argc, argv, "t:r:p:c:s:d:k")) != -1) {
		switch (opt) {
		case 't':
			secs = atof(optarg);
			break;
		case 'r':
			rounds = atol(optarg);
			break;
		case 'p':
			nprod = atoi(optarg);
			break;
		case 'c':
			ncons = atoi(optarg);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
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
	if (nprod < 1 || nprod > MAXP || ncons < 1 || ncons > MAXC || secs <= 0)
		usage();
	if (!seed)
		seed = (uint64_t)mst_now_ns() ^ ((uint64_t)getpid() << 32);
	rng = seed;
	driver = getpid();
	helper_make_dir(dir, sizeof dir, given, "crashtest", "crash");
	snprintf(bus_dir, sizeof bus_dir, "%s/bus", dir);
	snprintf(log_path, sizeof log_path, "%s/log", dir);
	printf("# crashtest: dir %s seed %" PRIu64 " producers %d consumers %d\n", dir, seed, nprod,
	       ncons);
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("crashtest: mmap");
		return 2;
	}
	memset(sh, 0, sizeof *sh);
	log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (log_fd < 0) {
		perror("crashtest: log");
		return 2;
	}
	/* attempts are never used up here: a message killed with its consumer many times
	 * must come back, not go to the dead-letter queue */
	if ((rc = mst_bus_open(&bus, bus_dir, NULL)) < 0 ||
	    (rc = mst_queue_config(bus, QUEUE, 1000000, LEASE_MS, NULL)) < 0) {
		fprintf(stderr, "crashtest: cannot set up the bus: %s\n", mst_strerror(rc));
		return 2;
	}
	mst_bus_close(bus);
	probe_setup();
	probe_ok = probe_check();
	if (!probe_ok)
		printf("# writer-lock probe unavailable: only random kill instants\n");

	t0 = mst_now_ns();
	for (i = 0; i < nprod; i++)
		start(ROLE_PRODUCER, i);
	for (i = 0; i < ncons; i++)
		start(ROLE_CONSUMER, i);
	t_kill_end = t0 + (int64_t)(secs * 1e9);
	for (r = 0; (!rounds || r < rounds) && mst_now_ns() < t_kill_end; r++) {
		uint64_t dice = rnd();
		int role, idx[MAXC];

		if (reap_unexpected())
			break;
		usleep((useconds_t)(rnd() % 20000));
		if (dice % 8 == 0) {
			/* every consumer at once: nobody is left to notice until restarts */
			for (i = 0; i < ncons; i++)
				idx[i] = i;
			kills_held += kill_set(ROLE_CONSUMER, idx, ncons);
			kills += ncons;
			kills_c += ncons;
			mass++;
			continue;
		}
		role = dice / 8 % 2 ? ROLE_PRODUCER : ROLE_CONSUMER;
		idx[0] = (int)(rnd() % (uint64_t)(role == ROLE_PRODUCER ? nprod : ncons));
		if (probe_ok && dice / 16 % 3 == 0) {
			/* wait (a while) until the victim holds the writer lock */
			pid_t pid =
			    role == ROLE_PRODUCER ? producers[idx[0]].pid : consumers[idx[0]].pid;
			int64_t until = mst_now_ns() + 20000000;

			while (*wowner != pid && mst_now_ns() < until)
				;
		} else {
			/* a random instant, to the microsecond */
			struct timespec ts = {0, (long)(rnd() % 2000) * 1000};

			nanosleep(&ts, NULL);
		}
		kills_held += kill_set(role, idx, 1);
		kills++;
		if (role == ROLE_PRODUCER)
			kills_p++;
		else
			kills_c++;
	}
	reap_unexpected();
	now = mst_now_ns();
	printf("# %ld rounds, %ld kills in %.1f s\n", r, kills, (double)(now - t0) / 1e9);

	/* let producers finish the seq they are on, then let consumers drain the queue */
	__atomic_store_n(&sh->finish, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < nprod; i++)
		reap_or_fail(&producers[i], "producer");
	if ((rc = mst_bus_open(&bus, bus_dir, NULL)) < 0) {
		fprintf(stderr, "crashtest: cannot reopen the bus: %s\n", mst_strerror(rc));
		return 1;
	}
	/* drained when nothing is ready, leased or delayed; stuck when the queue's state
	 * has not moved for STALL_NS (after a failure the queue may never drain) */
	t_end = mst_now_ns() + FINISH_TIMEOUT_NS;
	t_moved = mst_now_ns();
	memset(&last, 0, sizeof last);
	for (;;) {
		rc = mst_queue_stat(bus, QUEUE, &qi);
		if (rc < 0) {
			fprintf(stderr, "crashtest: queue stat: %s\n", mst_strerror(rc));
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
		if (now > t_end || now - t_moved > STALL_NS) {
			fprintf(stderr,
			        "crashtest: queue not drained (%s): ready %" PRIu64
			        " leased %" PRIu64 " delayed %" PRIu64 "\n",
			        now > t_end ? "60 s" : "stuck for 10 s", qi.ready, qi.leased,
			        qi.delayed);
			failures++;
			break;
		}
		usleep(10000);
	}
	__atomic_store_n(&sh->stop, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < ncons; i++)
		reap_or_fail(&consumers[i], "consumer");

	/* the bus still works after all this */
	{
		mst_msg mm;
		size_t n;
		uint64_t fid;
		mst_recv_opts ro = {1000, 0};

		if ((rc = mst_send(bus, "crash.after", "ok", 2, NULL, &fid)) < 0 ||
		    (rc = mst_recv(bus, "crash.after", &ro, &mm, 1, &n)) < 0 ||
		    (rc = mst_ack(bus, mm.id)) < 0) {
			fprintf(stderr, "crashtest: bus unusable after the run: %s\n",
			        mst_strerror(rc));
			failures++;
		} else {
			mst_msg_free(&mm);
		}
	}
	rc = mst_queue_stat(bus, QUEUE, &qi);
	dead_rc = mst_queue_stat(bus, qi.dead_letter[0] ? qi.dead_letter : QUEUE ".dead", &dq);
	mst_bus_close(bus);
	if (rc < 0) {
		fprintf(stderr, "crashtest: queue stat: %s\n", mst_strerror(rc));
		return 1;
	}

	memset(&c, 0, sizeof c);
	c.redelivery_limit_ns = getenv("MUSTER_SANITIZED") && *getenv("MUSTER_SANITIZED")
					? REDELIVERY_LIMIT_SANITIZED_NS
					: REDELIVERY_LIMIT_NS;
	for (i = 0; i < nprod; i++)
		c.base[i + 1] = c.base[i] + sh->confirmed[i];
	c.total = c.base[nprod];
	c.m = calloc(c.total ? c.total : 1, sizeof *c.m);
	if (!c.m)
		return 2;
	for (uint64_t k = 0; k < c.total; k++)
		c.m[k].holder = -1;
	if (run_checker(&c, log_path) < 0)
		return 2;

	/* each message is stored once: ids unique across messages */
	ids = malloc((c.total ? c.total : 1) * sizeof *ids);
	if (!ids)
		return 2;
	nids = 0;
	for (uint64_t k = 0; k < c.total; k++)
		if (c.m[k].id)
			ids[nids++] = c.m[k].id;
	qsort(ids, nids, sizeof *ids, helper_cmp_u64);
	for (uint64_t k = 1; k < nids; k++)
		if (ids[k] == ids[k - 1])
			example(&dup_ids, "id %" PRIu64 " names two messages", ids[k]);
	free(ids);

	if (qi.sent != c.total) {
		fprintf(stderr,
		        "crashtest: the queue counts %" PRIu64 " sent, the producers "
		        "confirmed %" PRIu64 "\n",
		        qi.sent, c.total);
		failures++;
	}
	if (qi.acked != qi.sent) {
		fprintf(stderr,
		        "crashtest: the queue counts %" PRIu64 " acked of %" PRIu64 " sent\n",
		        qi.acked, qi.sent);
		failures++;
	}
	if (qi.redelivered != c.dups + c.unlogged) {
		fprintf(stderr,
		        "crashtest: the queue counts %" PRIu64 " redeliveries, the log "
		        "shows %" PRIu64 "\n",
		        qi.redelivered, c.dups + c.unlogged);
		failures++;
	}
	if (qi.ready || qi.leased || qi.delayed || qi.dead) {
		fprintf(stderr,
		        "crashtest: queue not empty at the end: ready %" PRIu64 " leased %" PRIu64
		        " delayed %" PRIu64 " dead %" PRIu64 "\n",
		        qi.ready, qi.leased, qi.delayed, qi.dead);
		failures++;
	}
	if (dead_rc == 0 && (dq.ready || dq.leased || dq.delayed || dq.sent)) {
		fprintf(stderr, "crashtest: the dead-letter queue %s holds messages\n", dq.name);
		failures++;
	}
	if (c.nredel) {
		qsort(c.redel, c.nredel, sizeof *c.redel, cmp_i64);
		max_ms = (double)c.redel[c.nredel - 1] / 1e6;
		p50_ms = (double)c.redel[c.nredel / 2] / 1e6;
	}
	if (kills_c > 10 && c.nredel == 0) {
		fprintf(stderr,
		        "crashtest: %ld consumer kills but no lease was ever timed: "
		        "the test did not test redelivery\n",
		        kills_c);
		failures++;
	}
	failures += (int)(c.lost + c.after_ack + c.bad_ack + c.failed_ack + c.bad_dup + c.early +
	                  c.slow + c.bad_id + c.unknown + c.errors_x + c.bad_lines + dup_ids);
	now = mst_now_ns();
	printf("# kills: %ld producers, %ld consumers (%ld all-consumer rounds), %ld holding "
	       "the writer lock\n",
	       kills_p, kills_c, mass, kills_held);
	printf("# received %" PRIu64 " records for %" PRIu64 " messages; %" PRIu64
	       " deliveries by killed consumers left no record; %" PRIu64
	       " acks cut off by a kill, counted by the store\n",
	       c.received, c.total, c.unlogged, c.acked_unconfirmed);
	printf("# queue: sent %" PRIu64 " acked %" PRIu64 " redelivered %" PRIu64 "\n", qi.sent,
	       qi.acked, qi.redelivered);
	printf("crashtest: %s: sent %" PRIu64 " received %" PRIu64 " dup %" PRIu64 " lost %" PRIu64
	       " after-ack %" PRIu64 " kills %ld (in-txn %ld) redelivery "
	       "max %.1f ms p50 %.1f ms (n=%zu) in %.1f s\n",
	       failures ? "FAIL" : "ok", c.total, c.received, c.dups, c.lost, c.after_ack, kills,
	       kills_held, max_ms, p50_ms, c.nredel, (double)(now - t0) / 1e9);
	free(c.m);
	free(c.redel);
	if (failures)
		printf("# seed %" PRIu64 " reproduces this run\n", seed);
	return helper_finish_dir(dir, failures, keep, given != NULL, "crashtest");
}
