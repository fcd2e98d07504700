/*
 * test_tasks.c - the task list of `muster run` (src/run/task.c): plain and JSON lines,
 * every error message, the checks on ids, deps and cycles, and a task's encoding as a
 * bus message.
 */
#define _GNU_SOURCE
#include "unit.h"

#include "run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses the C string line as line lineno into ts; returns run_task_parse's result. */
static int parse(struct run_tasks *ts, const char *line, size_t lineno, char *err)
{
	return run_task_parse(ts, line, strlen(line), lineno, err, RUN_ERR);
}

/* Reads the text s as a task file into ts. */
static int read_text(struct run_tasks *ts, const char *s, size_t len, char *err)
{
	FILE *f = fmemopen((void *)s, len, "r");
	int rc;

	ck_assert_ptr_nonnull(f);
	rc = run_tasks_read(ts, f, err, RUN_ERR);
	fclose(f);
	return rc;
}

/* --- parsing ----------------------------------------------------------------------- */

START_TEST(test_plain_lines)
{
	static const char text[] = "compile libfoo\n"
				   "\n"
				   "  \t \r\n"
				   "run tests\r\n"
				   "\tleading blanks stay \n"
				   "\r\n"
				   "a \"quoted\" {x}\n"
				   "last, no newline";
	struct run_tasks ts = {0};
	char err[RUN_ERR];

	ck_assert_int_eq(read_text(&ts, text, sizeof text - 1, err), 0);
	ck_assert_uint_eq(ts.n, 5);
	ck_assert_str_eq(ts.v[0].id, "1");
	ck_assert_str_eq(ts.v[0].payload, "compile libfoo");
	ck_assert_uint_eq(ts.v[0].len, 14);
	ck_assert_str_eq(ts.v[1].id, "4");
	ck_assert_str_eq(ts.v[1].payload, "run tests"); /* the '\r' is stripped */
	ck_assert_uint_eq(ts.v[1].len, 9);
	ck_assert_str_eq(ts.v[2].id, "5");
	ck_assert_str_eq(ts.v[2].payload, "\tleading blanks stay ");
	ck_assert_str_eq(ts.v[3].id, "7");
	ck_assert_str_eq(ts.v[3].payload, "a \"quoted\" {x}");
	ck_assert_str_eq(ts.v[4].id, "8");
	ck_assert_str_eq(ts.v[4].payload, "last, no newline");
	ck_assert_int_eq(ts.v[4].priority, 0);
	ck_assert_int_eq(ts.v[4].timeout_ms, 0);
	ck_assert_int_eq(ts.v[4].retries, -1);
	ck_assert_uint_eq(ts.v[4].ndeps, 0);
	ck_assert_ptr_null(ts.v[4].deps);
	ck_assert_int_eq(run_tasks_check(&ts, err, sizeof err), 0);
	run_tasks_free(&ts);
	ck_assert_ptr_null(ts.v);
	ck_assert_uint_eq(ts.n, 0);
	ck_assert_uint_eq(ts.cap, 0);
}
END_TEST

START_TEST(test_plain_binary)
{
	static const char line[] = "a\0b\xff\xfe\r";
	struct run_tasks ts = {0};
	char err[RUN_ERR];

	/* any byte but a newline; only the one trailing '\r' goes */
	ck_assert_int_eq(run_task_parse(&ts, line, sizeof line - 1, 3, err, sizeof err), 0);
	ck_assert_int_eq(run_task_parse(&ts, "x\r\r", 3, 4, err, sizeof err), 0);
	ck_assert_int_eq(run_task_parse(&ts, "", 0, 5, err, sizeof err), 0);
	ck_assert_int_eq(run_task_parse(&ts, "\r", 1, 6, err, sizeof err), 0);
	ck_assert_uint_eq(ts.n, 2);
	ck_assert_str_eq(ts.v[0].id, "3");
	ck_assert_uint_eq(ts.v[0].len, 5);
	ck_assert_mem_eq(ts.v[0].payload, "a\0b\xff\xfe", 6);
	ck_assert_uint_eq(ts.v[1].len, 2);
	ck_assert_str_eq(ts.v[1].payload, "x\r");
	run_tasks_free(&ts);
}
END_TEST

