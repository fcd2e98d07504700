/*
 * task.c - the task list of a run and a task's encoding as a bus message.
 *
 * A line whose first non-blank character is '{' is a JSON object (jansson); any other
 * line that is not blank is the payload of a task named by its line number. The list
 * is checked once, before anything starts: ids unique (an open-addressing table,
 * FNV-1a), deps known, no cycle (an iterative depth-first search, so that a chain of
 * any length fits). Every error is one line that names the line, the task or the
 * cycle; ids in messages are quoted, escaped and cut short.
 *
 * On the bus a task is one compact JSON object, {"n","id","payload","timeout",
 * "retries","priority"}; a payload that is not UTF-8 text without NUL travels as
 * "payload_b64" instead. Decoding takes untrusted bytes: it accepts that schema only
 * (exact keys, types and ranges, the canonical payload form) and frees what it made
 * on every error.
 */
#define _GNU_SOURCE
#include "run.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define TASK_ID_MAX 256		    /* bytes of an id */
#define TASK_PAYLOAD_MAX (1u << 20) /* bytes of a payload */
#define TASK_TIMEOUT_MAX 1e9	    /* seconds */
#define TASK_RETRIES_MAX 1000
#define TASK_PRIO_MAX 9 /* as the bus's */
#define ERR_ID_MAX 48	/* bytes of an id quoted in an error */

/* --- error messages ----------------------------------------------------------------- */

/* An error message being written into err[0..size): whatever does not fit is cut. */
struct msg {
	char *buf;
	size_t size, pos;
};

static void msg_init(struct msg *m, char *err, size_t errsz)
{
	m->buf = errsz ? err : NULL;
	m->size = m->buf ? errsz : 0;
	m->pos = 0;
	if (m->buf)
		m->buf[0] = 0;
}

__attribute__((format(printf, 2, 3))) static void msg_add(struct msg *m, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!m->buf || m->pos + 1 >= m->size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(m->buf + m->pos, m->size - m->pos, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	m->pos += (size_t)n;
	if (m->pos >= m->size)
		m->pos = m->size - 1;
}

/* Adds s[0..len) with control bytes replaced, so that the message stays one line. */
static void msg_text(struct msg *m, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		msg_add(m, "%c", c < 0x20 || c == 0x7f ? '?' : c);
	}
}

/* Adds an id, in double quotes if quote: '"', '\' and control bytes escaped, and cut
 * after ERR_ID_MAX bytes (on a character boundary) with "...". */
static void msg_id_q(struct msg *m, const char *id, bool quote)
{
	size_t len = strlen(id), n = len, i;

	if (n > ERR_ID_MAX) {
		n = ERR_ID_MAX;
		while (n > 0 && ((unsigned char)id[n] & 0xc0) == 0x80)
			n--;
	}
	if (quote)
		msg_add(m, "\"");
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)id[i];
		if (c == '"' || c == '\\')
			msg_add(m, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			msg_add(m, "\\x%02x", c);
		else
			msg_add(m, "%c", c);
	}
	if (n < len)
		msg_add(m, "...");
	if (quote)
		msg_add(m, "\"");
}

static void msg_id(struct msg *m, const char *id)
{
	msg_id_q(m, id, true);
}

/* Writes "line N: " and the formatted reason into err; returns -1. */
__attribute__((format(printf, 4, 5))) static int line_err(char *err, size_t errsz, size_t lineno,
							  const char *fmt, ...)
{
	struct msg m;
	va_list ap;

	msg_init(&m, err, errsz);
	msg_add(&m, "line %zu: ", lineno);
	if (!m.buf || m.pos + 1 >= m.size)
		return -1;
	va_start(ap, fmt);
	vsnprintf(m.buf + m.pos, m.size - m.pos, fmt, ap);
	va_end(ap);
	return -1;
}

/* --- bytes -------------------------------------------------------------------------- */

/* Whether s[0..len) is well-formed UTF-8. */
static bool utf8_ok(const unsigned char *s, size_t len)
{
	size_t i, n;

	for (i = 0; i < len; i += n)
		if (!(n = run_utf8_seq(s + i, len - i)))
			return false;
	return true;
}

