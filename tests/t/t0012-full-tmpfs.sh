#!/usr/bin/env bash
# t0012 - a full bus and a full tmpfs, on a private 16 MB tmpfs mounted in a private
# mount namespace (unshare -m; needs root). A full quota makes send fail with exit 6
# "bus is full" and keeps every message sent before; a full file system never turns
# into a crash (SIGBUS), and a new bus there fails with exit 6.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

if [ -z "${MUSTER_T_NS:-}" ]; then
	[ "$(id -u)" -eq 0 ] || skip_all "not root: mounting a tmpfs needs root"
	command -v unshare >/dev/null || skip_all "unshare is not installed"
	unshare -m true 2>/dev/null || skip_all "unshare -m is not permitted here"
	# again, in a mount namespace of our own: the tmpfs we mount is seen by no one else
	t_release
	MUSTER_T_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi

plan 28
ulimit -c 0
MNT=$TEST_DIR/mnt
mkdir "$MNT"
unmount()
{
	umount -l "$MNT" 2>/dev/null
}
at_exit unmount
if ! mount -t tmpfs -o size=16m,mode=0700 tmpfs "$MNT" 2>"$ERR_FILE"; then
	fail "mount a 16 MB tmpfs in a private namespace" "$(cat "$ERR_FILE")"
	skip "no tmpfs" 27
	exit
fi
pass "a private 16 MB tmpfs is mounted"
BUS=$MNT/bus
export MUSTER_QUOTA=$((4 << 20))
line=$(head -c 1000 /dev/zero | tr '\0' x)
: >"$TEST_DIR/ids"

# --- fill the bus's quota ------------------------------------------------------------------------
run m send q first
is "$rc" 0 "a bus with MUSTER_QUOTA=4 MiB on the tmpfs"
echo "$out" >>"$TEST_DIR/ids"
is "$(stat -c %s "$BUS/store.mdb")" $((4 << 20)) "... its store is 4 MiB"

yes "$line" | head -n 100 >"$TEST_DIR/batch"
for i in $(seq 1 100); do
	"$MUSTER_BIN" --bus "$BUS" send --batch --batch-size 100 q <"$TEST_DIR/batch" >>"$TEST_DIR/ids" 2>"$ERR_FILE"
	rc=$?
	[ "$rc" -eq 0 ] || break
done
err=$(<"$ERR_FILE")
is_error 6 "batches of 100 x 1000 bytes until the quota is reached: exit 6 (after $i batches)"
like "$err" "bus is full" "... saying the bus is full"
for i in $(seq 1 200); do
	"$MUSTER_BIN" --bus "$BUS" send q "$line" >>"$TEST_DIR/ids" 2>"$ERR_FILE"
	rc=$?
	[ "$rc" -eq 0 ] || break
done
err=$(<"$ERR_FILE")
is_error 6 "then single sends until that fails too: exit 6 (after $((i - 1)) more)"
like "$err" "bus is full" "... saying the bus is full"
sent=$(wc -l <"$TEST_DIR/ids")
cmp_ok "$sent" -ge 2000 "about 4 MB of messages went in ($sent)"
t0=$(now_ms)
run m send q "$line" --wait 300ms
t1=$(now_ms)
is_error 6 "send --wait 300ms on a full bus: exit 6"
cmp_ok $((t1 - t0)) -ge 250 "... after waiting ($((t1 - t0)) ms)"
run m stats --json
is "$rc/$(jget "$out" ready)" "0/$sent" "stats on the full bus: every message sent is there"
run m doctor --json
is "$rc/$(json_obj "$out")" "0/" "doctor --json works on the full bus"

# --- everything sent is receivable and can be acked ------------------------------------------------
# a consumer drains the queue: recv --count 1000 --ack until nothing is left
codes=""
: >"$TEST_DIR/got"
for i in $(seq 1 100); do
	m recv q --count 1000 --ack >>"$TEST_DIR/got" 2>"$ERR_FILE"
	rc=$?
	codes="$codes $rc"
	[ "$rc" -eq 0 ] || break
done
err=$(<"$ERR_FILE")
like "$codes/$err" '^( 0)+ 1/$' "recv --count 1000 --ack on the full bus succeeds until the queue is empty ($i calls)"
cut -f1 "$TEST_DIR/got" | sort >"$TEST_DIR/got.ids"
sort "$TEST_DIR/ids" | cmp -s - "$TEST_DIR/got.ids"
ok $? "... every message sent before the bus was full is received, once ($(wc -l <"$TEST_DIR/got.ids") of $sent)"
is "$(queue_field q acked)/$(queue_field q ready)/$(queue_field q leased)" "$sent/0/0" "... and acknowledged"
run m send q after
is "$rc" 0 "after the acks there is room again"
m recv q --ack >/dev/null

# --- fill the file system itself ----------------------------------------------------------------------
BUS2=$MNT/bus2
unset MUSTER_QUOTA
run "$MUSTER_BIN" --bus "$BUS2" send q before-fill
is "$rc" 0 "a second bus with the default quota"
b2=$out
dd if=/dev/zero of="$MNT/filler" bs=64k status=none 2>/dev/null
is "$(df --output=avail -B1 "$MNT" | tail -n1 | tr -d ' ')" 0 "the tmpfs is filled to the last byte"

codes=""
for i in $(seq 1 30); do
	"$MUSTER_BIN" --bus "$BUS" send q "$line" >>"$TEST_DIR/ids2" 2>"$ERR_FILE"
	st=$?
	[ "$st" -eq 0 ] || [ "$st" -eq 6 ] || codes="$codes $st"
	"$MUSTER_BIN" --bus "$BUS2" send q "$line" >>"$TEST_DIR/ids3" 2>"$ERR_FILE"
	st=$?
	[ "$st" -eq 0 ] || [ "$st" -eq 6 ] || codes="$codes $st"
done
is "$codes" "" "sends to both buses on the full tmpfs succeed or exit 6, never crash (no SIGBUS)"
n2=$(wc -l <"$TEST_DIR/ids2")
run m recv q --count 1000 --ack
is "$rc/$(wc -l <"$OUT_FILE")" "0/$n2" "the messages sent to the first bus on the full tmpfs are all received"
run "$MUSTER_BIN" --bus "$BUS2" recv q --json
is "$rc/$(jget "$out" id)" "0/$b2" "the second bus still delivers what was sent before the fill"
"$MUSTER_BIN" --bus "$BUS2" ack "$b2"
is "$?" 0 "... and acks it"
run "$MUSTER_BIN" --bus "$BUS2" kv set k v
cmp_ok "$rc" -lt 128 "kv set on the full tmpfs does not crash (exit $rc)"
run "$MUSTER_BIN" --bus "$BUS2" pub t x
cmp_ok "$rc" -lt 128 "pub on the full tmpfs does not crash (exit $rc)"

# --- a new bus on the full tmpfs --------------------------------------------------------------------
run "$MUSTER_BIN" --bus "$MNT/bus3" send q x
is_error 6 "a new bus on the full tmpfs: exit 6"
like "$err" "full" "... saying it is full"
run "$MUSTER_BIN" --bus "$MNT/bus3" doctor --json
is "$rc/$(json_obj "$out")" "0/" "doctor --json still reports there"

rm -f "$MNT/filler"
run "$MUSTER_BIN" --bus "$MNT/bus3" send q x
is "$rc" 0 "once space is freed the new bus is created"
