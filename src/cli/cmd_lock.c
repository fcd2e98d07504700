/*
 * cmd_lock.c - muster lock NAME [--wait DUR] -- CMD [ARGS...]
 *
 * Runs CMD while holding the named lock. CMD inherits the lock's descriptor, so the
 * lock stays held until CMD and muster have both exited, and the kernel releases it
 * when they die, however they die. The exit status is CMD's (128+N if killed by signal
 * N; 126 not executable, 127 not found), or muster's own code if the lock was not had.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int cmd_lock(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{"wait", required_argument, 0, 'w'}, {"status", no_argument, 0, 's'}, {0, 0, 0, 0}};
	int64_t wait_ms = -1;
	bool status = false;
	mst_lock *lock;
	mst_bus *bus;
	int o, rc, code, pfd[2], err = 0, st;
	pid_t pid;
	ssize_t r;

	optind = 0;
	while ((o = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
		if (o == 'w') {
			if (parse_duration(optarg, &wait_ms) < 0)
				return die(EXIT_USAGE, "invalid --wait '%s'", optarg);
		} else if (o == 's') {
			status = true;
		} else {
			return die(EXIT_USAGE, "lock: unknown option or missing value '%s'",
				   argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return die(EXIT_USAGE, "usage: muster lock NAME [--wait DUR] -- CMD [ARGS...]");
	if (mst_name_check(argv[optind]) < 0)
		return die(EXIT_USAGE,
			   "invalid lock name '%.200s' (allowed: [A-Za-z0-9._:-]{1,128})",
			   argv[optind]);
	if (status) {
		if (argc - optind != 1)
			return die(EXIT_USAGE, "usage: muster lock NAME --status");
		mst_bus_opts opts = {.no_create = 1};

		rc = mst_bus_open(&bus, cli->bus_url, &opts);
		if (rc == MST_ENOTFOUND) {
			printf("free\n"); /* no bus yet: nobody holds anything */
			return EXIT_OK;
		}
		if (rc < 0 && (code = cli_open(cli, CLI_EXISTING, &bus)))
			return code; /* reports the error */
		rc = mst_lock_held(bus, argv[optind]);
		mst_bus_close(bus);
		if (rc < 0)
			return fail(rc, "cannot query lock '%s'", argv[optind]);
		printf("%s\n", rc ? "held" : "free");
		return EXIT_OK;
	}
	if (argc - optind < 2)
		return die(EXIT_USAGE,
			   "lock: no command given (muster lock NAME -- CMD [ARGS...])");
	if ((code = cli_open(cli, 0, &bus)))
		return code;
	rc = mst_lock_acquire(bus, argv[optind], wait_ms, &lock);
	mst_bus_close(bus);
	if (rc < 0)
		return fail(rc, "cannot take lock '%s'", argv[optind]);
	mst_lock_fd(lock, 1);
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		mst_lock_release(lock);
		return die(EXIT_SYSTEM, "pipe: %s", strerror(errno));
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		mst_lock_release(lock);
		return die(EXIT_SYSTEM, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		close(pfd[0]);
		execvp(argv[optind + 1], argv + optind + 1);
		err = errno;
		if (write(pfd[1], &err, sizeof err) < 0)
			_exit(127);
		_exit(127);
	}
	close(pfd[1]);
	r = read(pfd[0], &err, sizeof err);
	close(pfd[0]);
	/* while CMD runs, signals meant for the group reach it; we wait for it */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	mst_lock_release(lock);
	if (r == (ssize_t)sizeof err)
		return die(err == ENOENT ? 127 : 126, "cannot run '%s': %s", argv[optind + 1],
			   strerror(err));
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return EXIT_SYSTEM;
}
