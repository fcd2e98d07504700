/*
 * taker.c - a thread that takes messages from a queue for an event loop.
 *
 * The loop says how many messages it can use (want: its free agents, for a
 * coordinator; any number, for the master's replies), and the thread sleeps in
 * mst_recv with a bus handle of its own until they come, then hands them over and
 * writes the loop's eventfd. A message taken is leased by this process from that
 * moment: if the process dies, the bus gives it back at once. The wait is bounded
 * (TAKE_WAIT_MS), so that a stop is seen soon.
 */
#define _GNU_SOURCE
#include "run.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define TAKE_MAX 64 /* messages per mst_recv */
#define TAKE_WAIT_MS 100

static void *taker_main(void *arg)
{
	struct run_taker *t = arg;
	mst_recv_opts ro = {.wait_ms = TAKE_WAIT_MS};
	mst_msg msgs[TAKE_MAX];
	mst_bus *bus;
	size_t got, i, max;
	uint64_t one = 1;
	int want, rc;

	if ((rc = mst_bus_open(&bus, t->dir, NULL)) < 0) {
		t->err = rc;
		goto out;
	}
	for (;;) {
		pthread_mutex_lock(&t->mu);
		while (!t->stop && t->want == 0)
			pthread_cond_wait(&t->cv, &t->mu);
		want = t->want;
		pthread_mutex_unlock(&t->mu);
		if (t->stop)
			break;
		max = want < 0 || want > TAKE_MAX ? TAKE_MAX : (size_t)want;
		rc = mst_recv(bus, t->queue, &ro, msgs, max, &got);
		if (rc == MST_ETIMEOUT)
			continue;
		if (rc < 0) {
			t->err = rc;
			break;
		}
		pthread_mutex_lock(&t->mu);
		if (t->qn + got > t->qcap) {
			size_t cap = (t->qn + got) * 2;
			mst_msg *q = realloc(t->q, cap * sizeof *q);

			if (!q) {
				pthread_mutex_unlock(&t->mu);
				for (i = 0; i < got; i++) /* they come back when we are gone */
					mst_msg_free(&msgs[i]);
				t->err = -ENOMEM;
				break;
			}
			t->q = q;
			t->qcap = cap;
		}
		memcpy(t->q + t->qn, msgs, got * sizeof *msgs);
		t->qn += got;
		if (t->want > 0)
			t->want = t->want > (int)got ? t->want - (int)got : 0;
		pthread_mutex_unlock(&t->mu);
		if (write(t->efd, &one, sizeof one) < 0)
			break;
	}
	mst_bus_close(bus);
out:
	if (t->err && write(t->efd, &one, sizeof one) < 0)
		return NULL;
	return NULL;
}

int run_taker_start(struct run_taker *t, const char *dir, const char *queue, int want)
{
	int rc;

	memset(t, 0, sizeof *t);
	t->dir = dir;
	t->want = want;
	snprintf(t->queue, sizeof t->queue, "%s", queue);
	if ((t->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return -errno;
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
	if ((rc = pthread_create(&t->th, NULL, taker_main, t))) {
		close(t->efd);
		t->efd = -1;
		return -rc;
	}
	t->running = 1;
	return 0;
}

void run_taker_want(struct run_taker *t, int want)
{
	pthread_mutex_lock(&t->mu);
	/* what it has taken and not handed over yet counts */
	if (want > 0)
		want = want > (int)t->qn ? want - (int)t->qn : 0;
	t->want = want;
	if (want)
		pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

size_t run_taker_pending(struct run_taker *t)
{
	size_t n;

	pthread_mutex_lock(&t->mu);
	n = t->qn;
	pthread_mutex_unlock(&t->mu);
	return n;
}

mst_msg *run_taker_take(struct run_taker *t, size_t *n)
{
	uint64_t v;
	mst_msg *q;

	if (read(t->efd, &v, sizeof v) < 0 && errno != EAGAIN)
		t->err = t->err ? t->err : -errno;
	pthread_mutex_lock(&t->mu);
	q = t->q;
	*n = t->qn;
	t->q = NULL;
	t->qn = t->qcap = 0;
	pthread_mutex_unlock(&t->mu);
	return q;
}

void run_taker_stop(struct run_taker *t)
{
	if (t->running) {
		pthread_mutex_lock(&t->mu);
		t->stop = 1;
		pthread_cond_signal(&t->cv);
		pthread_mutex_unlock(&t->mu);
		pthread_join(t->th, NULL);
		t->running = 0;
	}
	if (t->efd >= 0)
		close(t->efd);
	t->efd = -1;
}
