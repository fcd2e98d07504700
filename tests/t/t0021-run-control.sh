#!/usr/bin/env bash
# shellcheck disable=SC2016 # agent commands are single-quoted on purpose: their shell expands them
# t0021 - muster run: pool mode (replies, reuse, garbage, exits, silence, wrong ids,
# retries, heartbeats), exec heartbeats, a standby master taking over a killed one,
# --resume after every process of a run was killed, stop (drain and --now), pause and
# resume (of a run and of one agent), --max-concurrency, --rate, rlimits (--mem,
# --nofile, --cpu-time), the progress bar under a pseudo-terminal, and bad input.
# Delivery is counted per task id (lost 0, duplicated 0); waits are bounded.

# the watchdog gives slow machines and the sanitizer build room (this takes ~35 s alone)
: "${T_TIMEOUT:=150}"
export T_TIMEOUT
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
plan 99

# --- helpers ---------------------------------------------------------------------------

# ids_once FILE N [STATUS]: every task id 1..N is in FILE (result lines) exactly once,
# with status STATUS (default ok; '*': any), and no other id; prints what is wrong
ids_once()
{
	python3 - "$1" "$2" "${3:-ok}" <<'PY'
import collections, json, sys
path, n, want = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rs = [json.loads(l) for l in open(path) if l.strip()]
c = collections.Counter(r["id"] for r in rs)
ids = {str(k) for k in range(1, n + 1)}
lost = sorted(ids - set(c), key=int)
dup = sorted(k for k, v in c.items() if v > 1)
extra = sorted(set(c) - ids)
bad = sorted({r["id"] for r in rs if want != "*" and r["status"] != want})
if lost or dup or extra or bad:
    print("lost %d %s; duplicated %s; extra %s; not %s: %s"
          % (len(lost), lost[:10], dup[:10], extra[:10], want, bad[:10]))
PY
}

# pyres FILE EXPR: the value of the Python expression EXPR, where L is the list of the
# results of FILE (JSON lines) and R the same by id (true/false for a boolean)
pyres()
{
	python3 - "$1" "$2" <<'PY'
import json, sys
L = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
R = {r["id"]: r for r in L}
v = eval(sys.argv[2])
print(str(v).lower() if isinstance(v, bool) else v)
PY
}

# lines_in A B: every line of file A is in file B (byte for byte); prints the missing
lines_in()
{
	python3 - "$1" "$2" <<'PY'
import sys
b = set(open(sys.argv[2]).read().splitlines())
miss = [l for l in open(sys.argv[1]).read().splitlines() if l not in b]
if miss:
    print("%d lines missing, first: %s" % (len(miss), miss[0][:200]))
PY
}

# ps_pids [RUN [ROLE]]: the pids of the live processes of RUN (every run: '') with role
# ROLE (any: ''), masters and standbys first, then coordinators, then workers
ps_pids()
{
	local j
	j=$(m ps --json 2>/dev/null) || return 1
	printf '%s' "$j" | python3 -c '
import json, sys
run, role = sys.argv[1], sys.argv[2]
order = {"master": 0, "standby": 0, "coordinator": 1, "worker": 2}
ps = [p for p in json.load(sys.stdin)
      if (not run or p.get("run") == run) and (not role or p.get("role") == role)]
print(" ".join(str(p["pid"]) for p in sorted(ps, key=lambda p: order.get(p.get("role"), 3))))
' "${1:-}" "${2:-}"
}

# has_proc RUN ROLE [N]: at least N (1) live processes of RUN with role ROLE
has_proc()
{
	local p
	p=$(ps_pids "$1" "$2") || return 1
	[ "$(wc -w <<<"$p")" -ge "${3:-1}" ]
}

no_procs()
{
	[ "$(m ps --json 2>/dev/null)" = "[]" ]
}

# nresults RUN: the number of results recorded so far (0 before the run exists)
nresults()
{
	local n
	n=$(m results "$1" 2>/dev/null | wc -l)
	echo "${n:-0}"
}

results_ge()
{
	[ "$(nresults "$1")" -ge "$2" ]
}

# gone PID: the process is gone (or a zombie)
gone()
{
	local st
	kill -0 "$1" 2>/dev/null || return 0
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 0
	[ "${st%% *}" = Z ]
}

# reap SECS PID: waits (bounded) for our child PID to end; its status in $rc (255 and
# killed when it did not end in time)
reap()
{
	if wait_for "$1" gone "$2"; then
		wait "$2" 2>/dev/null
		rc=$?
	else
		kill -KILL "$2" 2>/dev/null
		wait "$2" 2>/dev/null
		rc=255
	fi
}

