/*
 * replay.c - runs a libFuzzer harness over saved inputs without libFuzzer, so that any
 * compiler and sanitizer build (make check, make SANITIZE=address,undefined check)
 * replays the corpus: build/fuzz/fuzz_NAME-replay fuzz/corpus/NAME/...
 *
 * Each argument is a file or a directory of files. Every input is copied into a buffer
 * of exactly its size so that AddressSanitizer sees a read past its end. A file that
 * cannot be read is an error (exit 1); a harness that finds a violation aborts.
 */
#define _GNU_SOURCE
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static int replay_file(const char *path, unsigned long *count)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL, *exact;
	size_t len = 0, cap = 0;
	int rc = -1;

	if (!f) {
		fprintf(stderr, "replay: cannot open '%s': %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		size_t n;
		if (len == cap) {
			uint8_t *nb = realloc(buf, cap ? cap * 2 : 4096);
			if (!nb) {
				fprintf(stderr, "replay: out of memory reading '%s'\n", path);
				goto out;
			}
			buf = nb;
			cap = cap ? cap * 2 : 4096;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "replay: cannot read '%s': %s\n", path, strerror(errno));
		goto out;
	}
	/* malloc(0) may return NULL; a harness must still see a valid pointer */
	exact = malloc(len ? len : 1);
	if (!exact) {
		fprintf(stderr, "replay: out of memory reading '%s'\n", path);
		goto out;
	}
	if (len)
		memcpy(exact, buf, len);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	(*count)++;
	rc = 0;
out:
	free(buf);
	fclose(f);
	return rc;
}

static int replay_path(const char *path, unsigned long *count)
{
	struct stat st;
	struct dirent *e;
	DIR *d;
	int rc = 0;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "replay: cannot stat '%s': %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path, count);
	if (!(d = opendir(path))) {
		fprintf(stderr, "replay: cannot open '%s': %s\n", path, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		char sub[4096];
		if (e->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) >= sizeof sub) {
			fprintf(stderr, "replay: path too long in '%s'\n", path);
			rc = -1;
			continue;
		}
		if (replay_file(sub, count) < 0)
			rc = -1;
	}
	closedir(d);
	return rc;
}

int main(int argc, char **argv)
{
	unsigned long count = 0;
	int i, rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++)
		if (replay_path(argv[i], &count) < 0)
			rc = 1;
	fprintf(stderr, "replay: %lu inputs%s\n", count, rc ? ", some unreadable" : "");
	return rc;
}
