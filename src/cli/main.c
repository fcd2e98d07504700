/*
 * main.c - muster's command table and global options.
 *
 * muster [--bus URL] [--owner PID] COMMAND [ARGS...]
 * Each command lives in a cmd_*.c file and uses only the public API (muster.h).
 */
#define _GNU_SOURCE
#include "cli.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct {
	const char *name;
	cmd_fn fn;
	const char *usage;
} commands[] = {
	{"send", cmd_send,
	 "send QUEUE [DATA] [--batch [--batch-size N]] [--priority 0-9] [--delay DUR] [--key KEY] "
	 "[--wait DUR] [--json]"},
	{"recv", cmd_recv,
	 "recv QUEUE [--wait DUR] [--count N] [--lease DUR] [--ack] [--json | --payload]"},
	{"ack", cmd_ack, "ack ID..."},
	{"nack", cmd_nack, "nack ID... [--delay DUR]"},
	{"touch", cmd_touch, "touch ID... [--lease DUR]"},
	{"peek", cmd_peek, "peek QUEUE [--count N] [--json]"},
	{"queues", cmd_queues, "queues [--json]"},
	{"queue", cmd_queue,
	 "queue QUEUE [--max-attempts N] [--lease DUR] [--dead-letter QUEUE] [--json] | "
	 "queue QUEUE --delete"},
	{"pub", cmd_pub, "pub TOPIC [DATA] [--json]"},
	{"sub", cmd_sub,
	 "sub TOPIC [--from earliest|latest|SEQ] [--follow] [--count N] [--wait DUR] [--json]"},
	{"topic", cmd_topic, "topic TOPIC [--max-count N] [--max-age DUR]"},
	{"kv", cmd_kv, "kv get|set|cas|del|purge|list|watch ... (see muster(1))"},
	{"lock", cmd_lock, "lock NAME [--wait DUR] -- CMD [ARGS...] | lock NAME --status"},
	{"doctor", cmd_doctor, "doctor [--json]"},
	{"stats", cmd_stats, "stats [--json]"},
	{"run", cmd_run,
	 "run [--agents N] [--tasks FILE] [--mode exec|pool|bus] [--coordinators C] [--timeout "
	 "DUR] "
	 "[--heartbeat DUR] [--retries N] [--max-concurrency N] [--rate R] [--mem SIZE] "
	 "[--cpu-time DUR] [--nofile N] [--results FILE] [--run NAME] [--quiet] "
	 "[--progress|--no-progress] "
	 "-- CMD [ARGS...]"},
	{"run", cmd_run, "run --standby --run NAME | --resume NAME [--results FILE] [--quiet]"},
	{"results", cmd_results, "results RUN"},
	{"forget", cmd_forget, "forget RUN"},
	{"ps", cmd_ps, "ps [--json]"},
	{"stop", cmd_stop, "stop [--now] [--wait DUR|--no-wait] RUN"},
	{"pause", cmd_pause, "pause RUN|AGENT"},
	{"resume", cmd_pause, "resume RUN|AGENT"},
	{"bench", cmd_bench, "bench coordinate --agents N [--pool [--tasks T]]"},
	{"validate", cmd_validate,
	 "validate env|soak|workload|chaos|optimize|all [--matrix] [--report DIR] [--agents N] "
	 "[--tasks T] [--duration D] [--interval I] [--compress] [-- CMD [ARGS...]]"},
};

static int usage(FILE *f, int code)
{
	size_t i;

	fprintf(f, "usage: muster [--bus URL] [--owner PID] COMMAND [ARGS]\n\ncommands:\n");
	for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  muster %s\n", commands[i].usage);
	fprintf(f,
		"\nDUR is 250ms, 5s, 2m, 1h, a number of seconds, or 'forever'. Data that begins\n"
		"with '-' goes after '--'. Leases belong to the calling process (--owner,\n"
		"$MUSTER_OWNER). Bus: --bus, $MUSTER_BUS, default local:default.\n"
		"Exit codes: 0 ok, 1 nothing in time, 2 usage, 3 not found, 4 not held,\n"
		"5 conflict, 6 bus full, 7 too large, 8 bus unusable, 9 owner gone,\n"
		"111 system failure. See muster(1).\n");
	return code;
}

