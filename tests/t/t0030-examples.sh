#!/usr/bin/env bash
# t0030 - the examples run and say what they claim: examples/fleet (50 tasks: every id
# once, the real outputs, retries, deps), examples/build-fanout (compile tasks fanned
# out, a link task after all of them, the linked program's output), and the AI agent
# wrappers of examples/ai-agents (the exact command line in dry-run, exit 127 and one
# line when the CLI is missing, the command run in the task's work directory).
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
plan 37

ex=$_t_root/examples
export MUSTER=$MUSTER_BIN TMPDIR=$TEST_DIR/tmp MUSTER_EXAMPLE_WORKROOT=$TEST_DIR/ai
mkdir -p "$TMPDIR"
unset MUSTER_EXAMPLE_DRY_RUN MUSTER_EXAMPLE_WORKDIR MUSTER_RUN MUSTER_TASK_ID \
	CLAUDE_BIN CLAUDE_MODEL CLAUDE_MAX_TURNS CLAUDE_PERMISSION_MODE CLAUDE_ALLOWED_TOOLS \
	CODEX_BIN CODEX_MODEL CODEX_SANDBOX CODEX_JSON GEMINI_BIN GEMINI_MODEL \
	GEMINI_APPROVAL_MODE AIDER_BIN AIDER_MODEL AGENTS TIMEOUT RETRIES CC CFLAGS
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
run env CODEX_BIN=no-such-codex "$ex/ai-agents/run.sh" codex
is "$rc" 127 "ai-agents/run.sh with a missing CLI: exit 127 before anything runs"
run "$ex/ai-agents/run.sh" nonesuch
is "$rc" 64 "ai-agents/run.sh with an unknown CLI: exit 64"

# --- every example script passes shellcheck ----------------------------------------------
if command -v shellcheck >/dev/null 2>&1; then
	run shellcheck -x "$ex"/*/*.sh
	is "$rc" 0 "shellcheck -x examples/*/*.sh" "$out"
else
	skip "no shellcheck"
fi
done_testing
