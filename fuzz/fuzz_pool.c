/*
 * fuzz_pool.c - pool mode's line protocol (src/run/pool.c) on untrusted bytes.
 *
 * The input is three things at once. As one line from an agent, run_pool_reply_parse
 * must leave what the contract says (an error: one line of UTF-8 text without control
 * bytes, the reply empty; a reply: an id without NUL, status and exit code in range,
 * text NUL-terminated at its length), and what it accepts must read the same once
 * written back as a canonical line. As an agent's stdout, fed through a pipe in reads
 * of sizes drawn from the input, the line buffer must hand out exactly the input's
 * lines (less a CR before each '\n'), each of which is parsed too, and keep the
 * unfinished last one at end of file. As a task's payload and id, the request line must
 * be one line that jansson reads back to the same bytes (base64 exactly when jansson
 * says the payload is not UTF-8), or NULL exactly when the id is not UTF-8.
 */
#define _GNU_SOURCE
#include "fuzz.h"
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <unistd.h>

/* Whether s[0..len) is UTF-8 with no control byte (a reason, one line). */
static int is_reason(const char *s, size_t len)
{
	size_t i, n;

	for (i = 0; i < len; i += n) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
		if (!(n = run_utf8_seq((const unsigned char *)s + i, len - i)))
			return 0;
	}
	return 1;
}

static void check_empty(const struct run_pool_reply *r)
{
	CHECK(r->kind == 0 && !r->id && !r->ok && !r->exit_code);
	CHECK(!r->output && !r->output_len && !r->error && !r->progress);
}

static void check_same(const struct run_pool_reply *a, const struct run_pool_reply *b)
{
	CHECK(a->kind == b->kind && a->ok == b->ok && a->exit_code == b->exit_code);
	CHECK(!a->id == !b->id && (!a->id || !strcmp(a->id, b->id)));
	CHECK(!a->error == !b->error && (!a->error || !strcmp(a->error, b->error)));
	CHECK(!a->progress == !b->progress && (!a->progress || !strcmp(a->progress, b->progress)));
	CHECK(!a->output == !b->output && a->output_len == b->output_len);
	CHECK(!a->output || !memcmp(a->output, b->output, a->output_len));
}