/* A store scribbled on can make LMDB (which has no page checksums) fault or abort
 * while reading it. The library cannot recover from that; the command reports it in one
 * line with the documented exit code instead of dumping core. */
static void fatal_signal(int sig)
{
	static const char msg[] = "muster: crashed reading the bus (fatal signal): its store "
				  "is probably corrupt; see muster doctor\n";
	ssize_t r = write(2, msg, sizeof msg - 1);

	(void)r;
	(void)sig;
	_exit(EXIT_UNUSABLE);
}

int main(int argc, char **argv)
{
	static const int fatal[] = {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE};
	struct sigaction sa;
	size_t f;
	struct cli cli = {.prog = "muster"};
	int i = 1;
	size_t c;

	/* a closed reader of our output is not our failure to report loudly */
	signal(SIGPIPE, SIG_DFL);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = fatal_signal;
	sa.sa_flags = SA_RESETHAND;
	for (f = 0; f < sizeof fatal / sizeof fatal[0]; f++)
		sigaction(fatal[f], &sa, NULL);
	while (i < argc && argv[i][0] == '-') {
		const char *a = argv[i];
		if (!strcmp(a, "--bus") && i + 1 < argc) {
			cli.bus_url = argv[i + 1];
			i += 2;
		} else if (!strncmp(a, "--bus=", 6)) {
			cli.bus_url = a + 6;
			i++;
		} else if ((!strcmp(a, "--owner") && i + 1 < argc) || !strncmp(a, "--owner=", 8)) {
			const char *v = a[7] == '=' ? a + 8 : argv[i + 1];
			uint64_t pid;
			if (parse_u64(v, &pid) < 0 || pid == 0 || pid > 0x7fffffff)
				return die(EXIT_USAGE, "invalid --owner '%s' (a process id)", v);
			cli.owner = (long)pid;
			i += a[7] == '=' ? 1 : 2;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			return finish(usage(stdout, EXIT_OK));
		} else if (!strcmp(a, "--version")) {
			printf("muster %s\n", MST_VERSION);
			return finish(EXIT_OK);
		} else {
			return die(EXIT_USAGE, "unknown option '%s' (see muster --help)", a);
		}
	}
	if (i >= argc)
		return usage(stderr, EXIT_USAGE);
	if (!strcmp(argv[i], "help"))
		return finish(usage(stdout, EXIT_OK));
	if (!strcmp(argv[i], "version")) {
		printf("muster %s\n", MST_VERSION);
		return finish(EXIT_OK);
	}
	/* a coordinator of a run, started by its master (not listed: not for people) */
	if (!strcmp(argv[i], "__coordinator"))
		return cmd_coordinator(&cli, argc - i, argv + i);
	/* the echo agent of pool benchmarks */
	if (!strcmp(argv[i], "__pool-echo"))
		return finish(cmd_pool_echo(&cli, argc - i, argv + i));
	for (c = 0; c < sizeof commands / sizeof commands[0]; c++) {
		if (!strcmp(argv[i], commands[c].name)) {
			int j;
			for (j = i + 1; j < argc && strcmp(argv[j], "--"); j++) {
				if (!strcmp(argv[j], "--help") || !strcmp(argv[j], "-h")) {
					printf("usage: muster %s\n", commands[c].usage);
					return finish(EXIT_OK);
				}
			}
			return finish(commands[c].fn(&cli, argc - i, argv + i));
		}
	}
	return die(EXIT_USAGE, "unknown command '%s' (see muster --help)", argv[i]);
}
