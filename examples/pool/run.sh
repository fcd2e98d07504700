#!/usr/bin/env bash
# examples/pool/run.sh [TASKS] - runs agent.sh in pool mode on a fresh bus in a temporary
# directory: AGENTS long-lived agents (default 3) serve the tasks of TASKS, one after
# the other each; then prints a summary: the tasks, how many ok, every id reported once,
# how many payloads reached the agents as payload_b64, and how many tasks each agent
# process served.
#
#   examples/pool/run.sh              (from any directory; a built-in list of 12 tasks)
#   examples/pool/run.sh my-tasks.txt
#
# The built-in list mixes plain lines (the id is the line number) and JSON lines, among
# them payloads with tabs and quotes, newlines and backslashes, control characters,
# non-ASCII text, a JSON value, and two lines that are not UTF-8 (they reach the agent
# as payload_b64).
#
# Environment: MUSTER   the muster binary (default: build/muster of this tree, else
#                       `muster` on PATH)
#              AGENTS   pool agents (default 3)
#              HEARTBEAT  --heartbeat (default 5s); AGENT_DELAY (see agent.sh) makes
#                       each task take that many seconds, with heartbeats
#              POOL_RESULTS  also copy the result lines (JSON) to this file
# Exit status: 0 when every task succeeded and was reported once, 1 otherwise, 127
# when there is no muster binary.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
. "$here/../lib.sh"

muster=$(find_muster)

make_tmp pool
results=$tmp/results.jsonl

tasks=${1:-$tmp/tasks}
[ -n "${1:-}" ] || write_sample_tasks "$tasks"

rc=0
"$muster" --bus "$tmp/bus" run --mode pool --agents "${AGENTS:-3}" --heartbeat "${HEARTBEAT:-5s}" \
	--timeout 30s --retries 1 --tasks "$tasks" --results "$results" -- "$here/agent.sh" || rc=$?
check_results pool "$rc" "$results" "${POOL_RESULTS:-}"

# one "ID<TAB>STATUS<TAB>AGENT" line per result; no jq. As in the agents, \\ and \" become
# the bytes 01 and 02 (which never occur raw in JSON), so that every '"' left starts or
# ends a string and "status":" and "agent": can only match the result's own keys, not
# text inside the output
export LC_ALL=C
sed -n -e 's/\\\\/\x01/g; s/\\"/\x02/g' \
	-e 's/^{"id":"\([^"]*\)".*,"status":"\([a-z]*\)".*,"agent":\([0-9]*\).*/\1\t\2\t\3/p' \
	"$results" | sed 's/\x01/\\\\/g; s/\x02/\\"/g' >"$tmp/table"
agents_summary pool "$tasks" "$results" "$tmp/table" || rc=1
exit "$rc"
