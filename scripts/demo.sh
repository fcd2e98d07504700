#!/usr/bin/env bash
# scripts/demo.sh - a real coordination run on the local bus, with a report.
#
# Installs what is missing, builds muster, then: a producer queues TASKS tasks; AGENTS
# shell agents (plain bash loops calling the muster CLI) take them with leases, hash
# their payload, publish a result and ack; a few agents are killed with SIGKILL halfway
# through, and their leased tasks come back to the others. A collector then counts every
# task id: done, lost, duplicated. Then the same number of tasks goes through the
# supervisor (muster run) while a coordinator, then the master (a standby waiting),
# then the whole tree is killed (bench/faults.sh). The report is printed and written to
# DIR (default ./report/demo) as report.md and report.json.
#
#   scripts/demo.sh [--agents N] [--tasks N] [--kill N] [--report DIR]
set -u
cd "$(dirname "$0")/.." || exit 2
agents=100 tasks=1000 kills=5 report=report/demo
while [ $# -gt 0 ]; do
	case "$1" in
	--agents) agents=$2; shift 2 ;;
	--tasks) tasks=$2; shift 2 ;;
	--kill) kills=$2; shift 2 ;;
	--report) report=$2; shift 2 ;;
	*) echo "usage: scripts/demo.sh [--agents N] [--tasks N] [--kill N] [--report DIR]" >&2; exit 2 ;;
	esac
done
bash scripts/deps.sh || exit 1
make -s -j"$(nproc)" >/dev/null || { echo "demo: build failed" >&2; exit 1; }
muster=$PWD/build/muster
base=/dev/shm
[ -w /dev/shm ] || base=${TMPDIR:-/tmp}
bus=$(mktemp -d "$base/muster-demo.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$bus"
}
trap cleanup EXIT
export MUSTER_BUS=$bus
ms() { echo $(( $(date +%s%N) / 1000000 )); }

echo "bus: $bus"
"$muster" queue tasks --lease 30s --max-attempts 5 >/dev/null
t0=$(ms)
seq 1 "$tasks" | sed 's/^/task-/' | "$muster" send --batch tasks >/dev/null || exit 1
t_sent=$(ms)

# An agent: take a task under a lease owned by this agent (MUSTER_OWNER: a background
# subshell is otherwise indistinguishable from the script that forked it), do the work,
# publish the result, ack.
agent() {
	local id payload sum
	export MUSTER_OWNER=$BASHPID
	while IFS=$'\t' read -r id payload < <("$muster" recv tasks --wait 1); do
		[ -n "$id" ] || break
		sum=$(printf '%s' "$payload" | sha256sum)
		"$muster" send results "$payload ${sum:0:16} $BASHPID" >/dev/null || exit 1
		"$muster" ack "$id" || exit 1
	done
}
for _ in $(seq 1 "$agents"); do
	agent &
	pids+=($!)
done

# halfway through, kill some agents outright: the tasks they hold must come back
killed=0
acked() { "$muster" queue tasks --json | sed -E 's/.*"acked":([0-9]+).*/\1/'; }
if [ "$kills" -gt 0 ]; then
	while [ "$(acked)" -lt $((tasks / 2)) ]; do sleep 0.05; done
	for p in "${pids[@]:0:$kills}"; do
		kill -9 "$p" 2>/dev/null && killed=$((killed + 1))
	done
fi
for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
t_done=$(ms)

# collect every result and count by task id
results=$(mktemp)
while "$muster" recv results --count 5000 --ack >>"$results"; do :; done
read -r done_unique dup < <(cut -f2 "$results" | awk '{n[$1]++} END {u=0; d=0; for (k in n) {u++; if (n[k]>1) d+=n[k]-1}; print u, d}')
lost=$((tasks - done_unique))
stats=$("$muster" queue tasks --json)
redelivered=$(echo "$stats" | sed -E 's/.*"redelivered":([0-9]+).*/\1/')
left=$(echo "$stats" | sed -E 's/.*"ready":([0-9]+),"leased":([0-9]+),"delayed":([0-9]+).*/\1+\2+\3/')
rm -f "$results"
wall=$((t_done - t0))
delivery=$(awk -v d="$done_unique" -v t="$tasks" 'BEGIN {printf "%.3f", 100 * d / t}')

# part two: the same tasks through the supervisor (muster run: master, coordinators,
# agents), with a coordinator killed, the master killed with a standby waiting, and
# the whole tree killed and resumed (bench/faults.sh counts every task id)
echo "supervisor: $tasks tasks on $agents agents under faults..."
sup=$(MUSTER=$muster bash bench/faults.sh --tasks "$tasks" --agents "$agents" \
	--scenario coord1 --scenario master --scenario all 2>/dev/null)
sup_rc=$?
sup_json=$(printf '%s\n' "$sup" | grep '^{' | paste -sd, -)
sup_md=$(printf '%s\n' "$sup" | grep '^{' | python3 -c '
import json, sys
names = {"coord1": "a coordinator killed (kill -9)", "master": "the master killed, a standby waiting",
         "all": "the whole tree killed, then --resume"}
for l in sys.stdin:
    r = json.loads(l)
    rec = "-" if r["recovery_ms"] is None else "%d ms" % r["recovery_ms"]
    print("| %s | %d | %d | %d | %d | %s (target %d ms) |" % (names.get(r["scenario"], r["scenario"]),
          r["reported"], r["lost"], r["duplicated"], r["processes_left"], rec, r["target_ms"]))')

mkdir -p "$report"
cat >"$report/report.json" <<JSON
{"agents":$agents,"tasks":$tasks,"killed_agents":$killed,"done":$done_unique,"lost":$lost,"duplicate_results":$dup,"redelivered":$redelivered,"left_in_queue":$((left)),"delivery_percent":$delivery,"enqueue_ms":$((t_sent - t0)),"wall_ms":$wall,"supervisor":[$sup_json]}
JSON
cat >"$report/report.md" <<MD
# muster demo: $agents shell agents, $tasks tasks, $killed agents killed mid-run

| figure | value |
|---|---|
| tasks queued (one batch) | $tasks in $((t_sent - t0)) ms |
| tasks done (distinct ids) | $done_unique |
| lost | $lost |
| delivery | $delivery % |
| agents killed with SIGKILL | $killed |
| leases returned to the queue (owner death or expiry) | $redelivered |
| results published twice (task redone after its agent died before ack) | $dup |
| left in queue | $((left)) |
| wall time | $wall ms |

Each agent is a bash loop calling \`muster recv\`, \`muster send\` and \`muster ack\`:
three process spawns per task.

## The supervisor: \`muster run\`, $tasks tasks on $agents agents, under faults

| fault | tasks reported | lost | duplicated | processes left | recovery |
|---|---|---|---|---|---|
$sup_md

Counted per task id from the output of whoever carried the run to its end
(bench/faults.sh); recovery is from the kill to work resumed.
MD
cat "$report/report.md"
echo
echo "report written to $report/report.md and $report/report.json"
[ "$lost" -eq 0 ] && [ $((left)) -eq 0 ] && [ "$sup_rc" -eq 0 ]
