#!/usr/bin/env bash
# t0007 - muster lock NAME [--wait DUR] -- CMD ARGS... and lock NAME --status: mutual
# exclusion, CMD's exit status, release when the holder dies, commands that do not
# exist.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
plan 27

lock_is()
{
	[ "$(m lock "$1" --status)" = "$2" ]
}

run m lock L --status
is "$rc/$out" "0/free" "lock --status of an unused lock prints free"

# shellcheck disable=SC2016 # expanded by sh -c
run m lock L -- sh -c '"$1" --bus "$2" lock L --status; exit 3' sh "$MUSTER_BIN" "$BUS"
is "$out" "held" "CMD runs while the lock is held"
is "$rc" 3 "lock exits with CMD's exit status"
run m lock L --status
is "$out" "free" "the lock is free after CMD ends"

run m lock L -- echo hello world
is "$rc/$out" "0/hello world" "CMD gets its arguments and our stdout"
run m lock L -- false
is "$rc" 1 "a failing CMD: exit 1"
run m lock L -- sh -c 'kill -KILL $$'
is "$rc" 137 "a CMD killed by SIGKILL: exit 128+9"

# --- contention -----------------------------------------------------------------------
spawn "$MUSTER_BIN" --bus "$BUS" lock L -- sleep 1.5
holder=$SPAWN_PID
wait_for 3 lock_is L held
ok $? "a background holder holds the lock"
run m lock L --wait 0 -- true
is_error 1 "lock --wait 0 of a held lock: exit 1"
like "$err" "held by another" "... saying it is held"
t0=$(now_ms)
run m lock L --wait 300ms -- true
t1=$(now_ms)
is "$rc" 1 "lock --wait 300ms of a held lock: exit 1"
cmp_ok $((t1 - t0)) -ge 250 "... after waiting ($((t1 - t0)) ms)"
run m lock L --wait 10 -- echo got-it
is "$rc/$out" "0/got-it" "lock --wait gets the lock when the holder finishes"
wait "$holder"
is "$?" 0 "the holder exited 0"

# mutual exclusion: four contenders append start/end around a pause
pids=()
for i in 1 2 3 4; do
	# shellcheck disable=SC2016 # expanded by sh -c
	spawn "$MUSTER_BIN" --bus "$BUS" lock M --wait 20 -- \
		sh -c 'echo "start $1" >>"$2"; sleep 0.1; echo "end $1" >>"$2"' sh "$i" "$TEST_DIR/log"
	pids+=("$SPAWN_PID")
done
wait "${pids[@]}"
seq_ok=$(awk '/^start/ { if (open) bad = 1; open = $2 } /^end/ { if (open != $2) bad = 1; open = "" }
	END { print (NR == 8 && !bad) ? "yes" : "no" }' "$TEST_DIR/log")
is "$seq_ok" yes "four contenders never overlap inside the lock"

# --- the holder dies --------------------------------------------------------------------
spawn "$MUSTER_BIN" --bus "$BUS" lock D -- sleep 60
lpid=$SPAWN_PID
wait_for 3 lock_is D held
ok $? "lock D is held by a background muster running sleep"
# kill the whole holder: muster and its CMD (which inherited the lock)
cpid=$(ps -o pid= --ppid "$lpid" | tr -d ' ')
kill -KILL "$lpid"
[ -z "$cpid" ] || kill -KILL "$cpid"
wait "$lpid" 2>/dev/null
t0=$(now_ms)
wait_for 3 lock_is D free
ok $? "when the holder is killed the lock is free"
run m lock D --wait 2 -- true
t1=$(now_ms)
is "$rc" 0 "... and can be taken again"
cmp_ok $((t1 - t0)) -lt 1000 "... at once ($((t1 - t0)) ms)"

# --- commands that do not exist ------------------------------------------------------------
# (a PATH of readable directories: execvp reports EACCES when one is not)
PATH=/usr/bin:/bin run m lock L -- nonexistent-cmd-muster-test arg
is_error 127 "lock -- a command that does not exist: exit 127"
like "$err" "nonexistent-cmd-muster-test" "... naming the command"
printf 'echo hi\n' >"$TEST_DIR/noexec"
chmod 644 "$TEST_DIR/noexec"
run m lock L -- "$TEST_DIR/noexec"
is_error 126 "lock -- a file that is not executable: exit 126"
run m lock L --status
is "$out" "free" "the lock is released after a command that could not run"

# --- bad input ---------------------------------------------------------------------------
run m lock L
is_error 2 "lock without a command: exit 2"
run m lock 'a b' -- true
is_error 2 "lock with an invalid name: exit 2"
run m lock L --status extra
is_error 2 "lock --status with an extra argument: exit 2"
run m lock L --wait soon -- true
is_error 2 "lock --wait with a bad duration: exit 2"
