#!/usr/bin/env bash
# faultlab-agent end to end: agents record into their spools and upload;
# the server is killed (-9) mid-run and restarted; the agents resume, and
# what the server holds equals what the agents recorded — every trace once,
# byte for byte. A full spool pauses recording and loses nothing; SIGTERM
# leaves the spool for the next start; bad options are usage errors.
set -u
. "$(dirname "$0")/lib.sh"
agent=$1
srv=$2
fl=$3
client=$(readlink -f "$4")
loopback=$(readlink -f "$5")
tmp=${TEST_TMPDIR:-$(mktemp -d)}
failures=0
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }

"$agent" --board x --exec 2>"$tmp/noprog.err"
[ $? -eq 2 ] && grep -q "needs a program" "$tmp/noprog.err" && ok "--exec without a program is usage" || fail "exec: $(cat "$tmp/noprog.err")"
"$agent" 2>/dev/null; [ $? -eq 2 ] && ok "missing --board is usage" || fail "no board"
printf 'board = a\nworkloads compute\n' >"$tmp/bad.conf"
"$agent" --config "$tmp/bad.conf" 2>"$tmp/conf.err"
[ $? -eq 2 ] && grep -q "bad.conf:2: expected 'key = value'" "$tmp/conf.err" && ok "a bad config line is named" || fail "config: $(cat "$tmp/conf.err")"
"$agent" --board a --workloads nosuch 2>"$tmp/wl.err"
[ $? -eq 2 ] && grep -q "unknown workload 'nosuch'" "$tmp/wl.err" && ok "an unknown workload is usage" || fail "workload: $(cat "$tmp/wl.err")"
"$agent" --board a --aof all 2>"$tmp/aof.err"
[ $? -eq 2 ] && grep -q "aof applies to programs" "$tmp/aof.err" && ok "--aof without a program is usage" || fail "aof: $(cat "$tmp/aof.err")"
"$agent" --board a --aof label=x --exec -- true 2>"$tmp/aof2.err"
[ $? -eq 2 ] && grep -q "aof: label= selects by a label given after the BO is created" "$tmp/aof2.err" && ok "--aof label=... is usage (a replay's what-if)" || fail "aof label: $(cat "$tmp/aof2.err")"
"$agent" --board a --workloads compute,mesa-vk --mesa-dir "$tmp/no-mesa" 2>"$tmp/mesa.err"
[ $? -eq 2 ] && grep -q "workloads mesa-vk: Mesa 25.0.7 is not built in $tmp/no-mesa (./lab mesa builds it)" "$tmp/mesa.err" \
  && ok "a Mesa workload without Mesa built is usage, saying how to build it" || fail "mesa: $(cat "$tmp/mesa.err")"

# Labels go into the header; --drain-timeout gives up on an absent server (exit 4, kept).
"$agent" --board eps --server 127.0.0.1:1 --runs 1 --frames 1 --label rack=3 --label owner=gpu-team \
  --spool-dir "$tmp/spool-eps" --drain-timeout 1 2>"$tmp/eps.err"
[ $? -eq 4 ] && grep -q "1 trace(s) still in" "$tmp/eps.err" && ok "--drain-timeout: exit 4, trace kept" || fail "drain: $(cat "$tmp/eps.err")"
"$fl" dump "$tmp"/spool-eps/*.fltrace --limit 0 | grep -q '^config.label.rack: 3' && ok "--label in the trace header" || fail "label missing"
"$agent" --board eps --label 'bad key=1' 2>/dev/null; [ $? -eq 2 ] && ok "a bad --label is usage" || fail "bad label"

start_server() {  # start_server LOG: sets pid and port (fixed, so agents find it again)
  "$srv" --data-dir "$tmp/data" --grpc-addr "127.0.0.1:$port" --http-addr 127.0.0.1:0 2>>"$1" &
  pid=$!
  port_of "$1" "gRPC on" >/dev/null
}
port=$((20000 + $$ % 20000))
: >"$tmp/s1.log"
start_server "$tmp/s1.log" || { fail "server: $(cat "$tmp/s1.log")"; exit 1; }
ok "server up on $port"

# Two agents, 6 runs each; the server dies with kill -9 while they run.
for b in alpha beta; do
  printf 'board = %s\nserver = 127.0.0.1:%s\nworkloads = compute,game\nframes = 3\n' "$b" "$port" >"$tmp/$b.conf"
  "$agent" --config "$tmp/$b.conf" --runs 6 --interval-ms 150 --spool-dir "$tmp/spool-$b" \
    --archive-dir "$tmp/archive-$b" 2>"$tmp/agent-$b.log" &
  eval "apid_$b=$!"
done
# Mid-run: once each agent's first trace is on the server (6 runs at 150 ms
# intervals are far from done then).
for _ in $(seq 1 400); do
  [ "$(cat "$tmp"/spool-*/ledger.tsv 2>/dev/null | grep -c '^uploaded')" -ge 2 ] && break
  sleep 0.05
