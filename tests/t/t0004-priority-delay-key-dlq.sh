#!/usr/bin/env bash
# t0004 - priorities, delayed messages, idempotency keys, max attempts and the
# dead-letter queue; peek, queues and queue, queue --delete.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
plan 47

# --- priorities -------------------------------------------------------------------------
m send p lo >/dev/null
m send p hi --priority 9 >/dev/null
m send p mid1 --priority 5 >/dev/null
m send p mid2 --priority 5 >/dev/null
m send p lo2 --priority 0 >/dev/null
run m peek p
is "$(cut -f2 "$OUT_FILE" | tr '\n' ' ')" "hi mid1 mid2 lo lo2 " "peek lists by priority, then oldest first"
run m peek p --count 2
is "$(wc -l <"$OUT_FILE")" 2 "peek --count 2 lists two"
run m peek p --json
is "$(head -n1 "$OUT_FILE" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(d["payload"], d["priority"])')" \
	"hi 9" "peek --json prints one JSON object per line, with the priority"
is "$(queue_field p ready)/$(queue_field p leased)" "5/0" "peek takes no lease"
run m recv p --count 5 --ack --payload
is "$out" "himid1mid2lolo2" "recv delivers in the same order"
run m send p x --priority 10
is_error 2 "--priority 10: exit 2"
run m send p x --priority -1
is_error 2 "--priority -1: exit 2"
run m send p x --priority high
is_error 2 "--priority high: exit 2"

# --- delayed messages ------------------------------------------------------------------
t0=$(now_ms)
did=$(m send d later --delay 700ms)
m send d now >/dev/null
run m recv d --payload
is "$out" "now" "a delayed message is passed by a later ready one"
run m recv d
is "$rc/$(queue_field d delayed)" "1/1" "it is not ready before its delay"
run m recv d --wait 5 --json
t1=$(now_ms)
is "$rc/$(jget "$out" id)" "0/$did" "recv --wait gets it when it is due"
cmp_ok $((t1 - t0)) -ge 600 "... not before ($((t1 - t0)) ms after send)"
run m send d x --delay 5x
is_error 2 "--delay 5x: exit 2"
run m send d x --delay forever
is_error 2 "--delay forever: exit 2"

# --- idempotency keys ------------------------------------------------------------------
k1=$(m send k first --key job-1)
k2=$(m send k second --key job-1)
is "$k2" "$k1" "a repeated --key returns the first id"
k3=$(m send k third --key job-2)
isnt "$k3" "$k1" "another key gives another id"
is "$(queue_field k ready)" 2 "the repeated send added nothing"
run m recv k --payload
is "$out" "first" "the queued message is the first one"
run m send k x --key 'a b'
is_error 2 "--key with an invalid name: exit 2"

# --- max attempts and the dead-letter queue --------------------------------------------
run m queue r --max-attempts 2 --lease 200ms --dead-letter r-dlq --json
is "$rc" 0 "queue --max-attempts --lease --dead-letter exits 0"
is "$(jget "$out" max_attempts)/$(jget "$out" lease_ms)/$(jget "$out" dead_letter)" "2/200/r-dlq" \
	"... and sets the policy"
rid=$(m send r poison)
m recv r >/dev/null
m nack "$rid"
run m recv r --json
is "$(jget "$out" attempt)" 2 "second delivery is attempt 2"
m nack "$rid"
run m recv r
is "$rc" 1 "after max attempts the message leaves the queue"
is "$(queue_field r dead)/$(queue_field r ready)/$(queue_field r leased)" "1/0/0" "... counted as dead"
run m recv r-dlq --json
is "$(jget "$out" id)/$(jget "$out" payload)" "$rid/poison" "... and is in the dead-letter queue with its id and payload"
m ack "$rid"

# default dead-letter queue QUEUE.dead; lease expiry counts as an attempt
m queue s --max-attempts 1 --lease 200ms >/dev/null
sid=$(m send s once)
m recv s >/dev/null
sleep 0.4
run m recv s --wait 300ms
is "$rc" 1 "a lease that ran out with no attempts left is not redelivered"
run m recv s.dead --wait 2 --json
is "$(jget "$out" id)" "$sid" "... it is in the default dead-letter queue QUEUE.dead"

run m queue r --max-attempts 0
is_error 2 "queue --max-attempts 0: exit 2"
run m queue r --lease 0
is_error 2 "queue --lease 0: exit 2"
run m queue r --dead-letter 'a/b'
is_error 2 "queue --dead-letter with an invalid name: exit 2"
is "$(queue_field r max_attempts)/$(queue_field r dead_letter)" "2/r-dlq" "refused settings changed nothing"

# --- queues, queue ----------------------------------------------------------------------
m send z one >/dev/null
m send z two >/dev/null
m recv z >/dev/null
run m queues
is "$rc" 0 "queues exits 0"
like "$(head -n1 "$OUT_FILE")" '^QUEUE +READY +LEASED +DELAYED +DEAD' "queues prints a header"
like "$out" $'\nz +1 +1 +0 +0 +2 +0' "queues lists z: 1 ready, 1 leased, 0 delayed, 0 dead, 2 sent, 0 acked"
run m queues --json
is "$(json_arr "$out")" "" "queues --json prints one JSON array"
is "$(printf '%s' "$out" | python3 -c 'import json,sys; print(sorted(q["name"] for q in json.load(sys.stdin)))')" \
	"['d', 'k', 'p', 'r', 'r-dlq', 's', 's.dead', 'z']" "... of every queue, by name"
run m queue z
like "$out" 'ready 1, leased 1, delayed 0, dead 0' "queue NAME shows the counts"
run m queue z --json
is "$(json_obj "$out")/$(jget "$out" name)/$(jget "$out" sent)" "/z/2" "queue NAME --json prints one JSON object"
run m queue nope
is_error 3 "queue of an unknown queue: exit 3"
run m queues extra
is_error 2 "queues with an argument: exit 2"

# --- queue --delete ---------------------------------------------------------------------
m send gone one >/dev/null
gk=$(m send gone two --key g-1)
m send gone later --delay 1h >/dev/null
run m recv gone --json
gid=$(jget "$out" id)
run m queue gone --delete
is "$rc/$out/$err" "0//" "queue --delete of a queue with ready, delayed and leased messages: exit 0, silent"
run m queues --json
is "$(printf '%s' "$out" | python3 -c 'import json,sys; print(sorted(q["name"] for q in json.load(sys.stdin)))')" \
	"['d', 'k', 'p', 'r', 'r-dlq', 's', 's.dead', 'z']" "... and queues no longer lists it"
run m ack "$gid"
is_error 4 "... an ack of its leased message: exit 4"
run m queue gone --delete
is_error 3 "a second queue --delete: exit 3"
run m send gone two --key g-1
isnt "$rc/$out" "0/$gk" "... and its idempotency keys went with it"
run m queue z --delete --lease 1s
is_error 2 "queue --delete with --lease: exit 2"
is "$(queue_field z sent)/$(queue_field z ready)" "2/1" "... and changed nothing"
