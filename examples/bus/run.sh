#!/usr/bin/env bash
# examples/bus/run.sh [TASKS] - runs agent.sh in bus mode on a fresh bus in a temporary
# directory: AGENTS long-lived agents (default 3) take the tasks of TASKS from the run's
# task queue themselves, one at a time each, and send their replies to the run's reply
# queue; then prints a summary: the tasks, how many ok, every id reported once, how many
# payloads reached the agents as payload_b64, and how many tasks each agent process
# served (from the "agent" of each output: a result of bus mode names no agent).
#
#   examples/bus/run.sh              (from any directory; a built-in list of 12 tasks)
#   examples/bus/run.sh my-tasks.txt
#
# The built-in list mixes plain lines (the id is the line number) and JSON lines, among
# them payloads with tabs and quotes, newlines and backslashes, control characters,
# non-ASCII text, a JSON value, and two lines that are not UTF-8 (they reach the agent
# as payload_b64): the same as examples/pool/run.sh.
#
# Environment: MUSTER   the muster binary (default: build/muster of this tree, else
#                       `muster` on PATH)
#              AGENTS   bus agents (default 3)
#              BUS_RESULTS  also copy the result lines (JSON) to this file
# Exit status: 0 when every task succeeded and was reported once, 1 otherwise, 127
# when there is no muster binary.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

find_muster()
{
	if [ -n "${MUSTER:-}" ]; then
		command -v "$MUSTER" || {
			echo "run.sh: MUSTER=$MUSTER: no such program" >&2
			exit 127
		}
	elif [ -x "$root/build/muster" ]; then
		echo "$root/build/muster"
	elif command -v muster; then
		:
	else
		echo "run.sh: no muster binary: run make in $root, put muster on PATH or set MUSTER" >&2
		exit 127
	fi
}
muster=$(find_muster)

base=${TMPDIR:-/tmp}
[ -n "${TMPDIR:-}" ] || { [ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm; }
tmp=$(mktemp -d "$base/muster-bus.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
results=$tmp/results.jsonl

tasks=${1:-}
if [ -z "$tasks" ]; then
	tasks=$tmp/tasks
	{
		printf '%s\n' \
			'hello world' \
			'the quick brown fox jumps over the lazy dog' \
			'pack my box with five dozen liquor jugs' \
			'an agent pays its start-up cost once, not once per task' \
			'{"id":"tab-and-quotes","payload":"name:\t\"muster\"\tkind:\t\"bus\""}' \
			'{"id":"lines-and-backslashes","payload":"line 1\nline 2\nC:\\temp\\new\n"}' \
			'{"id":"control","payload":"bell \u0007, escape \u001b[1m, nul \u0000, end"}' \
			'{"id":"utf-8","payload":"café, naïve, Tōkyō, ½"}' \
			'{"id":"json-value","payload":{"k":1,"list":[1,2]}}' \
			'{"id":"last","payload":"that is all"}'
		printf 'latin-1: caf\xe9\n'        # not UTF-8: payload_b64
		printf '\xff\xfe\xfd binary \x01\n' # idem
	} >"$tasks"
fi

# the agents call muster themselves: the same binary, on the bus muster run gives them
# in MUSTER_BUS
export MUSTER=$muster
rc=0
"$muster" --bus "$tmp/bus" run --mode bus --agents "${AGENTS:-3}" --timeout 30s --retries 1 \
	--tasks "$tasks" --results "$results" -- "$here/agent.sh" || rc=$?
[ -f "$results" ] || {
	echo "bus: muster wrote no results (exit $rc)" >&2
	exit "$rc"
}
[ -z "${BUS_RESULTS:-}" ] || cp "$results" "$BUS_RESULTS"

# one "ID<TAB>STATUS<TAB>AGENT" line per result; no jq. As in agent.sh, \\ and \" become
# the bytes 01 and 02 (which never occur raw in JSON), so that every '"' left starts or
# ends a string and "status":" can only match the result's own key, not text inside
# the output; the output's own quotes are 02 then, as in 02agent02:4242 (AGENT is "-"
# for a result without an output from agent.sh)
export LC_ALL=C
sed -n -e 's/\\\\/\x01/g; s/\\"/\x02/g' \
	-e 's/^{"id":"\([^"]*\)".*,"status":"\([a-z]*\)".*,"output":"[^"]*\x02agent\x02:\([0-9]*\).*/\1\t\2\t\3/p' -e t \
	-e 's/^{"id":"\([^"]*\)".*,"status":"\([a-z]*\)".*/\1\t\2\t-/p' \
	"$results" | sed 's/\x01/\\\\/g; s/\x02/\\"/g' >"$tmp/table"
total=$(grep -c . "$tasks" || true)
reported=$(wc -l <"$tmp/table")
count()
{
	cut -f2 "$tmp/table" | grep -cx "$1" || true
}
ok=$(count ok)
failed=$(count failed)
timeout=$(count timeout)
b64=$(grep -c 'upper_b64' "$results" || true)
dups=$(cut -f1 "$tmp/table" | sort | uniq -d | tr '\n' ' ')
# how many tasks each agent process served, most first: "4242: 4 tasks, 4243: 4 tasks"
pids()
{
	cut -f3 "$tmp/table" | grep -x '[0-9][0-9]*' || true
}
agents=$(pids | sort | uniq -c | sort -k1,1nr -k2,2n |
	sed 's/^ *\([0-9]*\) \([0-9]*\)$/\2: \1 tasks/; s/: 1 tasks$/: 1 task/' | sed ':a;N;$!ba;s/\n/, /g')
nagents=$(pids | sort -u | grep -c . || true)

once="every id reported once"
if [ -n "$dups" ]; then
	once="reported twice: $dups"
	rc=1
elif [ "$reported" -ne "$total" ]; then
	once="$reported of $total ids reported"
	rc=1
fi
echo "bus: $total tasks, $ok ok, $failed failed, $timeout timeout; $once; $b64 came as payload_b64"
echo "bus: $nagents agent processes served them: $agents"
if [ "$ok" -ne "$total" ]; then
	echo "not ok: $(grep -v $'\tok\t' "$tmp/table" | cut -f1-2 | tr '\t\n' '  ')" >&2
	rc=1
fi
exit "$rc"
