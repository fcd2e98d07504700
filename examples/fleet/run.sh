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
# shellcheck source=SCRIPTDIR/../lib.sh
. "$here/../lib.sh"

muster=$(find_muster)

# a private directory for the bus, the data files and the results; on tmpfs when we can
make_tmp fleet
export FLEET_DIR=$tmp/data
results=$tmp/results.jsonl

rc=0
"$muster" --bus "$tmp/bus" run --agents "${AGENTS:-8}" --retries 1 --timeout 30s \
	--tasks "$here/tasks.jsonl" --results "$results" -- "$here/agent.sh" {} || rc=$?
check_results fleet "$rc" "$results" "${FLEET_RESULTS:-}"

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

once=$(once_line "$dups" "$reported" "$tasks") || rc=1
echo "fleet: $tasks tasks, $ok ok, $failed failed, $timeout timeout, $skipped skipped;" \
	"$retried needed a retry; $once${report:+; $report}"
if [ "$ok" -ne "$tasks" ]; then
	echo "not ok: $(grep -v ' ok ' "$tmp/table" | cut -d' ' -f1-2 | tr '\n' ' ')" >&2
	rc=1
fi
exit "$rc"