START_TEST(test_json_fields)
{
	struct run_tasks ts = {0};
	char err[RUN_ERR];
	struct run_task *t;

	ck_assert_int_eq(parse(&ts,
			       "  {\"id\":\"build\",\"payload\":\"make -j2\",\"priority\":7,"
			       "\"deps\":[\"fetch\",42],\"timeout\":2.5,\"retries\":3,"
			       "\"unknown\":{\"x\":[1]}}",
			       1, err),
			 0);
	ck_assert_uint_eq(ts.n, 1);
	t = &ts.v[0];
	ck_assert_str_eq(t->id, "build");
	ck_assert_str_eq(t->payload, "make -j2");
	ck_assert_uint_eq(t->len, 8);
	ck_assert_int_eq(t->priority, 7);
	ck_assert_int_eq(t->timeout_ms, 2500);
	ck_assert_int_eq(t->retries, 3);
	ck_assert_uint_eq(t->ndeps, 2);
	ck_assert_str_eq(t->deps[0], "fetch");
	ck_assert_str_eq(t->deps[1], "42");
	ck_assert_ptr_null(t->dep_idx);

	/* an integer id, edge values, and a payload that is not a string */
	ck_assert_int_eq(parse(&ts,
			       "{\"id\":-17,\"payload\":{\"k\": [1, 2.5, null, \"s\"]},"
			       "\"priority\":9,\"retries\":1000,\"timeout\":3,\"deps\":[]}\r",
			       2, err),
			 0);
	t = &ts.v[1];
	ck_assert_str_eq(t->id, "-17");
	ck_assert_str_eq(t->payload, "{\"k\":[1,2.5,null,\"s\"]}");
	ck_assert_uint_eq(t->len, strlen(t->payload));
	ck_assert_int_eq(t->priority, 9);
	ck_assert_int_eq(t->retries, 1000);
	ck_assert_int_eq(t->timeout_ms, 3000);
	ck_assert_uint_eq(t->ndeps, 0);

	/* a payload with NUL and non-ASCII text, kept by its length */
	ck_assert_int_eq(parse(&ts, "{\"payload\":\"a\\u0000b\\u00e9\",\"retries\":0}", 3, err), 0);
	t = &ts.v[2];
	ck_assert_str_eq(t->id, "3");
	ck_assert_uint_eq(t->len, 5);
	ck_assert_mem_eq(t->payload, "a\0b\xc3\xa9", 6);
	ck_assert_int_eq(t->retries, 0);

	ck_assert_int_eq(parse(&ts, "{\"payload\":42}", 4, err), 0);
	ck_assert_str_eq(ts.v[3].payload, "42");
	ck_assert_int_eq(parse(&ts, "{\"payload\":null}", 5, err), 0);
	ck_assert_str_eq(ts.v[4].payload, "null");
	ck_assert_int_eq(parse(&ts, "{\"payload\":\"\"}", 6, err), 0);
	ck_assert_uint_eq(ts.v[5].len, 0);
	ck_assert_str_eq(ts.v[5].payload, "");
	ck_assert_uint_eq(ts.n, 6);
	run_tasks_free(&ts);
}
END_TEST

START_TEST(test_json_defaults)
{
	struct run_tasks ts = {0};
	char err[RUN_ERR];
	const struct run_task *t;

	ck_assert_int_eq(parse(&ts, "{\"payload\":\"x\"}", 7, err), 0);
	t = &ts.v[0];
	ck_assert_str_eq(t->id, "7");
	ck_assert_str_eq(t->payload, "x");
	ck_assert_int_eq(t->priority, 0);
	ck_assert_int_eq(t->timeout_ms, 0);
	ck_assert_int_eq(t->retries, -1);
	ck_assert_uint_eq(t->ndeps, 0);
	ck_assert_ptr_null(t->deps);
	ck_assert_ptr_null(t->dep_idx);
	run_tasks_free(&ts);
}
END_TEST

START_TEST(test_json_timeout_rounding)
{
	static const struct {
		const char *in;
		int64_t ms;
	} tab[] = {
		{"1", 1000},
		{"1.1", 1100},
		{"0.001", 1},
		{"0.0001", 1},
		{"1e-9", 1},
		{"0.0015", 2},
		{"2.0011", 2002},
		{"0.3", 300},
		{"86400", 86400000},
		{"1e9", 1000000000000},
		{"999999999.999", 999999999999},
	};
	struct run_tasks ts = {0};
	char line[128], err[RUN_ERR];
	size_t i;

	for (i = 0; i < sizeof tab / sizeof tab[0]; i++) {
		snprintf(line, sizeof line, "{\"payload\":\"x\",\"timeout\":%s}", tab[i].in);
		ck_assert_msg(parse(&ts, line, i + 1, err) == 0, "%s: %s", line, err);
		ck_assert_msg(ts.v[i].timeout_ms == tab[i].ms, "timeout %s: %lld ms", tab[i].in,
			      (long long)ts.v[i].timeout_ms);
	}
	run_tasks_free(&ts);
}
END_TEST

