/*
 * decide.c - the seed's decision framework, figures in, decision out.
 *
 * GO when every GO criterion holds: works in >= 3 environments, stable over the soak
 * (memory within 10 %, no fd growth, round time within 20 %, delivery >= 90 %, no
 * hang), real-work overhead < 20 %, recovery < 60 s with < 5 % loss. PIVOT when any
 * PIVOT condition holds: fails in every environment tried, a memory leak or fd growth,
 * overhead > 30 %, recovery > 2 min or more than 5 % lost. ADJUST otherwise: a GO
 * criterion missed or not measured without reaching a PIVOT line, or an optimization
 * below half its line (the seed: adjust the plan's targets). The seed asks for 24 hours
 * of stability: a GO on a shorter soak says it is provisional, and for how long it ran.
 */
#define _GNU_SOURCE
#include "validate.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* the optimizations' lines (seed): pooling, batching, parallel spawn, sharding */
static const char *const opt_names[4] = {"pooling vs spawn per task", "batched vs single send",
					 "parallel vs sequential spawn", "sharded vs single store"};
static const double opt_lines[4] = {2, 3, 5, 2};

const char *vdecision_str(enum vdecision d)
{
	return d == VD_GO ? "GO" : d == VD_PIVOT ? "PIVOT" : "ADJUST";
}

enum state { MET = 1, MISSED, UNKNOWN };

static void add(json_t *why, const char *criterion, const char *figure, const char *line,
		enum state st, const char *decides)
{
	json_t *o;

	if (!why)
		return;
	o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "criterion", criterion, "figure", figure, "line",
		      line, "verdict",
		      st == MET	     ? "met"
		      : st == MISSED ? "missed"
				     : "not measured",
		      "decides", decides);
	if (o)
		json_array_append_new(why, o);
}

static int known(double v)
{
	return !isnan(v);
}

enum vdecision vdecide(const struct vcriteria *c, json_t **whyp)
{
	json_t *why = whyp ? json_array() : NULL;
	char fig[256];
	int go = 1, pivot = 0, adjust = 0, i, provisional = 0;
	enum state st;

	/* 1. environments */
	if (c->env_cells <= 0) {
		st = UNKNOWN;
		snprintf(fig, sizeof fig, "no environment tried");
	} else {
		st = c->env_ok >= 3 ? MET : MISSED;
		snprintf(fig, sizeof fig, "works in %d of %d", c->env_ok, c->env_cells);
	}
	go &= st == MET;
	if (c->env_cells > 0 && c->env_ok == 0) {
		pivot = 1;
		add(why, "environments", fig, "fails in every one tried: PIVOT", MISSED, "PIVOT");
	} else {
		add(why, "environments", fig, "works in >= 3", st, st == MET ? "GO" : "ADJUST");
	}

	/* 2. stability */
	if (!known(c->mem_drift_pct) || !known(c->fd_growth) || !known(c->time_drift_pct) ||
	    !known(c->soak_delivery_pct)) {
		go = 0;
		add(why, "stability", "no soak", "memory +-10 %, no fd growth, time +-20 %",
		    UNKNOWN, "ADJUST");
	} else {
		int leak = c->mem_drift_pct > 10 || c->fd_growth > 0;
		int stable = !leak && fabs(c->time_drift_pct) <= 20 && c->soak_delivery_pct >= 90 &&
			     c->soak_hangs == 0;

		snprintf(fig, sizeof fig,
			 "memory %+.1f %%, fds %+.0f, time %+.1f %%, delivery %.1f %%, %d hangs "
			 "over %.2f h",
			 c->mem_drift_pct, c->fd_growth, c->time_drift_pct, c->soak_delivery_pct,
			 c->soak_hangs, c->soak_hours);
		if (leak) {
			pivot = 1;
			add(why, "stability", fig, "a memory leak or fd growth: PIVOT", MISSED,
			    "PIVOT");
		} else {
			add(why, "stability", fig,
			    "memory +-10 %, no fd growth, time +-20 %, delivery >= 90 %, no hang",
			    stable ? MET : MISSED, stable ? "GO" : "ADJUST");
		}
		go &= stable;
		provisional = stable && !(c->soak_hours >= 24);
	}

	/* 3. real workload */
	if (!known(c->overhead_pct)) {
		go = 0;
		add(why, "real workload", "not run", "overhead < 20 %", UNKNOWN, "ADJUST");
	} else {
		snprintf(fig, sizeof fig, "overhead %.1f %%", c->overhead_pct);
		if (c->overhead_pct > 30) {
			pivot = 1;
			add(why, "real workload", fig, "overhead > 30 %: PIVOT", MISSED, "PIVOT");
		} else {
			st = c->overhead_pct < 20 ? MET : MISSED;
			add(why, "real workload", fig, "overhead < 20 %", st,
			    st == MET ? "GO" : "ADJUST");
		}
		go &= c->overhead_pct < 20;
	}

	/* 4. failure recovery */
	if (!known(c->recovery_s) || !known(c->loss_pct)) {
		go = 0;
		add(why, "failure recovery", "no chaos run", "< 60 s, < 5 % lost", UNKNOWN,
		    "ADJUST");
	} else {
		snprintf(fig, sizeof fig, "slowest %.3f s, %.2f %% lost", c->recovery_s,
			 c->loss_pct);
		if (c->recovery_s > 120 || c->loss_pct > 5) {
			pivot = 1;
			add(why, "failure recovery", fig, "> 2 min or > 5 % lost: PIVOT", MISSED,
			    "PIVOT");
		} else {
			st = c->recovery_s < 60 && c->loss_pct < 5 ? MET : MISSED;
			add(why, "failure recovery", fig, "< 60 s, < 5 % lost", st,
			    st == MET ? "GO" : "ADJUST");
		}
		go &= c->recovery_s < 60 && c->loss_pct < 5;
	}

	/* 5. optimizations: below half their line adjusts the plan */
	for (i = 0; i < 4; i++) {
		char line[64];

		snprintf(line, sizeof line, ">= %.0fx (half: %.1fx)", opt_lines[i],
			 opt_lines[i] / 2);
		if (!known(c->opt_ratio[i])) {
			add(why, opt_names[i], "not measured", line, UNKNOWN, "-");
			continue;
		}
		snprintf(fig, sizeof fig, "%.2fx", c->opt_ratio[i]);
		if (c->opt_ratio[i] < opt_lines[i] / 2) {
			adjust = 1;
			add(why, opt_names[i], fig, line, MISSED, "ADJUST");
		} else {
			add(why, opt_names[i], fig, line,
			    c->opt_ratio[i] >= opt_lines[i] ? MET : MISSED, "-");
		}
	}
	if (whyp) {
		if (provisional && go && !pivot && !adjust) {
			snprintf(fig, sizeof fig, "%.2f h", c->soak_hours);
			add(why, "soak duration", fig,
			    ">= 24 h (a shorter soak: GO is provisional)", MISSED, "provisional");
		}
		*whyp = why;
	}
	if (pivot)
		return VD_PIVOT;
	if (go && !adjust)
		return VD_GO;
	return VD_ADJUST;
}