# pstate PID: the state letter of PID (/proc/PID/status), '-' when gone
pstate()
{
	local s
	s=$(sed -n 's/^State:[[:space:]]*\([A-Za-z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)
	echo "${s:--}"
}

# all_state LETTER PID...: every PID is in state LETTER
all_state()
{
	local l=$1 p
	shift
	for p in "$@"; do
		[ "$(pstate "$p")" = "$l" ] || return 1
	done
}

# kill_run RUN: SIGKILL to every registered process of RUN (the master first), again
# until none is left; status 1 if some are still there after 10 s
kill_run()
{
	local i p pids
	for ((i = 0; i < 100; i++)); do
		pids=$(ps_pids "$1") || return 1
		[ -n "$pids" ] || return 0
		for p in $pids; do
			kill -KILL "$p" 2>/dev/null
		done
		sleep 0.05
	done
	return 1
}

# at exit: whatever a failed test left running on our bus (workers with their groups)
kill_leftovers()
{
	local p
	for p in $(ps_pids "" worker); do
		kill -KILL -- "-$p" 2>/dev/null
	done
	for p in $(ps_pids ""); do
		kill -KILL "$p" 2>/dev/null
	done
}
at_exit kill_leftovers

py=$(python3 -c 'import sys; print(sys.executable)')
mr=("$MUSTER_BIN" --bus "$BUS" run)

# a standby for a run that does not exist gives up after ~10 s (the run's master may be
# starting): it waits in the background while the rest runs, and is checked at the end
spawn "$MUSTER_BIN" --bus "$BUS" run --standby --run nosuch >"$TEST_DIR/sb-nosuch.out" \
	2>"$TEST_DIR/sb-nosuch.err" </dev/null
sb_nosuch=$SPAWN_PID

# --- 1. pool mode ----------------------------------------------------------------------

# a pool agent: one reply per request line; what it does depends on the payload
cat >"$TEST_DIR/agent.sh" <<'EOF'
#!/usr/bin/env bash
while IFS= read -r line; do
	id=${line#*\"id\":\"}
	id=${id%%\"*}
	p=${line#*\"payload\":\"}
	p=${p%%\"*}
	att=${line#*\"attempt\":}
	att=${att%%,*}
	case $p in
	garbage) echo "this is not json" ;;
	exit) exit 7 ;;
	silent) sleep 30 ;;
	wrongid) printf '{"id":"nope-%s","status":"ok","output":"x"}\n' "$id" ;;
	flaky)
		if [ "$att" = 1 ]; then
			printf '{"id":"%s","status":"failed","error":"first try"}\n' "$id"
		else
			printf '{"id":"%s","status":"ok","output":"flaky:%s"}\n' "$id" "$att"
		fi
		;;
	beat)
		for _ in 1 2 3 4 5 6 7; do
			echo '{"heartbeat":true}'
			sleep 0.3
		done
		printf '{"id":"%s","status":"ok","output":"beat"}\n' "$id"
		;;
	quiet)
		sleep 2
		printf '{"id":"%s","status":"ok","output":"quiet"}\n' "$id"
		;;
	*) printf '{"id":"%s","status":"ok","output":"%s:%s"}\n' "$id" "$p" "$$" ;;
	esac
done
EOF
chmod +x "$TEST_DIR/agent.sh"
agent=$TEST_DIR/agent.sh

for i in $(seq 1 30); do echo "w$i"; done >"$TEST_DIR/p1"
run m run --mode pool --agents 3 --tasks "$TEST_DIR/p1" -- "$agent"
cp "$OUT_FILE" "$TEST_DIR/p1.out"
is "$rc/$(ids_once "$TEST_DIR/p1.out" 30)" "0/" "pool: 30 tasks, exit 0, every id reported once, ok"
is "$(pyres "$TEST_DIR/p1.out" 'sum(r["output"] != "w%s:%d" % (r["id"], r["agent"]) for r in L)')" 0 \
	"pool: each output is the reply to its own request, from the agent the result names"
is "$(pyres "$TEST_DIR/p1.out" 'len(L) == 30 and 1 <= len({r["agent"] for r in L}) <= 3')" true \
	"pool: 30 tasks served by at most 3 agent processes (agents are reused)"

# misbehaving agents, one agent so that tasks run in order
printf 'garbage\nok1\nexit\nok2\nwrongid\nok3\nsilent\nok4\n' >"$TEST_DIR/p2"
run m run --mode pool --agents 1 --timeout 1s --tasks "$TEST_DIR/p2" -- "$agent"
cp "$OUT_FILE" "$TEST_DIR/p2.out"
is "$rc/$(ids_once "$TEST_DIR/p2.out" 8 '*')" "1/" "pool, misbehaving agents: exit 1, every id reported once"
is "$(pyres "$TEST_DIR/p2.out" 'R["1"]["status"] + "/" + str("garbage" in (R["1"].get("reason") or ""))')" \
	"failed/True" "pool: a garbage line fails its task, with 'garbage' in the reason"
