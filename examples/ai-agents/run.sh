#!/usr/bin/env bash
# examples/ai-agents/run.sh CLI [TASKS] - runs the prompts of TASKS (default: the
# tasks.jsonl beside this script) with one AI command-line agent per task: CLI is
# claude, codex, gemini or aider (the wrapper CLI.sh). Prints the muster command line
# first (on stderr), then muster's result lines (stdout) and its summary (stderr). The
# "--" before {} keeps a prompt such as "--dry-run" from being read as an option.
#
#   examples/ai-agents/run.sh claude
#   MUSTER_EXAMPLE_DRY_RUN=1 examples/ai-agents/run.sh codex   # print, run nothing
#
# Environment: MUSTER   the muster binary (default: build/muster of this tree, else
#                       `muster` on PATH)
#              AGENTS   sessions at once (default 2)
#              RATE     --rate: session starts per second over the run, e.g. 1, or
#                       0.2 for one every 5 s (default: none); with AGENTS, what keeps
#                       a paid API under its rate limits, see README.md
#              TIMEOUT  a task's default time limit (default 10m; a task's "timeout"
#                       wins)
#              RETRIES  attempts after a failed one (default 2; backoff 100 ms,
#                       doubling, at most 10 s)
#              HEARTBEAT  --heartbeat: kill a session silent (no output) that long
#                       (default: none; only for a CLI that writes as it works)
#              MAX_CONCURRENCY  --max-concurrency (default: none, i.e. AGENTS)
#              RUN_NAME  --run: the run's name (default: muster picks one), for
#                       `muster stop|pause|resume RUN` and `muster run --resume RUN`
#              MUSTER_BUS  the bus (default: a temporary one, removed at the end; set
#                       it to keep the run, for `muster results RUN` and to resume it)
#              and the variables of the wrapper (see CLI.sh) and common.sh
# Exit status: muster's (0 every task succeeded, 1 some did not or the run was stopped,
# 5 the run name RUN_NAME is taken), 64 bad usage, 127 no muster binary or no CLI binary.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
. "$here/../lib.sh"
case ${1:-} in
claude | codex | gemini | aider) cli=$1 ;;
*)
	echo "usage: run.sh claude|codex|gemini|aider [TASKS]" >&2
	exit 64
	;;
esac
tasks=${2:-$here/tasks.jsonl}

muster=$(find_muster)

# a missing CLI would fail every task, each after its retries: say so once, up front
bin_var=${cli^^}_BIN
bin=${!bin_var:-$cli}
if [ "${MUSTER_EXAMPLE_DRY_RUN:-0}" = 0 ] && ! command -v "$bin" >/dev/null 2>&1; then
	echo "run.sh: $bin not found: install it, or set $bin_var (or try MUSTER_EXAMPLE_DRY_RUN=1)" >&2
	exit 127
fi

bus=()
if [ -z "${MUSTER_BUS:-}" ]; then
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/muster-ai.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	bus=(--bus "$tmp/bus")
	[ -z "${RUN_NAME:-}" ] || echo "run.sh: note: the bus is temporary, so run $RUN_NAME cannot be" \
		"resumed if this script dies; set MUSTER_BUS to keep it" >&2
fi

# the options left empty are not given (muster's defaults)
opts=(--agents "${AGENTS:-2}")
[ -z "${RATE:-}" ] || opts+=(--rate "$RATE")
[ -z "${MAX_CONCURRENCY:-}" ] || opts+=(--max-concurrency "$MAX_CONCURRENCY")
opts+=(--timeout "${TIMEOUT:-10m}" --retries "${RETRIES:-2}")
[ -z "${HEARTBEAT:-}" ] || opts+=(--heartbeat "$HEARTBEAT")
[ -z "${RUN_NAME:-}" ] || opts+=(--run "$RUN_NAME")
cmd=("$muster" "${bus[@]}" run "${opts[@]}" --tasks "$tasks" -- "$here/$cli.sh" -- {})
echo "+ ${cmd[*]}" >&2
"${cmd[@]}"
