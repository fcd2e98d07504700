/*
 * test_pool.c - pool mode's line protocol (src/run/pool.c): the request line of a task
 * (text and binary payloads, escapes, a round trip through jansson), replies and
 * heartbeats, every kind of garbage with its reason, and the line buffer on real pipes
 * (a line in many reads, many lines in one read, the longest line, end of file, a
 * buffer full of lines nobody took, a writer process streaming thousands of lines).
 */
#define _GNU_SOURCE
#include "unit.h"

#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- requests ----------------------------------------------------------------------- */

/* The request line of a task, checked for what every request is: one line of exactly
 * *len bytes, its only '\n' at the end, no other control byte. */
static char *request(const char *id, const char *payload, size_t plen, size_t idx, int attempt,
		     const char *run, size_t *len)
{
	struct run_task t = {.id = (char *)id, .payload = (char *)payload, .len = plen};
	char *line;
	size_t i;

	*len = 0;
	line = run_pool_request(&t, idx, attempt, run, len);
	ck_assert_ptr_nonnull(line);
	ck_assert_uint_eq(strlen(line), *len);
	ck_assert_uint_ge(*len, 2);
	ck_assert_int_eq(line[*len - 1], '\n');
	for (i = 0; i + 1 < *len; i++)
		ck_assert_msg((unsigned char)line[i] >= 0x20, "byte %zu is 0x%02x", i,
			      (unsigned char)line[i]);
	return line;
}

/* The request line as JSON (without its '\n'); an object of five keys. */
static json_t *load(const char *line, size_t len)
{
	json_error_t je;
	json_t *o = json_loadb(line, len - 1, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);

	ck_assert_msg(o != NULL, "%s: %s", line, je.text);
	ck_assert(json_is_object(o));
	ck_assert_uint_eq(json_object_size(o), 5);
	return o;
}

/* A base64 decoder written apart from the encoder: -1 on anything but padded base64. */
static long b64_decode(const char *s, unsigned char *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t len = strlen(s), i, k;
	long n = 0;

	if (len % 4)
		return -1;
	for (i = 0; i < len; i += 4) {
		unsigned long w = 0;
		int pad = 0;

		for (k = 0; k < 4; k++) {
			const char *p = s[i + k] ? strchr(tab, s[i + k]) : NULL;

			if (s[i + k] == '=' && i + 4 == len && k >= 2)
				pad++;
			else if (!p || pad)
				return -1;
			w = w << 6 | (unsigned long)(p ? p - tab : 0);
		}
		for (k = 0; k < 3 - (size_t)pad; k++)
			out[n++] = (unsigned char)(w >> (16 - 8 * k));
	}
	return n;
}

START_TEST(test_request_text)
{
	char *line;
	size_t len;

	line = request("t1", "hello world", 11, 3, 1, "r1", &len);
	ck_assert_str_eq(line, "{\"id\":\"t1\",\"n\":3,\"attempt\":1,\"run\":\"r1\","
			       "\"payload\":\"hello world\"}\n");
	free(line);

	/* the empty payload, and none at all, are the empty text */
	line = request("7", "", 0, 0, 12, "run.x-y_z:0", &len);
	ck_assert_str_eq(line, "{\"id\":\"7\",\"n\":0,\"attempt\":12,\"run\":\"run.x-y_z:0\","
			       "\"payload\":\"\"}\n");
	free(line);
	line = request("7", NULL, 0, 0, 1, "r", &len);
	ck_assert_str_eq(line,
			 "{\"id\":\"7\",\"n\":0,\"attempt\":1,\"run\":\"r\",\"payload\":\"\"}\n");
	free(line);

	/* UTF-8 text stays text, unescaped */
	line = request("caf\xc3\xa9", "\xe2\x82\xac \xf0\x9f\x99\x82", 8, 99999, 2, "r", &len);
	ck_assert_str_eq(line, "{\"id\":\"caf\xc3\xa9\",\"n\":99999,\"attempt\":2,\"run\":\"r\","
			       "\"payload\":\"\xe2\x82\xac \xf0\x9f\x99\x82\"}\n");
	free(line);
}
END_TEST

START_TEST(test_request_escapes)
{
	static const char tail[] = "\x7f\"\\/ \xe2\x80\xa8 \xe2\x80\xa9 {}[]:,";
	char payload[160], id[] = "a\"b\\c\td\n/e";
	size_t plen = 0, len;
	json_t *o, *v;
	char *line;
	int c;

	/* every control byte, NUL included, and what JSON escapes */
	for (c = 0; c < 0x20; c++)
		payload[plen++] = (char)c;
	memcpy(payload + plen, tail, sizeof tail - 1);
	plen += sizeof tail - 1;
	line = request(id, payload, plen, 5, 3, "r", &len);
	ck_assert_ptr_nonnull(strstr(line, "\"payload\":\"\\u0000\\u0001"));
	ck_assert_ptr_nonnull(strstr(line, "\\n"));
	ck_assert_ptr_null(strstr(line, "payload_b64"));
	o = load(line, len);
	v = json_object_get(o, "payload");
	ck_assert(json_is_string(v));
	ck_assert_uint_eq(json_string_length(v), plen);
	ck_assert_mem_eq(json_string_value(v), payload, plen);
	ck_assert_str_eq(json_string_value(json_object_get(o, "id")), id);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "n")), 5);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "attempt")), 3);
	ck_assert_str_eq(json_string_value(json_object_get(o, "run")), "r");
	json_decref(o);
	free(line);
}
END_TEST

