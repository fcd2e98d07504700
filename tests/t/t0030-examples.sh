#!/usr/bin/env bash
# t0030 - the examples run and say what they claim: examples/fleet (50 tasks: every id
# once, the real outputs, retries, deps), examples/build-fanout (compile tasks fanned
# out, a link task after all of them, the linked program's output), examples/pool and
# examples/bus (long-lived agents: every id once, the right output for each payload,
# text or payload_b64, tabs, quotes, NUL bytes; pool agents serve several tasks each,
# heartbeats keep slow ones alive), and the AI agent wrappers of examples/ai-agents (the
# exact command line in dry-run, exit 127 and one line when the CLI is missing, the
# command run in the task's work directory, a named run stopped and resumed).
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
plan 53

ex=$_t_root/examples
export MUSTER=$MUSTER_BIN TMPDIR=$TEST_DIR/tmp MUSTER_EXAMPLE_WORKROOT=$TEST_DIR/ai
mkdir -p "$TMPDIR"
unset MUSTER_EXAMPLE_DRY_RUN MUSTER_EXAMPLE_WORKDIR MUSTER_RUN MUSTER_TASK_ID \
	CLAUDE_BIN CLAUDE_MODEL CLAUDE_MAX_TURNS CLAUDE_PERMISSION_MODE CLAUDE_ALLOWED_TOOLS \
	CODEX_BIN CODEX_MODEL CODEX_SANDBOX CODEX_JSON GEMINI_BIN GEMINI_MODEL \
	GEMINI_APPROVAL_MODE AIDER_BIN AIDER_MODEL AGENTS TIMEOUT RETRIES CC CFLAGS \
	RATE HEARTBEAT MAX_CONCURRENCY RUN_NAME AGENT_DELAY POOL_RESULTS BUS_RESULTS
cd "$TEST_DIR" || bail "cannot enter $TEST_DIR"

# --- examples/fleet -------------------------------------------------------------------
run env FLEET_RESULTS="$TEST_DIR/fleet.jsonl" "$ex/fleet/run.sh"
is "$rc" 0 "fleet: run.sh, started from another directory, exits 0"
is "$out" "fleet: 50 tasks, 50 ok, 0 failed, 0 timeout, 0 skipped; 5 needed a retry; every id reported once; report: 10 files, 550 lines, 4950 words, digest $(
	for i in 1 2 3 4 5 6 7 8 9 10; do
		f=$(printf 'data-%02d.txt' "$i")
		for ((l = 1; l <= i * 10; l++)); do
			printf 'line %d of file %d: alpha beta gamma delta\n' "$l" "$i"
		done >"$TEST_DIR/$f"
		(cd "$TEST_DIR" && sha256sum "$f")
	done | sha256sum | cut -c1-16
)" "fleet: the one-line summary counts every id once, the retries, and the report"
like "$err" "50 tasks: 50 ok, 0 failed" "fleet: muster's own summary agrees"
why=$(python3 - "$ex/fleet/tasks.jsonl" "$TEST_DIR/fleet.jsonl" "$TEST_DIR" <<'PY'
import hashlib, json, sys
tasks = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
res = [json.loads(l) for l in open(sys.argv[2])]
ids = [r["id"] for r in res]
bad = []
if sorted(ids) != sorted(t["id"] for t in tasks):
    bad.append("ids: %s" % sorted(set(ids) ^ {t["id"] for t in tasks}))
if len(ids) != len(set(ids)):
    bad.append("duplicates")
rs = {r["id"]: r for r in res}
for t in tasks:
    r = rs.get(t["id"])
    if not r:
        continue
    verb, _, arg = t["payload"].partition(" ")
    want_attempts = int(arg) if verb == "flaky" else 1
    if r["status"] != "ok" or r["attempts"] != want_attempts:
        bad.append("%s: %s after %s attempts" % (t["id"], r["status"], r["attempts"]))
    n = int(arg) if arg.isdigit() else 0
    name = "data-%02d.txt" % n
    want = None
    if verb == "gen":
        want = "wrote %s: %d lines\n" % (name, 10 * n)
    elif verb == "words":
        want = "%s: %d lines, %d words\n" % (name, 10 * n, 90 * n)
    elif verb == "checksum":
        data = open("%s/%s" % (sys.argv[3], name), "rb").read()
        want = "sha256 %s %s\n" % (hashlib.sha256(data).hexdigest(), name)
    elif verb == "primes":
        want = "primes below %d: %d\n" % (n, {10000: 1229, 20000: 2262}[n])
    elif verb == "flaky":
        want = "flaky: succeeded at attempt %d\n" % n
    if want is not None and r["output"] != want:
        bad.append("%s: output %r, want %r" % (t["id"], r["output"], want))
    for d in t.get("deps", []):
        dr = rs.get(d)
        if dr and r["start_ms"] < dr["start_ms"] + dr["duration_ms"] - 1:
            bad.append("%s started before its dependency %s ended" % (t["id"], d))
print("; ".join(bad[:8]))
PY
)
is "$why" "" "fleet: every task once and ok; real outputs (sizes, word counts, SHA-256, primes); flaky tasks ok at their retry; deps respected"
run env MUSTER="$TEST_DIR/no-such-muster" "$ex/fleet/run.sh"
is "$rc" 127 "fleet: a MUSTER that does not exist: exit 127"

