/*
 * all.c - muster validate all: every measurement, short unless told (the soak runs
 * --duration, 2 minutes' worth by default, back to back; chaos 3,000 tasks; optimize
 * 300 spawns), then the seed's decision framework over their figures (decide.c).
 */
#define _GNU_SOURCE
#include "validate.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

/* The value of section/name, NaN when absent. */
static double fig(const struct vreport *r, const char *section, const char *name)
{
	const struct vfigure *f = vreport_find(r, section, name);

	return f ? f->value : NAN;
}

/* The largest value of the figures of section whose name starts with prefix and whose
 * unit is unit (NaN: none measured). */
static double worst(const struct vreport *r, const char *section, const char *prefix,
		    const char *unit)
{
	double w = NAN;
	size_t i;

	for (i = 0; i < r->nfigs; i++) {
		const struct vfigure *f = &r->figs[i];

		if (strcmp(f->section, section) || strncmp(f->name, prefix, strlen(prefix)) ||
		    (unit && strcmp(f->unit, unit)) || isnan(f->value))
			continue;
		if (isnan(w) || f->value > w)
			w = f->value;
	}
	return w;
}

void vcriteria_from(const struct vreport *r, struct vcriteria *c)
{
	json_t *envs = json_object_get(json_object_get(r->facts, "env"), "environments");
	double ms;

	memset(c, 0, sizeof *c);
	if (envs) {
		c->env_cells = (int)json_integer_value(json_object_get(envs, "tried"));
		c->env_ok = (int)json_integer_value(json_object_get(envs, "working"));
	} else if (vreport_find(r, "env", "delivery")) {
		/* this machine only */
		double ratio = fig(r, "env", "coordinate_ratio"), d = fig(r, "env", "delivery");

		c->env_cells = 1;
		c->env_ok = !isnan(ratio) && ratio <= 2 && d >= 90;
	}
	c->soak_hours = fig(r, "soak", "hours");
	c->mem_drift_pct = fig(r, "soak", "memory_drift");
	c->fd_growth = fig(r, "soak", "fd_growth");
	c->time_drift_pct = fig(r, "soak", "time_drift");
	c->soak_delivery_pct = fig(r, "soak", "delivery_min");
	c->soak_hangs = (int)(isnan(fig(r, "soak", "hangs")) ? 0 : fig(r, "soak", "hangs"));
	c->overhead_pct = worst(r, "workload", "overhead", "%");
	ms = worst(r, "chaos", "", "ms");
	c->recovery_s = isnan(ms) ? NAN : ms / 1000.0;
	c->loss_pct = worst(r, "chaos", "", "% lost, duplicated or not ok");
	c->opt_ratio[0] = fig(r, "optimize", "pooling");
	c->opt_ratio[1] = fig(r, "optimize", "batching");
	c->opt_ratio[2] = fig(r, "optimize", "parallel_spawn");
	c->opt_ratio[3] = fig(r, "optimize", "sharding");
}

int validate_all(struct vctx *v)
{
	static const struct {
		const char *name;
		int (*fn)(struct vctx *);
	} steps[] = {{"env", validate_env},
		     {"soak", validate_soak},
		     {"workload", validate_workload},
		     {"chaos", validate_chaos},
		     {"optimize", validate_optimize}};
	struct vcriteria c;
	json_t *why = NULL;
	enum vdecision d;
	size_t i;
	int provisional = 0, rc, failed = 0;

	v->quick = 1;
	v->matrix = geteuid() == 0; /* the emulated environments need root */
	if (!v->duration_ms)
		v->duration_ms = 2 * 60 * 1000;
	if (!v->interval_ms)
		v->interval_ms = 1000;
	v->compress = 1;
	for (i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		vlog(v, "all: %s", steps[i].name);
		if ((rc = steps[i].fn(v)) < 0) {
			vlog(v, "all: %s could not run: %s", steps[i].name, mst_strerror(rc));
			failed++;
		}
	}
	vcriteria_from(v->r, &c);
	d = vdecide(&c, &why);
	{
		size_t k;
		json_t *o;

		json_array_foreach(why, k, o) provisional |=
			!strcmp(json_string_value(json_object_get(o, "decides")), "provisional");
	}
	json_decref(v->r->decision);
	v->r->decision = json_pack("{s:s, s:o, s:b}", "decision", vdecision_str(d), "criteria", why,
				   "provisional", provisional);
	return failed == (int)(sizeof steps / sizeof steps[0]) ? -EIO : 0;
}
