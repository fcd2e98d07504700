#!/usr/bin/env bash
# scripts/test.sh - the whole test suite on a fresh machine: installs what is missing,
# builds with warnings as errors, runs `make check` on the plain build and on the
# AddressSanitizer + UndefinedBehaviorSanitizer build, and ends with one line
# "N passed, N failed" over both.
set -u
cd "$(dirname "$0")/.." || exit 2
bash scripts/deps.sh || exit 1
jobs=$(nproc 2>/dev/null || echo 2)
total_pass=0
total_fail=0
total_skip=0
for variant in plain sanitize; do
	if [ "$variant" = plain ]; then
		args=(WERROR=1)
	else
		args=(WERROR=1 "SANITIZE=address,undefined")
	fi
	echo "=== build ($variant)"
	if ! make -s -j"$jobs" "${args[@]}" all >/dev/null; then
		echo "build ($variant) failed"
		total_fail=$((total_fail + 1))
		continue
	fi
	echo "=== make check ($variant)"
	log=$(mktemp)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		make -s -j"$jobs" "${args[@]}" check 2>&1 | tee "$log"
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	rm -f "$log"
	if [ -z "$line" ]; then
		echo "check ($variant) printed no result"
		total_fail=$((total_fail + 1))
		continue
	fi
	total_pass=$((total_pass + ${line%% passed*}))
	f=${line#*passed, }
	total_fail=$((total_fail + ${f%% failed*}))
	case "$line" in
	*skipped*) s=${line#*failed, }; total_skip=$((total_skip + ${s%% skipped*})) ;;
	esac
done
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]
