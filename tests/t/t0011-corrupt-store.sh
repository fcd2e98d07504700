#!/usr/bin/env bash
# t0011 - a corrupted store: store.mdb truncated, removed or scribbled on, bus.conf
# garbage, the wake file cut short. Each gives one line on stderr and exit 8, never a
# crash (an exit code of 128+N would be a signal), and the damaged files are not
# "repaired" behind the user's back; a garbage lock file is recovered from.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
plan 39
ulimit -c 0
# a small store: it is copied for every case
export MUSTER_QUOTA=$((8 << 20))

seq 1 2000 | m send --batch q >/dev/null
m kv set k v >/dev/null
m pub t entry >/dev/null
is "$(queue_field q ready)" 2000 "a bus with 2000 messages, a key and a topic entry"

# fresh DIR: a copy of the good bus to damage
fresh()
{
	rm -rf "$TEST_DIR/c"
	cp -a "$BUS" "$TEST_DIR/c"
	C=$TEST_DIR/c
}

# refused WHAT: send, recv and stats on $C fail with exit 8, one line each, and the
# store file is not modified
refused()
{
	local before after cmd codes=""
	before=$(md5sum "$C"/store.mdb "$C"/bus.conf 2>/dev/null)
	for cmd in "send q x" "recv q" "stats"; do
		# shellcheck disable=SC2086 # a command and its arguments
		run timeout 10 "$MUSTER_BIN" --bus "$C" $cmd
		codes="$codes $rc/$(wc -l <"$ERR_FILE")"
	done
	is "$codes" " 8/1 8/1 8/1" "$1: send, recv, stats exit 8 with one line"
	like "$err" '^muster: .*(corrupt|version)' "... saying the store is corrupt"
	after=$(md5sum "$C"/store.mdb "$C"/bus.conf 2>/dev/null)
	is "$after" "$before" "... and the damaged files are left as they were"
}

fresh
truncate -s 4096 "$C/store.mdb"
refused "store.mdb truncated to 4 KiB"
run "$MUSTER_BIN" --bus "$C" doctor --json
is "$rc/$(json_obj "$out")" "0/" "doctor --json on it: exit 0, one JSON object"
like "$(jget "$out" bus.error)" "corrupt" "... reporting the store as corrupt"

fresh
truncate -s 0 "$C/store.mdb"
refused "store.mdb truncated to 0 bytes"

fresh
rm "$C/store.mdb"
refused "store.mdb removed"
[ ! -e "$C/store.mdb" ]
ok $? "... and no empty store is made in its place"

fresh
truncate -s $((16 << 20)) "$C/store.mdb"
refused "store.mdb grown behind the bus's back"

fresh
python3 -c 'import random, sys; random.seed(1); sys.stdout.buffer.write(random.randbytes(62))' >"$C/bus.conf"
refused "bus.conf full of garbage"

fresh
: >"$C/bus.conf"
refused "bus.conf empty"

fresh
sed -i 's/^format=.*/format=99/' "$C/bus.conf"
run "$MUSTER_BIN" --bus "$C" send q x
is_error 8 "bus.conf of an unknown format: exit 8"
like "$err" "unsupported version" "... saying the version is unsupported"

fresh
sed -i 's/^quota=.*/quota=4096/' "$C/bus.conf"
refused "bus.conf with a quota that does not match the store"

fresh
python3 -c 'import random, sys; random.seed(2); sys.stdout.buffer.write(random.randbytes(8192))' |
	dd of="$C/store.mdb" bs=8192 count=1 conv=notrunc status=none
refused "the first 8 KiB of store.mdb overwritten with garbage"

fresh
dd if=/dev/zero of="$C/store.mdb" bs=8192 count=1 conv=notrunc status=none
refused "the first 8 KiB of store.mdb zeroed"

fresh
truncate -s 100 "$C/wake"
run "$MUSTER_BIN" --bus "$C" send q x
is_error 8 "the wake file cut short: exit 8"

# the lock file is rebuilt by the first opener: garbage there loses nothing
fresh
python3 -c 'import random, sys; random.seed(3); sys.stdout.buffer.write(random.randbytes(65536))' |
	dd of="$C/store.mdb-lock" conv=notrunc status=none
run "$MUSTER_BIN" --bus "$C" queue q --json
is "$rc/$(jget "$out" ready)" "0/2000" "garbage in store.mdb-lock: the bus still opens with its 2000 messages"

# data pages scribbled on: LMDB has no checksums, so some damage goes unnoticed; but no
# command may crash or hang on it
for pattern in zero ones random; do
	if [ -n "${MUSTER_SANITIZED:-}" ]; then
		# LMDB's own reads of garbage are reported by the sanitizer before muster's
		# handler runs; the plain build checks muster's handling of them
		skip "scribbled data pages ($pattern): checked in the plain build, not under sanitizers"
		continue
	fi
	crashes=""
	for page in 2 3 5 10 20 40; do
		fresh
		case $pattern in
		zero) head -c 16384 /dev/zero ;;
		ones) head -c 16384 /dev/zero | tr '\0' '\377' ;;
		random) python3 -c 'import random, sys; random.seed(int(sys.argv[1])); sys.stdout.buffer.write(random.randbytes(16384))' "$page" ;;
		esac | dd of="$C/store.mdb" bs=4096 seek="$page" conv=notrunc status=none
		for cmd in "recv q --count 5000" "peek q --count 5000" "send q x" "queues" "stats" "kv list" "sub t"; do
			# shellcheck disable=SC2086 # a command and its arguments
			# (in a subshell: the shell's own "Segmentation fault" notice stays out)
			(timeout 10 "$MUSTER_BIN" --bus "$C" $cmd >/dev/null 2>"$ERR_FILE") 2>/dev/null
			st=$?
			if [ "$st" -ge 124 ] || [ "$(wc -l <"$ERR_FILE")" -gt 1 ]; then
				crashes="$crashes [page $page: '$cmd' exit $st: $(head -c 200 "$ERR_FILE" | tr '\n' ' ')]"
			fi
		done
	done
	is "$crashes" "" "pages 2-40 of store.mdb scribbled on ($pattern): no command crashes or hangs"
done

# the original bus was never touched
run m recv q --count 5000 --ack
is "$rc/$(wc -l <"$OUT_FILE")" "0/2000" "the undamaged bus still delivers its 2000 messages"
