/*
 * cmd_run.c - the supervisor's commands (src/run does the work):
 *
 *   muster run [--agents N] [--tasks FILE] [--coordinators C] [--timeout DUR]
 *              [--retries N] [--results FILE] [--run NAME] [--quiet] -- CMD [ARGS...]
 *   muster results RUN
 *   muster ps [--json]
 *   muster bench coordinate --agents N
 *   muster __coordinator RUN SLOTS      (started by the master; not for people)
 */
#define _GNU_SOURCE
#include "cli.h"
#include "../run/run.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* The bus directory of cli (absolute), for the processes the master starts. */
static int bus_dir(struct cli *cli, char *dir, size_t size)
{
	char why[256];
	int rc = mst_bus_locate(cli->bus_url, dir, size, why, sizeof why);

	if (rc < 0)
		return fail(rc, "cannot locate the bus");
	return 0;
}

/* Is cmd something posix_spawnp can run? */
static int runnable(const char *cmd)
{
	const char *path = getenv("PATH"), *p, *e;
	char buf[PATH_MAX];

	if (strchr(cmd, '/'))
		return access(cmd, X_OK) == 0;
	for (p = path ? path : "/usr/bin:/bin"; *p; p = *e ? e + 1 : e) {
		e = strchrnul(p, ':');
		if (snprintf(buf, sizeof buf, "%.*s/%s", (int)(e - p), p, cmd) < (int)sizeof buf &&
		    access(buf, X_OK) == 0)
			return 1;
	}
	return 0;
}

/* A size: a number of bytes with an optional K, M, G or T (powers of 1024). */
static int parse_size(const char *s, uint64_t *v)
{
	char num[32];
	size_t n = strlen(s);
	int shift = 0;

	if (n == 0 || n >= sizeof num)
		return -1;
	memcpy(num, s, n + 1);
	switch (num[n - 1]) {
	case 'K':
	case 'k':
		shift = 10;
		break;
	case 'M':
	case 'm':
		shift = 20;
		break;
	case 'G':
	case 'g':
		shift = 30;
		break;
	case 'T':
	case 't':
		shift = 40;
		break;
	default:
		break;
	}
	if (shift)
		num[n - 1] = 0;
	if (parse_u64(num, v) < 0 || *v > (UINT64_MAX >> shift))
		return -1;
	*v <<= shift;
	return 0;
}

/* Reads all of f (the task list as given: kept in the bus for --resume). */
static char *slurp_file(FILE *f, size_t *len)
{
	size_t cap = 1 << 16, n = 0, r;
	char *buf = malloc(cap), *p;

	while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			if (!(p = realloc(buf, cap * 2))) {
				free(buf);
				return NULL;
			}
			buf = p;
			cap *= 2;
		}
	}
	if (buf && ferror(f)) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

