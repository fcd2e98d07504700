#!/usr/bin/env bash
# examples/ai-agents/aider.sh [--dry-run] [PROMPT [FILE...]] - one muster task for
# aider: --message (one instruction, then exit), in the task's own work directory, on
# the FILEs given after the prompt (relative to that directory), saying yes to every
# confirmation, plain output (no colours, no streaming), no update check. In a work
# directory that is no git checkout, git is off (--no-git); in one that is, aider does
# not commit its edits (--no-auto-commits), so that they wait for review. See README.md
# for where each flag is documented.
#
# Environment: AIDER_BIN (default aider), AIDER_MODEL (--model; aider itself reads
# this variable too, with the same meaning), MUSTER_EXAMPLE_DRY_RUN,
# MUSTER_EXAMPLE_WORKDIR, MUSTER_EXAMPLE_WORKROOT (common.sh).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ai_start aider.sh "$@"

cmd=("${AIDER_BIN:-aider}" --message "$AI_PROMPT" --yes-always --no-pretty --no-stream
	--no-check-update)
if [ -e "$AI_DIR/.git" ]; then
	cmd+=(--no-auto-commits)
else
	cmd+=(--no-git)
fi
[ -z "${AIDER_MODEL:-}" ] || cmd+=(--model "$AIDER_MODEL")
cmd+=("${AI_ARGS[@]}")
ai_exec aider AIDER_BIN "${cmd[@]}"
