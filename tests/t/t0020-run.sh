#!/usr/bin/env bash
# shellcheck disable=SC2016 # agent commands are single-quoted on purpose: their shell expands them
# t0020 - muster run (exec mode), results, ps, bench coordinate: results per task id,
# retries, timeouts (the whole process group killed), dependencies, bad input, a
# coordinator killed mid-run (every task done once).
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
plan 45

# check_results FILE N: every task 1..N (ids "t1".."tN" or line numbers) appears exactly
# once with status ok; prints what is wrong
check_results()
{
	python3 - "$1" "$2" <<'PY'
import json, sys
path, n = sys.argv[1], int(sys.argv[2])
seen = {}
for line in open(path):
    r = json.loads(line)
    seen.setdefault(r["n"], []).append(r)
bad = [k for k in range(n) if len(seen.get(k, [])) != 1 or seen[k][0]["status"] != "ok"]
extra = [k for k in seen if k >= n]
if bad or extra:
    print("lost or duplicated or failed: %s; extra: %s" % (bad[:10], extra[:10]))
    sys.exit(1)
PY
}

printf 'alpha\nbeta\n\n{"id":"g","payload":"gamma ray"}\n' >"$TEST_DIR/t1"
run m run --agents 2 --tasks "$TEST_DIR/t1" -- echo {}
is "$rc" 0 "run: every task succeeded: exit 0"
is "$(wc -l <"$OUT_FILE")" 3 "one result line per task (the blank line is no task)"
ok "$(python3 -c '
import json, sys
rs = {json.loads(l)["id"]: json.loads(l) for l in open(sys.argv[1])}
sys.exit(0 if rs["1"]["output"] == "alpha\n" and rs["2"]["output"] == "beta\n" and
         rs["g"]["output"] == "gamma ray\n" and all(r["status"] == "ok" for r in rs.values())
         else 1)' "$OUT_FILE" && echo 0)" "ids are line numbers or given; {} is the payload, as one argument"
like "$err" "3 tasks: 3 ok, 0 failed, 0 not run; delivery 100.000%" "a summary on stderr"
run_id=$(printf '%s' "$err" | sed -n 's/.*run \([^:]*\):.*/\1/p' | head -n 1)
run m results "$run_id"
is "$rc/$(wc -l <"$OUT_FILE")" "0/3" "results RUN prints the recorded results"
run m results no-such-run
is_error 3 "results of an unknown run: exit 3, one line"
run m forget "$run_id"
is "$rc/$(m results "$run_id" 2>/dev/null | wc -l)/$(m kv list "run.$run_id." | wc -l)/$(m queues |
	grep -c "^run\.$run_id\.")" "0/0/0/0" "forget RUN: exit 0; its results, keys and queues are gone"
ok "$([ ! -e "$BUS/runs/$run_id" ] && echo 0)" "forget RUN: its files are gone"
run m forget "$run_id"
is_error 3 "forget of a run forgotten already: exit 3, one line"
run m forget bad.name
is_error 2 "forget of an invalid run name: exit 2"

# payload on stdin, task in the environment
printf '{"id":"s1","payload":"on stdin"}\n' >"$TEST_DIR/t2"
run m run --tasks "$TEST_DIR/t2" -- sh -c 'cat; printf " %s %s" "$MUSTER_TASK_ID" "$MUSTER_ATTEMPT"'
is "$(jget "$out" output)" "on stdin s1 1" "the payload is on stdin; MUSTER_TASK_ID and MUSTER_ATTEMPT are set"

# an agent starts with no signal blocked or ignored, even when muster runs with some
# ignored (nohup, a shell's background job, glibc's own 32 and 33 as its posix_spawn
# leaves them) and blocks its own
out=$("$MUSTER_TEST_BIN/sigign" 1,2,3,10,15,32,33 "$MUSTER_BIN" --bus "$BUS" run \
	--tasks "$TEST_DIR/t2" -- grep -E '^Sig(Blk|Ign)' /proc/self/status 2>/dev/null)
is "$(jget "$out" output)" "$(printf 'SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n')" \
	"an agent's signals are all unblocked and at their default"

