#!/usr/bin/env bash
# examples/build-fanout/step.sh DIR STEP - one build step of the fan-out, run by
# `muster run` once per task: STEP (the task's payload) is "cc UNIT", which compiles
# DIR/src/UNIT.c into DIR/obj/UNIT.o, or "link", which links every DIR/obj/*.o into
# DIR/fanout. CC and CFLAGS choose the compiler and its flags (default cc, -O2).
set -euo pipefail

[ $# -eq 2 ] || {
	echo "usage: step.sh DIR 'cc UNIT'|link" >&2
	exit 64
}
dir=$1
step=$2
cc=${CC:-cc}
read -ra flags <<<"${CFLAGS:--O2}"

case $step in
"cc "*)
	unit=${step#cc }
	[[ $unit =~ ^[A-Za-z0-9_]+$ ]] || {
		echo "step.sh: bad unit name '$unit'" >&2
		exit 64
	}
	"$cc" "${flags[@]}" -I"$dir/src" -c "$dir/src/$unit.c" -o "$dir/obj/$unit.o"
	echo "compiled $unit.o"
	;;
link)
	objs=("$dir"/obj/*.o)
	"$cc" -o "$dir/fanout" "${objs[@]}"
	echo "linked fanout from ${#objs[@]} objects"
	;;
*)
	echo "step.sh: unknown step '$step'" >&2
	exit 64
	;;
esac
