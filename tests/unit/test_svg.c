/*
 * test_svg.c - the validation report's charts (src/validate/svg.c): line, bar and
 * timeline charts written to memory and read back. Every chart a test makes is checked
 * for what every chart must be: one <svg> element from the first tag to the last, every
 * element closed, every '&' an entity, no "nan" or "inf" anywhere. Then what each test
 * is about: the legend, escaping, gaps, log axes, tick labels, reference lines, bar
 * values, timeline rows, empty and flat data, errors, and the same bytes twice.
 */
#define _GNU_SOURCE
#include "unit.h"

#include "validate.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- helpers ----------------------------------------------------------------------- */

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0, len = strlen(needle);

	while ((hay = strstr(hay, needle))) {
		n++;
		hay += len;
	}
	return n;
}

/* The name of the element at p (just after '<' or "</") into name; its length. */
static size_t tag_name(const char *p, char *name, size_t size)
{
	size_t n = strcspn(p, " \t\n/>");

	snprintf(name, size, "%.*s", (int)n, p);
	return n;
}

/* 1 if p starts one of XML's entities or a character reference. */
static int entity(const char *p)
{
	static const char *const ents[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#"};
	size_t i;

	for (i = 0; i < sizeof ents / sizeof ents[0]; i++)
		if (!strncmp(p, ents[i], strlen(ents[i])))
			return 1;
	return 0;
}

/* A small well-formedness check, written apart from the writer: every element opened is
 * closed, in order (self-closing ones aside), attribute values are quoted, every '&'
 * starts an entity, and the document is one <svg> element with nothing but blanks after
 * it. NULL, or what is wrong. */
static const char *well_formed(const char *doc)
{
	static char err[256];
	char stack[64][32], name[32];
	int depth = 0, roots = 0;
	const char *p = doc;

	while (*p) {
		if (*p == '&' && !entity(p))
			return "a bare '&'";
		if (*p == '>')
			return "a bare '>' in text";
		if (*p != '<') {
			if (!depth && roots && !strchr(" \t\r\n", *p))
				return "text after the root element";
			p++;
			continue;
		}
		if (!strncmp(p, "<?", 2)) {
			if (p != doc)
				return "an XML declaration not at the start";
			if (!(p = strstr(p, "?>")))
				return "an unterminated declaration";
			p += 2;
		} else if (!strncmp(p, "<!--", 4)) {
			if (!(p = strstr(p, "-->")))
				return "an unterminated comment";
			p += 3;
		} else if (p[1] == '/') {
			p += 2 + tag_name(p + 2, name, sizeof name);
			if (*p != '>')
				return "a closing tag with more than a name";
			if (!depth || strcmp(stack[depth - 1], name) != 0) {
				snprintf(err, sizeof err, "</%s> closes <%s>", name,
					 depth ? stack[depth - 1] : "nothing");
				return err;
			}
			depth--;
			p++;
		} else {
			char quote = 0;

			p += 1 + tag_name(p + 1, name, sizeof name);
			if (!*name)
				return "an element without a name";
			if (!depth && roots++)
				return "a second root element";
			if (!depth && strcmp(name, "svg") != 0)
				return "a root element that is not <svg>";
			for (; *p && (quote || *p != '>'); p++) {
				if (*p == '<' && !quote)
					return "a '<' inside a tag";
				if (*p == '&' && !entity(p))
					return "a bare '&' in an attribute";
				if (*p == '=' && !quote && p[1] != '"' && p[1] != '\'')
					return "an unquoted attribute";
				if ((*p == '"' || *p == '\'') && (!quote || quote == *p))
					quote = quote ? 0 : *p;
			}
			if (!*p)
				return "an unterminated tag";
			if (p[-1] != '/') {
				if (depth == 64)
					return "elements nested too deep";
				snprintf(stack[depth++], sizeof stack[0], "%s", name);
			}
			p++;
		}
	}
	if (depth) {
		snprintf(err, sizeof err, "<%s> is not closed", stack[depth - 1]);
		return err;
	}
	return roots == 1 ? NULL : "no root element";
}

/* Renders c to memory: asserts that vchart_svg returns rc and, when it succeeds, that
 * the document is whole and well formed and never says nan or inf. The malloc'ed
 * document (empty when it failed). */
static char *render(const struct vchart *c, int rc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	const char *why;
	int got;

	ck_assert_ptr_nonnull(f);
	got = vchart_svg(f, c);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_msg(got == rc, "vchart_svg returned %d, not %d", got, rc);
	ck_assert_uint_eq(strlen(buf), len);
	if (rc) {
		ck_assert_uint_eq(len, 0);
		return buf;
	}
	ck_assert_msg(!strncmp(buf, "<?xml ", 6) || !strncmp(buf, "<svg", 4), "starts %.20s", buf);
	ck_assert_msg(len >= 7 && !strcmp(buf + len - 7, "</svg>\n"), "ends %s",
		      buf + (len > 20 ? len - 20 : 0));
	ck_assert_ptr_nonnull(strstr(buf, "xmlns=\"http://www.w3.org/2000/svg\""));
	ck_assert_ptr_nonnull(strstr(buf, "viewBox=\"0 0 "));
	ck_assert_msg(!strcasestr(buf, "nan"), "nan in %s", strcasestr(buf, "nan"));
	ck_assert_msg(!strcasestr(buf, "inf"), "inf in %s", strcasestr(buf, "inf"));
	why = well_formed(buf);
	ck_assert_msg(why == NULL, "not well formed: %s\n%s", why, buf);
	return buf;
}

/* The text of a <text> element as it appears in the document. */
static int has_text(const char *doc, const char *s)
{
	char *needle;
	int found;

	ck_assert_int_ge(asprintf(&needle, ">%s</text>", s), 0);
	found = strstr(doc, needle) != NULL;
	free(needle);
	return found;
}

/* --- the checker itself -------------------------------------------------------------- */

/* The well-formedness check must be able to fail, or it proves nothing. */
START_TEST(test_checker)
{
	ck_assert_ptr_null(well_formed("<?xml version=\"1.0\"?>\n<svg a=\"1\"><g><x/></g>"
				       "<text>a &amp; b</text></svg>\n"));
	ck_assert_ptr_nonnull(well_formed("<svg><g></svg>"));
	ck_assert_ptr_nonnull(well_formed("<svg><g></text></g></svg>"));
	ck_assert_ptr_nonnull(well_formed("<svg><text>a & b</text></svg>"));
	ck_assert_ptr_nonnull(well_formed("<svg><text>a < b</text></svg>"));
	ck_assert_ptr_nonnull(well_formed("<svg><text>a > b</text></svg>"));
	ck_assert_ptr_nonnull(well_formed("<svg x=1></svg>"));
	ck_assert_ptr_nonnull(well_formed("<svg></svg><svg></svg>"));
	ck_assert_ptr_nonnull(well_formed("<svg></svg>x"));
	ck_assert_ptr_nonnull(well_formed("<svg"));
	ck_assert_ptr_nonnull(well_formed("<html></html>"));
	ck_assert_ptr_nonnull(well_formed(""));
}
END_TEST

/* --- line charts --------------------------------------------------------------------- */

static const double xs[] = {1, 2, 3, 4, 5, 6};

START_TEST(test_line_legend)
{
	const double a[] = {10, 20, 15, 30, 25, 40}, b[] = {5, 6, 7, 8, 9, 10};
	const struct vseries s[] = {{"muster", xs, a, 6}, {"redis", xs, b, 6}};
	const struct vchart c = {.kind = VCHART_LINE,
				 .title = "throughput",
				 .xlabel = "agents",
				 .ylabel = "messages per second",
				 .series = s,
				 .nseries = 2};
	char *doc = render(&c, 0);

	ck_assert(has_text(doc, "muster"));
	ck_assert(has_text(doc, "redis"));
	ck_assert(has_text(doc, "throughput"));
	ck_assert(has_text(doc, "agents"));
	ck_assert(has_text(doc, "messages per second"));
	ck_assert_uint_eq(count(doc, "<polyline"), 2);
	/* a marker a point, a legend marker a series */
	ck_assert_uint_eq(count(doc, "<circle"), 6 + 6 + 2);
	/* two colours, one a series, each in its series and its legend entry */
	ck_assert_uint_ge(count(doc, "#0072B2"), 2);
	ck_assert_uint_ge(count(doc, "#E69F00"), 2);
	ck_assert(!strstr(doc, "no data"));
	free(doc);
}
END_TEST

/* Many series: every one in the legend, with a name made up when it has none. */
START_TEST(test_line_many_series)
{
	const double y[] = {1, 2, 3};
	struct vseries s[12];
	char names[12][16], text[32];
	struct vchart c = {.kind = VCHART_LINE, .series = s, .nseries = 12};
	char *doc;
	int k;

	for (k = 0; k < 12; k++) {
		snprintf(names[k], sizeof names[k], "run-%d", k);
		s[k] = (struct vseries){k == 11 ? NULL : names[k], NULL, y, 3};
	}
	doc = render(&c, 0);
	for (k = 0; k < 11; k++)
		ck_assert_msg(has_text(doc, names[k]), "%s", names[k]);
	snprintf(text, sizeof text, "series %d", 12);
	ck_assert(has_text(doc, text));
	ck_assert_uint_eq(count(doc, "<polyline"), 12);
	free(doc);
}
END_TEST

/* A NaN splits the line in two; a point alone between gaps is a marker only. */
START_TEST(test_line_gaps)
{
	const double y[] = {1, 2, NAN, 4, 5, 6}, lone[] = {1, NAN, 3, NAN, 5, 6};
	const double xgap[] = {1, 2, 3, INFINITY, 5, 6}, y6[] = {1, 2, 3, 4, 5, 6};
	struct vseries s = {"gappy", xs, y, 6};
	struct vchart c = {.kind = VCHART_LINE, .series = &s, .nseries = 1};
	char *doc = render(&c, 0);

	ck_assert_uint_eq(count(doc, "<polyline"), 2);
	ck_assert_uint_eq(count(doc, "<circle"), 5 + 1);
	free(doc);

	s.y = lone; /* 1 | 3 | 5-6: one line, three markers alone and two on it */
	doc = render(&c, 0);
	ck_assert_uint_eq(count(doc, "<polyline"), 1);
	ck_assert_uint_eq(count(doc, "<circle"), 4 + 1);
	free(doc);

	s.x = xgap; /* an x that cannot be placed is a gap too */
	s.y = y6;
	doc = render(&c, 0);
	ck_assert_uint_eq(count(doc, "<polyline"), 2);
	free(doc);
}
END_TEST

/* Each polyline's points, parsed back: n pairs of numbers inside the picture. */
START_TEST(test_line_points)
{
	const double y[] = {-3, 0.5, 1e-3, 2e6, 7, -1e5};
	const struct vseries s = {"wide", NULL, y, 6};
	const struct vchart c = {.kind = VCHART_LINE, .series = &s, .nseries = 1};
	char *doc = render(&c, 0), *p = strstr(doc, "points=\"");
	double px, py;
	int n = 0, used;

	ck_assert_ptr_nonnull(p);
	p += strlen("points=\"");
	while (sscanf(p, "%lf,%lf%n", &px, &py, &used) == 2) {
		ck_assert(px >= 0 && px <= 800 && py >= 0 && py <= 450);
		n++;
		p += used;
		if (*p == ' ')
			p++;
	}
	ck_assert_int_eq(*p, '"');
	ck_assert_int_eq(n, 6);
	free(doc);
}
END_TEST

/* Tick labels are compact and at 1-2-5 steps. */
START_TEST(test_ticks)
{
	const double k[] = {0, 2400}, m[] = {0.1, 0.9}, big[] = {0, 3.1e6};
	struct vseries s = {"s", NULL, k, 2};
	struct vchart c = {.kind = VCHART_LINE, .series = &s, .nseries = 1};
	char *doc = render(&c, 0);

	ck_assert(has_text(doc, "0"));
	ck_assert(has_text(doc, "500"));
	ck_assert(has_text(doc, "1k"));
	ck_assert(has_text(doc, "1.5k"));
	ck_assert(has_text(doc, "2.5k"));
	ck_assert(!has_text(doc, "1000"));
	free(doc);

	s.y = m;
	doc = render(&c, 0);
	ck_assert(has_text(doc, "0.2"));
	ck_assert(has_text(doc, "0.8"));
	ck_assert(!has_text(doc, "0.20"));
	ck_assert(!strstr(doc, "0.30000"));
	free(doc);

	s.y = big;
	doc = render(&c, 0);
	ck_assert(has_text(doc, "1M"));
	ck_assert(has_text(doc, "2M"));
	ck_assert(has_text(doc, "3M"));
	free(doc);
}
END_TEST

/* A log axis: decades as ticks; zero and negative values are gaps. */
START_TEST(test_line_log)
{
	const double y[] = {3, 40, 0, 900, -5, 2e4};
	const struct vseries s = {"latency", xs, y, 6};
	const struct vchart c = {
		.kind = VCHART_LINE, .series = &s, .nseries = 1, .log_y = 1, .ylabel = "us"};
	char *doc = render(&c, 0);

	ck_assert(has_text(doc, "1"));
	ck_assert(has_text(doc, "10"));
	ck_assert(has_text(doc, "100"));
	ck_assert(has_text(doc, "1k"));
	ck_assert(has_text(doc, "10k"));
	ck_assert(has_text(doc, "100k"));
	ck_assert(!has_text(doc, "50"));
	/* 3 40 | 900 | 2e4: one line of two points, two markers alone */
	ck_assert_uint_eq(count(doc, "<polyline"), 1);
	ck_assert_uint_eq(count(doc, "<circle"), 4 + 1);
	free(doc);
}
END_TEST

/* The reference line is drawn, dashed and labelled, and the axis reaches it. */
START_TEST(test_ref_line)
{
	const double y[] = {1, 2, 1.5, 2, 1, 1.2};
	const struct vseries s = {"p99", xs, y, 6};
	struct vchart c = {.kind = VCHART_LINE,
			   .series = &s,
			   .nseries = 1,
			   .ref_y = 10,
			   .ref_label = "pass line 10 ms"};
	char *doc = render(&c, 0);

	ck_assert(has_text(doc, "pass line 10 ms"));
	ck_assert(has_text(doc, "10"));
	ck_assert_uint_eq(count(doc, "stroke-dasharray=\"6,4\""), 1);
	free(doc);

	c.ref_y = -4; /* below the data */
	doc = render(&c, 0);
	ck_assert(has_text(doc, "-4"));
	free(doc);

	c.ref_label = "a reference line whose label is long enough to need two lines";
	doc = render(&c, 0);
	ck_assert(has_text(doc, "a reference line"));
	ck_assert(strstr(doc, ">whose label is long"));
	free(doc);

	c.ref_label = NULL; /* no label, no line: the axis stays on the data */
	doc = render(&c, 0);
	ck_assert(!strstr(doc, "6,4"));
	ck_assert(!has_text(doc, "-4"));
	free(doc);
}
END_TEST

/* --- text ---------------------------------------------------------------------------- */

START_TEST(test_escape)
{
	const double y[] = {1, 2};
	const char *labels[] = {"<g>", "x&y"};
	const struct vseries s = {"it's \"quoted\"", NULL, y, 2};
	const struct vspan sp[] = {{"row <1>", "a&b", 0, 1}, {"row <1>", "kill 'x'", 2, 2}};
	struct vchart c = {.kind = VCHART_LINE,
			   .title = "a<b & \"c\"",
			   .xlabel = "x > y",
			   .series = &s,
			   .nseries = 1,
			   .labels = labels,
			   .nlabels = 2,
			   .spans = sp,
			   .nspans = 2,
			   .ref_y = 1.5,
			   .ref_label = "</svg>"};
	char *doc = render(&c, 0);

	ck_assert(has_text(doc, "a&lt;b &amp; &quot;c&quot;"));
	ck_assert(strstr(doc, "<title>a&lt;b &amp; &quot;c&quot;</title>"));
	ck_assert(!strstr(doc, "a<b"));
	ck_assert(has_text(doc, "x &gt; y"));
	ck_assert(has_text(doc, "it&apos;s &quot;quoted&quot;"));
	ck_assert(has_text(doc, "&lt;/svg&gt;"));
	ck_assert_uint_eq(count(doc, "</svg>"), 1);
	free(doc);

	c.kind = VCHART_BAR;
	doc = render(&c, 0);
	ck_assert(has_text(doc, "&lt;g&gt;"));
	ck_assert(has_text(doc, "x&amp;y"));
	free(doc);

	c.kind = VCHART_TIMELINE;
	doc = render(&c, 0);
	ck_assert(has_text(doc, "row &lt;1&gt;"));
	ck_assert(has_text(doc, "a&amp;b"));
	ck_assert(has_text(doc, "kill &apos;x&apos;"));
	free(doc);
}
END_TEST

/* Bytes XML cannot hold (control characters, broken UTF-8) are replaced; valid UTF-8
 * passes through; long text is cut with an ellipsis. */
START_TEST(test_text_bytes)
{
	const double y[] = {1, 2};
	char longname[400];
	struct vseries s = {"\x01tab\there\x7f \xff\xc3( \xed\xa0\x80 caf\xc3\xa9 \xe2\x86\x92",
			    NULL, y, 2};
	struct vchart c = {.kind = VCHART_LINE, .title = longname, .series = &s, .nseries = 1};
	char *doc;

	memset(longname, 'w', sizeof longname - 1);
	longname[sizeof longname - 1] = 0;
	doc = render(&c, 0);
	ck_assert(!strchr(doc, '\x01'));
	ck_assert(!strstr(doc, "\xff"));
	ck_assert(!strstr(doc, "\xc3("));
	ck_assert(!strstr(doc, "\xed\xa0"));
	ck_assert(strstr(doc, "tab here"));
	ck_assert(strstr(doc, "caf\xc3\xa9 \xe2\x86\x92"));
	/* the title is cut in the picture (it is whole in <title>) */
	ck_assert(strstr(doc, "www\xe2\x80\xa6</text>"));
	free(doc);
}
END_TEST

/* --- bar charts ---------------------------------------------------------------------- */

START_TEST(test_bar)
{
	const char *labels[] = {"1 to 1", "batched", "wake-up"};
	const double m[] = {144000, 1070000, 27.8}, r[] = {8000, 233000, 22};
	const struct vseries s[] = {{"muster", NULL, m, 3}, {"redis", NULL, r, 3}};
	const struct vchart c = {.kind = VCHART_BAR,
				 .title = "peers",
				 .ylabel = "msg/s",
				 .series = s,
				 .nseries = 2,
				 .labels = labels,
				 .nlabels = 3,
				 .ref_y = 1e5,
				 .ref_label = "target"};
	char *doc = render(&c, 0);
	size_t i;

	for (i = 0; i < 3; i++)
		ck_assert_msg(has_text(doc, labels[i]), "%s", labels[i]);
	ck_assert(has_text(doc, "muster"));
	ck_assert(has_text(doc, "redis"));
	ck_assert(has_text(doc, "target"));
	/* every value above its bar */
	ck_assert(has_text(doc, "144k"));
	ck_assert(has_text(doc, "1.07M"));
	ck_assert(has_text(doc, "27.8"));
	ck_assert(has_text(doc, "8k"));
	ck_assert(has_text(doc, "233k"));
	ck_assert(has_text(doc, "22"));
	/* three bars and a legend swatch a series */
	ck_assert_uint_eq(count(doc, "fill=\"#0072B2\""), 4);
	ck_assert_uint_eq(count(doc, "fill=\"#E69F00\""), 4);
	free(doc);
}
END_TEST

/* Negative, missing and (on a log axis) unplaceable values are labelled, not drawn. */
START_TEST(test_bar_odd_values)
{
	const char *labels[] = {"a", "b", "c"};
	const double v[] = {-5, NAN, 0};
	const struct vseries s = {"v", NULL, v, 3};
	struct vchart c = {
		.kind = VCHART_BAR, .series = &s, .nseries = 1, .labels = labels, .nlabels = 3};
	char *doc = render(&c, 0);

	ck_assert(has_text(doc, "-5"));
	ck_assert(has_text(doc, "n/a"));
	ck_assert(has_text(doc, "0"));
	free(doc);

	c.log_y = 1; /* nothing can be drawn on a log axis */
	doc = render(&c, 0);
	ck_assert(has_text(doc, "no data"));
	free(doc);
}
END_TEST

/* Many groups: their names are slanted and kept inside the picture. */
START_TEST(test_bar_many_groups)
{
	char names[12][32];
	const char *labels[12];
	double v[12];
	const struct vseries s = {"v", NULL, v, 12};
	const struct vchart c = {
		.kind = VCHART_BAR, .series = &s, .nseries = 1, .labels = labels, .nlabels = 12};
	char *doc;
	int i;

	for (i = 0; i < 12; i++) {
		snprintf(names[i], sizeof names[i], "a long group name %d", i);
		labels[i] = names[i];
		v[i] = i * 1000.5;
	}
	doc = render(&c, 0);
	ck_assert_uint_eq(count(doc, "rotate(-30 "), 12);
	for (i = 0; i < 12; i++)
		ck_assert(has_text(doc, names[i]));
	free(doc);
}
END_TEST

START_TEST(test_bar_einval)
{
	const char *labels[] = {"a", "b", "c"};
	const double v[] = {1, 2, 3};
	struct vseries s[] = {{"ok", NULL, v, 3}, {"short", NULL, v, 2}};
	struct vchart c = {
		.kind = VCHART_BAR, .series = s, .nseries = 2, .labels = labels, .nlabels = 3};

	free(render(&c, -EINVAL));
	s[1].n = 4;
	free(render(&c, -EINVAL));
	s[1].n = 3;
	free(render(&c, 0));
	c.nlabels = 0; /* series of 3 values for no group */
	free(render(&c, -EINVAL));
}
END_TEST

/* --- timelines ----------------------------------------------------------------------- */

START_TEST(test_timeline)
{
	const struct vspan sp[] = {
		{"agent-1", "task 1", 0, 3},	{"agent-2", "task 2", 0.5, 2},
		{"agent-1", "task 3", 3.5, 7},	{"coordinator", "start", 0, 0},
		{"agent-2", "kill -9", 2, 2},	{"agent-2", "task 2 again", 2.5, 6},
		{"coordinator", "drain", 7, 7}, {NULL, NULL, 1, 1.5},
	};
	const struct vchart c = {.kind = VCHART_TIMELINE,
				 .title = "chaos",
				 .xlabel = "seconds",
				 .spans = sp,
				 .nspans = sizeof sp / sizeof sp[0]};
	char *doc = render(&c, 0);
	const char *r1, *r2, *r3;

	ck_assert(has_text(doc, "seconds"));
	/* each row named once, in order of first appearance */
	ck_assert_uint_eq(count(doc, ">agent-1</text>"), 1);
	ck_assert_uint_eq(count(doc, ">agent-2</text>"), 1);
	ck_assert_uint_eq(count(doc, ">coordinator</text>"), 1);
	r1 = strstr(doc, ">agent-1</text>");
	r2 = strstr(doc, ">agent-2</text>");
	r3 = strstr(doc, ">coordinator</text>");
	ck_assert(r1 < r2 && r2 < r3);
	ck_assert(strstr(r3, "></text>")); /* the fourth row has no name */
	/* a bar a span (with its tooltip), a diamond an event */
	ck_assert_uint_eq(count(doc, "<rect x="), 5 + 2);    /* 5 spans, rows 2 and 4 shaded */
	ck_assert_uint_eq(count(doc, "<path d=\"M"), 3 + 1); /* 3 events, the axes */
	ck_assert_uint_eq(count(doc, "<title>"), 1 + 5 + 3);
	ck_assert(strstr(doc, "<title>kill -9: 2</title>"));
	ck_assert(strstr(doc, "<title>task 1: 0 to 3</title>"));
	ck_assert(has_text(doc, "task 1"));
	ck_assert(has_text(doc, "task 3"));
	ck_assert(has_text(doc, "start"));
	ck_assert(has_text(doc, "drain"));
	free(doc);
}
END_TEST

/* Labels that would run into each other are left to the tooltips. */
START_TEST(test_timeline_crowded)
{
	struct vspan sp[40];
	char labels[40][16];
	struct vchart c = {.kind = VCHART_TIMELINE, .spans = sp, .nspans = 40};
	char *doc;
	int i;

	for (i = 0; i < 40; i++) {
		snprintf(labels[i], sizeof labels[i], "event %d", i);
		sp[i] = (struct vspan){"r", labels[i], i * 0.01, i * 0.01};
	}
	sp[39].start = 100; /* the others crowd into the first pixels */
	sp[39].end = 100;
	doc = render(&c, 0);
	ck_assert_uint_eq(count(doc, "<title>event "), 40);
	ck_assert(has_text(doc, "event 0"));
	ck_assert(!has_text(doc, "event 1"));
	ck_assert(has_text(doc, "event 39"));
	free(doc);
}
END_TEST

/* --- empty, flat and extreme data ---------------------------------------------------- */

START_TEST(test_no_data)
{
	const double nan3[] = {NAN, NAN, NAN};
	const char *labels[] = {"a", "b", "c"};
	const struct vseries s = {"s", NULL, nan3, 3}, none = {"none", NULL, NULL, 0};
	const struct vspan sp[] = {{"r", "x", NAN, 1}, {"r", "y", 0, INFINITY}};
	const struct vchart charts[] = {
		{.kind = VCHART_LINE, .title = "empty"},
		{.kind = VCHART_LINE, .series = &s, .nseries = 1},
		{.kind = VCHART_LINE, .series = &none, .nseries = 1},
		{.kind = VCHART_LINE, .series = &s, .nseries = 1, .ref_y = 1, .ref_label = "r"},
		{.kind = VCHART_BAR, .labels = labels, .nlabels = 3},
		{.kind = VCHART_BAR, .series = &s, .nseries = 1, .labels = labels, .nlabels = 3},
		{.kind = VCHART_TIMELINE},
		{.kind = VCHART_TIMELINE, .spans = sp, .nspans = 2},
	};
	size_t i;

	for (i = 0; i < sizeof charts / sizeof charts[0]; i++) {
		char *doc = render(&charts[i], 0);

		ck_assert_msg(has_text(doc, "no data"), "chart %zu", i);
		free(doc);
	}
}
END_TEST

/* Equal values still get an axis with a range: two tick labels or more, all different. */
START_TEST(test_flat)
{
	const double five[] = {5, 5, 5}, zero[] = {0, 0, 0}, one[] = {7};
	const double *ys[] = {five, zero, one};
	const size_t ns[] = {3, 3, 1};
	const char *labels[] = {"a", "b", "c"};
	const struct vspan ev = {"r", "once", 42, 42};
	size_t i;

	for (i = 0; i < 3; i++) {
		struct vseries s = {"flat", NULL, ys[i], ns[i]};
		struct vchart c = {.kind = VCHART_LINE, .series = &s, .nseries = 1};
		char *doc = render(&c, 0);

		ck_assert_uint_ge(count(doc, "text-anchor=\"end\""), 2);
		free(doc);
		c.log_y = 1;
		free(render(&c, 0));
		if (ns[i] == 3) {
			c.kind = VCHART_BAR;
			c.labels = labels;
			c.nlabels = 3;
			free(render(&c, 0));
			c.log_y = 0;
			free(render(&c, 0));
		}
	}
	{
		struct vchart c = {.kind = VCHART_TIMELINE, .spans = &ev, .nspans = 1};
		char *doc = render(&c, 0);

		ck_assert(has_text(doc, "once"));
		ck_assert(has_text(doc, "42"));
		free(doc);
	}
}
END_TEST

/* Huge, tiny and infinite values never reach the document as nan or inf. */
START_TEST(test_extremes)
{
	const double y[] = {DBL_MAX,   -DBL_MAX, 1e300,	 1e-300,   -1e-300, INFINITY,
			    -INFINITY, 1e149,	 -1e149, 4.9e-324, 0};
	const double x[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 1e149, -DBL_MAX};
	const char *labels[11] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"};
	struct vseries s = {"x", x, y, 11};
	struct vchart c = {.kind = VCHART_LINE,
			   .series = &s,
			   .nseries = 1,
			   .labels = labels,
			   .nlabels = 11,
			   .ref_y = NAN,
			   .ref_label = "ref"};
	const struct vspan sp[] = {
		{"r", "a", -1e149, 1e149}, {"r", "b", 1e-300, 1e-300}, {"r", "c", DBL_MAX, 1}};
	int log;

	for (log = 0; log < 2; log++) {
		c.log_y = log;
		c.kind = VCHART_LINE;
		free(render(&c, 0));
		c.kind = VCHART_BAR;
		free(render(&c, 0));
	}
	c.kind = VCHART_TIMELINE;
	c.spans = sp;
	c.nspans = 3;
	free(render(&c, 0));
}
END_TEST

/* --- errors and determinism ---------------------------------------------------------- */

START_TEST(test_einval)
{
	const double y[] = {1, 2};
	struct vseries s = {"s", NULL, y, 2};
	struct vchart c = {.kind = 0, .series = &s, .nseries = 1};
	FILE *f = tmpfile();

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(vchart_svg(f, NULL), -EINVAL);
	ck_assert_int_eq(ftell(f), 0);
	fclose(f);
	free(render(&c, -EINVAL));
	c.kind = VCHART_TIMELINE + 1;
	free(render(&c, -EINVAL));
	c.kind = VCHART_LINE;
	c.series = NULL;
	free(render(&c, -EINVAL));
	c.series = &s;
	s.y = NULL;
	free(render(&c, -EINVAL));
	s.n = 0; /* an empty series may have no values */
	free(render(&c, 0));
	c.kind = VCHART_TIMELINE;
	c.nspans = 1;
	free(render(&c, -EINVAL));
}
END_TEST

/* A write that fails is reported with its errno. */
START_TEST(test_write_error)
{
	const double y[] = {1, 2, 3};
	const struct vseries s = {"s", NULL, y, 3};
	const struct vchart c = {.kind = VCHART_LINE, .series = &s, .nseries = 1};
	FILE *f = fopen("/dev/full", "w");

	if (!f)
		return; /* no /dev/full here */
	ck_assert_int_eq(vchart_svg(f, &c), -ENOSPC);
	fclose(f);
	f = fopen("/dev/full", "w");
	setvbuf(f, NULL, _IONBF, 0); /* fails at the first write */
	ck_assert_int_eq(vchart_svg(f, &c), -ENOSPC);
	fclose(f);
}
END_TEST

START_TEST(test_deterministic)
{
	const double a[] = {1.25, NAN, 3.5, 1e6, 2}, b[] = {0.001, 0.002, 0.5, 7, 9};
	const char *labels[] = {"a", "b", "c", "d", "e"};
	const struct vseries s[] = {{"one", NULL, a, 5}, {"two", b, b, 5}};
	const struct vspan sp[] = {{"r1", "x", 0, 1}, {"r2", "y", 0.5, 0.5}, {"r1", "z", 2, 3}};
	struct vchart c = {.series = s,
			   .nseries = 2,
			   .labels = labels,
			   .nlabels = 5,
			   .spans = sp,
			   .nspans = 3,
			   .ref_y = 2,
			   .ref_label = "ref"};
	int kind, log;

	for (kind = VCHART_LINE; kind <= VCHART_TIMELINE; kind++)
		for (log = 0; log < 2; log++) {
			char *one, *two;

			c.kind = kind;
			c.log_y = log;
			one = render(&c, 0);
			two = render(&c, 0);
			ck_assert_str_eq(one, two);
			free(one);
			free(two);
		}
}
END_TEST

Suite *suite_svg(void)
{
	Suite *s = suite_create("svg");
	TCase *tl = tcase_create("line");
	TCase *tb = tcase_create("bar");
	TCase *tt = tcase_create("timeline");
	TCase *te = tcase_create("edges");

	tcase_add_test(tl, test_checker);
	tcase_add_test(tl, test_line_legend);
	tcase_add_test(tl, test_line_many_series);
	tcase_add_test(tl, test_line_gaps);
	tcase_add_test(tl, test_line_points);
	tcase_add_test(tl, test_ticks);
	tcase_add_test(tl, test_line_log);
	tcase_add_test(tl, test_ref_line);
	tcase_add_test(tl, test_escape);
	tcase_add_test(tl, test_text_bytes);
	suite_add_tcase(s, tl);
	tcase_add_test(tb, test_bar);
	tcase_add_test(tb, test_bar_odd_values);
	tcase_add_test(tb, test_bar_many_groups);
	tcase_add_test(tb, test_bar_einval);
	suite_add_tcase(s, tb);
	tcase_add_test(tt, test_timeline);
	tcase_add_test(tt, test_timeline_crowded);
	suite_add_tcase(s, tt);
	tcase_add_test(te, test_no_data);
	tcase_add_test(te, test_flat);
	tcase_add_test(te, test_extremes);
	tcase_add_test(te, test_einval);
	tcase_add_test(te, test_write_error);
	tcase_add_test(te, test_deterministic);
	suite_add_tcase(s, te);
	return s;
}
