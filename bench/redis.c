/*
 * redis.c - the Redis Streams peer of the bus benchmarks (SPEC §6), via hiredis.
 *
 *   redis [SERVER]      starts SERVER (default: redis-server from PATH) on a free
 *                       127.0.0.1 port without persistence, runs the three peer
 *                       measurements below, and stops the server by its pid
 *
 * The work mirrors bench/bus.c, with 100-byte payloads and one stream and consumer
 * group per measurement:
 *   redis.single   producer XADD one per round trip; consumer XREADGROUP COUNT 1
 *                  BLOCK, then XACK, one per round trip
 *   redis.pipe     producer pipelines 100 XADD per round trip; consumer XREADGROUP
 *                  COUNT 100 BLOCK, then pipelines one XACK per message
 *   redis.lat      wake-up latency: the consumer blocks in XREADGROUP BLOCK 0; the
 *                  producer stamps CLOCK_MONOTONIC into the payload and XADDs (same
 *                  protocol as bus.c: one message in flight, receiver asleep first)
 * Throughput runs until BENCH_N messages or BENCH_SECS seconds, whichever first.
 * If the server cannot be started, prints "SKIP reason" and exits 3.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define PAYLOAD 100
#define PIPE 100
#define WARMUP 200

static int port;
static pid_t server_pid;

static void on_signal(int sig)
{
	int i;

	for (i = 0; i < bench_nkids; i++)
		if (bench_kids[i] > 0)
			kill(bench_kids[i], SIGKILL);
	_exit(128 + sig);
}

static void skip(const char *why)
{
	printf("SKIP %s\n", why);
	fflush(stdout);
	bench_kill_all();
	exit(3);
}

/* A port that was free a moment ago. */
static int free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), p = -1;

	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		p = ntohs(a.sin_port);
	close(fd);
	return p;
}

static redisContext *conn(void)
{
	redisContext *c = redisConnect("127.0.0.1", port);

	if (!c || c->err) {
		fprintf(stderr, "bench: redis connect: %s\n", c ? c->errstr : "no memory");
		return NULL;
	}
	return c;
}

static void must_exit(const char *what, redisContext *c, redisReply *r)
{
	fprintf(stderr, "bench: pid %d: %s: %s\n", (int)getpid(), what,
		r && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr);
	exit(1);
}

/* Runs a command and frees its reply; exits on an error. */
static void cmd(redisContext *c, const char *what, const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	if (!r || r->type == REDIS_REPLY_ERROR)
		must_exit(what, c, r);
	freeReplyObject(r);
}

static void fill_payload(char *p)
{
	int i;

	for (i = 0; i < PAYLOAD; i++)
		p[i] = (char)('a' + i % 26);
}

/* The entries of an XREADGROUP reply (NULL and *n = 0 on a timeout). */
static redisReply **entries(redisReply *r, size_t *n)
{
	*n = 0;
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1)
		return NULL;
	r = r->element[0];
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
	    r->element[1]->type != REDIS_REPLY_ARRAY)
		return NULL;
	*n = r->element[1]->elements;
	return r->element[1]->element;
}

/* --- throughput ----------------------------------------------------------------------- */

struct tput {
	uint32_t ready, go, done, pad;
	size_t batch;
	size_t limit;
	int64_t max_ns;
	int64_t t_go, t_end;
	uint64_t total, acked;
	char stream[32];
};

static int tput_producer(void *arg)
{
	struct tput *s = arg;
	redisContext *c = conn();
	char payload[PAYLOAD];
	redisReply *r;
	uint64_t sent = 0;
	size_t i;

	if (!c)
		return 1;
	fill_payload(payload);
	bench_signal(&s->ready);
	bench_await(&s->go, 0);
	while (sent < s->limit && bench_now() - s->t_go < s->max_ns) {
		size_t k = s->batch;

		if (k > s->limit - sent)
			k = s->limit - sent;
		for (i = 0; i < k; i++)
			redisAppendCommand(c, "XADD %s * p %b", s->stream, payload,
					   (size_t)PAYLOAD);
		for (i = 0; i < k; i++) {
			if (redisGetReply(c, (void **)&r) != REDIS_OK || r->type == REDIS_REPLY_ERROR)
				must_exit("XADD", c, r);
			freeReplyObject(r);
		}
		sent += k;
	}
	__atomic_store_n(&s->total, sent, __ATOMIC_SEQ_CST);
	__atomic_store_n(&s->done, 1, __ATOMIC_SEQ_CST);
	redisFree(c);
	return 0;
}