# --- examples/build-fanout --------------------------------------------------------------
if command -v cc >/dev/null 2>&1; then
	run env FANOUT_RESULTS="$TEST_DIR/fanout.jsonl" AGENTS=3 "$ex/build-fanout/run.sh" 6
	is "$rc" 0 "build-fanout: run.sh 6 exits 0"
	like "$out" "build-fanout: 7 C files \(main.c and 6 units\), 8 tasks" "build-fanout: says what it builds"
	like "$out" $'sequential loop: +7 x cc -c, then link: [0-9]+\\.[0-9]{3} s\nmuster run --agents 3: +7 x cc -c, then link: [0-9]+\\.[0-9]{3} s\nspeed-up: [0-9]+\\.[0-9]{2}x' \
		"build-fanout: prints both times and the speed-up"
	like "$out" $'\\./fanout:\n  fanout: 6 units linked, sum 21\n  work: [0-9a-f]{8}$' \
		"build-fanout: the linked program runs and prints the sum of its 6 units"
	why=$(python3 - "$TEST_DIR/fanout.jsonl" <<'PY'
import json, sys
res = [json.loads(l) for l in open(sys.argv[1])]
ids = sorted(r["id"] for r in res)
want = sorted(["cc-main", "link"] + ["cc-unit_%d" % i for i in range(1, 7)])
bad = []
if ids != want:
    bad.append("ids %s" % ids)
rs = {r["id"]: r for r in res}
for r in res:
    if r["status"] != "ok":
        bad.append("%s %s" % (r["id"], r["status"]))
link = rs.get("link")
if link:
    if link["output"] != "linked fanout from 7 objects\n":
        bad.append("link said %r" % link["output"])
    for r in res:
        if r["id"] != "link" and link["start_ms"] < r["start_ms"] + r["duration_ms"] - 1:
            bad.append("link started before %s ended" % r["id"])
print("; ".join(bad))
PY
)
	is "$why" "" "build-fanout: one ok result per compile task and the link; the link ran after every compile"
	run "$ex/build-fanout/run.sh" 0
	is "$rc" 64 "build-fanout: N = 0 is refused"
else
	skip "no C compiler" 6
fi

