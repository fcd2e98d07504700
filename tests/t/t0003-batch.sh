#!/usr/bin/env bash
# t0003 - send --batch: one message per line of stdin, committed in batches, one id
# printed per message; a failing line stops the batch with exact accounting.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
plan 23

# the acceptance invocation, exactly
printf 'a\nb\n' | "$MUSTER_BIN" --bus "$BUS" send --batch q >"$TEST_DIR/ids"
is "$?" 0 "printf 'a\\nb\\n' | muster --bus DIR send --batch QUEUE exits 0"
is "$(wc -l <"$TEST_DIR/ids")" 2 "... and prints two lines"
is "$(grep -cE '^[0-9a-f]{16}$' "$TEST_DIR/ids")" 2 "... each an id alone"
is "$(sort -u "$TEST_DIR/ids" | wc -l)" 2 "... two different ids"
run m recv q --count 2
is "$out" "$(paste "$TEST_DIR/ids" <(printf 'a\nb\n'))" "the ids are those of 'a' then 'b', in order"

run_in $'x\ny' m send --batch q
is "$rc/$(wc -l <"$OUT_FILE")" "0/2" "a last line without a newline is a message too"
run m recv q --count 5 --payload
is "$out" "xy" "... with the right payloads"

run_in $'one\n\nthree\n' m send --batch e
is "$rc/$(wc -l <"$OUT_FILE")/$(queue_field e ready)" "0/3/3" "an empty line is an empty message"

run_in "" m send --batch q
is "$rc/$(stat -c %s "$OUT_FILE")" "0/0" "empty input sends nothing and prints nothing"

run_in $'j1\nj2\n' m send --batch --json j
is "$(wc -l <"$OUT_FILE")" 2 "send --batch --json prints one line per message"
like "$(jget "$(head -n1 "$OUT_FILE")" id)" '^[0-9a-f]{16}$' "... each a JSON object with the id"

# many lines, several commits
seq 1 2500 | "$MUSTER_BIN" --bus "$BUS" send --batch --batch-size 1000 big >"$TEST_DIR/bigids"
is "$?/$(wc -l <"$TEST_DIR/bigids")/$(sort -u "$TEST_DIR/bigids" | wc -l)" "0/2500/2500" \
	"2500 lines in batches of 1000: 2500 distinct ids"
is "$(queue_field big ready)" 2500 "... 2500 messages ready"
m recv big --count 2500 --ack >"$TEST_DIR/bigrecv"
cmp -s <(paste "$TEST_DIR/bigids" <(seq 1 2500)) "$TEST_DIR/bigrecv"
ok $? "... received in order with their ids and payloads"
is "$(queue_field big acked)/$(queue_field big ready)" "2500/0" "... and acknowledged"

# bad uses
run_in $'a\n' m send --batch q extra
is_error 2 "send --batch with a DATA argument: exit 2"
run_in $'a\n' m send --batch --key k q
is_error 2 "send --batch --key: exit 2"
run_in $'a\n' m send --batch --batch-size 0 q
is_error 2 "send --batch --batch-size 0: exit 2"
run_in $'a\n' m send --batch 'bad/name'
is_error 2 "send --batch to an invalid queue name: exit 2"
is "$(queue_field q ready)" 0 "the refused batches sent nothing"

# an oversize line stops the batch; what was committed before stays, and is reported
MUSTER_PAYLOAD_MAX=10 run_in $'a\nb\nc\n0123456789X\nd\n' m send --batch --batch-size 2 s
is_error 7 "a line above MUSTER_PAYLOAD_MAX in a batch: exit 7"
like "$err" "line 4.*2 messages sent" "... the error names the line and what was sent"
is "$(wc -l <"$OUT_FILE")/$(queue_field s ready)" "2/2" "... the ids of the 2 committed messages were printed; they are in the queue"
