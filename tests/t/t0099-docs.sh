#!/usr/bin/env bash
# t0099 - the documentation tells the truth about the command: every command and
# option of `muster --help` is in muster(1), and every exit code of --help is there too.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
man=$(dirname "$0")/../../docs/muster.1
plan 3
help=$("$MUSTER_BIN" --help)
text=$(sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' "$man")
missing=""
n=0
for c in $(printf '%s\n' "$help" | sed -n 's/^  muster \([a-z]*\).*/\1/p'); do
	n=$((n + 1))
	grep -qE "^\.B $c( |$)|^\.B \"?$c" <<<"$text" || grep -qE "(^|[ .])$c " <<<"$text" || missing="$missing $c"
done
is "$missing/$((n >= 15))" "/1" "every command of --help ($n) is in muster(1)"
missing=""
for o in $(printf '%s\n' "$help" | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
	grep -qF -- "$o" <<<"$text" || missing="$missing $o"
done
is "$missing" "" "every option of --help is in muster(1)"
missing=""
for code in $(printf '%s\n' "$help" | grep -oE '[0-9]+ [a-z]' | cut -d' ' -f1); do
	grep -qE "^\.B $code$" <<<"$text" || missing="$missing $code"
done
is "$missing" "" "every exit code of --help is in muster(1)"
