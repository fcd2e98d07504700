/*
 * workload.c - muster validate workload: the seed's MVP 3, real work run on N agents at
 * once two ways, directly (a lean parallel runner here, like `xargs -P N`) and under
 * muster (`muster run` in exec mode, this process its master), with no pressure, under
 * CPU pressure (a busy loop per CPU) and under memory pressure (a process holding half of
 * the available memory and touching it), to show what coordination costs on work that
 * does something. The seed's line is < 10 % overhead and >= 90 % delivered; muster's
 * target < 1 % and 100 %.
 *
 * The built-in work is generated in a scratch directory under /tmp: compiles of C files,
 * files hashed and rewritten, shell test suites. Each task prints one line that the
 * validator checks: a suite's is known in advance, the others' must be the same every
 * time the task runs (the first run that succeeds sets it, and must name the task). A
 * warm-up runs one task of each kind first, untimed: it fills the caches the first timed
 * run would otherwise pay for, and drops a kind that cannot run here (with a note). With
 * a command of the user's, a task is delivered when it exits 0.
 *
 * A condition is measured in pairs of runs, the two ways back to back under the same
 * pressure, the first way alternating from pair to pair and from condition to condition;
 * up to three pairs while they fit in 20 s (one for a long command of the user's, or
 * with v->quick), and each way's time is the median of its runs: on this kind of
 * machine (two CPUs, virtual, other work running) one run of a second or two varies by
 * 10 % or more, far beyond the overhead it is meant to show. Directly is timed from the
 * first start to the last exit; under muster from the run's start to its last result
 * (run_summary.seconds, as `muster bench coordinate` times it). Overhead is
 * 100 * (muster - direct) / direct, negative when muster's runs were the faster.
 *
 * Children: run_master reaps any child of this process (waitpid(-1)), and so does the
 * direct runner, so a pressure process is killed by pid only while waitpid(pid, WNOHANG)
 * says it is still ours and alive; each dies with this process too (PR_SET_PDEATHSIG).
 * SIGINT, SIGTERM and SIGHUP are blocked throughout and end the measurement between
 * steps (the master of a run takes them itself, as a stop), never leaving a pressure
 * process, a scratch directory or a bus behind.
 */
#define _GNU_SOURCE
#include "validate.h"

#include "../run/run.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define BUILTIN_TASKS 60
#define CMD_TASKS 20
#define HASH_BYTES (2u << 20) /* the file a hash task reads and rewrites */
#define SUITE_CHECKS 50
#define C_FUNCS 16	       /* of 30 lines each in a compile task's file */
#define OUT_READ (64u << 10)   /* of a task's output, read back (direct way) */
#define MEM_MIN (256ull << 20) /* the memory hog's bounds */
#define MEM_MAX (4ull << 30)   /* ... */
#define MEM_READY_MS 60000     /* for the hog to have touched all of it */
#define NOTE_MAX 240	       /* a failure's description in a note */
#define PAIRS_MAX 3	       /* runs each way per condition, at most */
#define PAIRS_BUDGET_S 20.0    /* ... while a condition takes less than that */

enum { C_NONE, C_CPU, C_MEM, NCOND };
static const char *const cond_label[NCOND] = {"no pressure", "CPU pressure", "memory pressure"};
static const char *const cond_key[NCOND] = {"none", "cpu", "memory"};

enum { K_COMPILE, K_HASH, K_SUITE, NKIND };
static const char *const kind_name[NKIND] = {"compile", "hash", "suite"};
static const char *const kind_what[NKIND] = {
	"cc -O1 -c of a generated C file of about 500 lines, then cksum of the object",
	"sha256sum of a 2 MiB text file, tr a-z A-Z of it into a new file, sha256sum of that",
	"a generated shell test suite of 50 checks (arithmetic, strings, files)"};

struct wl {
	struct vctx *v;
	char dir[64];	   /* the scratch directory, /tmp/muster-workload-XXXXXX ("" until made) */
	char cc[PATH_MAX]; /* the C compiler, or "" */
	int kinds[NKIND], nkinds;
	size_t n; /* tasks */
	int agents, cpus;
	char **cmd;	/* muster's command ({} for the payload) */
	char *bcmd[3];	/* the built-in work's command */
	char tpl[96];	/* its script, DIR/t{}.sh */
	char ***argv;	/* each task's command with {} replaced: the direct way */
	char **payload; /* each task's: its index */
	char **ref;	/* each task's expected output, once known */
	char *src;	/* the task list, one payload a line */
	size_t srclen;
	struct run_tasks ts;
	json_t *notes; /* strings, into the facts */
};

/* One measurement: a way under a condition. */
struct way {
	double seconds;		  /* NaN: not measured */
	size_t delivered;	  /* ... with the expected output (built-in work) */
	size_t dup, unknown;	  /* results for a task seen already, or for none */
	size_t lost;		  /* tasks without a result */
	char fail[NOTE_MAX + 64]; /* the first task that did not deliver, or an error */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The CPUs this process may run on. */
static int ncpus(void)
{
	cpu_set_t s;
	long n;

	if (sched_getaffinity(0, sizeof s, &s) == 0 && CPU_COUNT(&s) > 0)
		return CPU_COUNT(&s);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

/* MemAvailable in bytes, or 0 when /proc does not say. */
static unsigned long long mem_available(void)
{
	char line[256];
	unsigned long long kib = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
			break;
	fclose(f);
	return kib * 1024;
}

/* What this process's memory cgroup lets it take still (its limit less its usage), in
 * bytes; 0 when it has no limit or none is found. A container's limit is often far
 * below the machine's MemAvailable. cgroup v2 (memory.max, memory.current), else v1
 * (memory.limit_in_bytes, memory.usage_in_bytes). */
static unsigned long long cgroup_room(void)
{
	char line[1024], v2[1024] = "", v1[1024] = "", path[1200], a[64], b[64];
	unsigned long long lim = 0, use = 0;
	FILE *f = fopen("/proc/self/cgroup", "re");
	int ok = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		line[strcspn(line, "\n")] = 0;
		if (!c2)
			continue;
		*c1 = *c2 = 0; /* line: the hierarchy's number, c1 + 1: its controllers */
		if (!strcmp(line, "0") && c1[1] == 0)
			snprintf(v2, sizeof v2, "%s", c2 + 1);
		else if (!strcmp(c1 + 1, "memory") || strstr(c1 + 1, ",memory") ||
			 !strncmp(c1 + 1, "memory,", 7))
			snprintf(v1, sizeof v1, "%s", c2 + 1);
	}
	fclose(f);
	if (v2[0]) {
		snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.max", v2);
		if (venv_slurp(path, a, sizeof a) == 0) {
			snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.current", v2);
			if (strcmp(a, "max") && venv_slurp(path, b, sizeof b) == 0)
				ok = sscanf(a, "%llu", &lim) == 1 && sscanf(b, "%llu", &use) == 1;
			else
				return 0; /* "max": no limit */
		}
	}
	if (!ok && v1[0]) {
		snprintf(path, sizeof path, "/sys/fs/cgroup/memory%s/memory.limit_in_bytes", v1);
		if (venv_slurp(path, a, sizeof a) == 0) {
			snprintf(path, sizeof path, "/sys/fs/cgroup/memory%s/memory.usage_in_bytes",
				 v1);
			ok = venv_slurp(path, b, sizeof b) == 0 && sscanf(a, "%llu", &lim) == 1 &&
			     sscanf(b, "%llu", &use) == 1;
		}
	}
	/* v1 says "no limit" with a number near 2^63 */
	if (!ok || lim >= (1ull << 60))
		return 0;
	return lim > use ? lim - use : 1;
}

/* The path of an executable name (a path already, or found on $PATH) into buf: 0 or
 * -1. */
static int on_path(const char *name, char *buf, size_t size)
{
	const char *path = getenv("PATH"), *p, *e;

	if (strchr(name, '/')) {
		snprintf(buf, size, "%s", name);
		return access(name, X_OK) == 0 ? 0 : -1;
	}
	for (p = path ? path : "/usr/bin:/bin"; *p; p = *e ? e + 1 : e) {
		e = strchrnul(p, ':');
		if (e > p && snprintf(buf, size, "%.*s/%s", (int)(e - p), p, name) < (int)size &&
		    access(buf, X_OK) == 0)
			return 0;
	}
	return -1;
}

/* A task's stderr, its end, on one line for a note (into buf). */
static void err_tail(const char *path, char *buf, size_t size)
{
	size_t len = 0, i;
	int trunc = 0;
	char *s = run_read_file(path, 160, 1, &len, &trunc);

	buf[0] = 0;
	if (!s)
		return;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < ' ')
			s[i] = ' ';
	while (len && s[len - 1] == ' ')
		s[--len] = 0;
	snprintf(buf, size, "%s", s);
	free(s);
}

