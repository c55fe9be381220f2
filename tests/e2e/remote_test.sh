#!/usr/bin/env bash
# End to end over loopback and TLS: a real faultlab-server with a test CA's
# certificate; `faultlab backfill` records seeded runs with a regression
# injected on one board; `runs`, `compare`, `replay --server` (a what-if
# matrix) and /metrics must all tell the same, known answer.
set -u
. "$(dirname "$0")/lib.sh"
fl=$1
srv=$2
certs=$3
tmp=${TEST_TMPDIR:-$(mktemp -d)}
failures=0
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }

http_get() {  # http_get PORT PATH
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET %s HTTP/1.0\r\n\r\n' "$2" >&3
  cat <&3
  exec 3<&-
}

"$srv" --data-dir "$tmp/x" --tls-cert "$certs/server.pem" 2>"$tmp/half.err"
[ $? -eq 2 ] && grep -q "go together" "$tmp/half.err" && ok "--tls-cert without --tls-key is usage" || fail "half TLS: $(cat "$tmp/half.err")"
"$srv" --data-dir "$tmp/x" --baseline-runs 3 2>"$tmp/base.err"
[ $? -eq 2 ] && grep -q "want 5" "$tmp/base.err" && ok "--baseline-runs below 5 is usage" || fail "baseline 3 accepted"

"$srv" --data-dir "$tmp/data" --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 \
  --tls-cert "$certs/server.pem" --tls-key "$certs/server.key" --baseline-runs 5 2>"$tmp/server.err" &
pid=$!
port=$(port_of "$tmp/server.err" "gRPC (TLS) on")
[ -n "$port" ] && ok "TLS server up on port $port" || { fail "server did not start: $(cat "$tmp/server.err")"; exit 1; }
hport=$(port_of "$tmp/server.err" "HTTP on")
remote=(--server "127.0.0.1:$port" --tls-ca "$certs/ca.pem")

"$fl" traces --server "127.0.0.1:$port" 2>"$tmp/plain.err"
[ $? -eq 4 ] && ok "a plaintext client cannot talk to the TLS server" || fail "plaintext: $(cat "$tmp/plain.err")"
"$fl" traces --server "127.0.0.1:$port" --tls-ca "$tmp/missing.pem" 2>"$tmp/noca.err"
[ $? -eq 2 ] && grep -q "cannot read the CA" "$tmp/noca.err" && ok "a missing --tls-ca is usage" || fail "missing CA: $(cat "$tmp/noca.err")"

# 8 runs each of two series; from run 7 on, board 'slow' records a fault
# path 30 % more costly. Board 'steady' is the control.
"$fl" backfill "${remote[@]}" --runs 8 --boards slow,steady --workloads compute \
  --variants series-fixed --regress-from 7 >"$tmp/backfill.txt" 2>&1 \
  && grep -q "16 runs (8 per series, 2 series)" "$tmp/backfill.txt" && ok "backfill" || fail "backfill: $(cat "$tmp/backfill.txt")"
for _ in $(seq 1 200); do
  "$fl" runs "${remote[@]}" >"$tmp/runs.txt" 2>/dev/null
  [ "$(grep -c ' identical$' "$tmp/runs.txt")" -eq 16 ] && break
  sleep 0.1
done
[ "$(grep -c ' identical$' "$tmp/runs.txt")" -eq 16 ] && ok "16 runs analysed and replayed identically" || fail "runs: $(cat "$tmp/runs.txt")"
[ "$(grep ' slow ' "$tmp/runs.txt" | grep -c insufficient_baseline)" -eq 5 ] && ok "the first 5 runs of a series have no baseline" || fail "baseline count"
[ "$(grep ' slow ' "$tmp/runs.txt" | sed -n '7,8p' | grep -c ' regressed')" -eq 2 ] && ok "runs 7 and 8 of 'slow' regressed" || fail "slow: $(grep ' slow ' "$tmp/runs.txt")"
[ "$(grep ' slow ' "$tmp/runs.txt" | sed -n '6p' | grep -c ' unchanged ')" -eq 1 ] && ok "run 6 of 'slow' unchanged" || fail "slow 6"
! grep ' steady ' "$tmp/runs.txt" | grep -q -E 'regressed|improved' && ok "no false alarm on 'steady'" || fail "steady: $(grep ' steady ' "$tmp/runs.txt")"
[ "$("$fl" runs "${remote[@]}" --board slow --limit 2 | wc -l)" -eq 3 ] && ok "runs --board --limit" || fail "runs filter"

slow8=$(grep ' slow ' "$tmp/runs.txt" | sed -n '8p' | awk '{print $2}')
"$fl" compare "${remote[@]}" board=steady "$slow8" >"$tmp/cmp1.txt" 2>&1
[ $? -eq 1 ] && grep -q '^verdict: regressed' "$tmp/cmp1.txt" && ok "compare group vs run: regressed, exit 1" || fail "compare: $(cat "$tmp/cmp1.txt")"
"$fl" compare "${remote[@]}" board=slow,last=2 board=steady,last=2 >"$tmp/cmp2.txt" 2>&1
[ $? -eq 0 ] && grep -q '^verdict: improved' "$tmp/cmp2.txt" && ok "compare the other way: improved, exit 0" || fail "compare 2: $(cat "$tmp/cmp2.txt")"
"$fl" compare "${remote[@]}" board=nowhere board=slow 2>"$tmp/cmp3.err"
[ $? -eq 1 ] && grep -q "a: no run matches" "$tmp/cmp3.err" && ok "compare with an empty side: not found" || fail "compare empty: $(cat "$tmp/cmp3.err")"

