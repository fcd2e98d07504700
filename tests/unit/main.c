/*
 * main.c - runs every unit-test suite; Check forks each test and enforces a timeout.
 */
#define _GNU_SOURCE
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *unit_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *path;

	if (!base || !*base)
		base = "/tmp";
	if (asprintf(&path, "%s/muster-unit.XXXXXX", base) < 0)
		abort();
	if (!mkdtemp(path))
		abort();
	return path;
}

mst_bus *unit_bus(void)
{
	mst_bus *bus = NULL;
	mst_bus_opts opts = {.quota = 64u << 20};
	char *dir = unit_tmpdir();
	int rc = mst_bus_open(&bus, dir, &opts);

	ck_assert_msg(rc == 0, "mst_bus_open(%s): %s", dir, mst_strerror(rc));
	free(dir);
	return bus;
}

int main(int argc, char **argv)
{
	Suite *(*suites[])(void) = {suite_util, suite_bus, suite_queue, suite_topic, suite_kv,
				    suite_lock};
	SRunner *sr = srunner_create(NULL);
	size_t i;
	int failed;

	for (i = 0; i < sizeof suites / sizeof suites[0]; i++)
		srunner_add_suite(sr, suites[i]());
	if (argc > 1)
		srunner_set_xml(sr, argv[1]);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
