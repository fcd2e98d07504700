#!/usr/bin/env bash
# t0008 - doctor [--json] and stats [--json]; how a bus is named (--bus DIR,
# --bus=DIR, $MUSTER_BUS, local:NAME under $MUSTER_HOME).
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
plan 31

# --- stats ---------------------------------------------------------------------------------
printf 'a\nb\nc\n' | m send --batch q >/dev/null
m send other x >/dev/null
id=$(m recv q | cut -f1)
m ack "$id"
m pub t x >/dev/null
m kv set k v >/dev/null

run m stats --json
is "$rc" 0 "stats --json exits 0"
is "$(wc -l <"$OUT_FILE")" 1 "stats --json prints one line"
is "$(json_obj "$out")" "" "... one JSON object"
is "$(jget "$out" bus)" "$BUS" "... naming the bus directory"
is "$(jget "$out" sent)/$(jget "$out" acked)/$(jget "$out" ready)" "4/1/3" "... with the totals of sent, acked, ready"
is "$(jget "$out" queues)/$(jget "$out" topics)/$(jget "$out" keys)" "2/1/1" "... counts of queues, topics and keys"
is "$(jget "$out" queue.q.ready)/$(jget "$out" queue.other.ready)" "2/1" "... and per queue"
like "$(jget "$out" store_bytes)" '^[1-9][0-9]*$' "... and the store size"

run m stats
is "$rc" 0 "stats exits 0"
like "$out" "queues 2, topics 1, keys 1" "stats prints counts as text"
like "$out" "sent 4, acked 1" "... and message totals"
run m stats --frob
is_error 2 "stats with an unknown argument: exit 2"

# --- doctor ----------------------------------------------------------------------------------
run m doctor
is "$rc" 0 "doctor exits 0"
like "$out" "bus directory +$BUS" "doctor says where the bus lives"
like "$out" $'\n  why +[^\n]+' "... and why"
like "$out" "file system +[a-z]+, [0-9]+ MiB, [0-9]+ MiB free" "... its file system, size and free space"
like "$out" "open files +[0-9]+" "... the fd limit"
like "$out" "store +[0-9]+ MiB reserved" "... and the store of an existing bus"

run m doctor --json
is "$rc/$(wc -l <"$OUT_FILE")" "0/1" "doctor --json exits 0 and prints one line"
is "$(json_obj "$out")" "" "... one JSON object"
is "$(jget "$out" bus_dir)/$(jget "$out" bus.exists)" "$BUS/true" "... with the bus directory, which exists"
python3 -c 'import json, sys; d = json.loads(sys.argv[1]); sys.exit(not all(k in d for k in
	("why", "fs_type", "fs_size", "fs_free", "nofile_soft", "container", "lsm", "cgroup")))' "$out"
ok $? "... and the fs type, size, free space, fd limit, container, cgroup and LSM"

# doctor on a missing bus reports, and creates nothing
run "$MUSTER_BIN" --bus "$TEST_DIR/missing" doctor --json
is "$rc/$(jget "$out" bus.exists)" "0/false" "doctor --json on a missing bus: exit 0, bus.exists false"
[ ! -e "$TEST_DIR/missing" ]
ok $? "... and does not create it"
run "$MUSTER_BIN" --bus "$TEST_DIR/missing" doctor
like "$out" "not created yet" "doctor (text) on a missing bus says it is not created yet"
run m doctor extra
is_error 2 "doctor with an unknown argument: exit 2"

# --- naming the bus --------------------------------------------------------------------------
run "$MUSTER_BIN" "--bus=$BUS" queue q --json
is "$(jget "$out" ready)" 2 "--bus=DIR names the bus too"
MUSTER_BUS=$BUS run "$MUSTER_BIN" queue q --json
is "$(jget "$out" ready)" 2 "so does \$MUSTER_BUS"
MUSTER_BUS=$BUS run "$MUSTER_BIN" doctor --json
is "$(jget "$out" bus_dir)" "$BUS" "doctor reports the bus named by \$MUSTER_BUS"

MUSTER_HOME=$TEST_DIR/home run "$MUSTER_BIN" --bus local:named send q x
[ -f "$TEST_DIR/home/named/store.mdb" ]
ok $? "--bus local:NAME lives in \$MUSTER_HOME/NAME"
MUSTER_HOME=$TEST_DIR/home run "$MUSTER_BIN" --bus local:named doctor --json
like "$(jget "$out" why)" 'MUSTER_HOME' "doctor says \$MUSTER_HOME was chosen"
