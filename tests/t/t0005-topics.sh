#!/usr/bin/env bash
# t0005 - topics: pub, sub (--from earliest|latest|SEQ, --follow, --count, --wait,
# --json) and retention set by topic (--max-count, --max-age).
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
plan 33

run m sub t
is "$rc/$(stat -c %s "$OUT_FILE")" "1/0" "sub of an empty topic exits 1 with no output"

run m pub t one
is "$rc/$out" "0/1" "pub prints the sequence number 1"
run m pub t two
is "$out" 2 "... then 2"
run_in $'three\nlines' m pub t
is "$rc/$out" "0/3" "pub reads the payload from stdin"
run m pub t four --json
is "$(json_obj "$out")/$(jget "$out" seq)" "/4" "pub --json prints {\"seq\":N}"

run m sub t
is "$rc" 0 "sub exits 0"
is "$out" "1	one
2	two
3	three
lines
4	four" "sub prints every entry from the earliest as SEQ<TAB>PAYLOAD"
run m sub t --from earliest --count 2
is "$(cut -f2 "$OUT_FILE" | tr '\n' ' ')" "one two " "sub --count 2 prints the first two"
run m sub t --from 3
is "$(head -n1 "$OUT_FILE")" "3	three" "sub --from 3 starts at entry 3"
run m sub t --from 99
is "$rc/$(stat -c %s "$OUT_FILE")" "1/0" "sub --from beyond the end: exit 1, no output"
run m sub t --json
is "$(wc -l <"$OUT_FILE")" 4 "sub --json prints one line per entry"
line3=$(sed -n 3p "$OUT_FILE")
is "$(json_obj "$line3")/$(jget "$line3" seq)/$(jget "$line3" topic)/$(jget "$line3" payload)" \
	"/3/t/three
lines" "... each a JSON object with seq, topic and payload"

t0=$(now_ms)
run m sub t --from latest --wait 300ms
t1=$(now_ms)
is "$rc/$(stat -c %s "$OUT_FILE")" "1/0" "sub --from latest sees none of the old entries: exit 1, no output"
cmp_ok $((t1 - t0)) -ge 250 "... after waiting ($((t1 - t0)) ms)"

# a waiting subscriber is woken by a publisher
"$MUSTER_BIN" --bus "$BUS" sub t --from latest --wait 10 >"$TEST_DIR/sub1" &
spid=$!
until_waiting "$spid"
t0=$(now_ms)
m pub t five >/dev/null
wait "$spid"
st=$?
t1=$(now_ms)
is "$st/$(cat "$TEST_DIR/sub1")" "0/5	five" "sub --from latest --wait gets the next entry"
cmp_ok $((t1 - t0)) -lt 1000 "... promptly ($((t1 - t0)) ms)"

# --follow keeps reading
"$MUSTER_BIN" --bus "$BUS" sub t --from 5 --follow --count 3 >"$TEST_DIR/sub2" &
spid=$!
until_waiting "$spid"
m pub t six >/dev/null
m pub t seven >/dev/null
wait "$spid"
is "$?/$(cut -f2 "$TEST_DIR/sub2" | tr '\n' ' ')" "0/five six seven " "sub --follow --count 3 follows new entries and stops after 3"

spawn "$MUSTER_BIN" --bus "$BUS" sub t --from latest --follow --json >"$TEST_DIR/sub3"
spid=$SPAWN_PID
until_waiting "$spid"
m pub t eight >/dev/null
m pub t nine >/dev/null
wait_for 3 lines_ge "$TEST_DIR/sub3" 2
kill "$spid" 2>/dev/null
wait "$spid" 2>/dev/null
is "$(python3 -c 'import json,sys; print(" ".join(json.loads(l)["payload"] for l in open(sys.argv[1])))' "$TEST_DIR/sub3")" \
	"eight nine" "sub --follow --json streams one JSON object per entry, flushed as they come"
run m sub t --from 8 --follow --wait 300ms
is "$rc/$(wc -l <"$OUT_FILE")" "0/2" "sub --follow --wait ends after a quiet spell, exit 0 when it printed"

# --- retention --------------------------------------------------------------------------
run m topic r --max-count 2
is "$rc/$out/$err" "0//" "topic --max-count 2 exits 0 silently"
for i in 1 2 3 4; do m pub r "r$i" >/dev/null; done
run m sub r
is "$(cut -f1,2 "$OUT_FILE" | tr '\t\n' ': ')" "3:r3 4:r4 " "only the newest 2 entries are kept, numbers unchanged"
run m sub r --from 1 --count 1
is "$out" "3	r3" "sub --from a dropped entry starts at the oldest kept"

run m topic a --max-age 200ms
is "$rc" 0 "topic --max-age 200ms exits 0"
m pub a old >/dev/null
sleep 0.4
m pub a new >/dev/null
run m sub a
is "$out" "2	new" "entries older than max-age are dropped"

# --- bad input ---------------------------------------------------------------------------
run m pub 'a b' x
is_error 2 "pub to an invalid topic name: exit 2"
run m sub ''
is_error 2 "sub of an empty topic name: exit 2"
run m sub t --from soon
is_error 2 "sub --from soon: exit 2"
run m sub t --count 0
is_error 2 "sub --count 0: exit 2"
run m topic t --max-count 0
is_error 2 "topic --max-count 0: exit 2"
run m topic t --max-age never
is_error 2 "topic --max-age never: exit 2"
MUSTER_PAYLOAD_MAX=4 run m pub t 12345
is_error 7 "pub above MUSTER_PAYLOAD_MAX: exit 7"
run m pub t x y
is_error 2 "pub with two payloads: exit 2"
run m sub t --count 100 --json
is "$(wc -l <"$OUT_FILE")" 9 "the topic still holds its 9 entries after the errors"
