#!/usr/bin/env bash
# A real faultlab-server against what docs/security.md promises to bound:
# hostile uploads (damaged columns, an impossible count, a job that runs to
# the job timeout), silent and trickling HTTP clients, an HTTP/2 rapid-reset
# flood, a connection flood, a listening-address list, a full disk, SIGTERM
# mid-replay. After each, a normal upload, its replay and a scrape still
# work; the floods' cost is measured (peak threads, RSS and open files, and
# RSS after) and bounded.
set -u
. "$(dirname "$0")/lib.sh"
srv=$1 fl=$2 hostile=$3 flood=$4 connflood=$5 agent=$6
tmp=${TEST_TMPDIR:-$(mktemp -d)}
failures=0
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done' EXIT

start() {  # start NAME [--files N] [ENV=VALUE...]: sets pid, port (gRPC), hport (HTTP)
  local name=$1 files=; shift
  [ "${1:-}" = --files ] && { files=$2; shift 2; }
  (
    [ -z "$files" ] || ulimit -n "$files"
    exec env "$@" "$srv" --data-dir "$tmp/$name" --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0
  ) 2>"$tmp/$name.log" &
  pid=$!
  pids+=("$pid")
  port=$(port_of "$tmp/$name.log" "gRPC on")
  hport=$(port_of "$tmp/$name.log" "HTTP on")
  [ -n "$port" ] && [ -n "$hport" ] || { fail "$name did not start: $(cat "$tmp/$name.log")"; exit 1; }
}
get() { curl -s -m 3 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$hport$1"; }
replay_of() {  # replay_of ID_PREFIX: its replay outcome on the server, once there is one
  local out=
  for _ in $(seq 1 300); do
    out=$("$fl" traces --server "127.0.0.1:$port" | awk -v id="$1" 'index($1, id) == 1 {print $NF}')
    [ -n "$out" ] && [ "$out" != - ] && break
    sleep 0.1
  done
  echo "$out"
}
# A normal user's round trip: upload, replay identical, scrape.
still_serves() {  # still_serves WHAT SEED
  "$fl" record --workload compute --frames 2 --seed "$2" -o "$tmp/n$2.fltrace" >/dev/null
  local out id
  out=$("$fl" upload "$tmp/n$2.fltrace" --server "127.0.0.1:$port") || { fail "after $1: upload: $out"; return; }
  id=$(echo "$out" | sed -n 's/.*: trace \([0-9a-f]*\), .*/\1/p')
  [ "$(replay_of "${id:0:12}")" = identical ] && [ "$(get /metrics)" = 200 ] \
    && ok "after $1: a normal upload replays identically, /metrics answers" || fail "after $1: normal service"
}

start s1
"$fl" record --workload compute --frames 2 -o "$tmp/c.fltrace" >/dev/null

# Hostile uploads.
"$hostile" columns "$tmp/c.fltrace" "$tmp/columns.fltrace"
"$fl" upload "$tmp/columns.fltrace" --server "127.0.0.1:$port" 2>"$tmp/columns.err"
[ $? -eq 3 ] && grep -q "column" "$tmp/columns.err" && grep -q "found it damaged" "$tmp/columns.err" \
  && ok "a chunk with damaged columns is refused at ingest (exit 3)" || fail "columns: $(cat "$tmp/columns.err")"
"$hostile" wait-count "$tmp/c.fltrace" "$tmp/count.fltrace"
out=$("$fl" upload "$tmp/count.fltrace" --server "127.0.0.1:$port") && id=$(echo "$out" | sed -n 's/.*: trace \([0-9a-f]*\), .*/\1/p')
[ "$(replay_of "${id:0:12}")" = error ] && "$fl" report "${id:0:12}" --server "127.0.0.1:$port" | grep -q "SYNCOBJ_WAIT: its argument points at more memory" \
  && ok "an impossible count replays as error, saying why" || fail "count: $("$fl" report "${id:0:12}" --server "127.0.0.1:$port" 2>&1 | tail -3)"
curl -s "http://127.0.0.1:$hport/metrics" | grep -q '^faultlab_replay_errors_total{reason="damaged"} 1' \
  && ok "counted: faultlab_replay_errors_total{reason=\"damaged\"} 1" || fail "no damaged replay error counted"
# A damaged trace in an agent's spool (of its own recording: the server
# holds c.fltrace's id, from wait-count): refused for good, moved to
# rejected/ with the reason in the ledger; the agent's own run goes on.
mkdir -p "$tmp/spool"
"$fl" record --workload compute --frames 2 --seed 14 -o "$tmp/s14.fltrace" >/dev/null
"$hostile" columns "$tmp/s14.fltrace" "$tmp/spool/00000000-00000000000000000000000000000bad.fltrace"
"$agent" --board h --server "127.0.0.1:$port" --runs 1 --frames 1 --spool-dir "$tmp/spool" \
  --drain-timeout 20 2>"$tmp/agent.err"
rc=$?
[ "$rc" -eq 0 ] && [ -f "$tmp/spool/rejected/00000000-00000000000000000000000000000bad.fltrace" ] \
  && grep -q "^rejected.*column" "$tmp/spool/ledger.tsv" && grep -q "^uploaded" "$tmp/spool/ledger.tsv" \
  && ok "an agent's damaged spooled trace goes to rejected/ saying why; its run uploads" \
  || fail "agent spool (exit $rc): $(cat "$tmp/agent.err"; cat "$tmp/spool/ledger.tsv")"
still_serves "hostile uploads" 11

# Slow and silent HTTP peers: 14 silent connections and a trickle.
fds=()
for _ in $(seq 1 14); do exec {fd}<>"/dev/tcp/127.0.0.1/$hport" && fds+=("$fd"); done
( exec 9<>"/dev/tcp/127.0.0.1/$hport"; for c in G E T ' ' / m e t r i c s; do printf '%s' "$c" >&9 || exit; sleep 0.5; done ) &
trickle=$!
t0=$(date +%s%N)
code=$(get /healthz)
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$code" = 200 ] && [ "$ms" -lt 1000 ] && ok "/healthz answers in ${ms} ms beside 14 silent clients and a trickle" || fail "/healthz: $code in $ms ms"
[ "$(get /metrics)" = 200 ] && ok "/metrics too" || fail "/metrics starved"
for fd in "${fds[@]}"; do exec {fd}>&-; done
wait "$trickle" 2>/dev/null

# An HTTP/2 rapid-reset flood: 20,000 streams opened and reset on one connection.
python3 "$flood" 127.0.0.1 "$port" 20000 &
fp=$!
peak_threads=0 peak_rss=0
sample() {
  local t r
  t=$(awk '/^Threads/ {print $2}' "/proc/$pid/status") r=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
  [ "$t" -gt "$peak_threads" ] && peak_threads=$t
  [ "$r" -gt "$peak_rss" ] && peak_rss=$r
  threads_now=$t rss_after=$r
}
while kill -0 "$fp" 2>/dev/null; do sample; sleep 0.05; done
wait "$fp"
# The server works through what the flood queued, then lets its threads go
# and, within a few of its 5 s trims, its memory: settled once both stay low
# for 2 s (the flood's client can be gone before a loaded server has even
# started on its streams — low at one look is not yet after the flood).
settled=0
for _ in $(seq 1 600); do
  sample
  if [ "$threads_now" -lt 60 ] && [ "$rss_after" -lt 150000 ]; then
    settled=$((settled + 1))
    [ "$settled" -ge 40 ] && break
  else
    settled=0
  fi
  sleep 0.05
done
threads_after=$(awk '/^Threads/ {print $2}' "/proc/$pid/status")
echo "flood: peak $peak_threads threads, $((peak_rss / 1024)) MB resident; after: $threads_after threads, $((rss_after / 1024)) MB"
[ "$peak_threads" -lt 600 ] && [ "$peak_rss" -lt 1000000 ] && ok "the flood costs a bounded amount (< 600 threads, < 1 GB)" || fail "flood: peak $peak_threads threads, $peak_rss kB"
[ "$rss_after" -lt 150000 ] && ok "and its memory goes back (< 150 MB after)" || fail "flood: $rss_after kB after"
still_serves "the flood" 12

# SIGTERM while a replay runs: the server ends within 2 s; the replay stays pending.
# (From its own recording: a trace id is the recording's, and the server
# already holds chunk 0 of c.fltrace's id from wait-count.)
"$fl" record --workload compute --frames 2 --seed 13 -o "$tmp/b.fltrace" >/dev/null
"$hostile" job-bomb "$tmp/b.fltrace" "$tmp/bomb.fltrace"
"$fl" upload "$tmp/bomb.fltrace" --server "127.0.0.1:$port" >/dev/null
worker=
child_worker() {  # the server's running faultlab-replay-worker, if any
  local st
  for st in /proc/[0-9]*/stat; do
    [ "$(awk '{print $4}' "$st" 2>/dev/null)" = "$pid" ] && grep -q faultlab-replay "${st%stat}comm" 2>/dev/null \
      && { st=${st#/proc/}; echo "${st%/stat}"; return; }
  done
}
for _ in $(seq 1 200); do worker=$(child_worker); [ -n "$worker" ] && break; sleep 0.02; done
[ -n "$worker" ] && ok "a replay worker runs the job bomb" || fail "no replay worker seen"
t0=$(date +%s%N)
kill -TERM "$pid"; wait "$pid"; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$rc" -eq 0 ] && [ "$ms" -lt 2000 ] && ok "SIGTERM mid-replay: exit 0 in ${ms} ms" || fail "SIGTERM: exit $rc in $ms ms"
! kill -0 "$worker" 2>/dev/null && ok "its worker is gone" || fail "worker $worker survived"
sqlite_pending=$(python3 -c "
import sqlite3; c = sqlite3.connect('$tmp/s1/faultlab.db')
print(c.execute('SELECT COUNT(*) FROM traces WHERE complete = 1 AND trace_id NOT IN (SELECT trace_id FROM replays)').fetchone()[0])")
[ "$sqlite_pending" -ge 1 ] && ok "the interrupted replay is still pending" || fail "pending: $sqlite_pending"

# A connection flood past the open-file limit: 1,500 idle connections to a
# server allowed 1,024 open files. It holds at most 1,024 - 256 of them (the
# rest wait in the listen queue), so its store and /healthz keep working,
# and once the flood has gone it serves again (gRPC 1.51's own listener
# stopped accepting for good here: lib/rpc/listener.h).
start conn --files 1024
python3 "$connflood" 127.0.0.1 "$port" 1500 4 >"$tmp/conn.out" &
cf=$!
peak_files=0 health=
while kill -0 "$cf" 2>/dev/null; do
  n=$(ls "/proc/$pid/fd" | wc -l)
  [ "$n" -gt "$peak_files" ] && peak_files=$n
  [ "$n" -gt 700 ] && [ -z "$health" ] && health=$(get /healthz)
  sleep 0.1
done
wait "$cf"
echo "connection flood: $(cat "$tmp/conn.out"); the server's open files peaked at $peak_files"
grep -q "opened 1500" "$tmp/conn.out" && [ "$peak_files" -le 800 ] && grep -q "holding .* connections, the most it takes" "$tmp/conn.log" \
  && ok "a connection flood is held below the open-file limit (peak $peak_files files)" || fail "connection flood: $(cat "$tmp/conn.out"), peak $peak_files files"
[ "$health" = 200 ] && ok "/healthz answers 200 during it" || fail "/healthz during the connection flood: '$health'"
still_serves "the connection flood" 13
kill -TERM "$pid"; wait "$pid"

# One listening address each: a list would slip past the open-mode check.
"$srv" --data-dir "$tmp/x" --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0,0.0.0.0:0 2>"$tmp/list.err"
[ $? -eq 2 ] && grep -q "expected one HOST:PORT" "$tmp/list.err" && ok "an address list is refused (exit 2)" || fail "list: $(cat "$tmp/list.err")"

# A full disk: the client hears so (exit 4), not the server's paths; /healthz says it.
start full FAULTLAB_FAILPOINT=before_blob_write:enospc
"$fl" upload "$tmp/c.fltrace" --server "127.0.0.1:$port" 2>"$tmp/full.err"
[ $? -eq 4 ] && grep -q "the server's disk is full" "$tmp/full.err" && ! grep -q "$tmp/full/" "$tmp/full.err" \
  && ok "a full disk: exit 4, 'disk is full', no server path" || fail "full: $(cat "$tmp/full.err")"
[ "$(get /healthz)" = 503 ] && curl -s "http://127.0.0.1:$hport/healthz" | grep -q "No space left" \
  && ok "/healthz: 503 while the store's writes fail" || fail "healthz: $(curl -s "http://127.0.0.1:$hport/healthz")"
[ -z "$(ls "$tmp/full/blobs")" ] && ok "no blob left behind" || fail "blobs: $(ls "$tmp/full/blobs")"
kill -TERM "$pid"; wait "$pid"

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