START_TEST(test_parse_errors)
{
	static const struct {
		const char *line, *err;
	} tab[] = {
		{"{\"payload\":\"x\",\"priority\":10}",
		 "line 7: \"priority\" must be an integer 0..9"},
		{"{\"payload\":\"x\",\"priority\":-1}",
		 "line 7: \"priority\" must be an integer 0..9"},
		{"{\"payload\":\"x\",\"priority\":1.0}",
		 "line 7: \"priority\" must be an integer 0..9"},
		{"{\"payload\":\"x\",\"priority\":\"1\"}",
		 "line 7: \"priority\" must be an integer 0..9"},
		{"{\"payload\":\"x\",\"retries\":1001}",
		 "line 7: \"retries\" must be an integer 0..1000"},
		{"{\"payload\":\"x\",\"retries\":-1}",
		 "line 7: \"retries\" must be an integer 0..1000"},
		{"{\"payload\":\"x\",\"retries\":null}",
		 "line 7: \"retries\" must be an integer 0..1000"},
		{"{\"payload\":\"x\",\"timeout\":0}",
		 "line 7: \"timeout\" must be a number of seconds > 0 (at most 1000000000)"},
		{"{\"payload\":\"x\",\"timeout\":-0.5}",
		 "line 7: \"timeout\" must be a number of seconds > 0 (at most 1000000000)"},
		{"{\"payload\":\"x\",\"timeout\":1e300}",
		 "line 7: \"timeout\" must be a number of seconds > 0 (at most 1000000000)"},
		{"{\"payload\":\"x\",\"timeout\":\"5s\"}",
		 "line 7: \"timeout\" must be a number of seconds > 0 (at most 1000000000)"},
		{"{\"payload\":\"x\",\"deps\":\"a\"}",
		 "line 7: \"deps\" must be an array of task ids (strings or integers)"},
		{"{\"payload\":\"x\",\"deps\":[\"a\",true]}",
		 "line 7: \"deps\" must be an array of task ids (strings or integers)"},
		{"{\"payload\":\"x\",\"deps\":[\"\"]}",
		 "line 7: a task id in \"deps\" must not be empty"},
		{"{\"payload\":\"x\",\"id\":[1]}", "line 7: \"id\" must be a string or an integer"},
		{"{\"payload\":\"x\",\"id\":1.5}", "line 7: \"id\" must be a string or an integer"},
		{"{\"payload\":\"x\",\"id\":\"\"}", "line 7: \"id\" must not be empty"},
		{"{\"payload\":\"x\",\"id\":\"a\\u0000b\"}", "line 7: \"id\" must not contain NUL"},
		{"{\"id\":\"a\"}", "line 7: missing \"payload\""},
		{"{}", "line 7: missing \"payload\""},
		{"{\"payload\":\"x\"",
		 "line 7: invalid JSON: '}' expected near end of file (column 14)"},
		{"{\"payload\":\"x\"} x",
		 "line 7: invalid JSON: end of file expected near 'x' (column 17)"},
		{"{payload:1}",
		 "line 7: invalid JSON: string or '}' expected near 'payload' (column 8)"},
		{"{\"payload\":\"x\",\"priority\":123456789012345678901234567890}",
		 "line 7: invalid JSON: too big integer (column 56)"},
		{"{\"payload\":\"a\",\"payload\":\"b\"}",
		 "line 7: invalid JSON: duplicate object key near '\"payload\"' (column 24)"},
	};
	struct run_tasks ts = {0};
	char err[RUN_ERR];
	size_t i;

	for (i = 0; i < sizeof tab / sizeof tab[0]; i++) {
		ck_assert_msg(parse(&ts, tab[i].line, 7, err) == -1, "accepted: %s", tab[i].line);
		ck_assert_msg(!strcmp(err, tab[i].err), "%s\n  got:  %s\n  want: %s", tab[i].line,
			      err, tab[i].err);
		ck_assert_uint_eq(ts.n, 0);
	}
	run_tasks_free(&ts);
}
END_TEST