/* --- pressure ------------------------------------------------------------------------ */

struct pressure {
	pid_t *pid;
	int n;
	unsigned long long mem; /* bytes the memory hog holds */
};

/* In a pressure child, just forked: it dies with us (also if we died already), and
 * takes signals as any process (they are blocked here). Only async-signal-safe calls:
 * this process may have had threads. */
static void child_start(pid_t parent)
{
	sigset_t none;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static void hog_cpu(void)
{
	volatile unsigned long spin = 0;

	for (;;)
		spin++;
}

/* Holds bytes of memory: touches every page, says so on ready, then touches a 64th of
 * them every 50 ms, so that all of it stays resident and recently used (the kernel
 * reclaims what the tasks need from elsewhere) at a few % of a CPU. The first process
 * the kernel kills when memory runs out, rather than a task. */
static void hog_memory(unsigned long long bytes, int ready)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), len = (size_t)bytes, off, step, part = 0;
	volatile unsigned char *p;
	struct timespec pause = {0, 50 * 1000000};
	void *m;
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		(void)!write(fd, "1000", 4);
		close(fd);
	}
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
		 0);
	if (m == MAP_FAILED)
		_exit(1);
	p = m;
	for (off = 0; off < len; off += pg)
		p[off] = (unsigned char)(off >> 12);
	(void)!write(ready, "r", 1);
	close(ready);
	step = len / 64;
	for (;;) {
		for (off = part * step; off < (part + 1) * step && off < len; off += pg)
			p[off]++;
		part = (part + 1) % 64;
		nanosleep(&pause, NULL);
	}
}

/* Kills the pressure processes that are still ours and reaps them: how many had ended
 * already (or were reaped by someone else: run_master reaps any child). */
static int pressure_stop(struct pressure *p)
{
	int i, early = 0, st;
	pid_t r;

	for (i = 0; i < p->n; i++) {
		while ((r = waitpid(p->pid[i], &st, WNOHANG)) < 0 && errno == EINTR)
			;
		if (r == 0) {
			/* still our child, so the pid is not anybody else's */
			kill(p->pid[i], SIGKILL);
			while (waitpid(p->pid[i], &st, 0) < 0 && errno == EINTR)
				;
		} else {
			early++;
		}
	}
	free(p->pid);
	p->pid = NULL;
	p->n = 0;
	return early;
}

/* Starts the pressure of condition cond: 0, or -errno with err saying what failed
 * (nothing is left running then). */