# A what-if matrix on the server: 2 policies x 2 budgets.
"$fl" replay "$slow8" "${remote[@]}" --what-if policy=noretry,dummy-page --what-if budget=16M,2G >"$tmp/matrix.txt" 2>&1
[ $? -eq 0 ] && [ "$(grep -c '^== cell' "$tmp/matrix.txt")" -eq 4 ] && ok "a 2x2 what-if matrix" || fail "matrix: $(head -20 "$tmp/matrix.txt")"
grep -q '^policy=noretry,budget=16M .* what_if ' "$tmp/matrix.txt" && ok "the matrix table" || fail "matrix table: $(tail -6 "$tmp/matrix.txt")"
enomem=$(awk '$1 == "policy=noretry,budget=16M" {print $4}' "$tmp/matrix.txt")
enomem2g=$(awk '$1 == "policy=noretry,budget=2G" {print $4}' "$tmp/matrix.txt")
[ "${enomem:-0}" -gt 0 ] && [ "${enomem2g:-1}" -eq 0 ] && ok "16M runs out ($enomem enomem faults), 2G does not" || fail "budget had no effect: $enomem / $enomem2g"
"$fl" replay "$slow8" "${remote[@]}" --what-if policy=noretry,dummy-page --what-if budget=16M,2G 2>/dev/null | grep -c '(stored result)' | grep -q '^4$' && ok "a repeated matrix comes from the store" || fail "not cached"
"$fl" replay "$slow8" "${remote[@]}" --what-if colour=red 2>"$tmp/badkey.err"
[ $? -eq 2 ] && grep -q "what-if key 'colour'" "$tmp/badkey.err" && ok "an unknown what-if key is usage" || fail "bad key: $(cat "$tmp/badkey.err")"
"$fl" replay "$slow8" "${remote[@]}" --what-if budget=1M,2M,3M,4M,5M,6M,7M,8M,9M --what-if thp=never,within_size,never,within_size,never,within_size,never,within_size 2>"$tmp/big.err"
[ $? -eq 2 ] && grep -q "more than 64 cells" "$tmp/big.err" && ok "a matrix over 64 cells is refused" || fail "big matrix: $(cat "$tmp/big.err")"
"$fl" replay "$slow8" "${remote[@]}" >"$tmp/plain.txt" && grep -q '^outcome: identical$' "$tmp/plain.txt" && ok "replay --server without what-if: identical" || fail "plain remote replay"

http_get "$hport" /metrics >"$tmp/metrics.txt"
grep -q '^faultlab_regression_regressed{board="slow",.*} 1$' "$tmp/metrics.txt" && ok "regressed gauge 1 on 'slow'" || fail "gauge slow"
grep -q '^faultlab_regression_regressed{board="steady",.*} 0$' "$tmp/metrics.txt" && ok "regressed gauge 0 on 'steady'" || fail "gauge steady"
grep -q '^faultlab_regression_verdicts_total{board="slow",.*verdict="regressed".*} 2$' "$tmp/metrics.txt" && ok "2 regressed verdicts counted" || fail "verdict counter: $(grep verdicts_total "$tmp/metrics.txt")"
grep -q '^faultlab_fault_latency_seconds_count{.*source="recorded".*} [1-9]' "$tmp/metrics.txt" && ok "recorded latencies exported" || fail "no recorded histogram"
grep -q '^faultlab_store_bytes{store="sqlite:.*"} [1-9]' "$tmp/metrics.txt" && ok "store size exported" || fail "store bytes"
grep -q '^faultlab_whatif_replays_total{outcome="what_if"} 4$' "$tmp/metrics.txt" && ok "4 what-if cells counted" || fail "what-if counter"

"$fl" backfill "${remote[@]}" --runs 8 --boards slow,steady --workloads compute --variants series-fixed --regress-from 7 >"$tmp/again.txt" 2>&1
grep -q "16 were already there" "$tmp/again.txt" && ok "a repeated backfill stores nothing twice" || fail "again: $(cat "$tmp/again.txt")"

# A restart: runs and verdicts are in the store, nothing is judged twice.
kill -TERM "$pid"; wait "$pid"
"$srv" --data-dir "$tmp/data" --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 \
  --tls-cert "$certs/server.pem" --tls-key "$certs/server.key" 2>"$tmp/server2.err" &
pid=$!
port=$(port_of "$tmp/server2.err" "gRPC (TLS) on")
"$fl" runs --server "127.0.0.1:$port" --tls-ca "$certs/ca.pem" >"$tmp/runs2.txt" 2>&1
diff "$tmp/runs.txt" "$tmp/runs2.txt" >/dev/null && ok "after a restart the runs are as they were" || fail "runs changed: $(diff "$tmp/runs.txt" "$tmp/runs2.txt")"
kill -TERM "$pid"; wait "$pid"

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
