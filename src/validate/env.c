/*
 * env.c - muster validate env: the facts of this environment that decide whether
 * muster works here (where a bus goes and what that file system is, descriptor, process
 * and memory limits, the container and cgroup it runs in, the security modules), then
 * agents coordinating on a bus where muster puts one by default, beside the spawn floor
 * of the same run (the seed's MVP 1: <= 2x the baseline, >= 90 % delivered).
 *
 * With --matrix the same measurement runs again in each cell of matrix.c (a namespace
 * mimicking Docker's 64 MB /dev/shm, a 1 GB one, none, a read-only one, 1024
 * descriptors, a low pids limit): a child `muster validate __cell` there prints its
 * figures as one JSON line, and what muster said on stderr (a bus put elsewhere, fewer
 * agents at once) is kept as the cell's degradation.
 */
#define _GNU_SOURCE
#include "validate.h"

#include "../run/run.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int venv_coordinate(struct vctx *v, const char *url, int agents, struct run_bench *b, char *err,
		    size_t errsz)
{
	mst_bus *bus;
	int rc;

	memset(b, 0, sizeof *b);
	if ((rc = mst_bus_open(&bus, url, NULL)) < 0) {
		snprintf(err, errsz, "cannot open a bus at %s: %s", url, mst_strerror(rc));
		return rc;
	}
	snprintf(b->bus, sizeof b->bus, "%s", mst_bus_path(bus));
	mst_bus_close(bus);
	b->agents = agents;
	b->self = v->self;
	b->dir = b->bus;
	b->run = "validate";
	rc = run_bench_coordinate(b, err, errsz);
	run_rmtree(b->bus);
	return rc;
}

int validate_env(struct vctx *v)
{
	static const int sweep[] = {10, 50, 100, 300, 1000};
	int agents = v->agents > 0 ? v->agents : 100, i, rc, n = 0;
	double xs[5], ys[5], fs[5];
	struct run_bench b;
	char url[64], err[512], note[640];
	double ratio = NAN, secs = NAN, delivery = NAN;

	vlog(v, "env: reading the environment");
	{
		struct venv e;
		const char *k;
		json_t *o, *val;

		venv_read(&e, "local:validate");
		o = venv_json(&e);
		json_object_foreach(o, k, val) vreport_fact(v->r, "env", k, json_incref(val));
		json_decref(o);
	}
	snprintf(url, sizeof url, "local:validate-env-%d", (int)getpid());
	vlog(v, "env: %d agents coordinating (and the spawn floor)", agents);
	rc = venv_coordinate(v, url, agents, &b, err, sizeof err);
	if (rc == 0 || b.seconds > 0) {
		secs = b.seconds;
		ratio = b.floor > 0 ? b.seconds / b.floor : NAN;
		delivery = 100.0 * (double)b.delivered / (double)agents;
	}
	vreport_fact(v->r, "env", "bus", json_string(b.bus));
	snprintf(note, sizeof note, "%s; floor: %d bare spawns, %.3f s", rc < 0 ? err : "ok",
		 agents, b.floor);
	vreport_add(v->r, "env", "coordinate_ratio", "coordination time / spawn floor", ratio, "x",
		    (struct vline){VCMP_LE, 2}, (struct vline){VCMP_LE, 1.25}, note);
	vreport_add(v->r, "env", "coordinate_seconds", "coordination time", secs, "s",
		    (struct vline){VCMP_LT, 10}, (struct vline){VCMP_NONE, 0}, NULL);
	vreport_add(v->r, "env", "delivery", "delivery", delivery, "%", (struct vline){VCMP_GE, 90},
		    (struct vline){VCMP_GE, 100}, NULL);
	/* the chart: coordination time against agent count, beside the floor */
	for (i = 0; i < 5 && !v->quick; i++) {
		struct run_bench s;

		vlog(v, "env: scaling, %d agents", sweep[i]);
		snprintf(url, sizeof url, "local:validate-env-%d-%d", (int)getpid(), sweep[i]);
		if (venv_coordinate(v, url, sweep[i], &s, err, sizeof err) < 0 && s.seconds <= 0)
			continue;
		xs[n] = sweep[i];
		ys[n] = s.seconds;
		fs[n] = s.floor;
		n++;
	}
	if (n) {
		struct vseries ser[2] = {{"muster run (every reply in)", xs, ys, (size_t)n},
					 {"spawn floor (bare vfork + exec)", xs, fs, (size_t)n}};
		struct vchart c = {.kind = VCHART_LINE,
				   .title = "Coordination time against agent count",
				   .xlabel = "agents",
				   .ylabel = "seconds",
				   .series = ser,
				   .nseries = 2};

		vreport_chart(v->r, "env-scaling.svg", &c);
	}
	if (v->matrix) {
		int cells = 0, ok = 0, host_ok = !isnan(ratio) && ratio <= 2 && delivery >= 90;

		validate_matrix(v, &cells, &ok);
		snprintf(note, sizeof note,
			 cells ? "this machine and %d emulated environments (the cells above)"
			       : "this machine only: the emulated environments need root",
			 cells);
		vreport_add(v->r, "matrix", "works_in", "environments where muster works",
			    ok + host_ok, "", (struct vline){VCMP_GE, 3},
			    (struct vline){VCMP_GE, (double)cells + 1}, note);
		vreport_fact(v->r, "env", "environments",
			     json_pack("{s:i, s:i}", "tried", cells + 1, "working", ok + host_ok));
	}
	return rc < 0 ? rc : 0;
}

