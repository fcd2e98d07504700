/*
 * fuzz_tasks.c - the task list of `muster run` (src/run/task.c) on untrusted bytes.
 *
 * The input is a task file: each line goes to run_task_parse, errors and all, into
 * one list, which must hold what the contract says (a blank line adds nothing, a plain
 * line is its own payload named by its number, every field in range, an error is one
 * line that names its line). run_tasks_check must agree with references written here:
 * ids unique and deps known (by plain search), no cycle (Kahn's algorithm on the
 * dep_idx it fills). Every task must survive encode -> decode unchanged, and a cut
 * encoding must be refused. The whole input is also given to run_task_decode: what it
 * accepts must be in range and encode -> decode to itself.
 */
#define _GNU_SOURCE
#include "fuzz.h"
#include "run.h"

#include <string.h>

#define REF_MAX 2000 /* tasks up to which the O(n^2) references run */

static void check_task(const struct run_task *t)
{
	CHECK(t->id && t->id[0] && strlen(t->id) <= 256);
	CHECK(t->payload && t->payload[t->len] == 0 && t->len <= 1u << 20);
	CHECK(t->priority >= 0 && t->priority <= 9);
	CHECK(t->retries >= -1 && t->retries <= 1000);
	CHECK(t->timeout_ms >= 0);
}

static void check_same(const struct run_task *a, size_t ai, const struct run_task *b, size_t bi)
{
	CHECK(ai == bi);
	CHECK(strcmp(a->id, b->id) == 0);
	CHECK(a->len == b->len && memcmp(a->payload, b->payload, a->len) == 0);
	CHECK(b->payload[b->len] == 0);
	CHECK(a->timeout_ms == b->timeout_ms && a->retries == b->retries);
	CHECK(a->priority == b->priority);
	CHECK(b->ndeps == 0 && !b->deps && !b->dep_idx);
}

/* encode -> decode gives t back; the encoding cut by its last byte is refused. */
static void roundtrip(const struct run_task *t, size_t idx)
{
	struct run_task d;
	size_t didx = (size_t)-1, len;
	char *enc = run_task_encode(t, idx), *cut;

	CHECK(enc);
	len = strlen(enc);
	CHECK(run_task_decode(enc, len, &d, &didx) == 0);
	check_same(t, idx, &d, didx);
	run_task_clear(&d);
	CHECK(!d.id && !d.payload);

	cut = malloc(len);
	CHECK(cut && len > 0);
	memcpy(cut, enc, len - 1);
	CHECK(run_task_decode(cut, len - 1, &d, &didx) < 0);
	CHECK(!d.id && !d.payload);
	free(cut);
	free(enc);
}

static int is_blank(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return 0;
	return 1;
}

