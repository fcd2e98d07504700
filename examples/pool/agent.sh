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

# Reading a request. muster writes it compact, "id" first and the payload last, and
# escapes every control character, so the bytes 01 and 02 never occur on the line.
# `protect` turns \\ into 01 and \" into 02: what is left has a '"' only where a string
# starts or ends, so [^"]* is the whole inside of a string. (sed, not bash's own
# pattern matching: ${line##*...} takes minutes on a line of 1 MB.)
protect='s/\\\\/\x01/g; s/\\"/\x02/g'
restore_json='s/\x01/\\\\/g; s/\x02/\\"/g' # back to JSON escapes
restore_printf='s/\x01/\\\\/g; s/\x02/\\x22/g' # to printf %b's escapes (it has no \")

# Writing a reply. json_text: standard input (any bytes) as the inside of a JSON string:
# \\ \" \b \f \n \r \t, and \u00XX for every other byte below 0x20 (NUL included).
# One sed pass in lines for everything but the newlines, one with -z (the input has no
# NUL left by then) that escapes the newlines.
json_esc='s/\\/\\\\/g; s/"/\\"/g; s/\x08/\\b/g; s/\t/\\t/g; s/\x0c/\\f/g; s/\r/\\r/g'
for ((c = 0; c < 32; c++)); do
	case $c in 8 | 9 | 10 | 12 | 13) continue ;; esac
	printf -v hex '%02X' "$c"
	json_esc+="; s/\\x$hex/\\\\u00$hex/g"
done
json_text()
{
	sed "$json_esc" | sed -z 's/\n/\\n/g'
}

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

# payload: writes the payload's bytes, decoded (to a pipe: a bash variable cannot hold
# NUL bytes, a file would be left behind by an agent that muster kills)
payload()
{
	if [ -n "$b64" ]; then
		base64 -d <<<"$b64"
	else
		printf '%b' "$esc"
	fi
}

served=0
echo "pool agent $$ (slot ${MUSTER_AGENT:-?} of run ${MUSTER_RUN:-?}) ready" >&2
while IFS= read -r line; do
	# the id goes back as it came, still escaped: it stays valid JSON
	id=$(sed -e "$protect" -e 's/^{"id":"\([^"]*\)".*/\1/' -e "$restore_json" <<<"$line")
	# exactly one of "payload" and "payload_b64" is there
	b64=$(sed -n -e "$protect" -e 's/.*,"payload_b64":"\([^"]*\)".*/\1/p' <<<"$line")
	esc=$(sed -n -e "$protect" -e 's/.*,"payload":"\([^"]*\)".*/\1/p' <<<"$line" |
		sed "$restore_printf")
	pretend_work
	served=$((served + 1))
	if ! bytes=$(payload | wc -c); then # bad base64: cannot be, from muster
		printf '{"id":"%s","error":"bad payload_b64"}\n' "$id"
		continue
	fi
	if [ "$bytes" -eq 0 ]; then
		printf '{"id":"%s","error":"empty payload","exit_code":2}\n' "$id"
		continue
	fi
	lines=$(payload | wc -l)
	sum=$(payload | sha256sum)
	if [ -n "$b64" ]; then
		# bytes that are not UTF-8 cannot go in a JSON text: send them in base64
		upper="\"upper_b64\":\"$(payload | tr '[:lower:]' '[:upper:]' | base64 -w0)\""
	else
		upper="\"upper\":\"$(payload | tr '[:lower:]' '[:upper:]' | json_text)\""
	fi
	reply=$(printf '{"id":"%s","status":"ok","output":{"bytes":%d,"lines":%d,"sha256":"%s",%s,"agent":%d,"served":%d}}' \
		"$id" "$bytes" "$lines" "${sum%% *}" "$upper" "$$" "$served")
	if [ "${#reply}" -ge "$max_line" ]; then # a longer line would be garbage
		reply=$(printf '{"id":"%s","error":"reply of %d bytes: over the limit of 4 MiB"}' "$id" "${#reply}")
	fi
	printf '%s\n' "$reply"
done
echo "pool agent $$ served $served tasks" >&2
