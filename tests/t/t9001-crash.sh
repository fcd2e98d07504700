#!/usr/bin/env bash
# t9001 - the crash test (tests/helpers/crashtest.c): producers and consumers of one
# queue SIGKILLed at random instants, inside commits too, and restarted, over many
# rounds; the helper then proves by message id that every message sent was received and
# acknowledged, none was delivered after its ack, duplicates came only from killed
# consumers, and each lease a killed consumer held came back in under a second (a
# quarter of the lease under a sanitizer, $MUSTER_SANITIZED: there a replacement
# consumer can take that long to start).
#   CRASHTEST_SECS   length of the kill phase (default 20)
#   CRASHTEST_ARGS   more options for the helper (-p, -c, -s SEED, -k)
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${MUSTER_TEST_BIN:-$root/build/tests/helpers}/crashtest
secs=${CRASHTEST_SECS:-20}

echo "1..1"
if [ ! -x "$bin" ]; then
	echo "not ok 1 - crash test: $bin is missing (make it first)"
	exit 1
fi
# shellcheck disable=SC2086 # CRASHTEST_ARGS is a list of options
out=$(timeout $((secs + 180)) "$bin" -t "$secs" ${CRASHTEST_ARGS:-} 2>&1)
rc=$?
printf '%s\n' "$out" | sed -e 's/^# //' -e 's/^/# /'
summary=$(printf '%s\n' "$out" | grep '^crashtest: ' | tail -n 1)
if [ "$rc" -eq 0 ]; then
	echo "ok 1 - ${summary#crashtest: ok: }"
else
	[ "$rc" -eq 124 ] && summary="timed out after $((secs + 180)) s"
	echo "not ok 1 - crash test failed (exit $rc): ${summary#crashtest: }"
fi
