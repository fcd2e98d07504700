#!/usr/bin/env bash
# examples/ai-agents/codex.sh [--dry-run] [PROMPT] - one muster task for the OpenAI
# Codex CLI: `codex exec` (non-interactive), in the task's own work directory, which is
# no git repository (--skip-git-repo-check), sandboxed so that it may write only there
# (--sandbox workspace-write). The final message is the output; CODEX_JSON=1 streams
# the events as JSON lines instead (mind muster's 128 KiB cap on a result's output).
# See README.md for where each flag is documented.
#
# Environment: CODEX_BIN (default codex), CODEX_MODEL (-m; default: the CLI's),
# CODEX_SANDBOX (default workspace-write), CODEX_JSON (1: --json),
# MUSTER_EXAMPLE_DRY_RUN, MUSTER_EXAMPLE_WORKDIR, MUSTER_EXAMPLE_WORKROOT (common.sh).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ai_start codex.sh "$@"

cmd=("${CODEX_BIN:-codex}" exec --sandbox "${CODEX_SANDBOX:-workspace-write}"
	--skip-git-repo-check)
[ "${CODEX_JSON:-0}" = 0 ] || cmd+=(--json)
[ -z "${CODEX_MODEL:-}" ] || cmd+=(-m "$CODEX_MODEL")
cmd+=("$AI_PROMPT")
ai_exec "the OpenAI Codex CLI" CODEX_BIN "${cmd[@]}"