/* muster validate __cell: the environment's facts and the coordination, as one JSON
 * line on stdout (run inside a matrix cell). */
int validate_cell(struct vctx *v)
{
	int agents = v->agents > 0 ? v->agents : 100, rc;
	struct run_bench b;
	struct venv e;
	char url[64], err[512];
	json_t *o;
	char *s;

	venv_read(&e, "local:validate-cell");
	snprintf(url, sizeof url, "local:validate-cell-%d", (int)getpid());
	rc = venv_coordinate(v, url, agents, &b, err, sizeof err);
	o = json_pack("{s:o, s:s, s:i, s:f, s:f, s:I, s:i, s:s*}", "env", venv_json(&e), "bus",
		      b.bus, "agents", agents, "seconds", b.seconds, "floor", b.floor, "delivered",
		      (json_int_t)b.delivered, "status", b.status, "error", rc < 0 ? err : NULL);
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!s)
		return -ENOMEM;
	printf("%s\n", s);
	free(s);
	return 0;
}

/* All of fd (from its start) into a malloc'ed string. */
static char *read_back(int fd)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t r;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return NULL;
	for (;;) {
		if (len + 4096 > cap) {
			char *p = realloc(buf, cap = len + 65536);

			if (!p)
				break;
			buf = p;
		}
		if ((r = read(fd, buf + len, cap - len - 1)) <= 0)
			break;
		len += (size_t)r;
	}
	if (buf)
		buf[len] = 0;
	return buf;
}

/* The lines of text that tell of a degradation (muster changed how it runs). */
static json_t *degradations(const char *err)
{
	json_t *a = json_array();
	const char *p = err, *nl;

	while (p && *p) {
		nl = strchr(p, '\n');
		if (!nl)
			nl = p + strlen(p);
		if (memmem(p, (size_t)(nl - p), "running at most", 15) ||
		    memmem(p, (size_t)(nl - p), "chose", 5) ||
		    memmem(p, (size_t)(nl - p), "cannot", 6))
			json_array_append_new(a, json_stringn(p, (size_t)(nl - p)));
		p = *nl ? nl + 1 : nl;
	}
	return a;
}

static int scratch_fd(void)
{
	char path[] = "/tmp/muster-validate-XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);

	if (fd >= 0)
		unlink(path);
	return fd;
}

