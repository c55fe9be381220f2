#!/usr/bin/env bash
# tests/mesa/tier.sh: the Mesa tier (docs/mesa.md), run by `./lab mesa`.
# Each program runs unmodified on Mesa's noop drm-shim (the reference: it
# runs Mesa and models nothing) and on the twin through the device shim,
# timed in one run; on the twin it must do its work, its trace must replay
# identically in another process, and what-ifs run on it.
#
# Then the farm path: a faultlab-agent runs the Mesa workloads (mesa-gles,
# mesa-vk, mesa-vk-compute) with --aof all and uploads them to a
# faultlab-server, whose replays, metrics and run pages show their faults;
# and a board: vk_compute captured through passthrough over the loopback
# kernel with the fault stream, replayed, calibrated and what-if'd there.
#
#   tests/mesa/tier.sh PREFIX PROGRAMS SHIM FAULTLAB AGENT SERVER
#     PREFIX    Mesa's install (tools/mesa.sh prefix)
#     PROGRAMS  the tier's programs (tools/mesa.sh programs)
#     SHIM      libfaultlab_shim.so; FAULTLAB: the CLI
#     AGENT     faultlab-agent (its shim beside it); SERVER: faultlab-server
set -uo pipefail
prefix=$1 programs=$2 shim=$3 fl=$4 agent=$5 srv=$6
lib=$prefix/lib/x86_64-linux-gnu
icd=$prefix/share/vulkan/icd.d/panfrost_icd.x86_64.json
noop=$lib/libpanfrost_noop_drm_shim.so
tmp=$(mktemp -d)
failures=0
summary=()

say() { printf 'mesa tier: %s\n' "$*" >&2; }
fail() {
  say "FAIL $*"
  failures=$((failures + 1))
}
now() { date +%s%N; }
# A report's value for KEY.
field() { sed -n "s/^$2: //p" "$1" | head -1; }