START_TEST(test_parse_limits)
{
	struct run_tasks ts = {0};
	char err[RUN_ERR], *big, *line;
	size_t mib = 1u << 20;

	/* an id of 256 bytes is fine, of 257 not (in "id" and in "deps") */
	line = malloc(600);
	ck_assert_ptr_nonnull(line);
	snprintf(line, 600, "{\"id\":\"%0256d\",\"payload\":\"x\"}", 1);
	ck_assert_int_eq(parse(&ts, line, 1, err), 0);
	ck_assert_uint_eq(strlen(ts.v[0].id), 256);
	snprintf(line, 600, "{\"id\":\"%0257d\",\"payload\":\"x\"}", 1);
	ck_assert_int_eq(parse(&ts, line, 2, err), -1);
	ck_assert_str_eq(err, "line 2: \"id\" is longer than 256 bytes");
	snprintf(line, 600, "{\"deps\":[\"%0257d\"],\"payload\":\"x\"}", 1);
	ck_assert_int_eq(parse(&ts, line, 3, err), -1);
	ck_assert_str_eq(err, "line 3: a task id in \"deps\" is longer than 256 bytes");
	free(line);

	/* a payload of 1 MiB is fine, one byte more is not, plain or JSON */
	big = malloc(mib + 64);
	ck_assert_ptr_nonnull(big);
	memset(big, 'p', mib + 64);
	ck_assert_int_eq(run_task_parse(&ts, big, mib, 4, err, sizeof err), 0);
	ck_assert_uint_eq(ts.v[1].len, mib);
	ck_assert_int_eq(run_task_parse(&ts, big, mib + 1, 5, err, sizeof err), -1);
	ck_assert_str_eq(err, "line 5: payload is longer than 1 MiB");
	memcpy(big, "{\"payload\":\"", 12);
	memcpy(big + 12 + mib + 1, "\"}", 2);
	ck_assert_int_eq(run_task_parse(&ts, big, mib + 15, 6, err, sizeof err), -1);
	ck_assert_str_eq(err, "line 6: payload is longer than 1 MiB");
	memcpy(big + 12 + mib, "\"}", 2);
	ck_assert_int_eq(run_task_parse(&ts, big, mib + 14, 7, err, sizeof err), 0);
	ck_assert_uint_eq(ts.v[2].len, mib);
	ck_assert_uint_eq(ts.n, 3);
	free(big);

	/* a short err buffer is cut, never overrun */
	ck_assert_int_eq(run_task_parse(&ts, "{}", 2, 8, err, 8), -1);
	ck_assert_str_eq(err, "line 8:");
	ck_assert_int_eq(run_task_parse(&ts, "{}", 2, 8, NULL, 0), -1);
	run_tasks_free(&ts);
}
END_TEST

START_TEST(test_read_stops_at_error)
{
	static const char text[] =
		"one\n\n{\"payload\":\"two\"}\n\n{\"payload\":2,\"retries\":-3}\nsix\n";
	struct run_tasks ts = {0};
	char err[RUN_ERR], *big;
	size_t n = 300000;

	ck_assert_int_eq(read_text(&ts, text, sizeof text - 1, err), -1);
	ck_assert_str_eq(err, "line 5: \"retries\" must be an integer 0..1000");
	ck_assert_uint_eq(ts.n, 2);
	ck_assert_str_eq(ts.v[1].id, "3");
	run_tasks_free(&ts);

	/* lines of any length */
	big = malloc(n + 8);
	ck_assert_ptr_nonnull(big);
	memset(big, 'L', n);
	memcpy(big + n, "\nshort\n", 7);
	ck_assert_int_eq(read_text(&ts, big, n + 7, err), 0);
	ck_assert_uint_eq(ts.n, 2);
	ck_assert_uint_eq(ts.v[0].len, n);
	ck_assert_str_eq(ts.v[1].payload, "short");
	run_tasks_free(&ts);
	free(big);
}
END_TEST

/* --- checking ---------------------------------------------------------------------- */

/* Parses the lines of text (one task each, numbered from 1) and checks the list. */
static int check_text(struct run_tasks *ts, const char *text, char *err)
{
	char e[RUN_ERR];

	ck_assert_msg(read_text(ts, text, strlen(text), e) == 0, "%s", e);
	return run_tasks_check(ts, err, RUN_ERR);
}

START_TEST(test_check_ok)
{
	struct run_tasks ts = {0};
	char err[RUN_ERR];

	ck_assert_int_eq(
		check_text(&ts,
			   "{\"id\":\"link\",\"payload\":\"ld\",\"deps\":[\"a\",\"b\",\"a\"]}\n"
			   "{\"id\":\"a\",\"payload\":\"cc a\",\"deps\":[4]}\n"
			   "{\"id\":\"b\",\"payload\":\"cc b\",\"deps\":[\"4\"]}\n"
			   "fetch\n",
			   err),
		0);
	ck_assert_uint_eq(ts.n, 4);
	/* deps are a set: the repeated "a" is dropped */
	ck_assert_uint_eq(ts.v[0].ndeps, 2);
	ck_assert_str_eq(ts.v[0].deps[0], "a");
	ck_assert_str_eq(ts.v[0].deps[1], "b");
	ck_assert_uint_eq(ts.v[0].dep_idx[0], 1);
	ck_assert_uint_eq(ts.v[0].dep_idx[1], 2);
	ck_assert_uint_eq(ts.v[1].dep_idx[0], 3);
	ck_assert_uint_eq(ts.v[2].dep_idx[0], 3);
	ck_assert_ptr_null(ts.v[3].dep_idx);
	/* checking again gives the same */
	ck_assert_int_eq(run_tasks_check(&ts, err, sizeof err), 0);
	ck_assert_uint_eq(ts.v[0].ndeps, 2);
	ck_assert_uint_eq(ts.v[0].dep_idx[1], 2);
	run_tasks_free(&ts);

	ck_assert_int_eq(run_tasks_check(&ts, err, sizeof err), 0); /* an empty list */
}
END_TEST