int cmd_run(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {{"agents", required_argument, 0, 'a'},
					   {"tasks", required_argument, 0, 't'},
					   {"coordinators", required_argument, 0, 'c'},
					   {"timeout", required_argument, 0, 'T'},
					   {"retries", required_argument, 0, 'r'},
					   {"results", required_argument, 0, 'o'},
					   {"run", required_argument, 0, 'n'},
					   {"quiet", no_argument, 0, 'q'},
					   {"mode", required_argument, 0, 'm'},
					   {"max-concurrency", required_argument, 0, 'M'},
					   {"rate", required_argument, 0, 'R'},
					   {"heartbeat", required_argument, 0, 'H'},
					   {"mem", required_argument, 0, 'x'},
					   {"cpu-time", required_argument, 0, 'u'},
					   {"nofile", required_argument, 0, 'f'},
					   {"standby", no_argument, 0, 'S'},
					   {"resume", required_argument, 0, 'z'},
					   {"progress", no_argument, 0, 'p'},
					   {"no-progress", no_argument, 0, 'P'},
					   {0, 0, 0, 0}};
	struct run_opts o = {.agents = 0, .retries = 0};
	struct run_tasks ts = {0};
	const char *tasks = NULL, *results = NULL;
	char dir[PATH_MAX], self[PATH_MAX], err[RUN_ERR], *src = NULL;
	uint64_t v;
	mst_bus *bus;
	FILE *in = stdin, *out = stdout;
	ssize_t len;
	int c, rc, code, progress = -1;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+:", lo, NULL)) != -1) {
		switch (c) {
		case 'a':
		case 'c':
		case 'r':
		case 'M':
			if (parse_u64(optarg, &v) < 0 || v > (c == 'r' ? 1000 : 100000) ||
			    (v == 0 && c != 'r'))
				return die(EXIT_USAGE, "run: invalid --%s '%s'",
					   c == 'a'   ? "agents"
					   : c == 'c' ? "coordinators"
					   : c == 'M' ? "max-concurrency"
						      : "retries",
					   optarg);
			if (c == 'a')
				o.agents = (int)v;
			else if (c == 'c')
				o.coordinators = (int)v;
			else if (c == 'M')
				o.max_concurrency = (int)v;
			else
				o.retries = (int)v;
			break;
		case 'T':
		case 'H':
			if (parse_duration(optarg, c == 'T' ? &o.timeout_ms : &o.heartbeat_ms) <
				    0 ||
			    (c == 'T' ? o.timeout_ms : o.heartbeat_ms) <= 0)
				return die(EXIT_USAGE, "run: invalid --%s '%s'",
					   c == 'T' ? "timeout" : "heartbeat", optarg);
			break;
		case 'R': {
			char *e;

			errno = 0;
			o.rate = strtod(optarg, &e);
			if (errno || e == optarg || *e || !(o.rate > 0) || o.rate > 1e6)
				return die(EXIT_USAGE,
					   "run: invalid --rate '%s' (task starts per second, > 0)",
					   optarg);
			break;
		}
		case 'x':
			if (parse_size(optarg, &o.mem) < 0 || o.mem < (1 << 20))
				return die(EXIT_USAGE,
					   "run: invalid --mem '%s' (bytes: 512M, 2G; at "
					   "least 1M)",
					   optarg);
			break;
		case 'u': {
			int64_t ms;

			if (parse_duration(optarg, &ms) < 0 || ms < 1000)
				return die(EXIT_USAGE, "run: invalid --cpu-time '%s' (at least 1s)",
					   optarg);
			o.cpu_s = (uint64_t)(ms / 1000);
			break;
		}
		case 'f':
			if (parse_u64(optarg, &o.nofile) < 0 || o.nofile < 3 ||
			    o.nofile > (1 << 30))
				return die(EXIT_USAGE, "run: invalid --nofile '%s' (3 or more)",
					   optarg);
			break;
		case 'm':
			if (strcmp(optarg, "exec") && strcmp(optarg, "pool") &&
			    strcmp(optarg, "bus"))
				return die(EXIT_USAGE,
					   "run: invalid --mode '%s' (exec, pool or bus)", optarg);
			o.mode = optarg;
			break;
		case 't':
			tasks = optarg;
			break;
		case 'o':
			results = optarg;
			break;
		case 'z':
			o.resume = 1;
			/* fall through */
		case 'n':
			if (strlen(optarg) > RUN_ID_MAX || mst_name_check(optarg) < 0 ||
			    strchr(optarg, '.'))
				return die(EXIT_USAGE,
					   "run: invalid run name '%.100s' ([A-Za-z0-9_:-], at "
					   "most %d)",
					   optarg, RUN_ID_MAX);
			if (o.run && strcmp(o.run, optarg))
				return die(EXIT_USAGE,
					   "run: --run and --resume name different runs");
			o.run = optarg;
			break;
		case 'S':
			o.standby = 1;
			break;
		case 'q':
			o.quiet = 1;
			break;
		case 'p':
		case 'P':
			progress = c == 'p';
			break;
		default:
			return die(EXIT_USAGE, "run: unknown option or missing value '%s'",
				   argv[optind - 1]);
		}
	}
	if (optind < argc && !strcmp(argv[optind], "--"))
		optind++;
	if (o.standby && o.resume)
		return die(EXIT_USAGE, "run: --standby and --resume do not go together");
	if (o.standby && !o.run)
		return die(EXIT_USAGE, "run: --standby needs --run NAME (the run to stand by for)");
	if (o.standby || o.resume) {
		/* the run's tasks, command and settings are in the bus */
		if (optind < argc || tasks || o.agents || o.coordinators || o.mode ||
		    o.max_concurrency || o.rate > 0 || o.timeout_ms || o.heartbeat_ms ||
		    o.retries || o.mem || o.cpu_s || o.nofile)
			return die(EXIT_USAGE,
				   "run: --%s takes the run's command, tasks and settings "
				   "from the bus; give only --run, --results, --quiet",
				   o.standby ? "standby" : "resume");
	} else {
		if (optind >= argc)
			return die(
				EXIT_USAGE,
				"usage: muster run [--agents N] [--tasks FILE] -- CMD [ARGS...]");
		o.cmd = argv + optind;
		if (!runnable(o.cmd[0]))
			return die(EXIT_USAGE, "run: cannot run '%s': not found or not executable",
				   o.cmd[0]);
		if (tasks && strcmp(tasks, "-") && !(in = fopen(tasks, "r")))
			return die(EXIT_NOTFOUND, "run: cannot read %s: %s", tasks,
				   strerror(errno));
		src = slurp_file(in, &o.tasks_len);
		if (in != stdin)
			fclose(in);
		if (!src)
			return die(EXIT_SYSTEM, "run: cannot read the tasks: %s", strerror(errno));
		rc = 0;
		if (o.tasks_len) {
			in = fmemopen(src, o.tasks_len, "r");
			rc = in ? run_tasks_read(&ts, in, err, sizeof err) : -1;
			if (in)
				fclose(in);
			else
				snprintf(err, sizeof err, "%s", strerror(errno));
		}
		if (rc < 0 || run_tasks_check(&ts, err, sizeof err) < 0) {
			run_tasks_free(&ts);
			free(src);
			return die(EXIT_USAGE, "run: %s", err);
		}
		o.tasks_src = src;
		if (!o.agents)
			o.agents = ts.n < 1 ? 1 : ts.n > 64 ? 64 : (int)ts.n;
	}
	if ((code = bus_dir(cli, dir, sizeof dir)) || (code = cli_open(cli, 0, &bus))) {
		run_tasks_free(&ts);
		free(src);
		return code;
	}
	len = readlink("/proc/self/exe", self, sizeof self - 1);
	if (len <= 0) {
		run_tasks_free(&ts);
		free(src);
		mst_bus_close(bus);
		return die(EXIT_SYSTEM, "run: cannot find the muster executable: %s",
			   strerror(errno));
	}
	self[len] = 0;
	if (results && !(out = fopen(results, "w"))) {
		run_tasks_free(&ts);
		free(src);
		mst_bus_close(bus);
		return die(EXIT_NOTFOUND, "run: cannot write %s: %s", results, strerror(errno));
	}
	run_raise_nofile();
	o.bus_dir = dir;
	o.self = self;
	o.results = out;
	/* a live progress line when stderr is a terminal (unless told) */
	o.progress = progress >= 0 ? progress : !o.quiet && isatty(2);
	rc = run_master(bus, &ts, &o, NULL);
	if (out != stdout && fclose(out) != 0 && rc == 0)
		rc = die(EXIT_SYSTEM, "run: writing %s failed", results);
	run_tasks_free(&ts);
	free(src);
	mst_bus_close(bus);
	if (rc == MST_ECONFLICT || rc == MST_EBUSY)
		return EXIT_CONFLICT;
	if (rc < 0)
		return exitcode(rc);
	return rc;
}

