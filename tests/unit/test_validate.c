/*
 * test_validate.c - muster validate's report and decision (src/validate): figures
 * judged against their lines, the report written as Markdown, JSON and charts, and the
 * seed's decision framework, figures in, GO / PIVOT / ADJUST out.
 */
#define _GNU_SOURCE
#include "unit.h"

#include "validate.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct vline le2 = {VCMP_LE, 2}, lt10 = {VCMP_LT, 10}, ge90 = {VCMP_GE, 90},
			  gt0 = {VCMP_GT, 0}, none = {VCMP_NONE, 0};

START_TEST(test_line_check)
{
	ck_assert_int_eq(vline_check(le2, 2), VV_PASS);
	ck_assert_int_eq(vline_check(le2, 2.0001), VV_FAIL);
	ck_assert_int_eq(vline_check(lt10, 10), VV_FAIL);
	ck_assert_int_eq(vline_check(lt10, 9.99), VV_PASS);
	ck_assert_int_eq(vline_check(ge90, 90), VV_PASS);
	ck_assert_int_eq(vline_check(ge90, 89.9), VV_FAIL);
	ck_assert_int_eq(vline_check(gt0, 0), VV_FAIL);
	ck_assert_int_eq(vline_check(gt0, 1e-9), VV_PASS);
	ck_assert_int_eq(vline_check(le2, NAN), VV_NA);
	ck_assert_int_eq(vline_check(none, 5), VV_NA);
}
END_TEST

START_TEST(test_report_figures)
{
	struct vreport *r = vreport_new("t");
	const struct vfigure *f;
	char label[32] = "ratio";

	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_nonnull(vreport_add(r, "env", "ratio", label, 1.1, "x", le2,
					  (struct vline){VCMP_LE, 1.0}, NULL));
	strcpy(label, "changed"); /* the report keeps its own copy */
	ck_assert_ptr_nonnull(
		vreport_add(r, "env", "delivery", "delivery", 85, "%", ge90, none, "lost 15"));
	ck_assert_ptr_nonnull(
		vreport_add(r, "soak", "hangs", "hangs", NAN, "", lt10, none, "not run"));
	f = vreport_find(r, "env", "ratio");
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(f->label, "ratio");
	ck_assert_int_eq(f->seed_v, VV_PASS);
	ck_assert_int_eq(f->target_v, VV_FAIL);
	f = vreport_find(r, "env", "delivery");
	ck_assert_int_eq(f->seed_v, VV_FAIL);
	ck_assert_int_eq(f->target_v, VV_NA);
	ck_assert_str_eq(f->note, "lost 15");
	f = vreport_find(r, "soak", "hangs");
	ck_assert_int_eq(f->seed_v, VV_NA);
	ck_assert_ptr_null(vreport_find(r, "env", "hangs"));
	vreport_free(r);
}
END_TEST

/* The JSON has every figure, NaN as null, lines with their verdicts; the Markdown has
 * a table per section with '|' escaped; the charts are written beside. */
START_TEST(test_report_write)
{
	struct vreport *r = vreport_new("muster validate test");
	char *dir = unit_tmpdir(), path[4096], *md;
	double x[2] = {1, 2}, y[2] = {3, 4};
	struct vseries s = {"series", x, y, 2};
	struct vchart c = {.kind = VCHART_LINE, .title = "A chart", .series = &s, .nseries = 1};
	json_t *j, *figs, *fg;
	json_error_t e;
	size_t len;
	FILE *f;

	vreport_add(r, "env", "ratio", "time | floor", 1.5, "x", le2, none, NULL);
	vreport_add(r, "env", "missing", "not measured", NAN, "s", lt10, none, "why | not");
	vreport_add(r, "chaos", "lost", "lost", 0, "%", (struct vline){VCMP_LE, 0}, none, NULL);
	vreport_fact(r, "env", "cpus", json_integer(2));
	ck_assert_int_eq(vreport_chart(r, "chart.svg", &c), 0);
	ck_assert_int_eq(vreport_write(r, dir), 0);

	snprintf(path, sizeof path, "%s/report.json", dir);
	j = json_load_file(path, 0, &e);
	ck_assert_msg(j != NULL, "report.json: %s", e.text);
	ck_assert_str_eq(json_string_value(json_object_get(j, "title")), "muster validate test");
	figs = json_object_get(j, "figures");
	ck_assert_uint_eq(json_array_size(figs), 3);
	fg = json_array_get(figs, 1);
	ck_assert(json_is_null(json_object_get(fg, "value")));
	ck_assert(json_is_null(json_object_get(json_object_get(fg, "seed"), "verdict")));
	fg = json_array_get(figs, 0);
	ck_assert(json_real_value(json_object_get(fg, "value")) == 1.5);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(fg, "seed"), "op")),
			 "<=");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(fg, "seed"), "verdict")),
			 "pass");
	ck_assert_int_eq(json_integer_value(json_object_get(
				 json_object_get(json_object_get(j, "facts"), "env"), "cpus")),
			 2);
	ck_assert_str_eq(json_string_value(json_object_get(
				 json_array_get(json_object_get(j, "charts"), 0), "file")),
			 "chart.svg");
	json_decref(j);

	snprintf(path, sizeof path, "%s/report.md", dir);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	md = NULL;
	len = 0;
	ck_assert_int_gt(getdelim(&md, &len, 0, f), 0);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(md, "# muster validate test"));
	ck_assert_ptr_nonnull(strstr(md, "## env"));
	ck_assert_ptr_nonnull(strstr(md, "## chaos"));
	ck_assert_ptr_nonnull(strstr(md, "| time \\| floor | 1.5 x | <= 2: pass |"));
	ck_assert_ptr_nonnull(
		strstr(md, "| not measured | not measured | < 10 | - | why \\| not |"));
	ck_assert_ptr_nonnull(strstr(md, "![A chart](chart.svg)"));
	free(md);
	snprintf(path, sizeof path, "%s/chart.svg", dir);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	free(dir);
	vreport_free(r);
}
END_TEST