START_TEST(test_check_errors)
{
	static const struct {
		const char *text, *err;
	} tab[] = {
		{"{\"id\":\"x\",\"payload\":\"1\"}\n{\"id\":\"y\",\"payload\":\"2\"}\n"
		 "{\"id\":\"x\",\"payload\":\"3\"}\n",
		 "duplicate task id \"x\" (tasks 1 and 3)"},
		/* a plain line's id is its number: line 1 and the JSON id "1" collide */
		{"plain\n{\"id\":1,\"payload\":\"p\"}\n",
		 "duplicate task id \"1\" (tasks 1 and 2)"},
		{"{\"id\":\"a\\\"q\\n\",\"payload\":\"1\"}\n{\"id\":\"a\\\"q\\n\",\"payload\":"
		 "\"2\"}\n",
		 "duplicate task id \"a\\\"q\\x0a\" (tasks 1 and 2)"},
		{"{\"id\":\"a\",\"payload\":\"x\",\"deps\":[\"nowhere\"]}\n",
		 "task \"a\" depends on unknown task \"nowhere\""},
		{"{\"id\":\"self\",\"payload\":\"x\",\"deps\":[\"self\"]}\n",
		 "dependency cycle: self -> self"},
		{"{\"id\":\"a\",\"payload\":\"x\",\"deps\":[\"b\"]}\n"
		 "{\"id\":\"b\",\"payload\":\"y\",\"deps\":[\"c\"]}\n"
		 "{\"id\":\"c\",\"payload\":\"z\",\"deps\":[\"a\"]}\n",
		 "dependency cycle: a -> b -> c -> a"},
		/* a cycle away from the first task, reached through a task outside it */
		{"top\n{\"id\":\"s\",\"payload\":\"x\",\"deps\":[\"1\",\"q\"]}\n"
		 "{\"id\":\"q\",\"payload\":\"y\",\"deps\":[\"r\"]}\n"
		 "{\"id\":\"r\",\"payload\":\"z\",\"deps\":[\"1\",\"q\"]}\n",
		 "dependency cycle: q -> r -> q"},
	};
	struct run_tasks ts = {0};
	char err[RUN_ERR];
	size_t i;

	for (i = 0; i < sizeof tab / sizeof tab[0]; i++) {
		ck_assert_msg(check_text(&ts, tab[i].text, err) == -1, "accepted: %s", tab[i].text);
		ck_assert_msg(!strcmp(err, tab[i].err), "got %s, want %s", err, tab[i].err);
		run_tasks_free(&ts);
	}
}
END_TEST

START_TEST(test_check_long_id)
{
	struct run_tasks ts = {0};
	char err[RUN_ERR], line[512];

	snprintf(line, sizeof line, "{\"id\":\"%0200d\",\"payload\":\"x\",\"deps\":[\"%0200d\"]}",
		 7, 7);
	ck_assert_int_eq(parse(&ts, line, 1, err), 0);
	ck_assert_int_eq(run_tasks_check(&ts, err, sizeof err), -1);
	/* ids in messages are cut after 48 bytes */
	ck_assert_str_eq(err,
			 "dependency cycle: 000000000000000000000000000000000000000000000000..."
			 " -> 000000000000000000000000000000000000000000000000...");
	run_tasks_free(&ts);
}
END_TEST

/* A chain of n tasks a1 -> a2 -> ... -> an (each depends on the next), closed into a
 * cycle (an depends on a1) if closed. */
static void chain(struct run_tasks *ts, size_t n, int closed)
{
	char line[128], err[RUN_ERR];
	size_t i;

	for (i = 1; i <= n; i++) {
		if (i < n || closed)
			snprintf(line, sizeof line,
				 "{\"id\":\"a%zu\",\"payload\":\"p\",\"deps\":[\"a%zu\"]}", i,
				 i < n ? i + 1 : 1);
		else
			snprintf(line, sizeof line, "{\"id\":\"a%zu\",\"payload\":\"p\"}", i);
		ck_assert_int_eq(parse(ts, line, i, err), 0);
	}
}

