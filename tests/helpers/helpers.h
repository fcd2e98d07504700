/*
 * helpers.h - pieces shared by the test drivers in tests/helpers (crash, concurrency,
 * torn meta page): their scratch directory and the fixed-size records of their logs.
 */
#ifndef MST_TEST_HELPERS_H
#define MST_TEST_HELPERS_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* bytes per log record: a record never crosses a page, so a SIGKILL cannot cut one */
#define REC 64

/* The driver's directory: given (created if missing), else a fresh one named
 * muster-TAG.XXXXXX under /dev/shm, $TMPDIR or /tmp. Exits 2 on failure. */
static inline void helper_make_dir(char *dir, size_t dirsz, const char *given, const char *prog,
				   const char *tag)
{
	const char *base = getenv("TMPDIR");

	if (given) {
		if (mkdir(given, 0700) < 0 && errno != EEXIST) {
			fprintf(stderr, "%s: %s: %s\n", prog, given, strerror(errno));
			exit(2);
		}
		snprintf(dir, dirsz, "%s", given);
		return;
	}
	if (access("/dev/shm", W_OK) == 0)
		base = "/dev/shm";
	else if (!base || !*base)
		base = "/tmp";
	snprintf(dir, dirsz, "%s/muster-%s.XXXXXX", base, tag);
	if (!mkdtemp(dir)) {
		fprintf(stderr, "%s: mkdtemp %s: %s\n", prog, dir, strerror(errno));
		exit(2);
	}
}

/* Ends a run: a failed run keeps its directory for inspection (and says so); a passed
 * one removes it unless it was given or keep is set. Returns the exit status. */
static inline int helper_finish_dir(const char *dir, int failed, bool keep, bool given,
				    const char *prog)
{
	char cmd[4400];

	if (failed) {
		printf("# kept %s for inspection\n", dir);
		return 1;
	}
	if (!keep && !given) {
		snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "%s: could not remove %s\n", prog, dir);
	}
	return 0;
}

/* Did sscanf stop (at end) only before the padding of the record? */
static inline bool helper_rest_blank(const char *rec, int end)
{
	int i;

	if (end <= 0)
		return false;
	for (i = end; i < REC - 1; i++)
		if (rec[i] != ' ')
			return false;
	return true;
}

static inline int helper_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

#endif
