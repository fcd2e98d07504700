/*
 * pool.c - pool mode's line protocol: the request line muster writes on a long-lived
 * agent's stdin, the reply and heartbeat lines it reads back from the agent's stdout,
 * and the buffer that cuts that stdout into lines. docs/pool-protocol.md is the
 * contract agents are written against; this file must say the same.
 *
 * A reply is untrusted bytes. Its length and its UTF-8 are checked before jansson sees
 * it, so that the reason names the byte; then the schema is exact (types and values of
 * the known keys; unknown keys are ignored). Every error leaves the reply empty and the
 * reason one line of UTF-8 text, fit to go into a result as is.
 *
 * The line buffer looks at each byte once for a newline however the line arrives (a
 * 4 MiB line in 4 KiB reads must not cost 1000 rescans), and moves bytes only when
 * that frees at least as many as it moves, or the buffer can grow no more.
 */
#define _GNU_SOURCE
#include "run.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_CODE_MAX 255		   /* as a process's */
#define LB_READ (16u << 10)		   /* bytes offered to read(), at least */
#define LB_CAP_MAX (RUN_POOL_LINE_MAX + 1) /* a longest line and its '\n' */

/* The offset of the first byte of s[0..len) that does not start a well-formed UTF-8
 * sequence; len if there is none. */
static size_t utf8_bad(const char *s, size_t len)
{
	size_t i, n;

	for (i = 0; i < len; i += n)
		if (!(n = run_utf8_seq((const unsigned char *)s + i, len - i)))
			return i;
	return len;
}

/* --- requests ----------------------------------------------------------------------- */

char *run_pool_request(const struct run_task *t, size_t idx, int attempt, const char *run,
		       size_t *len)
{
	const char *p = t->payload ? t->payload : "";
	json_t *o = json_object();
	char *b64, *s = NULL, *line = NULL;
	size_t n;
	int bad = !o;

	/* the keys in this order, which the protocol promises to shell agents */
	if (o) {
		bad |= json_object_set_new(o, "id", json_string(t->id ? t->id : ""));
		bad |= json_object_set_new(o, "n", json_integer((json_int_t)idx));
		bad |= json_object_set_new(o, "attempt", json_integer(attempt));
		bad |= json_object_set_new(o, "run", json_string(run ? run : ""));
		if (utf8_bad(p, t->len) == t->len) {
			bad |= json_object_set_new(o, "payload", json_stringn(p, t->len));
		} else {
			b64 = run_b64_encode((const unsigned char *)p, t->len);
			bad |= json_object_set_new(o, "payload_b64", b64 ? json_string(b64) : NULL);
			free(b64);
		}
	}
	/* compact: no newline but the last; jansson escapes control characters */
	if (!bad && (s = json_dumps(o, JSON_COMPACT))) {
		n = strlen(s);
		if ((line = realloc(s, n + 2))) {
			line[n] = '\n';
			line[n + 1] = 0;
			*len = n + 1;
		} else {
			free(s);
		}
	}
	json_decref(o);
	return line;
}

/* --- replies ------------------------------------------------------------------------ */

/* Writes the reason into err as one line of UTF-8 text: control bytes, and bytes that
 * are not UTF-8 (jansson's messages quote the input, and may cut it), become '?'; a
 * message too long for err is cut between characters. Returns -1. */
