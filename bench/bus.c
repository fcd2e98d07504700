/*
 * bus.c - benchmarks of the local bus beside their floor (SPEC §6).
 *
 *   bus floor                futex ping-pong alone between two processes
 *   bus lat                  wake-up latency, send -> recv waiting in another process,
 *                            interleaved with futex ping-pong samples (the floor)
 *   bus single               1->1 throughput with ack, one message per call
 *   bus batch                1->1 throughput, send_batch + recv of up to BATCH, ack each
 *   bus load NWRITERS [RATE] the same under NWRITERS writer processes (see below)
 *
 * Figures are printed as "R KEY VALUE" lines (see bench.h); bench/run.sh runs them all.
 * Payloads are 100 bytes. Each run uses a fresh bus in a new directory under
 * $BENCH_TMP (default /dev/shm), removed at the end.
 *
 * Latency (see bench.h for the protocol): the sender stamps mst_now_ns() into the
 * payload and calls mst_send; the receiver, blocked in mst_recv (wait forever), reads
 * mst_now_ns() on return; it then acks the message and reports through a futex word,
 * and the sender waits for that report (and for the receiver to be asleep again)
 * before the next sample. Every other sample of the same pair is a bare futex wake
 * instead (store + FUTEX_WAKE, same stamps): the floor "of the same run". Alone, the
 * ping-pong can settle into another placement (both processes on one CPU: about 3 µs
 * here; on two CPUs, one idle: about 20 µs), so the targets use the interleaved floor.
 *
 * Throughput: a producer process and a consumer process, each with its own handle,
 * start together; the producer sends until BENCH_N messages are sent or BENCH_SECS
 * have passed, whichever comes first; the figure is messages / (time from the start
 * until the consumer acknowledged the last one).
 *
 * Load (bus load N [RATE]): N writer processes send 100-byte messages one per call to
 * queue "load", as fast as they can, or each RATE messages per second (paced by an
 * absolute-time sleep; keys then start "wNp." instead of "wN."). While they run,
 * three measurements follow:
 *  1. one consumer receives and acknowledges from "load" (the writers' queue) for
 *     BENCH_LOAD_SECS: its msgs/s, and the writers' aggregate msgs/s;
 *  2. the latency pair on queue "lat" (a queue no writer touches) for up to
 *     BENCH_LOAD_LAT_N samples or BENCH_LOAD_SECS; a sample still in flight at the end
 *     is kept as a lower bound (KEY_lb = 1 on a percentile it may raise);
 *  3. the ping-pong alone under the same load.
 *
 * Knobs (environment): BENCH_N (200000), BENCH_SECS (3), BENCH_BATCH (1000),
 * BENCH_BATCH_N (1000000; run.sh sets 500000), BENCH_FLOOR_N (20000), BENCH_LAT_N
 * (20000), BENCH_LOAD_SECS (2), BENCH_LOAD_LAT_N (5000), BENCH_TMP (/dev/shm).
 */
#define _GNU_SOURCE
#include "bench.h"

#include "muster.h"

#include <ftw.h>
#include <limits.h>

#define PAYLOAD 100
#define WARMUP 200     /* samples discarded first */
#define WARMUP_LOAD 0  /* under load samples are few and each counts */
#define LOAD_QUOTA (1024ull << 20)
#define STRIDE 8 /* uint64 per writer counter: one cache line each */

static char bus_dir[PATH_MAX];
static pid_t main_pid;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

/* Removes the current bus directory (in the main process only: children exit through
 * here too). */