int cmd_coordinator(struct cli *cli, int argc, char **argv)
{
	char dir[PATH_MAX];
	uint64_t slots, cap = 0, first = 1;
	int code;

	if ((argc != 3 && argc != 5) || parse_u64(argv[2], &slots) < 0 || slots < 1 ||
	    slots > 1000000 ||
	    (argc == 5 &&
	     (parse_u64(argv[3], &cap) < 0 || cap > slots || parse_u64(argv[4], &first) < 0)))
		return die(EXIT_USAGE, "usage: muster __coordinator RUN SLOTS [CAP FIRST] (started "
				       "by muster run)");
	if ((code = bus_dir(cli, dir, sizeof dir)))
		return code;
	run_raise_nofile();
	return run_coordinator(dir, argv[1], (int)slots, argc == 5 ? (int)cap : -1, first != 0);
}

/* muster forget RUN: a finished run's results, keys and files go. */
int cmd_forget(struct cli *cli, int argc, char **argv)
{
	mst_bus *bus;
	int rc, code;

	if (argc != 2 || mst_name_check(argv[1]) < 0 || strchr(argv[1], '.'))
		return die(EXIT_USAGE, "usage: muster forget RUN");
	if ((code = cli_open(cli, CLI_EXISTING, &bus)))
		return code;
	rc = run_forget(bus, mst_bus_path(bus), argv[1]);
	mst_bus_close(bus);
	if (rc == MST_ENOTFOUND)
		return die(EXIT_NOTFOUND, "forget: no run '%s'", argv[1]);
	if (rc == MST_EBUSY)
		return die(EXIT_CONFLICT,
			   "forget: run '%s' has a live master (muster stop %s first)", argv[1],
			   argv[1]);
	if (rc < 0)
		return fail(rc, "forget: run '%s'", argv[1]);
	return EXIT_OK;
}

