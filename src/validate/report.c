/*
 * report.c - the figures of muster validate, judged against the seed's pass lines and
 * muster's targets, and written out: a table on the terminal, report.md, report.json
 * and the charts (SVG, rendered when they are added, so their data need not outlive
 * the call).
 */
#define _GNU_SOURCE
#include "validate.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum vverdict vline_check(struct vline l, double v)
{
	int ok;

	if (l.cmp == VCMP_NONE || isnan(v))
		return VV_NA;
	ok = l.cmp == VCMP_LE	? v <= l.limit
	     : l.cmp == VCMP_LT ? v < l.limit
	     : l.cmp == VCMP_GE ? v >= l.limit
				: v > l.limit;
	return ok ? VV_PASS : VV_FAIL;
}

const char *vline_str(struct vline l, char *buf, size_t size)
{
	static const char *const op[] = {"", "<=", "<", ">=", ">"};

	if (l.cmp == VCMP_NONE)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%s %g", op[l.cmp], l.limit);
	return buf;
}

static const char *verdict_str(enum vverdict v)
{
	return v == VV_PASS ? "pass" : v == VV_FAIL ? "FAIL" : "";
}

struct vreport *vreport_new(const char *title)
{
	struct vreport *r = calloc(1, sizeof *r);

	if (!r)
		return NULL;
	r->title = strdup(title ? title : "muster validate");
	r->facts = json_object();
	if (!r->title || !r->facts) {
		vreport_free(r);
		return NULL;
	}
	return r;
}

void vreport_free(struct vreport *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->nfigs; i++) {
		free(r->figs[i].section);
		free(r->figs[i].name);
		free(r->figs[i].label);
		free(r->figs[i].unit);
		free(r->figs[i].note);
	}
	free(r->figs);
	for (i = 0; i < r->ncharts; i++) {
		free(r->charts[i].file);
		free(r->charts[i].title);
		free(r->charts[i].svg);
	}
	free(r->charts);
	json_decref(r->facts);
	json_decref(r->decision);
	free(r->title);
	free(r);
}

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

struct vfigure *vreport_add(struct vreport *r, const char *section, const char *name,
			    const char *label, double value, const char *unit, struct vline seed,
			    struct vline target, const char *note)
{
	struct vfigure *f;

	if (r->nfigs == r->figs_cap) {
		size_t cap = r->figs_cap ? r->figs_cap * 2 : 16;
		struct vfigure *p = realloc(r->figs, cap * sizeof *p);

		if (!p)
			return NULL;
		r->figs = p;
		r->figs_cap = cap;
	}
	f = &r->figs[r->nfigs];
	memset(f, 0, sizeof *f);
	f->section = dup_or_empty(section);
	f->name = dup_or_empty(name);
	f->label = dup_or_empty(label ? label : name);
	f->unit = dup_or_empty(unit);
	f->note = note ? strdup(note) : NULL;
	if (!f->section || !f->name || !f->label || !f->unit || (note && !f->note)) {
		free(f->section);
		free(f->name);
		free(f->label);
		free(f->unit);
		free(f->note);
		return NULL;
	}
	f->value = value;
	f->seed = seed;
	f->target = target;
	f->seed_v = vline_check(seed, value);
	f->target_v = vline_check(target, value);
	r->nfigs++;
	return f;
}

const struct vfigure *vreport_find(const struct vreport *r, const char *section, const char *name)
{
	size_t i;

	for (i = 0; i < r->nfigs; i++)
		if (!strcmp(r->figs[i].section, section) && !strcmp(r->figs[i].name, name))
			return &r->figs[i];
	return NULL;
}

void vreport_fact(struct vreport *r, const char *section, const char *key, json_t *value)
{
	json_t *s = json_object_get(r->facts, section);

	if (!s) {
		s = json_object();
		json_object_set_new(r->facts, section, s);
	}
	json_object_set_new(s, key, value ? value : json_null());
}