static void bus_remove(void)
{
	if (bus_dir[0] && getpid() == main_pid)
		nftw(bus_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	bus_dir[0] = 0;
}

static void on_signal(int sig)
{
	int i;

	for (i = 0; i < bench_nkids; i++)
		if (bench_kids[i] > 0)
			kill(bench_kids[i], SIGKILL);
	bus_remove();
	_exit(128 + sig);
}

/* Creates a fresh bus in a new directory (exits on failure). */
static void bus_create(uint64_t quota)
{
	const char *base = getenv("BENCH_TMP");
	mst_bus_opts o = {0};
	mst_bus *bus;
	int rc;

	bus_remove();
	snprintf(bus_dir, sizeof bus_dir, "%s/bus.XXXXXX", base && *base ? base : "/dev/shm");
	if (!mkdtemp(bus_dir)) {
		bus_dir[0] = 0;
		bench_die("mkdtemp failed");
	}
	o.quota = quota;
	rc = mst_bus_open(&bus, bus_dir, &o);
	if (rc < 0) {
		fprintf(stderr, "bench: mst_bus_open %s: %s\n", bus_dir, mst_strerror(rc));
		bench_die("cannot create the bus");
	}
	mst_bus_close(bus);
}

static mst_bus *bus_open(void)
{
	mst_bus *bus;
	int rc = mst_bus_open(&bus, bus_dir, NULL);

	if (rc < 0) {
		fprintf(stderr, "bench: pid %d: mst_bus_open: %s\n", (int)getpid(),
			mst_strerror(rc));
		exit(1);
	}
	return bus;
}

static void check(int rc, const char *what)
{
	if (rc < 0) {
		fprintf(stderr, "bench: pid %d: %s: %s\n", (int)getpid(), what, mst_strerror(rc));
		exit(1);
	}
}

static void fill_payload(char *p)
{
	int i;

	for (i = 0; i < PAYLOAD; i++)
		p[i] = (char)('a' + i % 26);
}

/* --- the floor: futex ping-pong ----------------------------------------------------- */

struct pingpong {
	uint32_t go, ack, ready, stop;
	int64_t stamp;
	size_t n, got, warm;
	int64_t lat[];
};

static int floor_waiter(void *arg)
{
	struct pingpong *s = arg;
	uint32_t seen = __atomic_load_n(&s->go, __ATOMIC_SEQ_CST), cur;
	size_t i;
	int64_t t;

	bench_signal(&s->ready);
	for (i = 0;; i++) {
		while ((cur = __atomic_load_n(&s->go, __ATOMIC_SEQ_CST)) == seen)
			bench_futex_wait(&s->go, seen, -1);
		t = bench_now();
		seen = cur;
		if (__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST))
			return 0;
		if (i >= s->warm && s->got < s->n)
			s->lat[s->got++] = t - __atomic_load_n(&s->stamp, __ATOMIC_SEQ_CST);
		bench_signal(&s->ack);
	}
}

/* Runs the ping-pong for up to n samples or max_s seconds; prints prefix.*. */
static void run_floor(const char *prefix, size_t n, size_t warm, double max_s)
{
	struct pingpong *s = bench_shared(sizeof *s + n * sizeof(int64_t));
	int64_t *rt = malloc(n * sizeof *rt), end, t0;
	size_t i, nrt = 0, asleep = 0;
	char key[64];
	pid_t pid;

	if (!rt)
		bench_die("out of memory");
	s->n = n;
	s->warm = warm;
	pid = bench_fork(floor_waiter, s);
	bench_await(&s->ready, 0);
	end = bench_now() + (int64_t)(max_s * 1e9);
	for (i = 0; s->got < n && bench_now() < end; i++) {
		uint32_t a = __atomic_load_n(&s->ack, __ATOMIC_SEQ_CST);

		asleep += bench_wait_asleep(pid);
		t0 = bench_now();
		__atomic_store_n(&s->stamp, t0, __ATOMIC_SEQ_CST);
		bench_signal(&s->go);
		bench_await(&s->ack, a);
		if (i >= s->warm && nrt < n)
			rt[nrt++] = (bench_now() - t0) / 2;
	}
	__atomic_store_n(&s->stop, 1, __ATOMIC_SEQ_CST);
	bench_signal(&s->go);
	bench_reap(pid);
	bench_latencies(prefix, s->lat, s->got, -1);
	snprintf(key, sizeof key, "%srt2_", prefix);
	bench_result(key, "p50_us", bench_pct_us(rt, nrt, 50, 0));
	bench_result(key, "p99_us", bench_pct_us(rt, nrt, 99, 1));
	bench_result(prefix, "asleep_pct", i ? 100.0 * (double)asleep / (double)i : 0);
	free(rt);
	munmap(s, sizeof *s + n * sizeof(int64_t));
}