int cmd_results(struct cli *cli, int argc, char **argv)
{
	char meta[MST_NAME_MAX + 1];
	mst_kv *kv, m;
	size_t n, i;
	mst_bus *bus;
	int rc, code;

	if (argc != 2 || mst_name_check(argv[1]) < 0 || strchr(argv[1], '.'))
		return die(EXIT_USAGE, "usage: muster results RUN");
	if ((code = cli_open(cli, CLI_EXISTING, &bus)))
		return code;
	snprintf(meta, sizeof meta, "run.%s.meta", argv[1]);
	if ((rc = mst_kv_get(bus, meta, &m)) < 0) {
		mst_bus_close(bus);
		return rc == MST_ENOTFOUND ? die(EXIT_NOTFOUND, "results: no run '%s'", argv[1])
					   : fail(rc, "results: cannot read run '%s'", argv[1]);
	}
	mst_kv_free(&m);
	rc = run_results_list(bus, argv[1], &kv, &n);
	mst_bus_close(bus);
	if (rc < 0)
		return fail(rc, "results: cannot list run '%s'", argv[1]);
	for (i = 0; i < n; i++)
		printf("%.*s\n", (int)kv[i].len, (const char *)kv[i].value);
	mst_kv_list_free(kv, n);
	return EXIT_OK;
}

int cmd_ps(struct cli *cli, int argc, char **argv)
{
	mst_kv *kv;
	mst_bus_opts bo = {.no_create = 1};
	mst_bus *bus;
	size_t n, i, shown = 0;
	int json = 0, rc, code;

	if (argc == 2 && !strcmp(argv[1], "--json"))
		json = 1;
	else if (argc != 1)
		return die(EXIT_USAGE, "usage: muster ps [--json]");
	rc = mst_bus_open(&bus, cli->bus_url, &bo);
	if (rc == MST_ENOTFOUND) {
		printf(json ? "[]\n" : "");
		return EXIT_OK;
	}
	if (rc < 0 && (code = cli_open(cli, CLI_EXISTING, &bus)))
		return code;
	rc = mst_kv_list(bus, "proc.", &kv, &n);
	mst_bus_close(bus);
	if (rc < 0)
		return fail(rc, "ps: cannot list runs");
	if (json)
		printf("[");
	else
		printf("%-8s %-12s %-28s %s\n", "PID", "ROLE", "RUN", "TASK");
	for (i = 0; i < n; i++) {
		json_t *o;
		pid_t pid;

		o = json_loadb(kv[i].value, kv[i].len, 0, NULL);
		pid = o ? (pid_t)json_integer_value(json_object_get(o, "pid")) : 0;
		if (!o || !run_proc_alive(pid, (uint64_t)json_integer_value(
						       json_object_get(o, "pstart")))) {
			json_decref(o);
			continue;
		}
		if (json) {
			char *s = json_dumps(o, JSON_COMPACT);

			printf("%s%s", shown ? "," : "", s ? s : "{}");
			free(s);
		} else {
			const char *id = json_string_value(json_object_get(o, "id"));

			printf("%-8d %-12s %-28s %s\n", (int)pid,
			       json_string_value(json_object_get(o, "role")) ?: "?",
			       json_string_value(json_object_get(o, "run")) ?: "?", id ? id : "-");
		}
		shown++;
		json_decref(o);
	}
	if (json)
		printf("]\n");
	mst_kv_list_free(kv, n);
	return EXIT_OK;
}

/* muster __pool-echo: a pool agent that replies to each task with its payload (the
 * agent of `muster bench coordinate --pool`, and a reference for agent writers). */
