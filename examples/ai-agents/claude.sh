#!/usr/bin/env bash
# examples/ai-agents/claude.sh [--dry-run] [PROMPT] - one muster task for Claude Code:
# print mode (-p, no interactive session), in the task's own work directory, output as
# one JSON object (the answer and session metadata), at most CLAUDE_MAX_TURNS agent
# turns, file edits accepted without asking (--permission-mode acceptEdits) and only
# the tools in CLAUDE_ALLOWED_TOOLS allowed without asking. See README.md for where each
# flag is documented.
#
# Environment: CLAUDE_BIN (default claude), CLAUDE_MODEL (--model; default: the CLI's),
# CLAUDE_MAX_TURNS (default 10), CLAUDE_PERMISSION_MODE (default acceptEdits),
# CLAUDE_ALLOWED_TOOLS (comma-separated, default Read,Edit,Write; empty: none),
# MUSTER_EXAMPLE_DRY_RUN, MUSTER_EXAMPLE_WORKDIR, MUSTER_EXAMPLE_WORKROOT (common.sh).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ai_start claude.sh "$@"

cmd=("${CLAUDE_BIN:-claude}" -p "$AI_PROMPT" --output-format json
	--max-turns "${CLAUDE_MAX_TURNS:-10}"
	--permission-mode "${CLAUDE_PERMISSION_MODE:-acceptEdits}")
[ -z "${CLAUDE_MODEL:-}" ] || cmd+=(--model "$CLAUDE_MODEL")
IFS=, read -ra tools <<<"${CLAUDE_ALLOWED_TOOLS-Read,Edit,Write}"
[ ${#tools[@]} -eq 0 ] || cmd+=(--allowedTools "${tools[@]}")
ai_exec "Claude Code" CLAUDE_BIN "${cmd[@]}"