is "$(pyres "$TEST_DIR/p2.out" '" ".join(R[i]["status"] for i in "2468") + " " + str(all(R[a]["agent"] != R[b]["agent"] for a, b in ("12", "34", "56", "78")))')" \
	"ok ok ok ok True" "pool: the agent that misbehaved is replaced: the next task succeeds on a new agent"
is "$(pyres "$TEST_DIR/p2.out" 'R["3"]["status"] + "/" + str(R["3"]["exit_code"]) + "/" + R["3"].get("reason", "")')" \
	"failed/7/the agent exited with code 7" "pool: an agent that exits fails its task: 'exited with code'"
like "$(pyres "$TEST_DIR/p2.out" 'R["5"]["status"] + "/" + R["5"].get("reason", "")')" \
	"^failed/.*replied for task 'nope-5'" "pool: a reply with the wrong id fails the task"
is "$(pyres "$TEST_DIR/p2.out" 'R["7"]["status"]')" timeout "pool: a silent agent past --timeout 1s: status timeout"

printf 'flaky\nflaky\n' >"$TEST_DIR/p3"
run m run --mode pool --agents 2 --retries 1 --tasks "$TEST_DIR/p3" -- "$agent"
is "$rc/$(pyres "$OUT_FILE" '" ".join("%s:%s:%s" % (r["status"], r["attempts"], r["output"]) for r in sorted(L, key=lambda r: r["id"]))')" \
	"0/ok:2:flaky:2 ok:2:flaky:2" "pool --retries 1: a task failed once succeeds on attempt 2 (the request says attempt 2)"
run m run --mode pool --agents 2 --tasks "$TEST_DIR/p3" -- "$agent"
is "$rc/$(pyres "$OUT_FILE" '" ".join("%s:%s:%s" % (r["status"], r["attempts"], r["reason"]) for r in L)')" \
	"1/failed:1:first try failed:1:first try" "pool, no retries: a failed reply fails the task, its error as the reason"

printf 'beat\nquiet\n' >"$TEST_DIR/p4"
run m run --mode pool --agents 2 --heartbeat 1s --tasks "$TEST_DIR/p4" -- "$agent"
cp "$OUT_FILE" "$TEST_DIR/p4.out"
is "$rc/$(pyres "$TEST_DIR/p4.out" 'R["1"]["status"] + "/" + str(R["1"]["duration_ms"] > 1500)')" "1/ok/True" \
	"pool --heartbeat 1s: an agent sending heartbeats for 2 s, then its reply: ok"
like "$(pyres "$TEST_DIR/p4.out" 'R["2"]["status"] + "/" + str(R["2"]["duration_ms"] < 1900) + "/" + R["2"].get("reason", "")')" \
	"^failed/True/.*heartbeat" "pool --heartbeat 1s: a silent agent fails before it replies, 'heartbeat' in the reason"
run m ps --json
is "$out" "[]" "pool: no process left after the runs"

# --- 2. exec heartbeats ----------------------------------------------------------------

printf 'touch\nout\nquiet\n' >"$TEST_DIR/e1"
run m run --heartbeat 1s --tasks "$TEST_DIR/e1" -- sh -c '
case $1 in
touch) i=0; while [ $i -lt 7 ]; do touch "$MUSTER_HEARTBEAT"; sleep 0.3; i=$((i + 1)); done ;;
out) i=0; while [ $i -lt 7 ]; do echo beat; sleep 0.3; i=$((i + 1)); done ;;
*) sleep 3 ;;
esac' sh {}
cp "$OUT_FILE" "$TEST_DIR/e1.out"
is "$rc/$(pyres "$TEST_DIR/e1.out" 'R["1"]["status"] + " " + R["2"]["status"] + " " + str(min(R["1"]["duration_ms"], R["2"]["duration_ms"]) > 1500)')" \
	"1/ok ok True" "exec --heartbeat 1s: agents touching \$MUSTER_HEARTBEAT or writing output for 2 s succeed"
like "$(pyres "$TEST_DIR/e1.out" 'R["3"]["status"] + "/" + str(R["3"]["duration_ms"] < 2500) + "/" + R["3"].get("reason", "")')" \
	"^failed/True/.*heartbeat" "exec --heartbeat 1s: an agent silent for 3 s is killed early, 'heartbeat' in the reason"

# --- 3. a standby master ---------------------------------------------------------------

