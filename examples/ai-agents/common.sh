# shellcheck shell=bash
# examples/ai-agents/common.sh - shared by claude.sh, codex.sh, gemini.sh and aider.sh
# (sourced, not run). A wrapper calls
#
#   ai_start NAME "$@"     reads the options and the prompt, picks the work directory
#   ai_exec HINT VAR CMD...  runs CMD in the work directory (or prints it, in dry-run)
#
# and gets AI_NAME, AI_PROMPT (the task's prompt), AI_ARGS (the arguments after the
# prompt), AI_DIR (the work directory) and AI_DRY_RUN (1 or 0).
#
# The prompt is the first argument (muster's {}), else all of standard input. With
# --dry-run (or MUSTER_EXAMPLE_DRY_RUN=1) the wrapper prints the exact command line it
# would run, "cd DIR && CMD ARGS...", quoted for a POSIX shell, and exits 0 without
# touching anything. The work directory is MUSTER_EXAMPLE_WORKDIR if set, else
# ${MUSTER_EXAMPLE_WORKROOT:-${TMPDIR:-/tmp}/muster-ai-$UID}/$MUSTER_RUN/$MUSTER_TASK_ID
# (one per task, kept after the run, reused by a retry of the same task).

ai_die()
{
	echo "$AI_NAME: $1" >&2
	exit "${2:-64}"
}

# ai_safe S: S with every character outside [A-Za-z0-9._-] replaced by _
ai_safe()
{
	local s=${1//[^A-Za-z0-9._-]/_}
	[ "$s" != . ] && [ "$s" != .. ] || s=_$s
	printf '%s' "$s"
}

ai_start()
{
	AI_NAME=$1
	shift
	AI_DRY_RUN=0
	[ "${MUSTER_EXAMPLE_DRY_RUN:-0}" = 0 ] || AI_DRY_RUN=1
	while [ $# -gt 0 ]; do
		case $1 in
		--dry-run) AI_DRY_RUN=1 ;;
		--help | -h)
			echo "usage: $AI_NAME [--dry-run] [PROMPT [ARGS...]]   (no PROMPT: read it from stdin)"
			exit 0
			;;
		--) shift && break ;;
		*) break ;;
		esac
		shift
	done
	if [ $# -gt 0 ]; then
		AI_PROMPT=$1
		shift
	else
		AI_PROMPT=$(cat)
	fi
	# shellcheck disable=SC2034 # used by the wrappers (aider.sh: the files)
	AI_ARGS=("$@")
	[ -n "${AI_PROMPT//[[:space:]]/}" ] || ai_die "empty prompt"
	# a prompt that starts with "-" would be read as an option by the CLI
	[[ $AI_PROMPT != -* ]] || AI_PROMPT=" $AI_PROMPT"
	if [ -n "${MUSTER_EXAMPLE_WORKDIR:-}" ]; then
		AI_DIR=$MUSTER_EXAMPLE_WORKDIR
	else
		AI_DIR=${MUSTER_EXAMPLE_WORKROOT:-${TMPDIR:-/tmp}/muster-ai-$UID}
		AI_DIR+=/$(ai_safe "${MUSTER_RUN:-manual}")/$(ai_safe "${MUSTER_TASK_ID:-$$}")
	fi
}

# ai_quote ARGS...: the arguments as one line a POSIX shell reads back as the same words
ai_quote()
{
	local a out=""
	for a in "$@"; do
		if [[ $a =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then
			out+=" $a"
		else
			out+=" '${a//\'/\'\\\'\'}'"
		fi
	done
	printf '%s\n' "${out# }"
}

# ai_exec HINT VAR CMD ARGS...: dry-run: prints the command; else checks that CMD exists
# (if not: one line naming HINT, the program to install, and VAR, the variable that
# names another binary; exit 127), makes the work directory, and replaces
# this shell with CMD there, with standard input from /dev/null (the prompt is already
# in the arguments; muster's copy of it on stdin would be read twice). CMD's exit status
# is the task's: 0 ok, anything else a failed attempt that muster retries.
ai_exec()
{
	local hint=$1 var=$2
	shift 2
	if [ "$AI_DRY_RUN" = 1 ]; then
		printf 'cd %s && %s\n' "$(ai_quote "$AI_DIR")" "$(ai_quote "$@")"
		exit 0
	fi
	command -v "$1" >/dev/null 2>&1 || ai_die "$1 not found: install $hint, or set $var" 127
	mkdir -p "$AI_DIR" || ai_die "cannot make the work directory $AI_DIR" 73
	cd "$AI_DIR" || ai_die "cannot enter the work directory $AI_DIR" 73
	exec "$@" </dev/null
}
