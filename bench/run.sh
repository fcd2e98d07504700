#!/usr/bin/env bash
# bench/run.sh - the benchmarks of SPEC §6 beside the floor and peers of the same run.
#
#   O=build bench/run.sh [--json FILE] [--repeat N] [--quick]     (make bench runs it)
#
# Runs, in this order and N times (--repeat or BENCH_REPEAT, default 3):
#   floor     futex ping-pong alone between two processes (build/bench/bus floor)
#   lat       wake-up latency, send -> recv waiting in another process, interleaved
#             with futex ping-pong samples in the same pair (the floor of the targets)
#   single    1->1 throughput with ack, 100 B, one message per call
#   batch     the same with send_batch / recv of 1000, each message acked
#   redis     Redis Streams peer (build/bench/redis), when redis-server and hiredis exist
#   load 100  100 writer processes: consumer on their queue, latency on another, floor
#   load 500  the same with 500 writers
#   load 100p, load 500p   the same with paced writers: 100 at 500 msg/s each, 500 at
#             100 msg/s each (50k msg/s in all, a busy fleet rather than a flood)
# then prints a table (name | figure | floor/peer | ratio | target | verdict), medians
# over the runs, with the load average before and after, and one closing JSON line
# (also written to FILE with --json FILE or BENCH_JSON=FILE). See bench/bus.c and
# bench/redis.c for what exactly each figure measures; other knobs are documented there.
# Exit status: 0 when every benchmark ran (whatever the verdicts; with BENCH_STRICT=1,
# also every verdict PASS), 1 when a benchmark failed.
set -u
cd "$(dirname "$0")/.." || exit 2
O=${O:-build}
json_out=${BENCH_JSON:-}
repeat=${BENCH_REPEAT:-3}
usage() { echo "usage: bench/run.sh [--json FILE] [--repeat N] [--quick]"; }
while [ $# -gt 0 ]; do
	case "$1" in
	--json) json_out=${2:?}; shift 2 ;;
	--json=*) json_out=${1#--json=}; shift ;;
	--repeat) repeat=${2:?}; shift 2 ;;
	--quick)
		# a smoke run: small samples, short load phases
		export BENCH_N=${BENCH_N:-20000} BENCH_BATCH_N=${BENCH_BATCH_N:-50000} \
			BENCH_FLOOR_N=${BENCH_FLOOR_N:-2000} BENCH_LAT_N=${BENCH_LAT_N:-2000} \
			BENCH_REDIS_LAT_N=${BENCH_REDIS_LAT_N:-1000} BENCH_SECS=${BENCH_SECS:-1} \
			BENCH_LOAD_SECS=${BENCH_LOAD_SECS:-0.5} BENCH_LOAD_LAT_N=${BENCH_LOAD_LAT_N:-500}
		shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
case "$repeat" in '' | *[!0-9]* | 0) echo "bench: --repeat wants a positive number" >&2; exit 2 ;; esac
export BENCH_BATCH_N=${BENCH_BATCH_N:-500000}

base=/dev/shm
[ -d /dev/shm ] && [ -w /dev/shm ] || base=${TMPDIR:-/tmp}
BENCH_TMP=$(mktemp -d "$base/muster-bench.XXXXXX") || exit 1
export BENCH_TMP
work=$(mktemp -d "${TMPDIR:-/tmp}/muster-bench-out.XXXXXX") || exit 1
res=$work/results
: >"$res"
cur=
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	if [ -n "$cur" ]; then
		kill -TERM "$cur" 2>/dev/null
		wait "$cur" 2>/dev/null
	fi
	rm -rf "$BENCH_TMP" "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

failed=0
skips=()
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
load_before=$(loadavg)
t_start=$(date +%s)

# run NAME CMD...: runs one benchmark, keeps its "R KEY VALUE" lines, reports failures.
run() {
	local name=$1 out=$work/out err=$work/err rc
	shift
	printf '# %-9s run %d/%d, load %s\n' "$name" "$r" "$repeat" "$(loadavg)"
	"$@" >"$out" 2>"$err" &
	cur=$!
	wait "$cur"
	rc=$?
	cur=
	awk -v run="$r" '$1 == "R" { print $2, $3, run }' "$out" >>"$res"
	if [ "$rc" -eq 3 ] && grep -q '^SKIP ' "$out"; then
		skips+=("$name: $(sed -n 's/^SKIP //p' "$out" | head -n 1)")
		return 0
	fi
	if [ "$rc" -ne 0 ]; then
		echo "# $name FAILED (exit $rc):"
		sed 's/^/#   /' "$err" | tail -n 5
		failed=1
	fi
}

[ -x "$O/bench/bus" ] || { echo "bench: $O/bench/bus is missing (run make bench)" >&2; exit 1; }
redis_skip=
if [ ! -x "$O/bench/redis" ]; then
	redis_skip="hiredis was not found at build time (Debian package libhiredis-dev)"
elif ! command -v redis-server >/dev/null 2>&1; then
	redis_skip="redis-server is not installed (Debian package redis-server)"
fi
[ -z "$redis_skip" ] || skips+=("redis: $redis_skip")

