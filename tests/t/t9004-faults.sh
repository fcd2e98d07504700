#!/usr/bin/env bash
# t9004 - muster run under faults (bench/faults.sh), counted per task id: 10,000 short
# tasks on 100 agents through 4 coordinators; one coordinator killed, two at once, the
# master killed with a standby waiting, the master killed with none (a coordinator
# starts one that carries the run on), a worker stopped past its timeout, and the
# whole tree killed and resumed. Every scenario must report every task exactly once,
# ok, agree with `muster results`, and leave no process behind. The recovery times are
# printed (their targets are checked by the benchmark's report, not here).
#   FAULTS_TASKS, FAULTS_AGENTS   the run's size (default 10000, 100)
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${MUSTER_BIN:-$root/build/muster}
scenarios=(coord1 coord2 master heir sigstop all)
echo "1..${#scenarios[@]}"
i=0
for sc in "${scenarios[@]}"; do
	i=$((i + 1))
	out=$(MUSTER=$bin timeout 300 bash "$root/bench/faults.sh" --scenario "$sc" \
		--tasks "${FAULTS_TASKS:-10000}" --agents "${FAULTS_AGENTS:-100}" 2>&1)
	rc=$?
	printf '%s\n' "$out" | sed 's/^/# /'
	json=$(printf '%s\n' "$out" | grep '^{' | tail -n 1)
	if [ "$rc" -eq 0 ] && [ -n "$json" ]; then
		echo "ok $i - $sc: every task once and ok, nothing left running"
	else
		echo "not ok $i - $sc (exit $rc): $json"
	fi
done