static int tput_consumer(void *arg)
{
	struct tput *s = arg;
	redisContext *c = conn();
	redisReply *r, *a, **e;
	size_t n, i;

	if (!c)
		return 1;
	bench_signal(&s->ready);
	bench_await(&s->go, 0);
	for (;;) {
		if (__atomic_load_n(&s->done, __ATOMIC_SEQ_CST) &&
		    s->acked >= __atomic_load_n(&s->total, __ATOMIC_SEQ_CST))
			break;
		r = redisCommand(c, "XREADGROUP GROUP g c COUNT %d BLOCK 100 STREAMS %s >",
				 (int)s->batch, s->stream);
		if (!r || r->type == REDIS_REPLY_ERROR)
			must_exit("XREADGROUP", c, r);
		e = entries(r, &n);
		for (i = 0; i < n; i++)
			redisAppendCommand(c, "XACK %s g %s", s->stream, e[i]->element[0]->str);
		for (i = 0; i < n; i++) {
			if (redisGetReply(c, (void **)&a) != REDIS_OK || a->type != REDIS_REPLY_INTEGER)
				must_exit("XACK", c, a);
			freeReplyObject(a);
		}
		freeReplyObject(r);
		s->acked += n;
	}
	s->t_end = bench_now();
	redisFree(c);
	return 0;
}

static void run_tput(const char *prefix, const char *stream, size_t batch, size_t limit,
		     double max_s)
{
	struct tput *s = bench_shared(sizeof *s);
	redisContext *c = conn();
	pid_t prod, cons;
	double secs;

	if (!c)
		bench_die("cannot connect to redis");
	cmd(c, "XGROUP CREATE", "XGROUP CREATE %s g $ MKSTREAM", stream);
	s->batch = batch;
	s->limit = limit;
	s->max_ns = (int64_t)(max_s * 1e9);
	snprintf(s->stream, sizeof s->stream, "%s", stream);
	cons = bench_fork(tput_consumer, s);
	prod = bench_fork(tput_producer, s);
	while (__atomic_load_n(&s->ready, __ATOMIC_SEQ_CST) < 2)
		usleep(1000);
	s->t_go = bench_now();
	bench_signal(&s->go);
	if (bench_reap(prod) != 0 || bench_reap(cons) != 0)
		bench_die("redis producer or consumer failed");
	secs = (double)(s->t_end - s->t_go) / 1e9;
	bench_result(prefix, "msgs_s", (double)s->total / secs);
	bench_result(prefix, "n", (double)s->total);
	bench_result(prefix, "secs", secs);
	cmd(c, "DEL", "DEL %s", stream);
	redisFree(c);
	munmap(s, sizeof *s);
}

/* --- wake-up latency -------------------------------------------------------------------- */

struct pingpong {
	uint32_t ack, ready;
	size_t n, got;
	int64_t lat[];
};

static int lat_consumer(void *arg)
{
	struct pingpong *s = arg;
	redisContext *c = conn();
	redisReply *r, **e;
	size_t i, n;
	int64_t t, stamp;

	if (!c)
		return 1;
	bench_signal(&s->ready);
	for (i = 0;; i++) {
		r = redisCommand(c, "XREADGROUP GROUP g c COUNT 1 BLOCK 0 STREAMS lat >");
		t = bench_now();
		if (!r || r->type == REDIS_REPLY_ERROR)
			must_exit("XREADGROUP", c, r);
		e = entries(r, &n);
		if (n != 1 || e[0]->elements < 2 || e[0]->element[1]->elements < 2 ||
		    e[0]->element[1]->element[1]->len != PAYLOAD) {
			fprintf(stderr, "bench: unexpected XREADGROUP reply\n");
			return 1;
		}
		memcpy(&stamp, e[0]->element[1]->element[1]->str, sizeof stamp);
		cmd(c, "XACK", "XACK lat g %s", e[0]->element[0]->str);
		freeReplyObject(r);
		if (stamp < 0)
			break;
		if (i >= WARMUP && s->got < s->n)
			s->lat[s->got++] = t - stamp;
		bench_signal(&s->ack);
	}
	redisFree(c);
	return 0;
}

