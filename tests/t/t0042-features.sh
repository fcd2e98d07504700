#!/usr/bin/env bash
# t0042 - the feature flags (pooling, batching, parallel_spawn, sharding): read from the config
# file ($MUSTER_CONFIG) and $MUSTER_FEATURES (which wins), shown by muster doctor with
# where each value came from, refused in one line when wrong, and each one switching
# what it says.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
plan 20

export XDG_CONFIG_HOME=$TEST_DIR/xdg # no config of the machine's
unset MUSTER_CONFIG MUSTER_FEATURES

run m doctor --json
is "$(jget "$out" features.pooling.on)/$(jget "$out" features.batching.source)" "true/default" \
	"no config: every flag on, from the default"

printf '# rollout\npooling = off\n\nbatching=on   # checked\n' >"$TEST_DIR/config"
MUSTER_CONFIG=$TEST_DIR/config run m doctor --json
is "$(jget "$out" features.pooling.on)/$(jget "$out" features.pooling.source)" \
	"false/$TEST_DIR/config:2" "the config file turns pooling off, and doctor says which line"
MUSTER_CONFIG=$TEST_DIR/config MUSTER_FEATURES=pooling=on run m doctor --json
is "$(jget "$out" features.pooling.on)/$(jget "$out" features.pooling.source)" \
	"true/MUSTER_FEATURES" "\$MUSTER_FEATURES wins over the file"
mkdir -p "$XDG_CONFIG_HOME/muster"
printf 'parallel_spawn = no\n' >"$XDG_CONFIG_HOME/muster/config"
run m doctor
like "$out" "parallel_spawn off \\($XDG_CONFIG_HOME/muster/config:1\\)" \
	"without \$MUSTER_CONFIG, \${XDG_CONFIG_HOME}/muster/config is read; doctor's text shows it"
rm "$XDG_CONFIG_HOME/muster/config"

# wrong configs: doctor reports, run refuses in one line
printf 'pooling = maybe\n' >"$TEST_DIR/bad"
MUSTER_CONFIG=$TEST_DIR/bad run m doctor
like "$out" "unusable config: .*bad:1: pooling must be on or off, not 'maybe'" "doctor shows a bad config"
printf '1\n2\n' >"$TEST_DIR/t2"
MUSTER_CONFIG=$TEST_DIR/bad run m run --tasks "$TEST_DIR/t2" -- echo {}
is_error 2 "run with a bad config: exit 2, one line"
MUSTER_FEATURES=turbo=on run m run --tasks "$TEST_DIR/t2" -- echo {}
is_error 2 "an unknown feature: exit 2, one line"
like "$err" "unknown feature 'turbo'" "the error names it"
MUSTER_CONFIG=$TEST_DIR/missing run m run --tasks "$TEST_DIR/t2" -- echo {}
is_error 2 "a \$MUSTER_CONFIG that does not exist: exit 2"

# each flag does what it says
MUSTER_CONFIG=$TEST_DIR/config run m run --mode pool --tasks "$TEST_DIR/t2" -- cat
is_error 2 "pooling off: --mode pool is refused, exit 2"
like "$err" "turned off \\(feature pooling: $TEST_DIR/config:2\\)" "pooling off: the error says where"

seq 1 40 >"$TEST_DIR/t40"
MUSTER_FEATURES=parallel_spawn=off run m run --run ps1 --agents 20 --tasks "$TEST_DIR/t40" -- echo {}
is "$rc/$(m kv get run.ps1.meta | python3 -c 'import json,sys; m=json.load(sys.stdin); print(m["coordinators"], m["features"]["parallel_spawn"])')" \
	"0/1 False" "parallel_spawn off: one coordinator, and the run records the flag"

MUSTER_FEATURES=batching=off run m run --run b1 --agents 8 --tasks "$TEST_DIR/t40" -- echo {}
is "$rc/$(python3 -c '
import json, sys
ids = [json.loads(l)["id"] for l in open(sys.argv[1])]
print(len(ids), len(set(ids)))' "$OUT_FILE")" "0/40 40" "batching off: every task once (a commit per record)"
is "$(m kv get run.b1.meta | python3 -c 'import json,sys; print(json.load(sys.stdin)["features"]["batching"])')" \
	"False" "batching off: recorded in the run, for its coordinators"

# sharding: off by default; on, a bus muster creates gets several stores; a count names
# how many; a bus keeps the count it was created with
run m doctor --json
is "$(jget "$out" features.sharding.on)/$(jget "$out" bus.shards)" "false/1" \
	"sharding: off by default, and the test's bus has one store"
SBUS=$TEST_DIR/sharded
MUSTER_FEATURES=sharding=on run "$MUSTER_BIN" --bus "$SBUS" run --run s1 --agents 8 --tasks "$TEST_DIR/t40" -- echo {}
is "$rc/$(python3 -c '
import json, sys
ids = [json.loads(l)["id"] for l in open(sys.argv[1])]
print(len(ids), len(set(ids)))' "$OUT_FILE")/$("$MUSTER_BIN" --bus "$SBUS" stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["shards"])')" \
	"0/40 40/8" "sharding on: a new bus gets 8 stores, and a run on it delivers every task once"
MUSTER_FEATURES=sharding=3 run "$MUSTER_BIN" --bus "$TEST_DIR/sharded3" stats
like "$out" "3 stores \\(sharded\\)" "sharding=3: a new bus of 3 stores; stats says so"
MUSTER_FEATURES=sharding=3 run "$MUSTER_BIN" --bus "$SBUS" stats --json
is "$(jget "$out" shards)" "8" "a bus keeps the stores it was created with"
MUSTER_FEATURES=sharding=17 run "$MUSTER_BIN" --bus "$TEST_DIR/sharded17" stats
is_error 2 "sharding=17: exit 2, one line"
like "$err" "sharding must be on, off or a count of stores from 1 to 16, not '17'" "the error says the range"
