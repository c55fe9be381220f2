#!/usr/bin/env bash
# Calibration on known truth (docs/cost-model.md "Calibration"): the
# loopback kernel runs with its fault path 1300 per mille as costly as
# g610's (so every cost range is known: g610's x 1.3); a libdrm program
# makes >= 10,000 faults of varied shapes through the shim's passthrough
# capture with the fault stream; `faultlab calibrate` on that trace must
# recover each range it claims to fit within 10% of the truth, and the
# Kolmogorov-Smirnov distance between the measured latencies and the
# twin's with the calibrated profile must be <= 0.05. The profile it writes
# loads.
set -u
. "$(dirname "$0")/lib.sh"
shim=$(readlink -f "$1") client=$(readlink -f "$2") fl=$(readlink -f "$3") loopback=$(readlink -f "$4")
tmp=${TEST_TMPDIR:-$(mktemp -d)}
failures=0
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }

socks=$(mktemp -d /tmp/faultlab-cal.XXXXXX)  # a socket's path must be short
"$loopback" --socket "$socks/k.sock" --kprobes "$tmp/stream.txt" --fault-cost-permille 1300 2>"$tmp/loopback.err" &
lb=$!
for _ in $(seq 50); do [ -S "$socks/k.sock" ] && break; sleep 0.1; done
FAULTLAB_SHIM=passthrough FAULTLAB_BACKEND="unix:$socks/k.sock" FAULTLAB_KPROBES="$tmp/stream.txt" \
  FAULTLAB_TRACE="$tmp/storm.fltrace" LD_PRELOAD="$shim" "$client" --storm 12000 >"$tmp/storm.txt" 2>&1
rc=$?
kill "$lb" 2>/dev/null
rm -rf "$socks"
[ $rc -eq 0 ] && ok "captured: $(cat "$tmp/storm.txt")" || fail "storm (exit $rc): $(tail -3 "$tmp/storm.txt")"

"$fl" calibrate "$tmp/storm.fltrace" -o "$tmp/board-1300.profile" >"$tmp/cal.txt" 2>&1
rc=$?
sed 's/^/     /' "$tmp/cal.txt"
[ $rc -eq 0 ] || fail "calibrate exit $rc"
matched=$(sed -n 's/.*faults, \([0-9]*\) matched.*/\1/p' "$tmp/cal.txt")
[ -n "$matched" ] && [ "$matched" -ge 10000 ] && ok "$matched measured faults matched to the twin's replay" || fail "matched: $matched"
judge_fit "$tmp/cal.txt" 1.3
"$fl" profiles board-1300 --profile-dir "$tmp" | grep -q '^board-1300 ' && ok "the written profile loads (--profile-dir)" || fail "profile does not load"
# The calibrated profile in use: a recording on it carries it (its replay
# needs no --profile-dir), and a what-if names it with --profile-dir.
"$fl" record --workload compute --frames 2 --profile board-1300 --profile-dir "$tmp" -o "$tmp/cal.fltrace" >/dev/null 2>&1 \
  && "$fl" dump "$tmp/cal.fltrace" --limit 0 | grep -q '^config.profile_text: ' \
  && "$fl" replay "$tmp/cal.fltrace" | grep -q '^outcome: identical$' \
  && ok "a recording on the calibrated profile carries it: replays identically without --profile-dir" || fail "record on board-1300"
"$fl" record --workload compute --frames 2 -o "$tmp/g610.fltrace" >/dev/null 2>&1
p50() { sed -n 's/^fault_latency_ns.p50: //p'; }
base=$("$fl" replay "$tmp/g610.fltrace" | p50)
slow=$("$fl" replay "$tmp/g610.fltrace" --what-if profile=board-1300 --profile-dir "$tmp" | p50)
[ -n "$slow" ] && [ "$slow" -gt "$base" ] && ok "what-if profile=board-1300 (--profile-dir): p50 $base -> $slow ns" || fail "what-if calibrated: $base -> $slow"
"$fl" replay "$tmp/g610.fltrace" --what-if profile=board-1300 2>&1 | grep -q "unknown profile 'board-1300'" \
  && ok "without --profile-dir the id is unknown, said" || fail "unknown profile message"
echo "$failures failed"
exit $((failures > 0))