# run NAME KIND EXPECT UNITS -- COMMAND...: KIND vk (panvk's ICD) or gl
# (Mesa's libEGL/libGLESv2 first); EXPECT a regex the twin's output must
# match; UNITS the frames or passes the program runs (0: none), for the
# per-frame figures.
run() {
  local name=$1 kind=$2 expect=$3 units=$4
  shift 5
  local env=()
  case $kind in
    vk) env=(VK_ICD_FILENAMES="$icd") ;;
    gl) env=(LD_LIBRARY_PATH="$lib") ;;
  esac
  local t0 t1 noop_ns twin_ns rec_ns rc
  t0=$(now)
  env PAN_GPU_ID=a867 LD_PRELOAD="$noop" "${env[@]}" "$@" >"$tmp/$name.noop" 2>&1
  t1=$(now)
  noop_ns=$((t1 - t0))
  t0=$(now)
  env LD_PRELOAD="$shim" "${env[@]}" "$@" >/dev/null 2>&1
  t1=$(now)
  twin_ns=$((t1 - t0))
  # Recording: the same run with its trace written (the CPU's writes to
  # mapped memory found by comparing shadows: O(mapped bytes) a submit).
  t0=$(now)
  env FAULTLAB_TRACE="$tmp/$name.fltrace" LD_PRELOAD="$shim" "${env[@]}" "$@" >"$tmp/$name.twin" 2>&1
  rc=$?
  t1=$(now)
  rec_ns=$((t1 - t0))
  if [ $rc -ne 0 ] || ! grep -Eq "$expect" "$tmp/$name.twin" || grep -q 'MESA: error' "$tmp/$name.twin"; then
    fail "$name on the twin (exit $rc): $(grep -E 'error|ERROR|FAIL' "$tmp/$name.twin" | head -3)"
    return
  fi
  grep -Eq "$expect" "$tmp/$name.noop" || say "note: $name on Mesa's noop shim: $(tail -1 "$tmp/$name.noop")"
  "$fl" replay "$tmp/$name.fltrace" >"$tmp/$name.replay" 2>&1
  if [ "$(field "$tmp/$name.replay" outcome)" != identical ]; then
    fail "$name's trace does not replay identically: $(head -3 "$tmp/$name.replay")"
    return
  fi
  "$fl" dump "$tmp/$name.fltrace" --streams >"$tmp/$name.dump"
  local streams mix
  streams=$(grep -c ' cs_submit ' "$tmp/$name.dump")
  mix=$(grep -E '^ +0x[0-9a-f]+  [0-9a-f]{16}  ' "$tmp/$name.dump" | awk '{split($3, a, "."); print a[1]}' |
    sort | uniq -c | sort -rn | head -8 | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1}')
  say "ok   $name: $(grep -Em1 "$expect" "$tmp/$name.twin" | tr -s ' \t' ' '); replays identically ($(field "$tmp/$name.replay" inputs) inputs, $streams streams)"
  [ -n "$mix" ] && say "     submitted streams: $mix"
  if [ "$units" -gt 0 ]; then
    # What-ifs: every BO of the trace allocated on fault, then also under a
    # tight budget, with the default policy and with dummy pages.
    local w faults
    "$fl" replay "$tmp/$name.fltrace" --what-if aof=all >"$tmp/$name.aof" 2>&1 ||
      fail "$name: what-if aof=all: $(head -2 "$tmp/$name.aof")"
    faults=$(field "$tmp/$name.aof" faults.handled)
    say "     what-if aof=all: $(field "$tmp/$name.aof" aof_converted_bos) BOs converted, ${faults:-?} faults ($((${faults:-0} / units)) a frame), $(field "$tmp/$name.aof" heap_grows) heap grows, $(field "$tmp/$name.aof" jobs_killed) jobs killed"
    for w in "budget=16M" "budget=16M policy=dummy-page"; do
      local args=(--what-if aof=all)
      for kv in $w; do args+=(--what-if "$kv"); done
      "$fl" replay "$tmp/$name.fltrace" "${args[@]}" >"$tmp/$name.w" 2>&1 ||
        fail "$name: what-if aof=all $w: $(head -2 "$tmp/$name.w")"
      say "     what-if aof=all $w: $(field "$tmp/$name.w" faults.handled) handled, $(field "$tmp/$name.w" faults.degraded) degraded, $(field "$tmp/$name.w" faults.enomem) ENOMEM, $(field "$tmp/$name.w" jobs_killed) jobs killed"
    done
  fi
  summary+=("$(printf '%-22s %5d ms on the twin (%sx the noop shim), %5d ms recording (%sx); noop shim %4d ms' \
    "$name" $((twin_ns / 1000000)) "$(awk -v a="$twin_ns" -v b="$noop_ns" 'BEGIN { printf "%.1f", a / b }')" \
    $((rec_ns / 1000000)) "$(awk -v a="$rec_ns" -v b="$noop_ns" 'BEGIN { printf "%.1f", a / b }')" \
    $((noop_ns / 1000000)))")
}

run vulkaninfo vk 'deviceName *= Mali-G610' 0 -- vulkaninfo --summary
run eglinfo gl '^EGL driver name: panthor$' 0 -- /usr/bin/eglinfo.x86_64-linux-gnu -p surfaceless
run vk_compute vk '^passes: 8,' 8 -- "$programs/vk_compute" "$programs/compute.comp.spv" --passes 8
run vk_compute_secondary vk 'secondary command buffers' 8 -- \
  "$programs/vk_compute" "$programs/compute.comp.spv" --passes 8 --secondary
run vk_render vk '^frames: 8,' 8 -- \
  "$programs/vk_render" "$programs/render.vert.spv" "$programs/render.frag.spv" --frames 8
run gles_render gl '^frames: 8,' 8 -- "$programs/gles_render" --frames 8