START_TEST(test_request_binary)
{
	static const struct {
		const char *p;
		size_t len;
	} tab[] = {
		{"\xff", 1},		 /* never UTF-8 */
		{"ok\xc3", 3},		 /* a cut sequence */
		{"\xc0\x80", 2},	 /* an overlong NUL */
		{"\xe0\x80\xaf", 3},	 /* an overlong '/' */
		{"\xed\xa0\x80", 3},	 /* a surrogate */
		{"\xf4\x90\x80\x80", 4}, /* past U+10FFFF */
		{"\x80text", 5},	 /* a stray continuation byte */
		{"a\0\xfe\xfd", 4},	 /* NUL and bytes that are not UTF-8 */
		{"\xff\xfe\xfd", 3},
	};
	unsigned char all[256], dec[512];
	size_t i, len;
	json_t *o, *v;
	char *line;
	long n;

	for (i = 0; i < sizeof tab / sizeof tab[0]; i++) {
		line = request("bin", tab[i].p, tab[i].len, i, 1, "r", &len);
		ck_assert_ptr_null(strstr(line, "\"payload\""));
		o = load(line, len);
		v = json_object_get(o, "payload_b64");
		ck_assert(json_is_string(v));
		n = b64_decode(json_string_value(v), dec);
		ck_assert_int_eq(n, (long)tab[i].len);
		ck_assert_mem_eq(dec, tab[i].p, tab[i].len);
		json_decref(o);
		free(line);
	}
	line = request("bin", "\xff\xfe\xfd", 3, 1, 1, "r", &len);
	ck_assert_str_eq(line, "{\"id\":\"bin\",\"n\":1,\"attempt\":1,\"run\":\"r\","
			       "\"payload_b64\":\"//79\"}\n");
	free(line);

	/* every byte value: padding of each length */
	for (i = 0; i < sizeof all; i++)
		all[i] = (unsigned char)(255 - i);
	for (i = 254; i <= 256; i++) {
		line = request("all", (const char *)all, i, 0, 1, "r", &len);
		o = load(line, len);
		n = b64_decode(json_string_value(json_object_get(o, "payload_b64")), dec);
		ck_assert_int_eq(n, (long)i);
		ck_assert_mem_eq(dec, all, i);
		json_decref(o);
		free(line);
	}
}
END_TEST

START_TEST(test_request_large)
{
	size_t plen = 1u << 20, len, i;
	char *p = malloc(plen), *line;
	json_t *o, *v;

	/* a payload of the largest size a task may have, half of it escaped */
	ck_assert_ptr_nonnull(p);
	for (i = 0; i < plen; i++)
		p[i] = i % 2 ? 'x' : '\n';
	line = request("big", p, plen, 1, 1, "r", &len);
	ck_assert_uint_gt(len, plen * 3 / 2);
	o = load(line, len);
	v = json_object_get(o, "payload");
	ck_assert_uint_eq(json_string_length(v), plen);
	ck_assert_mem_eq(json_string_value(v), p, plen);
	json_decref(o);
	free(line);
	free(p);
}
END_TEST

START_TEST(test_request_not_utf8_id)
{
	struct run_task t = {.id = (char *)"\xff", .payload = (char *)"x", .len = 1};
	size_t len = 77;

	ck_assert_ptr_null(run_pool_request(&t, 0, 1, "r", &len));
	t.id = (char *)"a";
	ck_assert_ptr_null(run_pool_request(&t, 0, 1, "r\xc3", &len));
	ck_assert_uint_eq(len, 77);
}
END_TEST

/* --- replies ------------------------------------------------------------------------ */

static int parse(const char *line, struct run_pool_reply *r, char *err)
{
	return run_pool_reply_parse(line, strlen(line), r, err, RUN_ERR);
}

static void assert_empty(const struct run_pool_reply *r)
{
	ck_assert_int_eq(r->kind, 0);
	ck_assert_ptr_null(r->id);
	ck_assert_int_eq(r->ok, 0);
	ck_assert_int_eq(r->exit_code, 0);
	ck_assert_ptr_null(r->output);
	ck_assert_uint_eq(r->output_len, 0);
	ck_assert_ptr_null(r->error);
	ck_assert_ptr_null(r->progress);
}

/* A reason is one line of UTF-8 text with no control byte. */
static void assert_reason(const char *err)
{
	size_t i, n, len = strlen(err);

	ck_assert_uint_gt(len, 0);
	for (i = 0; i < len; i += n) {
		ck_assert_msg((unsigned char)err[i] >= 0x20 && err[i] != 0x7f,
			      "control byte in \"%s\"", err);
		n = run_utf8_seq((const unsigned char *)err + i, len - i);
		ck_assert_msg(n > 0, "not UTF-8 at byte %zu of the reason", i);
	}
}

