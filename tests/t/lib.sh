# shellcheck shell=bash
# tests/t/lib.sh - shared helpers of the TAP contract tests of muster(1).
#
# A test starts with
#     . "$(dirname "$0")/lib.sh"
#     plan N
# and gets:
#   $MUSTER_BIN  the muster binary ($MUSTER_BIN, default build/muster of this tree; a
#                private copy of it in $TEST_DIR, so that a rebuild cannot swap it)
#   $TEST_DIR    a fresh private directory, removed on exit
#   $BUS         $TEST_DIR/bus, a bus path not yet created (the first command creates it)
#   m ARGS...    runs muster --bus $BUS ARGS... in this shell (so the lease owner is
#                this test script)
#   run CMD...   runs CMD with stdin from /dev/null; sets $out (stdout without the
#                trailing newlines), $err (stderr), $rc; the raw stdout is in $OUT_FILE
#   run_in DATA CMD...   the same with DATA (exact bytes) on stdin
#   ok/is/isnt/like/unlike/cmp_ok/pass/fail/skip/skip_all/diag/bail   TAP
#   is_error CODE DESC   after run: exit code CODE, stderr one line "muster: ..."
#   json_obj TEXT / json_arr TEXT   TEXT is exactly one JSON object / array
#   jget TEXT PATH       a field of JSON TEXT by dotted PATH ("queue.q.ready", "0.name")
#   spawn CMD...         starts CMD in the background ($SPAWN_PID), killed on exit
#   at_exit FUNCTION     runs FUNCTION on exit, before $TEST_DIR is removed
#   t_release            cleans up now (before an exec)
#   now_ms               wall clock in milliseconds
#   wait_for SECS CMD... retries CMD until it succeeds, for up to SECS seconds
#   until_waiting PID    waits until PID (a recv, sub, watch) sleeps waiting for news
#   queue_field Q FIELD  a field of `muster queue Q --json` (ready, leased, dead ...)
#
# Every script also runs under a watchdog ($T_TIMEOUT seconds, default 60) so that a
# hung muster fails the test instead of hanging the suite.

set -u

_t_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MUSTER_BIN=${MUSTER_T_ORIG_BIN:-${MUSTER_BIN:-$_t_root/build/muster}}
export MUSTER_BIN MUSTER_T_ORIG_BIN=$MUSTER_BIN
MUSTER_TEST_BIN=${MUSTER_TEST_BIN:-$_t_root/build/tests/helpers}
export MUSTER_TEST_BIN
# hermetic: nothing from the caller's environment chooses our bus or its limits
unset MUSTER_BUS MUSTER_OWNER MUSTER_QUOTA MUSTER_PAYLOAD_MAX MUSTER_HOME MUSTER_CONFIG \
	MUSTER_FEATURES
# but the suite may run again with flags of its own (tests/run.sh: a sharded pass)
if [ -n "${MUSTER_TEST_FEATURES:-}" ]; then
	export MUSTER_FEATURES=$MUSTER_TEST_FEATURES
fi
# nor the feature flags of the user's config (t0042 points this at its own)
export XDG_CONFIG_HOME=/nonexistent/muster-tests
export LC_ALL=C

_t_n=0
_t_failed=0
_t_planned=
_t_pids=()
_t_atexit=()
_t_watchdog=

diag()
{
	local line
	while IFS= read -r line; do
		printf '# %s\n' "$line" >&2
	done <<<"$*"
}

bail()
{
	printf 'Bail out! %s\n' "$*"
	exit 255
}

plan()
{
	_t_planned=$1
	printf '1..%s\n' "$1"
}

done_testing()
{
	[ -n "$_t_planned" ] || plan "$_t_n"
}

pass()
{
	_t_n=$((_t_n + 1))
	printf 'ok %d - %s\n' "$_t_n" "$1"
}

