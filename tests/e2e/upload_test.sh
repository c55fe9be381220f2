#!/usr/bin/env bash
# End to end over loopback: a real faultlab-server process, real gRPC, the
# faultlab CLI recording and uploading; the stored blob is the file's bytes.
set -u
. "$(dirname "$0")/lib.sh"
fl=$1
srv=$2
tmp=${TEST_TMPDIR:-$(mktemp -d)}
failures=0
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }

"$srv" --data-dir "$tmp/x" --grpc-addr 0.0.0.0:7499 2>"$tmp/refuse.err"
[ $? -eq 2 ] && grep -q "without --tokens" "$tmp/refuse.err" && ok "open mode refuses a non-loopback address" || fail "non-loopback accepted"
"$srv" 2>/dev/null; [ $? -eq 2 ] && ok "missing --data-dir is usage" || fail "missing --data-dir"

http_get() {  # http_get PORT PATH: the response, headers included
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET %s HTTP/1.0\r\n\r\n' "$2" >&3
  cat <&3
  exec 3<&-
}

"$srv" --data-dir "$tmp/data" --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --verify-every 1 2>"$tmp/server.err" &
pid=$!
port=$(port_of "$tmp/server.err" "gRPC on")
[ -n "$port" ] && ok "server up on port $port" || { fail "server did not start: $(cat "$tmp/server.err")"; exit 1; }
hport=$(port_of "$tmp/server.err" "HTTP on")
http_get "$hport" /healthz | grep -q '^ok' && ok "/healthz" || fail "/healthz"
http_get "$hport" /metrics | grep -q '^faultlab_replay_nondeterminism_total 0' && ok "unlabelled counters exist at 0" || fail "nondeterminism counter missing"