# --- examples/pool and examples/bus --------------------------------------------------------
# a task list of both kinds of line: plain (id = line number) and JSON; payloads with a
# tab and quotes (and an id with a quote), control characters and a NUL byte, newlines
# and a backslash, non-ASCII text, a JSON value, and two lines that are not UTF-8
# (payload_b64 on the way to the agent)
lt=$TEST_DIR/long-lived.txt
{
	printf '%s\n' 'plain line one' 'Second plain line, 2 of them'
	printf '%s\n' '{"id":"tab\"quote","payload":"col 1\tcol \"2\"\t\\ end"}'
	printf '%s\n' '{"id":"control","payload":"nul \u0000, esc \u001b[0m, bell \u0007, cr \r, del \u007f."}'
	printf '%s\n' '{"id":"lines","payload":"one\ntwo\nthree\n"}'
	printf '%s\n' '{"id":"utf-8","payload":"Größe: ½ café, 東京"}'
	printf '%s\n' '{"id":"json","payload":{"k":[1,2],"s":"x y"}}'
	printf 'latin-1 caf\xe9\n'
	printf '\xff\xfe\xfd binary, \x01 and \x7f\n'
	printf '%s\n' 'nine' 'ten: the last but two' '{"id":"last","payload":"Z"}'
} >"$lt"
# check_long_lived MODE RESULTS AGENTS: every task once, ok at its first attempt, the
# right output for its payload (size, newlines, SHA-256, upper-cased text or base64);
# pool: each result's "agent" is the pid in its output, at most AGENTS of them, each
# serving tasks 1, 2, ... k. Prints what is wrong, or nothing.
check_long_lived()
{
	python3 - "$1" "$lt" "$2" "$3" <<'PY'
import base64, hashlib, json, sys
mode, tasks_file, results_file, agents = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
want = {}
for n, raw in enumerate(open(tasks_file, "rb").read().split(b"\n")[:-1], 1):
    try:
        t = json.loads(raw.decode("utf-8"))
    except ValueError:
        t = None
    if isinstance(t, dict):
        p = t["payload"]
        p = p if isinstance(p, str) else json.dumps(p, separators=(",", ":"))
        want[t.get("id", str(n))] = p.encode("utf-8")
    else:
        want[str(n)] = raw
res = [json.loads(l) for l in open(results_file)]
bad = []
ids = [r["id"] for r in res]
if sorted(ids) != sorted(want):
    bad.append("ids %s, want %s" % (sorted(ids), sorted(want)))
if len(set(ids)) != len(ids):
    bad.append("an id reported twice")
served = {}
for r in res:
    p = want.get(r["id"])
    if p is None:
        continue
    if r["status"] != "ok" or r["attempts"] != 1:
        bad.append("%s: %s after %s attempts: %s" % (r["id"], r["status"], r["attempts"], r.get("reason")))
        continue
    o = json.loads(r["output"])
    try:
        p.decode("utf-8")
        text = True
    except UnicodeDecodeError:
        text = False
    exp = {"bytes": len(p), "lines": p.count(b"\n"), "sha256": hashlib.sha256(p).hexdigest()}
    # a pool request has NUL as \u0000 text; a bus task message may carry it in base64
    if "upper" in o and text:
        exp["upper"] = p.upper().decode("utf-8")
    elif "upper_b64" in o and (not text or (mode == "bus" and b"\0" in p)):
        exp["upper_b64"] = base64.b64encode(p.upper()).decode()
    else:
        bad.append("%s: %s, want %s" % (r["id"], sorted(o), "upper" if text else "upper_b64"))
    got = {k: o.get(k) for k in exp}
    if got != exp:
        bad.append("%s: output %r, want %r" % (r["id"], got, exp))
    if mode == "pool" and o.get("agent") != r.get("agent"):
        bad.append("%s: output agent %s, result agent %s" % (r["id"], o.get("agent"), r.get("agent")))
    served.setdefault(o.get("agent"), []).append(o.get("served"))
if not 1 <= len(served) <= agents:
    bad.append("%d agent pids for %d agents" % (len(served), agents))
for pid, k in served.items():
    if sorted(k) != list(range(1, len(k) + 1)):
        bad.append("agent %s served %s" % (pid, sorted(k)))
print("; ".join(bad[:6]))
PY
}

run env POOL_RESULTS="$TEST_DIR/pool.jsonl" AGENTS=3 "$ex/pool/run.sh" "$lt"
is "$rc" 0 "pool: run.sh TASKS exits 0"
like "$out" $'^pool: 12 tasks, 12 ok, 0 failed, 0 timeout; every id reported once; 2 came as payload_b64\npool: [1-3] agent processes served them: [0-9]+: [0-9]+ tasks' \
	"pool: the summary: every id once, all ok, 2 payloads in base64, the tasks per agent process"
like "$err" "12 tasks: 12 ok, 0 failed" "pool: muster's own summary agrees"
is "$(check_long_lived pool "$TEST_DIR/pool.jsonl" 3)" "" \
	"pool: every task once, ok; the right output per payload (tab and quotes, NUL, control characters, UTF-8, JSON value, 2 in payload_b64); at most 3 agent pids, each serving tasks 1..k"
npids=$(sed -n 's/.*,"agent":\([0-9]*\),.*/\1/p' "$TEST_DIR/pool.jsonl" | sort -u | wc -l)
cmp_ok "$npids" -le 3 "pool: 12 tasks served by at most 3 agent processes ($npids)"
run "$ex/pool/run.sh"
like "$rc/$out" $'^0/pool: 12 tasks, 12 ok, 0 failed, 0 timeout; every id reported once; 2 came as payload_b64\npool: [1-3] agent processes served them' \
	"pool: run.sh with its own task list: all ok, 2 in payload_b64"
