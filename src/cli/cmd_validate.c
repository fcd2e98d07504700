/*
 * cmd_validate.c - muster validate SUBCOMMAND [OPTIONS]: the options, then the
 * measurements (src/validate), a table on stdout and the report files.
 *
 * Exit: 0 when every figure measured meets the seed's line, 1 when one does not (the
 * table says which), 2 on bad usage, 111 when a measurement could not run at all.
 */
#define _GNU_SOURCE
#include "cli.h"

#include "../run/run.h"
#include "../validate/validate.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* option bits, and which subcommand takes which */
enum {
	O_REPORT = 1,
	O_AGENTS = 2,
	O_DURATION = 4,
	O_INTERVAL = 8,
	O_COMPRESS = 16,
	O_MATRIX = 32,
	O_TASKS = 64,
	O_CMD = 128 /* takes -- CMD ARGS... */
};

static const struct {
	const char *name;
	int (*fn)(struct vctx *);
	int opts;
	const char *usage;
} subs[] = {
	{"env", validate_env, O_REPORT | O_AGENTS | O_MATRIX,
	 "env [--matrix] [--report DIR] [--agents N]"},
	{"soak", validate_soak, O_REPORT | O_AGENTS | O_DURATION | O_INTERVAL | O_COMPRESS,
	 "soak [--duration D] [--interval I] [--compress] [--agents N] [--report DIR]"},
	{"workload", validate_workload, O_REPORT | O_AGENTS | O_TASKS | O_CMD,
	 "workload [--agents N] [--tasks T] [--report DIR] [-- CMD [ARGS...]]"},
	{"chaos", validate_chaos, O_REPORT | O_AGENTS | O_TASKS,
	 "chaos [--tasks T] [--agents N] [--report DIR]"},
	{"optimize", validate_optimize, O_REPORT | O_AGENTS,
	 "optimize [--report DIR] [--agents N]"},
	{"all", validate_all, O_REPORT | O_DURATION,
	 "all [--duration D] [--report DIR]  (D: the soak's, default 2m)"},
	/* inside an env --matrix cell: one JSON line (not for people) */
	{"__cell", validate_cell, O_AGENTS, NULL},
};

/* the subcommands people use, for an error line: "env, soak or optimize" */
static const char *sub_names(void)
{
	static char buf[128];
	size_t k, n = 0, shown = 0, total = 0;

	for (k = 0; k < sizeof subs / sizeof subs[0]; k++)
		total += subs[k].usage != NULL;
	buf[0] = 0;
	for (k = 0; k < sizeof subs / sizeof subs[0]; k++) {
		if (!subs[k].usage)
			continue;
		shown++;
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s",
				      shown == 1       ? ""
				      : shown == total ? " or "
						       : ", ",
				      subs[k].name);
		if (n >= sizeof buf)
			break;
	}
	return buf;
}