fail()
{
	_t_n=$((_t_n + 1))
	_t_failed=$((_t_failed + 1))
	printf 'not ok %d - %s\n' "$_t_n" "$1"
	[ $# -lt 2 ] || diag "$2"
}

# ok STATUS DESC: passes when STATUS is 0 (as in: test -f x; ok $? "x exists")
ok()
{
	if [ "$1" -eq 0 ]; then
		pass "$2"
	else
		fail "$2" "${3:-}"
	fi
}

is()
{
	if [ "$1" == "$2" ]; then
		pass "$3"
	else
		fail "$3" "got:      '$1'
expected: '$2'"
	fi
}

isnt()
{
	if [ "$1" != "$2" ]; then
		pass "$3"
	else
		fail "$3" "got '$1', expected anything else"
	fi
}

like()
{
	if [[ $1 =~ $2 ]]; then
		pass "$3"
	else
		fail "$3" "got:        '$1'
should match: /$2/"
	fi
}

unlike()
{
	if [[ $1 =~ $2 ]]; then
		fail "$3" "got:            '$1'
should not match: /$2/"
	else
		pass "$3"
	fi
}

# cmp_ok A OP B DESC with OP one of -eq -ne -lt -le -gt -ge
cmp_ok()
{
	if test "$1" "$2" "$3"; then
		pass "$4"
	else
		fail "$4" "expected: $1 $2 $3"
	fi
}

# skip REASON [COUNT]
skip()
{
	local i
	for ((i = 0; i < ${2:-1}; i++)); do
		_t_n=$((_t_n + 1))
		printf 'ok %d # skip %s\n' "$_t_n" "$1"
	done
}

skip_all()
{
	printf '1..0 # SKIP %s\n' "$1"
	_t_planned=0
	exit 0
}

m()
{
	"$MUSTER_BIN" --bus "$BUS" "$@"
}

run()
{
	"$@" <"$IN_NULL" >"$OUT_FILE" 2>"$ERR_FILE"
	rc=$?
	out=$(<"$OUT_FILE")
	err=$(<"$ERR_FILE")
}

run_in()
{
	local data=$1
	shift
	printf '%s' "$data" >"$TEST_DIR/.stdin"
	"$@" <"$TEST_DIR/.stdin" >"$OUT_FILE" 2>"$ERR_FILE"
	rc=$?
	out=$(<"$OUT_FILE")
	err=$(<"$ERR_FILE")
}

# is_error CODE DESC: the last run failed with exit code CODE and exactly one line on
# stderr starting "muster: " (and no crash: a signal would give 128+N)
is_error()
{
	local nl why=""
	nl=$(wc -l <"$ERR_FILE")
	if [ "$rc" -ne "$1" ]; then
		why="exit code $rc, expected $1"
	elif [ "$nl" -ne 1 ]; then
		why="$nl lines on stderr, expected 1"
	elif [[ $err != "muster: "* ]]; then
		why="stderr does not start with 'muster: '"
	fi
	if [ -z "$why" ]; then
		pass "$2"
	else
		fail "$2" "$why
stderr: $err"
	fi
}

_t_json()
{
	python3 -c '
import json, sys
kind = sys.argv[1]
try:
    d = json.loads(sys.stdin.read())
except ValueError as e:
    print("not JSON: %s" % e, file=sys.stderr)
    sys.exit(1)
if kind == "obj" and not isinstance(d, dict) or kind == "arr" and not isinstance(d, list):
    print("not a JSON %s" % kind, file=sys.stderr)
    sys.exit(1)
' "$1" 2>&1
}

# json_obj TEXT: status 0 if TEXT is exactly one JSON object (reason on stdout)
json_obj()
{
	printf '%s' "$1" | _t_json obj
}

json_arr()
{
	printf '%s' "$1" | _t_json arr
}

# jget TEXT PATH: prints the value at PATH (strings raw, null as "null", true/false,
# objects and arrays as JSON); status 1 when PATH is missing
jget()
{
	printf '%s' "$1" | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
for p in sys.argv[1].split(".") if sys.argv[1] else []:
    try:
        d = d[int(p)] if isinstance(d, list) else d[p]
    except (KeyError, IndexError, ValueError, TypeError):
        sys.exit(1)
if isinstance(d, str):
    sys.stdout.write(d)
elif isinstance(d, bool) or d is None:
    sys.stdout.write(json.dumps(d))
else:
    sys.stdout.write(json.dumps(d) if isinstance(d, (dict, list)) else str(d))
' "$2"
}

queue_field()
{
	local j
	j=$(m queue "$1" --json 2>/dev/null) || {
		echo "?"
		return 1
	}
	jget "$j" "$2"
}

now_ms()
{
	local ns
	ns=$(date +%s%N)
	echo $((ns / 1000000))
}

spawn()
{
	"$@" &
	SPAWN_PID=$!
	_t_pids+=("$SPAWN_PID")
}

# wait_for SECS CMD ARGS...: runs CMD every 50 ms until it succeeds (status 0) or
# SECS seconds have passed (status 1)
wait_for()
{
	local tries=$(($1 * 20)) i
	shift
	for ((i = 0; i < tries; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}

# is_waiting PID: PID sleeps on a futex (a recv, sub or kv watch waiting for news)
is_waiting()
{
	local w
	w=$(cat "/proc/$1/wchan" 2>/dev/null) || return 1
	[[ $w == *futex* ]]
}

# until_waiting PID: waits (up to 5 s) until PID sleeps on a futex; where the kernel
# does not say (no wchan), half a second
until_waiting()
{
	local w
	w=$(cat "/proc/$1/wchan" 2>/dev/null)
	if [ -z "$w" ] || [ "$w" = 0 ]; then
		sleep 0.5
		return 0
	fi
	wait_for 5 is_waiting "$1"
}

# lines_ge FILE N: FILE has at least N lines
lines_ge()
{
	[ "$(wc -l <"$1")" -ge "$2" ]
}

# at_exit FUNCTION: FUNCTION runs at exit (or t_release), before $TEST_DIR goes
at_exit()
{
	_t_atexit+=("$1")
}

# kills what spawn started and the watchdog, runs the at_exit functions, removes
# $TEST_DIR
t_release()
{
	local p f
	for f in "${_t_atexit[@]}"; do
		"$f"
	done
	_t_atexit=()
	for p in "${_t_pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	[ -z "$_t_watchdog" ] || kill -TERM "$_t_watchdog" 2>/dev/null
	for p in "${_t_pids[@]}" $_t_watchdog; do
		wait "$p" 2>/dev/null
	done
	if [ -n "${TEST_DIR:-}" ] && [ -d "$TEST_DIR" ]; then
		chmod -R u+rwX "$TEST_DIR" 2>/dev/null
		rm -rf "$TEST_DIR"
	fi
	_t_pids=()
	_t_watchdog=
}

_t_cleanup()
{
	local st=$?
	trap - EXIT
	t_release
	if [ -n "$_t_planned" ] && [ "$_t_n" -ne "$_t_planned" ]; then
		diag "planned $_t_planned tests but ran $_t_n"
		st=1
	fi
	[ "$_t_failed" -eq 0 ] || { diag "failed $_t_failed of $_t_n"; st=1; }
	exit "$st"
}

trap _t_cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

[ -x "$MUSTER_BIN" ] || bail "muster binary not found at $MUSTER_BIN (run make first)"
command -v python3 >/dev/null || bail "python3 is needed to check JSON output"
# the interpreter itself, not a version manager's shim (a shim costs 200 ms a call)
_t_python=$(python3 -c 'import sys; print(sys.executable)') || bail "python3 does not run"
python3()
{
	"$_t_python" "$@"
}

_t_base=/dev/shm
[ -d "$_t_base" ] && [ -w "$_t_base" ] || _t_base=${TMPDIR:-/tmp}
TEST_DIR=$(mktemp -d "$_t_base/muster-t.XXXXXX") || bail "cannot make a test directory"
BUS=$TEST_DIR/bus
# run a private copy: a rebuild of the tree while we run must not swap it under us
if cp "$MUSTER_BIN" "$TEST_DIR/muster" 2>/dev/null && "$TEST_DIR/muster" --version >/dev/null 2>&1; then
	MUSTER_BIN=$TEST_DIR/muster
fi
OUT_FILE=$TEST_DIR/.out
ERR_FILE=$TEST_DIR/.err
IN_NULL=/dev/null
# shellcheck disable=SC2034 # used by the tests
out="" err="" rc=0 SPAWN_PID=""

# the watchdog: after T_TIMEOUT seconds, kill what this script runs (its whole tree:
# a muster inside out=$(...) is a grandchild, and the script waits for its output) and
# fail it
_t_self=$$
# _t_descendants PID SKIP: the processes under PID, but for SKIP and those under it
_t_descendants()
{
	local p
	for p in $(ps -o pid= --ppid "$1"); do
		[ "$p" = "$2" ] && continue
		echo "$p"
		_t_descendants "$p" "$2"
	done
}
(
	trap 'kill "$s" 2>/dev/null; exit 0' TERM
	sleep "${T_TIMEOUT:-60}" &
	s=$!
	wait "$s"
	printf 'Bail out! %s timed out after %s s\n' "$0" "${T_TIMEOUT:-60}"
	me=$BASHPID # (inside $(...) BASHPID is that subshell's)
	# shellcheck disable=SC2046 # one pid per word
	kill -KILL $(_t_descendants "$_t_self" "$me") 2>/dev/null
	kill -TERM "$_t_self"
) &
_t_watchdog=$!
