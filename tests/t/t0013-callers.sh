#!/usr/bin/env bash
# t0013 - callers reached through go-betweens (sh -c as Python's shell=True uses it,
# timeout, a pid-1 shell in a container), a dead owner's unreclaimed lease, a shortened
# lease, and the dead-letter queue's waiters.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
plan 13

# --- Python subprocess with shell=True: /bin/sh -c 'muster ...' ------------------------
m send q one >/dev/null
cat >"$TEST_DIR/shell_true.py" <<'PY'
import json, subprocess, sys
m, bus = sys.argv[1], sys.argv[2]
r = subprocess.run(f"{m} --bus {bus} recv q --json", shell=True, capture_output=True, text=True)
i = json.loads(r.stdout)["id"]
print(subprocess.run(f"{m} --bus {bus} ack {i}", shell=True).returncode)
PY
run python3 "$TEST_DIR/shell_true.py" "$MUSTER_BIN" "$BUS"
is "$out" 0 "recv then ack, each through sh -c (Python shell=True): ack exits 0"
is "$(queue_field q acked)" 1 "... and the message is acknowledged"

# --- timeout as a go-between ----------------------------------------------------------
m send q two >/dev/null
id=$(timeout 10 "$MUSTER_BIN" --bus "$BUS" recv q | cut -f1)
run m ack "$id"
is "$rc" 0 "recv under timeout(1), ack from the script: exit 0"

# --- a shell that is pid 1 of its own pid namespace (a container's entry point) ------
if [ "$(id -u)" = 0 ] && unshare -p -f --mount-proc true 2>/dev/null; then
	m send q three >/dev/null
	run unshare -p -f --mount-proc bash -c "id=\$('$MUSTER_BIN' --bus '$BUS' recv q | cut -f1) && '$MUSTER_BIN' --bus '$BUS' ack \"\$id\""
	is "$rc/$err" "0/" "a pid-1 shell (container entry point) can recv and ack"
else
	skip "needs root and unshare -p to make a pid namespace"
fi

# --- a dead owner's lease that nobody has taken back yet can be settled --------------
m send q four >/dev/null
spawn sleep 60
owner=$SPAWN_PID
id=$(m --owner "$owner" recv q | cut -f1)
kill -9 "$owner"
wait "$owner" 2>/dev/null
run m ack "$id"
is "$rc" 0 "ack of a message whose owner died before anyone took it back: exit 0"
acked=$(queue_field q acked)
is "$(queue_field q leased)" 0 "... acknowledged, not leased (acked $acked)"

# --- counts tell what a receiver would find: a dead owner's lease is not "leased" --
m send cnt x >/dev/null
spawn sleep 60
owner=$SPAWN_PID
m --owner "$owner" recv cnt >/dev/null
kill -9 "$owner"
wait "$owner" 2>/dev/null
wait_for 2 test "$(queue_field cnt leased)" = 0
is "$(queue_field cnt ready)/$(queue_field cnt leased)" "1/0" "queue counts a dead owner's message as ready again"

# --- a lease shortened by touch ends when the new lease does --------------------------
m send q five >/dev/null
id=$(m recv q --lease 60s | cut -f1)
run m touch "$id" --lease 300ms
is "$rc" 0 "touch to a shorter lease: exit 0"
spawn sleep 60
run m --owner "$SPAWN_PID" recv q --wait 3 --json
is "$rc/$(jget "$out" attempt)" "0/2" "the message comes back when the shortened lease ends"

# --- dead letters: a waiter on QUEUE.dead is woken when a lease runs out of attempts --
m queue d --max-attempts 1 --lease 200ms >/dev/null
m send d six >/dev/null
m recv d >/dev/null
spawn sleep 60
other=$SPAWN_PID
t0=$(now_ms)
"$MUSTER_BIN" --bus "$BUS" --owner "$other" recv d.dead --wait 5 >"$TEST_DIR/dead.out" &
waiter=$!
until_waiting "$waiter"
sleep 0.3 # past the 200 ms lease
run m --owner "$other" recv d --wait 0
wait "$waiter"
st=$?
took=$(($(now_ms) - t0))
is "$st/$(cut -f2 "$TEST_DIR/dead.out")" "0/six" "the dead-letter waiter receives the message"
cmp_ok "$took" -lt 3000 "... woken when it is dead-lettered, not at its deadline (${took} ms)"

# --- durations beyond ten years are refused -------------------------------------------
run m send q x --delay 100000000h
is_error 2 "a delay beyond ten years: exit 2"

# --- a bus directory that others can write names the problem --------------------------
mkdir -m 775 "$TEST_DIR/shared"
chmod 775 "$TEST_DIR/shared"
run "$MUSTER_BIN" --bus "$TEST_DIR/shared" send q x
like "$err" "writable by group or others" "an unsafe bus directory: the error says why"
