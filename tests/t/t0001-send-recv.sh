#!/usr/bin/env bash
# t0001 - send and recv: the acceptance invocations, output formats, waiting, --help
# and --version.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
plan 48

# --- --version, --help ---------------------------------------------------------------
run "$MUSTER_BIN" --version
is "$rc" 0 "--version exits 0"
like "$out" '^muster [0-9]+\.[0-9]+\.[0-9]+$' "--version prints 'muster X.Y.Z'"

run "$MUSTER_BIN" --help
is "$rc" 0 "--help exits 0"
missing=""
for c in send recv ack nack touch peek queues queue pub sub topic kv lock doctor stats; do
	grep -qE "^  muster $c( |$)" "$OUT_FILE" || missing="$missing $c"
done
is "$missing" "" "--help lists every command on stdout"
like "$out" 'Exit codes' "--help documents the exit codes"

run "$MUSTER_BIN" send --help
is "$rc/$out" "0/usage: muster send QUEUE [DATA] [--batch [--batch-size N]] [--priority 0-9] [--delay DUR] [--key KEY] [--wait DUR] [--json]" \
	"send --help prints the usage of send"

run "$MUSTER_BIN"
is "$rc" 2 "no command: exit 2"
like "$err" '^usage: muster' "no command: usage on stderr"
is "$out" "" "no command: nothing on stdout"

# --- send QUEUE DATA prints the id alone on a line ------------------------------------
[ ! -e "$BUS" ]
ok $? "the bus does not exist before the first command"
run m send q hello
is "$rc" 0 "send exits 0"
like "$(od -An -c "$OUT_FILE" | tr -d ' \n')" '^[0-9a-f]{16}\\n$' "send prints the id alone on one line"
is "$err" "" "send prints nothing on stderr"
id1=$out
is "$(stat -c %a "$BUS")" 700 "the bus directory is created with mode 0700"

run m send q world
id2=$out
like "$id2" '^[0-9a-f]{16}$' "a second send prints an id"
isnt "$id2" "$id1" "ids are unique"

run m send --json q third
is "$rc" 0 "send --json exits 0"
is "$(json_obj "$out")" "" "send --json prints one JSON object"
id3=$(jget "$out" id)
like "$id3" '^[0-9a-f]{16}$' "send --json gives the id"

# --- recv QUEUE --wait SECS --json ----------------------------------------------------
run m recv q --wait 1 --json
is "$rc" 0 "recv --wait 1 --json exits 0"
is "$(wc -l <"$OUT_FILE")" 1 "recv --json prints one line"
is "$(json_obj "$out")" "" "recv --json prints one JSON object"
is "$(jget "$out" id)/$(jget "$out" payload)" "$id1/hello" "the oldest message comes first, with its id and payload"
is "$(jget "$out" attempt)/$(jget "$out" queue)" "1/q" "attempt 1 on first delivery, and the queue"

run m recv q
is "$rc/$out" "0/$id2	world" "recv prints ID<TAB>PAYLOAD"

run m recv q --payload
is "$rc/$out" "0/third" "recv --payload prints the payload only"

t0=$(now_ms)
run m recv q --wait 1 --json
t1=$(now_ms)
is "$rc" 1 "recv --wait 1 on an empty queue exits 1"
is "$(stat -c %s "$OUT_FILE")" 0 "... with nothing on stdout"
is "$err" "" "... and nothing on stderr"
cmp_ok $((t1 - t0)) -ge 900 "... after waiting about a second ($((t1 - t0)) ms)"

run m recv q
is "$rc/$(stat -c %s "$OUT_FILE")" "1/0" "recv without --wait on an empty queue exits 1 at once, no output"
run m recv never-used --wait 200ms --json
is "$rc/$(stat -c %s "$OUT_FILE")" "1/0" "recv on a queue never used exits 1, no output"

# --- payloads: JSON escaping and binary ------------------------------------------------
tricky=$'quote" back\\ tab\t nl\n cr\r ctl\x01 utf8 \xc3\xa9\xe2\x82\xac end'
run m send q "$tricky"
run m recv q --json
is "$(json_obj "$out")" "" "a payload with quotes, control bytes and UTF-8 gives valid JSON"
is "$(jget "$out" payload)" "$tricky" "... that decodes to the exact payload"

printf 'bin\000ary\377\376\n\n' >"$TEST_DIR/bin"
"$MUSTER_BIN" --bus "$BUS" send q <"$TEST_DIR/bin" >/dev/null
ok $? "send reads a binary payload from stdin"
run m peek q --json
is "$(jget "$out" payload)" null "a binary payload is null in JSON ..."
is "$(jget "$out" payload_base64)" "$(base64 -w0 "$TEST_DIR/bin")" "... with its exact bytes in payload_base64"
m recv q --payload >"$TEST_DIR/bin.out"
cmp -s "$TEST_DIR/bin" "$TEST_DIR/bin.out"
ok $? "recv --payload gives back the exact bytes"

big=$(head -c 100000 /dev/zero | tr '\0' x)
run m send q "$big"
run m recv q --payload
is "${#out}/$rc" "100000/0" "a 100 kB payload makes the round trip"

# --- --count, --ack, --lease ------------------------------------------------------------
for i in 1 2 3 4; do m send c "m$i" >/dev/null; done
run m recv c --count 3
is "$(cut -f2 "$OUT_FILE" | tr '\n' ' ')" "m1 m2 m3 " "recv --count 3 takes three messages in order"
run m recv c --count 3 --ack --payload
is "$rc/$out" "0/m4" "recv --count returns what is ready when fewer are"
is "$(queue_field c acked)/$(queue_field c leased)" "1/3" "recv --ack acknowledges what it received"

m send l short-lease >/dev/null
run m recv l --lease 300ms --json
lid=$(jget "$out" id)
run m recv l
is "$rc" 1 "a leased message is not delivered twice"
run m recv l --wait 3 --json
is "$(jget "$out" id)/$(jget "$out" attempt)" "$lid/2" "after --lease 300ms runs out the message is redelivered, attempt 2"

# --- ack ID ---------------------------------------------------------------------------
run m ack "$lid"
is "$rc/$out/$err" "0//" "ack ID exits 0 silently"
is "$(queue_field l acked)/$(queue_field l ready)/$(queue_field l leased)" "1/0/0" "ack deletes the message"

# --- a waiting recv is woken by a send from another process ----------------------------
"$MUSTER_BIN" --bus "$BUS" recv w --wait 10 --json >"$TEST_DIR/woken" &
rpid=$!
until_waiting "$rpid"
t0=$(now_ms)
wid=$(m send w wake-up)
wait "$rpid"
st=$?
t1=$(now_ms)
is "$st/$(jget "$(cat "$TEST_DIR/woken")" id)" "0/$wid" "a waiting recv gets a message sent by another process"
cmp_ok $((t1 - t0)) -lt 1000 "... promptly ($((t1 - t0)) ms from send to exit)"
