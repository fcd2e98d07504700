# shellcheck shell=bash
# examples/agent-lib.sh - shared by examples/pool/agent.sh and examples/bus/agent.sh
# (sourced, not run, with LC_ALL=C: bytes, not characters): how they read a task's JSON
# with sed, decode its payload, and write their reply.
#
#   protect, restore_json, restore_printf   sed scripts (below)
#   json_text    standard input (any bytes) as the inside of a JSON string
#   payload      the bytes of the payload in hand ($b64, else $esc), decoded
#   answer       the reply to the task in hand ($id, $b64, $esc, $served), one line
#                without its newline
#
# shellcheck disable=SC2034,SC2154 # the variables are the agents'

# Reading a task. Its data is compact JSON with every control character escaped, so the
# bytes 01 and 02 never occur in it. `protect` turns \\ into 01 and \" into 02: what is
# left has a '"' only where a string starts or ends, so [^"]* is the whole inside of a
# string, and "id":" can only match the key, never text inside the payload. (sed, not
# bash's own pattern matching: ${line##*...} takes minutes on a line of 1 MB.)
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

# answer: the reply to the task in hand, on standard output, without a newline:
#   {"id":"7","status":"ok","output":{"bytes":11,"lines":0,"sha256":"b94d27b9…",
#    "upper":"HELLO WORLD","agent":4242,"served":3}}
# "upper_b64" in place of "upper" for a payload that came as payload_b64; a failed
# reply for an empty payload. The id goes back as it came, still escaped. Returns
# non-zero if a command fails on the way (whether or not errexit holds where it runs).
answer()
{
	local bytes lines sum upper
	if ! bytes=$(payload | wc -c); then # bad base64: cannot be, from muster
		printf '{"id":"%s","error":"bad payload_b64"}' "$id"
		return
	fi
	if [ "$bytes" -eq 0 ]; then
		printf '{"id":"%s","error":"empty payload","exit_code":2}' "$id"
		return
	fi
	lines=$(payload | wc -l) || return
	sum=$(payload | sha256sum) || return
	if [ -n "$b64" ]; then
		# bytes that are not UTF-8 cannot go in a JSON text: send them in base64
		upper="\"upper_b64\":\"$(payload | tr '[:lower:]' '[:upper:]' | base64 -w0)\"" || return
	else
		upper="\"upper\":\"$(payload | tr '[:lower:]' '[:upper:]' | json_text)\"" || return
	fi
	printf '{"id":"%s","status":"ok","output":{"bytes":%d,"lines":%d,"sha256":"%s",%s,"agent":%d,"served":%d}}' \
		"$id" "$bytes" "$lines" "${sum%% *}" "$upper" "$$" "$served"
}