START_TEST(test_check_long_chain)
{
	struct run_tasks ts = {0};
	char err[RUN_ERR];
	size_t i, n = 100000;

	chain(&ts, n, 0);
	ck_assert_int_eq(run_tasks_check(&ts, err, sizeof err), 0);
	for (i = 0; i + 1 < n; i++) {
		ck_assert_uint_eq(ts.v[i].ndeps, 1);
		ck_assert_uint_eq(ts.v[i].dep_idx[0], i + 1);
	}
	ck_assert_uint_eq(ts.v[n - 1].ndeps, 0);
	run_tasks_free(&ts);

	chain(&ts, n, 1);
	ck_assert_int_eq(run_tasks_check(&ts, err, sizeof err), -1);
	ck_assert_str_eq(
		err,
		"dependency cycle: a1 -> a2 -> a3 -> ... (99995 more) -> a99999 -> a100000 -> a1");
	run_tasks_free(&ts);
}
END_TEST

/* --- the bus encoding -------------------------------------------------------------- */

static void assert_same(const struct run_task *a, const struct run_task *b)
{
	ck_assert_str_eq(a->id, b->id);
	ck_assert_uint_eq(a->len, b->len);
	ck_assert_mem_eq(a->payload, b->payload, a->len);
	ck_assert_int_eq(b->payload[b->len], 0);
	ck_assert_int_eq(a->priority, b->priority);
	ck_assert_int_eq(a->timeout_ms, b->timeout_ms);
	ck_assert_int_eq(a->retries, b->retries);
}

START_TEST(test_encode_text)
{
	struct run_tasks ts = {0};
	struct run_task d;
	char err[RUN_ERR], *e;
	size_t idx = 0;

	ck_assert_int_eq(parse(&ts,
			       "{\"id\":\"b\\\"1\",\"payload\":\"make \\\"all\\\"\\n\\u00e9\","
			       "\"priority\":4,\"timeout\":1.5,\"retries\":2,\"deps\":[\"z\"]}",
			       1, err),
			 0);
	e = run_task_encode(&ts.v[0], 12);
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(e,
			 "{\"n\":12,\"id\":\"b\\\"1\",\"payload\":\"make \\\"all\\\"\\n\xc3\xa9\","
			 "\"timeout\":1500,\"retries\":2,\"priority\":4}");
	ck_assert_int_eq(run_task_decode(e, strlen(e), &d, &idx), 0);
	ck_assert_uint_eq(idx, 12);
	assert_same(&ts.v[0], &d);
	ck_assert_uint_eq(d.ndeps, 0); /* deps do not travel */
	ck_assert_ptr_null(d.deps);
	run_task_clear(&d);
	ck_assert_ptr_null(d.id);
	ck_assert_ptr_null(d.payload);
	free(e);
	run_tasks_free(&ts);
}
END_TEST

START_TEST(test_encode_binary)
{
	static const char *const bin[] = {"a\0b", "\xff\xfe", "ok\xc3", "\xed\xa0\x80", "\0"};
	static const size_t binlen[] = {3, 2, 3, 3, 1};
	struct run_task t = {.id = "bin", .priority = 9, .timeout_ms = 1, .retries = 1000}, d;
	char *e;
	size_t i, idx;

	for (i = 0; i < sizeof bin / sizeof bin[0]; i++) {
		t.payload = (char *)bin[i];
		t.len = binlen[i];
		e = run_task_encode(&t, i);
		ck_assert_ptr_nonnull(e);
		ck_assert_ptr_nonnull(strstr(e, "\"payload_b64\":\""));
		ck_assert_ptr_null(strstr(e, "\"payload\""));
		ck_assert_int_eq(run_task_decode(e, strlen(e), &d, &idx), 0);
		ck_assert_uint_eq(idx, i);
		assert_same(&t, &d);
		run_task_clear(&d);
		free(e);
	}
	t.payload = (char *)"a\0b";
	t.len = 3;
	e = run_task_encode(&t, 0);
	ck_assert_str_eq(e, "{\"n\":0,\"id\":\"bin\",\"payload_b64\":\"YQBi\",\"timeout\":1,"
			    "\"retries\":1000,\"priority\":9}");
	free(e);

	/* the empty payload is text */
	t.payload = (char *)"";
	t.len = 0;
	e = run_task_encode(&t, 0);
	ck_assert_ptr_nonnull(strstr(e, "\"payload\":\"\""));
	ck_assert_int_eq(run_task_decode(e, strlen(e), &d, &idx), 0);
	ck_assert_uint_eq(d.len, 0);
	ck_assert_str_eq(d.payload, "");
	run_task_clear(&d);
	free(e);
}
END_TEST