/* r written back as a canonical line: every field explicit, output as a string. */
static char *canonical(const struct run_pool_reply *r)
{
	json_t *o = json_object(), *v;
	char *s;

	CHECK(o);
	if (r->kind == RUN_POOL_HEARTBEAT) {
		CHECK(!json_object_set_new(o, "heartbeat", json_true()));
		if (r->progress) {
			v = json_loads(r->progress, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
			CHECK(v);
			CHECK(!json_object_set_new(o, "progress", v));
		}
	} else {
		/* every text the parser hands out is UTF-8: jansson takes it back */
		CHECK(!json_object_set_new(o, "id", json_string(r->id)));
		CHECK(!json_object_set_new(o, "status", json_string(r->ok ? "ok" : "failed")));
		CHECK(!json_object_set_new(o, "exit_code", json_integer(r->exit_code)));
		if (r->output)
			CHECK(!json_object_set_new(o, "output",
						   json_stringn(r->output, r->output_len)));
		if (r->error)
			CHECK(!json_object_set_new(o, "error", json_string(r->error)));
	}
	s = json_dumps(o, JSON_COMPACT);
	CHECK(s);
	json_decref(o);
	return s;
}

static void parse_line(const uint8_t *p, size_t len)
{
	char err[RUN_ERR], *line = malloc(len ? len : 1), *canon;
	struct run_pool_reply r, again;
	int rc;

	/* a copy of exactly len bytes, so that a read past the line is caught */
	CHECK(line);
	if (len)
		memcpy(line, p, len);
	memset(&r, 0xa5, sizeof r);
	rc = run_pool_reply_parse(line, len, &r, err, sizeof err);
	free(line);
	if (rc < 0) {
		CHECK(rc == -1);
		check_empty(&r);
		CHECK(err[0] && is_reason(err, strlen(err)));
		return;
	}
	CHECK(rc == 0 && err[0] == 0);
	CHECK(len > 0 && len <= RUN_POOL_LINE_MAX);
	if (r.kind == RUN_POOL_HEARTBEAT) {
		CHECK(!r.id && !r.output && !r.output_len && !r.error);
	} else {
		CHECK(r.kind == RUN_POOL_REPLY);
		CHECK(r.id && (r.ok == 0 || r.ok == 1));
		CHECK(r.exit_code >= 0 && r.exit_code <= 255);
		CHECK(!r.progress);
		CHECK(!r.output ? !r.output_len : r.output[r.output_len] == 0);
	}
	/* (a long line of numbers can grow when written back: 1e1 is 10.0) */
	canon = canonical(&r);
	if (strlen(canon) <= RUN_POOL_LINE_MAX) {
		CHECK(run_pool_reply_parse(canon, strlen(canon), &again, err, sizeof err) == 0);
		check_same(&r, &again);
		run_pool_reply_clear(&again);
	}
	free(canon);
	run_pool_reply_clear(&r);
	check_empty(&r);
}

/* The input through a pipe into the line buffer, in reads of 1..64 bytes or up to
 * 4 KiB (drawn from the input's first byte), against a plain split on '\n'. */
static void stream(const uint8_t *data, size_t size)
{
	struct run_linebuf lb = {NULL, 0, 0, 0};
	uint32_t seed = size ? data[0] : 0, span = seed & 1 ? 64 : 4096;
	size_t sent = 0, ref = 0, len;
	const char *line;
	const uint8_t *nl;
	int p[2], rc;
	ssize_t n;

	CHECK(pipe2(p, O_CLOEXEC) == 0);
	CHECK(fcntl(p[0], F_SETFL, O_NONBLOCK) == 0);
	for (;;) {
		size_t chunk;

		if (sent == size && p[1] >= 0) {
			close(p[1]);
			p[1] = -1;
		}
		n = run_linebuf_fill(&lb, p[0]);
		CHECK(n >= 0 || n == -EAGAIN);
		while ((rc = run_linebuf_next(&lb, &line, &len)) == 1) {
			size_t want;

			nl = memchr(data + ref, '\n', sent - ref);
			CHECK(nl);
			want = (size_t)(nl - (data + ref));
			if (want && data[ref + want - 1] == '\r')
				want--;
			CHECK(len == want && !memcmp(line, data + ref, len));
			parse_line((const uint8_t *)line, len);
			ref = (size_t)(nl - data) + 1;
		}
		CHECK(rc == 0 && !line && !len);
		/* no complete line: what is left of the input so far is buffered, and only it */
		CHECK(sent == ref || !memchr(data + ref, '\n', sent - ref));
		CHECK(lb.len == sent - ref && lb.scanned == lb.len);
		CHECK(!lb.len || !memcmp(lb.buf, data + ref, lb.len));
		if (n == 0)
			break;
		CHECK(p[1] >= 0 || n > 0);
		seed = seed * 1103515245u + 12345u;
		chunk = (seed >> 8) % span + 1;
		if (chunk > size - sent)
			chunk = size - sent;
		if (chunk) {
			CHECK(write(p[1], data + sent, chunk) == (ssize_t)chunk);
			sent += chunk;
		}
	}
	CHECK(sent == size);
	CHECK(run_linebuf_fill(&lb, p[0]) == 0);
	close(p[0]);
	run_linebuf_free(&lb);
	CHECK(!lb.buf && !lb.len && !lb.cap && !lb.scanned);
}

static void request(const uint8_t *data, size_t size)
{
	char *id = strndup((const char *)data, size), *line;
	struct run_task t = {.id = id, .payload = (char *)data, .len = size};
	json_t *o, *v, *ref;
	size_t len = 0, i;

	CHECK(id);
	line = run_pool_request(&t, size, 1, "run.fuzz", &len);
	/* jansson is the reference for UTF-8 here */
	ref = json_string(id);
	CHECK(!line == !ref);
	json_decref(ref);
	if (!line) {
		free(id);
		return;
	}
	CHECK(len >= 2 && strlen(line) == len && line[len - 1] == '\n');
	for (i = 0; i + 1 < len; i++)
		CHECK((unsigned char)line[i] >= 0x20);
	o = json_loadb(line, len - 1, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
	CHECK(o && json_object_size(o) == 5);
	CHECK(!strcmp(json_string_value(json_object_get(o, "id")), id));
	ref = json_stringn((const char *)data, size);
	if (ref) {
		v = json_object_get(o, "payload");
		CHECK(json_is_string(v) && json_string_length(v) == size);
		CHECK(!size || !memcmp(json_string_value(v), data, size));
	} else {
		char *b64 = run_b64_encode(data, size);

		v = json_object_get(o, "payload_b64");
		CHECK(b64 && json_is_string(v) && !strcmp(json_string_value(v), b64));
		CHECK(json_string_length(v) == (size + 2) / 3 * 4);
		free(b64);
	}
	json_decref(ref);
	json_decref(o);
	free(line);
	free(id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parse_line(data, size);
	stream(data, size);
	request(data, size);
	return 0;
}