# the standby starts first (it waits for the run to appear): it is ready early in the run
seq 1 200 >"$TEST_DIR/t200"
spawn "${mr[@]}" --standby --run S1 >"$TEST_DIR/s1s.out" 2>"$TEST_DIR/s1s.err" </dev/null
s1_standby=$SPAWN_PID
spawn "${mr[@]}" --run S1 --agents 10 --tasks "$TEST_DIR/t200" -- sh -c 'sleep 0.05; echo {}' \
	>"$TEST_DIR/s1.out" 2>"$TEST_DIR/s1.err" </dev/null
s1_master=$SPAWN_PID
wait_for 10 has_proc S1 standby
ok $? "standby: ps --json shows a process with role standby"
mpid=$(ps_pids S1 master)
kill -KILL "$mpid" 2>/dev/null
reap 10 "$s1_master"
is "$mpid/$rc/$(($(wc -l <"$TEST_DIR/s1.out") < 200))" "$s1_master/137/1" \
	"standby: the master (the pid ps names) is killed mid-run"
reap 30 "$s1_standby"
is "$rc" 0 "standby: it carries the run on and exits 0"
is "$(ids_once "$TEST_DIR/s1s.out" 200)" "" "standby: its output has all 200 ids exactly once, all ok"
is "$(lines_in "$TEST_DIR/s1.out" "$TEST_DIR/s1s.out")" "" \
	"standby: the results the dead master printed are in the standby's output unchanged"
m results S1 >"$TEST_DIR/s1.res"
is "$(wc -l <"$TEST_DIR/s1.res")/$(ids_once "$TEST_DIR/s1.res" 200)" "200/" "standby: results S1 has 200 lines, ids unique"
wait_for 5 no_procs
ok $? "standby: ps --json is [] after the run"

seq 1 40 >"$TEST_DIR/t40"
spawn "${mr[@]}" --standby --run S2 >"$TEST_DIR/s2s.out" 2>"$TEST_DIR/s2s.err" </dev/null
s2_standby=$SPAWN_PID
spawn "${mr[@]}" --run S2 --agents 2 --tasks "$TEST_DIR/t40" -- sh -c 'sleep 0.05' \
	>"$TEST_DIR/s2.out" 2>"$TEST_DIR/s2.err" </dev/null
s2_master=$SPAWN_PID
wait_for 10 has_proc S2 standby
s2_seen=$?
reap 20 "$s2_master"
s2_rc=$rc
reap 10 "$s2_standby"
is "$s2_seen/$s2_rc/$rc/$(wc -c <"$TEST_DIR/s2s.out")" "0/0/0/0" \
	"standby of a run that ends normally: exits 0 and prints no result"

# the master killed with no standby: a coordinator starts a master that carries the run
# on (its printed results go to runs/H1/results.DEADPID.jsonl)
run_state()
{
	m kv get "run.$1.meta" 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin).get("state", ""))'
}
run_over()
{
	local st
	st=$(run_state "$1")
	[ -n "$st" ] && [ "$st" != running ] && [ "$st" != stopping ]
}
spawn "${mr[@]}" --run H1 --agents 10 --tasks "$TEST_DIR/t200" -- sh -c 'sleep 0.05; echo {}' \
	>"$TEST_DIR/h1.out" 2>"$TEST_DIR/h1.err" </dev/null
h1_master=$SPAWN_PID
wait_for 20 results_ge H1 30
kill -KILL "$h1_master"
h1_kill=$(date +%s%3N)
reap 10 "$h1_master"
wait_for 60 run_over H1
is "$?/$(run_state H1)" "0/done" "no standby: after kill -9 of the master the run still ends, done"
is "$(ids_once "$BUS/runs/H1/results.$h1_master.jsonl" 200)" "" \
	"no standby: the master a coordinator started printed all 200 ids exactly once, all ok"
like "$(cat "$TEST_DIR/h1.err")" "the master of run H1 \\(pid $h1_master\\) died with no standby; master [0-9]+ carries the run on" \
	"no standby: the coordinator says it started a master"
h1_rec=$(m kv get run.H1.meta | python3 -c 'import json, sys; print(json.load(sys.stdin)["takeover_ms"] - int(sys.argv[1]))' "$h1_kill")
diag "no standby: taken over ${h1_rec} ms after the kill"
ok "$([ "$h1_rec" -ge 0 ] && echo 0)" "no standby: the takeover is recorded, after the kill ($h1_rec ms; its target is the benchmark's)"
m results H1 >"$TEST_DIR/h1.res"
is "$(wc -l <"$TEST_DIR/h1.res")/$(ids_once "$TEST_DIR/h1.res" 200)" "200/" "no standby: results H1 has 200 lines, ids unique"
wait_for 10 no_procs
ok $? "no standby: ps --json is [] after the run"