/* --- wake-up latency through the bus ------------------------------------------------- */

static const char *lat_queue = "lat";

/* The latency pair alternates two kinds of samples in the same two processes, so that
 * both see the same scheduler state (which CPU each sleeps on, idle states): even
 * samples are a bare futex ping-pong (the floor), odd ones a message through the bus
 * (the receiver blocked in mst_recv). */
struct latpair {
	uint32_t go, ack, ready, stop;
	int64_t stamp;
	size_t n, warm, got, fgot;
	int64_t v[]; /* bus samples [0, n], then floor samples [n + 1, 2n + 1] */
};

#define FLOOR_SAMPLES(s) ((s)->v + (s)->n + 1)

static int lat_consumer(void *arg)
{
	struct latpair *s = arg;
	uint32_t seen = __atomic_load_n(&s->go, __ATOMIC_SEQ_CST), cur;
	mst_bus *bus = bus_open();
	mst_recv_opts ro = {.wait_ms = -1};
	mst_msg m;
	size_t i, got;
	int64_t t, stamp;

	bench_signal(&s->ready);
	for (i = 0;; i++) {
		if (i % 2 == 0) {
			while ((cur = __atomic_load_n(&s->go, __ATOMIC_SEQ_CST)) == seen)
				bench_futex_wait(&s->go, seen, -1);
			t = bench_now();
			seen = cur;
			if (__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST))
				break;
			if (i / 2 >= s->warm && s->fgot < s->n)
				FLOOR_SAMPLES(s)[s->fgot++] =
					t - __atomic_load_n(&s->stamp, __ATOMIC_SEQ_CST);
		} else {
			check(mst_recv(bus, lat_queue, &ro, &m, 1, &got), "mst_recv");
			t = mst_now_ns();
			memcpy(&stamp, m.data, sizeof stamp);
			check(mst_ack(bus, m.id), "mst_ack");
			mst_msg_free(&m);
			if (stamp < 0)
				break;
			if (i / 2 >= s->warm && s->got < s->n)
				s->v[s->got++] = t - stamp;
		}
		bench_signal(&s->ack);
	}
	mst_bus_close(bus);
	return 0;
}

/* Runs the latency pair on a bus that exists, for up to n bus samples or max_s
 * seconds; prints prefix.* (through the bus) and fprefix.* (the floor). */