# The farm path: an agent's schedule of Mesa workloads, allocated on fault,
# to a server that replays them and exports their faults.
farm() {
  local log=$tmp/server.log gport hport spid
  "$srv" --data-dir "$tmp/server" --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 2>"$log" &
  spid=$!
  for _ in $(seq 1 100); do
    gport=$(sed -n 's/.*gRPC on 127\.0\.0\.1:\([0-9]*\);.*/\1/p' "$log")
    hport=$(sed -n 's/.*HTTP on 127\.0\.0\.1:\([0-9]*\);.*/\1/p' "$log")
    [ -n "$gport" ] && [ -n "$hport" ] && break
    sleep 0.1
  done
  [ -n "$gport" ] || { fail "the server did not start: $(cat "$log")"; return; }
  "$agent" --board mesa-farm --server "127.0.0.1:$gport" --spool-dir "$tmp/spool" \
    --mesa-dir "$(dirname "$prefix")" --workloads mesa-gles,mesa-vk,mesa-vk-compute --aof all \
    --runs 3 --interval-ms 0 --drain-timeout 60 2>"$tmp/agent.log" ||
    { fail "the agent's Mesa schedule: $(tail -3 "$tmp/agent.log")"; kill "$spid"; return; }
  for _ in $(seq 1 300); do
    [ "$("$fl" runs --server "127.0.0.1:$gport" | grep -c ' identical$')" -ge 3 ] && break
    sleep 0.1
  done
  "$fl" runs --server "127.0.0.1:$gport" >"$tmp/runs.txt" 2>&1
  local w faults
  for w in mesa-gles mesa-vk mesa-vk-compute; do
    faults=$(awk -v w="$w" '$5 == w && $NF == "identical" {print $8}' "$tmp/runs.txt")
    if [ -n "$faults" ] && [ "$faults" -gt 0 ]; then
      say "ok   agent --workloads $w --aof all: on the server, $faults faults, replayed identically"
    else
      fail "$w on the server: $(cat "$tmp/runs.txt")"
    fi
  done
  curl -s "http://127.0.0.1:$hport/metrics" >"$tmp/metrics.txt"
  grep -q '^faultlab_fault_latency_seconds_count{board="mesa-farm",.*outcome="handled".*workload="mesa-vk"} [1-9]' "$tmp/metrics.txt" &&
    say "ok   /metrics: their fault latencies by workload ($(grep -c '^faultlab_fault_latency_seconds_count{board="mesa-farm"' "$tmp/metrics.txt") series)" ||
    fail "no Mesa fault latencies in /metrics: $(grep mesa-farm "$tmp/metrics.txt" | head -3)"
  grep -q '^faultlab_heap_grows_total{board="mesa-farm",.*result="grown",source="replayed".*workload="mesa-gles"} [1-9]' "$tmp/metrics.txt" &&
    say "ok   /metrics: gles_render's tiler heap growth ($(grep '^faultlab_heap_grows_total{board="mesa-farm",.*result="grown",source="replayed".*workload="mesa-gles"}' "$tmp/metrics.txt" | awk '{print $2}') grown)" ||
    fail "no Mesa heap growth in /metrics: $(grep 'heap_grows_total{board="mesa-farm"' "$tmp/metrics.txt" | head -3)"
  local id
  id=$(curl -s "http://127.0.0.1:$hport/runs?workload=mesa-gles" | grep -o 'href="/runs/[0-9a-f]*"' | head -1 | cut -d/ -f3 | tr -d '"')
  curl -s "http://127.0.0.1:$hport/runs/$id" >"$tmp/run.html"
  grep -q 'program_aof' "$tmp/run.html" && grep -q 'mesa-gles' "$tmp/run.html" &&
    say "ok   /runs/${id:0:12}: the run's page, with the program_aof it ran with" ||
    fail "the run page of $id: $(head -c 300 "$tmp/run.html")"
  board "$gport" "$hport"
  kill "$spid" 2>/dev/null
  wait "$spid" 2>/dev/null
}