for r in $(seq 1 "$repeat"); do
	run floor "$O/bench/bus" floor
	run lat "$O/bench/bus" lat
	run single "$O/bench/bus" single
	run batch "$O/bench/bus" batch
	[ -n "$redis_skip" ] || run redis "$O/bench/redis"
	run "load 100" "$O/bench/bus" load 100
	run "load 500" "$O/bench/bus" load 500
	run "load 100p" "$O/bench/bus" load 100 500
	run "load 500p" "$O/bench/bus" load 500 100
done
load_after=$(loadavg)
elapsed=$(($(date +%s) - t_start))
skipped=$(printf '%s\n' ${skips[@]+"${skips[@]}"} | awk 'NF && !seen[$0]++')

# Medians over the runs, then the table and the JSON.
sort -k1,1 -k2,2g "$res" | awk -v repeat="$repeat" -v nproc="$(nproc)" \
	-v lb="$load_before" -v la="$load_after" -v secs="$elapsed" -v skipped="$skipped" \
	-v json_out="$json_out" -v strict="${BENCH_STRICT:-0}" '
{ v[$1, ++n[$1]] = $2; vr[$1, $3] = $2; if (!($1 in seenkey)) { seenkey[$1] = 1; keys[++nk] = $1 } }
function med(k, c) { c = n[k]; if (!c) return ""; return c % 2 ? v[k, (c + 1) / 2] : (v[k, c / 2] + v[k, c / 2 + 1]) / 2 }
function has(k) { return (k in n) && med(k) >= 0 }
function rate(x) { return x >= 1e6 ? sprintf("%.2fM/s", x / 1e6) : x >= 1e3 ? sprintf("%.1fk/s", x / 1e3) : x >= 10 ? sprintf("%.0f/s", x) : sprintf("%.2f/s", x) }
function times(x) { return x >= 100 ? sprintf("%.0fx", x) : x >= 10 ? sprintf("%.1fx", x) : x >= 0.1 ? sprintf("%.2fx", x) : sprintf("%.3fx", x) }
function us(x) { return x >= 1000 ? sprintf("%.2fms", x / 1000) : sprintf("%.1fus", x) }
function fmt(x, unit) { return unit == "rate" ? rate(x) : us(x) }
function jstr(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); return "\"" s "\"" }
function jnum(x) { return x == "" ? "null" : sprintf("%.6g", x) }
# row(name, figure key, unit, reference key, reference label, op, target ratio or
# absolute, kind): kind "abs" compares the figure to the target itself; "ratio"
# compares figure/reference to the target; "info" has no target.
function row(name, fk, unit, rk, rlabel, op, tgt, kind,   f, rf, ratio, verdict, ft, rt, tt, rs, lbk, lb) {
	f = has(fk) ? med(fk) : ""
	rf = (rk != "" && has(rk)) ? med(rk) : ""
	ratio = (f != "" && rf != "" && rf > 0) ? f / rf : ""
	# a latency percentile that includes a message still in flight at the end is
	# only a lower bound: shown as ">=X"
	lbk = fk
	sub(/_us$/, "_lb", lbk)
	lb = lbk != fk && (lbk in n) && med(lbk) > 0
	ft = f == "" ? "n/a" : (lb ? ">=" : "") fmt(f, unit)
	rt = rk == "" ? "-" : rf == "" ? "n/a" : rlabel " " fmt(rf, unit)
	rs = ratio == "" ? "-" : (lb ? ">=" : "") times(ratio)
	if (kind == "abs") {
		tt = op " " fmt(tgt, unit)
		verdict = f == "" ? "NO DATA" : (op == ">=" ? f >= tgt : f <= tgt) ? "PASS" : "FAIL"
	} else if (kind == "ratio") {
		tt = op " " tgt "x " rlabel
		verdict = ratio == "" ? (rf == "" && f != "" ? "SKIP" : "NO DATA") : (op == ">=" ? ratio >= tgt : ratio <= tgt) ? "PASS" : "FAIL"
		if (lb && verdict == "PASS" && op == "<=")
			verdict = "UNKNOWN"
	} else {
		tt = "-"
		verdict = "info"
	}
	if (verdict == "FAIL" || verdict == "NO DATA")
		nfail++
	printf "%-46s | %10s | %-22s | %9s | %-18s | %s\n", name, ft, rt, rs, tt, verdict
	rows = rows (rows == "" ? "" : ",") sprintf("{\"name\":%s,\"figure\":%s,\"unit\":%s,\"reference\":%s,\"reference_key\":%s,\"ratio\":%s,\"lower_bound\":%s,\"target\":%s,\"verdict\":%s}", jstr(name), jnum(f), jstr(unit == "rate" ? "msg/s" : "us"), jnum(rf), jstr(rk), jnum(ratio), lb ? "true" : "false", jstr(tt), jstr(verdict))
}
END {
	printf "\nmuster bench: %d run(s), medians; %s CPUs; load average before %s, after %s (after counts the\n", repeat, nproc, lb, la
	printf "benchmark'"'"'s own writer processes); %ss\n", secs
	printf "latency = one-way wake-up: the sender stamps CLOCK_MONOTONIC then sends (or stores + FUTEX_WAKE); the receiver,\n"
	printf "asleep first, reads the clock on return; one in flight. The floor is sampled interleaved with the bus samples\n"
	printf "in the same two processes (the ping-pong alone is shown too). Writers->Q: N processes mst_send to Q at full speed,\n"
	printf "or paced (each at the rate shown, 50k msg/s in all); L is a queue no writer touches.\n\n"
	printf "%-46s | %10s | %-22s | %9s | %-18s | %s\n", "name", "figure", "floor/peer", "ratio", "target", "verdict"
	printf "%s\n", "-----------------------------------------------+------------+------------------------+-----------+--------------------+--------"
	row("floor: futex wake p50 (interleaved)", "floor.p50_us", "us", "", "", "", "", "info")
	row("floor: futex wake p99 (interleaved)", "floor.p99_us", "us", "", "", "", "", "info")
	row("floor: ping-pong alone, wake p50", "pingpong.p50_us", "us", "", "", "", "", "info")
	row("floor: ping-pong alone, wake p99", "pingpong.p99_us", "us", "", "", "", "", "info")
	row("floor: ping-pong alone, round trip/2 p50", "pingpong.rt2_p50_us", "us", "", "", "", "", "info")
	row("1->1 with ack, 1 msg/call", "single.msgs_s", "rate", "", "", ">=", 100000, "abs")
	row("1->1 with ack, 1 msg/call vs Redis", "single.msgs_s", "rate", "redis.single.msgs_s", "redis", ">=", 10, "ratio")
	row("batched 1000/call, ack each", "batch.msgs_s", "rate", "", "", ">=", 1000000, "abs")
	row("batched vs Redis pipelined 100/rt", "batch.msgs_s", "rate", "redis.pipe.msgs_s", "redis", ">=", 4, "ratio")
	row("wake-up send->recv p50", "lat.p50_us", "us", "floor.p50_us", "floor", "<=", 2, "ratio")
	row("wake-up send->recv p99", "lat.p99_us", "us", "floor.p99_us", "floor", "<=", 3, "ratio")
	row("wake-up p50 vs Redis XREADGROUP BLOCK", "lat.p50_us", "us", "redis.lat.p50_us", "redis", "", "", "info")
	row("wake-up p99 vs Redis XREADGROUP BLOCK", "lat.p99_us", "us", "redis.lat.p99_us", "redis", "", "", "info")
	for (i = 1; i <= 4; i++) {
		w = i % 2 ? 100 : 500
		paced = i > 2
		p = "w" w (paced ? "p" : "") "."
		d = w " writers->Q" (paced ? (w == 100 ? " 500/s each" : " 100/s each") : "")
		row(d ", 1 consumer of Q: acked", p "same.consumer_msgs_s", "rate", "", "", "", "", "info")
		row(d ": writers sent (aggregate)", p "same.writers_msgs_s", "rate", "", "", "", "", "info")
		row(d ", wake-up on L p50", p "lat.p50_us", "us", p "floor.p50_us", "floor@load", "<=", 2, "ratio")
		row(d ", wake-up on L p99", p "lat.p99_us", "us", p "floor.p99_us", "floor@load", "<=", 3, "ratio")
		row(d ", wake-up on L p50 vs idle floor", p "lat.p50_us", "us", "floor.p50_us", "floor", "", "", "info")
		row(d ", wake-up on L p99 vs idle floor", p "lat.p99_us", "us", "floor.p99_us", "floor", "", "", "info")
	}
	ns = split(skipped, sk, "\n")
	sj = ""
	for (i = 1; i <= ns; i++) {
		if (sk[i] == "")
			continue
		printf "skipped: %s\n", sk[i]
		sj = sj (sj == "" ? "" : ",") jstr(sk[i])
	}
	fj = ""
	aj = ""
	for (i = 1; i <= nk; i++) {
		fj = fj (i > 1 ? "," : "") jstr(keys[i]) ":" jnum(med(keys[i]))
		vl = ""
		for (j = 1; j <= repeat; j++)
			vl = vl (j > 1 ? "," : "") jnum((keys[i], j) in vr ? vr[keys[i], j] : "")
		aj = aj (i > 1 ? "," : "") jstr(keys[i]) ":[" vl "]"
	}
	split(lb, b, " ")
	split(la, a, " ")
	# concatenation, not sprintf: mawk limits sprintf to 8 KiB
	json = "{\"bench\":\"muster\",\"runs\":" repeat ",\"nproc\":" nproc
	json = json ",\"loadavg_before\":[" b[1] "," b[2] "," b[3] "],\"loadavg_after\":[" a[1] "," a[2] "," a[3] "]"
	json = json ",\"seconds\":" secs ",\"rows\":[" rows "],\"figures\":{" fj "},\"figures_by_run\":{" aj "}"
	json = json ",\"skipped\":[" sj "],\"failed_targets\":" nfail "}"
	print ""
	print json
	if (json_out != "")
		print json > json_out
	exit strict == 1 && nfail > 0 ? 4 : 0
}' || failed=1
exit "$failed"