START_TEST(test_reply_ok)
{
	struct run_pool_reply r;
	char err[RUN_ERR];

	ck_assert_int_eq(parse("{\"id\":\"t1\",\"output\":\"two\\nlines\"}", &r, err), 0);
	ck_assert_int_eq(r.kind, RUN_POOL_REPLY);
	ck_assert_str_eq(r.id, "t1");
	ck_assert_int_eq(r.ok, 1);
	ck_assert_int_eq(r.exit_code, 0);
	ck_assert_str_eq(r.output, "two\nlines");
	ck_assert_uint_eq(r.output_len, 9);
	ck_assert_ptr_null(r.error);
	ck_assert_ptr_null(r.progress);
	ck_assert_str_eq(err, "");
	run_pool_reply_clear(&r);
	assert_empty(&r);
	run_pool_reply_clear(&r); /* twice is harmless */

	/* nothing but the id; whitespace around, a CR before the newline, unknown keys */
	ck_assert_int_eq(
		parse(" \t{ \"id\" : \"\xc3\xa9\" , \"x\":{\"y\":[1e300]},\"n\":3}\r ", &r, err),
		0);
	ck_assert_str_eq(r.id, "\xc3\xa9");
	ck_assert_int_eq(r.ok, 1);
	ck_assert_int_eq(r.exit_code, 0);
	ck_assert_ptr_null(r.output);
	ck_assert_uint_eq(r.output_len, 0);
	run_pool_reply_clear(&r);

	/* an explicit ok wins over an error, which is kept */
	ck_assert_int_eq(
		parse("{\"status\":\"ok\",\"id\":\"a\",\"error\":\"warning: slow\"}", &r, err), 0);
	ck_assert_int_eq(r.ok, 1);
	ck_assert_int_eq(r.exit_code, 0);
	ck_assert_str_eq(r.error, "warning: slow");
	run_pool_reply_clear(&r);

	/* an exit code does not decide the status */
	ck_assert_int_eq(parse("{\"id\":\"a\",\"exit_code\":3}", &r, err), 0);
	ck_assert_int_eq(r.ok, 1);
	ck_assert_int_eq(r.exit_code, 3);
	run_pool_reply_clear(&r);

	/* an empty id is the parser's to return and the caller's to refuse */
	ck_assert_int_eq(parse("{\"id\":\"\"}", &r, err), 0);
	ck_assert_str_eq(r.id, "");
	run_pool_reply_clear(&r);
}
END_TEST

START_TEST(test_reply_failed)
{
	struct run_pool_reply r;
	char err[RUN_ERR];

	ck_assert_int_eq(parse("{\"id\":\"t1\",\"status\":\"failed\"}", &r, err), 0);
	ck_assert_int_eq(r.kind, RUN_POOL_REPLY);
	ck_assert_int_eq(r.ok, 0);
	ck_assert_int_eq(r.exit_code, 1);
	ck_assert_ptr_null(r.error);
	ck_assert_ptr_null(r.output);
	run_pool_reply_clear(&r);

	/* an error makes the default status failed */
	ck_assert_int_eq(
		parse("{\"id\":\"t1\",\"error\":\"disk full\",\"output\":\"partial\"}", &r, err),
		0);
	ck_assert_int_eq(r.ok, 0);
	ck_assert_int_eq(r.exit_code, 1);
	ck_assert_str_eq(r.error, "disk full");
	ck_assert_str_eq(r.output, "partial");
	run_pool_reply_clear(&r);

	ck_assert_int_eq(parse("{\"id\":\"t1\",\"error\":\"\",\"exit_code\":0}", &r, err), 0);
	ck_assert_int_eq(r.ok, 0);
	ck_assert_int_eq(r.exit_code, 0);
	ck_assert_str_eq(r.error, "");
	run_pool_reply_clear(&r);

	ck_assert_int_eq(parse("{\"id\":\"t1\",\"status\":\"failed\",\"exit_code\":255}", &r, err),
			 0);
	ck_assert_int_eq(r.ok, 0);
	ck_assert_int_eq(r.exit_code, 255);
	run_pool_reply_clear(&r);
}
END_TEST

START_TEST(test_reply_output)
{
	static const struct {
		const char *in, *out;
		size_t len;
	} tab[] = {
		{"\"plain\"", "plain", 5},
		{"\"\"", "", 0},
		{"\"a\\u0000b\"", "a\0b", 3}, /* kept byte for byte */
		{"\"\\u00e9\\ud83d\\ude42\\/\"", "\xc3\xa9\xf0\x9f\x99\x82/", 7},
		{"{\"a\": [1, 2.5, null, \"s\"], \"b\" : true}",
		 "{\"a\":[1,2.5,null,\"s\"],\"b\":true}", 31},
		{"[ ]", "[]", 2},
		{"42", "42", 2},
		{"-0.5", "-0.5", 4},
		{"null", "null", 4},
		{"false", "false", 5},
		{"{\"nested\":\"x\\u0000\\n\"}", "{\"nested\":\"x\\u0000\\n\"}", 22},
	};
	struct run_pool_reply r;
	char line[256], err[RUN_ERR];
	size_t i;

	for (i = 0; i < sizeof tab / sizeof tab[0]; i++) {
		snprintf(line, sizeof line, "{\"id\":\"o\",\"output\":%s}", tab[i].in);
		ck_assert_msg(parse(line, &r, err) == 0, "%s: %s", line, err);
		ck_assert_ptr_nonnull(r.output);
		ck_assert_msg(r.output_len == tab[i].len, "%s: %zu bytes", line, r.output_len);
		ck_assert_mem_eq(r.output, tab[i].out, tab[i].len + 1);
		ck_assert_int_eq(r.ok, 1);
		run_pool_reply_clear(&r);
	}
}
END_TEST

