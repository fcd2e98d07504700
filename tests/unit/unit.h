/*
 * unit.h - shared helpers of the unit tests (Check). Every test runs in its own
 * forked process (Check's default) with its own bus in a fresh temporary directory.
 */
#ifndef MST_UNIT_H
#define MST_UNIT_H

#include <check.h>

#include "muster.h"

/* A fresh private directory (mkdtemp under $TMPDIR or /tmp); malloc'ed path. */
char *unit_tmpdir(void);

/* Opens a bus in a fresh directory; fails the test on error. */
mst_bus *unit_bus(void);

/* The suites; tests/unit/main.c runs them all. */
Suite *suite_util(void);
Suite *suite_queue(void);
Suite *suite_topic(void);
Suite *suite_kv(void);
Suite *suite_lock(void);
Suite *suite_bus(void);

#endif