static void run_lat(const char *prefix, const char *fprefix, size_t n, size_t warm,
		    double max_s)
{
	size_t len = sizeof(struct latpair) + 2 * (n + 1) * sizeof(int64_t);
	struct latpair *s = bench_shared(len);
	int64_t *snd = malloc(n * sizeof *snd), end, stamp = 0, t1, cens = -1, fcens = -1;
	char payload[PAYLOAD], key[64];
	size_t i, nsnd = 0, asleep = 0;
	int inflight = 0;
	uint32_t a;
	mst_bus *bus;
	pid_t pid;

	if (!snd)
		bench_die("out of memory");
	fill_payload(payload);
	s->n = n;
	s->warm = warm;
	pid = bench_fork(lat_consumer, s);
	bus = bus_open();
	bench_await(&s->ready, 0);
	end = bench_now() + (int64_t)(max_s * 1e9);
	for (i = 0; s->got < n && bench_now() < end; i++) {
		a = __atomic_load_n(&s->ack, __ATOMIC_SEQ_CST);
		asleep += bench_wait_asleep(pid);
		if (i % 2 == 0) {
			stamp = bench_now();
			__atomic_store_n(&s->stamp, stamp, __ATOMIC_SEQ_CST);
			bench_signal(&s->go);
		} else {
			stamp = mst_now_ns();
			memcpy(payload, &stamp, sizeof stamp);
			check(mst_send(bus, lat_queue, payload, PAYLOAD, NULL, NULL), "mst_send");
			t1 = mst_now_ns();
			if (i / 2 >= s->warm && nsnd < n)
				snd[nsnd++] = t1 - stamp;
		}
		while (__atomic_load_n(&s->ack, __ATOMIC_SEQ_CST) == a && bench_now() < end)
			bench_futex_wait(&s->ack, a, end - bench_now());
		if (__atomic_load_n(&s->ack, __ATOMIC_SEQ_CST) == a) {
			inflight = 1; /* out of time with a sample on its way */
			break;
		}
	}
	if (inflight) {
		/* stop the receiver and keep the time waited so far as a censored sample
		 * (a lower bound) */
		kill(pid, SIGKILL);
		bench_reap(pid);
		if (__atomic_load_n(&s->ack, __ATOMIC_SEQ_CST) == a) {
			if (i % 2) {
				cens = mst_now_ns() - stamp;
				s->v[s->got++] = cens;
			} else {
				fcens = bench_now() - stamp;
				FLOOR_SAMPLES(s)[s->fgot++] = fcens;
			}
		}
	} else {
		if (i % 2 == 0) {
			__atomic_store_n(&s->stop, 1, __ATOMIC_SEQ_CST);
			bench_signal(&s->go);
		} else {
			stamp = -1;
			memcpy(payload, &stamp, sizeof stamp);
			check(mst_send(bus, lat_queue, payload, PAYLOAD, NULL, NULL), "mst_send");
		}
		if (bench_reap(pid) != 0)
			bench_die("latency receiver failed");
	}
	mst_bus_close(bus);
	bench_latencies(prefix, s->v, s->got, cens);
	bench_latencies(fprefix, FLOOR_SAMPLES(s), s->fgot, fcens);
	snprintf(key, sizeof key, "%ssend_", prefix);
	bench_result(key, "p50_us", bench_pct_us(snd, nsnd, 50, 0));
	i += (size_t)inflight;
	bench_result(prefix, "asleep_pct", i ? 100.0 * (double)asleep / (double)i : 0);
	free(snd);
	munmap(s, len);
}

/* --- 1->1 throughput ---------------------------------------------------------------- */

struct tput {
	uint32_t ready, go, done, pad;
	size_t batch;       /* messages per send and per recv */
	size_t limit;       /* messages to send at most */
	int64_t max_ns;     /* time to send at most */
	int64_t t_go, t_end;
	uint64_t total, acked, recvs;
	int64_t send_ns, recv_ns, ack_ns;
};

/* Per-call times (send, recv, ack) are sampled on one call in SAMPLE_EVERY, so that
 * reading the clock does not weigh on one-message calls. */
#define SAMPLE_EVERY(s) ((s)->batch == 1 ? 16 : 1)

static int tput_producer(void *arg)
{
	struct tput *s = arg;
	mst_bus *bus = bus_open();
	mst_buf *bufs = calloc(s->batch, sizeof *bufs);
	char payload[PAYLOAD];
	uint64_t sent = 0, calls = 0;
	int64_t t;
	size_t i;
	int timed;

	if (!bufs)
		return 1;
	fill_payload(payload);
	for (i = 0; i < s->batch; i++) {
		bufs[i].data = payload;
		bufs[i].len = PAYLOAD;
	}
	bench_signal(&s->ready);
	bench_await(&s->go, 0);
	while (sent < s->limit && bench_now() - s->t_go < s->max_ns) {
		size_t k = s->batch;

		if (k > s->limit - sent)
			k = s->limit - sent;
		timed = calls++ % SAMPLE_EVERY(s) == 0;
		t = timed ? bench_now() : 0;
		if (s->batch == 1)
			check(mst_send(bus, "tput", payload, PAYLOAD, NULL, NULL), "mst_send");
		else
			check(mst_send_batch(bus, "tput", bufs, k, NULL, NULL), "mst_send_batch");
		if (timed)
			s->send_ns += (bench_now() - t) * SAMPLE_EVERY(s);
		sent += k;
	}
	__atomic_store_n(&s->total, sent, __ATOMIC_SEQ_CST);
	__atomic_store_n(&s->done, 1, __ATOMIC_SEQ_CST);
	mst_bus_close(bus);
	free(bufs);
	return 0;
}

