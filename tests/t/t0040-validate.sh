#!/usr/bin/env bash
# t0040 - muster validate: each subcommand refuses bad options in one line (exit 2);
# env, soak and optimize run for real at a small size and write a report whose
# report.json has their figures, whose report.md has their table, and whose charts
# are well-formed SVG; env --matrix (as root) fills every cell.
# shellcheck source-path=SCRIPTDIR
: "${T_TIMEOUT:=400}"
. "$(dirname "$0")/lib.sh"
plan 45

# buses of the measurements go under the test's directory (not for --matrix: its cells
# must find /dev/shm as a default bus would)
export MUSTER_HOME=$TEST_DIR/home
mkdir -m 700 "$MUSTER_HOME"

# --- bad usage -----------------------------------------------------------------------
run "$MUSTER_BIN" validate
is_error 2 "validate alone: exit 2, one line"
like "$err" "env, soak, workload, chaos, optimize or all" "validate alone: names the measurements"
run "$MUSTER_BIN" validate nosuch
is_error 2 "an unknown subcommand: exit 2, one line"
run "$MUSTER_BIN" validate env --duration 1h
is_error 2 "env --duration (a soak option): exit 2, one line"
like "$err" "--duration is not an option of env" "env --duration: says which option"
run "$MUSTER_BIN" validate env --agents 0
is_error 2 "env --agents 0: exit 2"
run "$MUSTER_BIN" validate env --report
is_error 2 "env --report without a directory: exit 2"
run "$MUSTER_BIN" validate soak --duration forty
is_error 2 "soak --duration forty: exit 2"
run "$MUSTER_BIN" validate soak --duration 1m --interval 2m
is_error 2 "soak with --interval longer than --duration: exit 2"
run "$MUSTER_BIN" validate optimize --matrix
is_error 2 "optimize --matrix: exit 2"
run "$MUSTER_BIN" validate optimize extra
is_error 2 "optimize with an extra argument: exit 2"
run "$MUSTER_BIN" validate workload extra
is_error 2 "workload with an argument but no --: exit 2"
run "$MUSTER_BIN" validate chaos -- /bin/true
is_error 2 "chaos with a command (only workload takes one): exit 2"
run "$MUSTER_BIN" validate chaos --tasks 0
is_error 2 "chaos --tasks 0: exit 2"
run "$MUSTER_BIN" validate all --agents 5
is_error 2 "all --agents (not an option of all): exit 2"

# figure FILE SECTION NAME: the value of a figure of report.json ("null": not measured)
figure()
{
	python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
f = [f for f in r["figures"] if f["section"] == sys.argv[2] and f["name"] == sys.argv[3]]
print(json.dumps(f[0]["value"]) if f else "missing")' "$@"
}

# svg_ok DIR: every chart of DIR/report.json exists and parses as XML with an svg root
svg_ok()
{
	python3 -c '
import json, os, sys, xml.etree.ElementTree as ET
d = sys.argv[1]
charts = json.load(open(os.path.join(d, "report.json")))["charts"]
for c in charts:
    root = ET.parse(os.path.join(d, c["file"])).getroot()
    if not root.tag.endswith("svg"):
        sys.exit("%s: root %s" % (c["file"], root.tag))
print(len(charts))' "$1"
}

# --- env -----------------------------------------------------------------------------
run "$MUSTER_BIN" validate env --agents 20 --report "$TEST_DIR/env"
ok "$([ "$rc" -eq 0 ] || [ "$rc" -eq 1 ] && echo 0)" "env: exit 0 or 1 (1: a seed line failed) (exit $rc)"
like "$out" "coordination time / spawn floor" "env: the table has the coordination figure"
is "$(figure "$TEST_DIR/env/report.json" env delivery)" "100.0" "env: 20 of 20 agents' replies in (delivery 100 %)"
ok "$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
e = r["facts"]["env"]
sys.exit(0 if e["dev_shm"]["present"] in (True, False) and e["nofile"]["soft"] and e["cpus"] >= 1 else 1)' \
	"$TEST_DIR/env/report.json" && echo 0)" "env: the facts (/dev/shm, nofile, cpus) are in report.json"
like "$(cat "$TEST_DIR/env/report.md")" "\| delivery \| 100 % \| >= 90: pass \|" "env: report.md has the table"
is "$(svg_ok "$TEST_DIR/env")" 1 "env: its chart is well-formed SVG"
is "$(find "$MUSTER_HOME" -mindepth 1 -maxdepth 1 | wc -l)" 0 "env: its buses are removed"

# --- soak ----------------------------------------------------------------------------
run "$MUSTER_BIN" validate soak --duration 6s --interval 2s --compress --agents 10 \
	--report "$TEST_DIR/soak"
ok "$([ "$rc" -eq 0 ] || [ "$rc" -eq 1 ] && echo 0)" "soak: exit 0 or 1 (exit $rc)"
is "$(figure "$TEST_DIR/soak/report.json" soak rounds)" "3.0" "soak: 6 s at 2 s a round: 3 rounds"
is "$(figure "$TEST_DIR/soak/report.json" soak hangs)/$(figure "$TEST_DIR/soak/report.json" soak delivery_min)" \
	"0.0/100.0" "soak: no hang, every round fully delivered"
