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
# shellcheck source=SCRIPTDIR/../lib.sh
. "$here/../lib.sh"

muster=$(find_muster)

make_tmp bus
results=$tmp/results.jsonl

tasks=${1:-$tmp/tasks}
[ -n "${1:-}" ] || write_sample_tasks "$tasks"

# the agents call muster themselves: the same binary, on the bus muster run gives them
# in MUSTER_BUS
export MUSTER=$muster
rc=0
"$muster" --bus "$tmp/bus" run --mode bus --agents "${AGENTS:-3}" --timeout 30s --retries 1 \
	--tasks "$tasks" --results "$results" -- "$here/agent.sh" || rc=$?
check_results bus "$rc" "$results" "${BUS_RESULTS:-}"

# one "ID<TAB>STATUS<TAB>AGENT" line per result; no jq. As in the agents, \\ and \" become
# the bytes 01 and 02 (which never occur raw in JSON), so that every '"' left starts or
# ends a string and "status":" can only match the result's own key, not text inside
# the output; the output's own quotes are 02 then, as in 02agent02:4242 (AGENT is "-"
# for a result without an output from agent.sh)
export LC_ALL=C
sed -n -e 's/\\\\/\x01/g; s/\\"/\x02/g' \
	-e 's/^{"id":"\([^"]*\)".*,"status":"\([a-z]*\)".*,"output":"[^"]*\x02agent\x02:\([0-9]*\).*/\1\t\2\t\3/p' -e t \
	-e 's/^{"id":"\([^"]*\)".*,"status":"\([a-z]*\)".*/\1\t\2\t-/p' \
	"$results" | sed 's/\x01/\\\\/g; s/\x02/\\"/g' >"$tmp/table"
agents_summary bus "$tasks" "$results" "$tmp/table" || rc=1
exit "$rc"