START_TEST(test_heartbeat)
{
	static const struct {
		const char *in, *progress;
	} tab[] = {
		{"{\"heartbeat\":true}", NULL},
		{"{\"heartbeat\":true,\"progress\":{\"done\": 3, \"of\": 10}}",
		 "{\"done\":3,\"of\":10}"},
		{"{\"progress\":\"50%\",\"heartbeat\":true}", "\"50%\""},
		{"{\"heartbeat\":true,\"progress\":0.25}", "0.25"},
		{"{\"heartbeat\":true,\"progress\":null}", "null"},
		/* the other keys of a heartbeat mean nothing, an id included */
		{"{\"heartbeat\":true,\"id\":\"t1\",\"status\":\"bogus\",\"exit_code\":[]}", NULL},
	};
	struct run_pool_reply r;
	char err[RUN_ERR];
	size_t i;

	for (i = 0; i < sizeof tab / sizeof tab[0]; i++) {
		ck_assert_msg(parse(tab[i].in, &r, err) == 0, "%s: %s", tab[i].in, err);
		ck_assert_int_eq(r.kind, RUN_POOL_HEARTBEAT);
		ck_assert_ptr_null(r.id);
		ck_assert_ptr_null(r.output);
		ck_assert_ptr_null(r.error);
		if (tab[i].progress)
			ck_assert_str_eq(r.progress, tab[i].progress);
		else
			ck_assert_ptr_null(r.progress);
		run_pool_reply_clear(&r);
		assert_empty(&r);
	}
}
END_TEST

START_TEST(test_garbage)
{
	static const struct {
		const char *line, *err; /* err: the reason, or its start when it ends in '*' */
	} tab[] = {
		{"", "empty line"},
		{"   ", "invalid JSON: *"},
		{"\r", "invalid JSON: *"},
		{"ok", "invalid JSON: *"},
		{"done t1", "invalid JSON: *"},
		{"{", "invalid JSON: *"},
		{"{\"id\":\"a\"", "invalid JSON: *"},
		{"{\"id\":\"a\"}}", "invalid JSON: *"},
		{"{\"id\":\"a\"} {\"id\":\"b\"}", "invalid JSON: *"},
		{"{\"id\":'a'}", "invalid JSON: *"},
		{"{\"id\":\"a\",}", "invalid JSON: *"},
		{"{\"id\":\"a\",\"x\":1e999}", "invalid JSON: *"},
		{"{\"id\":\"a\",\"x\":123456789012345678901234567890}", "invalid JSON: *"},
		{"{\"id\":\"a\\ud800\"}", "invalid JSON: *"}, /* a lone surrogate escaped */
		{"{\"id\":\"a\tb\"}", "invalid JSON: *"},     /* a raw control character */
		{"{\"id\":\"a\",\"id\":\"b\"}", "invalid JSON: duplicate object key*"},
		{"42", "invalid JSON: *"},
		{"\"t1\"", "invalid JSON: *"},
		{"null", "invalid JSON: *"},
		{"[{\"id\":\"a\"}]", "not a JSON object"},
		{"[]", "not a JSON object"},
		{"{}", "missing \"id\""},
		{"{\"status\":\"ok\",\"output\":\"x\"}", "missing \"id\""},
		{"{\"ID\":\"a\"}", "missing \"id\""},
		{"{\"id\":1}", "\"id\" must be a string"},
		{"{\"id\":null}", "\"id\" must be a string"},
		{"{\"id\":[\"a\"]}", "\"id\" must be a string"},
		{"{\"id\":\"a\\u0000b\"}", "\"id\" must not contain NUL"},
		{"{\"id\":\"a\",\"status\":\"done\"}", "\"status\" must be \"ok\" or \"failed\""},
		{"{\"id\":\"a\",\"status\":\"OK\"}", "\"status\" must be \"ok\" or \"failed\""},
		{"{\"id\":\"a\",\"status\":\"ok \"}", "\"status\" must be \"ok\" or \"failed\""},
		{"{\"id\":\"a\",\"status\":\"ok\\u0000\"}",
		 "\"status\" must be \"ok\" or \"failed\""},
		{"{\"id\":\"a\",\"status\":\"\"}", "\"status\" must be \"ok\" or \"failed\""},
		{"{\"id\":\"a\",\"status\":true}", "\"status\" must be \"ok\" or \"failed\""},
		{"{\"id\":\"a\",\"status\":null}", "\"status\" must be \"ok\" or \"failed\""},
		{"{\"id\":\"a\",\"error\":5}", "\"error\" must be a string"},
		{"{\"id\":\"a\",\"error\":null}", "\"error\" must be a string"},
		{"{\"id\":\"a\",\"error\":{\"why\":\"x\"}}", "\"error\" must be a string"},
		{"{\"id\":\"a\",\"error\":\"x\\u0000\"}", "\"error\" must not contain NUL"},
		{"{\"id\":\"a\",\"exit_code\":\"1\"}", "\"exit_code\" must be an integer 0..255"},
		{"{\"id\":\"a\",\"exit_code\":1.0}", "\"exit_code\" must be an integer 0..255"},
		{"{\"id\":\"a\",\"exit_code\":-1}", "\"exit_code\" must be an integer 0..255"},
		{"{\"id\":\"a\",\"exit_code\":256}", "\"exit_code\" must be an integer 0..255"},
		{"{\"id\":\"a\",\"exit_code\":null}", "\"exit_code\" must be an integer 0..255"},
		{"{\"heartbeat\":false}", "\"heartbeat\" must be true"},
		{"{\"heartbeat\":1}", "\"heartbeat\" must be true"},
		{"{\"heartbeat\":\"true\"}", "\"heartbeat\" must be true"},
		{"{\"id\":\"a\",\"heartbeat\":null}", "\"heartbeat\" must be true"},
		/* bytes that are not UTF-8, in a string or between tokens */
		{"{\"id\":\"\xff\"}", "invalid UTF-8 at byte 7"},
		{"{\"id\":\"a\"}\xc3", "invalid UTF-8 at byte 10"},
		{"\xef\xbb\xbf{\"id\":\"a\"}", "invalid JSON: *"}, /* a BOM is not whitespace */
		{"{\"id\":\"\xed\xa0\x80\"}", "invalid UTF-8 at byte 7"},
		{"{\"id\":\"\xc0\xaf\"}", "invalid UTF-8 at byte 7"},
		{"{\"id\":\"\xf4\x90\x80\x80\"}", "invalid UTF-8 at byte 7"},
		{"\x80", "invalid UTF-8 at byte 0"},
		/* jansson quotes the input: control bytes must not reach the reason */
		{"\x01\x02\x1b[31m", "invalid JSON: *"},
		{"{\"id\":\"a\"}\x1b", "invalid JSON: *"},
	};
	struct run_pool_reply r;
	char err[RUN_ERR];
	size_t i, n;

	for (i = 0; i < sizeof tab / sizeof tab[0]; i++) {
		memset(&r, 0xa5, sizeof r);
		memset(err, 0, sizeof err);
		ck_assert_msg(parse(tab[i].line, &r, err) == -1, "accepted: %s", tab[i].line);
		assert_empty(&r);
		assert_reason(err);
		n = strlen(tab[i].err);
		if (tab[i].err[n - 1] == '*')
			ck_assert_msg(strncmp(err, tab[i].err, n - 1) == 0, "%s: \"%s\"",
				      tab[i].line, err);
		else
			ck_assert_msg(strcmp(err, tab[i].err) == 0, "%s: \"%s\"", tab[i].line, err);
	}
}
END_TEST