START_TEST(test_decode_rejects)
{
	static const char *const bad[] = {
		"",
		"x",
		"[]",
		"{}",
		"null",
		"{\"n\":1,\"id\":\"a\",\"payload\":\"x\",\"timeout\":0,\"retries\":-1,\"priority\":"
		"0",
		"{\"n\":1,\"id\":\"a\",\"payload\":\"x\",\"timeout\":0,\"retries\":-1,\"priority\":"
		"0}x",
		/* a field missing */
		"{\"id\":\"a\",\"payload\":\"x\",\"timeout\":0,\"retries\":-1,\"priority\":0}",
		"{\"n\":1,\"payload\":\"x\",\"timeout\":0,\"retries\":-1,\"priority\":0}",
		"{\"n\":1,\"id\":\"a\",\"timeout\":0,\"retries\":-1,\"priority\":0}",
		"{\"n\":1,\"id\":\"a\",\"payload\":\"x\",\"retries\":-1,\"priority\":0}",
		"{\"n\":1,\"id\":\"a\",\"payload\":\"x\",\"timeout\":0,\"priority\":0}",
		"{\"n\":1,\"id\":\"a\",\"payload\":\"x\",\"timeout\":0,\"retries\":-1}",
		/* one more, or repeated */
		"{\"n\":1,\"id\":\"a\",\"payload\":\"x\",\"timeout\":0,\"retries\":-1,\"priority\":"
		"0,"
		"\"deps\":[]}",
		"{\"n\":1,\"id\":\"a\",\"payload\":\"x\",\"timeout\":0,\"retries\":-1,\"priority\":"
		"0,"
		"\"payload_b64\":\"AA==\"}",
		"{\"n\":1,\"id\":\"a\",\"payload\":\"x\",\"timeout\":0,\"retries\":-1,\"n\":1}",
		/* wrong types */
		"{\"n\":\"1\",\"id\":\"a\",\"payload\":\"x\",\"timeout\":0,\"retries\":-1,"
		"\"priority\":0}",
		"{\"n\":1.0,\"id\":\"a\",\"payload\":\"x\",\"timeout\":0,\"retries\":-1,"
		"\"priority\":0}",
		"{\"n\":1,\"id\":7,\"payload\":\"x\",\"timeout\":0,\"retries\":-1,\"priority\":0}",
		"{\"n\":1,\"id\":\"a\",\"payload\":7,\"timeout\":0,\"retries\":-1,\"priority\":0}",
		"{\"n\":1,\"id\":\"a\",\"payload\":null,\"timeout\":0,\"retries\":-1,\"priority\":"
		"0}",
		"{\"n\":1,\"id\":\"a\",\"payload\":\"x\",\"timeout\":1.5,\"retries\":-1,"
		"\"priority\":0}",
		"{\"n\":1,\"id\":\"a\",\"payload\":\"x\",\"timeout\":0,\"retries\":false,"
		"\"priority\":0}",
		"{\"n\":1,\"id\":\"a\",\"payload\":\"x\",\"timeout\":0,\"retries\":-1,\"priority\":"
		"[0]}",
		"{\"n\":1,\"id\":\"a\",\"payload_b64\":7,\"timeout\":0,\"retries\":-1,\"priority\":"
		"0}",
		/* out of range */
		"{\"n\":-1,\"id\":\"a\",\"payload\":\"x\",\"timeout\":0,\"retries\":-1,"
		"\"priority\":0}",
		"{\"n\":1,\"id\":\"\",\"payload\":\"x\",\"timeout\":0,\"retries\":-1,\"priority\":"
		"0}",
		"{\"n\":1,\"id\":\"a\",\"payload\":\"x\",\"timeout\":-1,\"retries\":-1,"
		"\"priority\":0}",
		"{\"n\":1,\"id\":\"a\",\"payload\":\"x\",\"timeout\":0,\"retries\":-2,\"priority\":"
		"0}",
		"{\"n\":1,\"id\":\"a\",\"payload\":\"x\",\"timeout\":0,\"retries\":-1,\"priority\":"
		"10}",
		"{\"n\":1,\"id\":\"a\",\"payload\":\"x\",\"timeout\":0,\"retries\":-1,\"priority\":"
		"-1}",
		/* NUL only travels in base64 */
		"{\"n\":1,\"id\":\"a\",\"payload\":\"\\u0000\",\"timeout\":0,\"retries\":-1,"
		"\"priority\":0}",
		"{\"n\":1,\"id\":\"a\\u0000\",\"payload\":\"x\",\"timeout\":0,\"retries\":-1,"
		"\"priority\":0}",
		/* base64 that encode would not write */
		"{\"n\":1,\"id\":\"a\",\"payload_b64\":\"YWJj\",\"timeout\":0,\"retries\":-1,"
		"\"priority\":0}",
		"{\"n\":1,\"id\":\"a\",\"payload_b64\":\"AP9=\",\"timeout\":0,\"retries\":-1,"
		"\"priority\":0}",
		"{\"n\":1,\"id\":\"a\",\"payload_b64\":\"AP8\",\"timeout\":0,\"retries\":-1,"
		"\"priority\":0}",
		"{\"n\":1,\"id\":\"a\",\"payload_b64\":\"A=P8\",\"timeout\":0,\"retries\":-1,"
		"\"priority\":0}",
		"{\"n\":1,\"id\":\"a\",\"payload_b64\":\"AP8=AA==\",\"timeout\":0,\"retries\":-1,"
		"\"priority\":0}",
		"{\"n\":1,\"id\":\"a\",\"payload_b64\":\"AP "
		"8\",\"timeout\":0,\"retries\":-1,\"priority\":0}",
		"{\"n\":1,\"id\":\"a\",\"payload_b64\":\"\",\"timeout\":0,\"retries\":-1,"
		"\"priority\":0}",
	};
	static const char good[] = "{\"n\":1,\"id\":\"a\",\"payload_b64\":\"AP8=\",\"timeout\":0,"
				   "\"retries\":-1,\"priority\":0}";
	struct run_task t;
	size_t i, idx = 77;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&t, 0xa5, sizeof t);
		ck_assert_msg(run_task_decode(bad[i], strlen(bad[i]), &t, &idx) == -1,
			      "accepted: %s", bad[i]);
		ck_assert_ptr_null(t.id);
		ck_assert_ptr_null(t.payload);
		ck_assert_uint_eq(idx, 77);
	}
	ck_assert_int_eq(run_task_decode(NULL, 0, &t, &idx), -1);
	/* the same bytes as a whole are fine, and a cut anywhere is not */
	ck_assert_int_eq(run_task_decode(good, sizeof good - 1, &t, &idx), 0);
	ck_assert_uint_eq(idx, 1);
	ck_assert_uint_eq(t.len, 2);
	ck_assert_mem_eq(t.payload, "\0\xff", 3);
	run_task_clear(&t);
	for (i = 0; i < sizeof good - 1; i++)
		ck_assert_int_eq(run_task_decode(good, i, &t, &idx), -1);
}
END_TEST

