#!/usr/bin/env bash
# examples/fleet/run.sh - runs the fleet: the 50 tasks of tasks.jsonl, each one process
# of agent.sh, on a fresh bus in a temporary directory; then prints one line that sums
# up the results (every task id once, how many ok, how many needed a retry).
#
#   examples/fleet/run.sh              (from any directory)
#
# Environment: MUSTER   the muster binary (default: build/muster of this tree, else
#                       `muster` on PATH)
#              AGENTS   agents at once (default 8)
#              FLEET_RESULTS  also copy the result lines (JSON) to this file
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

# a private directory for the bus, the data files and the results; on tmpfs when we can
base=${TMPDIR:-/tmp}
[ -n "${TMPDIR:-}" ] || { [ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm; }
tmp=$(mktemp -d "$base/muster-fleet.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export FLEET_DIR=$tmp/data
results=$tmp/results.jsonl

rc=0
"$muster" --bus "$tmp/bus" run --agents "${AGENTS:-8}" --retries 1 --timeout 30s \
	--tasks "$here/tasks.jsonl" --results "$results" -- "$here/agent.sh" {} || rc=$?
[ -f "$results" ] || {
	echo "fleet: muster wrote no results (exit $rc)" >&2
	exit "$rc"
}
[ -z "${FLEET_RESULTS:-}" ] || cp "$results" "$FLEET_RESULTS"

# one "ID STATUS ATTEMPTS" line per result; no jq: the id is the first key of a result
# line, and "status" and "attempts" cannot appear unescaped inside the output strings
sed -n 's/^{"id":"\([^"]*\)".*"status":"\([a-z]*\)".*"attempts":\([0-9]*\).*/\1 \2 \3/p' \
	"$results" >"$tmp/table"
tasks=$(grep -c . "$here/tasks.jsonl")
reported=$(wc -l <"$tmp/table")
count()
{
	grep -c " $1 " "$tmp/table" || true
}
ok=$(count ok)
failed=$(count failed)
timeout=$(count timeout)
skipped=$(count skipped)
retried=$(grep -vc ' 1$' "$tmp/table" || true)
dups=$(cut -d' ' -f1 "$tmp/table" | sort | uniq -d | tr '\n' ' ')
report=$(grep -o '"output":"report: [^"\\]*' "$results" | sed 's/.*"output":"//' || true)

once="every id reported once"
if [ -n "$dups" ]; then
	once="reported twice: $dups"
	rc=1
elif [ "$reported" -ne "$tasks" ]; then
	once="$reported of $tasks ids reported"
	rc=1
fi
echo "fleet: $tasks tasks, $ok ok, $failed failed, $timeout timeout, $skipped skipped;" \
	"$retried needed a retry; $once${report:+; $report}"
if [ "$ok" -ne "$tasks" ]; then
	echo "not ok: $(grep -v ' ok ' "$tmp/table" | cut -d' ' -f1-2 | tr '\n' ' ')" >&2
	rc=1
fi
exit "$rc"
