#!/usr/bin/env bash
# t0002 - ack, nack, touch and lease ownership: a lease belongs to the caller (the
# CLI's parent process, a forked subshell counting as its shell, or --owner PID /
# $MUSTER_OWNER); others cannot settle it; it is released when its owner dies.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
plan 47

# a live process that is not us, to own leases: a sleep started here
spawn sleep 60
other=$SPAWN_PID

# --- ack ------------------------------------------------------------------------------
id=$(m send q one)
got=$(m recv q | cut -f1)
is "$got" "$id" "recv in a command substitution takes the message"
run m ack "$id"
is "$rc/$err" "0/" "ack by the shell whose subshell received it exits 0"
run m ack "$id"
is_error 4 "ack of an already acknowledged id: exit 4"
like "$err" "not held" "... saying the message is not held"
run m ack 0123456789abcdef
is_error 4 "ack of an unknown well-formed id: exit 4"

id=$(m send q two)
m recv q >/dev/null
run m --owner "$other" ack "$id"
is_error 4 "ack by another live owner (--owner of a sleep we started): exit 4"
is "$(queue_field q leased)" 1 "... and the message stays leased"
MUSTER_OWNER=$other run m ack "$id"
is_error 4 "ack by another owner named in \$MUSTER_OWNER: exit 4"
run m ack "$id"
is "$rc" 0 "the holder can still ack it"

id1=$(m send q a1)
id2=$(m send q a2)
m recv q --count 2 >/dev/null
run m ack "$id1" "$id2"
is "$rc/$(queue_field q leased)" "0/0" "ack ID ID acknowledges both"

id1=$(m send q b1)
m recv q >/dev/null
run m ack 00000000000000aa "$id1"
is "$rc" 4 "ack of an unknown and a held id: exit 4 ..."
is "$(queue_field q leased)/$(queue_field q ready)" "0/0" "... and the held one is acknowledged"

# --- a pipeline stage or command substitution credits the lease to this shell ----------
id=$(m send q piped)
got=$(m recv q | cut -f1)
sleep 0.2 # the pipeline's subshell is gone by now; the lease must not be released
run m recv q
is "$rc" 1 "a lease taken in a pipeline outlives the pipeline's subshell"
run m ack "$got"
is "$rc" 0 "... and belongs to this shell, which can ack it"

# --- nack -----------------------------------------------------------------------------
id=$(m send n first)
m recv n >/dev/null
run m nack "$id"
is "$rc/$err" "0/" "nack exits 0"
run m recv n --json
is "$(jget "$out" id)/$(jget "$out" attempt)" "$id/2" "a nacked message is ready again at once, attempt 2"
run m --owner "$other" nack "$id"
is_error 4 "nack by another owner: exit 4"
run m nack 00000000000000ab
is_error 4 "nack of an unknown id: exit 4"
run m nack "$id" --delay 600ms
is "$rc" 0 "nack --delay 600ms exits 0"
run m recv n
is "$rc/$(queue_field n delayed)" "1/1" "the message is delayed, not ready"
t0=$(now_ms)
run m recv n --wait 5 --json
t1=$(now_ms)
is "$rc/$(jget "$out" id)/$(jget "$out" attempt)" "0/$id/3" "it comes back after the delay, attempt 3"
cmp_ok $((t1 - t0)) -ge 400 "... not before the delay ($((t1 - t0)) ms)"
run m nack "$id" --delay soon
is_error 2 "nack --delay with a bad duration: exit 2"
run m ack "$id"
is "$rc" 0 "nack's bad option left the lease alone: ack works"

# --- touch ----------------------------------------------------------------------------
id=$(m send t one)
m recv t --lease 1s >/dev/null
run m touch "$id" --lease 5s
is "$rc/$err" "0/" "touch --lease 5s exits 0"
sleep 1.3
run m recv t
is "$rc" 1 "a touched lease outlives its first duration"
run m --owner "$other" touch "$id"
is_error 4 "touch by another owner: exit 4"
run m touch 00000000000000ac
is_error 4 "touch of an unknown id: exit 4"
run m touch "$id" --delay 1s
is_error 2 "touch --delay (an option of nack): exit 2"
like "$err" "--delay" "... naming the option"
run m ack "$id"
is "$rc" 0 "the toucher acks it"

# --- a lease that ran out and went to someone else is no longer ours -------------------
id=$(m send x one)
m --owner "$other" recv x --lease 200ms >/dev/null
run m recv x --wait 3 --json
is "$(jget "$out" id)/$(jget "$out" attempt)" "$id/2" "after the lease ran out another caller gets the message"
run m --owner "$other" touch "$id"
is_error 4 "the first holder can no longer touch it: exit 4"
run m --owner "$other" ack "$id"
is_error 4 "... nor ack it: exit 4"
run m ack "$id"
is "$rc" 0 "the new holder acks it"

# --- the lease of a dead owner is released at once --------------------------------------
spawn sleep 60
victim=$SPAWN_PID
id=$(m send d precious)
run m --owner "$victim" recv d --json
is "$(jget "$out" id)" "$id" "recv --owner PID takes a lease for that process"
sleep 0.3
run m recv d
is "$rc" 1 "the lease is kept while its owner lives"
kill -KILL "$victim"
wait "$victim" 2>/dev/null
t0=$(now_ms)
run m recv d --wait 2 --json
t1=$(now_ms)
is "$rc/$(jget "$out" id)/$(jget "$out" attempt)" "0/$id/2" "when the owner dies the message is redelivered, attempt 2"
cmp_ok $((t1 - t0)) -lt 1000 "... within a second ($((t1 - t0)) ms)"
run m ack "$id"
is "$rc" 0 "... to the new holder"

# MUSTER_OWNER names the owner too
id=$(m send e env)
MUSTER_OWNER=$other run m recv e
run m ack "$id"
is "$rc" 4 "a lease taken with \$MUSTER_OWNER is not the shell's"
MUSTER_OWNER=$other run m ack "$id"
is "$rc" 0 "... but that owner's"

# a caller that exits while muster starts: whichever way that race goes (muster sees
# its caller and credits it, or finds itself orphaned and refuses), the lease must not
# be left with a process that is not the caller, such as init
id=$(m send orphan x)
# shellcheck disable=SC2016 # expanded by bash -c
bash -c '"$1" --bus "$2" recv orphan --lease 60s >/dev/null 2>&1 & exit 0' sh "$MUSTER_BIN" "$BUS"
run m recv orphan --wait 3 --json
is "$rc/$(jget "$out" id)" "0/$id" "a lease taken for a caller that exited at once is released (or never taken)"
m ack "$id"

# --- bad owners ------------------------------------------------------------------------
m send o kept >/dev/null
run m --owner "$victim" recv o
is_error 9 "--owner of a dead process: exit 9"
run m --owner abc recv o
is_error 2 "--owner abc: exit 2"
MUSTER_OWNER=12x run m recv o
is_error 2 "MUSTER_OWNER=12x: exit 2"
is "$(queue_field o ready)" 1 "nothing was taken by the failed recvs"