START_TEST(test_garbage_bytes)
{
	static const char nul[] = "{\"id\":\"a\0\"}", nul2[] = "{\"id\":\"a\"}\0";
	static const char good[] = "{\"id\":\"a\",\"output\":{\"x\":[1,2]},\"status\":\"failed\"}";
	struct run_pool_reply r;
	char err[RUN_ERR], small[12];
	size_t i;

	/* a raw NUL, in a string or after the object */
	ck_assert_int_eq(run_pool_reply_parse(nul, sizeof nul - 1, &r, err, sizeof err), -1);
	assert_reason(err);
	ck_assert_int_eq(run_pool_reply_parse(nul2, sizeof nul2 - 1, &r, err, sizeof err), -1);
	assert_reason(err);
	assert_empty(&r);

	/* a good line cut anywhere is garbage; the bytes after len are never read */
	for (i = 0; i < sizeof good - 1; i++) {
		char *cut = malloc(i ? i : 1);

		ck_assert_ptr_nonnull(cut);
		memcpy(cut, good, i);
		ck_assert_int_eq(run_pool_reply_parse(i ? cut : NULL, i, &r, err, sizeof err), -1);
		assert_empty(&r);
		assert_reason(err);
		free(cut);
	}
	ck_assert_int_eq(run_pool_reply_parse(good, sizeof good - 1, &r, err, sizeof err), 0);
	ck_assert_int_eq(r.ok, 0);
	ck_assert_str_eq(r.output, "{\"x\":[1,2]}");
	run_pool_reply_clear(&r);

	/* a small err gets the reason cut, between characters; none at all is fine */
	ck_assert_int_eq(run_pool_reply_parse("{}", 2, &r, small, sizeof small), -1);
	ck_assert_str_eq(small, "missing \"id");
	ck_assert_int_eq(run_pool_reply_parse("{}", 2, &r, small, 1), -1);
	ck_assert_str_eq(small, "");
	ck_assert_int_eq(run_pool_reply_parse("{}", 2, &r, NULL, 0), -1);
	ck_assert_int_eq(run_pool_reply_parse("{\"id\":\"a\"}", 10, &r, NULL, 0), 0);
	run_pool_reply_clear(&r);
}
END_TEST

START_TEST(test_garbage_deep)
{
	size_t depth = 100000, len = 0, i;
	char *line = malloc(2 * depth + 32), err[RUN_ERR];
	struct run_pool_reply r;

	/* nesting deeper than jansson follows is refused, without a deep recursion */
	ck_assert_ptr_nonnull(line);
	len += (size_t)sprintf(line, "{\"id\":\"a\",\"x\":");
	for (i = 0; i < depth; i++)
		line[len++] = '[';
	for (i = 0; i < depth; i++)
		line[len++] = ']';
	line[len++] = '}';
	ck_assert_int_eq(run_pool_reply_parse(line, len, &r, err, sizeof err), -1);
	ck_assert_msg(strncmp(err, "invalid JSON: ", 14) == 0, "%s", err);
	assert_empty(&r);
	free(line);
}
END_TEST

