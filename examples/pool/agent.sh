#!/usr/bin/env bash
# examples/pool/agent.sh - a long-lived agent for `muster run --mode pool`.
#
# NEEDS --mode pool, which is not in muster yet; the wire protocol will be specified in
# docs/pool-protocol.md. This script assumes the shape the design gives (one JSON line
# per task on standard input, one reply line per task on standard output) with these
# fields: in {"id":"…","payload":"…",…}, out {"id":"…","status":"ok"|"failed",
# "output":"…"}. Check it against docs/pool-protocol.md before use. It is not tested.
#
# The point of a pool: the agent starts once and then serves many tasks, so the cost
# of starting it (an interpreter, a model loaded into memory, a warm cache) is paid
# once per agent rather than once per task. Here the "work" is counting the words and
# bytes of the payload and upper-casing it.
#
#   muster run --mode pool --agents 4 --tasks tasks.txt -- examples/pool/agent.sh
#
# Anything the agent wants to log goes to standard error: standard output carries
# the protocol only, one line per task.
set -euo pipefail

# json_escape S: S as the inside of a JSON string
json_escape()
{
	local s=$1
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\n'/\\n}
	s=${s//$'\r'/\\r}
	s=${s//$'\t'/\\t}
	printf '%s' "$s"
}

# json_field LINE NAME: the value of the string field NAME of the JSON object LINE
# (decoding \" \\ \n \t; enough for this example, not a JSON parser)
json_field()
{
	local rest=${1#*\""$2"\":\"} out="" c
	[ "$rest" != "$1" ] || return 1
	while [ -n "$rest" ]; do
		c=${rest:0:1}
		rest=${rest:1}
		case $c in
		'"') break ;;
		\\)
			c=${rest:0:1}
			rest=${rest:1}
			case $c in
			n) out+=$'\n' ;;
			t) out+=$'\t' ;;
			r) out+=$'\r' ;;
			*) out+=$c ;;
			esac
			;;
		*) out+=$c ;;
		esac
	done
	printf '%s' "$out"
}

served=0
echo "pool agent $$ ready" >&2
while IFS= read -r line; do
	[ -n "$line" ] || continue
	id=$(json_field "$line" id) || id=""
	if ! payload=$(json_field "$line" payload); then
		printf '{"id":"%s","status":"failed","output":"no payload"}\n' "$(json_escape "$id")"
		continue
	fi
	words=$(wc -w <<<"$payload")
	out="${payload^^} ($((words)) words, ${#payload} characters; agent $$, task $((served + 1)))"
	printf '{"id":"%s","status":"ok","output":"%s"}\n' "$(json_escape "$id")" "$(json_escape "$out")"
	served=$((served + 1))
done
echo "pool agent $$ served $served tasks" >&2
