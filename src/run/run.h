/*
 * run.h - the supervisor: `muster run` and what it is made of. It uses the public bus
 * API (muster.h) only; see docs/design.md, "The supervisor".
 *
 *   task.c    the task list: JSON lines or plain lines, checks (ids, deps, cycles),
 *             and a task's encoding as a bus message
 *   master.c  the master: enqueues, spawns and watches coordinators, reaps orphaned
 *             workers, follows and prints results, decides the end
 *   coord.c   a coordinator: takes tasks from the run's queue, spawns and watches its
 *             workers (one event loop: pidfds, pipes, deadlines), records results
 *   result.c  the bus names of a run; a result: its JSON, recorded once per task
 *             (compare-and-set on create), then published
 *   pool.c    the pool mode's line protocol (docs/pool-protocol.md)
 *   cgroup.c  the run's cgroup (v2) where one can be made: no process outlives a run
 *   taker.c   a thread that takes messages of a queue for an event loop
 *
 * Bus layout of run R (names: [A-Za-z0-9._:-]):
 *   queue run.R.tasks          tasks ready to run (a lease per running task, held by
 *                              the coordinator that runs it)
 *   topic run.R.results        each result, published after it is recorded
 *   kv    run.R.meta           the run: command, mode, counts, state
 *   kv    run.R.res.N          the result of task N (index in the task list), created
 *                              once: whoever records second learns it lost
 *   kv    proc.R.PID           a live master, standby or coordinator of the run (apart
 *                              from run.R., so that listing processes is quick)
 *   kv    proc.R.C.SLOT        the agent of slot SLOT of coordinator C (written over by
 *                              each agent the slot starts; stale once its pid is gone)
 *   kv    run.R.fail.N         failed attempts of task N (retries count these)
 *   lock  run.R.master         held by the master
 */
#ifndef MST_RUN_H
#define MST_RUN_H

#include "muster.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define RUN_ID_MAX 64
#define RUN_ERR 256

/* One task of the list. */
struct run_task {
	char *id;      /* the task's id; a plain line's number */
	char *payload; /* NUL-terminated; len bytes */
	size_t len;
	int priority;	    /* 0..9 */
	int64_t timeout_ms; /* 0: the run's default */
	int retries;	    /* -1: the run's default */
	char **deps;	    /* ids of the tasks that must succeed first */
	size_t ndeps;
	size_t *dep_idx; /* filled by run_tasks_check */
};

struct run_tasks {
	struct run_task *v;
	size_t n, cap;
};

/* Parses one line (len bytes, no newline) numbered lineno (from 1) and appends its
 * task: a JSON object {"id","payload","priority","deps","timeout","retries"} (only
 * "payload" is required; "id" defaults to the line number; "timeout" in seconds), or
 * any other line as the payload of a task whose id is the line number. A blank line
 * adds nothing. 0, or -1 with a one-line reason in err (naming the line). */
int run_task_parse(struct run_tasks *ts, const char *line, size_t len, size_t lineno, char *err,
		   size_t errsz);
/* Reads every line of f; 0 or -1 (err names the line). */
int run_tasks_read(struct run_tasks *ts, FILE *f, char *err, size_t errsz);
/* Checks that ids are unique and deps name known tasks, and that deps have no cycle
 * (err then names one); fills dep_idx. 0 or -1. */
int run_tasks_check(struct run_tasks *ts, char *err, size_t errsz);
void run_tasks_free(struct run_tasks *ts);

/* A task as it travels on the bus: index, id, payload, timeout, retries (JSON).
 * encode returns a malloc'ed string (NULL: out of memory); decode fills t (free with
 * run_task_clear) and *idx, 0 or -1. */
char *run_task_encode(const struct run_task *t, size_t idx);
int run_task_decode(const void *buf, size_t len, struct run_task *t, size_t *idx);
void run_task_clear(struct run_task *t);

/* --- names and results (result.c) ------------------------------------------------ */

/* Writes "run.RUN." followed by fmt into buf and checks it is a valid bus name:
 * 0 or MST_ENAME. */