/* A run that meets every line. */
static struct vcriteria good(void)
{
	struct vcriteria c = {.env_cells = 6,
			      .env_ok = 6,
			      .soak_hours = 24,
			      .mem_drift_pct = 0.5,
			      .fd_growth = 0,
			      .time_drift_pct = 2,
			      .soak_delivery_pct = 100,
			      .soak_hangs = 0,
			      .overhead_pct = 0.4,
			      .recovery_s = 0.3,
			      .loss_pct = 0,
			      .opt_ratio = {12, 25, 6, 4}};

	return c;
}

static int has_entry(json_t *why, const char *criterion, const char *decides)
{
	size_t i;
	json_t *o;

	json_array_foreach(why, i, o)
	{
		if (!strcmp(json_string_value(json_object_get(o, "criterion")), criterion) &&
		    !strcmp(json_string_value(json_object_get(o, "decides")), decides))
			return 1;
	}
	return 0;
}

START_TEST(test_decide)
{
	struct vcriteria c = good();
	json_t *why = NULL;

	ck_assert_int_eq(vdecide(&c, &why), VD_GO);
	ck_assert_uint_eq(json_array_size(why), 8);
	ck_assert(!has_entry(why, "soak duration", "provisional"));
	json_decref(why);

	/* a short soak: GO, provisional */
	c.soak_hours = 0.1;
	ck_assert_int_eq(vdecide(&c, &why), VD_GO);
	ck_assert(has_entry(why, "soak duration", "provisional"));
	json_decref(why);

	/* environments */
	c = good();
	c.env_ok = 2;
	ck_assert_int_eq(vdecide(&c, NULL), VD_ADJUST);
	c.env_ok = 0;
	ck_assert_int_eq(vdecide(&c, &why), VD_PIVOT);
	ck_assert(has_entry(why, "environments", "PIVOT"));
	json_decref(why);
	c.env_cells = 0; /* none tried: not measured */
	ck_assert_int_eq(vdecide(&c, NULL), VD_ADJUST);

	/* stability */
	c = good();
	c.mem_drift_pct = 10.5;
	ck_assert_int_eq(vdecide(&c, NULL), VD_PIVOT);
	c = good();
	c.fd_growth = 1;
	ck_assert_int_eq(vdecide(&c, NULL), VD_PIVOT);
	c = good();
	c.time_drift_pct = 25;
	ck_assert_int_eq(vdecide(&c, NULL), VD_ADJUST);
	c = good();
	c.soak_hangs = 1;
	ck_assert_int_eq(vdecide(&c, NULL), VD_ADJUST);
	c = good();
	c.soak_delivery_pct = 89;
	ck_assert_int_eq(vdecide(&c, NULL), VD_ADJUST);

	/* real workload */
	c = good();
	c.overhead_pct = 25;
	ck_assert_int_eq(vdecide(&c, NULL), VD_ADJUST);
	c.overhead_pct = 30.5;
	ck_assert_int_eq(vdecide(&c, NULL), VD_PIVOT);
	c.overhead_pct = NAN;
	ck_assert_int_eq(vdecide(&c, &why), VD_ADJUST);
	ck_assert(has_entry(why, "real workload", "ADJUST"));
	json_decref(why);

	/* recovery */
	c = good();
	c.recovery_s = 70;
	ck_assert_int_eq(vdecide(&c, NULL), VD_ADJUST);
	c.recovery_s = 130;
	ck_assert_int_eq(vdecide(&c, NULL), VD_PIVOT);
	c = good();
	c.loss_pct = 6;
	ck_assert_int_eq(vdecide(&c, NULL), VD_PIVOT);
	c.loss_pct = 4;
	ck_assert_int_eq(vdecide(&c, NULL), VD_GO);

	/* optimizations below half their line adjust; below the line alone does not */
	c = good();
	c.opt_ratio[0] = 1.5; /* pooling: line 2, half 1 */
	ck_assert_int_eq(vdecide(&c, NULL), VD_GO);
	c.opt_ratio[0] = 0.9;
	ck_assert_int_eq(vdecide(&c, &why), VD_ADJUST);
	ck_assert(has_entry(why, "pooling vs spawn per task", "ADJUST"));
	json_decref(why);
	c = good();
	c.opt_ratio[3] = NAN; /* not measured: no say */
	ck_assert_int_eq(vdecide(&c, NULL), VD_GO);
	ck_assert_str_eq(vdecision_str(VD_PIVOT), "PIVOT");
}
END_TEST