static int pressure_start(struct wl *w, int cond, struct pressure *p, char *err, size_t errsz)
{
	pid_t parent = getpid(), pid;
	int i, n, fds[2] = {-1, -1}, rc = 0;
	struct pollfd pf;
	char c;

	memset(p, 0, sizeof *p);
	if (cond == C_NONE)
		return 0;
	n = cond == C_CPU ? w->cpus : 1;
	if (cond == C_MEM) {
		unsigned long long avail = mem_available(), room = cgroup_room();

		if (room && (room < avail || !avail))
			avail = room;
		p->mem = avail / 2;
		if (p->mem > MEM_MAX)
			p->mem = MEM_MAX;
		if (p->mem < MEM_MIN)
			p->mem = MEM_MIN;
		if (pipe2(fds, O_CLOEXEC) < 0) {
			rc = -errno;
			snprintf(err, errsz, "cannot make a pipe: %s", strerror(errno));
			return rc;
		}
	}
	if (!(p->pid = calloc((size_t)n, sizeof *p->pid))) {
		snprintf(err, errsz, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((pid = fork()) < 0) {
			rc = -errno;
			snprintf(err, errsz, "cannot start a pressure process: %s",
				 strerror(errno));
			goto out;
		}
		if (pid == 0) {
			child_start(parent);
			if (cond == C_CPU)
				hog_cpu();
			close(fds[0]);
			hog_memory(p->mem, fds[1]);
			_exit(0);
		}
		p->pid[p->n++] = pid;
	}
	if (cond == C_MEM) {
		close(fds[1]);
		fds[1] = -1;
		pf.fd = fds[0];
		pf.events = POLLIN;
		if (poll(&pf, 1, MEM_READY_MS) != 1 || read(fds[0], &c, 1) != 1) {
			rc = -ENOMEM;
			snprintf(err, errsz, "a process could not take and hold %llu MiB",
				 p->mem >> 20);
		}
	}
out:
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	if (rc < 0)
		pressure_stop(p);
	return rc;
}

/* --- the built-in work -------------------------------------------------------------- */

static uint64_t rnd(uint64_t *s)
{
	/* xorshift64*: the generated work differs from task to task, the same every run */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static void word(uint64_t *s, char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (char)('a' + rnd(s) % 26);
	buf[len] = 0;
}

/* A C file of about 500 lines: functions of loops, arithmetic and branches, and one
 * that calls them all (exported, so that none is thrown away). No #include: the work is
 * the compiler's, not the file system's. */
static void gen_c(FILE *f, size_t i, uint64_t *s)
{
	int k;

	fprintf(f, "/* generated by muster validate workload: task %zu */\n\n", i);
	fprintf(f, "struct acc {\n\tunsigned long a, b, c;\n};\n\n");
	for (k = 0; k < C_FUNCS; k++) {
		fprintf(f,
			"static unsigned long f%d(unsigned long x, struct acc *s)\n"
			"{\n"
			"\tunsigned long r = %luUL, t[8];\n"
			"\tint i, j;\n"
			"\n"
			"\tfor (i = 0; i < 8; i++)\n"
			"\t\tt[i] = (x * (unsigned long)(i + %d)) ^ r;\n"
			"\tfor (i = 0; i < %d; i++) {\n"
			"\t\tfor (j = 0; j < 8; j++)\n"
			"\t\t\tt[j] = t[j] * %luUL + (t[(j + 1) & 7] >> %d);\n",
			k, (unsigned long)(rnd(s) % 1000000), (int)(1 + rnd(s) % 99),
			(int)(10 + rnd(s) % 90), (unsigned long)(rnd(s) % 100000 | 1),
			(int)(1 + rnd(s) % 31));
		fprintf(f,
			"\t\tswitch ((t[i & 7] ^ r) %% 5) {\n"
			"\t\tcase 0:\n"
			"\t\t\ts->a += t[0] >> %d;\n"
			"\t\t\tbreak;\n"
			"\t\tcase 1:\n"
			"\t\t\ts->b ^= t[1] << %d;\n"
			"\t\t\tbreak;\n"
			"\t\tcase 2:\n"
			"\t\t\tr += t[2] * %luUL;\n"
			"\t\t\tbreak;\n"
			"\t\tcase 3:\n"
			"\t\t\tr ^= s->c + t[3];\n"
			"\t\t\tbreak;\n"
			"\t\tdefault:\n"
			"\t\t\ts->c += r;\n"
			"\t\t}\n"
			"\t}\n"
			"\treturn r ^ s->a ^ t[%d];\n"
			"}\n\n",
			(int)(1 + rnd(s) % 31), (int)(1 + rnd(s) % 31),
			(unsigned long)(rnd(s) % 100000), (int)(rnd(s) % 8));
	}
	fprintf(f, "unsigned long work_%zu(unsigned long x);\n\n", i);
	fprintf(f, "unsigned long work_%zu(unsigned long x)\n{\n\tstruct acc s = {0, 0, 0};\n", i);
	fprintf(f, "\tunsigned long r = x;\n\n");
	for (k = 0; k < C_FUNCS; k++)
		fprintf(f, "\tr += f%d(r, &s);\n", k);
	fprintf(f, "\treturn r ^ s.a ^ s.b ^ s.c;\n}\n");
}

/* A text file of HASH_BYTES: lowercase words, spaces and newlines (tr has work to do). */
static int gen_data(const char *path, uint64_t *s)
{
	static const char alpha[33] = "abcdefghijklmnopqrstuvwxyz     \n";
	char *buf = malloc(HASH_BYTES);
	size_t i;
	int fd, rc = 0;

	if (!buf)
		return -ENOMEM;
	for (i = 0; i < HASH_BYTES; i++)
		buf[i] = alpha[rnd(s) % 32];
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
		rc = -errno;
	} else {
		for (i = 0; i < HASH_BYTES && rc == 0;) {
			ssize_t n = write(fd, buf + i, HASH_BYTES - i);

			if (n < 0 && errno != EINTR)
				rc = -errno;
			else if (n > 0)
				i += (size_t)n;
		}
		if (close(fd) < 0 && rc == 0)
			rc = -errno;
	}
	free(buf);
	return rc;
}

/* A test suite of SUITE_CHECKS checks in ten kinds, each with its expected answer
 * computed here; it prints how many passed and fails unless all did. */
static void gen_suite(FILE *f, const char *dir, size_t i, uint64_t *s)
{
	char w[40], last[40] = "x";
	int k;

	fprintf(f,
		"# generated by muster validate workload: task %zu, %d checks\n"
		"p=0\n"
		"f=0\n"
		"tmp='%s/s%zu.tmp'\n"
		"t() {\n"
		"\tif \"$@\"; then p=$((p + 1)); else f=$((f + 1)); echo \"failed: $*\" >&2; fi\n"
		"}\n"
		"len() { [ \"${#1}\" -eq \"$2\" ]; }\n"
		"pre() { [ \"${1#\"$2\"}\" = \"$3\" ]; }\n"
		"suf() { [ \"${1%%\"$2\"}\" = \"$3\" ]; }\n"
		"put() { printf '%%s\\n' \"$1\" >\"$tmp\" && [ -s \"$tmp\" ] &&\n"
		"\t[ \"$(($(wc -c <\"$tmp\")))\" -eq \"$2\" ]; }\n"
		"get() { [ \"$(cat \"$tmp\")\" = \"$1\" ]; }\n"
		"isfile() { [ -f \"$tmp\" ] && [ ! -d \"$tmp\" ] && [ -r \"$tmp\" ]; }\n"
		"match() { case $1 in $2) return 0 ;; esac; return 1; }\n"
		"sum() {\n"
		"\ts=0\n"
		"\tn=$1\n"
		"\twhile [ \"$n\" -gt 0 ]; do s=$((s + n)); n=$((n - 1)); done\n"
		"\t[ \"$s\" -eq \"$2\" ]\n"
		"}\n",
		i, SUITE_CHECKS, dir, i);
	for (k = 0; k < SUITE_CHECKS; k++) {
		long a = 1 + (long)(rnd(s) % 997), b = 1 + (long)(rnd(s) % 89),
		     c = (long)(rnd(s) % 13);
		size_t wl = 4 + rnd(s) % 30, cut = 1 + rnd(s) % 3;

		word(s, w, wl);
		switch (k % 10) {
		case 0:
			fprintf(f, "t [ $((%ld * %ld + %ld)) -eq %ld ]\n", a, b, c, a * b + c);
			break;
		case 1:
			fprintf(f, "t [ $(((%ld << 3) %% 97 - %ld)) -eq %ld ]\n", a, b,
				((a << 3) % 97) - b);
			break;
		case 2:
			fprintf(f, "t len '%s' %zu\n", w, wl);
			break;
		case 3:
			fprintf(f, "t pre '%s' '%.*s' '%s'\n", w, (int)cut, w, w + cut);
			break;
		case 4:
			fprintf(f, "t suf '%s' '%s' '%.*s'\n", w, w + wl - cut, (int)(wl - cut), w);
			break;
		case 5:
			fprintf(f, "t put '%s' %zu\n", w, wl + 1);
			snprintf(last, sizeof last, "%s", w);
			break;
		case 6:
			fprintf(f, "t get '%s'\n", last);
			break;
		case 7:
			fprintf(f, "t isfile\n");
			break;
		case 8:
			fprintf(f, "t match '%s' '%.*s*'\n", w, (int)cut, w);
			break;
		default:
			fprintf(f, "t sum %ld %ld\n", 20 + a % 40,
				(20 + a % 40) * (21 + a % 40) / 2);
			break;
		}
	}
	fprintf(f, "rm -f \"$tmp\"\necho \"suite %zu: $p passed\"\n[ \"$f\" -eq 0 ]\n", i);
}

static int kind_of(const struct wl *w, size_t i)
{
	return w->kinds[i % (size_t)w->nkinds];
}

/* Writes task i's script DIR/tI.sh and its input; a suite's expected output is known
 * now. 0 or -errno. */
static int gen_task(struct wl *w, size_t i)
{
	char path[PATH_MAX + 32];
	uint64_t s = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)i * 0xbf58476d1ce4e5b9ULL);
	int kind = kind_of(w, i), rc = 0;
	FILE *f;

	rnd(&s);
	if (kind == K_COMPILE) {
		snprintf(path, sizeof path, "%s/c%zu.c", w->dir, i);
		if (!(f = fopen(path, "we")))
			return -errno;
		gen_c(f, i, &s);
		if (ferror(f))
			rc = -EIO;
		if (fclose(f) < 0 && rc == 0)
			rc = -errno;
	} else if (kind == K_HASH) {
		snprintf(path, sizeof path, "%s/d%zu", w->dir, i);
		rc = gen_data(path, &s);
	}
	if (rc < 0)
		return rc;
	snprintf(path, sizeof path, "%s/t%zu.sh", w->dir, i);
	if (!(f = fopen(path, "we")))
		return -errno;
	switch (kind) {
	case K_COMPILE:
		fprintf(f,
			"set -e\n"
			"'%s' -O1 -c '%s/c%zu.c' -o '%s/c%zu.o'\n"
			"set -- $(cksum <'%s/c%zu.o')\n"
			"echo \"compile %zu: $1 $2\"\n",
			w->cc, w->dir, i, w->dir, i, w->dir, i, i);
		break;
	case K_HASH:
		fprintf(f,
			"set -e\n"
			"f='%s/d%zu'\n"
			"a=$(sha256sum <\"$f\")\n"
			"tr a-z A-Z <\"$f\" >\"$f.up\"\n"
			"b=$(sha256sum <\"$f.up\")\n"
			"rm -f \"$f.up\"\n"
			"echo \"hash %zu: ${a%%%% *} ${b%%%% *}\"\n",
			w->dir, i, i);
		break;
	default:
		gen_suite(f, w->dir, i, &s);
		break;
	}
	if (ferror(f))
		rc = -EIO;
	if (fclose(f) < 0 && rc == 0)
		rc = -errno;
	free(w->ref[i]);
	w->ref[i] = NULL;
	if (rc == 0 && kind == K_SUITE &&
	    asprintf(&w->ref[i], "suite %zu: %d passed\n", i, SUITE_CHECKS) < 0) {
		w->ref[i] = NULL;
		rc = -ENOMEM;
	}
	return rc;
}