int run_name(char *buf, size_t size, const char *run, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int64_t run_wall_ms(void);
/* Length of the well-formed UTF-8 sequence at s (of at most left > 0 bytes; overlong
 * forms, surrogates and code points past U+10FFFF are not), 0 if there is none. */
size_t run_utf8_seq(const unsigned char *s, size_t left);

struct run_result {
	size_t idx;	    /* the task's index in the list */
	const char *id;	    /* the task's id */
	const char *status; /* "ok", "failed", "timeout", "skipped" (a dependency failed) */
	int exit_code;	    /* -1: none (killed, not started) */
	int signal;	    /* the signal that ended the agent, or 0 */
	const char *reason; /* why it failed, or NULL */
	const char *output; /* the agent's stdout */
	size_t output_len;
	int output_truncated;
	const char *output_file; /* where the whole output is kept when truncated, or NULL */
	const char *err;	 /* the agent's stderr (its end) */
	size_t err_len;
	int attempts;
	pid_t agent, coordinator;
	int64_t start_ms; /* wall clock, ms since the epoch */
	int64_t duration_us;
};

/* The result as one line of JSON (malloc'ed; NULL: out of memory). */
char *run_result_json(const struct run_result *r);
/* The two ops of mst_write that record r: created under run.R.res.N unless a result is
 * there already (compare-and-set on nothing), then published on run.R.results only if
 * created (ops[1].if_ok is 1: add the index of ops[0] when they go elsewhere than the
 * start of a write). Their names and data are malloc'ed (the entry shares the
 * result's): free them with run_result_ops_free. 0 or a muster error. */
int run_result_ops(const char *run, const struct run_result *r, mst_op ops[2]);
void run_result_ops_free(mst_op ops[2]);
/* Records r with those two ops in one commit: 0, MST_ECONFLICT (recorded already, by
 * someone else) or another muster error. */
int run_result_record(mst_bus *bus, const char *run, const struct run_result *r);
/* Counts a failed attempt of task idx (run.R.fail.N): the number of failures so far,
 * or a muster error. Retries are spent by failures only: an attempt cut short by its
 * coordinator's death or a stop is delivered again without costing one. */
int run_count_failure(mst_bus *bus, const char *run, size_t idx);
/* The recorded results of run (run.R.res.N), in task order: *out (free with
 * mst_kv_list_free) receives *n. 0 or a muster error. */
int run_results_list(mst_bus *bus, const char *run, mst_kv **out, size_t *n);
/* Forgets a finished run: its results topic, its queues (run.R.*, with their messages
 * and idempotency keys), its keys (run.R.*, proc.R.*, and the records of their
 * deletions) and its files (BUS/runs/R). A forget cut short can be done again.
 * 0, MST_ENOTFOUND (nothing of run is left), MST_EBUSY (it has a live master) or an
 * error. */
int run_forget(mst_bus *bus, const char *bus_dir, const char *run);
/* A copy of len bytes of s (which may hold NUL), NUL-terminated; NULL: no memory. */
char *run_memdup(const char *s, size_t len);
/* Publishes again the recorded result of task idx (its recorder may have died before
 * publishing). 0, MST_ENOTFOUND or another muster error. */
int run_result_republish(mst_bus *bus, const char *run, size_t idx);

/* --- processes and files of a run (coord.c) ------------------------------------------ */

struct json_t;
/* The run's directory for agents' files (BUS/runs/RUN), and the path of one file
 * there: "IDX.ATTEMPT.in|out|err". 0 or -ENAMETOOLONG. */
int run_dir(char *buf, size_t size, const char *bus_dir, const char *run);
int run_out_path(char *buf, size_t size, const char *rundir, size_t idx, int attempt,
		 const char *what);
/* Up to max bytes of path (its end with tail), malloc'ed and NUL-terminated; NULL if
 * it cannot be read. */
char *run_read_file(const char *path, size_t max, int tail, size_t *len, int *truncated);
/* The key of process pid of run (proc.RUN.PID), or with pid 0 the prefix of them all
 * (proc.RUN.); 0 or MST_ENAME. */
int run_proc_key(char *buf, size_t size, const char *run, pid_t pid);
/* Registers pid as a process of run (role: master, standby, coordinator, worker)
 * under proc.RUN.PID, with the fields of extra (a JSON object, consumed; NULL for
 * none); unregister removes it. */
int run_proc_register(mst_bus *bus, const char *run, pid_t pid, const char *role,
		      struct json_t *extra);
void run_proc_unregister(mst_bus *bus, const char *run, pid_t pid);
/* The start time of process pid (clock ticks after boot, /proc/PID/stat), 0 if it is
 * gone; registrations keep it as "pstart", so that a reused pid is not taken for the
 * process registered. */
uint64_t run_proc_start(pid_t pid);
/* The tick of CLOCK_BOOTTIME now, in the unit of that start time. A process created
 * between two readings that agree started at that tick: its spawner knows its pstart
 * without reading /proc. */
uint64_t run_boot_ticks(void);
/* 1 if pid is alive and (pstart != 0) started at pstart. */
int run_proc_alive(pid_t pid, uint64_t pstart);

/* --- a thread taking messages for an event loop (taker.c) ----------------------------- */

#include <pthread.h>

struct run_taker {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	int running;
	int want; /* messages to take (0: none now; -1: any number) */
	int stop, err;
	int efd; /* written when messages (or an error, err) are there */
	mst_msg *q;
	size_t qn, qcap;
	const char *dir;
	char queue[MST_NAME_MAX + 1];
};

/* Starts the thread taking messages of queue (on the bus in dir, with its own handle)
 * up to want at a time (-1: any number). 0 or a negative errno. */
int run_taker_start(struct run_taker *t, const char *dir, const char *queue, int want);
/* The loop can take want more (those taken and not handed over yet count); -1: any. */
void run_taker_want(struct run_taker *t, int want);
/* Messages taken and not handed over yet. */
size_t run_taker_pending(struct run_taker *t);
/* Hands over what was taken (malloc'ed array of *n; free each with mst_msg_free,
 * then the array), and reads the eventfd. */
mst_msg *run_taker_take(struct run_taker *t, size_t *n);
/* Stops and joins the thread; what it took since the last take stays in t->q (t->qn
 * messages, leased by this process) for the caller to give back or free. */
void run_taker_stop(struct run_taker *t);

/* --- the run's cgroup (cgroup.c) ----------------------------------------------------- */

/* The mount point of cgroup2 (/sys/fs/cgroup, or .../unified on a hybrid host) into
 * buf: 0 or -1. */
int run_cgroup2_mount(char *buf, size_t size);
/* Moves the calling process out of cgroup path (to its parent) if it is in it: a
 * master started by one of the run's coordinators is, and would kill itself with the
 * run's leftovers. 0 or a negative errno. */
int run_cgroup_leave(const char *path);
/* Makes the run's cgroup (v2, a child of ours: muster-RUN.PID, PID ours) and puts its
 * path in path: 0, or a negative errno (no cgroup2 mount, not writable) with path
 * empty. */
int run_cgroup_make(const char *run, char *path, size_t size);
/* Moves the calling process into the cgroup path (its children are born there), unless
 * it is in it already. */
int run_cgroup_join(const char *path);
/* Starts prog (argv, envp) in the cgroup path (clone3, CLONE_INTO_CGROUP): its pid, or
 * a negative errno (no such cgroup, no clone3) and nothing started. */
pid_t run_cgroup_spawn(const char *path, const char *prog, char *const argv[], char *const envp[]);
/* Kills every process in the cgroup path (but the caller), waits (up to a second)
 * until it is empty, and with remove removes it. */
int run_cgroup_kill(const char *path, int remove);

/* --- the master and the coordinators -------------------------------------------------- */

struct run_summary {
	size_t total, ok, failed;
	double seconds;	       /* wall time from start to the last result */
	double p50_ms, p99_ms; /* task latency: agent start to result recorded */
	double overhead_pct;   /* wall time not spent in agents, over the ideal */
	int coordinators_lost; /* coordinators that died and were replaced */
};

struct run_opts {
	const char *run;	     /* the run's name; NULL: one is made up */
	const char *bus_dir;	     /* the bus directory (absolute), for the coordinators */
	char **cmd;		     /* the agent command (argv, NULL-terminated) */
	const char *mode;	     /* "exec" (NULL), "pool" or "bus" */
	int agents;		     /* agents (exec: at most this many at once) */
	int coordinators;	     /* 0: chosen from agents */
	int max_concurrency;	     /* tasks running at once; 0: agents */
	double rate;		     /* task starts per second over the run; 0: no limit */
	int64_t timeout_ms;	     /* a task's default timeout; 0: none */
	int64_t heartbeat_ms;	     /* an agent silent this long is killed; 0: no heartbeat */
	int retries;		     /* a task's default retries */
	uint64_t mem, cpu_s, nofile; /* each agent's rlimits (bytes, s, fds); 0: none */
	const char *tasks_src; /* the task list as given, kept in the bus (BUS/runs/R/tasks) */
	size_t tasks_len;
	int standby;	  /* wait for the master of o->run to die, then carry the run on */
	int resume;	  /* carry on o->run, whose master is gone */
	FILE *results;	  /* where result lines go (NULL: nowhere) */
	int quiet;	  /* no summary on stderr */
	int progress;	  /* a live progress line on stderr (a terminal) */
	const char *self; /* the muster executable, to start coordinators */
	int warm;	  /* pool: queue the tasks once every agent is up (benchmarks) */
};

/* Runs the tasks ts to the end as run o->run: 0 when every task succeeded, 1 when
 * some failed or the run was stopped before its end, 128 + a signal that interrupted
 * it, or a muster error (a line on stderr says what). sum may be NULL. While it runs,
 * the calling thread blocks SIGCHLD, SIGINT, SIGTERM and SIGHUP (read through a
 * signalfd), the process is a subreaper, and any child of the process that ends is
 * reaped by it; the mask and the subreaper flag are given back at the end. With
 * o->standby or o->resume, ts is not used: the run's tasks and settings come from the
 * bus; every recorded result is printed, then the new ones. */
int run_master(mst_bus *bus, const struct run_tasks *ts, const struct run_opts *o,
	       struct run_summary *sum);
/* --- feature flags (features.c) --- */

enum run_feature { RUN_POOLING, RUN_BATCHING, RUN_PARALLEL_SPAWN, RUN_SHARDING, RUN_FEATURES };

/* Stores of a bus created with sharding on and no count given. */
#define RUN_SHARDS_DEFAULT 8

struct run_features {
	int on[RUN_FEATURES];
	unsigned shards;		/* stores of a bus muster creates: 1 (sharding off) .. 16 */
	char source[RUN_FEATURES][320]; /* "default", "FILE:LINE" or "MUSTER_FEATURES" */
	char file[PATH_MAX];		/* the config file read ("" if none) */
	char err[640];			/* what is wrong, when loading failed */
};

/* Reads the flags: every one on but sharding, then the config file ($MUSTER_CONFIG, else
 * ${XDG_CONFIG_HOME:-~/.config}/muster/config, if there is one), then $MUSTER_FEATURES.
 * 0, or MST_EINVAL with f->err saying which line or word is wrong. */
int run_features_load(struct run_features *f);
const char *run_feature_name(enum run_feature f);

/* --- spawning agents (coord.c) --- */

/* argv of an agent: cmd with every "{}" in its arguments (not argv[0]) replaced by the
 * plen bytes of payload, as one argument (never through a shell); payload NULL: cmd as
 * it is. NULL when out of memory; free with run_free_argv. */
char **run_agent_argv(char *const cmd[], const char *payload, size_t plen);
void run_free_argv(char **argv);
/* Signal dispositions through the kernel's own sigaction, which (unlike the C
 * library's) reaches glibc's signals 32 and 33 too: 1 if sig is at its default (or
 * cannot be told), and setting it to its default. Safe between vfork or fork and
 * exec. */
int run_sig_default(int sig);
void run_sig_set_default(int sig);

/* --- the headline benchmark (bench.c) --- */

struct run_bench {
	/* in */
	int agents;	  /* agents to spawn */
	size_t tasks;	  /* tasks (0: one per agent; pool: 1000) */
	int pool;	  /* agents already running (pool mode), timed from their first task */
	const char *dir;  /* the bus directory; NULL: a scratch one, removed at the end */
	const char *self; /* the muster executable */
	const char *run;  /* the run's name (NULL: "bench") */
	int no_floor;	  /* the floors are not measured (0 in floor, pfloor) */
	char **cmd;	  /* exec agents (NULL: /bin/echo {}); each must print its payload and a
			   * newline to count as delivered; the floors still spawn /bin/echo */
	/* out */
	double seconds;	  /* until the last reply was in */
	double floor;	  /* exec: N bare vfork+exec spawns; pool: N pipe round trips */
	double pfloor;	  /* exec: N posix_spawns */
	size_t delivered; /* replies ok and carrying their task's payload */
	int status;	  /* run_master's */
	char bus[PATH_MAX];
};

/* Spawns the agents, gives each its task, counts the replies, beside the floors
 * measured just before in the same process. 0, or an error (err says what). */
int run_bench_coordinate(struct run_bench *b, char *err, size_t errsz);
/* n runs of argv (argv[0] a path; par at once, output to /dev/null), reaped: seconds,
 * or -1. lean: vfork and exec; else posix_spawn. */
double run_spawn_floor(char *const argv[], int n, int par, int lean);
/* Removes the tree at dir (no symlinks followed). 0 or -errno. */
int run_rmtree(const char *dir);
/* The soft limit of open files raised to the hard one. */
void run_raise_nofile(void);

/* The coordinator process of a run (started by the master as `muster --bus DIR
 * __coordinator RUN SLOTS CAP FIRST`): runs slots agents, at most cap tasks at once
 * (its share of --max-concurrency; -1: its share of the run's, computed here), until
 * the run is over or no master carries it on; with --rate, its share of the starts,
 * the first at once if first. Returns the process's exit status. */
int run_coordinator(const char *bus_dir, const char *run, int slots, int cap, int first);

/* --- pool mode: the line protocol (pool.c) --- */

/* In pool mode an agent is a long-lived process: muster writes one request line per
 * task on its stdin and reads lines back from its stdout, heartbeats and then the
 * reply. docs/pool-protocol.md is the contract for agents. Nothing here keeps state
 * outside its arguments: safe in threads and across fork. */

#define RUN_POOL_LINE_MAX (4u << 20) /* bytes of a line from an agent, before its '\n' */

/* The padded standard base64 of s[0..len) (task.c), malloc'ed and NUL-terminated;
 * NULL: out of memory. */
char *run_b64_encode(const unsigned char *s, size_t len);

/* The request line of task t (index idx, attempt from 1, run): the compact JSON object
 * {"id","n","attempt","run","payload"}, keys in that order, with "payload_b64"
 * (standard base64) instead of "payload" when the payload is not UTF-8 (NUL is UTF-8:
 * "\u0000"). Malloc'ed, NUL-terminated, one line that ends in '\n'; *len its length.
 * NULL: out of memory, or t->id or run is not UTF-8 (never so for a task list that
 * run_tasks_read made, nor for a bus name). */
char *run_pool_request(const struct run_task *t, size_t idx, int attempt, const char *run,
		       size_t *len);

enum run_pool_kind { RUN_POOL_REPLY = 1, RUN_POOL_HEARTBEAT = 2 };

/* A line from an agent, as run_pool_reply_parse found it. */
struct run_pool_reply {
	enum run_pool_kind kind;
	char *id;	   /* malloc'ed (NULL for a heartbeat) */
	int ok;		   /* 1: status ok */
	int exit_code;	   /* 0..255: "exit_code", else 0 when ok, 1 when failed */
	char *output;	   /* malloc'ed text, NUL-terminated, or NULL */
	size_t output_len; /* may hold NUL: a string "output" is kept byte for byte */
	char *error;	   /* malloc'ed, or NULL */
	char *progress;	   /* heartbeat progress (compact JSON text) or NULL */
};

/* Parses one line from an agent (len bytes, without its '\n') into r, which it
 * overwrites: a reply {"id","status","output","error","exit_code"} or a heartbeat
 * {"heartbeat":true,"progress"}; unknown keys are ignored. The id is not checked
 * against anything: the caller compares it with its request's. 0, or -1 with a
 * one-line reason (UTF-8 text, no control bytes) in err: the line is garbage (also
 * said when out of memory), and r is left empty. Free r with run_pool_reply_clear. */
int run_pool_reply_parse(const char *line, size_t len, struct run_pool_reply *r, char *err,
			 size_t errsz);
/* Frees what r holds and empties it; twice is harmless. */
void run_pool_reply_clear(struct run_pool_reply *r);

/* A read buffer that splits an agent's stdout into lines: zeroed to start, freed with
 * run_linebuf_free; at most RUN_POOL_LINE_MAX + 1 bytes. buf[0..len) is what was read
 * and not yet dropped, of which buf[0..scanned) was searched for '\n' already: it is
 * either lines handed out (buf[scanned - 1] is the last one's '\n'), dropped when that
 * is worth it, or the start of a line, which holds no '\n'. */
struct run_linebuf {
	char *buf;
	size_t len, cap, scanned;
};
/* Reads what fd (non-blocking) has now, until a short read or a full buffer: >0 bytes
 * read, 0 end of file, -EAGAIN nothing now, -ENOBUFS the buffer is full of lines not
 * taken yet (take them first), other -errno. Take every line with run_linebuf_next
 * after each call; lines taken before it are no longer valid. */
ssize_t run_linebuf_fill(struct run_linebuf *lb, int fd);
/* The next complete line (without its '\n', nor a '\r' just before it: CRLF is
 * accepted), valid until the next call on lb: 1, 0 when no complete line is buffered
 * (buf[0..len) is then exactly the start of the next one: at end of file, what the
 * agent left unfinished), -1 when the buffered line exceeds RUN_POOL_LINE_MAX bytes
 * before its '\n' (garbage; it stays -1). *line and *len are NULL and 0 unless 1. */
int run_linebuf_next(struct run_linebuf *lb, const char **line, size_t *len);
void run_linebuf_free(struct run_linebuf *lb);

#endif