# failures and retries
printf 'x\n' >"$TEST_DIR/t3"
run m run --retries 2 --tasks "$TEST_DIR/t3" -- sh -c 'echo oops >&2; exit 3'
is "$rc" 1 "a failed task: exit 1"
is "$(jget "$out" status)/$(jget "$out" attempts)/$(jget "$out" exit_code)" "failed/3/3" \
	"failed after 1 + 2 retries, with its exit code"
is "$(jget "$out" reason)/$(jget "$out" stderr)" "exit code 3/oops" \
	"the reason and the agent's stderr are in the result"
run m run --retries 3 --tasks "$TEST_DIR/t3" -- sh -c '[ "$MUSTER_ATTEMPT" -ge 2 ]'
is "$rc/$(jget "$out" status)/$(jget "$out" attempts)" "0/ok/2" "a flaky task succeeds on its second attempt"
run m run --tasks "$TEST_DIR/t3" -- sh -c 'kill -KILL $$'
is "$(jget "$out" status)/$(jget "$out" signal)" "failed/9" "an agent killed by a signal: failed, with the signal"

# timeouts kill the whole process group
printf '{"id":"slow","payload":"p","timeout":0.3}\n' >"$TEST_DIR/t4"
t0=$(now_ms)
run m run --tasks "$TEST_DIR/t4" -- sh -c 'sleep 30 & echo $! >"$1"; wait' sh "$TEST_DIR/bgpid"
t1=$(now_ms)
is "$(jget "$out" status)/$(jget "$out" attempts)" "timeout/1" "a task past its timeout: status timeout"
cmp_ok $((t1 - t0)) -lt 10000 "the run did not wait for the slow agent"
bg=$(cat "$TEST_DIR/bgpid" 2>/dev/null)
ok "$([ -n "$bg" ] && ! kill -0 "$bg" 2>/dev/null && echo 0)" "the agent's background child was killed too"

# dependencies
cat >"$TEST_DIR/t5" <<'T'
{"id":"a","payload":"a"}
{"id":"b","payload":"b","deps":["a"]}
{"id":"f","payload":"f"}
{"id":"c","payload":"c","deps":["f","b"]}
{"id":"d","payload":"d","deps":["c"]}
T
run m run --agents 4 --tasks "$TEST_DIR/t5" -- sh -c 'sleep 0.1; [ "$1" != f ]' sh {}
is "$rc" 1 "a run with a failed task exits 1"
ok "$(python3 -c '
import json, sys
rs = {json.loads(l)["id"]: json.loads(l) for l in open(sys.argv[1])}
a, b = rs["a"], rs["b"]
ok = (a["status"] == "ok" and b["status"] == "ok" and rs["f"]["status"] == "failed" and
      rs["c"]["status"] == "skipped" and rs["d"]["status"] == "skipped" and
      b["start_ms"] >= a["start_ms"] + a["duration_ms"] - 1 and "f" in rs["c"]["reason"])
sys.exit(0 if ok and len(rs) == 5 else 1)' "$OUT_FILE" && echo 0)" \
	"deps run after their dependencies; a failed one skips its dependents, with the reason"

# bad input: one line on stderr, exit 2, nothing runs
printf '{"id":"a","payload":"x","deps":["b"]}\n{"id":"b","payload":"y","deps":["a"]}\n' >"$TEST_DIR/cyc"
run m run --tasks "$TEST_DIR/cyc" -- echo {}
is_error 2 "a dependency cycle is refused before anything runs"
like "$err" "cycle" "the error names the cycle"
printf 'x\n{"id":"1","payload":"dup"}\n' >"$TEST_DIR/dup"
run m run --tasks "$TEST_DIR/dup" -- echo {}
is_error 2 "duplicate task ids are refused"
printf 'fine\n{"id": broken\n' >"$TEST_DIR/broken"
run m run --tasks "$TEST_DIR/broken" -- echo {}
is_error 2 "a broken task line is refused"
like "$err" "line 2" "the error names the line"
run m run --tasks "$TEST_DIR/t1" -- /no/such/command
is_error 2 "an unknown command is refused"
run m run --agents 0 -- echo
is_error 2 "--agents 0 is refused"
run m run --tasks "$TEST_DIR/missing" -- echo
is_error 3 "a missing task file: exit 3"
run m run --tasks "$TEST_DIR/t1"
is_error 2 "no command: usage error"