/* Whether a payload travels as a JSON string (else as base64). */
static bool payload_is_text(const char *p, size_t len)
{
	return !memchr(p, 0, len) && utf8_ok((const unsigned char *)p, len);
}

static const char b64_tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The padded base64 of s[0..len), malloc'ed and NUL-terminated; NULL: out of memory. */
char *run_b64_encode(const unsigned char *s, size_t len)
{
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		*o++ = b64_tab[v >> 18];
		*o++ = b64_tab[(v >> 12) & 63];
		*o++ = b64_tab[(v >> 6) & 63];
		*o++ = b64_tab[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)s[i] << 16;
		*o++ = b64_tab[v >> 18];
		*o++ = b64_tab[(v >> 12) & 63];
		*o++ = '=';
		*o++ = '=';
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
		*o++ = b64_tab[v >> 18];
		*o++ = b64_tab[(v >> 12) & 63];
		*o++ = b64_tab[(v >> 6) & 63];
		*o++ = '=';
	}
	*o = 0;
	return out;
}

static int b64_val(char c)
{
	const char *p = c ? strchr(b64_tab, c) : NULL;

	return p ? (int)(p - b64_tab) : -1;
}

/* Decodes canonical padded base64 s[0..len) (as run_b64_encode writes it: no other byte,
 * padding only at the end, unused bits zero) into a malloc'ed NUL-terminated buffer
 * of *outlen bytes. 0, or -1 (not canonical base64, or out of memory). */
