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
#              AGENTS   agents at once (default 2): with paid APIs this is the rate
#                       limit, see README.md
#              TIMEOUT  a task's default time limit (default 10m; a task's "timeout"
#                       wins)
#              RETRIES  attempts after a failed one (default 2; backoff 100 ms,
#                       doubling, at most 10 s)
#              MUSTER_BUS  the bus (default: a temporary one, removed at the end; set
#                       it to keep the run for `muster results RUN`)
#              and the variables of the wrapper (see CLI.sh) and common.sh
# Exit status: muster's (0 every task succeeded, 1 some did not), 64 bad usage, 127 no
# muster binary or no CLI binary.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
case ${1:-} in
claude | codex | gemini | aider) cli=$1 ;;
*)
	echo "usage: run.sh claude|codex|gemini|aider [TASKS]" >&2
	exit 64
	;;
esac
tasks=${2:-$here/tasks.jsonl}

find_muster()
{
	if [ -n "${MUSTER:-}" ]; then
		command -v "$MUSTER" || {
			echo "run.sh: MUSTER=$MUSTER: no such program" >&2
			exit 127
		}
	elif [ -x "$root/build/muster" ]; then
		echo "$root/build/muster"
	elif command -v muster; then
		:
	else
		echo "run.sh: no muster binary: run make in $root, put muster on PATH or set MUSTER" >&2
		exit 127
	fi
}
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
fi

cmd=("$muster" "${bus[@]}" run --agents "${AGENTS:-2}" --timeout "${TIMEOUT:-10m}"
	--retries "${RETRIES:-2}" --tasks "$tasks" -- "$here/$cli.sh" -- {})
echo "+ ${cmd[*]}" >&2
"${cmd[@]}"
