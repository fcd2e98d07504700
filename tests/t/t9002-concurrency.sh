#!/usr/bin/env bash
# t9002 - the concurrency test (tests/helpers/concurrency.c): 200 processes at once on
# one queue, 100 senders and 100 receivers; nobody is killed, so the helper proves by
# message id that every message was received and acknowledged exactly once, none was
# lost and none was delivered after its ack. Then a heavier run, and a lopsided one.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${MUSTER_TEST_BIN:-$root/build/tests/helpers}/concurrency

echo "1..3"
n=0
# check NAME ARGS...: one run of the helper, one test point
check()
{
	local name=$1 out rc summary
	shift
	n=$((n + 1))
	if [ ! -x "$bin" ]; then
		echo "not ok $n - $name: $bin is missing (make it first)"
		return
	fi
	out=$(timeout 180 "$bin" "$@" 2>&1)
	rc=$?
	printf '%s\n' "$out" | sed -e 's/^# //' -e 's/^/# /'
	summary=$(printf '%s\n' "$out" | grep '^concurrency: ' | tail -n 1)
	[ "$rc" -eq 124 ] && summary="timed out after 180 s"
	if [ "$rc" -eq 0 ]; then
		echo "ok $n - $name: ${summary#concurrency: ok: }"
	else
		echo "not ok $n - $name (exit $rc): ${summary#concurrency: }"
	fi
}

check "100 senders x 50 messages, 100 receivers"
check "100 senders x 500 messages, 100 receivers" -n 500
check "20 senders x 250 messages, 180 receivers" -s 20 -r 180 -n 250