START_TEST(test_garbage_long)
{
	size_t max = RUN_POOL_LINE_MAX;
	char *line = malloc(max + 1), err[RUN_ERR];
	struct run_pool_reply r;

	/* the longest line is still a reply; one byte more is garbage */
	ck_assert_ptr_nonnull(line);
	memset(line, ' ', max + 1);
	memcpy(line, "{\"id\":\"a\",\"output\":\"", 20);
	memset(line + 20, 'x', 1000);
	memcpy(line + 1020, "\"}", 2);
	ck_assert_int_eq(run_pool_reply_parse(line, max, &r, err, sizeof err), 0);
	ck_assert_uint_eq(r.output_len, 1000);
	run_pool_reply_clear(&r);
	ck_assert_int_eq(run_pool_reply_parse(line, max + 1, &r, err, sizeof err), -1);
	ck_assert_str_eq(err, "line longer than 4194304 bytes");
	assert_empty(&r);
	free(line);
}
END_TEST

/* --- the line buffer ---------------------------------------------------------------- */

/* A pipe whose read end (p[0]) does not block. */
static void nb_pipe(int p[2])
{
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_eq(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
}

/* The next line from fd through lb, waiting for it: 1 (a line), 0 (end of file; what
 * is left of a line is in lb), -1 (a line too long). */
static int next_line(struct run_linebuf *lb, int fd, const char **line, size_t *len)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	ssize_t n;
	int rc;

	for (;;) {
		if ((rc = run_linebuf_next(lb, line, len)) != 0)
			return rc;
		n = run_linebuf_fill(lb, fd);
		if (n == 0)
			return 0;
		if (n == -EAGAIN)
			ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
		else
			ck_assert_msg(n > 0, "fill: %s", strerror((int)-n));
	}
}