/* Is out (len bytes) what task i should print, having ended well (ok)? For the built-in
 * work, the first such output that names the task becomes the expected one. */
static int check_output(struct wl *w, size_t i, int ok, const char *out, size_t len)
{
	char pre[64];
	size_t plen;

	if (!ok)
		return 0;
	if (w->v->cmd)
		return 1;
	if (!w->ref[i]) {
		plen = (size_t)snprintf(pre, sizeof pre, "%s %zu: ", kind_name[kind_of(w, i)], i);
		if (!out || len <= plen || memcmp(out, pre, plen) || memchr(out, 0, len) ||
		    out[len - 1] != '\n')
			return 0;
		if (!(w->ref[i] = strndup(out, len)))
			return 0;
		return 1;
	}
	return out && strlen(w->ref[i]) == len && !memcmp(w->ref[i], out, len);
}

/* Notes why task i did not deliver, if it is the first of this measurement. */
static void first_failure(struct way *r, const struct wl *w, size_t i, const char *why,
			  const char *out, size_t len)
{
	char o[64];
	size_t k;

	if (r->fail[0])
		return;
	for (k = 0; out && k < len && k < sizeof o - 1; k++)
		o[k] = (unsigned char)out[k] < ' ' ? ' ' : out[k];
	o[k] = 0;
	snprintf(r->fail, sizeof r->fail, "task %zu%s%s%s: %s%s%s%s", i, w->v->cmd ? "" : " (",
		 w->v->cmd ? "" : kind_name[kind_of(w, i)], w->v->cmd ? "" : ")", why,
		 out ? " (printed '" : "", o, out ? "')" : "");
	/* one line in a note: a task's stderr may have brought newlines */
	for (k = 0; r->fail[k]; k++)
		if ((unsigned char)r->fail[k] < ' ')
			r->fail[k] = ' ';
	while (k && r->fail[k - 1] == ' ')
		r->fail[--k] = 0;
}

/* --- the direct way ---------------------------------------------------------------- */

/* Starts task i as muster's coordinator would, without muster: its payload on stdin (a
 * memfd), stdout and stderr into files, in a process group of its own, with every
 * signal unblocked and those we block or take at their default. 0 or -errno. */
static int spawn_task(struct wl *w, size_t i, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, def;
	char out[PATH_MAX + 32], err[PATH_MAX + 32];
	const char *pl = w->payload[i];
	size_t len = strlen(pl);
	int in = memfd_create("muster-payload", MFD_CLOEXEC), rc;

	if (in < 0)
		return -errno;
	errno = 0;
	if (write(in, pl, len) != (ssize_t)len || lseek(in, 0, SEEK_SET) < 0) {
		rc = errno ? -errno : -EIO;
		close(in);
		return rc;
	}
	snprintf(out, sizeof out, "%s/out/%zu.out", w->dir, i);
	snprintf(err, sizeof err, "%s/out/%zu.err", w->dir, i);
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGCHLD);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGHUP);
	sigaddset(&def, SIGPIPE);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
						   POSIX_SPAWN_SETSIGDEF);
	if (!rc)
		rc = posix_spawnattr_setpgroup(&at, 0);
	if (!rc)
		rc = posix_spawnattr_setsigmask(&at, &none);
	if (!rc)
		rc = posix_spawnattr_setsigdefault(&at, &def);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, in, 0);
	if (!rc)
		rc = posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC,
						      0600);
	if (!rc)
		rc = posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC,
						      0600);
	if (!rc)
		rc = posix_spawnp(pid, w->argv[i][0], &fa, &at, w->argv[i], environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(in);
	return -rc;
}

struct slot {
	pid_t pid;
	size_t pos; /* in the list */
};

/* Runs the tasks list[0..count) directly, w->agents at once, the next as soon as one
 * exits (like xargs -P), and checks each one's output: 0, -EINTR when a stop came (the
 * running tasks are killed), or -ENOMEM. */
