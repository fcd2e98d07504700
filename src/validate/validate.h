/*
 * validate.h - muster validate: the seed's five validation MVPs (environment,
 * stability, real workload, chaos, optimizations) as measurements on this machine, each
 * figure beside the seed's pass line and muster's own target, reported as a terminal
 * table and, with --report DIR, report.md, report.json and SVG charts; `all` ends with
 * the seed's decision framework (GO, PIVOT or ADJUST).
 *
 * Built on the public API and the supervisor (src/run), like the CLI.
 */
#ifndef MST_VALIDATE_H
#define MST_VALIDATE_H

#include "muster.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

/* --- charts (svg.c) ------------------------------------------------------------------ */

/* One series of a line or bar chart: n points (x[i], y[i]); a bar chart uses y only,
 * one value per label of the chart. NaN values are gaps (not drawn). */
struct vseries {
	const char *name;
	const double *x, *y;
	size_t n;
};

/* One span of a timeline: on row `row`, from start to end (the chart's x unit); a
 * span with end == start is a point event (a marker). */
struct vspan {
	const char *row, *label;
	double start, end;
};

enum vchart_kind {
	VCHART_LINE = 1, /* series of (x, y) points joined by lines, with markers */
	VCHART_BAR,	 /* groups of bars: one group per label, one bar per series */
	VCHART_TIMELINE	 /* rows of spans and point events along x */
};

struct vchart {
	enum vchart_kind kind;
	const char *title, *xlabel, *ylabel;
	const struct vseries *series;
	size_t nseries;
	const char *const *labels; /* bar: the groups' names */
	size_t nlabels;
	const struct vspan *spans; /* timeline */
	size_t nspans;
	/* a horizontal reference line (line and bar charts), such as a pass line; ignored
	 * when ref_label is NULL */
	double ref_y;
	const char *ref_label;
	int log_y; /* line and bar charts: a logarithmic y axis (values <= 0 are gaps) */
};

/* Writes c as a standalone SVG document (UTF-8, no external resources) to f. Text is
 * escaped; an empty chart says "no data". 0, or -errno when writing fails, or -EINVAL
 * for a chart that cannot be drawn (unknown kind, a bar series whose n is not nlabels). */
int vchart_svg(FILE *f, const struct vchart *c);

/* --- figures and reports (report.c) ------------------------------------------------- */

enum vcmp { VCMP_NONE = 0, VCMP_LE, VCMP_LT, VCMP_GE, VCMP_GT };

/* A line a figure passes when value CMP limit (VCMP_NONE: no such line). */
struct vline {
	enum vcmp cmp;
	double limit;
};

enum vverdict { VV_NA = 0, VV_PASS, VV_FAIL };

/* A measured figure beside the seed's pass line and muster's target. value NaN: not
 * measured (the note says why). */
struct vfigure {
	char *section, *name, *label, *unit, *note;
	double value;
	struct vline seed, target;
	enum vverdict seed_v, target_v;
};

struct vchart_file {
	char *file, *title, *svg; /* svg: the rendered document */
};

struct vreport {
	char *title;
	json_t *facts; /* {"section": {"key": value}} */
	struct vfigure *figs;
	size_t nfigs, figs_cap;
	struct vchart_file *charts;
	size_t ncharts;
	json_t *decision; /* set by vreport_decide (all) */
};

/* The verdict of value against l: VV_NA without a line or a value. */
enum vverdict vline_check(struct vline l, double value);
/* "<= 2", ">= 90", "" */
const char *vline_str(struct vline l, char *buf, size_t size);

struct vreport *vreport_new(const char *title);
void vreport_free(struct vreport *r);
/* Adds a figure (strings copied; note may be NULL) and judges it against both lines.
 * NULL when out of memory. */
struct vfigure *vreport_add(struct vreport *r, const char *section, const char *name,
			    const char *label, double value, const char *unit, struct vline seed,
			    struct vline target, const char *note);
/* The figure named section/name, or NULL. */
const struct vfigure *vreport_find(const struct vreport *r, const char *section, const char *name);
/* Records a fact (value consumed) under section/key. */
void vreport_fact(struct vreport *r, const char *section, const char *key, json_t *value);
/* Renders chart c now and keeps it for vreport_write as file (e.g. "env-time.svg").
 * 0 or -errno. */
int vreport_chart(struct vreport *r, const char *file, const struct vchart *c);
/* The table of figures, one line each (section, figure, value, seed line and verdict,
 * target and verdict), and the decision if there is one. */
void vreport_table(FILE *f, const struct vreport *r);
/* The whole report as JSON: {"title", "facts", "figures": [...], "charts": [...],
 * "decision"}. */
json_t *vreport_json(const struct vreport *r);
/* Writes report.md, report.json and the charts into dir (created if missing). 0 or
 * -errno. */
int vreport_write(const struct vreport *r, const char *dir);

/* --- the decision framework (decide.c) ------------------------------------------------ */

/* What the seed's decision rests on; NaN (or -1 for counts): not measured. */
struct vcriteria {
	int env_cells, env_ok;	  /* environments tried (env and env --matrix), working */
	double soak_hours;	  /* how long the soak ran */
	double mem_drift_pct;	  /* largest RSS growth of a muster process, % */
	double fd_growth;	  /* open fds at the end less at the start, all processes */
	double time_drift_pct;	  /* round time at the end against the start, % */
	double soak_delivery_pct; /* lowest delivery of a round */
	int soak_hangs;		  /* rounds that did not finish in time */
	double overhead_pct;	  /* real work under muster against run directly, % */
	double recovery_s;	  /* slowest recovery of a chaos scenario */
	double loss_pct;	  /* largest share of tasks lost in a chaos scenario */
	double opt_ratio[4];	  /* pooling, batching, parallel spawn, sharding: speed-ups */
};

