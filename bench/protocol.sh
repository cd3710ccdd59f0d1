#!/usr/bin/env bash
# The original TIMIT protocol on the TIMIT-sized stand-in (or a share of its speakers), measured.
#
#   bash bench/protocol.sh FRACTION OUT [KILL_AFTER_SECONDS]
#
# 1. `deno task data --size full --fraction FRACTION --out OUT/corpus` (the corpus);
# 2. `deno task run --name esn_flow_timit --timit_dir OUT/corpus --protocol genhmm --profile original
#    --num_jobs 2 --feature_cache_dir OUT/cache --out OUT/run --json` (features, 39 class models, evaluation);
#    with KILL_AFTER_SECONDS, this run is killed with SIGKILL (its whole process group) after that many
#    seconds and the same command is started again, to finish the run;
# 3. the same command once more on the finished run (it should do no work).
# Each step runs under GNU time. OUT/measure.json gets the wall seconds and peak resident memory of every
# step and process (the run's own stage times and VmHWM peaks), the disk used, and training and evaluation
# frames per second; OUT/*.log keep every step's output.
set -euo pipefail
fraction=${1:?usage: bash bench/protocol.sh FRACTION OUT [KILL_AFTER_SECONDS]}
out=${2:?usage: bash bench/protocol.sh FRACTION OUT [KILL_AFTER_SECONDS]}
kill_after=${3:-}
repo=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$repo"

timed() { # timed NAME COMMAND...: runs it under GNU time, output to $out/NAME.log, times to $out/NAME.time
  local name=$1
  shift
  /usr/bin/time -f "%e %M" -o "$out/$name.time" "$@" >"$out/$name.log" 2>&1
}

timed data deno task data --size full --fraction "$fraction" --out "$out/corpus"

run=(deno task run --name esn_flow_timit --timit_dir "$out/corpus" --protocol genhmm --profile original
  --num_jobs 2 --feature_cache_dir "$out/cache" --out "$out/run" --json)
if [ -n "$kill_after" ]; then
  # A session of its own (setsid execs, the script having no job control), so one kill reaches the task
  # runner, the run and its child jobs alike.
  setsid /usr/bin/time -f "%e %M" -o "$out/killed.time" "${run[@]}" >"$out/killed.log" 2>&1 &
  session=$!
  sleep "$kill_after"
  pkill -9 -s "$session" || true
  wait "$session" 2>/dev/null || true
  echo "protocol.sh: killed (SIGKILL, whole session) after ${kill_after} s" >>"$out/killed.log"
fi
timed run "${run[@]}"
timed rerun "${run[@]}"

du_bytes() { du -sb "$1" | cut -f1; }
deno run --allow-read --allow-write bench/protocol_summary.ts "$out" "$fraction" \
  "$(du_bytes "$out/corpus")" "$(du_bytes "$out/cache")" "$(du_bytes "$out/run")"