like "$(figure "$TEST_DIR/soak/report.json" soak fd_growth)" "^-?[0-9]" "soak: descriptor growth measured"
is "$(svg_ok "$TEST_DIR/soak")" 4 "soak: four charts, well-formed SVG"

# --- optimize --------------------------------------------------------------------------
run "$MUSTER_BIN" validate optimize --agents 20 --report "$TEST_DIR/opt"
ok "$([ "$rc" -eq 0 ] || [ "$rc" -eq 1 ] && echo 0)" "optimize: exit 0 or 1 (exit $rc)"
for f in pooling batching parallel_spawn; do
	like "$(figure "$TEST_DIR/opt/report.json" optimize "$f")" "^[0-9]" "optimize: $f measured"
done
like "$(figure "$TEST_DIR/opt/report.json" optimize sharding)/$(python3 -c '
import json, sys
f = [f for f in json.load(open(sys.argv[1]))["figures"] if f["name"] == "sharding"][0]
print(f["note"])' "$TEST_DIR/opt/report.json" 2>&1)" \
	"^[0-9.]+/500 processes.*every one counted in.*one store [0-9.]+ s, 8 stores [0-9.]+ s" \
	"optimize: sharding measured, 500 writers on one store and on 8, every message counted"
is "$(svg_ok "$TEST_DIR/opt")" 1 "optimize: its chart is well-formed SVG"

# --- workload --------------------------------------------------------------------------
run "$MUSTER_BIN" validate workload --tasks 8 --agents 4 --report "$TEST_DIR/wl" \
	-- /bin/sh -c 'sleep 0.1; echo {}'
ok "$([ "$rc" -eq 0 ] || [ "$rc" -eq 1 ] && echo 0)" "workload: exit 0 or 1 (exit $rc)"
for c in none cpu memory; do
	is "$(figure "$TEST_DIR/wl/report.json" workload "delivery_$c")" "100.0" \
		"workload: 8 of 8 tasks delivered under muster ($c pressure)"
done
is "$(svg_ok "$TEST_DIR/wl")" 1 "workload: its chart is well-formed SVG"

# --- chaos -----------------------------------------------------------------------------
run "$MUSTER_BIN" validate chaos --tasks 400 --agents 20 --report "$TEST_DIR/chaos"
ok "$([ "$rc" -eq 0 ] || [ "$rc" -eq 1 ] && echo 0)" "chaos: exit 0 or 1 (exit $rc)"
is "$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
loss = [f for f in r["figures"] if f["section"] == "chaos" and f["unit"].startswith("% lost")]
bad = ["%s %s" % (f["name"], f["value"]) for f in loss if f["value"] not in (0, 0.0, None)]
print(len(loss), "scenarios, lost or duplicated:", bad)' "$TEST_DIR/chaos/report.json")" \
	"6 scenarios, lost or duplicated: []" "chaos: every task once and ok in every scenario"
ok "$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
rec = [f for f in r["figures"] if f["section"] == "chaos" and f["unit"] == "ms"]
sys.exit(0 if len(rec) == 3 and all(f["value"] is not None and f["value"] >= 0 for f in rec) else 1)' \
	"$TEST_DIR/chaos/report.json" && echo 0)" "chaos: recovery measured for one, two coordinators and the master"
is "$(svg_ok "$TEST_DIR/chaos")" 1 "chaos: its timeline is well-formed SVG"

# --- env --matrix ----------------------------------------------------------------------
# (the binary as built: the harness's private copy lives under /dev/shm, which most
# cells replace)
if [ "$(id -u)" -ne 0 ]; then
	run env -u MUSTER_HOME "$MUSTER_T_ORIG_BIN" validate env --matrix --agents 10 --report "$TEST_DIR/mx"
	like "$(cat "$TEST_DIR/mx/report.md")" "needs root" "env --matrix as a user: each cell says it needs root"
	skip "env --matrix fills every cell: needs root" 2
else
	run env -u MUSTER_HOME "$MUSTER_T_ORIG_BIN" validate env --matrix --agents 10 --report "$TEST_DIR/mx"
	ok "$([ "$rc" -eq 0 ] || [ "$rc" -eq 1 ] && echo 0)" "env --matrix: exit 0 or 1 (exit $rc)"
	is "$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
cells = [f for f in r["figures"] if f["section"] == "matrix" and f["name"] != "works_in" and f["unit"] == "x"]
empty = [f["name"] for f in cells if f["value"] is None]
print("%d cells, empty: %s" % (len(cells), empty))' "$TEST_DIR/mx/report.json")" "6 cells, empty: []" \
		"env --matrix: all six cells measured"
	is "$(python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))["facts"]["env --matrix"]
print(m["no-shm"]["result"]["env"]["dev_shm"]["present"], m["docker-shm-64m"]["result"]["env"]["dev_shm"]["size"] >> 20)' \
		"$TEST_DIR/mx/report.json")" "False 64" "env --matrix: no /dev/shm in no-shm; 64 MiB in docker-shm-64m"
fi
