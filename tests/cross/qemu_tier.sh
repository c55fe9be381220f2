#!/usr/bin/env bash
# tests/cross/qemu_tier.sh: the arm64 tier (docs/build.md "arm64"), run by
# `./lab cross arm64`. The arm64 builds of the CLI, the agent, the device
# shim, the loopback kernel and the libdrm client run under qemu-user
# (qemu-aarch64-static, with the arm64 sysroot as its -L) beside the amd64
# builds on this machine:
#  - determinism across architectures: every workload recorded by the arm64
#    CLI is the amd64 recording event for event, and its replay report (and
#    a what-if's) is the amd64 one byte for byte; every golden trace of
#    traces/ replays on arm64 to its golden report;
#  - the arm64 shim runs the arm64 libdrm client on the twin (emulate);
#  - the arm64 agent runs it through the arm64 shim on the twin and, in
#    passthrough mode, against a loopback kernel with the fault stream, and
#    uploads both to an amd64 server that replays them identically.
#
#   tests/cross/qemu_tier.sh ARM64_BIN AMD64_BIN SYSROOT
set -uo pipefail
arm=$1 host=$2 sysroot=$3
qemu=(/usr/bin/qemu-aarch64-static -L "$sysroot")
a() { "${qemu[@]}" "$@"; }  # an arm64 program under qemu-user
tmp=$(mktemp -d)
socks=$(mktemp -d /tmp/faultlab-qemu.XXXXXX)  # a socket's path must be short
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$socks"' EXIT
failures=0
say() { printf 'qemu tier: %s\n' "$*" >&2; }
ok() { say "ok   $*"; }
fail() {
  say "FAIL $*"
  failures=$((failures + 1))
}
# A trace's events as the amd64 CLI prints them, without its random id.
events() { "$host/cli/faultlab" dump "$1" | grep -v '^trace_id: '; }

# --- determinism across architectures ---------------------------------------
for w in compute game heap pressure fuzz; do
  a "$arm/cli/faultlab" record --workload "$w" --frames 4 -o "$tmp/arm-$w.fltrace" >/dev/null 2>"$tmp/arm-$w.err" ||
    { fail "arm64 record --workload $w: $(tail -2 "$tmp/arm-$w.err")"; continue; }
  "$host/cli/faultlab" record --workload "$w" --frames 4 -o "$tmp/amd-$w.fltrace" >/dev/null 2>&1
  if cmp -s <(events "$tmp/arm-$w.fltrace") <(events "$tmp/amd-$w.fltrace"); then
    ok "$w: the arm64 recording is the amd64 one, event for event ($(events "$tmp/arm-$w.fltrace" | grep -c ' t='))"
  else
    fail "$w: the arm64 recording differs: $(diff <(events "$tmp/arm-$w.fltrace") <(events "$tmp/amd-$w.fltrace") | head -4)"
  fi
  for what_if in "" "--what-if budget=64M"; do
    # shellcheck disable=SC2086
    a "$arm/cli/faultlab" replay "$tmp/arm-$w.fltrace" $what_if >"$tmp/arm-$w.report" 2>&1
    # shellcheck disable=SC2086
    "$host/cli/faultlab" replay "$tmp/amd-$w.fltrace" $what_if >"$tmp/amd-$w.report" 2>&1
    if cmp -s "$tmp/arm-$w.report" "$tmp/amd-$w.report"; then
      ok "$w: replay ${what_if:-(recorded configuration)} on arm64: the amd64 report, byte for byte ($(sed -n 's/^outcome: //p' "$tmp/arm-$w.report"))"
    else
      fail "$w ${what_if}: reports differ: $(diff "$tmp/arm-$w.report" "$tmp/amd-$w.report" | head -4)"
    fi
  done
done
golden=0
for t in traces/*.fltrace; do
  [ -f "${t%.fltrace}.report.txt" ] || continue
  a "$arm/cli/faultlab" replay "$t" >"$tmp/golden.report" 2>&1
  if cmp -s "$tmp/golden.report" "${t%.fltrace}.report.txt"; then
    golden=$((golden + 1))
  else
    fail "$t on arm64: not its golden report: $(diff "$tmp/golden.report" "${t%.fltrace}.report.txt" | head -4)"
  fi
done
[ "$golden" -gt 0 ] && ok "$golden golden traces replay on arm64 to their golden reports"

# --- the shim and the agent -------------------------------------------------
# qemu-user checks the argument of an ioctl it knows before the descriptor:
# DRM_IOCTL_VERSION(NULL) on a descriptor that is not open is EFAULT under
# qemu where a kernel says EBADF (the client's "other fds" check). Every
# other check must pass.
qemu_only='other fds pass through (EBADF)'
client_ok() {  # client_ok OUTPUT: every check passed but qemu's own
  [ "$(grep -c '^ok' "$1")" -gt 60 ] && [ -z "$(grep '^FAIL' "$1" | grep -vF "$qemu_only")" ]
}
a -E LD_PRELOAD="$arm/agents/shim/libfaultlab_shim.so" "$arm/agents/shim/drm_client" >"$tmp/emu.txt" 2>&1
client_ok "$tmp/emu.txt" && ok "the arm64 shim runs the arm64 libdrm client on the twin: $(grep -c '^ok' "$tmp/emu.txt") checks pass" ||
  fail "arm64 client on the arm64 shim: $(grep FAIL "$tmp/emu.txt" | head -3)"

"$host/server/faultlab-server" --data-dir "$tmp/server" --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 2>"$tmp/server.log" &
pids+=($!)
port=
for _ in $(seq 100); do
  port=$(sed -n 's/.*gRPC on 127\.0\.0\.1:\([0-9]*\);.*/\1/p' "$tmp/server.log")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { fail "the amd64 server did not start: $(cat "$tmp/server.log")"; exit 1; }
