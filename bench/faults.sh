#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2086,SC2046 # the agent script is for its own shell; pid lists split on purpose
# bench/faults.sh - muster run under faults, counted per task id.
#
#   bench/faults.sh [--tasks N] [--agents N] [--coordinators C] [--scenario NAME]...
#
# Each scenario runs N short tasks (default 10,000) on --agents agents (default 100)
# through C coordinators (default 4) and, about a third of the way in, does its fault:
#   coord1   kill -9 one coordinator
#   coord2   kill -9 two coordinators at once
#   master   kill -9 the master, with a standby (muster run --standby) waiting
#   heir     kill -9 the master, no standby: a coordinator starts one that carries
#            the run on (its results in runs/R/results.PID.jsonl)
#   sigstop  SIGSTOP a worker past its task's timeout (2 s; the task has a retry)
#   all      kill -9 the whole tree, then muster run --resume
# and then checks the results by task id: every id reported exactly once (from the
# output of whoever carried the run to its end), all ok, and `muster results` agrees.
# Recovery, from the fault to work resumed:
#   coord*   the replacements registered, the first task they started, and the
#            dead coordinators' tasks started again: whichever came last
#   master   the standby's takeover (run.R.meta takeover_ms) after the kill
#   heir     the takeover by the master a coordinator started, after the kill
#   sigstop  the stopped task's next attempt started, less the timeout
#   all      the resumed master's takeover after the kill (the kill to --resume gap
#            is the operator's and is subtracted)
# Prints one JSON object per scenario, and a table on stderr. Exit 0 when every
# scenario lost nothing and duplicated nothing.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
M=${MUSTER:-$here/build/muster}
tasks=10000 agents=100 coords=4 scenarios=()
while [ $# -gt 0 ]; do
	case "$1" in
	--tasks) tasks=$2; shift 2 ;;
	--agents) agents=$2; shift 2 ;;
	--coordinators) coords=$2; shift 2 ;;
	--scenario) scenarios+=("$2"); shift 2 ;;
	*) echo "faults.sh: unknown option '$1'" >&2; exit 2 ;;
	esac
done
[ ${#scenarios[@]} -gt 0 ] || scenarios=(coord1 coord2 master heir sigstop all)
[ -x "$M" ] || { echo "faults.sh: no muster at $M (make first)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "faults.sh: needs python3" >&2; exit 2; }

now_ms() { date +%s%3N; }

# ps --json of run $2 on bus $1, as "pid role" lines
procs() {
	"$M" --bus "$1" ps --json | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    if p.get("run") == sys.argv[1]:
        print(p["pid"], p["role"], p.get("coordinator", 0))' "$2"
}

# the state of run $2 on bus $1 (run.R.meta)
state() {
	"$M" --bus "$1" kv get "run.$2.meta" 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin).get("state", ""))'
}

# waits until file $1 has at least $2 lines (at most 60 s)
wait_lines() {
	local i
	for ((i = 0; i < 6000; i++)); do
		[ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ] && return 0
		sleep 0.01
	done
	return 1
}

fail=0
printf '%-8s %7s %7s %5s %5s %5s %10s %10s\n' scenario tasks ok lost dup fail recovery target >&2
for sc in "${scenarios[@]}"; do
	bus=$(mktemp -d /dev/shm/muster-faults-XXXXXX)
	replaced_ms=0 resume_ms=0 stopped_task=
	run=f$sc
	seq 1 "$tasks" >"$bus/tasks"
	extra=()
	# the agents: a trivial program; its output is the payload (for sigstop, one that
	# lives long enough to be caught)
	agent=(/bin/echo '{}')
	if [ "$sc" = sigstop ]; then
		extra=(--timeout 2s --retries 1)
		agent=(sh -c 'sleep 0.05; echo "$1"' sh '{}')
	fi
	"$M" --bus "$bus" run --run "$run" --agents "$agents" --coordinators "$coords" \
		--tasks "$bus/tasks" "${extra[@]}" --quiet -- "${agent[@]}" \
		>"$bus/out1" 2>"$bus/err1" &
	mpid=$!
	if [ "$sc" = master ]; then
		"$M" --bus "$bus" run --standby --run "$run" --quiet >"$bus/out2" 2>"$bus/err2" &
		spid=$!
	fi
	wait_lines "$bus/out1" $((tasks / 3)) || echo "faults.sh: $sc: run did not progress" >&2
	before=$(procs "$bus" "$run")
	kill_ms=$(now_ms)
	final=$bus/out1
	case "$sc" in
	coord1 | coord2)
		victims=$(awk '$2 == "coordinator" {print $1}' <<<"$before" | head -"${sc#coord}")
		kill -9 $victims
		# until as many replacements are up (registered) as were killed
		old=$(awk '$2 == "coordinator" {print $1}' <<<"$before" | tr '\n' ' ')
		for ((i = 0; i < 1000; i++)); do
			new=$("$M" --bus "$bus" ps | awk -v old=" $old" '$2 == "coordinator" && index(old, " " $1 " ") == 0' | wc -l)
			if [ "$new" -ge "${sc#coord}" ]; then
				replaced_ms=$(now_ms)
				break
			fi
			kill -0 "$mpid" 2>/dev/null || break # the run ended first
			sleep 0.002
		done
		;;
	master)
		victims=$mpid
		kill -9 "$mpid"
		final=$bus/out2
		;;
	heir)
		victims=$mpid
		kill -9 "$mpid"
		final=$bus/runs/$run/results.$mpid.jsonl
		# until the run is over (at most 120 s)
		for ((i = 0; i < 1200; i++)); do
			[ "$(state "$bus" "$run")" = running ] || break
			sleep 0.1
		done
		;;
	sigstop)
		# the newest worker (most of its task ahead), until one is caught alive; pids
		# wrap quickly (pid_max may be 32768), so what was stopped must still be an
		# agent of this run (its command), or it is let go again
		for ((i = 0; i < 200; i++)); do
			line=$("$M" --bus "$bus" ps | awk '$2 == "worker"' | tail -1)
			victims=${line%% *}
			stopped_task=$(awk '{print $4}' <<<"$line")
			kill_ms=$(now_ms)
			if [ -z "$victims" ] || ! kill -STOP "$victims" 2>/dev/null; then
				continue
			fi
			if { tr '\0' ' ' <"/proc/$victims/cmdline"; } 2>/dev/null |
				grep -q "sleep 0.05; echo .* sh $stopped_task"; then
				break
			fi
			kill -CONT "$victims" 2>/dev/null
			victims=
			kill -0 "$mpid" 2>/dev/null || break # the run ended first
		done
		;;
	all)
		victims=$(awk '{print $1}' <<<"$before")
		kill -9 "$mpid" $victims 2>/dev/null
		# until nothing of the run is left
		for ((i = 0; i < 500; i++)); do
			[ -z "$(procs "$bus" "$run")" ] && break
			kill -9 $(procs "$bus" "$run" | awk '{print $1}' | tr '\n' ' ') 2>/dev/null
			sleep 0.01
		done
		resume_ms=$(now_ms)
		"$M" --bus "$bus" run --resume "$run" --quiet >"$bus/out2" 2>"$bus/err2"
		final=$bus/out2
		;;
	esac
	wait "$mpid" 2>/dev/null
	[ "$sc" = master ] && wait "$spid"
	"$M" --bus "$bus" results "$run" >"$bus/results"
	left=$(procs "$bus" "$run" | wc -l)
	meta=$("$M" --bus "$bus" kv get "run.$run.meta" 2>/dev/null)
	python3 - "$sc" "$tasks" "$final" "$bus/results" "$kill_ms" "${resume_ms:-0}" \
		"$(printf '%s ' $victims)" "${stopped_task:-}" "$left" "$meta" "$before" "${replaced_ms:-0}" <<'EOF' || fail=1
