#!/usr/bin/env bash
# examples/ai-agents/gemini.sh [--dry-run] [PROMPT] - one muster task for Gemini CLI:
# headless mode (-p), in the task's own work directory, output as one JSON object (the
# response and token statistics), tool calls approved by --approval-mode (default
# auto_edit: file edits approved, nothing else). See README.md for where each flag is
# documented.
#
# Environment: GEMINI_BIN (default gemini), GEMINI_MODEL (-m; default: the CLI's),
# GEMINI_APPROVAL_MODE (default auto_edit; yolo approves everything),
# MUSTER_EXAMPLE_DRY_RUN, MUSTER_EXAMPLE_WORKDIR, MUSTER_EXAMPLE_WORKROOT (common.sh).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ai_start gemini.sh "$@"

cmd=("${GEMINI_BIN:-gemini}" -p "$AI_PROMPT" --output-format json
	--approval-mode "${GEMINI_APPROVAL_MODE:-auto_edit}")
[ -z "${GEMINI_MODEL:-}" ] || cmd+=(-m "$GEMINI_MODEL")
ai_exec "Gemini CLI" GEMINI_BIN "${cmd[@]}"