done
kill -9 "$pid"; wait "$pid" 2>/dev/null
[ "$(cat "$tmp"/spool-*/ledger.tsv | grep -c '^recorded')" -lt 12 ] && ok "server killed mid-run" || fail "the agents had finished before the kill"
# Down until an agent has seen it down.
for _ in $(seq 1 400); do
  grep -q "upload to .* failed" "$tmp/agent-alpha.log" "$tmp/agent-beta.log" && break
  sleep 0.05
done
: >"$tmp/s2.log"
start_server "$tmp/s2.log" && ok "server restarted" || fail "restart: $(cat "$tmp/s2.log")"
for b in alpha beta; do
  eval "wait \$apid_$b"
  [ $? -eq 0 ] && ok "agent $b finished (exit 0)" || fail "agent $b: $(cat "$tmp/agent-$b.log")"
done
grep -q "reachable again" "$tmp/agent-alpha.log" "$tmp/agent-beta.log" && ok "an agent saw the outage and resumed" || fail "no outage seen"
"$fl" traces --server "127.0.0.1:$port" >"$tmp/traces.txt"
for b in alpha beta; do
  rec=$(grep -c '^recorded' "$tmp/spool-$b/ledger.tsv")
  [ "$rec" -eq 6 ] && ok "$b recorded 6 runs" || fail "$b recorded $rec"
  [ "$(grep -c " $b " "$tmp/traces.txt")" -eq 6 ] && ok "the server holds 6 traces of $b, no duplicate" || fail "server has $(grep -c " $b " "$tmp/traces.txt") of $b"
  bad=0
  while IFS=$'\t' read -r what id events bytes; do
    [ "$what" = recorded ] || continue
    grep -q "^${id:0:12} .* $events  *[0-9]* complete " "$tmp/traces.txt" || bad=$((bad + 1))
    cmp -s "$tmp/archive-$b/$id.fltrace" "$tmp/data/blobs/$id.fltrace" || bad=$((bad + 1))
  done <"$tmp/spool-$b/ledger.tsv"
  [ "$bad" -eq 0 ] && ok "$b: every trace's events and bytes equal what was recorded" || fail "$b: $bad mismatches"
  [ -z "$(ls "$tmp/spool-$b" | grep fltrace)" ] && ok "$b: spool empty" || fail "$b spool: $(ls "$tmp/spool-$b")"
done
kill -TERM "$pid"; wait "$pid"

# A full spool: the server is away, the bound is one trace; recording
# pauses (and says so), then resumes when the server is back.
"$agent" --board gamma --server "127.0.0.1:$port" --runs 3 --workloads compute --frames 2 --interval-ms 0 \
  --spool-dir "$tmp/spool-gamma" --spool-max-bytes 1 --http-addr 127.0.0.1:0 2>"$tmp/agent-gamma.log" &
gpid=$!
for _ in $(seq 1 100); do grep -q "spool full" "$tmp/agent-gamma.log" && break; sleep 0.05; done
grep -q "spool full (.* bytes in .*): recording paused" "$tmp/agent-gamma.log" && ok "a full spool pauses recording, saying so" || fail "gamma: $(cat "$tmp/agent-gamma.log")"
mport=$(sed -n 's/.*metrics on port \([0-9]*\).*/\1/p' "$tmp/agent-gamma.log")
exec 3<>"/dev/tcp/127.0.0.1/$mport" && printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3 && cat <&3 >"$tmp/gamma.metrics"; exec 3<&-
grep -q '^faultlab_agent_spool_full{board="gamma"} 1' "$tmp/gamma.metrics" && ok "spool_full metric 1" || fail "spool_full: $(grep spool "$tmp/gamma.metrics")"
[ "$(ls "$tmp/spool-gamma" | grep -c 'fltrace$')" -eq 1 ] && ok "one trace held, none dropped" || fail "gamma spool: $(ls "$tmp/spool-gamma")"
: >"$tmp/s3.log"
start_server "$tmp/s3.log"
wait "$gpid"
[ $? -eq 0 ] && grep -q "recording resumed" "$tmp/agent-gamma.log" && ok "the server back: recording resumed, 3 runs uploaded" || fail "gamma end: $(cat "$tmp/agent-gamma.log")"