/* A small deterministic generator of sizes and bytes. */
static uint32_t lcg(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

START_TEST(test_linebuf_split)
{
	struct run_linebuf lb = {0};
	size_t want = 200000, sent = 0, len;
	char *text = malloc(want);
	const char *line;
	uint32_t seed = 1;
	int p[2];

	/* one long line in reads of 1..4096 bytes: each byte is scanned once */
	ck_assert_ptr_nonnull(text);
	for (len = 0; len < want; len++)
		text[len] = (char)('a' + len % 26);
	nb_pipe(p);
	while (sent < want) {
		size_t n = lcg(&seed) % 4096 + 1;

		if (n > want - sent)
			n = want - sent;
		ck_assert_int_eq(unit_write_full(p[1], text + sent, n), 0);
		sent += n;
		ck_assert_int_eq(run_linebuf_fill(&lb, p[0]), (ssize_t)n);
		ck_assert_int_eq(run_linebuf_next(&lb, &line, &len), 0);
		ck_assert_ptr_null(line);
		ck_assert_uint_eq(len, 0);
		ck_assert_uint_eq(lb.len, sent);
		ck_assert_uint_eq(lb.scanned, sent);
		ck_assert_uint_le(lb.len, lb.cap);
	}
	ck_assert_int_eq(run_linebuf_fill(&lb, p[0]), -EAGAIN);
	ck_assert_int_eq(unit_write_full(p[1], "\r\n", 2), 0);
	ck_assert_int_eq(run_linebuf_fill(&lb, p[0]), 2);
	ck_assert_int_eq(run_linebuf_next(&lb, &line, &len), 1);
	ck_assert_uint_eq(len, want);
	ck_assert_mem_eq(line, text, want);
	ck_assert_int_eq(run_linebuf_next(&lb, &line, &len), 0);
	ck_assert_uint_eq(lb.len, 0);
	run_linebuf_free(&lb);
	ck_assert_ptr_null(lb.buf);
	ck_assert_uint_eq(lb.cap, 0);
	run_linebuf_free(&lb);
	close(p[0]);
	close(p[1]);
	free(text);
}
END_TEST

START_TEST(test_linebuf_many)
{
	static const char text[] = "a\nbb\n\nccc\r\n\r\nx\r\r\n{\"id\":\"t\"}\nd\r";
	static const struct {
		size_t off;
		const char *s;
	} want[] = {{0, "a"},
		    {2, "bb"},
		    {5, ""},
		    {6, "ccc"},
		    {11, ""},
		    {13, "x\r"},
		    {17, "{\"id\":\"t\"}"}};
	struct run_linebuf lb = {0};
	const char *line, *buf;
	size_t len, i;
	int p[2];

	/* several lines in one read, handed out where they are: nothing moves */
	nb_pipe(p);
	ck_assert_int_eq(unit_write_full(p[1], text, sizeof text - 1), 0);
	ck_assert_int_eq(run_linebuf_fill(&lb, p[0]), (ssize_t)sizeof text - 1);
	buf = lb.buf;
	for (i = 0; i < sizeof want / sizeof want[0]; i++) {
		ck_assert_int_eq(run_linebuf_next(&lb, &line, &len), 1);
		ck_assert_ptr_eq(line, buf + want[i].off);
		ck_assert_uint_eq(len, strlen(want[i].s));
		ck_assert_mem_eq(line, want[i].s, len);
	}
	/* then the rest moves to the front: a CR stays until its line ends */
	ck_assert_int_eq(run_linebuf_next(&lb, &line, &len), 0);
	ck_assert_uint_eq(lb.len, 2);
	ck_assert_mem_eq(lb.buf, "d\r", 2);
	ck_assert_int_eq(unit_write_full(p[1], "\n\n", 2), 0);
	ck_assert_int_eq(run_linebuf_fill(&lb, p[0]), 2);
	ck_assert_int_eq(run_linebuf_next(&lb, &line, &len), 1);
	ck_assert_uint_eq(len, 1);
	ck_assert_mem_eq(line, "d", 1);
	ck_assert_int_eq(run_linebuf_next(&lb, &line, &len), 1);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(run_linebuf_next(&lb, &line, &len), 0);
	ck_assert_uint_eq(lb.len, 0);
	run_linebuf_free(&lb);
	close(p[0]);
	close(p[1]);
}
END_TEST

/* Forks a process that writes data[0..len) to a pipe in chunks of 1..chunk bytes, then
 * exits (end of file); *rfd is the pipe's non-blocking read end. */
static pid_t writer(const char *data, size_t len, size_t chunk, int *rfd)
{
	uint32_t seed = (uint32_t)len;
	pid_t pid;
	int p[2];

	nb_pipe(p);
	pid = unit_fork();
	if (pid == 0) {
		size_t off = 0;

		close(p[0]);
		while (off < len) {
			size_t n = lcg(&seed) % chunk + 1;

			if (n > len - off)
				n = len - off;
			if (unit_write_full(p[1], data + off, n) < 0)
				_exit(1);
			off += n;
		}
		_exit(0);
	}
	close(p[1]);
	*rfd = p[0];
	return pid;
}

START_TEST(test_linebuf_max)
{
	size_t max = RUN_POOL_LINE_MAX, len;
	char *data = malloc(2 * max + 16);
	struct run_linebuf lb = {0};
	const char *line;
	pid_t pid;
	int fd;

	/* the longest line, then one byte longer (a CR counts: it is before the '\n') */
	ck_assert_ptr_nonnull(data);
	memset(data, 'x', max);
	data[max] = '\n';
	memset(data + max + 1, 'y', max);
	memcpy(data + 2 * max + 1, "\r\nz\n", 4);
	pid = writer(data, 2 * max + 5, 65536, &fd);
	ck_assert_int_eq(next_line(&lb, fd, &line, &len), 1);
	ck_assert_uint_eq(len, max);
	ck_assert_int_eq(line[0], 'x');
	ck_assert_int_eq(line[max - 1], 'x');
	ck_assert_int_eq(next_line(&lb, fd, &line, &len), -1);
	ck_assert_ptr_null(line);
	ck_assert_int_eq(run_linebuf_next(&lb, &line, &len), -1); /* it stays so */
	ck_assert_uint_le(lb.cap, max + 1);
	ck_assert_int_eq(run_linebuf_fill(&lb, fd), -ENOBUFS);
	run_linebuf_free(&lb);
	close(fd);
	unit_reap(pid, 10000); /* done, or killed by SIGPIPE */

	/* a line too long is found before it ends */
	memset(data, 'w', max + 1);
	pid = writer(data, max + 1, 4096, &fd);
	ck_assert_int_eq(next_line(&lb, fd, &line, &len), -1);
	ck_assert_uint_eq(lb.len, max + 1);
	run_linebuf_free(&lb);
	close(fd);
	ck_assert_int_eq(unit_reap(pid, 10000), 0);
	free(data);
}
END_TEST

START_TEST(test_linebuf_eof)
{
	struct run_linebuf lb = {0};
	const char *line;
	size_t len;
	int p[2];

	nb_pipe(p);
	ck_assert_int_eq(run_linebuf_fill(&lb, p[0]), -EAGAIN);
	ck_assert_int_eq(run_linebuf_next(&lb, &line, &len), 0);
	ck_assert_ptr_null(line);
	ck_assert_int_eq(unit_write_full(p[1], "x\npartial", 9), 0);
	close(p[1]);
	ck_assert_int_eq(next_line(&lb, p[0], &line, &len), 1);
	ck_assert_uint_eq(len, 1);
	ck_assert_mem_eq(line, "x", 1);
	/* end of file: what the writer left unfinished is in the buffer, and only that */
	ck_assert_int_eq(next_line(&lb, p[0], &line, &len), 0);
	ck_assert_uint_eq(lb.len, 7);
	ck_assert_mem_eq(lb.buf, "partial", 7);
	ck_assert_int_eq(run_linebuf_fill(&lb, p[0]), 0);
	ck_assert_int_eq(run_linebuf_next(&lb, &line, &len), 0);
	ck_assert_uint_eq(lb.len, 7);
	close(p[0]);

	/* a closed or bad descriptor */
	ck_assert_int_eq(run_linebuf_fill(&lb, p[0]), -EBADF);
	ck_assert_int_eq(run_linebuf_fill(&lb, -1), -EBADF);
	ck_assert_uint_eq(lb.len, 7);
	run_linebuf_free(&lb);
}
END_TEST

START_TEST(test_linebuf_full)
{
	size_t nlines = 100000, each = 100, i, len;
	char *data = malloc(nlines * each + 1), want[128];
	struct run_linebuf lb = {0};
	struct pollfd pfd;
	const char *line;
	ssize_t n;
	pid_t pid;
	int fd;

	/* 10 MB of lines, read without taking any until the buffer is full */
	ck_assert_ptr_nonnull(data);
	for (i = 0; i < nlines; i++)
		snprintf(data + i * each, each + 1, "%0*zu\n", (int)each - 1, i);
	pid = writer(data, nlines * each, 65536, &fd);
	pfd = (struct pollfd){.fd = fd, .events = POLLIN};
	while ((n = run_linebuf_fill(&lb, fd)) != -ENOBUFS) {
		if (n == -EAGAIN)
			ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
		else
			ck_assert_int_gt(n, 0);
	}
	ck_assert_uint_eq(lb.len, RUN_POOL_LINE_MAX + 1);
	ck_assert_uint_eq(lb.cap, RUN_POOL_LINE_MAX + 1);
	/* taking lines makes room again, and none is lost or torn */
	for (i = 0; i < nlines; i++) {
		ck_assert_int_eq(next_line(&lb, fd, &line, &len), 1);
		snprintf(want, sizeof want, "%0*zu", (int)each - 1, i);
		ck_assert_uint_eq(len, each - 1);
		ck_assert_mem_eq(line, want, len);
		ck_assert_uint_le(lb.cap, RUN_POOL_LINE_MAX + 1);
	}
	ck_assert_int_eq(next_line(&lb, fd, &line, &len), 0);
	ck_assert_uint_eq(lb.len, 0);
	run_linebuf_free(&lb);
	close(fd);
	ck_assert_int_eq(unit_reap(pid, 10000), 0);
	free(data);
}
END_TEST

START_TEST(test_linebuf_stream)
{
	size_t nlines = 3000, cap = 64u << 20, off = 0, i, len,
	       *lens = malloc(nlines * sizeof *lens);
	char *data = malloc(cap);
	struct run_linebuf lb = {0};
	struct run_pool_reply r;
	char err[RUN_ERR];
	const char *line;
	uint32_t seed = 7;
	pid_t pid;
	int fd;

	/* replies of all lengths, some with CRLF, a few of 1 MB, in reads of any size */
	ck_assert_ptr_nonnull(data);
	ck_assert_ptr_nonnull(lens);
	for (i = 0; i < nlines; i++) {
		uint32_t k = lcg(&seed);
		size_t olen = k % 100 ? k % 5000 : k % 300 ? (k >> 8) % 70000 : 1u << 20;

		off += (size_t)sprintf(data + off, "{\"id\":\"%zu\",\"output\":\"", i);
		memset(data + off, 'a' + (int)(i % 26), olen);
		off += olen;
		off += (size_t)sprintf(data + off, "\"}%s", k & 256 ? "\r\n" : "\n");
		lens[i] = olen;
		ck_assert_uint_lt(off, cap - (2u << 20));
	}
	pid = writer(data, off, 100000, &fd);
	for (i = 0; i < nlines; i++) {
		char id[32];

		ck_assert_int_eq(next_line(&lb, fd, &line, &len), 1);
		ck_assert_int_eq(run_pool_reply_parse(line, len, &r, err, sizeof err), 0);
		snprintf(id, sizeof id, "%zu", i);
		ck_assert_str_eq(r.id, id);
		ck_assert_uint_eq(r.output_len, lens[i]);
		ck_assert(lens[i] == 0 || (r.output[0] == 'a' + (int)(i % 26) &&
					   r.output[lens[i] - 1] == r.output[0]));
		run_pool_reply_clear(&r);
	}
	ck_assert_int_eq(next_line(&lb, fd, &line, &len), 0);
	ck_assert_uint_eq(lb.len, 0);
	run_linebuf_free(&lb);
	close(fd);
	ck_assert_int_eq(unit_reap(pid, 10000), 0);
	free(lens);
	free(data);
}
END_TEST

Suite *suite_pool(void)
{
	Suite *s = suite_create("pool");
	TCase *tq = tcase_create("request");
	TCase *tr = tcase_create("reply");
	TCase *tl = tcase_create("linebuf");

	tcase_add_test(tq, test_request_text);
	tcase_add_test(tq, test_request_escapes);
	tcase_add_test(tq, test_request_binary);
	tcase_add_test(tq, test_request_large);
	tcase_add_test(tq, test_request_not_utf8_id);
	suite_add_tcase(s, tq);
	tcase_add_test(tr, test_reply_ok);
	tcase_add_test(tr, test_reply_failed);
	tcase_add_test(tr, test_reply_output);
	tcase_add_test(tr, test_heartbeat);
	tcase_add_test(tr, test_garbage);
	tcase_add_test(tr, test_garbage_bytes);
	tcase_add_test(tr, test_garbage_deep);
	tcase_add_test(tr, test_garbage_long);
	suite_add_tcase(s, tr);
	tcase_add_test(tl, test_linebuf_split);
	tcase_add_test(tl, test_linebuf_many);
	tcase_add_test(tl, test_linebuf_max);
	tcase_add_test(tl, test_linebuf_eof);
	tcase_add_test(tl, test_linebuf_full);
	tcase_add_test(tl, test_linebuf_stream);
	tcase_set_timeout(tl, 60);
	suite_add_tcase(s, tl);
	return s;
}