static int garbage(char *err, size_t errsz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int garbage(char *err, size_t errsz, const char *fmt, ...)
{
	char msg[RUN_ERR] = "";
	size_t i, j = 0, n, len;
	va_list ap;

	if (!err || !errsz)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	len = strlen(msg);
	for (i = 0; i < len; i += n) {
		unsigned char c = (unsigned char)msg[i];

		n = run_utf8_seq((const unsigned char *)msg + i, len - i);
		if (j + (n ? n : 1) >= errsz)
			break;
		if (!n || c < 0x20 || c == 0x7f) {
			err[j++] = '?';
			n = n ? n : 1;
		} else {
			memcpy(err + j, msg + i, n);
			j += n;
		}
	}
	err[j] = 0;
	return -1;
}

/* Whether v is the string s (and no more: a string may hold NUL). */
static int str_is(json_t *v, const char *s)
{
	size_t len = strlen(s);

	return json_is_string(v) && json_string_length(v) == len &&
	       !memcmp(json_string_value(v), s, len);
}

/* A heartbeat: {"heartbeat":true} and maybe "progress"; other keys are ignored. */
static int parse_heartbeat(json_t *o, struct run_pool_reply *r, char *err, size_t errsz)
{
	json_t *v = json_object_get(o, "heartbeat");

	if (!json_is_true(v))
		return garbage(err, errsz, "\"heartbeat\" must be true");
	r->kind = RUN_POOL_HEARTBEAT;
	if ((v = json_object_get(o, "progress")) &&
	    !(r->progress = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)))
		return garbage(err, errsz, "out of memory");
	return 0;
}

static int parse_reply(json_t *o, struct run_pool_reply *r, char *err, size_t errsz)
{
	json_t *v;
	json_int_t code;

	r->kind = RUN_POOL_REPLY;
	if (!(v = json_object_get(o, "id")))
		return garbage(err, errsz, "missing \"id\"");
	/* a NUL would cut the id short, and a cut id could match another task's */
	if (!json_is_string(v))
		return garbage(err, errsz, "\"id\" must be a string");
	if (memchr(json_string_value(v), 0, json_string_length(v)))
		return garbage(err, errsz, "\"id\" must not contain NUL");
	if (!(r->id = run_memdup(json_string_value(v), json_string_length(v))))
		return garbage(err, errsz, "out of memory");

	if ((v = json_object_get(o, "error"))) {
		if (!json_is_string(v))
			return garbage(err, errsz, "\"error\" must be a string");
		if (memchr(json_string_value(v), 0, json_string_length(v)))
			return garbage(err, errsz, "\"error\" must not contain NUL");
		if (!(r->error = run_memdup(json_string_value(v), json_string_length(v))))
			return garbage(err, errsz, "out of memory");
	}

	if ((v = json_object_get(o, "status"))) {
		if (str_is(v, "ok"))
			r->ok = 1;
		else if (!str_is(v, "failed"))
			return garbage(err, errsz, "\"status\" must be \"ok\" or \"failed\"");
	} else {
		r->ok = !r->error;
	}

	r->exit_code = !r->ok;
	if ((v = json_object_get(o, "exit_code"))) {
		code = json_integer_value(v);
		if (!json_is_integer(v) || code < 0 || code > EXIT_CODE_MAX)
			return garbage(err, errsz, "\"exit_code\" must be an integer 0..%d",
				       EXIT_CODE_MAX);
		r->exit_code = (int)code;
	}

	if ((v = json_object_get(o, "output"))) {
		if (json_is_string(v)) {
			r->output_len = json_string_length(v);
			r->output = run_memdup(json_string_value(v), r->output_len);
		} else if ((r->output = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY))) {
			r->output_len = strlen(r->output);
		}
		if (!r->output) {
			r->output_len = 0;
			return garbage(err, errsz, "out of memory");
		}
	}
	return 0;
}

int run_pool_reply_parse(const char *line, size_t len, struct run_pool_reply *r, char *err,
			 size_t errsz)
{
	json_error_t je;
	json_t *o;
	size_t bad;
	int rc;

	memset(r, 0, sizeof *r);
	if (err && errsz)
		err[0] = 0;
	if (len > RUN_POOL_LINE_MAX)
		return garbage(err, errsz, "line longer than %u bytes", RUN_POOL_LINE_MAX);
	if (!len)
		return garbage(err, errsz, "empty line");
	if ((bad = utf8_bad(line, len)) < len)
		return garbage(err, errsz, "invalid UTF-8 at byte %zu", bad);
	/* NUL may travel in "output"; the id and the error refuse it themselves */
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
	if (!o)
		return garbage(err, errsz, "invalid JSON: %s (column %d)", je.text, je.column);
	if (!json_is_object(o))
		rc = garbage(err, errsz, "not a JSON object");
	else if (json_object_get(o, "heartbeat"))
		rc = parse_heartbeat(o, r, err, errsz);
	else
		rc = parse_reply(o, r, err, errsz);
	json_decref(o);
	if (rc < 0)
		run_pool_reply_clear(r);
	return rc;
}