# ps while a run is live; then a coordinator killed mid-run
seq 1 300 >"$TEST_DIR/many"
spawn "$MUSTER_BIN" --bus "$BUS" run --run kill1 --agents 20 --coordinators 3 \
	--results "$TEST_DIR/many.out" --tasks "$TEST_DIR/many" -- sh -c 'sleep 0.05; echo $1' sh {}
runpid=$SPAWN_PID
has_roles()
{
	local j
	j=$(m ps --json) || return 1
	printf '%s' "$j" | python3 -c '
import json, sys
ps = [p for p in json.load(sys.stdin) if p.get("run") == "kill1"]
roles = {p["role"] for p in ps}
sys.exit(0 if {"master", "coordinator", "worker"} <= roles and
         all("pid" in p for p in ps) else 1)'
}
wait_for 20 has_roles
ok "$?" "ps --json lists the master, coordinators and workers of a live run"
cpid=$(m ps --json | python3 -c '
import json, sys
print([p["pid"] for p in json.load(sys.stdin) if p.get("run") == "kill1" and p["role"] == "coordinator"][0])')
wait_for 20 lines_ge "$TEST_DIR/many.out" 60
kill -KILL "$cpid"
wait "$runpid"
is "$?" 0 "the run with a coordinator killed mid-run still succeeds"
why=$(check_results "$TEST_DIR/many.out" 300)
ok "$([ -z "$why" ] && echo 0)" "every one of 300 tasks is reported once, ok ($why)"
ok "$(kill -0 "$cpid" 2>/dev/null || echo 0)" "the killed coordinator is gone"
run m ps --json
is "$out" "[]" "ps after the run: no process left"

run m run --run kill1 --tasks "$TEST_DIR/t1" -- echo {}
is_error 5 "a run name cannot be used twice"

# the headline benchmark
run "$MUSTER_BIN" bench coordinate --agents 50
is "$rc" 0 "bench coordinate exits 0 when every reply came in"
is "$(jget "$out" agents)/$(jget "$out" delivered)" "50/50" "bench coordinate: agents and delivered"
ok "$(jget "$out" seconds >/dev/null && jget "$out" floor_seconds >/dev/null && echo 0)" \
	"bench coordinate prints its time and the spawn floor"
run "$MUSTER_BIN" bench coordinate --agents x
is_error 2 "bench coordinate with a bad --agents: exit 2"
run "$MUSTER_BIN" bench coordinate --agents 20 --pool --tasks 100
is "$rc/$(jget "$out" mode)/$(jget "$out" delivered)" "0/pool/100" \
	"bench coordinate --pool: 100 tasks to 20 running agents, every reply in"

# degradation: too few file descriptors for 100 agents at once (with heartbeats, the
# coordinator holds three descriptors per running agent: its output, its stderr and its
# heartbeat file); the coordinator runs fewer, says so, and every task still runs once
# (nothing counts against a task)
seq 1 200 >"$TEST_DIR/t200"
out=$( (ulimit -n 80 && "$MUSTER_BIN" --bus "$BUS" run --agents 100 --heartbeat 30 \
	--tasks "$TEST_DIR/t200" -- sh -c 'sleep 0.1; echo "$1"' sh {}) 2>"$TEST_DIR/degrade.err")
rc=$?
printf '%s\n' "$out" >"$TEST_DIR/degrade.out"
is "$rc" 0 "with 80 file descriptors, 100 agents: the run succeeds"
why=$(check_results "$TEST_DIR/degrade.out" 200)
ok "$([ -z "$why" ] && echo 0)" "every one of 200 tasks is reported once, ok ($why)"
like "$(cat "$TEST_DIR/degrade.err")" "out of file descriptors: running at most [0-9]+ agents at once" \
	"the lowered concurrency is said"
done_testing