# two buses, one run name, at the same time: each run is on its own (the end of one,
# which kills what is left in its cgroup, must not touch the other's agents)
seq 1 6 >"$TEST_DIR/t6"
spawn "$MUSTER_BIN" --bus "$TEST_DIR/busA" run --run same --agents 6 --tasks "$TEST_DIR/t6" \
	-- sh -c 'sleep 1.5; echo {}' >"$TEST_DIR/sameA.out" 2>"$TEST_DIR/sameA.err" </dev/null
same_a=$SPAWN_PID
wait_for 10 eval '[ "$("$MUSTER_BIN" --bus "$TEST_DIR/busA" ps --json | grep -o "\"worker\"" | wc -l)" -ge 6 ]'
run "$MUSTER_BIN" --bus "$TEST_DIR/busB" run --run same --agents 2 --tasks "$TEST_DIR/t6" -- echo {}
is "$rc/$(wc -l <"$OUT_FILE")" "0/6" "same run name on another bus: that run ends on its own"
run "$MUSTER_BIN" --bus "$TEST_DIR/busA" forget same
is_error 5 "forget of a run with a live master: exit 5, one line (nothing forgotten)"
reap 20 "$same_a"
is "$rc/$(ids_once "$TEST_DIR/sameA.out" 6)" "0/" \
	"same run name on another bus: this run's agents were not killed by the other's end"

# --- 4. --resume after every process of a run was killed ------------------------------

spawn "${mr[@]}" --run R1 --agents 5 --tasks "$TEST_DIR/t200" -- sh -c 'sleep 0.05; echo {}' \
	>"$TEST_DIR/r1.out" 2>"$TEST_DIR/r1.err" </dev/null
r1_master=$SPAWN_PID
wait_for 20 results_ge R1 50
ok $? "resume: 50 results are in"
kill_run R1
ok $? "resume: kill -9 of every process of the run (master first), until ps --json shows none"
reap 10 "$r1_master"
r1_n=$(wc -l <"$TEST_DIR/r1.out")
m results R1 >"$TEST_DIR/r1.snap"
diag "resume: killed after $r1_n results printed, $(wc -l <"$TEST_DIR/r1.snap") recorded"
spawn "${mr[@]}" --resume R1 >"$TEST_DIR/r1r.out" 2>"$TEST_DIR/r1r.err" </dev/null
r1_resume=$SPAWN_PID
wait_for 10 has_proc R1 master
run m run --resume R1
is_error 5 "resume while a master is alive: exit 5 (conflict), one line"
like "$err" "live master" "resume while a master is alive: the message says why"
reap 30 "$r1_resume"
is "$rc/$(ids_once "$TEST_DIR/r1r.out" 200)" "0/" "resume: exit 0, prints the 200 ids exactly once, all ok"
changed=$(python3 - "$TEST_DIR/r1.out" "$TEST_DIR/r1r.out" <<'PY2'
import json, sys
after = {r["id"]: r for r in map(json.loads, open(sys.argv[2]))}
print(sum(1 for r in map(json.loads, open(sys.argv[1])) if after.get(r["id"], {}).get("agent") != r["agent"]))
PY2
)
is "$changed/$((r1_n > 0))" "0/1" "resume: the $r1_n tasks the first master printed keep their result (the same agent pid)"
is "$(lines_in "$TEST_DIR/r1.snap" "$TEST_DIR/r1r.out")" "" "resume: every result recorded before the kill is printed unchanged"
m results R1 >"$TEST_DIR/r1.res"
is "$(wc -l <"$TEST_DIR/r1.res")/$(ids_once "$TEST_DIR/r1.res" 200)" "200/" "resume: results R1 has 200 lines, ids unique"
run m ps --json
is "$out" "[]" "resume: no process left"
run m run --resume nosuch
is_error 3 "resume of an unknown run: exit 3, one line"
run m run --resume R1
is "$rc/$(wc -l <"$OUT_FILE")" "0/200" \
	"resume of a finished run prints its 200 results and exits 0"

# --- 5. stop ---------------------------------------------------------------------------

seq 1 32 >"$TEST_DIR/t32"
spawn "${mr[@]}" --run D1 --agents 8 --tasks "$TEST_DIR/t32" -- sh -c 'sleep 0.3; echo {}' \
	>"$TEST_DIR/d1.out" 2>"$TEST_DIR/d1.err" </dev/null