import json, sys
sc, n, final, resfile, kill_ms, resume_ms, victims, stopped, left, meta, before, replaced = sys.argv[1:13]
n, kill_ms, resume_ms, left, replaced = int(n), int(kill_ms), int(resume_ms), int(left), int(replaced)
victims = [int(v) for v in victims.split()]
try:
    rows = [json.loads(l) for l in open(final) if l.strip()]
except OSError:
    rows = []
recorded = [json.loads(l) for l in open(resfile) if l.strip()]
ids = [r["id"] for r in rows]
want = {str(i) for i in range(1, n + 1)}
lost = len(want - set(ids))
dup = len(ids) - len(set(ids))
ok = sum(1 for r in rows if r["status"] == "ok" and r["output"] == r["id"] + "\n")
bad = len(rows) - ok
agree = sorted(r["id"] for r in recorded) == sorted(ids)
old_coords = {int(l.split()[0]) for l in before.splitlines() if l.split()[1] == "coordinator"}
rec, target = None, 1000
if sc in ("coord1", "coord2"):
    # first start by a replacement, and the last restart of a dead coordinator's task
    new = [r for r in rows if r["coordinator"] not in old_coords and r["start_ms"] >= kill_ms]
    first = min((r["start_ms"] for r in new), default=None)
    redone = [r for r in rows if r["attempts"] > 1 and r["start_ms"] >= kill_ms]
    last = max((r["start_ms"] for r in redone), default=first)
    # a replacement up, or (later) the first task it started and the dead one's
    # tasks started again: whichever is last
    seen = [t for t in (replaced or None, first, last) if t is not None]
    if seen:
        rec = max(seen) - kill_ms
elif sc in ("master", "heir", "all"):
    target = 2000
    m = json.loads(meta) if meta else {}
    if "takeover_ms" in m:
        rec = m["takeover_ms"] - kill_ms - (resume_ms - kill_ms if sc == "all" else 0)
elif sc == "sigstop":
    r = [r for r in rows if r["id"] == stopped]
    if r and r[0]["attempts"] >= 2:
        rec = r[0]["start_ms"] - kill_ms - 2000
out = {"scenario": sc, "tasks": n, "reported": len(rows), "ok": ok, "lost": lost,
       "duplicated": dup, "not_ok": bad, "results_agree": agree, "processes_left": left,
       "recovery_ms": rec, "target_ms": target, "victims": victims}
print(json.dumps(out))
print("%-8s %7d %7d %5d %5d %5d %10s %10s" % (sc, n, ok, lost, dup, bad,
      "-" if rec is None else "%d ms" % rec, "%d ms" % target), file=sys.stderr)
sys.exit(0 if lost == 0 and dup == 0 and bad == 0 and agree and left == 0 else 1)
EOF
	if [ -n "${FAULTS_KEEP:-}" ]; then
		echo "faults.sh: kept $bus" >&2
	else
		rm -rf "$bus"
	fi
done
exit $fail
