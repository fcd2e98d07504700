#!/usr/bin/env bash
# tests/run.sh - runs every test suite of muster and prints one closing line
# "N passed, N failed" (N counts test cases: Check unit tests, TAP test points of the
# contract tests, and one per fuzz corpus replayed).
#
#   O=build tests/run.sh        (make check sets O; SANITIZE builds use build-san)
set -u
cd "$(dirname "$0")/.." || exit 2
O=${O:-build}
export MUSTER_BIN="$PWD/$O/muster" MUSTER_TEST_BIN="$PWD/$O/tests/helpers"
case "$O" in *san*) export MUSTER_SANITIZED=1 ;; esac
pass=0
fail=0
skipped=0
failed_names=()

# 1. unit tests (Check forks each test and prints "NN%: Checks: N, Failures: F, Errors: E")
unit="$O/tests/unit/check_muster"
if [ -x "$unit" ]; then
	echo "== unit tests"
	out=$(CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-120} "$unit" 2>&1)
	echo "$out" | grep -v ':P:' | tail -n 40
	line=$(echo "$out" | grep -E 'Checks: [0-9]+' | tail -n 1)
	if [ -z "$line" ]; then
		fail=$((fail + 1))
		failed_names+=("unit tests (no summary)")
	else
		checks=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
		f=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
		e=$(echo "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
		pass=$((pass + checks - f - e))
		fail=$((fail + f + e))
		[ $((f + e)) -eq 0 ] || failed_names+=("unit tests")
	fi
fi

# Adds up the TAP log of a prove run ($1) under the name $2.
count_tap() {
	local log=$1 ok nok bad
	grep -E '^(not ok|ok) |^tests/t/|^# |^Result|Failed' "$log" | grep -v '^ok ' | tail -n 80
	ok=$(grep -E '^ok [0-9]+' "$log" | grep -vcE '# *[Ss][Kk][Ii][Pp]')
	skipped=$((skipped + $(grep -E '^ok [0-9]+' "$log" | grep -cE '# *[Ss][Kk][Ii][Pp]')))
	nok=$(grep -cE '^not ok [0-9]+' "$log")
	# a script that died before its plan counts once as failed
	bad=$(grep -cE 'Wstat: [1-9]|Bad plan|No plan found|Parse errors' "$log")
	pass=$((pass + ok))
	fail=$((fail + nok))
	if [ "$nok" -gt 0 ] || [ "$bad" -gt 0 ]; then
		[ "$nok" -gt 0 ] || fail=$((fail + 1))
		failed_names+=("$2")
	fi
}

# 2. contract tests: TAP shell scripts run by prove
if ls tests/t/t*.sh >/dev/null 2>&1; then
	echo "== contract tests"
	log=$(mktemp)
	prove -v -j "${PROVE_JOBS:-2}" --timer tests/t/t*.sh >"$log" 2>&1
	count_tap "$log" "contract tests"
	rm -f "$log"
fi

# 2b. the queue, topic, key-value and run contracts again with every bus sharded (8
# stores: the sharding flag through MUSTER_TEST_FEATURES, which lib.sh passes on). Left
# out: what asserts one store's layout or quota (t0012), a dead-letter queue of any name
# (t0004: on a sharded bus it must be in its queue's store), the flags themselves.
if ls tests/t/t0001*.sh >/dev/null 2>&1; then
	echo "== contract tests, sharded bus"
	log=$(mktemp)
	MUSTER_TEST_FEATURES=sharding=on prove -v -j "${PROVE_JOBS:-2}" --timer \
		tests/t/t000[12356789]-*.sh tests/t/t001[013]-*.sh tests/t/t002[01]-*.sh \
		tests/t/t0030-*.sh >"$log" 2>&1
	count_tap "$log" "contract tests, sharded bus"
	rm -f "$log"
fi

# 3. fuzz corpus replay: every saved input of every parser, under the same build
for r in "$O"/fuzz/*-replay; do
	[ -x "$r" ] || continue
	name=$(basename "$r" -replay)
	dir="fuzz/corpus/${name#fuzz_}"
	[ -d "$dir" ] || continue
	n=$(find "$dir" -type f | wc -l)
	if "$r" "$dir"/* >/dev/null 2>&1; then
		pass=$((pass + 1))
		echo "== fuzz replay $name: $n inputs ok"
	else
		fail=$((fail + 1))
		failed_names+=("fuzz replay $name")
		echo "== fuzz replay $name: FAILED"
	fi
done

[ ${#failed_names[@]} -eq 0 ] || printf 'failed: %s\n' "${failed_names[@]}"
echo "$pass passed, $fail failed, $skipped skipped"
[ "$fail" -eq 0 ]