void run_pool_reply_clear(struct run_pool_reply *r)
{
	free(r->id);
	free(r->output);
	free(r->error);
	free(r->progress);
	memset(r, 0, sizeof *r);
}

/* --- the line buffer ---------------------------------------------------------------- */

/* How many bytes at the start of buf are lines handed out already: buf[0..scanned) ends
 * with the '\n' of the last line handed out, or holds no '\n' at all. */
static size_t lb_done(const struct run_linebuf *lb)
{
	return lb->scanned && lb->buf[lb->scanned - 1] == '\n' ? lb->scanned : 0;
}

/* Drops the first n bytes; what is left is not scanned yet. */
static void lb_drop(struct run_linebuf *lb, size_t n)
{
	memmove(lb->buf, lb->buf + n, lb->len - n);
	lb->len -= n;
	lb->scanned = 0;
}

/* Makes room to read into. 0, -ENOBUFS (full of lines not taken yet) or -ENOMEM. */
static int lb_room(struct run_linebuf *lb)
{
	size_t done = lb_done(lb), cap;
	char *buf;

	if (done &&
	    (done >= lb->len - done || (lb->cap == LB_CAP_MAX && lb->cap - lb->len < LB_READ)))
		lb_drop(lb, done);
	if (lb->cap - lb->len >= LB_READ || lb->cap == LB_CAP_MAX)
		return lb->len < lb->cap ? 0 : -ENOBUFS;
	cap = lb->cap * 2 > lb->len + LB_READ ? lb->cap * 2 : lb->len + LB_READ;
	if (cap > LB_CAP_MAX)
		cap = LB_CAP_MAX;
	if (!(buf = realloc(lb->buf, cap)))
		return lb->len < lb->cap ? 0 : -ENOMEM;
	lb->buf = buf;
	lb->cap = cap;
	return 0;
}

ssize_t run_linebuf_fill(struct run_linebuf *lb, int fd)
{
	ssize_t total = 0, n;
	size_t room;
	int rc;

	for (;;) {
		if ((rc = lb_room(lb)) < 0)
			return total ? total : rc;
		room = lb->cap - lb->len;
		n = read(fd, lb->buf + lb->len, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return total ? total : errno == EWOULDBLOCK ? -EAGAIN : -errno;
		if (n == 0)
			return total; /* end of file: the next call says so */
		lb->len += (size_t)n;
		total += n;
		/* a short read: the pipe is empty, most likely; poll says when it is not */
		if ((size_t)n < room)
			return total;
	}
}

int run_linebuf_next(struct run_linebuf *lb, const char **line, size_t *len)
{
	size_t done = lb_done(lb), end;
	const char *nl = NULL;

	*line = NULL;
	*len = 0;
	if (lb->scanned < lb->len)
		nl = memchr(lb->buf + lb->scanned, '\n', lb->len - lb->scanned);
	if (nl) {
		end = (size_t)(nl - lb->buf);
		if (end - done > RUN_POOL_LINE_MAX)
			return -1;
		*line = lb->buf + done;
		*len = end - done;
		if (*len && lb->buf[end - 1] == '\r')
			(*len)--;
		lb->scanned = end + 1;
		return 1;
	}
	/* no complete line: keep only its start, which holds no '\n' */
	if (done)
		lb_drop(lb, done);
	lb->scanned = lb->len;
	return lb->len > RUN_POOL_LINE_MAX ? -1 : 0;
}

void run_linebuf_free(struct run_linebuf *lb)
{
	free(lb->buf);
	memset(lb, 0, sizeof *lb);
}