static void run_lat(const char *prefix, size_t n, double max_s)
{
	struct pingpong *s = bench_shared(sizeof *s + n * sizeof(int64_t));
	redisContext *c = conn();
	char payload[PAYLOAD];
	size_t i, asleep = 0;
	int64_t end, stamp;
	pid_t pid;

	if (!c)
		bench_die("cannot connect to redis");
	fill_payload(payload);
	cmd(c, "XGROUP CREATE", "XGROUP CREATE lat g $ MKSTREAM");
	s->n = n;
	pid = bench_fork(lat_consumer, s);
	bench_await(&s->ready, 0);
	end = bench_now() + (int64_t)(max_s * 1e9);
	for (i = 0; s->got < n && bench_now() < end; i++) {
		uint32_t a = __atomic_load_n(&s->ack, __ATOMIC_SEQ_CST);

		asleep += bench_wait_asleep(pid);
		stamp = bench_now();
		memcpy(payload, &stamp, sizeof stamp);
		cmd(c, "XADD", "XADD lat * p %b", payload, (size_t)PAYLOAD);
		bench_await(&s->ack, a);
	}
	stamp = -1;
	memcpy(payload, &stamp, sizeof stamp);
	cmd(c, "XADD", "XADD lat * p %b", payload, (size_t)PAYLOAD);
	if (bench_reap(pid) != 0)
		bench_die("redis latency consumer failed");
	bench_latencies(prefix, s->lat, s->got, -1);
	bench_result(prefix, "asleep_pct", i ? 100.0 * (double)asleep / (double)i : 0);
	cmd(c, "DEL", "DEL lat");
	redisFree(c);
	munmap(s, sizeof *s + n * sizeof(int64_t));
}

/* --- the server ------------------------------------------------------------------------- */

static void server_start(const char *exe)
{
	char portbuf[16];
	int64_t end;
	pid_t pid;
	int i;

	for (i = 0; i < 5; i++) {
		redisContext *c;

		port = free_port();
		if (port <= 0)
			skip("no free 127.0.0.1 port");
		snprintf(portbuf, sizeof portbuf, "%d", port);
		fflush(NULL);
		pid = fork();
		if (pid < 0)
			skip("fork failed");
		if (pid == 0) {
			int fd = open("/dev/null", O_RDWR);

			prctl(PR_SET_PDEATHSIG, SIGTERM);
			dup2(fd, 0);
			dup2(fd, 1);
			execlp(exe, exe, "--port", portbuf, "--bind", "127.0.0.1", "--save", "",
			       "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
			       "--dir", "/tmp", (char *)NULL);
			fprintf(stderr, "bench: cannot run %s: %s\n", exe, strerror(errno));
			_exit(127);
		}
		server_pid = pid;
		bench_kids[bench_nkids++] = pid;
		end = bench_now() + 5000000000LL;
		while (bench_now() < end) {
			int st;

			if (waitpid(pid, &st, WNOHANG) == pid) {
				bench_kids[--bench_nkids] = 0;
				server_pid = 0;
				if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
					skip("redis-server cannot be run (not installed?)");
				break; /* port taken meanwhile: try another */
			}
			c = redisConnect("127.0.0.1", port);
			if (c && !c->err) {
				redisReply *r = redisCommand(c, "PING");
				int ok = r && r->type == REDIS_REPLY_STATUS;

				if (r)
					freeReplyObject(r);
				redisFree(c);
				if (ok)
					return;
			} else if (c) {
				redisFree(c);
			}
			usleep(10000);
		}
		if (server_pid) {
			kill(server_pid, SIGKILL);
			bench_reap(server_pid);
			server_pid = 0;
		}
	}
	skip("redis-server did not start");
}

static void server_stop(void)
{
	int64_t end = bench_now() + 2000000000LL;
	int st;

	if (!server_pid)
		return;
	kill(server_pid, SIGTERM);
	while (waitpid(server_pid, &st, WNOHANG) == 0) {
		if (bench_now() > end) {
			kill(server_pid, SIGKILL);
			break;
		}
		usleep(5000);
	}
	bench_reap(server_pid);
	server_pid = 0;
}

int main(int argc, char **argv)
{
	double secs = bench_env_double("BENCH_SECS", 3);
	size_t limit = (size_t)bench_env_long("BENCH_N", 200000);
	struct sigaction sa;
	char ver[64] = "";
	redisContext *c;
	redisReply *r;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	server_start(argc > 1 ? argv[1] : "redis-server");
	c = conn();
	if (!c)
		bench_die("cannot connect to redis");
	r = redisCommand(c, "INFO server");
	if (r && r->type == REDIS_REPLY_STRING) {
		const char *v = strstr(r->str, "redis_version:");
		if (v)
			sscanf(v + 14, "%63[0-9.]", ver);
	}
	if (r)
		freeReplyObject(r);
	redisFree(c);
	fprintf(stderr, "redis %s on 127.0.0.1:%d (pid %d)\n", ver, port, (int)server_pid);
	run_tput("redis.single.", "single", 1, limit, secs);
	run_tput("redis.pipe.", "pipe", PIPE, (size_t)bench_env_long("BENCH_BATCH_N", 1000000),
		 secs);
	run_lat("redis.lat.", (size_t)bench_env_long("BENCH_REDIS_LAT_N", 5000), 10);
	server_stop();
	bench_kill_all();
	return 0;
}
