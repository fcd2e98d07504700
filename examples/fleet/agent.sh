#!/usr/bin/env bash
# examples/fleet/agent.sh - one task of the fleet. `muster run` starts it once per task
# (exec mode) with the payload as its first argument ({} in the command line); the
# payload is also on standard input. A payload is "VERB [ARG]":
#
#   gen N       writes $FLEET_DIR/data-NN.txt: 10*N lines of 9 words each
#   checksum N  prints the SHA-256 of data-NN.txt (runs after "gen N": deps)
#   words N     prints the line and word counts of data-NN.txt (deps too)
#   sleep MS    sleeps MS milliseconds plus up to 50% random jitter
#   flaky K     fails on purpose (exit 75) until attempt K ($MUSTER_ATTEMPT), then
#               succeeds: the task's "retries" make it pass
#   primes N    counts the primes below N (a sieve, in bash: real CPU work)
#   report      sums up every data file (runs last: it depends on all checksums
#               and word counts)
#
# Exit status 0 is success; anything else is a failed attempt that muster retries
# (up to the task's retries) or reports failed.
set -euo pipefail

task=${1-}
[ -n "$task" ] || task=$(cat)
read -r verb arg _ <<<"$task" || true
dir=${FLEET_DIR:?FLEET_DIR is not set (examples/fleet/run.sh sets it)}
attempt=${MUSTER_ATTEMPT:-1}

# data_file N: the path of data file N
data_file()
{
	printf '%s/data-%02d.txt' "$dir" "$((10#$1))"
}

need_number()
{
	[[ ${arg:-} =~ ^[0-9]+$ ]] || {
		echo "agent.sh: '$verb' needs a number, got '${arg:-}'" >&2
		exit 64
	}
}

case $verb in
gen)
	need_number
	n=$((10#$arg))
	mkdir -p "$dir"
	f=$(data_file "$n")
	for ((i = 1; i <= n * 10; i++)); do
		printf 'line %d of file %d: alpha beta gamma delta\n' "$i" "$n"
	done >"$f.tmp.$$"
	mv "$f.tmp.$$" "$f" # atomic: a reader never sees half a file
	echo "wrote ${f##*/}: $((n * 10)) lines"
	;;
checksum | words)
	need_number
	f=$(data_file "$arg")
	[ -f "$f" ] || {
		echo "agent.sh: ${f##*/} does not exist (did its gen task run?)" >&2
		exit 66
	}
	if [ "$verb" = checksum ]; then
		sum=$(sha256sum <"$f")
		echo "sha256 ${sum%% *} ${f##*/}"
	else
		read -r lines words < <(wc -l -w <"$f")
		echo "${f##*/}: $lines lines, $words words"
	fi
	;;
sleep)
	need_number
	ms=$((10#$arg + RANDOM % (10#$arg / 2 + 1)))
	sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
	echo "slept $ms ms"
	;;
flaky)
	need_number
	if ((attempt < 10#$arg)); then
		echo "flaky: attempt $attempt fails on purpose (succeeds at attempt $arg)" >&2
		exit 75
	fi
	echo "flaky: succeeded at attempt $attempt"
	;;
primes)
	need_number
	n=$((10#$arg))
	sieve=()
	count=0
	for ((i = 2; i < n; i++)); do
		[ -z "${sieve[i]:-}" ] || continue
		count=$((count + 1))
		for ((j = i * i; j < n; j += i)); do
			sieve[j]=1
		done
	done
	echo "primes below $n: $count"
	;;
report)
	files=("$dir"/data-*.txt)
	[ -e "${files[0]}" ] || {
		echo "agent.sh: no data files in $dir" >&2
		exit 66
	}
	read -r lines words _ < <(cat "${files[@]}" | wc -l -w)
	# the digest of the checksum list: `sha256sum data-*.txt | sha256sum` in $FLEET_DIR
	digest=$(cd "$dir" && sha256sum "${files[@]##*/}" | sha256sum)
	echo "report: ${#files[@]} files, $lines lines, $words words, digest ${digest:0:16}"
	;;
*)
	echo "agent.sh: unknown task '$task'" >&2
	exit 64
	;;
esac