int vreport_chart(struct vreport *r, const char *file, const struct vchart *c)
{
	struct vchart_file *p;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int rc;

	if (!f)
		return -errno;
	rc = vchart_svg(f, c);
	if (fclose(f) != 0 && rc == 0)
		rc = -EIO;
	if (rc < 0) {
		free(buf);
		return rc;
	}
	p = realloc(r->charts, (r->ncharts + 1) * sizeof *p);
	if (!p) {
		free(buf);
		return -ENOMEM;
	}
	r->charts = p;
	p = &r->charts[r->ncharts];
	p->file = strdup(file);
	p->title = dup_or_empty(c->title);
	p->svg = buf;
	if (!p->file || !p->title) {
		free(p->file);
		free(p->title);
		free(buf);
		return -ENOMEM;
	}
	r->ncharts++;
	return 0;
}

/* value with its unit, or "not measured" */
static const char *value_str(const struct vfigure *f, char *buf, size_t size)
{
	if (isnan(f->value))
		snprintf(buf, size, "not measured");
	else if (fabs(f->value) >= 1e6 || (f->value != 0 && fabs(f->value) < 1e-3))
		snprintf(buf, size, "%.3g%s%s", f->value, *f->unit ? " " : "", f->unit);
	else
		snprintf(buf, size, "%.4g%s%s", f->value, *f->unit ? " " : "", f->unit);
	return buf;
}

static void line_cell(char *buf, size_t size, struct vline l, enum vverdict v)
{
	char s[64];

	vline_str(l, s, sizeof s);
	snprintf(buf, size, "%s%s%s", s, v == VV_NA ? "" : ": ", verdict_str(v));
}

static const char *decision_of(const struct vreport *r)
{
	return json_string_value(json_object_get(r->decision, "decision"));
}

static const char *provisional_of(const struct vreport *r)
{
	return json_is_true(json_object_get(r->decision, "provisional"))
		       ? " (provisional: the soak was shorter than the seed's 24 h)"
		       : "";
}

void vreport_table(FILE *f, const struct vreport *r)
{
	size_t i, w = 6;
	const char *last = NULL;

	for (i = 0; i < r->nfigs; i++)
		if (strlen(r->figs[i].label) > w)
			w = strlen(r->figs[i].label);
	if (w > 60)
		w = 60;
	fprintf(f, "%-9s %-*s %-16s %-16s %s\n", "section", (int)w, "figure", "value",
		"seed's line", "muster's target");
	for (i = 0; i < r->nfigs; i++) {
		const struct vfigure *g = &r->figs[i];
		char v[64], s[96], t[96];

		value_str(g, v, sizeof v);
		line_cell(s, sizeof s, g->seed, g->seed_v);
		line_cell(t, sizeof t, g->target, g->target_v);
		fprintf(f, "%-9s %-*.*s %-16s %-16s %s\n",
			last && !strcmp(last, g->section) ? "" : g->section, (int)w, (int)w,
			g->label, v, s, t);
		last = g->section;
	}
	if (r->decision) {
		size_t k;
		json_t *c;

		fprintf(f, "\ndecision: %s%s\n", decision_of(r), provisional_of(r));
		json_array_foreach(json_object_get(r->decision, "criteria"), k, c)
			fprintf(f, "  %-30s %-50s %-14s %s\n",
				json_string_value(json_object_get(c, "criterion")),
				json_string_value(json_object_get(c, "figure")),
				json_string_value(json_object_get(c, "verdict")),
				json_string_value(json_object_get(c, "line")));
	}
}

static json_t *num(double v)
{
	return isnan(v) || isinf(v) ? json_null() : json_real(v);
}

static json_t *line_json(struct vline l, enum vverdict v)
{
	static const char *const op[] = {"", "<=", "<", ">=", ">"};

	if (l.cmp == VCMP_NONE)
		return json_null();
	return json_pack("{s:s, s:o, s:s?}", "op", op[l.cmp], "limit", num(l.limit), "verdict",
			 v == VV_NA	? NULL
			 : v == VV_PASS ? "pass"
					: "fail");
}

json_t *vreport_json(const struct vreport *r)
{
	json_t *o = json_object(), *figs = json_array(), *charts = json_array();
	size_t i;

	for (i = 0; i < r->nfigs; i++) {
		const struct vfigure *g = &r->figs[i];

		json_array_append_new(
			figs, json_pack("{s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:s*}", "section",
					g->section, "name", g->name, "label", g->label, "value",
					num(g->value), "unit", g->unit, "seed",
					line_json(g->seed, g->seed_v), "target",
					line_json(g->target, g->target_v), "note", g->note));
	}
	for (i = 0; i < r->ncharts; i++)
		json_array_append_new(charts, json_pack("{s:s, s:s}", "file", r->charts[i].file,
							"title", r->charts[i].title));
	json_object_set_new(o, "title", json_string(r->title));
	json_object_set(o, "facts", r->facts);
	json_object_set_new(o, "figures", figs);
	json_object_set_new(o, "charts", charts);
	json_object_set(o, "decision", r->decision ? r->decision : json_null());
	return o;
}