int cmd_validate(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {{"report", required_argument, 0, O_REPORT},
					   {"agents", required_argument, 0, O_AGENTS},
					   {"duration", required_argument, 0, O_DURATION},
					   {"interval", required_argument, 0, O_INTERVAL},
					   {"compress", no_argument, 0, O_COMPRESS},
					   {"matrix", no_argument, 0, O_MATRIX},
					   {"tasks", required_argument, 0, O_TASKS},
					   {0, 0, 0, 0}};
	struct vctx v = {0};
	const char *sub, *report = NULL;
	char self[PATH_MAX], title[64];
	uint64_t n;
	int64_t ms;
	ssize_t len;
	size_t i, k;
	int c, rc, failed = 0;

	(void)cli;
	if (argc < 2)
		return die(EXIT_USAGE, "validate: which measurement? %s (see muster(1))",
			   sub_names());
	sub = argv[1];
	for (k = 0; k < sizeof subs / sizeof subs[0] && strcmp(subs[k].name, sub); k++)
		;
	if (k == sizeof subs / sizeof subs[0])
		return die(EXIT_USAGE, "validate: unknown subcommand '%s' (%s)", sub, sub_names());
	argc--;
	argv++;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:", lo, NULL)) != -1) {
		if (c == ':')
			return die(EXIT_USAGE, "validate %s: %s needs a value", sub,
				   argv[optind - 1]);
		if (c == '?' || !(subs[k].opts & c)) {
			const char *name = argv[optind - 1];
			size_t o;

			/* a known option that this subcommand does not take: by its name */
			for (o = 0; c != '?' && lo[o].name; o++)
				if (lo[o].val == c)
					name = lo[o].name;
			return die(EXIT_USAGE, "validate %s: %s%s is not an option of %s (%s)", sub,
				   c == '?' ? "" : "--", name, sub,
				   subs[k].usage ? subs[k].usage : "internal");
		}
		switch (c) {
		case O_REPORT:
			if (!*optarg)
				return die(EXIT_USAGE, "validate %s: --report needs a directory",
					   sub);
			report = optarg;
			break;
		case O_AGENTS:
			if (parse_u64(optarg, &n) < 0 || n < 1 || n > 10000)
				return die(EXIT_USAGE,
					   "validate %s: --agents must be 1 to 10000, not '%s'",
					   sub, optarg);
			v.agents = (int)n;
			break;
		case O_DURATION:
		case O_INTERVAL:
			if (parse_duration(optarg, &ms) < 0 || ms <= 0)
				return die(EXIT_USAGE,
					   "validate %s: %s must be a duration such as 90s, 10m or "
					   "1h, "
					   "not '%s'",
					   sub, c == O_DURATION ? "--duration" : "--interval",
					   optarg);
			if (c == O_DURATION)
				v.duration_ms = ms;
			else
				v.interval_ms = ms;
			break;
		case O_COMPRESS:
			v.compress = 1;
			break;
		case O_MATRIX:
			v.matrix = 1;
			break;
		case O_TASKS:
			if (parse_u64(optarg, &n) < 0 || n < 1 || n > 100000)
				return die(EXIT_USAGE,
					   "validate %s: --tasks must be 1 to 100000, not '%s'",
					   sub, optarg);
			v.tasks = (int)n;
			break;
		}
	}
	if (optind < argc && (subs[k].opts & O_CMD) && !strcmp(argv[optind - 1], "--"))
		v.cmd = argv + optind; /* the command of workload */
	else if (optind != argc)
		return die(EXIT_USAGE, "validate %s: unexpected '%s' (usage: muster validate %s)",
			   sub, argv[optind], subs[k].usage);
	if (v.duration_ms && v.interval_ms && v.interval_ms > v.duration_ms)
		return die(EXIT_USAGE, "validate %s: --interval is longer than --duration", sub);
	len = readlink("/proc/self/exe", self, sizeof self - 1);
	if (len <= 0)
		return die(EXIT_SYSTEM, "validate: cannot find the muster executable");
	self[len] = 0;
	v.self = self;
	if (!subs[k].usage) { /* __cell */
		if (!(v.r = vreport_new(sub)))
			return die(EXIT_SYSTEM, "validate: out of memory");
		rc = subs[k].fn(&v);
		vreport_free(v.r);
		return finish(rc < 0 ? EXIT_SYSTEM : EXIT_OK);
	}
	{
		/* optimize's sharded bus: the flag's count of stores, when it names one */
		struct run_features f;

		if (run_features_load(&f) < 0)
			return die(EXIT_USAGE, "validate: %s", f.err);
		v.shards = f.shards > 1 ? f.shards : 0;
	}
	v.log = stderr;
	snprintf(title, sizeof title, "muster validate %s", sub);
	if (!(v.r = vreport_new(title)))
		return die(EXIT_SYSTEM, "validate: out of memory");
	rc = subs[k].fn(&v);
	vreport_table(stdout, v.r);
	for (i = 0; i < v.r->nfigs; i++)
		failed |= v.r->figs[i].seed_v == VV_FAIL;
	if (report) {
		int w = vreport_write(v.r, report);

		if (w < 0) {
			vreport_free(v.r);
			return die(EXIT_SYSTEM, "validate: cannot write the report in %s: %s",
				   report, strerror(-w));
		}
		fprintf(stderr,
			"muster: validate: report in %s (report.md, report.json, %zu charts)\n",
			report, v.r->ncharts);
	}
	vreport_free(v.r);
	if (rc < 0 && !failed)
		return finish(EXIT_SYSTEM);
	return finish(failed ? EXIT_EMPTY : EXIT_OK);
}