int cmd_pool_echo(struct cli *cli, int argc, char **argv)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, stdin)) > 0) {
		json_t *req = json_loadb(line, (size_t)n, 0, NULL), *rep = json_object();
		char *out;

		json_object_set(rep, "id", json_object_get(req, "id"));
		json_object_set(rep, "output", json_object_get(req, "payload"));
		out = json_dumps(rep, JSON_COMPACT);
		json_decref(req);
		json_decref(rep);
		if (!out || printf("%s\n", out) < 0 || fflush(stdout) != 0) {
			free(out);
			break;
		}
		free(out);
	}
	free(line);
	return EXIT_OK;
}

int cmd_bench(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {{"agents", required_argument, 0, 'a'},
					   {"tasks", required_argument, 0, 't'},
					   {"pool", no_argument, 0, 'p'},
					   {0, 0, 0, 0}};
	static const char usage_line[] =
		"usage: muster bench coordinate --agents N [--pool [--tasks T]]";
	struct run_bench b = {0};
	char self[PATH_MAX], err[512];
	uint64_t v;
	ssize_t len;
	int rc, c;

	(void)cli;
	optind = 0;
	if (argc < 2 || strcmp(argv[1], "coordinate"))
		return die(EXIT_USAGE, "%s", usage_line);
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "+:", lo, NULL)) != -1) {
		if ((c == 'a' || c == 't') && parse_u64(optarg, &v) == 0 && v >= 1 && v <= 100000) {
			if (c == 'a')
				b.agents = (int)v;
			else
				b.tasks = (size_t)v;
		} else if (c == 'p') {
			b.pool = 1;
		} else {
			return die(EXIT_USAGE, "%s", usage_line);
		}
	}
	if (optind != argc || !b.agents || (b.tasks && !b.pool))
		return die(EXIT_USAGE, "%s", usage_line);
	len = readlink("/proc/self/exe", self, sizeof self - 1);
	if (len <= 0)
		return die(EXIT_SYSTEM, "bench: cannot find the muster executable");
	self[len] = 0;
	b.self = self;
	if ((rc = run_bench_coordinate(&b, err, sizeof err)) < 0) {
		/* the run could not be made (the master has said why), or no bus */
		if (b.status < 0)
			return exitcode(b.status);
		return fail(rc, "bench: %s", err);
	}
	if (b.pool)
		printf("{\"mode\":\"pool\",\"agents\":%d,\"tasks\":%zu,\"seconds\":%.4f,"
		       "\"delivered\":%zu,\"delivery_pct\":%.3f,\"target_seconds\":0.05,"
		       "\"floor_seconds\":%.4f,\"ratio\":%.3f,\"floor\":\"%zu request/reply round "
		       "trips with one agent over pipes, one after the other\",\"status\":%d}\n",
		       b.agents, b.tasks, b.seconds, b.delivered,
		       100.0 * (double)b.delivered / (double)b.tasks, b.floor,
		       b.floor > 0 ? b.seconds / b.floor : 0, b.tasks, b.status);
	else
		printf("{\"agents\":%d,\"seconds\":%.4f,\"delivered\":%zu,\"delivery_pct\":%.3f,"
		       "\"floor_seconds\":%.4f,\"ratio\":%.3f,\"target_ratio\":1.25,\"floor\":\"%d "
		       "bare spawns of /bin/echo (vfork and exec), %d at once\","
		       "\"posix_spawn_floor_seconds\":%.4f,\"posix_spawn_ratio\":%.3f,\"status\":%"
		       "d}\n",
		       b.agents, b.seconds, b.delivered, 100.0 * (double)b.delivered / b.agents,
		       b.floor, b.floor > 0 ? b.seconds / b.floor : 0, b.agents, b.agents, b.pfloor,
		       b.pfloor > 0 ? b.seconds / b.pfloor : 0, b.status);
	if (b.status < 0)
		return exitcode(b.status);
	return b.delivered == b.tasks ? EXIT_OK : EXIT_EMPTY;
}