printf 'slow one\nslow two\n' >"$TEST_DIR/slow.txt"
run env AGENT_DELAY=2 HEARTBEAT=1800ms AGENTS=2 POOL_RESULTS="$TEST_DIR/slow.jsonl" "$ex/pool/run.sh" "$TEST_DIR/slow.txt"
is "$rc/$(grep -c '"status":"ok"' "$TEST_DIR/slow.jsonl")" "0/2" \
	"pool: tasks of 2 s under --heartbeat 1800ms: the agent's heartbeats keep it alive"
req='{"id":"a\"b","n":0,"attempt":1,"run":"r","payload":"x\u0000\ty"}'
run_in "$req"$'\n' "$ex/pool/agent.sh"
like "$rc/$out" '^0/\{"id":"a\\"b","status":"ok","output":\{"bytes":4,"lines":0,"sha256":"[0-9a-f]{64}","upper":"X\\u0000\\tY","agent":[0-9]+,"served":1\}\}$' \
	"pool/agent.sh by hand: the id back as it came, NUL and tab escaped in the reply; exit 0 at the end of input"

run env BUS_RESULTS="$TEST_DIR/bus.jsonl" AGENTS=3 "$ex/bus/run.sh" "$lt"
is "$rc" 0 "bus: run.sh TASKS exits 0"
like "$out" $'^bus: 12 tasks, 12 ok, 0 failed, 0 timeout; every id reported once; [23] came as payload_b64\nbus: [1-3] agent processes served them: [0-9]+: [0-9]+ tasks' \
	"bus: the summary: every id once, all ok, the payloads in base64, the tasks per agent process"
is "$(check_long_lived bus "$TEST_DIR/bus.jsonl" 3)" "" \
	"bus: every task once, ok; the right output per payload (tab and quotes, NUL, control characters, UTF-8, JSON value, payload_b64); at most 3 agent pids, each serving tasks 1..k"
run "$ex/bus/run.sh"
like "$rc/$out" $'^0/bus: 12 tasks, 12 ok, 0 failed, 0 timeout; every id reported once; [23] came as payload_b64' \
	"bus: run.sh with its own task list: all ok"
run env MUSTER="$TEST_DIR/no-such-muster" "$ex/bus/run.sh"
is "$rc" 127 "bus: a MUSTER that does not exist: exit 127"

# --- examples/ai-agents -----------------------------------------------------------------
w=$TEST_DIR/work
declare -A expect=(
	[claude]="claude -p 'fix the bug in it'\\''s parser' --output-format json --max-turns 10 --permission-mode acceptEdits --allowedTools Read Edit Write"
	[codex]="codex exec --sandbox workspace-write --skip-git-repo-check 'fix the bug in it'\\''s parser'"
	[gemini]="gemini -p 'fix the bug in it'\\''s parser' --output-format json --approval-mode auto_edit"
	[aider]="aider --message 'fix the bug in it'\\''s parser' --yes-always --no-pretty --no-stream --no-check-update --no-git"
)
prompt="fix the bug in it's parser"
for cli in claude codex gemini aider; do
	run env MUSTER_EXAMPLE_WORKDIR="$w" "$ex/ai-agents/$cli.sh" --dry-run "$prompt"
	is "$rc/$out" "0/cd $w && ${expect[$cli]}" "$cli.sh --dry-run PROMPT prints the exact command line"
done
run_in "$prompt" env MUSTER_EXAMPLE_DRY_RUN=1 MUSTER_RUN=r1 MUSTER_TASK_ID=t/2 "$ex/ai-agents/codex.sh"
is "$rc/$out" "0/cd $TEST_DIR/ai/r1/t_2 && ${expect[codex]}" \
	"MUSTER_EXAMPLE_DRY_RUN=1, the prompt on stdin, the work directory per run and task"
ok "$([ ! -e "$TEST_DIR/ai" ] && echo 0)" "dry-run creates nothing"
run env MUSTER_EXAMPLE_WORKDIR="$w" CLAUDE_MODEL=sonnet CLAUDE_MAX_TURNS=3 CLAUDE_ALLOWED_TOOLS='Read,Bash(git diff:*)' \
	"$ex/ai-agents/claude.sh" --dry-run -- "-x"