"$fl" record --workload game --frames 4 -o "$tmp/g.fltrace" >/dev/null
out=$("$fl" upload "$tmp/g.fltrace" --server "127.0.0.1:$port") && ok "upload" || fail "upload: $out"
id=$(echo "$out" | sed -n 's/.*: trace \([0-9a-f]*\), .*/\1/p')
cmp -s "$tmp/g.fltrace" "$tmp/data/blobs/$id.fltrace" && ok "stored bytes equal the file" || fail "stored bytes differ"
out=$("$fl" upload --server "127.0.0.1:$port" "$tmp/g.fltrace")
echo "$out" | grep -q "0 sent and acknowledged" && ok "a repeat upload sends nothing" || fail "repeat: $out"
# The replay worker replays the completed trace; its metrics appear.
# metric FILE NAME VALUE_REGEX LABEL...: a sample of NAME with every LABEL
# (in any order: the exposition sorts them) whose value matches.
metric() {
  local file=$1 name=$2 value=$3; shift 3
  local lines
  lines=$(grep "^$name{" "$file") || return 1
  for l in "$@"; do lines=$(echo "$lines" | grep -F "$l") || return 1; done
  echo "$lines" | grep -qE "} $value\$"
}
series=(board=\"twin\" gpu=\"g610\" workload=\"game\" variant=\"series-fixed\" policy=\"noretry\")
for _ in $(seq 1 100); do
  http_get "$hport" /metrics >"$tmp/metrics.txt"
  metric "$tmp/metrics.txt" faultlab_replays_total 1 "${series[@]}" outcome=\"identical\" && break
  sleep 0.1
done
metric "$tmp/metrics.txt" faultlab_replays_total 1 "${series[@]}" outcome=\"identical\" && ok "replayed: identical" || fail "no identical replay in /metrics"
metric "$tmp/metrics.txt" faultlab_replays_total 0 "${series[@]}" outcome=\"diverged\" && ok "other outcomes exist at 0" || fail "diverged series missing"
metric "$tmp/metrics.txt" faultlab_alloc_failures_total 0 "${series[@]}" source=\"replayed\" kind=\"page_table\" && ok "alloc-failure kinds exist at 0" || fail "alloc failure series missing"
metric "$tmp/metrics.txt" faultlab_fault_latency_seconds_count '[1-9][0-9]*' "${series[@]}" source=\"replayed\" outcome=\"handled\" && ok "fault latencies exported" || fail "no fault latency histogram"
metric "$tmp/metrics.txt" faultlab_fault_latency_seconds_bucket '[0-9]+' "${series[@]}" le=\"1.048576\" && ok "DESIGN's top bucket (2^20 us)" || fail "bucket boundaries"
grep -q '^faultlab_replay_nondeterminism_total 0' "$tmp/metrics.txt" && ok "replayed twice, no disagreement" || fail "nondeterminism"
# Query: the trace list and the server's report.
"$fl" traces --server "127.0.0.1:$port" >"$tmp/traces.txt" 2>&1
grep -q "^${id:0:12} .* game .*complete  *identical" "$tmp/traces.txt" && ok "traces lists it, replayed" || fail "traces: $(cat "$tmp/traces.txt")"
[ "$("$fl" traces --server "127.0.0.1:$port" --workload compute | wc -l)" -eq 1 ] && ok "traces filters by workload" || fail "traces filter"
"$fl" report "${id:0:8}" --server "127.0.0.1:$port" >"$tmp/report.txt" 2>&1
grep -q '^outcome: identical$' "$tmp/report.txt" && grep -q "^trace: $id$" "$tmp/report.txt" && ok "report by id prefix" || fail "report: $(cat "$tmp/report.txt")"
"$fl" replay "$tmp/g.fltrace" >"$tmp/local.txt"
diff <(sed -n '/^outcome:/,$p' "$tmp/report.txt") "$tmp/local.txt" >/dev/null && ok "the server's report is the local replay's, byte for byte" || fail "server and local reports differ"
"$fl" report ffff0000 --server "127.0.0.1:$port" 2>"$tmp/noid.err"
[ $? -eq 2 ] && grep -q "no trace with an id starting 'ffff0000'" "$tmp/noid.err" && ok "unknown id is usage" || fail "unknown id: $(cat "$tmp/noid.err")"
printf 'not a trace' >"$tmp/junk.fltrace"
"$fl" upload "$tmp/junk.fltrace" --server "127.0.0.1:$port" 2>"$tmp/junk.err"
[ $? -eq 3 ] && grep -q "junk.fltrace: offset 0" "$tmp/junk.err" && ok "a damaged file is exit 3" || fail "junk: $(cat "$tmp/junk.err")"
# An upload cut short: its head is stored, the trace is not complete.
"$fl" record --workload compute --frames 2 --seed 7 -o "$tmp/c.fltrace" >/dev/null
head -c $(( $(stat -c %s "$tmp/c.fltrace") - 10 )) "$tmp/c.fltrace" >"$tmp/cut.fltrace"
"$fl" upload "$tmp/cut.fltrace" --server "127.0.0.1:$port" >"$tmp/cut.out" 2>"$tmp/cut.err"
[ $? -eq 3 ] && ok "a file cut short is exit 3, its complete frames stored" || fail "cut: $(cat "$tmp/cut.err")"
cid=$("$fl" traces --server "127.0.0.1:$port" | awk '$0 ~ /compute/ {print $1}')
"$fl" report "$cid" --server "127.0.0.1:$port" 2>"$tmp/inc.err"
[ $? -eq 1 ] && grep -q "the upload is not complete" "$tmp/inc.err" && ok "report of an incomplete upload: exit 1, not complete" || fail "incomplete report: $(cat "$tmp/inc.err")"
"$fl" replay "$cid" --server "127.0.0.1:$port" 2>"$tmp/incr.err" >/dev/null
[ $? -eq 1 ] && grep -q "the upload is not complete: nothing to replay" "$tmp/incr.err" && ok "replay of an incomplete upload: exit 1 (FAILED_PRECONDITION)" || fail "incomplete replay: $(cat "$tmp/incr.err")"

kill -TERM "$pid"
wait "$pid"
[ $? -eq 0 ] && ok "SIGTERM shuts the server down cleanly" || fail "server exit status"
"$fl" upload "$tmp/g.fltrace" --server "127.0.0.1:$port" 2>"$tmp/down.err"
[ $? -eq 4 ] && grep -q "upload again to resume" "$tmp/down.err" && ok "no server is exit 4" || fail "down: $(cat "$tmp/down.err")"

# Tokens: agents upload, operators do everything; everyone else is refused.
printf 'agent short\n' >"$tmp/bad.tokens"
"$srv" --data-dir "$tmp/t" --tokens "$tmp/bad.tokens" 2>"$tmp/badtok.err"
[ $? -eq 2 ] && grep -q "bad.tokens:1: token shorter than 16" "$tmp/badtok.err" && ok "a bad tokens file names its line" || fail "bad tokens: $(cat "$tmp/badtok.err")"
printf '# lab tokens\nagent   agent-0123456789abcdef\noperator op-0123456789abcdef  # ops\n' >"$tmp/tokens"
"$srv" --data-dir "$tmp/t" --tokens "$tmp/tokens" --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 2>"$tmp/tok.err" &
tpid=$!
tport=$(port_of "$tmp/tok.err" "gRPC on")
grep -q "2 token(s)" "$tmp/tok.err" && ok "server with tokens" || fail "token server: $(cat "$tmp/tok.err")"
"$fl" upload "$tmp/g.fltrace" --server "127.0.0.1:$tport" 2>"$tmp/notok.err"
[ $? -eq 2 ] && grep -q "valid token is required" "$tmp/notok.err" && ok "no token: refused" || fail "no token: $(cat "$tmp/notok.err")"
"$fl" upload "$tmp/g.fltrace" --server "127.0.0.1:$tport" --token wrong-0123456789abcdef 2>/dev/null
[ $? -eq 2 ] && ok "wrong token: refused" || fail "wrong token accepted"
"$fl" upload "$tmp/g.fltrace" --server "127.0.0.1:$tport" --token agent-0123456789abcdef >/dev/null && ok "agent token uploads" || fail "agent upload"
"$fl" traces --server "127.0.0.1:$tport" --token agent-0123456789abcdef 2>"$tmp/agentq.err"
[ $? -eq 2 ] && grep -q "operator token" "$tmp/agentq.err" && ok "agent token cannot query" || fail "agent query: $(cat "$tmp/agentq.err")"
"$fl" traces --server "127.0.0.1:$tport" --token op-0123456789abcdef | grep -q " game " && ok "operator token queries" || fail "operator query"
kill -TERM "$tpid"; wait "$tpid"

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