enum vdecision { VD_GO = 1, VD_PIVOT, VD_ADJUST };

const char *vdecision_str(enum vdecision d);
/* The seed's decision on c: GO when every GO criterion holds, PIVOT when any PIVOT
 * condition does, ADJUST otherwise (a criterion not met or not measured, or
 * optimizations below half their lines). *why receives a JSON array of
 * {"criterion", "figure", "line", "verdict", "decides"} (NULL allowed). */
enum vdecision vdecide(const struct vcriteria *c, json_t **why);

/* --- the subcommands -------------------------------------------------------------- */

struct vctx {
	struct vreport *r;
	const char *self;		  /* the muster executable */
	FILE *log;			  /* progress lines (NULL: none) */
	int agents;			  /* --agents; 0: the subcommand's default */
	int quick;			  /* fewer and shorter measurements (all) */
	int64_t duration_ms, interval_ms; /* soak: --duration, --interval (0: defaults) */
	int compress;			  /* soak: rounds back to back */
	int matrix;			  /* env: also in the emulated environments */
	char **cmd; /* workload: the command after --, NULL-terminated (NULL: the built-in
		     * work) */
	int tasks;  /* workload: --tasks (0: the subcommand's default) */
	unsigned shards; /* optimize: stores of the sharded bus (the sharding flag's count
			  * when it names one; else RUN_SHARDS_DEFAULT) */
};

/* A progress line "muster: validate: ..." on v->log. */
void vlog(struct vctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* --- the environment's facts (envfacts.c; muster doctor shows them too) --- */

#include <limits.h>
#include <sys/resource.h>

struct venv_fs {
	int ok; /* a directory we could look at */
	char type[32];
	unsigned long long size, avail;
	int readonly, writable;
};

struct venv {
	int locate_rc; /* mst_bus_locate's */
	char bus_dir[PATH_MAX], why[2048];
	struct venv_fs bus_fs, shm_fs;
	struct rlimit nofile, nproc;
	long long file_max, pid_max, mem_total, mem_avail;
	long cpus;
	char cgroup[512], cg_memory_max[64], cg_pids_max[64], cg_cpu_max[64];
	char container[32], product[128], lsm[256], apparmor[128], kernel[128], machine[72];
	int hypervisor, pidfd;
};

/* Reads the facts for a bus named url (NULL: the default, as mst_bus_open). */
void venv_read(struct venv *e, const char *url);
json_t *venv_json(const struct venv *e);
void venv_fs(const char *path, struct venv_fs *fi);
/* A small file into buf, without trailing newlines or spaces: 0 or -1. */
int venv_slurp(const char *path, char *buf, size_t sz);

/* env (env.c): the environment's facts, then agents coordinating; with v->matrix also
 * in each cell of matrix.c (*cells tried, *ok working). */
int validate_env(struct vctx *v);
void validate_matrix(struct vctx *v, int *cells, int *ok);
/* The measurement of a matrix cell, run inside it: one JSON line on stdout. */
int validate_cell(struct vctx *v);
/* soak (soak.c): coordination rounds for --duration, watching memory, descriptors,
 * store size, round time and delivery for drift. */
int validate_soak(struct vctx *v);
/* all (all.c): every measurement, short unless told, then the decision (r->decision:
 * {"decision", "criteria", "provisional"}). */
int validate_all(struct vctx *v);
/* The decision's inputs, from the figures of a report. */
void vcriteria_from(const struct vreport *r, struct vcriteria *c);
/* chaos (chaos.c): faults against a live run, counted per task id, with recovery
 * times. */
int validate_chaos(struct vctx *v);
/* workload (workload.c): real work run directly and under muster, with and without CPU
 * and memory pressure: the coordination overhead and delivery. */
int validate_workload(struct vctx *v);
/* optimize (optimize.c): pooling, batching, parallel spawn, sharding against the naive
 * way. */
int validate_optimize(struct vctx *v);
struct run_bench;
/* Runs the headline benchmark with agents on a fresh bus at url (removed after). */
int venv_coordinate(struct vctx *v, const char *url, int agents, struct run_bench *b, char *err,
		    size_t errsz);

/* --- env --matrix: environments emulated in namespaces (matrix.c) ------------------- */

/* A cell of the matrix: what it mimics, and how. */
struct vcell {
	const char *name; /* "docker-shm-64m", "shm-1g", "no-shm", "shm-read-only",
			   * "nofile-1024", "pids-256" */
	const char *what; /* for people: "Docker's default 64 MB /dev/shm" */
};

/* The cells, in order; *n receives their count. */
const struct vcell *vmatrix_cells(size_t *n);

/* Runs argv (argv[0] a path) in cell `name`: a child in a mount namespace of its own
 * (private propagation) where /dev/shm is replaced as the cell says (a tmpfs of a given
 * size, none at all, read-only), with the cell's rlimits, or in a cgroup with a pids
 * limit; its stdout goes to out_fd, its stderr to err_fd. *status receives its wait
 * status. Needs root (CAP_SYS_ADMIN): -EPERM otherwise, with why in err. 0, or -errno
 * (err says what could not be set up; nothing is left mounted or created on the host). */
int vmatrix_exec(const char *name, char *const argv[], int out_fd, int err_fd, int *status,
		 char *err, size_t errsz);

#endif
