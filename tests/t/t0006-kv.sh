#!/usr/bin/env bash
# t0006 - the key-value store: kv get, set, cas, del, list, watch, purge.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
plan 46

run m kv get k
is_error 3 "kv get of a missing key: exit 3"

run m kv set k v1
is "$rc" 0 "kv set exits 0"
like "$out" '^[0-9]+$' "... and prints the new revision"
r1=$out
run m kv get k
is "$rc/$out" "0/v1" "kv get prints the value"
run m kv get k --json
is "$(json_obj "$out")/$(jget "$out" key)/$(jget "$out" rev)/$(jget "$out" payload)" "/k/$r1/v1" \
	"kv get --json prints one JSON object with key, rev and payload"

run m kv set k v2
r2=$out
cmp_ok "$r2" -gt "$r1" "a second set gives a higher revision"
run_in $'from\nstdin' m kv set s
is "$rc" 0 "kv set reads the value from stdin"
run m kv get s
is "$out" $'from\nstdin' "... exactly"
run m kv set j v --json
like "$(jget "$out" rev)" '^[0-9]+$' "kv set --json prints {\"rev\":N}"

# --- compare-and-set ----------------------------------------------------------------------
run m kv cas k "$r2" v3
is "$rc" 0 "kv cas with the current revision exits 0"
r3=$out
cmp_ok "$r3" -gt "$r2" "... with a new revision"
run m kv cas k "$r2" v4
is_error 5 "kv cas with a stale revision: exit 5"
run m kv get k
is "$out" v3 "... and the value is unchanged"
run m kv cas n 0 fresh
is "$rc" 0 "kv cas KEY 0 creates a missing key"
run m kv cas n 0 again
is_error 5 "kv cas KEY 0 on an existing key: exit 5"
run m kv cas n abc x
is_error 2 "kv cas with a revision that is not a number: exit 2"

# --- list ---------------------------------------------------------------------------------
m kv set app.b 2 >/dev/null
m kv set app.a 1 >/dev/null
run m kv list app.
is "$(cut -f1,3 "$OUT_FILE" | tr '\t\n' '= ')" "app.a=1 app.b=2 " "kv list PREFIX lists matching keys sorted, KEY<TAB>REV<TAB>VALUE"
run m kv list
is "$(grep -c . "$OUT_FILE")/$(head -n1 "$OUT_FILE" | cut -f1)" "7/app.a" "kv list lists every key (s's value has two lines)"
run m kv list app. --json
is "$(json_arr "$out")" "" "kv list --json prints one JSON array"
is "$(jget "$out" 1.key)=$(jget "$out" 1.payload)" "app.b=2" "... of objects with key and payload"
run m kv list zzz
is "$rc/$(stat -c %s "$OUT_FILE")" "0/0" "kv list of an unused prefix prints nothing"

# --- del ----------------------------------------------------------------------------------
run m kv del n
is "$rc/$out" "0/" "kv del exits 0"
run m kv get n
is_error 3 "a deleted key is gone: exit 3"
run m kv del n
is_error 3 "kv del of a missing key: exit 3"

# --- watch --------------------------------------------------------------------------------
run m kv watch k --since 0 --wait 100ms
is "$rc/$out" "0/v3" "kv watch --since 0 prints the current value at once"
t0=$(now_ms)
run m kv watch k --since "$r3" --wait 300ms
t1=$(now_ms)
is "$rc/$(stat -c %s "$OUT_FILE")" "1/0" "kv watch with no change in time: exit 1, no output"
cmp_ok $((t1 - t0)) -ge 250 "... after waiting ($((t1 - t0)) ms)"

"$MUSTER_BIN" --bus "$BUS" kv watch k --since "$r3" --wait 10 --json >"$TEST_DIR/w1" &
wpid=$!
until_waiting "$wpid"
t0=$(now_ms)
m kv set k v5 >/dev/null
wait "$wpid"
st=$?
t1=$(now_ms)
w=$(cat "$TEST_DIR/w1")
is "$st/$(jget "$w" payload)" "0/v5" "a waiting kv watch --json sees the change"
cmp_ok $((t1 - t0)) -lt 1000 "... promptly ($((t1 - t0)) ms)"
rev=$(jget "$w" rev)

spawn "$MUSTER_BIN" --bus "$BUS" kv watch k --since "$rev" --follow --json >"$TEST_DIR/w2"
wpid=$SPAWN_PID
until_waiting "$wpid"
m kv set k v6 >/dev/null
wait_for 3 lines_ge "$TEST_DIR/w2" 1
m kv del k
wait_for 3 lines_ge "$TEST_DIR/w2" 2
kill "$wpid" 2>/dev/null
wait "$wpid" 2>/dev/null
l1=$(sed -n 1p "$TEST_DIR/w2")
l2=$(sed -n 2p "$TEST_DIR/w2")
is "$(jget "$l1" payload)" v6 "kv watch --follow streams each change"
is "$(jget "$l2" deleted)/$(jget "$l2" rev)" "true/0" "... and a deletion as deleted, rev 0"
m kv set d gone >/dev/null
rev=$(m kv get d --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["rev"])')
"$MUSTER_BIN" --bus "$BUS" kv watch d --since "$rev" --wait 5 >"$TEST_DIR/w3" &
wpid=$!
until_waiting "$wpid"
m kv del d
wait "$wpid"
is "$?/$(cat "$TEST_DIR/w3")" "0/(deleted)" "kv watch prints (deleted) for a deletion"

# --- bad input ----------------------------------------------------------------------------
run m kv get 'a/b'
is_error 2 "kv get of an invalid key: exit 2"
run m kv set "$(printf 'k%.0s' {1..129})" x
is_error 2 "kv set of a 129-character key: exit 2"
run m kv frob k
is_error 2 "kv with an unknown operation: exit 2"
run m kv
is_error 2 "kv with no operation: exit 2"
run m kv get
is_error 2 "kv get with no key: exit 2"
MUSTER_PAYLOAD_MAX=3 run m kv set big 1234
is_error 7 "kv set above MUSTER_PAYLOAD_MAX: exit 7"
run m kv list --json
is "$(printf '%s' "$out" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" 4 \
	"the store still holds its 4 keys after the errors"

# --- purge --------------------------------------------------------------------------------
for k in job.1 job.2 job.x.y job jobs.1; do
	m kv set "$k" v >/dev/null
done
grev=$(m kv set job.gone v)
m kv del job.gone
run m kv watch job.gone --since "$grev" --wait 0
is "$rc/$out" "0/(deleted)" "before a purge, kv watch tells of a deletion"
run m kv purge job.
is "$rc/$out/$err" "0//" "kv purge PREFIX: exit 0, silent"
run m kv list job
is "$(cut -f1 "$OUT_FILE" | tr '\n' ' ')" "job jobs.1 " "... only the keys under the prefix went"
run m kv watch job.gone --since "$grev" --wait 0
is "$rc/$out" "1/" "... and the record of the deletion under it"
m kv set job.3 v >/dev/null
run m kv purge job. --json
is "$(json_obj "$out")/$(jget "$out" purged)" "/1" "kv purge --json prints {\"purged\":N}"
run m kv purge ''
is_error 2 "kv purge of the empty prefix: exit 2"
run m kv purge
is_error 2 "kv purge with no prefix: exit 2"
