#!/usr/bin/env bash
# examples/bus/agent.sh - a long-lived agent for `muster run --mode bus`, following the
# "Bus mode" section of docs/pool-protocol.md: instead of being handed its tasks, it
# takes them from the bus itself, one at a time:
#
#   muster recv "$MUSTER_QUEUE"      a task message: ID<TAB>{"n":6,"id":"7","payload":"…",…}
#   (work)
#   muster send "$MUSTER_REPLIES"    a reply, as in pool mode: {"id":"7","status":"ok",…}
#   muster ack ID                    then, and only then, the task message is done
#
# The work is that of examples/pool/agent.sh: the reply's output is
#   {"bytes":11,"lines":0,"sha256":"b94d27b9…","upper":"HELLO WORLD","agent":4242,"served":3}
# with "upper_b64" in place of "upper" for a payload that came as payload_b64 (not
# UTF-8); "agent" is this process's pid (a result of bus mode has none of its own) and
# "served" the number of tasks it has answered, this one included. An empty payload
# gets a failed reply, {"id":"7","error":"empty payload","exit_code":2}.
#
#   muster run --mode bus --agents 4 --tasks tasks.txt -- examples/bus/agent.sh
#
# muster sets MUSTER_BUS, MUSTER_QUEUE and MUSTER_REPLIES; the agent runs until muster
# ends it (SIGTERM at the end of the run). Its standard output and error go to a file
# muster keeps. Environment: MUSTER  the muster binary (default: `muster` on PATH).
# Needs bash >= 4.2 (printf %b with \u), GNU sed and coreutils (base64, sha256sum, tr,
# wc).
set -euo pipefail
export LC_ALL=C # bytes, not characters: sed and tr see every byte, UTF-8 or not
muster=${MUSTER:-muster}

# protect, restore_json, restore_printf, json_text, payload and answer: the parts it
# shares with examples/pool/agent.sh (the work and the reply are the same)
# shellcheck source=SCRIPTDIR/../agent-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../agent-lib.sh"

# field NAME: the inside of the string NAME of the task ($task), still escaped
field()
{
	sed -n -e "$protect" -e "s/.*[{,]\"$1\":\"\\([^\"]*\\)\".*/\\1/p" <<<"$task"
}

served=0
echo "bus agent $$ (slot ${MUSTER_AGENT:-?} of run ${MUSTER_RUN:-?}) ready" >&2
while :; do
	# the lease belongs to this script (the caller of muster recv): were it to die with
	# the task, the task would go to another agent. Without --timeout the run's lease
	# is long; with it, the lease is the timeout.
	rc=0
	line=$("$muster" recv "$MUSTER_QUEUE" --wait 5s) || rc=$?
	case $rc in
	0) ;;
	1) continue ;; # nothing yet
	*)
		echo "bus agent $$: muster recv failed (exit $rc)" >&2
		exit "$rc"
		;;
	esac
	msg=${line%%$'\t'*} # ID<TAB>DATA: the message's id, then the task
	task=${line#*$'\t'}
	id=$(field id | sed "$restore_json") # copied back as it came, still escaped
	b64=$(field payload_b64)
	esc=$(field payload | sed "$restore_printf")
	served=$((served + 1))
	# the reply first, on standard input (an argument is at most 128 KiB), then the ack:
	# a task acknowledged without a reply counts as lost
	src=0
	answer | "$muster" send "$MUSTER_REPLIES" >/dev/null || src=$?
	if [ "$src" -eq 7 ]; then # too large for a message (1 MiB)
		printf '{"id":"%s","error":"reply over the size of a message"}' "$id" |
			"$muster" send "$MUSTER_REPLIES" >/dev/null
	elif [ "$src" -ne 0 ]; then
		# dying releases the lease: the task goes to another agent, and muster starts
		# another agent in this one's place
		echo "bus agent $$: muster send failed (exit $src) on task $id" >&2
		exit "$src"
	fi
	# exit 4 (not held): the lease ran out before the ack, and the task went to another
	# agent; muster records one result per task, whichever reply comes first
	"$muster" ack "$msg" >/dev/null || echo "bus agent $$: ack of task $id failed" >&2
done