START_TEST(test_clear)
{
	struct run_tasks ts = {0};
	struct run_task t;
	char err[RUN_ERR];

	ck_assert_int_eq(
		parse(&ts, "{\"id\":\"a\",\"payload\":\"x\",\"deps\":[\"b\",\"c\"]}", 1, err), 0);
	ck_assert_int_eq(parse(&ts, "{\"id\":\"b\",\"payload\":\"x\"}", 2, err), 0);
	ck_assert_int_eq(parse(&ts, "{\"id\":\"c\",\"payload\":\"x\"}", 3, err), 0);
	ck_assert_int_eq(run_tasks_check(&ts, err, sizeof err), 0);
	/* take the first task out and clear it alone; the list frees the rest */
	t = ts.v[0];
	ts.v[0] = ts.v[--ts.n];
	run_task_clear(&t);
	ck_assert_ptr_null(t.id);
	ck_assert_ptr_null(t.deps);
	ck_assert_ptr_null(t.dep_idx);
	ck_assert_uint_eq(t.ndeps, 0);
	ck_assert_uint_eq(t.len, 0);
	run_tasks_free(&ts);
	ck_assert_ptr_null(ts.v);
	run_tasks_free(&ts); /* twice is harmless */
}
END_TEST

Suite *suite_tasks(void)
{
	Suite *s = suite_create("tasks");
	TCase *tp = tcase_create("parse");
	TCase *tc = tcase_create("check");
	TCase *te = tcase_create("encode");

	tcase_add_test(tp, test_plain_lines);
	tcase_add_test(tp, test_plain_binary);
	tcase_add_test(tp, test_json_fields);
	tcase_add_test(tp, test_json_defaults);
	tcase_add_test(tp, test_json_timeout_rounding);
	tcase_add_test(tp, test_parse_errors);
	tcase_add_test(tp, test_parse_limits);
	tcase_add_test(tp, test_read_stops_at_error);
	suite_add_tcase(s, tp);
	tcase_add_test(tc, test_check_ok);
	tcase_add_test(tc, test_check_errors);
	tcase_add_test(tc, test_check_long_id);
	tcase_add_test(tc, test_check_long_chain);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	tcase_add_test(te, test_encode_text);
	tcase_add_test(te, test_encode_binary);
	tcase_add_test(te, test_decode_rejects);
	tcase_add_test(te, test_clear);
	suite_add_tcase(s, te);
	return s;
}
