# shellcheck shell=bash
# examples/lib.sh - shared by the run.sh scripts of examples/* (sourced, not run; the
# agents share examples/agent-lib.sh). Sourcing it sets root, the top of this tree, and
# defines:
#
#   find_muster          prints the muster binary: $MUSTER, else build/muster of this
#                        tree, else muster on PATH; none: one line, exit 127
#   make_tmp NAME        makes $tmp, a private directory muster-NAME.XXXXXX in $TMPDIR
#                        if set, else on /dev/shm (tmpfs) if writable, else in /tmp,
#                        and removes it when the script exits
#   write_sample_tasks FILE   the built-in task list of pool/run.sh and bus/run.sh
#   check_results NAME RC RESULTS [COPY]   after muster run: exits with RC when muster
#                        wrote no RESULTS, and copies them to COPY if given
#   once_line DUPS REPORTED TOTAL   prints "every id reported once", or what is wrong
#                        and returns 1
#   agents_summary NAME TASKS RESULTS TABLE   the summary of pool/run.sh and bus/run.sh
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

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

make_tmp()
{
	local base=${TMPDIR:-/tmp}
	[ -n "${TMPDIR:-}" ] || { [ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm; }
	tmp=$(mktemp -d "$base/muster-$1.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
}

# plain lines (the id is the line number) and JSON lines, among them payloads with tabs
# and quotes, newlines and backslashes, control characters, non-ASCII text, a JSON
# value, and two lines that are not UTF-8 (they reach the agent as payload_b64)
write_sample_tasks()
{
	{
		printf '%s\n' \
			'hello world' \
			'the quick brown fox jumps over the lazy dog' \
			'pack my box with five dozen liquor jugs' \
			'an agent pays its start-up cost once, not once per task' \
			'{"id":"tab-and-quotes","payload":"name:\t\"muster\"\tkind:\t\"bus\""}' \
			'{"id":"lines-and-backslashes","payload":"line 1\nline 2\nC:\\temp\\new\n"}' \
			'{"id":"control","payload":"bell \u0007, escape \u001b[1m, nul \u0000, end"}' \
			'{"id":"utf-8","payload":"café, naïve, Tōkyō, ½"}' \
			'{"id":"json-value","payload":{"k":1,"list":[1,2]}}' \
			'{"id":"last","payload":"that is all"}'
		printf 'latin-1: caf\xe9\n'        # not UTF-8: payload_b64
		printf '\xff\xfe\xfd binary \x01\n' # idem
	} >"$1"
}

check_results()
{
	[ -f "$3" ] || {
		echo "$1: muster wrote no results (exit $2)" >&2
		exit "$2"
	}
	[ -z "${4:-}" ] || cp "$3" "$4"
}

once_line()
{
	if [ -n "$1" ]; then
		echo "reported twice: $1"
		return 1
	elif [ "$2" -ne "$3" ]; then
		echo "$2 of $3 ids reported"
		return 1
	fi
	echo "every id reported once"
}

# agents_summary NAME TASKS RESULTS TABLE: from TABLE, one "ID<TAB>STATUS<TAB>AGENT" line
# per result (AGENT a pid, or "-"), prints the tasks, how many ok, every id reported
# once, how many payloads reached the agents as payload_b64 (RESULTS), and how many
# tasks each agent process served; returns 1 when a task failed or an id was missing or
# reported twice (the ids not ok on standard error)
agents_summary()
{
	local name=$1 tasks=$2 results=$3 table=$4 rc=0
	local total reported ok failed timeout b64 dups agents nagents once
	total=$(grep -c . "$tasks" || true)
	reported=$(wc -l <"$table")
	ok=$(cut -f2 "$table" | grep -cx ok || true)
	failed=$(cut -f2 "$table" | grep -cx failed || true)
	timeout=$(cut -f2 "$table" | grep -cx timeout || true)
	b64=$(grep -c 'upper_b64' "$results" || true)
	dups=$(cut -f1 "$table" | sort | uniq -d | tr '\n' ' ')
	# how many tasks each agent process served, most first: "4242: 4 tasks, 4243: 4 tasks"
	agents=$(cut -f3 "$table" | { grep -x '[0-9][0-9]*' || true; } | sort | uniq -c | sort -k1,1nr -k2,2n |
		sed 's/^ *\([0-9]*\) \([0-9]*\)$/\2: \1 tasks/; s/: 1 tasks$/: 1 task/' | sed ':a;N;$!ba;s/\n/, /g')
	nagents=$(cut -f3 "$table" | { grep -x '[0-9][0-9]*' || true; } | sort -u | grep -c . || true)
	once=$(once_line "$dups" "$reported" "$total") || rc=1
	echo "$name: $total tasks, $ok ok, $failed failed, $timeout timeout; $once; $b64 came as payload_b64"
	echo "$name: $nagents agent processes served them: $agents"
	if [ "$ok" -ne "$total" ]; then
		echo "not ok: $(grep -v $'\tok\t' "$table" | cut -f1-2 | tr '\t\n' '  ')" >&2
		rc=1
	fi
	return "$rc"
}