# A board: Mesa's vk_compute captured through passthrough over the loopback
# kernel (the twin posing as a kernel with the series) with the fault stream,
# its BOs made alloc-on-fault in that kernel (--aof all), by one agent
# command; the server replays it from its recorded faults, calibrates the
# board, and a what-if decides those faults' outcomes.
board() {
  local gport=$1 hport=$2 loopback socks lpid id
  loopback=$(dirname "$agent")/loopback/faultlab-loopback
  socks=$(mktemp -d /tmp/faultlab-mesa-lb.XXXXXX)  # a socket's path must be short
  "$loopback" --socket "$socks/k.sock" --kprobes "$tmp/stream.txt" 2>"$tmp/loopback.log" &
  lpid=$!
  for _ in $(seq 50); do [ -S "$socks/k.sock" ] && break; sleep 0.1; done
  VK_ICD_FILENAMES="$icd" "$agent" --board mesa-board --server "127.0.0.1:$gport" --spool-dir "$tmp/spool-board" \
    --device real --backend "unix:$socks/k.sock" --kprobes "$tmp/stream.txt" --aof all \
    --exec -- "$programs/vk_compute" "$programs/compute.comp.spv" --passes 8 >"$tmp/board.out" 2>"$tmp/board.log"
  local rc=$?
  kill "$lpid" 2>/dev/null
  rm -rf "$socks"
  [ $rc -eq 0 ] || { fail "vk_compute captured on the loopback kernel (exit $rc): $(tail -3 "$tmp/board.log")"; return; }
  for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$hport/boards/mesa-board/calibration" >"$tmp/board-cal.txt" 2>/dev/null && break
    sleep 0.1
  done
  id=$("$fl" traces --server "127.0.0.1:$gport" --board mesa-board | awk 'NR == 2 {print $1}')
  "$fl" report "$id" --server "127.0.0.1:$gport" >"$tmp/board.report" 2>&1
  local stream given
  stream=$(field "$tmp/board.report" recorded.faults.stream)
  given=$(field "$tmp/board.report" faults.from_recording)
  if [ "$(field "$tmp/board.report" outcome)" = identical ] && [ "${stream:-0}" -gt 0 ] && [ "${given:-0}" = "$stream" ]; then
    say "ok   agent --device real --aof all --exec vk_compute: $stream faults in the board's stream, replayed on the server from them, identical"
  else
    fail "vk_compute's board capture on the server: $(grep -E '^(outcome|recorded|faults.from)' "$tmp/board.report" | tr '\n' ' ')"
  fi
  grep -q '^profile: mesa-board-calibrated version 1 ' "$tmp/board-cal.txt" &&
    say "ok   the server calibrated the board from it: $(grep '^cost\.' "$tmp/board-cal.txt" | grep -vc '(kept)') ranges fitted, $(grep '^ks_distance.calibrated' "$tmp/board-cal.txt")" ||
    fail "mesa-board not calibrated: $(grep 'board mesa-board' "$tmp/server.log" | tail -1)"
  "$fl" replay "$id" --server "127.0.0.1:$gport" --what-if budget=16M >"$tmp/board.w" 2>&1
  grep -q '^costs: mesa-board-calibrated version 1 ' "$tmp/board.w" && [ "$(field "$tmp/board.w" faults.derivable)" = 1 ] &&
    say "ok   what-if budget=16M of the capture, with the board's costs: $(field "$tmp/board.w" faults.handled) handled, $(field "$tmp/board.w" faults.enomem) ENOMEM, $(field "$tmp/board.w" jobs_killed) jobs killed (recorded: $stream handled)" ||
    fail "what-if of the board capture: $(head -4 "$tmp/board.w")"
}
farm

say "wall time, one run each (the issue's aim: at most 3x the noop shim):"
for line in "${summary[@]}"; do say "  $line"; done
if [ "$failures" -ne 0 ]; then
  say "$failures failed (kept: $tmp)"
  exit 1
fi
rm -rf "$tmp"
say "passed"