# --exec: a libdrm program runs once on the twin under the shim; its trace is
# uploaded and the agent exits with the program's status.
"$agent" --board exec --server "127.0.0.1:$port" --spool-dir "$tmp/spool-exec" --exec -- "$client" >"$tmp/exec-out.txt" 2>"$tmp/exec.err"
[ $? -eq 0 ] && grep -q "trace uploaded" "$tmp/exec.err" && [ "$(grep -c '^FAIL' "$tmp/exec-out.txt")" -eq 0 ] \
  && ok "--exec -- drm_client: the program passes, its trace is uploaded, exit 0" || fail "exec: $(cat "$tmp/exec.err")"
for _ in $(seq 1 100); do "$fl" traces --server "127.0.0.1:$port" --board exec | grep -q ' identical$' && break; sleep 0.1; done
"$fl" traces --server "127.0.0.1:$port" --board exec | grep -q ' drm_client .* complete  *identical$' \
  && ok "the server replayed the program's trace identically" || fail "exec trace: $("$fl" traces --server "127.0.0.1:$port" --board exec)"
"$agent" --board exec --server "127.0.0.1:$port" --spool-dir "$tmp/spool-exec" --exec -- sh -c 'exit 7' 2>"$tmp/exec7.err"
[ $? -eq 7 ] && grep -q "did not use the GPU device" "$tmp/exec7.err" && ok "--exec returns the program's status (7), saying nothing was recorded" || fail "exec 7: $(cat "$tmp/exec7.err")"
"$agent" --board exec --server 127.0.0.1:1 --spool-dir "$tmp/spool-exec2" --drain-timeout 1 --exec -- "$client" >/dev/null 2>"$tmp/exec-down.err"
[ $? -eq 0 ] && grep -q "stays spooled in" "$tmp/exec-down.err" && [ "$(ls "$tmp/spool-exec2" | grep -c 'fltrace$')" -eq 1 ] \
  && ok "--exec with the server away: spooled, saying so, exit with the program's status" || fail "exec down: $(cat "$tmp/exec-down.err")"
# --device real: the program's real ioctls, captured by the shim's passthrough
# mode — here against the loopback kernel (the twin behind a socket, posing as
# the kernel); the server replays the board trace on its twin.
socks=$(mktemp -d /tmp/faultlab-agent-lb.XXXXXX)
"$loopback" --socket "$socks/k.sock" --kmsg "$tmp/board-kmsg" 2>/dev/null &
lb=$!
for _ in $(seq 50); do [ -S "$socks/k.sock" ] && break; sleep 0.1; done
"$agent" --board board-01 --server "127.0.0.1:$port" --spool-dir "$tmp/spool-real" --device real \
  --backend "unix:$socks/k.sock" --kmsg "$tmp/board-kmsg" --kprobes auto --exec -- "$client" >"$tmp/real-out.txt" 2>"$tmp/real.err"
[ $? -eq 0 ] && grep -q "on the loopback kernel" "$tmp/real.err" && grep -q "trace uploaded" "$tmp/real.err" && [ "$(grep -c '^FAIL' "$tmp/real-out.txt")" -eq 0 ] \
  && ok "--device real --backend: drm_client captured through passthrough, uploaded, exit 0" || fail "real: $(cat "$tmp/real.err")"
grep -q "kprobes: .*fault latencies are not measured" "$tmp/real.err" \
  && ok "--kprobes auto with no panthor module here says why and goes on: $(sed -n 's/.*kprobes: //p' "$tmp/real.err" | cut -c1-60)" || fail "kprobes auto: $(cat "$tmp/real.err")"
for _ in $(seq 1 100); do "$fl" traces --server "127.0.0.1:$port" --board board-01 | grep -q ' identical$' && break; sleep 0.1; done
"$fl" traces --server "127.0.0.1:$port" --board board-01 | grep -q ' drm_client .* complete  *identical$' \
  && ok "the server replayed the board trace on its twin: identical" || fail "board trace: $("$fl" traces --server "127.0.0.1:$port" --board board-01)"