void validate_matrix(struct vctx *v, int *cells_out, int *ok_out)
{
	size_t ncells, i;
	const struct vcell *cells = vmatrix_cells(&ncells);
	int agents = v->agents > 0 ? v->agents : 100, ok = 0, tried = 0;
	double ratios[16];
	const char *labels[16];
	char agents_s[16];

	snprintf(agents_s, sizeof agents_s, "%d", agents);
	for (i = 0; i < ncells && i < 16; i++) {
		char *argv[] = {(char *)v->self, "validate", "__cell", "--agents", agents_s, NULL};
		char name[96], label[160], err[512], note[1024];
		double ratio = NAN, delivery = NAN;
		int out = scratch_fd(), errfd = scratch_fd(), status = 0, rc;
		json_t *o = NULL, *fact;
		char *text = NULL, *etext = NULL;

		labels[i] = cells[i].name;
		ratios[i] = NAN;
		snprintf(name, sizeof name, "%s", cells[i].name);
		snprintf(label, sizeof label, "%s: %s", cells[i].name, cells[i].what);
		vlog(v, "env --matrix: %s (%s)", cells[i].name, cells[i].what);
		if (out < 0 || errfd < 0) {
			rc = -errno;
			snprintf(err, sizeof err, "cannot make a scratch file: %s",
				 strerror(errno));
		} else {
			err[0] = 0;
			rc = vmatrix_exec(cells[i].name, argv, out, errfd, &status, err,
					  sizeof err);
		}
		if (rc == 0) {
			text = read_back(out);
			etext = read_back(errfd);
			o = text ? json_loads(text, 0, NULL) : NULL;
		}
		if (o && !json_object_get(o, "error")) {
			double secs = json_real_value(json_object_get(o, "seconds"));
			double floor = json_real_value(json_object_get(o, "floor"));

			ratio = floor > 0 ? secs / floor : NAN;
			delivery = 100.0 *
				   (double)json_integer_value(json_object_get(o, "delivered")) /
				   agents;
			snprintf(note, sizeof note, "bus in %s (%s); %.3f s, floor %.3f s",
				 json_string_value(json_object_get(o, "bus")),
				 json_string_value(json_object_get(
					 json_object_get(json_object_get(o, "env"), "bus_fs"),
					 "type")),
				 secs, floor);
		} else if (rc < 0) {
			snprintf(note, sizeof note, "not run: %s", err);
		} else {
			snprintf(note, sizeof note,
				 "the measurement failed in the cell (exit %d): %s",
				 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
				 o		   ? json_string_value(json_object_get(o, "error"))
				 : etext && *etext ? etext
						   : "no output");
		}
		fact = json_pack("{s:s, s:o, s:o}", "what", cells[i].what, "result",
				 o ? json_incref(o) : json_null(), "degradation",
				 degradations(etext));
		vreport_fact(v->r, "env --matrix", name, fact);
		if (rc != -EPERM)
			tried++;
		if (!isnan(ratio) && ratio <= 2 && delivery >= 90)
			ok++;
		ratios[i] = ratio;
		vreport_add(v->r, "matrix", name, label, ratio, "x", (struct vline){VCMP_LE, 2},
			    (struct vline){VCMP_LE, 1.25}, note);
		vreport_add(v->r, "matrix", name, "  delivery", delivery, "%",
			    (struct vline){VCMP_GE, 90}, (struct vline){VCMP_GE, 100}, NULL);
		json_decref(o);
		free(text);
		free(etext);
		if (out >= 0)
			close(out);
		if (errfd >= 0)
			close(errfd);
	}
	*cells_out = tried;
	*ok_out = ok;
	if (tried) {
		struct vseries s = {"coordination time / spawn floor", NULL, ratios, i};
		struct vchart c = {.kind = VCHART_BAR,
				   .title = "env --matrix: coordination time against the floor",
				   .ylabel = "x the spawn floor",
				   .series = &s,
				   .nseries = 1,
				   .labels = labels,
				   .nlabels = i,
				   .ref_y = 2,
				   .ref_label = "seed's line (2x)"};

		vreport_chart(v->r, "env-matrix.svg", &c);
	}
}