static int b64_decode(const char *s, size_t len, char **out, size_t *outlen)
{
	unsigned char *d;
	size_t i, n = 0;

	if (len % 4)
		return -1;
	if (!(d = malloc(len / 4 * 3 + 1)))
		return -1;
	for (i = 0; i < len; i += 4) {
		int v[4], k, pad = 0;
		uint32_t w = 0;

		for (k = 0; k < 4; k++) {
			if (s[i + k] == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (pad || (v[k] = b64_val(s[i + k])) < 0) {
				goto bad;
			}
			w = w << 6 | (uint32_t)v[k];
		}
		if (pad && (w & ((1u << (8 * pad)) - 1)))
			goto bad;
		for (k = 0; k < 3 - pad; k++)
			d[n++] = (unsigned char)(w >> (16 - 8 * k));
	}
	d[n] = 0;
	*out = (char *)d;
	*outlen = n;
	return 0;
bad:
	free(d);
	return -1;
}

/* --- parsing ------------------------------------------------------------------------ */

/* A task id from a JSON value (a string, or an integer as its decimal form) into a
 * malloc'ed string. 0; -1 wrong type; -2 empty; -3 too long; -4 holds a NUL; -5 out
 * of memory. */
static int id_from_json(json_t *v, char **out)
{
	char num[32];
	const char *s;
	size_t len;

	*out = NULL;
	if (json_is_integer(v)) {
		snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		s = num;
		len = strlen(num);
	} else if (json_is_string(v)) {
		s = json_string_value(v);
		len = json_string_length(v);
	} else {
		return -1;
	}
	if (len == 0)
		return -2;
	if (len > TASK_ID_MAX)
		return -3;
	if (memchr(s, 0, len))
		return -4;
	*out = run_memdup(s, len);
	return *out ? 0 : -5;
}

static int id_err(int rc, const char *what, char *err, size_t errsz, size_t lineno)
{
	switch (rc) {
	case -1:
		return line_err(err, errsz, lineno, "%s must be a string or an integer", what);
	case -2:
		return line_err(err, errsz, lineno, "%s must not be empty", what);
	case -3:
		return line_err(err, errsz, lineno, "%s is longer than %d bytes", what,
				TASK_ID_MAX);
	case -4:
		return line_err(err, errsz, lineno, "%s must not contain NUL", what);
	default:
		return line_err(err, errsz, lineno, "out of memory");
	}
}

/* Appends t to ts (which then owns its fields); 0 or -1 (out of memory). */
static int tasks_push(struct run_tasks *ts, struct run_task *t)
{
	if (ts->n == ts->cap) {
		size_t cap = ts->cap ? ts->cap * 2 : 16;
		struct run_task *v;

		if (cap > SIZE_MAX / sizeof *v || !(v = realloc(ts->v, cap * sizeof *v)))
			return -1;
		ts->v = v;
		ts->cap = cap;
	}
	ts->v[ts->n++] = *t;
	return 0;
}

/* Seconds (> 0, at most TASK_TIMEOUT_MAX) to milliseconds, rounded up to at least 1.
 * The value is first rounded to the microsecond, so that 1.1 s (1100.0000000000002 ms
 * in binary) is 1100 ms. */
static int64_t timeout_ms(double sec)
{
	int64_t us = (int64_t)(sec * 1e6 + 0.5), ms = (us + 999) / 1000;

	return ms > 0 ? ms : 1;
}

static int parse_json(struct run_task *t, const char *line, size_t len, size_t lineno, char *err,
		      size_t errsz)
{
	json_t *o, *v;
	json_error_t je;
	int rc = -1, r;

	o = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
	if (!o) {
		struct msg m;

		msg_init(&m, err, errsz);
		msg_add(&m, "line %zu: invalid JSON: ", lineno);
		msg_text(&m, je.text, strnlen(je.text, sizeof je.text));
		msg_add(&m, " (column %d)", je.column);
		return -1;
	}
	if (!json_is_object(o)) {
		/* not reached: the line starts with '{' */
		line_err(err, errsz, lineno, "not a JSON object");
		goto out;
	}

	if ((v = json_object_get(o, "id"))) {
		if ((r = id_from_json(v, &t->id)) < 0) {
			id_err(r, "\"id\"", err, errsz, lineno);
			goto out;
		}
	}

	if (!(v = json_object_get(o, "payload"))) {
		line_err(err, errsz, lineno, "missing \"payload\"");
		goto out;
	}
	if (json_is_string(v)) {
		t->len = json_string_length(v);
		if (t->len <= TASK_PAYLOAD_MAX)
			t->payload = run_memdup(json_string_value(v), t->len);
	} else {
		t->payload = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		t->len = t->payload ? strlen(t->payload) : 0;
	}
	if (t->len > TASK_PAYLOAD_MAX) {
		line_err(err, errsz, lineno, "payload is longer than 1 MiB");
		goto out;
	}
	if (!t->payload) {
		line_err(err, errsz, lineno, "out of memory");
		goto out;
	}

	if ((v = json_object_get(o, "priority"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > TASK_PRIO_MAX) {
			line_err(err, errsz, lineno, "\"priority\" must be an integer 0..%d",
				 TASK_PRIO_MAX);
			goto out;
		}
		t->priority = (int)json_integer_value(v);
	}

	if ((v = json_object_get(o, "timeout"))) {
		double sec = json_number_value(v);

		if (!json_is_number(v) || !(sec > 0) || sec > TASK_TIMEOUT_MAX) {
			line_err(err, errsz, lineno,
				 "\"timeout\" must be a number of seconds > 0 (at most %.0f)",
				 TASK_TIMEOUT_MAX);
			goto out;
		}
		t->timeout_ms = timeout_ms(sec);
	}

	if ((v = json_object_get(o, "retries"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > TASK_RETRIES_MAX) {
			line_err(err, errsz, lineno, "\"retries\" must be an integer 0..%d",
				 TASK_RETRIES_MAX);
			goto out;
		}
		t->retries = (int)json_integer_value(v);
	}

	if ((v = json_object_get(o, "deps"))) {
		size_t i, n;

		if (!json_is_array(v)) {
			line_err(err, errsz, lineno,
				 "\"deps\" must be an array of task ids (strings or integers)");
			goto out;
		}
		n = json_array_size(v);
		if (n && !(t->deps = calloc(n, sizeof *t->deps))) {
			line_err(err, errsz, lineno, "out of memory");
			goto out;
		}
		for (i = 0; i < n; i++) {
			r = id_from_json(json_array_get(v, i), &t->deps[i]);
			if (r == -1) {
				line_err(err, errsz, lineno,
					 "\"deps\" must be an array of task ids (strings or "
					 "integers)");
				goto out;
			}
			if (r < 0) {
				id_err(r, "a task id in \"deps\"", err, errsz, lineno);
				goto out;
			}
			t->ndeps++;
		}
	}
	rc = 0;
out:
	json_decref(o);
	return rc;
}

int run_task_parse(struct run_tasks *ts, const char *line, size_t len, size_t lineno, char *err,
		   size_t errsz)
{
	struct run_task t = {.retries = -1};
	char num[32];
	size_t i;

	if (err && errsz)
		err[0] = 0;
	if (len && line[len - 1] == '\r')
		len--;
	for (i = 0; i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'); i++)
		;
	if (i == len)
		return 0;

	if (line[i] == '{') {
		if (parse_json(&t, line, len, lineno, err, errsz) < 0)
			goto fail;
	} else {
		if (len > TASK_PAYLOAD_MAX) {
			line_err(err, errsz, lineno, "payload is longer than 1 MiB");
			goto fail;
		}
		t.len = len;
		if (!(t.payload = run_memdup(line, len))) {
			line_err(err, errsz, lineno, "out of memory");
			goto fail;
		}
	}
	if (!t.id) {
		snprintf(num, sizeof num, "%zu", lineno);
		if (!(t.id = strdup(num))) {
			line_err(err, errsz, lineno, "out of memory");
			goto fail;
		}
	}
	if (tasks_push(ts, &t) < 0) {
		line_err(err, errsz, lineno, "out of memory");
		goto fail;
	}
	return 0;
fail:
	run_task_clear(&t);
	return -1;
}

int run_tasks_read(struct run_tasks *ts, FILE *f, char *err, size_t errsz)
{
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t n;
	int rc = 0;

	if (err && errsz)
		err[0] = 0;
	for (;;) {
		errno = 0;
		n = getline(&line, &cap, f);
		lineno++;
		if (n < 0) {
			if (ferror(f) || errno == ENOMEM)
				rc = line_err(err, errsz, lineno, "cannot read: %s",
					      strerror(errno ? errno : EIO));
			break;
		}
		if (n > 0 && line[n - 1] == '\n')
			n--;
		if ((rc = run_task_parse(ts, line, (size_t)n, lineno, err, errsz)) < 0)
			break;
	}
	free(line);
	return rc;
}

/* --- checking ----------------------------------------------------------------------- */

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 14695981039346656037ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

/* Ids to task indexes: open addressing with linear probing; a slot holds index + 1. */
struct idtab {
	size_t *slot;
	size_t mask;
};

static int idtab_init(struct idtab *tab, size_t n)
{
	size_t cap = 16;

	while (cap < n * 2) {
		if (cap > SIZE_MAX / 4 / sizeof *tab->slot)
			return -1;
		cap *= 2;
	}
	tab->mask = cap - 1;
	tab->slot = calloc(cap, sizeof *tab->slot);
	return tab->slot ? 0 : -1;
}

/* The slot of id: the one that holds it, or the empty one where it would go. */
static size_t *idtab_find(const struct idtab *tab, const struct run_tasks *ts, const char *id)
{
	size_t i = (size_t)fnv1a(id) & tab->mask;

	while (tab->slot[i] && strcmp(ts->v[tab->slot[i] - 1].id, id) != 0)
		i = (i + 1) & tab->mask;
	return &tab->slot[i];
}

/* Resolves the deps of every task into dep_idx and drops repeated deps (deps are a
 * set). seen[d] == i + 1 when task i already lists task d. */
static int resolve_deps(struct run_tasks *ts, const struct idtab *tab, char *err, size_t errsz)
{
	size_t *seen = calloc(ts->n, sizeof *seen), i, j, k;
	struct msg m;
	int rc = -1;

	msg_init(&m, err, errsz);
	if (!seen) {
		msg_add(&m, "out of memory");
		return -1;
	}
	for (i = 0; i < ts->n; i++) {
		struct run_task *t = &ts->v[i];

		free(t->dep_idx);
		t->dep_idx = NULL;
		if (!t->ndeps)
			continue;
		if (!(t->dep_idx = malloc(t->ndeps * sizeof *t->dep_idx))) {
			msg_add(&m, "out of memory");
			goto out;
		}
		for (j = k = 0; j < t->ndeps; j++) {
			size_t s = *idtab_find(tab, ts, t->deps[j]);

			if (!s) {
				msg_add(&m, "task ");
				msg_id(&m, t->id);
				msg_add(&m, " depends on unknown task ");
				msg_id(&m, t->deps[j]);
				/* keeps deps and dep_idx whole for run_tasks_free */
				for (; j < t->ndeps; j++) {
					t->deps[k] = t->deps[j];
					t->dep_idx[k++] = 0;
				}
				t->ndeps = k;
				goto out;
			}
			if (seen[s - 1] == i + 1) {
				free(t->deps[j]);
				continue;
			}
			seen[s - 1] = i + 1;
			t->deps[k] = t->deps[j];
			t->dep_idx[k++] = s - 1;
		}
		t->ndeps = k;
	}
	rc = 0;
out:
	free(seen);
	return rc;
}

/* Writes "dependency cycle: a -> b -> ... -> a" for the tasks path[0..n), of which
 * each depends on the next and the last on the first; a long cycle shows its first
 * and last few tasks. Ids are escaped but not quoted here. */
static void cycle_err(const struct run_tasks *ts, const size_t *path, size_t n, char *err,
		      size_t errsz)
{
	enum { HEAD = 3, TAIL = 2 };
	struct msg m;
	size_t i;

	msg_init(&m, err, errsz);
	msg_add(&m, "dependency cycle: ");
	for (i = 0; i < n; i++) {
		if (n > HEAD + TAIL + 1 && i == HEAD) {
			msg_add(&m, "... (%zu more) -> ", n - HEAD - TAIL);
			i = n - TAIL;
		}
		msg_id_q(&m, ts->v[path[i]].id, false);
		msg_add(&m, " -> ");
	}
	msg_id_q(&m, ts->v[path[0]].id, false);
}

/* Finds a cycle by depth-first search on an explicit stack. 0 or -1. */
static int find_cycle(const struct run_tasks *ts, char *err, size_t errsz)
{
	enum { WHITE, GREY, BLACK };
	struct frame {
		size_t node, next;
	} *stack = malloc(ts->n * sizeof *stack);
	unsigned char *color = calloc(ts->n, 1);
	size_t *path = NULL, s, sp, i;
	struct msg m;
	int rc = -1;

	msg_init(&m, err, errsz);
	if (!stack || !color) {
		msg_add(&m, "out of memory");
		goto out;
	}
	for (s = 0; s < ts->n; s++) {
		if (color[s] != WHITE)
			continue;
		color[s] = GREY;
		stack[0] = (struct frame){s, 0};
		sp = 1;
		while (sp) {
			struct frame *f = &stack[sp - 1];
			const struct run_task *t = &ts->v[f->node];
			size_t d;

			if (f->next == t->ndeps) {
				color[f->node] = BLACK;
				sp--;
				continue;
			}
			d = t->dep_idx[f->next++];
			if (color[d] == WHITE) {
				color[d] = GREY;
				stack[sp++] = (struct frame){d, 0};
			} else if (color[d] == GREY) {
				/* the cycle: d, what d led to on the stack, back to d */
				for (i = sp - 1; stack[i].node != d; i--)
					;
				if (!(path = malloc((sp - i) * sizeof *path))) {
					msg_add(&m, "out of memory");
					goto out;
				}
				for (s = i; s < sp; s++)
					path[s - i] = stack[s].node;
				cycle_err(ts, path, sp - i, err, errsz);
				goto out;
			}
		}
	}
	rc = 0;
out:
	free(path);
	free(color);
	free(stack);
	return rc;
}

int run_tasks_check(struct run_tasks *ts, char *err, size_t errsz)
{
	struct idtab tab = {NULL, 0};
	struct msg m;
	size_t i, *slot;
	int rc = -1;

	msg_init(&m, err, errsz);
	if (!ts->n)
		return 0;
	if (idtab_init(&tab, ts->n) < 0) {
		msg_add(&m, "out of memory");
		return -1;
	}
	for (i = 0; i < ts->n; i++) {
		slot = idtab_find(&tab, ts, ts->v[i].id);
		if (*slot) {
			msg_add(&m, "duplicate task id ");
			msg_id(&m, ts->v[i].id);
			msg_add(&m, " (tasks %zu and %zu)", *slot, i + 1);
			goto out;
		}
		*slot = i + 1;
	}
	if (resolve_deps(ts, &tab, err, errsz) < 0 || find_cycle(ts, err, errsz) < 0)
		goto out;
	rc = 0;
out:
	free(tab.slot);
	return rc;
}

void run_task_clear(struct run_task *t)
{
	size_t i;

	free(t->id);
	free(t->payload);
	for (i = 0; i < t->ndeps; i++)
		free(t->deps[i]);
	free(t->deps);
	free(t->dep_idx);
	memset(t, 0, sizeof *t);
}

void run_tasks_free(struct run_tasks *ts)
{
	size_t i;

	for (i = 0; i < ts->n; i++)
		run_task_clear(&ts->v[i]);
	free(ts->v);
	memset(ts, 0, sizeof *ts);
}

/* --- the bus encoding --------------------------------------------------------------- */

char *run_task_encode(const struct run_task *t, size_t idx)
{
	const char *p = t->payload ? t->payload : "";
	json_t *o = json_object();
	char *b64, *out = NULL;
	int bad = !o;

	if (o) {
		bad |= json_object_set_new(o, "n", json_integer((json_int_t)idx));
		bad |= json_object_set_new(o, "id", json_string(t->id ? t->id : ""));
		if (payload_is_text(p, t->len)) {
			bad |= json_object_set_new(o, "payload", json_stringn(p, t->len));
		} else {
			b64 = run_b64_encode((const unsigned char *)p, t->len);
			bad |= json_object_set_new(o, "payload_b64", b64 ? json_string(b64) : NULL);
			free(b64);
		}
		bad |= json_object_set_new(o, "timeout", json_integer(t->timeout_ms));
		bad |= json_object_set_new(o, "retries", json_integer(t->retries));
		bad |= json_object_set_new(o, "priority", json_integer(t->priority));
	}
	if (!bad)
		out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return out;
}

/* The integer member key of o in [lo, hi]; 0 or -1. */
static int get_int(json_t *o, const char *key, json_int_t lo, json_int_t hi, json_int_t *v)
{
	json_t *j = json_object_get(o, key);

	if (!json_is_integer(j))
		return -1;
	*v = json_integer_value(j);
	return *v >= lo && *v <= hi ? 0 : -1;
}

int run_task_decode(const void *buf, size_t len, struct run_task *t, size_t *idx)
{
	json_int_t n, timeout, retries, prio;
	json_t *o, *v;
	json_error_t je;
	int rc = -1;

	memset(t, 0, sizeof *t);
	if (!buf || !(o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je)))
		return -1;
	if (!json_is_object(o) || json_object_size(o) != 6)
		goto out;
	if (get_int(o, "n", 0, INT64_MAX, &n) < 0 ||
	    get_int(o, "timeout", 0, INT64_MAX, &timeout) < 0 ||
	    get_int(o, "retries", -1, INT32_MAX, &retries) < 0 ||
	    get_int(o, "priority", 0, TASK_PRIO_MAX, &prio) < 0)
		goto out;

	v = json_object_get(o, "id");
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > TASK_ID_MAX ||
	    strlen(json_string_value(v)) != json_string_length(v))
		goto out;
	if (!(t->id = strdup(json_string_value(v))))
		goto out;

	if ((v = json_object_get(o, "payload"))) {
		if (!json_is_string(v) || json_string_length(v) > TASK_PAYLOAD_MAX)
			goto out;
		t->len = json_string_length(v);
		/* NUL is refused by the parser; text is what encode writes as text */
		if (!(t->payload = run_memdup(json_string_value(v), t->len)))
			goto out;
	} else if ((v = json_object_get(o, "payload_b64"))) {
		if (!json_is_string(v) || json_string_length(v) > (TASK_PAYLOAD_MAX + 2) / 3 * 4)
			goto out;
		if (b64_decode(json_string_value(v), json_string_length(v), &t->payload, &t->len) <
		    0)
			goto out;
		if (payload_is_text(t->payload, t->len))
			goto out;
	} else {
		goto out;
	}
	t->priority = (int)prio;
	t->timeout_ms = timeout;
	t->retries = (int)retries;
	*idx = (size_t)n;
	rc = 0;
out:
	json_decref(o);
	if (rc < 0)
		run_task_clear(t);
	return rc;
}
