#!/usr/bin/env bash
# t0009 - bad input: invalid names, oversize payloads, malformed and unknown ids,
# unknown commands and options, bad values, unknown queues. Each gets one line on
# stderr starting "muster: " and its documented exit code, and nothing already sent
# is lost.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
plan 84

# messages that must survive every error below
for i in 1 2 3 4 5; do m send keep "k$i" >/dev/null; done
kept()
{
	is "$(queue_field keep ready)" 5 "$1"
}

# --- invalid names ------------------------------------------------------------------------
long=$(printf 'n%.0s' {1..129})
ok128=$(printf 'n%.0s' {1..128})
for name in "" "$long" "a/b" "a b" $'a\nb' "ü" "a*"; do
	shown=$(printf '%q' "$name" | cut -c1-20)
	run m send "$name" data
	is_error 2 "send to queue name $shown: exit 2"
done
like "$err" 'invalid queue name' "the error says the name is invalid"
like "$err" '\[A-Za-z0-9._:-\]\{1,128\}' "... and what is allowed"
run m send "$ok128" data
is "$rc" 0 "a 128-character queue name is fine"
run m send 'A-Za_z.0:9' data
is "$rc" 0 "letters, digits and . _ : - are fine"
while read -ra args; do
	run m "${args[@]}"
	is_error 2 "${args[*]} (an invalid name): exit 2"
done <<'END'
recv a/b
peek a/b
queue a/b
queue ok --dead-letter a/b
send ok x --key a/b
pub a/b x
sub a/b
topic a/b --max-count 1
kv get a/b
kv set a/b x
kv cas a/b 0 x
kv del a/b
kv list a/b
kv watch a/b --wait 0
lock a/b -- true
lock a/b --status
END
kept "no message lost after the invalid names"

# --- oversize payloads ---------------------------------------------------------------------
MUSTER_PAYLOAD_MAX=10 run m send big 0123456789
is "$rc" 0 "MUSTER_PAYLOAD_MAX=10: 10 bytes are fine"
MUSTER_PAYLOAD_MAX=10 run m send big 0123456789X
is_error 7 "MUSTER_PAYLOAD_MAX=10: 11 bytes as an argument: exit 7"
like "$err" 'above the limit' "... saying it is above the limit"
MUSTER_PAYLOAD_MAX=10 run_in 0123456789X m send big
is_error 7 "MUSTER_PAYLOAD_MAX=10: 11 bytes on stdin: exit 7"
head -c 1048576 /dev/zero | tr '\0' x >"$TEST_DIR/1m"
"$MUSTER_BIN" --bus "$BUS" send big <"$TEST_DIR/1m" >/dev/null 2>"$ERR_FILE"
is "$?" 0 "a payload of exactly 1 MiB is fine by default"
printf x >>"$TEST_DIR/1m"
"$MUSTER_BIN" --bus "$BUS" send big <"$TEST_DIR/1m" >"$OUT_FILE" 2>"$ERR_FILE"
rc=$? err=$(<"$ERR_FILE")
is_error 7 "1 MiB + 1 byte on stdin: exit 7"
is "$(stat -c %s "$OUT_FILE")" 0 "... and no id printed"
is "$(queue_field big ready)" 2 "only the two payloads within the limit were sent"
m recv big --count 2 --ack --payload >"$TEST_DIR/big.out"
is "$(stat -c %s "$TEST_DIR/big.out")" $((10 + 1048576)) "... and they are whole"
MUSTER_PAYLOAD_MAX=abc run m send big x
is_error 2 "MUSTER_PAYLOAD_MAX=abc: exit 2"
MUSTER_QUOTA=lots run m send big x
is_error 2 "MUSTER_QUOTA=lots: exit 2"
kept "no message lost after the oversize payloads"

# --- malformed and unknown ids ------------------------------------------------------------
for cmd in ack nack touch; do
	for bad in xyz 0x12 0123456789abcdef0 "12 34" "" "-1"; do
		run m "$cmd" "$bad"
		is_error 2 "$cmd '$bad' (malformed id): exit 2"
	done
	run m "$cmd" 00000000deadbeef
	is_error 4 "$cmd of an unknown id: exit 4"
done
like "$err" 'not held' "the error for an unknown id says it is not held"
run m ack
is_error 2 "ack with no id: exit 2"
kept "no message lost after the bad ids"

# --- unknown commands and options, bad values ------------------------------------------------
run m frobnicate
is_error 2 "an unknown command: exit 2"
like "$err" "unknown command 'frobnicate'" "... named in the error"
run "$MUSTER_BIN" --frob send keep x
is_error 2 "an unknown global option: exit 2"
run m send keep x --frob
is_error 2 "an unknown option of send: exit 2"
run m recv keep --frob
is_error 2 "an unknown option of recv: exit 2"
run m recv keep --wait
is_error 2 "recv --wait without its value: exit 2"
run m recv keep --wait soon
is_error 2 "recv --wait soon: exit 2"
run m recv keep --count 0
is_error 2 "recv --count 0: exit 2"
run m recv keep --lease 0
is_error 2 "recv --lease 0: exit 2"
run m recv keep other
is_error 2 "recv with two queues: exit 2"
run m send
is_error 2 "send without a queue: exit 2"
run m send keep a b
is_error 2 "send with two payloads: exit 2"
run m peek keep --count x
is_error 2 "peek --count x: exit 2"
run "$MUSTER_BIN" --bus "redis://localhost" send keep x
is_error 2 "an unsupported bus URL: exit 2"
kept "no message lost after the usage errors"

# --- unknown queues -----------------------------------------------------------------------
run m queue nosuchqueue
is_error 3 "queue of an unknown queue: exit 3"
like "$err" "nosuchqueue.*not found" "... saying it is not found"
run m recv nosuchqueue
is "$rc/$(stat -c %s "$OUT_FILE")" "1/0" "recv of an unknown queue: nothing there, exit 1"
run m peek nosuchqueue
is "$rc/$(stat -c %s "$OUT_FILE")" "0/0" "peek of an unknown queue lists nothing"

# --- everything kept is still there, whole ---------------------------------------------------
run m recv keep --count 10 --ack --payload
is "$rc/$out" "0/k1k2k3k4k5" "all 5 messages sent before the errors are received and acked"
