/*
 * cli.h - the muster command-line tool. It uses the public API (muster.h) only.
 *
 * Exit codes (documented in muster(1)); the table in exitcode() maps library errors.
 */
#ifndef MST_CLI_H
#define MST_CLI_H

#include "muster.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum {
	EXIT_OK = 0,
	EXIT_EMPTY = 1,	   /* nothing arrived in time, lock busy */
	EXIT_USAGE = 2,	   /* bad arguments, invalid name or value */
	EXIT_NOTFOUND = 3, /* unknown queue, key, topic or bus */
	EXIT_NOTHELD = 4,  /* ack/nack/touch of a message the caller does not hold */
	EXIT_CONFLICT = 5, /* compare-and-set lost */
	EXIT_FULL = 6,	   /* bus full (quota or file system) */
	EXIT_TOOBIG = 7,   /* payload above the limit */
	EXIT_UNUSABLE = 8, /* bus directory unsafe, store corrupt or of another version */
	EXIT_NOOWNER = 9,  /* the process that would own a lease is gone */
	EXIT_SYSTEM = 111, /* system failure */
};

struct cli {
	const char *bus_url; /* --bus or NULL */
	long owner;	     /* --owner, 0 if not given */
	const char *prog;
};

/* A subcommand: argv[0] is its name. */
typedef int (*cmd_fn)(struct cli *cli, int argc, char **argv);

/* Prints "muster: MESSAGE" to stderr (printf format) and returns code. */
int die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "muster: WHAT: ERROR" and returns the exit code for err. */
int fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int exitcode(int err);

/* Opens the bus of cli. Flags: CLI_OWNER resolves the lease owner (--owner,
 * $MUSTER_OWNER, else the calling process); CLI_EXISTING does not create a missing bus
 * (exit 3), for commands that only read or settle. On failure prints the error and
 * returns its exit code (positive); 0 on success. */
enum { CLI_OWNER = 1, CLI_EXISTING = 2 };
int cli_open(struct cli *cli, int flags, mst_bus **bus);

/* Parsers (fuzzed): durations "250ms" "5s" "2m" "1h" "1.5" (seconds) or "forever"
 * (-1) into ms; message ids (1-16 hex digits); unsigned decimal numbers. 0 or -1. */
int parse_duration(const char *s, int64_t *ms);
int parse_id(const char *s, uint64_t *id);
int parse_u64(const char *s, uint64_t *v);

/* JSON output. */
void json_str(FILE *f, const char *s, size_t len);
void json_payload(FILE *f, const void *data, size_t len);
bool utf8_valid(const void *data, size_t len);

/* Reads all of fd into a malloc'ed buffer (at most max bytes; more is -EFBIG). */
int read_all(int fd, size_t max, char **out, size_t *len);

/* Flushes stdout; an error there is a failure (git's doctrine). */
int finish(int code);

int cmd_send(struct cli *, int, char **);
int cmd_recv(struct cli *, int, char **);
int cmd_ack(struct cli *, int, char **);
int cmd_nack(struct cli *, int, char **);
int cmd_touch(struct cli *, int, char **);
int cmd_peek(struct cli *, int, char **);
int cmd_queues(struct cli *, int, char **);
int cmd_queue(struct cli *, int, char **);
int cmd_pub(struct cli *, int, char **);
int cmd_sub(struct cli *, int, char **);
int cmd_topic(struct cli *, int, char **);
int cmd_kv(struct cli *, int, char **);
int cmd_lock(struct cli *, int, char **);
int cmd_doctor(struct cli *, int, char **);
int cmd_stats(struct cli *, int, char **);
int cmd_run(struct cli *, int, char **);
int cmd_results(struct cli *, int, char **);
int cmd_ps(struct cli *, int, char **);
int cmd_stop(struct cli *, int, char **);
int cmd_pool_echo(struct cli *, int, char **);
int cmd_pause(struct cli *, int, char **);
int cmd_bench(struct cli *, int, char **);
int cmd_coordinator(struct cli *, int, char **);
int cmd_validate(struct cli *, int, char **);
int cmd_forget(struct cli *, int, char **);

#endif