hp=$(port_of "$tmp/s3.log" "HTTP on")
exec 3<>"/dev/tcp/127.0.0.1/$hp" && printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3 && cat <&3 >"$tmp/server.metrics"; exec 3<&-
grep -q '^faultlab_replays_total{board="board-01",.*outcome="identical".*} 1$' "$tmp/server.metrics" \
  && grep -q '^faultlab_fault_latency_seconds_count{board="board-01",.*source="replayed".*} [1-9]' "$tmp/server.metrics" \
  && ok "its metrics: one identical replay, the twin's fault latencies as source=replayed" || fail "board metrics: $(grep 'board-01' "$tmp/server.metrics" | head -5)"
kill "$lb" 2>/dev/null; rm -rf "$socks"
if ! ls /dev/dri/renderD* >/dev/null 2>&1; then
  "$agent" --board board-02 --server "127.0.0.1:$port" --spool-dir "$tmp/spool-none" --device real --exec -- sh -c 'exit 3' 2>"$tmp/none.err"
  [ $? -eq 3 ] && grep -q "no panthor device on this machine" "$tmp/none.err" && grep -q "runs unrecorded" "$tmp/none.err" \
    && ok "--device real with no panthor device: says so, runs the program unrecorded, exits with its status" || fail "no device: $(cat "$tmp/none.err")"
fi
"$agent" --board x --device bogus --exec -- true 2>"$tmp/bogus.err"
[ $? -eq 2 ] && grep -q "emulated or real" "$tmp/bogus.err" && ok "--device bogus is usage" || fail "bogus: $(cat "$tmp/bogus.err")"
"$agent" --board x --backend unix:/x --exec -- true 2>"$tmp/nb.err"
[ $? -eq 2 ] && grep -q "go with --device real" "$tmp/nb.err" && ok "--backend without --device real is usage" || fail "backend: $(cat "$tmp/nb.err")"
# --exec --aof: the program's BOs allocated on fault; its faults reach the server.
"$agent" --board exec-aof --server "127.0.0.1:$port" --spool-dir "$tmp/spool-exec-aof" --aof 'size>=64K' \
  --exec -- "$client" >/dev/null 2>"$tmp/exec-aof.err"
grep -q "programs' BOs alloc-on-fault: size>=64K" "$tmp/exec-aof.err" && grep -q "trace uploaded" "$tmp/exec-aof.err" \
  && ok "--exec --aof: said in the plan, uploaded" || fail "exec aof: $(cat "$tmp/exec-aof.err")"
for _ in $(seq 1 100); do "$fl" runs --server "127.0.0.1:$port" --board exec-aof | grep -q ' identical$' && break; sleep 0.1; done
faults=$("$fl" runs --server "127.0.0.1:$port" --board exec-aof | awk 'NR == 2 {print $8}')
base=$("$fl" runs --server "127.0.0.1:$port" --board exec | awk 'NR == 2 {print $8}')
[ -n "$faults" ] && [ "$faults" -gt "${base:-0}" ] && ok "its faults on the server: $faults (without --aof: $base)" \
  || fail "exec aof faults: $("$fl" runs --server "127.0.0.1:$port" --board exec-aof)"

# SIGTERM on a daemon: it stops; what is spooled stays and the next start uploads it.
kill -TERM "$pid"; wait "$pid"
"$agent" --board delta --server "127.0.0.1:$port" --workloads compute --frames 2 --interval-ms 50 \
  --spool-dir "$tmp/spool-delta" 2>"$tmp/agent-delta.log" &
dpid=$!
for _ in $(seq 1 100); do [ "$(ls "$tmp/spool-delta" 2>/dev/null | grep -c 'fltrace$')" -ge 2 ] && break; sleep 0.05; done
kill -TERM "$dpid"; wait "$dpid"
[ $? -eq 0 ] && grep -q "stay in" "$tmp/agent-delta.log" && ok "SIGTERM: exit 0, spool kept" || fail "delta: $(cat "$tmp/agent-delta.log")"
held=$(grep -c '^recorded' "$tmp/spool-delta/ledger.tsv")
: >"$tmp/s4.log"
start_server "$tmp/s4.log"
"$agent" --board delta --server "127.0.0.1:$port" --runs 1 --workloads compute --frames 2 \
  --spool-dir "$tmp/spool-delta" 2>>"$tmp/agent-delta.log"
[ "$("$fl" traces --server "127.0.0.1:$port" --board delta | tail -n +2 | wc -l)" -eq $((held + 1)) ] \
  && ok "the next start uploaded the $held kept trace(s) and its own" || fail "delta upload: $("$fl" traces --server "127.0.0.1:$port" --board delta)"
kill -TERM "$pid"; wait "$pid"

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
