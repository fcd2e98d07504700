#!/usr/bin/env bash
# t0010 - a missing or hostile bus directory: a symlink, a directory owned by another
# user, a group- or world-writable one, a file, a missing parent. Each is refused with
# one line on stderr and exit 8 (3 for a missing parent), and the bus behind it keeps
# every message.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
plan 34
# a small store: the bus is copied several times below
export MUSTER_QUOTA=$((8 << 20))

for i in 1 2 3; do m send q "m$i" >/dev/null; done

# --- a symlink to a good bus --------------------------------------------------------------
ln -s "$BUS" "$TEST_DIR/link"
run "$MUSTER_BIN" --bus "$TEST_DIR/link" send q evil
is_error 8 "send through a symlink to a bus: exit 8"
like "$err" "not safe" "... saying the bus directory is not safe"
run "$MUSTER_BIN" --bus "$TEST_DIR/link" recv q
is_error 8 "recv through the symlink: exit 8"
run "$MUSTER_BIN" --bus "$TEST_DIR/link" stats --json
is_error 8 "stats through the symlink: exit 8"
is "$(stat -c %s "$OUT_FILE")" 0 "... with nothing on stdout"
run "$MUSTER_BIN" --bus "$TEST_DIR/link" doctor --json
is "$rc/$(json_obj "$out")" "0/" "doctor --json through the symlink still reports (exit 0, one JSON object)"
like "$(jget "$out" bus.error)" "not safe" "... that the bus is not safe"
is "$(queue_field q ready)/$(queue_field q leased)" "3/0" "the real bus is untouched"
ln -s "$TEST_DIR/nowhere" "$TEST_DIR/dangling"
run "$MUSTER_BIN" --bus "$TEST_DIR/dangling" send q x
is_error 8 "a dangling symlink: exit 8"
[ ! -e "$TEST_DIR/nowhere" ]
ok $? "... and its target is not created"

# --- group- or world-writable --------------------------------------------------------------
chmod 0777 "$BUS"
run m send q evil
is_error 8 "send to a world-writable bus directory: exit 8"
run m recv q
is_error 8 "recv from it: exit 8"
chmod 0770 "$BUS"
run m send q evil
is_error 8 "send to a group-writable bus directory: exit 8"
chmod 0700 "$BUS"
is "$(queue_field q ready)" 3 "once the mode is 0700 again all messages are there"

mkdir -m 0777 "$TEST_DIR/ww"
chmod 0777 "$TEST_DIR/ww" # against a umask
run "$MUSTER_BIN" --bus "$TEST_DIR/ww" send q x
is_error 8 "a new bus in a world-writable directory: exit 8"
[ ! -e "$TEST_DIR/ww/store.mdb" ]
ok $? "... and no store is created there"

# --- owned by another user -------------------------------------------------------------------
if [ "$(id -u)" -eq 0 ]; then
	mkdir -m 0700 "$TEST_DIR/foreign"
	chown 65534 "$TEST_DIR/foreign"
	run "$MUSTER_BIN" --bus "$TEST_DIR/foreign" send q x
	is_error 8 "a bus directory owned by another user (uid 65534): exit 8"
	[ ! -e "$TEST_DIR/foreign/store.mdb" ]
	ok $? "... and no store is created there"
	cp -a "$BUS" "$TEST_DIR/stolen"
	chown -R 65534 "$TEST_DIR/stolen"
	run "$MUSTER_BIN" --bus "$TEST_DIR/stolen" recv q
	is_error 8 "an existing bus now owned by another user: exit 8"
	is "$(stat -c %s "$OUT_FILE")" 0 "... delivers nothing"
else
	skip "not root: cannot make a directory owned by another user" 4
fi

# --- not a directory, missing parent --------------------------------------------------------
printf 'x' >"$TEST_DIR/file"
run "$MUSTER_BIN" --bus "$TEST_DIR/file" send q x
is_error 8 "a bus path that is a regular file: exit 8"
is "$(cat "$TEST_DIR/file")" x "... the file is left alone"
run "$MUSTER_BIN" --bus "$TEST_DIR/no/such/bus" send q x
is_error 3 "a bus path whose parent does not exist: exit 3"
[ ! -e "$TEST_DIR/no" ]
ok $? "... and nothing is created"
run "$MUSTER_BIN" --bus "$TEST_DIR/no/such/bus" doctor --json
is "$rc/$(jget "$out" bus.exists)" "0/false" "doctor --json there reports that the bus does not exist"

# --- the store's files replaced by symlinks ---------------------------------------------------
for f in bus.conf store.mdb store.mdb-lock wake; do
	rm -rf "$TEST_DIR/linked" "$TEST_DIR/real"
	cp -a "$BUS" "$TEST_DIR/linked"
	mv "$TEST_DIR/linked/$f" "$TEST_DIR/real"
	ln -s "$TEST_DIR/real" "$TEST_DIR/linked/$f"
	sum=$(md5sum <"$TEST_DIR/real")
	run "$MUSTER_BIN" --bus "$TEST_DIR/linked" send q x
	is_error 8 "a bus whose $f is a symlink: exit 8"
	is "$(md5sum <"$TEST_DIR/real")" "$sum" "... and the file it points to is not written"
done

# --- everything is still there -----------------------------------------------------------------
run m recv q --count 10 --ack --payload
is "$rc/$out" "0/m1m2m3" "every message sent before is received and acked"