/* Markdown text: | and newlines would break a table cell */
static void md_cell(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '|')
			fputs("\\|", f);
		else if (*s == '\n')
			fputc(' ', f);
		else
			fputc(*s, f);
	}
}

static int write_file(const char *dir, const char *name, const char *data, size_t len)
{
	char path[4096];
	FILE *f;
	int rc = 0;

	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
		return -ENAMETOOLONG;
	if (!(f = fopen(path, "w")))
		return -errno;
	if (fwrite(data, 1, len, f) != len)
		rc = -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

static int write_md(const struct vreport *r, const char *dir)
{
	char *buf = NULL, v[64], s[96], t[96];
	size_t len = 0, i;
	const char *last = NULL;
	FILE *f = open_memstream(&buf, &len);
	int rc;

	if (!f)
		return -errno;
	fprintf(f, "# %s\n", r->title);
	for (i = 0; i < r->nfigs; i++) {
		const struct vfigure *g = &r->figs[i];

		if (!last || strcmp(last, g->section)) {
			fprintf(f, "\n## %s\n\n", g->section);
			fprintf(f, "| figure | value | seed's line | muster's target | note |\n"
				   "|---|---|---|---|---|\n");
		}
		last = g->section;
		value_str(g, v, sizeof v);
		line_cell(s, sizeof s, g->seed, g->seed_v);
		line_cell(t, sizeof t, g->target, g->target_v);
		fputs("| ", f);
		md_cell(f, g->label);
		fputs(" | ", f);
		md_cell(f, v);
		fputs(" | ", f);
		md_cell(f, s);
		fputs(" | ", f);
		md_cell(f, t);
		fputs(" | ", f);
		md_cell(f, g->note);
		fputs(" |\n", f);
	}
	if (r->ncharts)
		fprintf(f, "\n## Charts\n\n");
	for (i = 0; i < r->ncharts; i++) {
		fputs("![", f);
		md_cell(f, r->charts[i].title);
		fprintf(f, "](%s)\n\n", r->charts[i].file);
	}
	if (r->decision) {
		size_t k;
		json_t *c;

		fprintf(f, "\n## Decision: %s%s\n\n", decision_of(r), provisional_of(r));
		fprintf(f, "| criterion | figure | line | verdict | decides |\n"
			   "|---|---|---|---|---|\n");
		json_array_foreach(json_object_get(r->decision, "criteria"), k, c)
		{
			static const char *const keys[] = {"criterion", "figure", "line", "verdict",
							   "decides"};
			size_t j;

			for (j = 0; j < 5; j++) {
				fputs("| ", f);
				md_cell(f, json_string_value(json_object_get(c, keys[j])));
				fputc(' ', f);
			}
			fputs("|\n", f);
		}
	}
	if (fclose(f) != 0) {
		free(buf);
		return -EIO;
	}
	rc = write_file(dir, "report.md", buf, len);
	free(buf);
	return rc;
}

int vreport_write(const struct vreport *r, const char *dir)
{
	json_t *j;
	char *s;
	size_t i;
	int rc;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	if ((rc = write_md(r, dir)) < 0)
		return rc;
	j = vreport_json(r);
	s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
	json_decref(j);
	if (!s)
		return -ENOMEM;
	rc = write_file(dir, "report.json", s, strlen(s));
	free(s);
	for (i = 0; rc == 0 && i < r->ncharts; i++)
		rc = write_file(dir, r->charts[i].file, r->charts[i].svg, strlen(r->charts[i].svg));
	return rc;
}

void vlog(struct vctx *v, const char *fmt, ...)
{
	va_list ap;

	if (!v->log)
		return;
	fputs("muster: validate: ", v->log);
	va_start(ap, fmt);
	vfprintf(v->log, fmt, ap);
	va_end(ap);
	fputc('\n', v->log);
	fflush(v->log);
}