/* The live processes of run (or of every run, run NULL) as registered, or NULL. */
static json_t *run_procs(mst_bus *bus, const char *run)
{
	char prefix[MST_NAME_MAX + 1];
	json_t *arr = json_array();
	mst_kv *kv;
	size_t n, i;

	if (run)
		run_proc_key(prefix, sizeof prefix, run, 0);
	else
		snprintf(prefix, sizeof prefix, "proc.");
	if (!arr || mst_kv_list(bus, prefix, &kv, &n) < 0) {
		json_decref(arr);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		json_t *o;

		o = json_loadb(kv[i].value, kv[i].len, 0, NULL);
		if (o && run_proc_alive((pid_t)json_integer_value(json_object_get(o, "pid")),
					(uint64_t)json_integer_value(json_object_get(o, "pstart"))))
			json_array_append_new(arr, o);
		else
			json_decref(o);
	}
	mst_kv_list_free(kv, n);
	return arr;
}

static const char *jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k)) ?: "";
}

static pid_t jpid(json_t *o, const char *k)
{
	return (pid_t)json_integer_value(json_object_get(o, k));
}

/* The state of run and its master's pid (0 when it has none alive). */
static int run_state(mst_bus *bus, const char *run, char *state, size_t size, pid_t *master)
{
	char key[MST_NAME_MAX + 1];
	json_t *o;
	mst_kv kv;
	int rc;

	*master = 0;
	snprintf(key, sizeof key, "run.%s.meta", run);
	if ((rc = mst_kv_get(bus, key, &kv)) < 0)
		return rc;
	o = json_loadb(kv.value, kv.len, 0, NULL);
	mst_kv_free(&kv);
	snprintf(state, size, "%s", jstr(o, "state"));
	snprintf(key, sizeof key, "run.%s.master", run);
	if (mst_lock_held(bus, key) == 1)
		*master = jpid(o, "master");
	json_decref(o);
	return 0;
}

static int valid_run(const char *s)
{
	return strlen(s) <= RUN_ID_MAX && mst_name_check(s) == 0 && !strchr(s, '.');
}

int cmd_stop(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {{"now", no_argument, 0, 'n'},
					   {"wait", required_argument, 0, 'w'},
					   {"no-wait", no_argument, 0, 'W'},
					   {0, 0, 0, 0}};
	char state[32];
	const char *run;
	int64_t wait_ms = -1, t0;
	pid_t master;
	mst_bus *bus;
	json_t *procs;
	int c, now = 0, rc, code, pfd;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+:", lo, NULL)) != -1) {
		if (c == 'n')
			now = 1;
		else if (c == 'W')
			wait_ms = 0;
		else if (c == 'w' && parse_duration(optarg, &wait_ms) == 0)
			;
		else
			return die(EXIT_USAGE,
				   "usage: muster stop [--now] [--wait DUR|--no-wait] RUN");
	}
	if (optind != argc - 1 || !valid_run(argv[optind]))
		return die(EXIT_USAGE, "usage: muster stop [--now] [--wait DUR|--no-wait] RUN");
	run = argv[optind];
	if ((code = cli_open(cli, CLI_EXISTING, &bus)))
		return code;
	rc = run_state(bus, run, state, sizeof state, &master);
	if (rc < 0) {
		mst_bus_close(bus);
		return rc == MST_ENOTFOUND ? die(EXIT_NOTFOUND, "stop: no run '%s'", run)
					   : fail(rc, "stop: cannot read run '%s'", run);
	}
	if (!master) {
		mst_bus_close(bus);
		return die(EXIT_NOTFOUND, "stop: run '%s' has no live master (it is %s)", run,
			   state[0] ? state : "gone");
	}
	/* its master stops the tree: SIGTERM drains, SIGINT stops now */
	pfd = (int)syscall(SYS_pidfd_open, master, 0);
	if (kill(master, now ? SIGINT : SIGTERM) < 0) {
		mst_bus_close(bus);
		return die(EXIT_SYSTEM, "stop: cannot signal master %d: %s", (int)master,
			   strerror(errno));
	}
	if (wait_ms == 0) {
		mst_bus_close(bus);
		return EXIT_OK;
	}
	if (wait_ms < 0)
		wait_ms = now ? 30000 : INT64_MAX / 2;
	t0 = mst_now_ns() / 1000000;
	if (pfd >= 0) {
		struct pollfd p = {.fd = pfd, .events = POLLIN};
		int64_t left = wait_ms;

		while (left > 0 && poll(&p, 1, left > 1000 ? 1000 : (int)left) == 0)
			left = wait_ms - (mst_now_ns() / 1000000 - t0);
		close(pfd);
	}
	/* and every process of the run is gone */
	for (;;) {
		procs = run_procs(bus, run);
		if (procs && json_array_size(procs) == 0)
			break;
		json_decref(procs);
		if (mst_now_ns() / 1000000 - t0 >= wait_ms) {
			mst_bus_close(bus);
			return die(EXIT_EMPTY, "stop: run '%s' has not stopped yet", run);
		}
		usleep(20000);
	}
	json_decref(procs);
	mst_bus_close(bus);
	fprintf(stderr, "muster: run %s stopped%s\n", run,
		now ? "; its unfinished tasks stay queued (muster run --resume)" : "");
	return EXIT_OK;
}