static int tput_consumer(void *arg)
{
	struct tput *s = arg;
	mst_bus *bus = bus_open();
	mst_recv_opts ro = {.wait_ms = 100};
	mst_msg *m = calloc(s->batch, sizeof *m);
	uint64_t *ids = calloc(s->batch, sizeof *ids);
	uint64_t calls = 0;
	size_t got, i;
	int64_t t;
	int rc, timed;

	if (!m || !ids)
		return 1;
	bench_signal(&s->ready);
	bench_await(&s->go, 0);
	for (;;) {
		if (__atomic_load_n(&s->done, __ATOMIC_SEQ_CST) &&
		    s->acked >= __atomic_load_n(&s->total, __ATOMIC_SEQ_CST))
			break;
		timed = calls++ % SAMPLE_EVERY(s) == 0;
		t = timed ? bench_now() : 0;
		rc = mst_recv(bus, "tput", &ro, m, s->batch, &got);
		if (timed)
			s->recv_ns += (bench_now() - t) * SAMPLE_EVERY(s);
		if (rc == MST_ETIMEOUT)
			continue;
		check(rc, "mst_recv");
		s->recvs++;
		t = timed ? bench_now() : 0;
		/* one commit acks the whole batch */
		for (i = 0; i < got; i++) {
			ids[i] = m[i].id;
			mst_msg_free(&m[i]);
		}
		check(mst_settle_batch(bus, MST_SETTLE_ACK, ids, got, 0, NULL), "mst_settle_batch");
		if (timed)
			s->ack_ns += (bench_now() - t) * SAMPLE_EVERY(s);
		s->acked += got;
	}
	s->t_end = bench_now();
	mst_bus_close(bus);
	free(m);
	free(ids);
	return 0;
}

static void run_tput(const char *prefix, size_t batch, size_t limit, double max_s)
{
	struct tput *s = bench_shared(sizeof *s);
	pid_t prod, cons;
	double secs;

	s->batch = batch;
	s->limit = limit;
	s->max_ns = (int64_t)(max_s * 1e9);
	cons = bench_fork(tput_consumer, s);
	prod = bench_fork(tput_producer, s);
	while (__atomic_load_n(&s->ready, __ATOMIC_SEQ_CST) < 2)
		usleep(1000);
	s->t_go = bench_now();
	bench_signal(&s->go);
	if (bench_reap(prod) != 0 || bench_reap(cons) != 0)
		bench_die("throughput producer or consumer failed");
	secs = (double)(s->t_end - s->t_go) / 1e9;
	bench_result(prefix, "msgs_s", (double)s->total / secs);
	bench_result(prefix, "n", (double)s->total);
	bench_result(prefix, "secs", secs);
	bench_result(prefix, "send_us_per_msg", (double)s->send_ns / 1e3 / (double)s->total);
	bench_result(prefix, "recv_us_per_msg", (double)s->recv_ns / 1e3 / (double)s->total);
	bench_result(prefix, "ack_us_per_msg", (double)s->ack_ns / 1e3 / (double)s->total);
	bench_result(prefix, "msgs_per_recv", (double)s->acked / (double)(s->recvs ? s->recvs : 1));
	munmap(s, sizeof *s);
}

/* --- load: N writers ---------------------------------------------------------------- */

struct load {
	uint32_t ready, go, stop, cready, cgo, cstop;
	int64_t c_t0, c_t1;
	uint64_t acked;
	uint64_t count[]; /* per writer: sent at [i*STRIDE], full at [i*STRIDE+1] */
};

