#!/usr/bin/env bash
# examples/pool/agent.sh - a long-lived agent for `muster run --mode pool`, speaking the
# protocol of docs/pool-protocol.md: one request line per task on standard input,
#   {"id":"7","n":6,"attempt":1,"run":"r1","payload":"hello world"}
# (or "payload_b64" instead of "payload" when the payload is not UTF-8), answered with
# one reply line on standard output,
#   {"id":"7","status":"ok","output":{"bytes":11,"lines":0,"sha256":"b94d27b9…",
#    "upper":"HELLO WORLD","agent":4242,"served":3}}
# where "upper" is the payload upper-cased (ASCII letters only), or "upper_b64", the
# upper-cased bytes in base64, for a payload that came as payload_b64; "agent" is this
# process's pid and "served" the number of tasks it has answered, this one included.
# An empty payload gets a failed reply, {"id":"7","error":"empty payload","exit_code":2}.
#
#   muster run --mode pool --agents 4 --heartbeat 5s --tasks tasks.txt -- examples/pool/agent.sh
#
# The point of a pool: the agent starts once and then serves many tasks, so the cost
# of starting it (an interpreter, a model loaded into memory, a warm cache) is paid
# once per agent rather than once per task.
#
# Environment: AGENT_DELAY  seconds of pretend work per task (default 0), with a
#                           heartbeat line after each second, {"heartbeat":true,
#                           "progress":{"done":1,"of":3}}: run with --heartbeat 2s
#                           and this agent is never taken for a hung one
# Standard output carries protocol lines only; the log goes to standard error. Needs
# bash >= 4.2 (printf %b with \u), GNU sed and coreutils (base64, sha256sum, tr, wc).
set -euo pipefail
export LC_ALL=C # bytes, not characters: sed and tr see every byte, UTF-8 or not

delay=${AGENT_DELAY:-0}
case $delay in '' | *[!0-9]*) delay=0 ;; esac
max_line=4194304 # the longest reply muster takes (bytes before the newline)

# protect, restore_json, restore_printf, json_text, payload and answer: the parts it
# shares with examples/bus/agent.sh (the work and the reply are the same)
# shellcheck source=SCRIPTDIR/../agent-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../agent-lib.sh"

# heartbeats while "working"; printf is a builtin that writes each line at once, so
# nothing needs flushing, and lines are never mixed: this runs before the reply
pretend_work()
{
	local s
	for ((s = 1; s <= delay; s++)); do
		sleep 1
		printf '{"heartbeat":true,"progress":{"done":%d,"of":%d}}\n' "$s" "$delay"
	done
}

served=0
echo "pool agent $$ (slot ${MUSTER_AGENT:-?} of run ${MUSTER_RUN:-?}) ready" >&2
while IFS= read -r line; do
	# muster writes a request compact, "id" first and the payload last; the id goes back
	# as it came, still escaped: it stays valid JSON
	id=$(sed -e "$protect" -e 's/^{"id":"\([^"]*\)".*/\1/' -e "$restore_json" <<<"$line")
	# exactly one of "payload" and "payload_b64" is there
	b64=$(sed -n -e "$protect" -e 's/.*,"payload_b64":"\([^"]*\)".*/\1/p' <<<"$line")
	esc=$(sed -n -e "$protect" -e 's/.*,"payload":"\([^"]*\)".*/\1/p' <<<"$line" |
		sed "$restore_printf")
	pretend_work
	served=$((served + 1))
	reply=$(answer)
	if [ "${#reply}" -ge "$max_line" ]; then # a longer line would be garbage
		reply=$(printf '{"id":"%s","error":"reply of %d bytes: over the limit of 4 MiB"}' "$id" "${#reply}")
	fi
	printf '%s\n' "$reply"
done
echo "pool agent $$ served $served tasks" >&2