static int run_direct(struct wl *w, const size_t *list, size_t count, struct way *r)
{
	size_t par = (size_t)w->agents < count ? (size_t)w->agents : count, next = 0, live = 0;
	size_t k, pos;
	struct slot *sl = calloc(par ? par : 1, sizeof *sl);
	int *status = malloc((count ? count : 1) * sizeof *status);
	char *started = calloc(count ? count : 1, 1), why[NOTE_MAX], path[PATH_MAX + 32];
	int rc = 0, stopped = 0, st, sig;
	double t0, t_last;
	sigset_t wake;
	pid_t pid;

	memset(r, 0, sizeof *r);
	r->seconds = NAN;
	if (!sl || !status || !started) {
		snprintf(r->fail, sizeof r->fail, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	/* blocked throughout (validate_workload): sigtimedwait takes them */
	sigemptyset(&wake);
	sigaddset(&wake, SIGCHLD);
	sigaddset(&wake, SIGINT);
	sigaddset(&wake, SIGTERM);
	sigaddset(&wake, SIGHUP);
	t0 = t_last = now_s();
	while ((next < count && !stopped) || live > 0) {
		while (next < count && live < par && !stopped) {
			for (k = 0; sl[k].pid; k++)
				;
			pos = next++;
			if ((rc = spawn_task(w, list[pos], &sl[k].pid)) < 0) {
				/* the task fails; the others run */
				sl[k].pid = 0;
				snprintf(why, sizeof why, "cannot start: %s", strerror(-rc));
				first_failure(r, w, list[pos], why, NULL, 0);
				rc = 0;
				continue;
			}
			sl[k].pos = pos;
			live++;
		}
		if (!live)
			break;
		k = 0;
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			size_t j;

			for (j = 0; j < par && sl[j].pid != pid; j++)
				;
			if (j == par)
				continue; /* not a task: an orphan the master left to us */
			t_last = now_s();
			status[sl[j].pos] = st;
			started[sl[j].pos] = 1;
			sl[j].pid = 0;
			live--;
			k++;
		}
		if (k)
			continue;
		sig = sigtimedwait(&wake, NULL, NULL);
		if (sig > 0 && sig != SIGCHLD && !stopped) {
			stopped = 1;
			for (k = 0; k < par; k++)
				if (sl[k].pid)
					kill(-sl[k].pid, SIGKILL);
		}
	}
	r->seconds = t_last - t0;
	for (pos = 0; pos < count; pos++) {
		size_t i = list[pos], len = 0;
		int ok, trunc = 0;
		char *out;

		if (!started[pos])
			continue; /* said already */
		st = status[pos];
		ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
		snprintf(path, sizeof path, "%s/out/%zu.out", w->dir, i);
		out = run_read_file(path, OUT_READ, 0, &len, &trunc);
		if (check_output(w, i, ok, out, len)) {
			r->delivered++;
		} else if (!r->fail[0]) {
			char tail[NOTE_MAX / 2];

			snprintf(path, sizeof path, "%s/out/%zu.err", w->dir, i);
			err_tail(path, tail, sizeof tail);
			if (WIFSIGNALED(st))
				snprintf(why, sizeof why, "killed by signal %d", WTERMSIG(st));
			else if (!ok)
				snprintf(why, sizeof why, "exit %d%s%s", WEXITSTATUS(st),
					 *tail ? ": " : "", tail);
			else
				snprintf(why, sizeof why, "not the expected output");
			first_failure(r, w, i, why, ok ? out : NULL, len);
		}
		free(out);
	}
	if (stopped)
		rc = -EINTR;
out:
	free(sl);
	free(status);
	free(started);
	return rc;
}

/* --- under muster -------------------------------------------------------------------- */

/* The results of a run (JSON lines in f), counted per task index. */
static void count_results(struct wl *w, FILE *f, struct way *r)
{
	unsigned char *seen = calloc(w->n ? w->n : 1, 1);
	char *line = NULL, why[NOTE_MAX];
	size_t cap = 0, i;

	rewind(f);
	while (seen && getline(&line, &cap, f) > 0) {
		json_t *o = json_loads(line, 0, NULL), *out = json_object_get(o, "output");
		json_t *n = json_object_get(o, "n");
		const char *st = json_string_value(json_object_get(o, "status"));
		const char *text = json_string_value(out);
		size_t len = json_string_length(out);
		int ok;

		if (!json_is_integer(n) || json_integer_value(n) < 0 ||
		    (size_t)json_integer_value(n) >= w->n) {
			r->unknown++;
			json_decref(o);
			continue;
		}
		i = (size_t)json_integer_value(n);
		if (seen[i]++) {
			r->dup++;
			json_decref(o);
			continue;
		}
		ok = st && !strcmp(st, "ok");
		if (check_output(w, i, ok, text, len)) {
			r->delivered++;
		} else {
			const char *reason = json_string_value(json_object_get(o, "reason"));
			const char *err = json_string_value(json_object_get(o, "stderr"));

			snprintf(why, sizeof why, "%s%s%s%s%.80s", st ? st : "no status",
				 reason ? " (" : "", reason ? reason : "", reason ? "): " : ": ",
				 err  ? err
				 : ok ? "not the expected output"
				      : "");
			first_failure(r, w, i, why, ok ? text : NULL, len);
		}
		json_decref(o);
	}
	for (i = 0; seen && i < w->n; i++)
		if (!seen[i]) {
			r->lost++;
			first_failure(r, w, i, "no result", NULL, 0);
		}
	free(line);
	free(seen);
}

/* Runs every task as a `muster run` in exec mode on a fresh bus (removed after), this
 * process the master. 0, -EINTR when the run was stopped (a signal), or a muster error
 * (r->fail says what). */
static int run_muster(struct wl *w, int cond, struct way *r)
{
	char url[64], run[64], dir[PATH_MAX], rpath[PATH_MAX + 32];
	struct run_opts o = {0};
	struct run_summary s = {0};
	mst_bus *bus = NULL;
	FILE *f = NULL;
	double t0;
	int rc;

	memset(r, 0, sizeof *r);
	r->seconds = NAN;
	snprintf(url, sizeof url, "local:validate-workload-%d", (int)getpid());
	snprintf(run, sizeof run, "workload-%d-%s", (int)getpid(), cond_key[cond]);
	if ((rc = mst_bus_open(&bus, url, NULL)) < 0) {
		snprintf(r->fail, sizeof r->fail, "cannot open a bus at %s: %s", url,
			 mst_strerror(rc));
		return rc;
	}
	snprintf(dir, sizeof dir, "%s", mst_bus_path(bus));
	snprintf(rpath, sizeof rpath, "%s/results.jsonl", w->dir);
	if (!(f = fopen(rpath, "w+e"))) {
		rc = -errno;
		snprintf(r->fail, sizeof r->fail, "%.200s: %s", rpath, strerror(errno));
		goto out;
	}
	o.run = run;
	o.bus_dir = dir;
	o.cmd = w->cmd;
	o.agents = w->agents;
	o.tasks_src = w->src;
	o.tasks_len = w->srclen;
	o.results = f;
	o.quiet = 1;
	o.self = w->v->self;
	t0 = now_s();
	rc = run_master(bus, &w->ts, &o, &s);
	/* until the last result was in (the master's own wind-down is not counted) */
	r->seconds = s.seconds > 0 ? s.seconds : now_s() - t0;
	fflush(f);
	count_results(w, f, r);
	if (rc >= 128) {
		snprintf(r->fail, sizeof r->fail, "the run was stopped (signal %d)", rc - 128);
		rc = -EINTR;
	} else if (rc < 0) {
		snprintf(r->fail, sizeof r->fail, "the run failed: %s", mst_strerror(rc));
	} else {
		rc = 0; /* 1: some tasks failed, which delivery shows */
	}
out:
	if (f) {
		fclose(f);
		unlink(rpath);
	}
	mst_bus_close(bus);
	if (run_rmtree(dir) < 0)
		vlog(w->v, "workload: could not remove the bus %s", dir);
	return rc;
}

/* --- setting up ---------------------------------------------------------------------- */

static void note(struct wl *w, const char *s)
{
	json_array_append_new(w->notes, json_string(s));
	vlog(w->v, "workload: %s", s);
}

/* The per-task payloads and commands, and the task list muster is given. */
static int make_tasks(struct wl *w, char *err, size_t errsz)
{
	size_t i, len;
	char line[32];

	w->payload = calloc(w->n, sizeof *w->payload);
	w->argv = calloc(w->n, sizeof *w->argv);
	w->ref = calloc(w->n, sizeof *w->ref);
	w->src = malloc(w->n * 24 + 1);
	if (!w->payload || !w->argv || !w->ref || !w->src) {
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	w->srclen = 0;
	for (i = 0; i < w->n; i++) {
		len = (size_t)snprintf(line, sizeof line, "%zu", i);
		if (!(w->payload[i] = strdup(line)) ||
		    !(w->argv[i] = run_agent_argv(w->cmd, line, strlen(line)))) {
			snprintf(err, errsz, "out of memory");
			return -ENOMEM;
		}
		if (run_task_parse(&w->ts, line, len, i + 1, err, errsz) < 0)
			return -EINVAL;
		w->srclen += (size_t)sprintf(w->src + w->srclen, "%s\n", line);
	}
	return run_tasks_check(&w->ts, err, errsz) < 0 ? -EINVAL : 0;
}

/* The built-in work: the kinds that can run here, generated for every task, and a
 * warm-up of one task of each kind (a kind whose task fails is left out, with a note,
 * and the work is generated again). 0 or -errno (err says why). */
static int builtin_work(struct wl *w, char *err, size_t errsz)
{
	static const char *const ccs[] = {"cc", "gcc", "clang"};
	char buf[PATH_MAX], msg[512];
	size_t i, j, list[NKIND];
	int rc, k, drop[NKIND];
	struct way r;

	w->nkinds = 0;
	for (k = 0; k < 3 && !w->cc[0]; k++)
		if (on_path(ccs[k], buf, sizeof buf) == 0)
			snprintf(w->cc, sizeof w->cc, "%s", buf);
	if (w->cc[0])
		w->kinds[w->nkinds++] = K_COMPILE;
	else
		note(w, "no C compiler (cc, gcc, clang) on PATH: the compiles are left out");
	if (on_path("sha256sum", buf, sizeof buf) == 0 && on_path("tr", buf, sizeof buf) == 0)
		w->kinds[w->nkinds++] = K_HASH;
	else
		note(w, "no sha256sum or tr on PATH: the hashing is left out");
	w->kinds[w->nkinds++] = K_SUITE;
	snprintf(buf, sizeof buf, "%s/out", w->dir);
	if (mkdir(buf, 0700) < 0) {
		snprintf(err, errsz, "cannot make %.200s: %s", buf, strerror(errno));
		return -errno;
	}
	for (;;) {
		for (i = 0; i < w->n; i++)
			if ((rc = gen_task(w, i)) < 0) {
				snprintf(err, errsz, "cannot generate the work in %.64s: %s",
					 w->dir, strerror(-rc));
				return rc;
			}
		/* one task of each kind, one at a time: the first ones are of each kind */
		j = (size_t)w->nkinds < w->n ? (size_t)w->nkinds : w->n;
		for (i = 0; i < j; i++) {
			list[0] = i;
			drop[i] = 0;
			if ((rc = run_direct(w, list, 1, &r)) < 0) {
				snprintf(err, errsz, "warming up: %s",
					 r.fail[0] ? r.fail : "stopped");
				return rc;
			}
			if (!r.delivered) {
				drop[i] = 1;
				snprintf(msg, sizeof msg,
					 "the %s tasks are left out: a first one failed: %s",
					 kind_name[w->kinds[i]], r.fail);
				note(w, msg);
			}
		}
		for (i = 0, k = 0; i < (size_t)w->nkinds; i++)
			if (i >= j || !drop[i])
				w->kinds[k++] = w->kinds[i];
		if (k == w->nkinds || k == 0) {
			w->nkinds = k;
			break;
		}
		w->nkinds = k; /* again with what works */
	}
	if (!w->nkinds) {
		snprintf(err, errsz, "no kind of work runs here (see the notes)");
		return -ENOEXEC;
	}
	/* the generated files written back now, not during the first measurement */
	if ((k = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		syncfs(k);
		close(k);
	}
	return 0;
}

/* --- the measurement ----------------------------------------------------------------- */

/* A condition's measurement: pairs of runs, one each way back to back. */
struct cres {
	double d_s, m_s; /* the medians of each way's times; NaN: not measured */
	double d_all[PAIRS_MAX], m_all[PAIRS_MAX];
	size_t pairs;
	size_t d_deliv, m_deliv, m_dup, m_unknown, m_lost; /* over the pairs */
	char d_fail[sizeof((struct way *)0)->fail], m_fail[sizeof((struct way *)0)->fail];
	char why[512]; /* not measured: why ("" when measured) */
	char pressure[160];
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, size_t n)
{
	double c[PAIRS_MAX];

	if (!n)
		return NAN;
	memcpy(c, v, n * sizeof *c);
	qsort(c, n, sizeof *c, cmp_double);
	return n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
}

/* A stop (SIGINT, SIGTERM, SIGHUP: blocked) came. */
static int stop_pending(void)
{
	struct timespec zero = {0, 0};
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGINT);
	sigaddset(&s, SIGTERM);
	sigaddset(&s, SIGHUP);
	return sigtimedwait(&s, NULL, &zero) > 0;
}

/* Measures condition c (its pressure on): pairs of runs, directly and under muster back
 * to back, the first way alternating from pair to pair (and from condition to condition),
 * up to PAIRS_MAX, and no more once another pair would take the condition past
 * PAIRS_BUDGET_S (a long command of the user's runs once each way). A pair counts when
 * both of its runs ran: a run under muster in which tasks failed counts (that is what
 * delivery shows); one that could not start does not. 0, -EINTR, or -errno (q->why
 * says why). */
static int measure(struct wl *w, int c, struct cres *q)
{
	size_t k, *all = malloc(w->n * sizeof *all), i;
	double t0 = now_s();
	int rc = 0, way;

	if (!all) {
		snprintf(q->why, sizeof q->why, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < w->n; i++)
		all[i] = i;
	for (k = 0; k < PAIRS_MAX; k++) {
		struct way r[2]; /* directly, under muster */

		if (k &&
		    (w->v->quick || (now_s() - t0) / (double)k * (double)(k + 1) > PAIRS_BUDGET_S))
			break;
		for (way = 0; way < 2; way++) {
			int muster = (way == 0) == ((size_t)c + k) % 2;
			struct way *x = &r[muster];

			if (muster) {
				rc = run_muster(w, c, x);
				if (rc != -EINTR)
					vlog(w->v,
					     "workload: %s: under muster %.3f s, %zu of %zu "
					     "delivered%s%s",
					     cond_label[c], x->seconds, x->delivered, w->n,
					     rc < 0 ? ": " : "", rc < 0 ? x->fail : "");
			} else {
				rc = run_direct(w, all, w->n, x);
				if (rc == 0)
					vlog(w->v,
					     "workload: %s: directly %.3f s, %zu of %zu right",
					     cond_label[c], x->seconds, x->delivered, w->n);
			}
			if (rc == -EINTR || (rc == 0 && stop_pending())) {
				vlog(w->v, "workload: %s: interrupted", cond_label[c]);
				rc = -EINTR;
				snprintf(q->why, sizeof q->why, "interrupted");
				goto out;
			}
			if (isnan(x->seconds)) {
				snprintf(q->why, sizeof q->why, "%s", x->fail);
				goto out;
			}
			rc = 0;
		}
		q->d_all[k] = r[0].seconds;
		q->m_all[k] = r[1].seconds;
		q->d_deliv += r[0].delivered;
		q->m_deliv += r[1].delivered;
		q->m_dup += r[1].dup;
		q->m_unknown += r[1].unknown;
		q->m_lost += r[1].lost;
		if (!q->d_fail[0])
			memcpy(q->d_fail, r[0].fail, sizeof q->d_fail);
		if (!q->m_fail[0])
			memcpy(q->m_fail, r[1].fail, sizeof q->m_fail);
		q->pairs++;
	}
out:
	free(all);
	if (!q->why[0]) {
		q->d_s = median(q->d_all, q->pairs);
		q->m_s = median(q->m_all, q->pairs);
	}
	return rc;
}

static void add_figures(struct wl *w, int c, const struct cres *q)
{
	char name[48], label[64], note_s[1536], kinds[128] = "";
	double over = NAN, deliv = NAN, runs = (double)q->pairs * (double)w->n;
	size_t len, k;

	for (k = 0; k < (size_t)w->nkinds && !w->v->cmd; k++)
		snprintf(kinds + strlen(kinds), sizeof kinds - strlen(kinds), "%s%s", k ? ", " : "",
			 kind_name[w->kinds[k]]);
	if (!q->why[0] && q->d_s > 0)
		over = 100.0 * (q->m_s - q->d_s) / q->d_s;
	if (!q->why[0] && runs > 0)
		deliv = 100.0 * (double)q->m_deliv / runs;
	if (q->why[0]) {
		snprintf(note_s, sizeof note_s, "not measured: %s", q->why);
	} else {
		char runs_s[48] = "one run";

		if (q->pairs > 1)
			snprintf(runs_s, sizeof runs_s, "medians of %zu runs", q->pairs);
		len = (size_t)snprintf(note_s, sizeof note_s,
				       "directly %.3f s, under muster %.3f s (%s each way, back to "
				       "back:",
				       q->d_s, q->m_s, runs_s);
		for (k = 0; k < q->pairs && len < sizeof note_s; k++)
			len += (size_t)snprintf(note_s + len, sizeof note_s - len, " %.3f/%.3f",
						q->d_all[k], q->m_all[k]);
		if (len < sizeof note_s)
			snprintf(note_s + len, sizeof note_s - len,
				 "); %zu tasks (%s) on %d agents; %s", w->n,
				 w->v->cmd ? "the command given" : kinds, w->agents, q->pressure);
	}
	snprintf(name, sizeof name, "overhead_%s", cond_key[c]);
	snprintf(label, sizeof label, "overhead, %s", cond_label[c]);
	vreport_add(w->v->r, "workload", name, label, over, "%", (struct vline){VCMP_LT, 10},
		    (struct vline){VCMP_LT, 1}, note_s);
	if (!q->why[0]) {
		len = (size_t)snprintf(note_s, sizeof note_s,
				       "%zu of %.0f %s under muster, %zu directly", q->m_deliv,
				       runs, w->v->cmd ? "exited 0" : "ok with the expected output",
				       q->d_deliv);
		if ((q->m_lost || q->m_dup || q->m_unknown) && len < sizeof note_s)
			len += (size_t)snprintf(
				note_s + len, sizeof note_s - len,
				"; under muster %zu lost, %zu duplicated, %zu for no task",
				q->m_lost, q->m_dup, q->m_unknown);
		if (q->m_fail[0] && len < sizeof note_s)
			len += (size_t)snprintf(note_s + len, sizeof note_s - len,
						"; under muster %s", q->m_fail);
		if (q->d_fail[0] && len < sizeof note_s)
			snprintf(note_s + len, sizeof note_s - len, "; directly %s", q->d_fail);
	}
	snprintf(name, sizeof name, "delivery_%s", cond_key[c]);
	snprintf(label, sizeof label, "delivery, %s", cond_label[c]);
	vreport_add(w->v->r, "workload", name, label, deliv, "%", (struct vline){VCMP_GE, 90},
		    (struct vline){VCMP_GE, 100}, note_s);
}

static json_t *num(double x)
{
	return isnan(x) ? json_null() : json_real(x);
}

static json_t *cres_json(int c, const struct cres *q)
{
	json_t *d = json_array(), *m = json_array(), *first = json_array();
	size_t k;

	for (k = 0; k < q->pairs; k++) {
		json_array_append_new(d, json_real(q->d_all[k]));
		json_array_append_new(m, json_real(q->m_all[k]));
		json_array_append_new(first,
				      json_string(((size_t)c + k) % 2 ? "muster" : "directly"));
	}
	return json_pack("{s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:s*}",
			 "condition", cond_label[c], "pressure", q->pressure, "pairs",
			 (json_int_t)q->pairs, "first", first, "direct_s", num(q->d_s), "muster_s",
			 num(q->m_s), "direct_runs_s", d, "muster_runs_s", m, "direct_delivered",
			 (json_int_t)q->d_deliv, "muster_delivered", (json_int_t)q->m_deliv,
			 "muster_lost", (json_int_t)q->m_lost, "muster_duplicated",
			 (json_int_t)q->m_dup, "not_measured", q->why[0] ? q->why : NULL);
}

static void add_facts(struct wl *w)
{
	json_t *kinds = json_array(), *cmd;
	size_t i;
	int k;

	for (k = 0; k < w->nkinds && !w->v->cmd; k++) {
		size_t n = 0;

		for (i = 0; i < w->n; i++)
			n += kind_of(w, i) == w->kinds[k];
		json_array_append_new(
			kinds, json_pack("{s:s, s:s, s:I}", "kind", kind_name[w->kinds[k]], "what",
					 kind_what[w->kinds[k]], "tasks", (json_int_t)n));
	}
	if (w->v->cmd) {
		cmd = json_array();
		for (i = 0; w->v->cmd[i]; i++)
			json_array_append_new(cmd, json_string(w->v->cmd[i]));
		vreport_fact(w->v->r, "workload", "work", json_string("the command given"));
		vreport_fact(w->v->r, "workload", "command", cmd);
		json_decref(kinds);
	} else {
		vreport_fact(w->v->r, "workload", "work", json_string("built-in"));
		vreport_fact(w->v->r, "workload", "kinds", kinds);
		for (k = 0; k < w->nkinds && w->kinds[k] != K_COMPILE; k++)
			;
		vreport_fact(w->v->r, "workload", "compiler",
			     k < w->nkinds ? json_string(w->cc) : json_null());
	}
	vreport_fact(w->v->r, "workload", "agents", json_integer(w->agents));
	vreport_fact(w->v->r, "workload", "tasks", json_integer((json_int_t)w->n));
	vreport_fact(w->v->r, "workload", "cpus", json_integer(w->cpus));
}

int validate_workload(struct vctx *v)
{
	struct wl w = {.v = v};
	struct cres q[NCOND];
	double dsec[NCOND], msec[NCOND];
	char err[512];
	sigset_t stop, old;
	json_t *conds = json_array(), *press = json_object();
	int rc = 0, c, measured = 0, interrupted = 0, reaper = 0;

	/* a stop is taken between steps (and by the run's master during a run); SIGCHLD by
	 * the direct runner's sigtimedwait */
	sigemptyset(&stop);
	sigaddset(&stop, SIGCHLD);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop, &old);
	prctl(PR_GET_CHILD_SUBREAPER, &reaper);
	memset(q, 0, sizeof q);
	for (c = 0; c < NCOND; c++)
		dsec[c] = msec[c] = q[c].d_s = q[c].m_s = NAN;
	w.notes = json_array();
	w.cpus = ncpus();
	w.agents = v->agents > 0 ? v->agents : 2 * w.cpus < 4 ? 4 : 2 * w.cpus;
	w.n = v->tasks > 0 ? (size_t)v->tasks : v->cmd ? CMD_TASKS : BUILTIN_TASKS;
	run_raise_nofile();

	snprintf(w.dir, sizeof w.dir, "/tmp/muster-workload-XXXXXX");
	if (!mkdtemp(w.dir)) {
		rc = -errno;
		snprintf(err, sizeof err, "cannot make a scratch directory in /tmp: %s",
			 strerror(errno));
		w.dir[0] = 0;
		goto fail;
	}
	if (v->cmd) {
		char path[PATH_MAX];

		w.cmd = v->cmd;
		if (!v->cmd[0] || on_path(v->cmd[0], path, sizeof path) < 0) {
			rc = -ENOENT;
			snprintf(err, sizeof err,
				 "cannot run '%.200s': not found or not executable",
				 v->cmd[0] ? v->cmd[0] : "");
			goto fail;
		}
		snprintf(path, sizeof path, "%s/out", w.dir);
		if (mkdir(path, 0700) < 0) {
			rc = -errno;
			snprintf(err, sizeof err, "cannot make %.200s: %s", path, strerror(errno));
			goto fail;
		}
	} else {
		snprintf(w.tpl, sizeof w.tpl, "%s/t{}.sh", w.dir);
		w.bcmd[0] = "/bin/sh";
		w.bcmd[1] = w.tpl;
		w.cmd = w.bcmd;
	}
	if ((rc = make_tasks(&w, err, sizeof err)) < 0)
		goto fail;
	if (!v->cmd) {
		vlog(v, "workload: generating %zu task%s in %s", w.n, w.n == 1 ? "" : "s", w.dir);
		if ((rc = builtin_work(&w, err, sizeof err)) < 0)
			goto fail;
	}
	add_facts(&w);
	vlog(v,
	     "workload: %zu tasks on %d agents at once, directly and under muster, with no "
	     "pressure, CPU pressure and memory pressure",
	     w.n, w.agents);

	for (c = 0; c < NCOND && !interrupted; c++) {
		struct pressure p;
		int early;

		if ((rc = pressure_start(&w, c, &p, q[c].why, sizeof q[c].why)) < 0) {
			vlog(v, "workload: %s: %s", cond_label[c], q[c].why);
			rc = 0;
			continue;
		}
		if (c == C_NONE) {
			snprintf(q[c].pressure, sizeof q[c].pressure, "no pressure");
		} else if (c == C_CPU) {
			snprintf(q[c].pressure, sizeof q[c].pressure,
				 "%d busy-looping processes (one per CPU)", p.n);
			json_object_set_new(press, "cpu", json_string(q[c].pressure));
			json_object_set_new(press, "cpu_processes", json_integer(p.n));
		} else {
			snprintf(q[c].pressure, sizeof q[c].pressure,
				 "a process holding %llu MiB and touching it (half of the memory "
				 "available, 256 MiB to 4 GiB)",
				 p.mem >> 20);
			json_object_set_new(press, "memory", json_string(q[c].pressure));
			json_object_set_new(press, "memory_bytes", json_integer((json_int_t)p.mem));
		}
		if (c != C_NONE)
			vlog(v, "workload: %s: %s", cond_label[c], q[c].pressure);
		rc = measure(&w, c, &q[c]);
		early = pressure_stop(&p);
		interrupted = rc == -EINTR;
		if (!q[c].why[0] && early)
			snprintf(q[c].why, sizeof q[c].why,
				 "%d pressure process%s ended before the measurement did", early,
				 early > 1 ? "es" : "");
		if (q[c].why[0]) {
			q[c].d_s = q[c].m_s = NAN;
		} else {
			measured++;
			dsec[c] = q[c].d_s;
			msec[c] = q[c].m_s;
		}
		rc = 0;
	}
	for (; c < NCOND; c++)
		snprintf(q[c].why, sizeof q[c].why, "interrupted");
	for (c = 0; c < NCOND; c++) {
		add_figures(&w, c, &q[c]);
		json_array_append_new(conds, cres_json(c, &q[c]));
	}
	vreport_fact(v->r, "workload", "pressure", press);
	press = NULL;
	vreport_fact(v->r, "workload", "conditions", conds);
	conds = NULL;
	if (measured) {
		static const char *const labels[NCOND] = {"no pressure", "CPU pressure",
							  "memory pressure"};
		struct vseries s[2] = {{"directly", NULL, dsec, NCOND},
				       {"under muster", NULL, msec, NCOND}};
		struct vchart ch = {.kind = VCHART_BAR,
				    .title = "Real work run directly and under muster (medians)",
				    .ylabel = "seconds, first start to last result",
				    .series = s,
				    .nseries = 2,
				    .labels = labels,
				    .nlabels = NCOND};

		vreport_chart(v->r, "workload.svg", &ch);
	}
	rc = interrupted ? -EINTR : measured ? 0 : -EIO;
	goto out;

fail:
	vlog(v, "workload: %s", err);
	for (c = 0; c < NCOND; c++) {
		snprintf(q[c].why, sizeof q[c].why, "%s", err);
		add_figures(&w, c, &q[c]);
	}
out:
	vreport_fact(v->r, "workload", "notes", w.notes);
	json_decref(conds);
	json_decref(press);
	if (w.dir[0] && run_rmtree(w.dir) < 0)
		vlog(v, "workload: could not remove %s", w.dir);
	for (size_t i = 0; i < w.n; i++) {
		if (w.argv)
			run_free_argv(w.argv[i]);
		if (w.payload)
			free(w.payload[i]);
		if (w.ref)
			free(w.ref[i]);
	}
	free(w.argv);
	free(w.payload);
	free(w.ref);
	free(w.src);
	run_tasks_free(&w.ts);
	if (!reaper)
		prctl(PR_SET_CHILD_SUBREAPER, 0);
	{
		/* what is pending of ours is spent: SIGCHLD, or a stop taken as such */
		struct timespec zero = {0, 0};

		while (sigtimedwait(&stop, NULL, &zero) > 0)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}