/* all's decision reads the figures of the other measurements */
START_TEST(test_criteria_from_report)
{
	struct vreport *r = vreport_new("all");
	struct vcriteria c;
	const char *lost = "% lost, duplicated or not ok";

	vreport_fact(r, "env", "environments", json_pack("{s:i, s:i}", "tried", 7, "working", 6));
	vreport_add(r, "soak", "memory_drift", NULL, 1.5, "%", none, none, NULL);
	vreport_add(r, "soak", "fd_growth", NULL, 0, "", none, none, NULL);
	vreport_add(r, "soak", "time_drift", NULL, -3, "%", none, none, NULL);
	vreport_add(r, "soak", "delivery_min", NULL, 100, "%", none, none, NULL);
	vreport_add(r, "soak", "hangs", NULL, 0, "", none, none, NULL);
	vreport_add(r, "soak", "hours", NULL, 0.05, "h", none, none, NULL);
	vreport_add(r, "workload", "overhead", NULL, 0.8, "%", none, none, NULL);
	vreport_add(r, "workload", "overhead_cpu", NULL, 4.5, "%", none, none, NULL);
	vreport_add(r, "workload", "delivery", NULL, 100, "%", none, none, NULL);
	vreport_add(r, "chaos", "coord1", NULL, 0, lost, none, none, NULL);
	vreport_add(r, "chaos", "coord1", NULL, 99, "ms", none, none, NULL);
	vreport_add(r, "chaos", "coord2", NULL, 1.5, lost, none, none, NULL);
	vreport_add(r, "chaos", "master", NULL, 271, "ms", none, none, NULL);
	vreport_add(r, "optimize", "pooling", NULL, 20, "x", none, none, NULL);
	vreport_add(r, "optimize", "batching", NULL, 12, "x", none, none, NULL);
	vreport_add(r, "optimize", "parallel_spawn", NULL, 23, "x", none, none, NULL);
	vreport_add(r, "optimize", "sharding", NULL, NAN, "x", none, none, NULL);
	vcriteria_from(r, &c);
	ck_assert_int_eq(c.env_cells, 7);
	ck_assert_int_eq(c.env_ok, 6);
	ck_assert(c.mem_drift_pct == 1.5 && c.fd_growth == 0 && c.time_drift_pct == -3);
	ck_assert(c.soak_delivery_pct == 100 && c.soak_hangs == 0 && c.soak_hours == 0.05);
	ck_assert(c.overhead_pct == 4.5); /* the worst condition */
	ck_assert(c.recovery_s == 0.271); /* the slowest recovery */
	ck_assert(c.loss_pct == 1.5);
	ck_assert(c.opt_ratio[0] == 20 && c.opt_ratio[2] == 23 && isnan(c.opt_ratio[3]));
	ck_assert_int_eq(vdecide(&c, NULL), VD_GO);
	vreport_free(r);

	/* nothing measured: nothing can be GO */
	r = vreport_new("empty");
	vcriteria_from(r, &c);
	ck_assert_int_eq(c.env_cells, 0);
	ck_assert(isnan(c.overhead_pct) && isnan(c.recovery_s));
	ck_assert_int_eq(vdecide(&c, NULL), VD_ADJUST);
	vreport_free(r);
}
END_TEST

Suite *suite_validate(void)
{
	Suite *s = suite_create("validate");
	TCase *tc = tcase_create("report");

	tcase_add_test(tc, test_line_check);
	tcase_add_test(tc, test_report_figures);
	tcase_add_test(tc, test_report_write);
	tcase_add_test(tc, test_decide);
	tcase_add_test(tc, test_criteria_from_report);
	suite_add_tcase(s, tc);
	return s;
}