static void parse_line(struct run_tasks *ts, const uint8_t *p, size_t len, size_t lineno)
{
	char err[RUN_ERR], want[32], *line = malloc(len ? len : 1);
	size_t n0 = ts->n, plen = len, i;
	const struct run_task *t;
	int rc;

	/* a copy of exactly len bytes, so that a read past the line is caught */
	CHECK(line);
	if (len)
		memcpy(line, p, len);
	else
		line[0] = 0;
	rc = run_task_parse(ts, line, len, lineno, err, sizeof err);
	free(line);
	if (plen && p[plen - 1] == '\r')
		plen--;
	if (rc < 0) {
		CHECK(rc == -1 && ts->n == n0);
		snprintf(want, sizeof want, "line %zu: ", lineno);
		CHECK(strncmp(err, want, strlen(want)) == 0 && strlen(err) > strlen(want));
		CHECK(!strchr(err, '\n') && !strchr(err, '\r'));
		return;
	}
	CHECK(rc == 0);
	if (is_blank(p, plen)) {
		CHECK(ts->n == n0);
		return;
	}
	CHECK(ts->n == n0 + 1);
	t = &ts->v[n0];
	check_task(t);
	CHECK(!t->dep_idx && (t->ndeps == 0 || t->deps));
	for (i = 0; i < t->ndeps; i++)
		CHECK(t->deps[i] && t->deps[i][0] && strlen(t->deps[i]) <= 256);
	for (i = 0; i < plen && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'); i++)
		;
	if (p[i] != '{') {
		snprintf(want, sizeof want, "%zu", lineno);
		CHECK(strcmp(t->id, want) == 0);
		CHECK(t->len == plen && memcmp(t->payload, p, plen) == 0);
		CHECK(t->ndeps == 0 && t->priority == 0 && t->retries == -1 && t->timeout_ms == 0);
	}
}

/* Whether the deps of ts (by id) have no cycle, by Kahn's algorithm on dep_idx. */
static int ref_acyclic(const struct run_tasks *ts)
{
	size_t *indeg = calloc(ts->n + 1, sizeof *indeg),
	       *queue = malloc((ts->n + 1) * sizeof *queue);
	size_t i, j, head = 0, tail = 0;

	CHECK(indeg && queue);
	/* an edge d -> i for each dep d of task i; i is ready when its deps are done */
	for (i = 0; i < ts->n; i++)
		indeg[i] = ts->v[i].ndeps;
	for (i = 0; i < ts->n; i++)
		if (!indeg[i])
			queue[tail++] = i;
	while (head < tail) {
		size_t d = queue[head++];
		/* quadratic, but only up to REF_MAX tasks */
		for (i = 0; i < ts->n; i++)
			for (j = 0; j < ts->v[i].ndeps; j++)
				if (ts->v[i].dep_idx[j] == d && --indeg[i] == 0)
					queue[tail++] = i;
	}
	free(indeg);
	free(queue);
	return tail == ts->n;
}

static void check_list(struct run_tasks *ts)
{
	char err[RUN_ERR];
	size_t i, j, k;
	int dup = 0, unknown = 0, rc, ref = ts->n <= REF_MAX;

	if (ref) {
		for (i = 0; i < ts->n && !dup; i++)
			for (j = 0; j < i && !dup; j++)
				dup = strcmp(ts->v[i].id, ts->v[j].id) == 0;
		for (i = 0; i < ts->n && !unknown; i++) {
			for (j = 0; j < ts->v[i].ndeps && !unknown; j++) {
				for (k = 0; k < ts->n; k++)
					if (!strcmp(ts->v[i].deps[j], ts->v[k].id))
						break;
				unknown = k == ts->n;
			}
		}
	}
	rc = run_tasks_check(ts, err, sizeof err);
	CHECK(rc == 0 || rc == -1);
	CHECK(rc == 0 || (err[0] && !strchr(err, '\n')));
	if (!ref)
		return;
	if (dup) {
		CHECK(rc < 0 && !strncmp(err, "duplicate task id \"", 19));
		return;
	}
	if (unknown) {
		CHECK(rc < 0 && strstr(err, " depends on unknown task \""));
		return;
	}
	/* every dep resolved, once per task */
	for (i = 0; i < ts->n; i++) {
		const struct run_task *t = &ts->v[i];
		CHECK(t->ndeps == 0 || t->dep_idx);
		for (j = 0; j < t->ndeps; j++) {
			CHECK(t->dep_idx[j] < ts->n);
			CHECK(!strcmp(ts->v[t->dep_idx[j]].id, t->deps[j]));
			for (k = 0; k < j; k++)
				CHECK(t->dep_idx[k] != t->dep_idx[j]);
		}
	}
	if (ref_acyclic(ts))
		CHECK(rc == 0);
	else
		CHECK(rc < 0 && !strncmp(err, "dependency cycle: ", 18));
}

static void decode_raw(const uint8_t *data, size_t size)
{
	struct run_task t, d;
	size_t idx = 0, didx = 0;
	char *enc;

	if (run_task_decode(data, size, &t, &idx) < 0) {
		CHECK(!t.id && !t.payload && !t.len);
		return;
	}
	check_task(&t);
	CHECK(!t.deps && !t.dep_idx && t.ndeps == 0);
	enc = run_task_encode(&t, idx);
	CHECK(enc);
	CHECK(run_task_decode(enc, strlen(enc), &d, &didx) == 0);
	check_same(&t, idx, &d, didx);
	run_task_clear(&d);
	run_task_clear(&t);
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run_tasks ts = {NULL, 0, 0};
	const uint8_t *p = data, *end = data + size, *nl;
	size_t lineno = 0, i;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		parse_line(&ts, p, nl ? (size_t)(nl - p) : (size_t)(end - p), ++lineno);
		p = nl ? nl + 1 : end;
	}
	for (i = 0; i < ts.n; i++)
		roundtrip(&ts.v[i], i);
	check_list(&ts);
	for (i = 0; i < ts.n; i++)
		roundtrip(&ts.v[i], ts.n - i);
	run_tasks_free(&ts);
	CHECK(!ts.v && !ts.n && !ts.cap);

	decode_raw(data, size);
	return 0;
}