static struct load *load_s;
static int load_idx;
static double load_rate; /* per writer, msgs/s; 0: as fast as it can */

static int writer(void *arg)
{
	struct load *s = arg;
	uint64_t *c = &s->count[(size_t)load_idx * STRIDE];
	mst_bus *bus = bus_open();
	char payload[PAYLOAD];
	int rc;

	int64_t next = 0, step = load_rate > 0 ? (int64_t)(1e9 / load_rate) : 0;
	struct timespec ts;

	fill_payload(payload);
	bench_signal(&s->ready);
	bench_await(&s->go, 0);
	/* paced writers start at a random phase of their period, so as not to send in
	 * lockstep */
	if (step)
		next = bench_now() + (int64_t)((uint64_t)getpid() * 2654435761u % (uint64_t)step);
	while (!__atomic_load_n(&s->stop, __ATOMIC_RELAXED)) {
		if (step) {
			int64_t now = bench_now();

			if (now < next) {
				ts.tv_sec = (time_t)(next / 1000000000LL);
				ts.tv_nsec = (long)(next % 1000000000LL);
				clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
			} else if (now - next > 1000000000LL) {
				next = now; /* far behind: do not burst to catch up */
			}
			next += step;
		}
		rc = mst_send(bus, "load", payload, PAYLOAD, NULL, NULL);
		if (rc == MST_EFULL) {
			c[1]++;
			usleep(1000);
			continue;
		}
		check(rc, "mst_send (writer)");
		__atomic_store_n(&c[0], c[0] + 1, __ATOMIC_RELAXED);
	}
	mst_bus_close(bus);
	return 0;
}

static int load_consumer(void *arg)
{
	struct load *s = arg;
	mst_bus *bus = bus_open();
	mst_recv_opts ro = {.wait_ms = 100};
	mst_msg m;
	size_t got;
	int rc;

	bench_signal(&s->cready);
	bench_await(&s->cgo, 0);
	s->c_t0 = bench_now();
	while (!__atomic_load_n(&s->cstop, __ATOMIC_SEQ_CST)) {
		rc = mst_recv(bus, "load", &ro, &m, 1, &got);
		if (rc == MST_ETIMEOUT)
			continue;
		check(rc, "mst_recv (load consumer)");
		check(mst_ack(bus, m.id), "mst_ack (load consumer)");
		mst_msg_free(&m);
		s->acked++;
	}
	s->c_t1 = bench_now();
	mst_bus_close(bus);
	return 0;
}

static uint64_t load_sent(struct load *s, int nw, int which)
{
	uint64_t sum = 0;
	int i;

	for (i = 0; i < nw; i++)
		sum += __atomic_load_n(&s->count[(size_t)i * STRIDE + which], __ATOMIC_RELAXED);
	return sum;
}