is "$out" "cd $w && claude -p ' -x' --output-format json --max-turns 3 --permission-mode acceptEdits --model sonnet --allowedTools Read 'Bash(git diff:*)'" \
	"claude.sh: model, turns and tools from the environment; a prompt starting with - stays a prompt"
run env MUSTER_EXAMPLE_WORKDIR="$w" CODEX_MODEL=gpt-5-codex CODEX_JSON=1 "$ex/ai-agents/codex.sh" --dry-run hi
is "$out" "cd $w && codex exec --sandbox workspace-write --skip-git-repo-check --json -m gpt-5-codex hi" \
	"codex.sh: CODEX_JSON=1 and CODEX_MODEL"
run env MUSTER_EXAMPLE_WORKDIR="$w" GEMINI_MODEL=flash GEMINI_APPROVAL_MODE=yolo "$ex/ai-agents/gemini.sh" --dry-run hi
is "$out" "cd $w && gemini -p hi --output-format json --approval-mode yolo -m flash" \
	"gemini.sh: GEMINI_MODEL and GEMINI_APPROVAL_MODE"
mkdir -p "$TEST_DIR/repo/.git"
run env MUSTER_EXAMPLE_WORKDIR="$TEST_DIR/repo" AIDER_MODEL=sonnet "$ex/ai-agents/aider.sh" --dry-run hi a.py 'b c.py'
is "$out" "cd $TEST_DIR/repo && aider --message hi --yes-always --no-pretty --no-stream --no-check-update --no-auto-commits --model sonnet a.py 'b c.py'" \
	"aider.sh: in a git checkout --no-auto-commits instead of --no-git; the model; files after the prompt"
run env MUSTER_EXAMPLE_WORKDIR="$w" "$ex/ai-agents/gemini.sh" --dry-run '   '
is "$rc" 64 "an empty prompt: exit 64"

# a missing CLI: exit 127, one line, nothing made
for cli in claude codex gemini aider; do
	var=${cli^^}_BIN
	run env "$var=no-such-$cli" MUSTER_EXAMPLE_WORKDIR="$TEST_DIR/never" "$ex/ai-agents/$cli.sh" "$prompt"
	is "$rc/$(wc -l <"$ERR_FILE")/$([ -e "$TEST_DIR/never" ] && echo made)" "127/1/" \
		"$cli.sh without its binary: exit 127, one line on stderr, no work directory"
	like "$err" "^$cli\\.sh: no-such-$cli not found: install .*, or set $var\$" "$cli.sh: the line names the binary and $var"
done

# the real path, with a stand-in CLI: run in the work directory, the arguments as built,
# nothing on stdin, the CLI's exit status passed on
mkdir -p "$TEST_DIR/bin"
cat >"$TEST_DIR/bin/fake-cli" <<'SH'
#!/bin/sh
{ pwd; printf '[%s]' "$@"; echo; printf 'stdin:'; cat; echo; } >"$FAKE_LOG"
exit "${FAKE_RC:-0}"
SH
chmod +x "$TEST_DIR/bin/fake-cli"
run_in "not for the CLI" env CLAUDE_BIN="$TEST_DIR/bin/fake-cli" FAKE_LOG="$TEST_DIR/fake.log" FAKE_RC=3 \
	MUSTER_EXAMPLE_WORKDIR="$TEST_DIR/w1" "$ex/ai-agents/claude.sh" "say hi"
is "$rc/$(cat "$TEST_DIR/fake.log")" "3/$TEST_DIR/w1
[-p][say hi][--output-format][json][--max-turns][10][--permission-mode][acceptEdits][--allowedTools][Read][Edit][Write]
stdin:" "claude.sh runs the CLI in the work directory it made, with the built arguments, stdin empty; its exit status is the task's"