d1_master=$SPAWN_PID
wait_for 20 results_ge D1 8
# the tasks running now (ps) must all be reported by the drained run
running=$(m ps --json | python3 -c '
import json, sys
print(" ".join(p["id"] for p in json.load(sys.stdin) if p.get("run") == "D1" and p["role"] == "worker"))')
t0=$(now_ms)
run m stop D1
t1=$(now_ms)
is "$rc" 0 "stop (drain): exit 0"
like "$err" "run D1 stopped" "stop (drain): says the run stopped"
reap 10 "$d1_master"
is "$rc" 1 "stop (drain): the master exits 1"
d1_n=$(wc -l <"$TEST_DIR/d1.out")
is "$(pyres "$TEST_DIR/d1.out" 'sum(1 for i in "'"$running"'".split() if R.get(i, {}).get("status") != "ok")')/$([ -n "$running" ] && echo some)" \
	"0/some" "stop (drain): the tasks running at the stop finish and are reported ok ($running)"
like "$(<"$TEST_DIR/d1.err")" "32 tasks: $d1_n ok, 0 failed, $((32 - d1_n)) not run" \
	"stop (drain): the rest are not run ($((32 - d1_n)) of 32; stop took $((t1 - t0)) ms)"
run m ps --json
is "$out" "[]" "stop (drain): no process left"
run m run --resume D1
cp "$OUT_FILE" "$TEST_DIR/d1r.out"
is "$rc/$(ids_once "$TEST_DIR/d1r.out" 32)/$(lines_in "$TEST_DIR/d1.out" "$TEST_DIR/d1r.out")" "0//" \
	"stop (drain) then --resume: every id exactly once, ok; the drained run's results unchanged"

mark=t0021-stopnow-$$
spawn "${mr[@]}" --run N1 --agents 8 --tasks "$TEST_DIR/t32" -- sh -c 'sleep 0.4; echo {}' "$mark" \
	>"$TEST_DIR/n1.out" 2>"$TEST_DIR/n1.err" </dev/null
n1_master=$SPAWN_PID
wait_for 20 results_ge N1 8
wait_for 10 has_proc N1 worker 2
t0=$(now_ms)
run m stop --now N1
t1=$(now_ms)
is "$rc/$(((t1 - t0) < 5000))" "0/1" "stop --now: exit 0 within 5 s ($((t1 - t0)) ms)"
reap 10 "$n1_master"
is "$rc" 130 "stop --now: the master exits 130 (interrupted)"
run m ps --json
is "$out/$(pgrep -f "$mark" | wc -l)" "[]/0" "stop --now: no process of the run left (ps --json, pgrep of the agents' marker)"
n1_n=$(wc -l <"$TEST_DIR/n1.out")
run m run --resume N1
cp "$OUT_FILE" "$TEST_DIR/n1r.out"
is "$rc/$(ids_once "$TEST_DIR/n1r.out" 32)/$(lines_in "$TEST_DIR/n1.out" "$TEST_DIR/n1r.out")" "0//" \
	"stop --now then --resume: every id exactly once, ok ($n1_n before the stop)"
run m stop nosuch
is_error 3 "stop of an unknown run: exit 3, one line"
run m stop N1
is_error 3 "stop of a finished run: exit 3, one line"
like "$err" "no live master" "stop of a finished run: the message says why"

# --- 6. pause and resume ---------------------------------------------------------------

seq 1 12 >"$TEST_DIR/t12"
spawn "${mr[@]}" --run P1 --agents 4 --timeout 3s --tasks "$TEST_DIR/t12" -- sh -c 'sleep 0.3; echo {}' \
	>"$TEST_DIR/pa.out" 2>"$TEST_DIR/pa.err" </dev/null
pa_master=$SPAWN_PID
wait_for 10 has_proc P1 worker 4
run m pause P1
tp=$(now_ms)
is "$rc" 0 "pause RUN: exit 0"
paused_workers()
{
	local w
	w=$(ps_pids P1 worker) || return 1
	[ -n "$w" ] || return 1
	# shellcheck disable=SC2086 # a list of pids
	all_state T $w
}
wait_for 5 paused_workers
ok $? "pause RUN: the agents are stopped (state T in /proc/PID/status)"
sleep 0.2 # a task that ended as the pause came in is recorded now
c1=$(nresults P1)
sleep 1
c2=$(nresults P1)
is "$c2" "$c1" "pause RUN: no new result for 1 s ($c1 of 12 in)"
left=$((4000 - ($(now_ms) - tp))) # the pause lasts 4 s, past the 3 s timeout
[ "$left" -le 0 ] || sleep "$((left / 1000)).$(printf %03d $((left % 1000)))"
run m resume P1
is "$rc" 0 "resume RUN: exit 0"
reap 20 "$pa_master"
is "$rc/$(ids_once "$TEST_DIR/pa.out" 12)/$(pyres "$TEST_DIR/pa.out" 'max(r["duration_ms"] for r in L) > 3000')" "0//true" \
	"pause then resume: all 12 tasks ok; one paused past its 3 s timeout was not timed out"

printf 'a\nb\nc\n' >"$TEST_DIR/t3"
spawn "${mr[@]}" --run P2 --agents 3 --tasks "$TEST_DIR/t3" -- sh -c 'sleep 2; echo {}' \
	>"$TEST_DIR/pb.out" 2>"$TEST_DIR/pb.err" </dev/null
pb_master=$SPAWN_PID
wait_for 10 has_proc P2 worker 3
read -r w1 w2 w3 <<<"$(ps_pids P2 worker)"
run m pause "$w1"
is "$rc" 0 "pause AGENT: exit 0"
wait_for 5 all_state T "$w1"
ok $? "pause AGENT: that agent is stopped (state T)"
is "$(pstate "$w2")$(pstate "$w3")" "SS" "pause AGENT: the other agents are not"
run m resume "$w1"
wait_for 5 all_state S "$w1"
is "$rc/$?" "0/0" "resume AGENT: exit 0, the agent runs again (state S)"
reap 20 "$pb_master"
is "$rc/$(ids_once "$TEST_DIR/pb.out" 3)" "0/" "pause AGENT then resume: the run ends, every task ok"
run m pause nosuch
is_error 3 "pause of an unknown run: exit 3, one line"
run m pause "$$"
is_error 3 "pause of a pid that is no agent of a run: exit 3, one line"

# --- 7. --max-concurrency --------------------------------------------------------------

# each task counts the tasks running as it starts (a file per running task)
seq 1 10 >"$TEST_DIR/t10"
conc='d=$1; : >"$d/$$"; n=$(ls "$d" | wc -l); sleep 0.2; rm -f "$d/$$"; echo $n'
mkdir "$TEST_DIR/live1" "$TEST_DIR/live2"
run m run --agents 10 --max-concurrency 2 --tasks "$TEST_DIR/t10" -- sh -c "$conc" sh "$TEST_DIR/live1"
cp "$OUT_FILE" "$TEST_DIR/mc1.out"
is "$rc/$(ids_once "$TEST_DIR/mc1.out" 10)/$(pyres "$TEST_DIR/mc1.out" 'max(int(r["output"]) for r in L)')" "0//2" \
	"--agents 10 --max-concurrency 2: all ok, never more than 2 running at once (and 2 at times)"
run m run --agents 10 --coordinators 3 --max-concurrency 2 --tasks "$TEST_DIR/t10" -- sh -c "$conc" sh "$TEST_DIR/live2"
cp "$OUT_FILE" "$TEST_DIR/mc2.out"
mc2=$(pyres "$TEST_DIR/mc2.out" 'max(int(r["output"]) for r in L)')
is "$rc/$(ids_once "$TEST_DIR/mc2.out" 10)/$((mc2 <= 2))" "0//1" \
	"--coordinators 3 --max-concurrency 2: never more than 2 running at once (saw $mc2)"

# --- 8. --rate -------------------------------------------------------------------------

span='(lambda s: "%d %d" % (len(s) - 1, s[-1] - s[0]))(sorted(r["start_ms"] for r in L))'
run m run --rate 5 --agents 10 --tasks "$TEST_DIR/t10" -- true
read -r gaps rspan <<<"$(pyres "$OUT_FILE" "$span")"
is "$rc/$gaps/$((rspan >= 1500))" "0/9/1" "--rate 5: 10 starts, the 9 gaps between them span >= 1.5 s ($rspan ms)"
run m run --agents 10 --tasks "$TEST_DIR/t10" -- true
read -r gaps fspan <<<"$(pyres "$OUT_FILE" "$span")"
is "$rc/$gaps/$((fspan * 4 < rspan))" "0/9/1" "without --rate the same starts are much closer ($fspan ms)"

# --- 9. resource limits ----------------------------------------------------------------

echo x >"$TEST_DIR/t1"
run m run --mem 64M --tasks "$TEST_DIR/t1" -- "$py" -c 'b = bytearray(200 << 20); print(len(b))'
like "$rc/$(jget "$out" status)/$(jget "$out" stderr)" "^1/failed/.*MemoryError" "--mem 64M: allocating 200 MB fails"
run m run --mem 64M --tasks "$TEST_DIR/t1" -- "$py" -c 'print("small")'
is "$rc/$(jget "$out" output)" "0/small" "--mem 64M: the same interpreter runs when it allocates little"
run m run --mem 1G --tasks "$TEST_DIR/t1" -- "$py" -c 'b = bytearray(200 << 20); print(len(b))'
is "$rc/$(jget "$out" output)" "0/209715200" "--mem 1G: allocating 200 MB succeeds"
run m run --nofile 16 --tasks "$TEST_DIR/t1" -- sh -c 'ulimit -n'
is "$rc/$(jget "$out" output)" "0/16" "--nofile 16: the agent's limit is 16"
t0=$(now_ms)
run m run --cpu-time 1s --timeout 10s --tasks "$TEST_DIR/t1" -- sh -c 'while :; do :; done'
t1=$(now_ms)
like "$rc/$(jget "$out" status)/$(jget "$out" signal)/$(((t1 - t0) < 6000))" "^1/failed/(24|9)/1$" \
	"--cpu-time 1s: a busy loop is killed (SIGXCPU or SIGKILL) well before the 10 s timeout ($((t1 - t0)) ms)"

# --- 10. the progress bar --------------------------------------------------------------

bar='PG[0-9] \[[#.]{30}\] [0-9]+/12 +[0-9]+% +[0-9]+/s'
if command -v script >/dev/null; then
	q()
	{
		printf '%q ' "$@"
	}
	run script -qec "$(q "${mr[@]}" --run PG1 --agents 4 --tasks "$TEST_DIR/t12") -- sh -c 'sleep 0.2' >$(q "$TEST_DIR/pg1.out")" /dev/null
	like "$rc/$out" "^0/.*$bar" "progress under a terminal: a live line with the run, a bar of # and ., N/M and /s"
	is "$(ids_once "$TEST_DIR/pg1.out" 12)" "" "progress under a terminal: the results are complete"
	run script -qec "$(q "${mr[@]}" --run PG2 --no-progress --agents 4 --tasks "$TEST_DIR/t12") -- sh -c 'sleep 0.2' >/dev/null" /dev/null
	unlike "$rc/$out" "$bar" "--no-progress under a terminal: no progress line"
	# results on the same terminal: none may be glued to a progress line
	run script -qec "$(q "${mr[@]}" --run PG4 --agents 4 --tasks "$TEST_DIR/t12") -- sh -c 'sleep 0.2'" /dev/null
	printf '%s' "$out" >"$TEST_DIR/pg4.tty"
	glued=$(python3 - "$TEST_DIR/pg4.tty" <<'PY'
import re, sys
t = open(sys.argv[1], encoding="utf-8", errors="replace").read()
n = 0
for line in t.split("\n"):
    s = re.sub(r"\x1b\[K", "", line).replace("\r", "")
    if '{"id"' in s and not s.startswith('{"id"'):
        n += 1
print(n)
PY
	)
	is "$glued" 0 "progress with stdout on the same terminal: no result line shares a line with the bar"
else
	skip "util-linux script is not installed" 4
fi
run m run --run PG3 --agents 4 --tasks "$TEST_DIR/t12" -- sh -c 'sleep 0.2'
is "$rc/$(wc -l <"$ERR_FILE")" "0/1" "stderr not a terminal: only the summary on stderr"
unlike "$err" "$bar" "stderr not a terminal: no progress line"

# --- 11. bad input ---------------------------------------------------------------------

run m run --mode x -- true
is_error 2 "--mode x: exit 2"
run m run --standby
is_error 2 "--standby without --run: exit 2"
run m run --resume R1 -- true
is_error 2 "--resume with a command: exit 2"
run m run --resume R1 --agents 3
is_error 2 "--resume with a setting: exit 2"
run m run --rate 0 -- true
is_error 2 "--rate 0: exit 2"
run m run --mem 12 -- true
is_error 2 "--mem 12 (less than 1M): exit 2"
run m run --heartbeat 0 -- true
is_error 2 "--heartbeat 0: exit 2"
run m run --standby --resume R1
is_error 2 "--standby --resume: exit 2"
run m run --cpu-time 0.5s -- true
is_error 2 "--cpu-time 0.5s: exit 2"
run m run --nofile 2 -- true
is_error 2 "--nofile 2: exit 2"

# the standby for a run that never existed (started at the beginning)
reap 20 "$sb_nosuch"
cp "$TEST_DIR/sb-nosuch.err" "$ERR_FILE"
err=$(<"$ERR_FILE")
is_error 3 "standby for an unknown run: exit 3, one line"
like "$err/$(wc -c <"$TEST_DIR/sb-nosuch.out")" "no such run/0" "standby for an unknown run: 'no such run', nothing printed"
run m ps --json
is "$out" "[]" "no process of any run left at the end"
reports=$(grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$TEST_DIR"/*.err 2>/dev/null)
is "$reports" "" "no sanitizer report on the stderr of the runs started in the background"
done_testing