static void run_load(int nw, double secs, size_t lat_n)
{
	size_t len = sizeof(struct load) + (size_t)nw * STRIDE * sizeof(uint64_t);
	struct load *s = bench_shared(len);
	char prefix[64], fprefix[64], tag[32];
	int64_t t0, t1, deadline;
	uint64_t c0, c1;
	pid_t *pids = calloc((size_t)nw, sizeof *pids), cons;
	int i;

	if (!pids)
		bench_die("out of memory");
	load_s = s;
	t0 = bench_now();
	for (i = 0; i < nw; i++) {
		load_idx = i;
		pids[i] = bench_fork(writer, s);
	}
	deadline = bench_now() + 120 * 1000000000LL;
	while (__atomic_load_n(&s->ready, __ATOMIC_SEQ_CST) < (uint32_t)nw) {
		if (bench_now() > deadline)
			bench_die("writers did not get ready in 120 s");
		usleep(2000);
	}
	snprintf(tag, sizeof tag, load_rate > 0 ? "w%dp" : "w%d", nw);
	snprintf(prefix, sizeof prefix, "%s.", tag);
	bench_result(prefix, "spawn_ms", (double)(bench_now() - t0) / 1e6);
	bench_signal(&s->go);

	/* 1. one consumer on the writers' queue */
	cons = bench_fork(load_consumer, s);
	bench_await(&s->cready, 0);
	c0 = load_sent(s, nw, 0);
	t0 = bench_now();
	bench_signal(&s->cgo);
	usleep((useconds_t)(secs * 1e6));
	__atomic_store_n(&s->cstop, 1, __ATOMIC_SEQ_CST);
	c1 = load_sent(s, nw, 0);
	t1 = bench_now();
	if (bench_reap(cons) != 0)
		bench_die("load consumer failed");
	snprintf(prefix, sizeof prefix, "%s.same.", tag);
	bench_result(prefix, "consumer_msgs_s", (double)s->acked * 1e9 / (double)(s->c_t1 - s->c_t0));
	bench_result(prefix, "writers_msgs_s", (double)(c1 - c0) * 1e9 / (double)(t1 - t0));

	/* 2. wake-up latency on another queue, and the floor beside it */
	snprintf(prefix, sizeof prefix, "%s.lat.", tag);
	snprintf(fprefix, sizeof fprefix, "%s.floor.", tag);
	t0 = bench_now();
	c0 = load_sent(s, nw, 0);
	run_lat(prefix, fprefix, lat_n, WARMUP_LOAD, secs);
	bench_result(prefix, "writers_msgs_s",
		     (double)(load_sent(s, nw, 0) - c0) * 1e9 / (double)(bench_now() - t0));

	/* 3. the ping-pong alone under the same load */
	snprintf(prefix, sizeof prefix, "%s.pingpong.", tag);
	run_floor(prefix, lat_n, WARMUP_LOAD, secs);

	__atomic_store_n(&s->stop, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < nw; i++)
		if (bench_reap(pids[i]) != 0)
			bench_die("a writer failed");
	snprintf(prefix, sizeof prefix, "%s.", tag);
	bench_result(prefix, "writers_full", (double)load_sent(s, nw, 1));
	free(pids);
	munmap(s, len);
}

int main(int argc, char **argv)
{
	double secs = bench_env_double("BENCH_SECS", 3);
	const char *cmd = argc > 1 ? argv[1] : "";
	struct sigaction sa;

	main_pid = getpid();
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	atexit(bus_remove);
	if (!strcmp(cmd, "floor")) {
		run_floor("pingpong.", (size_t)bench_env_long("BENCH_FLOOR_N", 20000), WARMUP, 30);
	} else if (!strcmp(cmd, "lat")) {
		bus_create(0);
		run_lat("lat.", "floor.", (size_t)bench_env_long("BENCH_LAT_N", 20000), WARMUP, 30);
	} else if (!strcmp(cmd, "single")) {
		bus_create(0);
		run_tput("single.", 1, (size_t)bench_env_long("BENCH_N", 200000), secs);
	} else if (!strcmp(cmd, "batch")) {
		bus_create(0);
		run_tput("batch.", (size_t)bench_env_long("BENCH_BATCH", 1000),
			 (size_t)bench_env_long("BENCH_BATCH_N", 1000000), secs);
	} else if (!strcmp(cmd, "load") && argc > 2 && atoi(argv[2]) > 0 &&
		   atoi(argv[2]) < BENCH_MAX_KIDS - 4) {
		load_rate = argc > 3 ? atof(argv[3]) : 0;
		bus_create(LOAD_QUOTA);
		run_load(atoi(argv[2]), bench_env_double("BENCH_LOAD_SECS", 2),
			 (size_t)bench_env_long("BENCH_LOAD_LAT_N", 5000));
	} else {
		fprintf(stderr, "usage: bus floor|single|batch|lat|load NWRITERS [RATE]\n");
		return 2;
	}
	bench_kill_all();
	bus_remove();
	return 0;
}