# run.sh: muster runs every prompt through the wrapper (dry-run: nothing is called)
run env MUSTER_EXAMPLE_DRY_RUN=1 AGENTS=3 "$ex/ai-agents/run.sh" claude
is "$rc" 0 "ai-agents/run.sh claude in dry-run: exit 0"
why=$(python3 - "$ex/ai-agents/tasks.jsonl" "$OUT_FILE" "$TEST_DIR/ai" <<'PY'
import json, re, sys
tasks = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
res = {json.loads(l)["id"]: json.loads(l) for l in open(sys.argv[2])}
bad = [t["id"] for t in tasks if t["id"] not in res or res[t["id"]]["status"] != "ok" or
       not re.match(r"cd %s/r[0-9-]+/%s && claude -p '" % (re.escape(sys.argv[3]), re.escape(t["id"])),
                    res[t["id"]]["output"])]
print(" ".join(bad) if bad or len(res) != len(tasks) else "")
PY
)
is "$why" "" "ai-agents/run.sh: one ok result per prompt, each the claude command in its own work directory"
like "$err" "^\\+ .*muster --bus .* run --agents 3 --timeout 10m --retries 2 --tasks .*/tasks.jsonl -- .*/claude.sh -- \\{\\}" \
	"ai-agents/run.sh prints the muster command line"

# a named run on a kept bus, stopped after its first result and carried on with
# muster run --resume: every prompt once, in the run's work directories
cat >"$TEST_DIR/bin/slow-cli" <<'SH'
#!/bin/sh
sleep 0.4
echo "slow-cli: $MUSTER_TASK_ID in $(pwd)"
SH
chmod +x "$TEST_DIR/bin/slow-cli"
aibus=$TEST_DIR/aibus
results_ge()
{
	[ "$("$MUSTER_BIN" --bus "$aibus" results ai-long 2>/dev/null | grep -c .)" -ge "$1" ]
}
spawn env MUSTER_BUS="$aibus" RUN_NAME=ai-long AGENTS=2 RATE=20 HEARTBEAT=5s MAX_CONCURRENCY=2 \
	CLAUDE_BIN="$TEST_DIR/bin/slow-cli" "$ex/ai-agents/run.sh" claude \
	>"$TEST_DIR/long1.out" 2>"$TEST_DIR/long1.err"
long=$SPAWN_PID
wait_for 20 results_ge 1
run "$MUSTER_BIN" --bus "$aibus" stop ai-long
wait "$long"
lrc=$?
n1=$(grep -c . "$TEST_DIR/long1.out")
is "$rc/$lrc/$((n1 >= 1 && n1 < 6))" "0/1/1" "ai-agents: muster stop RUN_NAME ends run.sh (exit 1) with some results, not all ($n1)"
like "$(cat "$TEST_DIR/long1.err")" "^\\+ .*muster run --agents 2 --rate 20 --max-concurrency 2 --timeout 10m --retries 2 --heartbeat 5s --run ai-long --tasks .*/tasks.jsonl -- .*/claude.sh -- \\{\\}.*carry it on with: muster run --resume ai-long" \
	"ai-agents/run.sh: RATE, MAX_CONCURRENCY, HEARTBEAT and RUN_NAME on the command line; muster says how to carry the run on"
run env CLAUDE_BIN="$TEST_DIR/bin/slow-cli" "$MUSTER_BIN" --bus "$aibus" run --resume ai-long
why=$(python3 - "$ex/ai-agents/tasks.jsonl" "$OUT_FILE" "$TEST_DIR/ai/ai-long" <<'PY'
import json, sys
tasks = [json.loads(l)["id"] for l in open(sys.argv[1]) if l.strip()]
res = [json.loads(l) for l in open(sys.argv[2])]
bad = []
if sorted(r["id"] for r in res) != sorted(tasks):
    bad.append("ids %s" % sorted(r["id"] for r in res))
for r in res:
    want = "slow-cli: %s in %s/%s\n" % (r["id"], sys.argv[3], r["id"])
    if r["status"] != "ok" or r["output"] != want:
        bad.append("%s: %s %r" % (r["id"], r["status"], r["output"]))
print("; ".join(bad))
PY
)
is "$rc/$why" "0/" "ai-agents: muster run --resume carries the stopped run on: every prompt once, ok, in the run's work directories"

run env CODEX_BIN=no-such-codex "$ex/ai-agents/run.sh" codex
is "$rc" 127 "ai-agents/run.sh with a missing CLI: exit 127 before anything runs"
run "$ex/ai-agents/run.sh" nonesuch
is "$rc" 64 "ai-agents/run.sh with an unknown CLI: exit 64"

# --- every example script passes shellcheck ----------------------------------------------
if command -v shellcheck >/dev/null 2>&1; then
	run shellcheck -x "$ex"/*/*.sh "$ex"/*.sh
	is "$rc" 0 "shellcheck -x examples/*/*.sh examples/*.sh" "$out"
else
	skip "no shellcheck"
fi
done_testing