# The agent under qemu-user cannot exec an arm64 program itself (that takes
# binfmt_misc, a setting of the host kernel this tier leaves alone): the
# program it runs is qemu-aarch64-static running the client, which passes
# the agent's LD_PRELOAD on to the client's arm64 loader.
client=(/usr/bin/qemu-aarch64-static -L "$sysroot" "$arm/agents/shim/drm_client")
a "$arm/agents/faultlab-agent" --board arm64-emu --server "127.0.0.1:$port" --spool-dir "$tmp/spool-emu" \
  --exec -- "${client[@]}" >"$tmp/agent-emu.txt" 2>"$tmp/agent-emu.err"
grep -q "trace uploaded" "$tmp/agent-emu.err" && client_ok "$tmp/agent-emu.txt" &&
  ok "the arm64 agent ran the client through the arm64 shim on the twin and uploaded it" ||
  fail "arm64 agent, emulate: $(tail -2 "$tmp/agent-emu.err")"

"$host/agents/loopback/faultlab-loopback" --socket "$socks/k.sock" --kmsg "$tmp/kmsg" --kprobes "$tmp/stream.txt" 2>/dev/null &
pids+=($!)
for _ in $(seq 50); do [ -S "$socks/k.sock" ] && break; sleep 0.1; done
a "$arm/agents/faultlab-agent" --board arm64-real --server "127.0.0.1:$port" --spool-dir "$tmp/spool-real" \
  --device real --backend "unix:$socks/k.sock" --kmsg "$tmp/kmsg" --kprobes "$tmp/stream.txt" \
  --exec -- "${client[@]}" >"$tmp/agent-real.txt" 2>"$tmp/agent-real.err"
grep -q "trace uploaded" "$tmp/agent-real.err" && client_ok "$tmp/agent-real.txt" &&
  ok "the arm64 agent captured the client in passthrough mode against a loopback kernel (with the fault stream) and uploaded it" ||
  fail "arm64 agent, passthrough: $(tail -2 "$tmp/agent-real.err")"

for _ in $(seq 300); do
  [ "$("$host/cli/faultlab" traces --server "127.0.0.1:$port" | grep -c ' identical$')" -ge 2 ] && break
  sleep 0.1
done
"$host/cli/faultlab" traces --server "127.0.0.1:$port" >"$tmp/traces.txt" 2>&1
for b in arm64-emu arm64-real; do
  grep -q " $b .* complete  *identical$" "$tmp/traces.txt" && ok "the amd64 server replayed $b's trace identically" ||
    fail "$b on the server: $(cat "$tmp/traces.txt")"
done
id=$(awk '$3 == "arm64-real" {print $1}' "$tmp/traces.txt")
stream=$("$host/cli/faultlab" report "$id" --server "127.0.0.1:$port" 2>/dev/null | sed -n 's/^recorded.faults.stream: //p')
[ "${stream:-0}" -gt 0 ] && ok "its report has the board's fault stream ($stream faults, collected by the arm64 shim)" ||
  fail "no fault stream in arm64-real's report"

# --- what qemu-user cannot run -----------------------------------------------
# The arm64 loopback kernel starts, but cannot serve a program: it reads and
# writes the program's memory with process_vm_readv/writev, which qemu-user
# does not emulate (ENOSYS; the shim's own reads fall back to a pipe, a
# peer's cannot). A real arm64 machine runs it.
a "$arm/agents/loopback/faultlab-loopback" --help >"$tmp/lb-help.txt" 2>&1
grep -qi 'usage' "$tmp/lb-help.txt" && ok "the arm64 loopback kernel runs (--help); serving a program needs process_vm_readv, which qemu-user lacks" ||
  fail "arm64 loopback --help: $(head -2 "$tmp/lb-help.txt")"

if [ "$failures" -ne 0 ]; then
  say "$failures failed (kept: $tmp)"
  exit 1
fi
rm -rf "$tmp"
say "passed"