/* muster pause|resume RUN|AGENT: a run's coordinators stop starting tasks and stop
 * their agents' process groups (SIGSTOP), or one agent's group; the time paused does
 * not count against timeouts. */
int cmd_pause(struct cli *cli, int argc, char **argv)
{
	int on = !strcmp(argv[0], "pause");
	const char *what = argc == 2 ? argv[1] : "";
	uint64_t v;
	mst_bus *bus;
	json_t *procs;
	size_t i, sent = 0, agents = 0;
	int code;

	if (argc != 2 || (!valid_run(what) && parse_u64(what, &v) < 0))
		return die(EXIT_USAGE, "usage: muster %s RUN|AGENT", argv[0]);
	if ((code = cli_open(cli, CLI_EXISTING, &bus)))
		return code;
	if (parse_u64(what, &v) == 0 && v > 0 && v < INT32_MAX) {
		/* an agent: its coordinator stops (or continues) it */
		json_t *w = NULL;

		procs = run_procs(bus, NULL);
		for (i = 0; procs && i < json_array_size(procs); i++)
			if (jpid(json_array_get(procs, i), "pid") == (pid_t)v)
				w = json_array_get(procs, i);
		if (!w || strcmp(jstr(w, "role"), "worker")) {
			json_decref(procs);
			mst_bus_close(bus);
			return die(EXIT_NOTFOUND, "%s: %s is not a live agent of a run", argv[0],
				   what);
		}
		if (sigqueue(jpid(w, "coordinator"), on ? SIGUSR1 : SIGUSR2,
			     (union sigval){.sival_int = (int)v}) < 0) {
			json_decref(procs);
			mst_bus_close(bus);
			return die(EXIT_SYSTEM, "%s: cannot signal coordinator %d: %s", argv[0],
				   (int)jpid(w, "coordinator"), strerror(errno));
		}
		fprintf(stderr, "muster: agent %s of run %s %s\n", what, jstr(w, "run"),
			on ? "paused" : "resumed");
	} else {
		char key[MST_NAME_MAX + 1], state[32];
		const char *ctl = on ? "{\"paused\":true}" : "{\"paused\":false}";
		pid_t master;
		int rc = run_state(bus, what, state, sizeof state, &master);

		if (rc < 0 || !master) {
			mst_bus_close(bus);
			return rc == MST_ENOTFOUND || rc == 0
				       ? die(EXIT_NOTFOUND, "%s: run '%s' is not running", argv[0],
					     what)
				       : fail(rc, "%s: cannot read run '%s'", argv[0], what);
		}
		/* for coordinators started later, then for those alive */
		snprintf(key, sizeof key, "run.%s.ctl", what);
		if ((rc = mst_kv_set(bus, key, ctl, strlen(ctl), NULL)) < 0) {
			mst_bus_close(bus);
			return fail(rc, "%s: run '%s'", argv[0], what);
		}
		procs = run_procs(bus, what);
		for (i = 0; procs && i < json_array_size(procs); i++) {
			json_t *p = json_array_get(procs, i);

			if (!strcmp(jstr(p, "role"), "coordinator"))
				sent += sigqueue(jpid(p, "pid"), on ? SIGUSR1 : SIGUSR2,
						 (union sigval){.sival_int = 0}) == 0;
			agents += !strcmp(jstr(p, "role"), "worker");
		}
		fprintf(stderr, "muster: run %s %s (%zu coordinators, %zu agents)\n", what,
			on ? "paused" : "resumed", sent, agents);
	}
	json_decref(procs);
	mst_bus_close(bus);
	return EXIT_OK;
}
