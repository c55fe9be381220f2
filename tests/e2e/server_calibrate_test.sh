#!/usr/bin/env bash
# Calibration on the server (docs/cost-model.md "Calibration on the
# server"), end to end: a "board" — the loopback kernel with its fault path
# 1300 per mille as costly as g610's, so the truth is known — and ONE agent
# command capturing a libdrm program's 12,000 faults with the fault stream.
# The server replays the trace, calibrates the board from it by itself,
# keeps the profile (within 10 % of the truth, served over HTTP, loadable),
# and what-ifs of the capture use it and say so; the next capture replays
# with it, and a newer calibration replaces it.
set -u
. "$(dirname "$0")/lib.sh"
agent=$1 srv=$2 fl=$3
client=$(readlink -f "$4") loopback=$(readlink -f "$5")
tmp=${TEST_TMPDIR:-$(mktemp -d)}
failures=0
pids=()
trap 'kill "${pids[@]}" 2>/dev/null' EXIT
ok() { echo "ok   $1"; }
get() { curl -sf "http://127.0.0.1:$hport$1"; }  # get PATH: the body; fails unless 200
fail() { echo "FAIL $1"; failures=$((failures + 1)); }

"$srv" --data-dir "$tmp/data" --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 2>"$tmp/server.log" &
pids+=($!)
port=$(port_of "$tmp/server.log" "gRPC on") && hport=$(port_of "$tmp/server.log" "HTTP on") || {
  echo "FAIL the server did not start: $(cat "$tmp/server.log")"
  exit 1
}
socks=$(mktemp -d /tmp/faultlab-scal.XXXXXX)  # a socket's path must be short
"$loopback" --socket "$socks/k.sock" --kprobes "$tmp/stream.txt" --fault-cost-permille 1300 2>/dev/null &
pids+=($!)
for _ in $(seq 50); do [ -S "$socks/k.sock" ] && break; sleep 0.1; done

# What a user with a board runs (--kprobes FILE stands in for auto: here the
# loopback kernel prints what the board's probes would).
capture() {
  "$agent" --board rk3588-lab --server "127.0.0.1:$port" --spool-dir "$tmp/spool" --device real \
    --backend "unix:$socks/k.sock" --kprobes "$tmp/stream.txt" --exec -- "$client" --storm "$1"
}
capture 12000 >"$tmp/storm.txt" 2>"$tmp/agent.err"
[ $? -eq 0 ] && grep -q "trace uploaded" "$tmp/agent.err" && ok "one agent command: captured and uploaded ($(cat "$tmp/storm.txt"))" \
  || fail "agent: $(tail -3 "$tmp/agent.err")"

for _ in $(seq 1 600); do get /boards/rk3588-lab/calibration >"$tmp/cal.txt" 2>/dev/null && grep -q '^ks_distance' "$tmp/cal.txt" && break; sleep 0.1; done
sed 's/^/     /' "$tmp/cal.txt"
grep -q '^profile: rk3588-lab-calibrated version 1 ' "$tmp/cal.txt" \
  && ok "the server calibrated the board by itself: version 1" || fail "no calibration: $(tail -3 "$tmp/server.log")"
grep -q "board rk3588-lab: calibrated profile rk3588-lab-calibrated version 1" "$tmp/server.log" \
  && ok "its log says so" || fail "log: $(grep 'board rk3588-lab' "$tmp/server.log")"
judge_fit "$tmp/cal.txt" 1.3
mkdir -p "$tmp/profiles"
get /boards/rk3588-lab/profile >"$tmp/profiles/rk3588-lab-calibrated.profile"
"$fl" profiles rk3588-lab-calibrated --profile-dir "$tmp/profiles" | grep -q '^rk3588-lab-calibrated ' \
  && ok "/boards/rk3588-lab/profile serves a profile the CLI loads" || fail "profile: $(head -3 "$tmp/profiles/rk3588-lab-calibrated.profile")"
get /boards/nosuch/profile >/dev/null 2>&1 && fail "an uncalibrated board has a profile" || ok "an uncalibrated board: 404"

# What-ifs of the capture use the board's costs and say so.
id=$("$fl" traces --server "127.0.0.1:$port" --board rk3588-lab | awk 'NR == 2 {print $1}')
"$fl" replay "$id" --server "127.0.0.1:$port" --what-if budget=2G >"$tmp/whatif.txt" 2>&1
grep -q '^costs: rk3588-lab-calibrated version 1 (this board.s calibration on the server)$' "$tmp/whatif.txt" \
  && ok "a what-if of the capture replays with the calibrated costs, said" || fail "what-if: $(head -5 "$tmp/whatif.txt")"
p50() { sed -n 's/^fault_latency_ns.p50: //p' "$1"; }
measured=$(sed -n 's/^recorded.fault_latency_ns.p50: //p' "$tmp/whatif.txt")
"$fl" replay "$id" --server "127.0.0.1:$port" --what-if profile=g610 >"$tmp/g610.txt" 2>&1
! grep -q '^costs:' "$tmp/g610.txt" && ok "profile=g610 takes g610's own costs" || fail "profile=g610 has costs"
cal=$(p50 "$tmp/whatif.txt") base=$(p50 "$tmp/g610.txt")
awk -v m="$measured" -v c="$cal" -v b="$base" 'BEGIN { d1 = c - m; d2 = b - m; if (d1 < 0) d1 = -d1; if (d2 < 0) d2 = -d2; exit !(m > 0 && d1 < d2) }' \
  && ok "replayed p50: measured $measured ns, calibrated $cal, g610's $base" || fail "p50: measured $measured, calibrated $cal, g610 $base"

# The next capture replays with the board's costs, and recalibrates it.
capture 3000 >/dev/null 2>"$tmp/agent2.err" || fail "second capture: $(tail -3 "$tmp/agent2.err")"
for _ in $(seq 1 600); do get /boards/rk3588-lab/calibration 2>/dev/null | grep -q '^profile: .* version 2 ' && break; sleep 0.1; done
get /boards/rk3588-lab/calibration | grep -q '^profile: rk3588-lab-calibrated version 2 ' \
  && ok "the second capture recalibrated the board: version 2" || fail "no version 2: $(grep 'board rk3588-lab' "$tmp/server.log")"
id2=$("$fl" traces --server "127.0.0.1:$port" --board rk3588-lab | awk 'NR == 3 {print $1}')
"$fl" report "$id2" --server "127.0.0.1:$port" 2>&1 | grep -q '^costs: rk3588-lab-calibrated version 1 ' \
  && ok "the second capture's own replay used version 1" || fail "report 2: $("$fl" report "$id2" --server "127.0.0.1:$port" 2>&1 | head -4)"
"$fl" replay "$id" --server "127.0.0.1:$port" --what-if budget=2G 2>&1 | grep -q '^costs: rk3588-lab-calibrated version 2 ' \
  && ok "a what-if asked again is replayed anew with version 2 (not the stored version-1 result)" || fail "what-if v2"

rm -rf "$socks"
[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
echo "0 failed"
