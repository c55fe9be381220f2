#!/usr/bin/env bash
# The device shim end to end: a libdrm client (drm_client.c) runs unchanged on
# the twin under LD_PRELOAD, as root and as an unprivileged user; the trace it
# records replays with no divergence; the shim is silent unless FAULTLAB_LOG
# is set; other files pass through; without the shim the client finds nothing.
set -u
shim=$(readlink -f "$1") client=$(readlink -f "$2") fl=$(readlink -f "$3")
loopback=$(readlink -f "$4") loop=$(readlink -f "$5")
tmp=${TEST_TMPDIR:-$(mktemp -d)}
failures=0
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }
# A short job timeout (the twin's, the loopback kernel's and the client's
# sleep for its stalled job), so that the live device's timeout check is quick.
export FAULTLAB_JOB_TIMEOUT_MS=200

"$client" >"$tmp/noshim.txt" 2>&1
[ $? -ne 0 ] && grep -q "FAIL drmGetDevices2" "$tmp/noshim.txt" && ok "without the shim the client finds no device" || fail "no-shim run: $(head -3 "$tmp/noshim.txt")"

FAULTLAB_TRACE="$tmp/root.fltrace" LD_PRELOAD="$shim" "$client" >"$tmp/root.txt" 2>"$tmp/root.err"
rc=$?
[ $rc -eq 0 ] && ok "the libdrm client passes every check ($(grep -c '^ok' "$tmp/root.txt") checks)" || fail "client (exit $rc): $(grep FAIL "$tmp/root.txt")"
[ ! -s "$tmp/root.err" ] && ok "the shim prints nothing without FAULTLAB_LOG" || fail "stderr: $(head -3 "$tmp/root.err")"
"$fl" replay "$tmp/root.fltrace" >"$tmp/replay.txt" 2>&1
[ $? -eq 0 ] && grep -q '^outcome: identical$' "$tmp/replay.txt" && ok "its trace replays identically ($(sed -n 's/^inputs: //p' "$tmp/replay.txt") inputs)" || fail "replay: $(head -5 "$tmp/replay.txt")"
"$fl" dump "$tmp/root.fltrace" | grep -q 'ioctl file=1 request=0xc0186443 (PANTHOR_VM_BIND) result=0' && ok "the trace holds the client's VM_BINDs" || fail "no VM_BIND in the trace"
"$fl" dump "$tmp/root.fltrace" | grep -q 'mmu_fault .* addr=0x100604000 .* outcome=handled' && ok "the trace holds the fault of the stream's store into the alloc-on-fault BO" || fail "no handled fault at 0x100604000"
"$fl" dump "$tmp/root.fltrace" | grep -q 'cs_submit' && ok "the trace holds the submitted streams' words" || fail "no cs_submit event"
"$fl" dump "$tmp/root.fltrace" >"$tmp/root.dump"
grep -q 'SYNCOBJ_HANDLE_TO_FD) result=0' "$tmp/root.dump" && grep -q 'PRIME_FD_TO_HANDLE) result=0' "$tmp/root.dump" \
  && [ "$(grep -c ' file close file=[0-9]* node=export' "$tmp/root.dump")" -ge 3 ] && grep -q ' cpu_map mmap file=0 handle=' "$tmp/root.dump" \
  && ok "the trace holds the descriptors handed out, the dma-buf's map and their closes" || fail "descriptors in the trace: $(grep -E 'TO_FD|node=export' "$tmp/root.dump" | head -3)"
steps=$("$fl" dump "$tmp/root.fltrace" | grep -c ' gpu_run until=')
[ "$steps" -gt 0 ] && "$fl" dump "$tmp/root.fltrace" | grep -q ' gpu_run until=.* cpu_writes=\[' \
  && ok "the trace holds the live device's steps ($steps), one with the CPU write that released a SYNC_WAIT" || fail "no gpu_run steps with CPU writes ($steps)"

# FAULTLAB_AOF: the program's plain BOs made alloc-on-fault as it runs (a
# model of a driver that asks for it); the trace says so and replays as is.
FAULTLAB_AOF=size\>=64K FAULTLAB_WORKLOAD=client-aof FAULTLAB_TRACE="$tmp/aof.fltrace" LD_PRELOAD="$shim" \
  "$client" >"$tmp/aof.txt" 2>"$tmp/aof.err"
"$fl" replay "$tmp/aof.fltrace" >"$tmp/aof.replay" 2>&1
plain=$(sed -n 's/^faults.handled: //p' "$tmp/replay.txt") aof=$(sed -n 's/^faults.handled: //p' "$tmp/aof.replay")
"$fl" dump "$tmp/aof.fltrace" --limit 0 >"$tmp/aof.head"
grep -q '^outcome: identical$' "$tmp/aof.replay" && [ "$aof" -gt "$plain" ] && grep -q '^workload: client-aof$' "$tmp/aof.head" \
  && grep -q '^config.program_aof: size>=64K$' "$tmp/aof.head" && grep -q '^config.program_aof_granularity: 4096$' "$tmp/aof.head" \
  && ok "FAULTLAB_AOF=size>=64K: $aof faults (plain: $plain), said in the header, replays identically" \
  || fail "FAULTLAB_AOF: $aof vs $plain faults; $(head -3 "$tmp/aof.replay"); $(grep -E 'workload|program_aof' "$tmp/aof.head")"
FAULTLAB_AOF=label=x FAULTLAB_TRACE="$tmp/aof-label.fltrace" LD_PRELOAD="$shim" "$client" >/dev/null 2>"$tmp/aof-label.err"
grep -q "FAULTLAB_AOF=label=x: label= selects by a label given after the BO is created; the program's BOs stay as it asks" "$tmp/aof-label.err" \
  && ! "$fl" dump "$tmp/aof-label.fltrace" --limit 0 | grep -q program_aof \
  && ok "FAULTLAB_AOF=label=...: refused, said once, the BOs as asked" || fail "aof label: $(cat "$tmp/aof-label.err")"
FAULTLAB_VARIANT=mainline FAULTLAB_AOF=all LD_PRELOAD="$shim" "$client" >/dev/null 2>"$tmp/aof-mainline.err"
grep -q "FAULTLAB_AOF=all: variant mainline has no alloc-on-fault BOs" "$tmp/aof-mainline.err" \
  && ok "FAULTLAB_AOF on mainline: refused, said" || fail "aof mainline: $(cat "$tmp/aof-mainline.err")"

FAULTLAB_LOG=1 LD_PRELOAD="$shim" "$client" >/dev/null 2>"$tmp/log.err"
grep -q "faultlab-shim: emulating g610" "$tmp/log.err" && ok "FAULTLAB_LOG makes it talk" || fail "log: $(head -3 "$tmp/log.err")"
FAULTLAB_PROFILE=g310 LD_PRELOAD="$shim" "$client" | grep -q "^ok   DEV_QUERY GPU_INFO: gpu_id 0x" && ok "FAULTLAB_PROFILE picks the profile" || fail "g310"
[ "$(LD_PRELOAD="$shim" ls /dev/dri | tr '\n' ' ')" = "card0 renderD128 " ] && ok "ls /dev/dri: card0 renderD128" || fail "ls: $(LD_PRELOAD="$shim" ls /dev/dri 2>&1)"
LD_PRELOAD="$shim" cat "$0" | cmp -s - "$0" && ok "other files pass through" || fail "passthrough"

# --- passthrough (board capture) -------------------------------------------
# The loopback kernel: the twin in another process behind a socket, posing as
# the kernel; the shim records the client as it would on a board.
socks=$(mktemp -d /tmp/faultlab-lb.XXXXXX)  # a socket's path must be short
sock="$socks/kernel.sock"
"$loopback" --job-timeout-ms 200 --socket "$sock" --kmsg "$tmp/kmsg" 2>"$tmp/loopback.err" &
lb=$!
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
pt() { FAULTLAB_SHIM=passthrough LD_PRELOAD="$shim" "$@"; }
# Appends $2 to file $3 every 20 ms while process $1 runs (kernel text "during the run").
append_while() { while kill -0 "$1" 2>/dev/null; do printf '%b' "$2" >>"$3"; sleep 0.02; done; wait "$1"; }
FAULTLAB_BACKEND="unix:$sock" FAULTLAB_KMSG="$tmp/kmsg" FAULTLAB_TRACE="$tmp/board.fltrace" pt "$client" >"$tmp/board.txt" 2>"$tmp/board.err"
rc=$?
[ $rc -eq 0 ] && ok "passthrough over the loopback kernel: the client passes every check ($(grep -c '^ok' "$tmp/board.txt"))" || fail "passthrough client (exit $rc): $(grep FAIL "$tmp/board.txt" | head -3) $(head -3 "$tmp/board.err")"
"$fl" dump "$tmp/board.fltrace" >"$tmp/board.dump" 2>&1
grep -q '^capture_source: board$' "$tmp/board.dump" && grep -q '^config.series: present$' "$tmp/board.dump" && grep -q '^config.driver_version: 1.6.0$' "$tmp/board.dump" \
  && ok "its trace is a board capture: driver 1.6.0, series present, $(grep -c ' ioctl ' "$tmp/board.dump") ioctls" || fail "board header: $(grep -E 'capture_source|series|driver' "$tmp/board.dump")"
grep -q 'ioctl file=1 request=0xc0186443 (PANTHOR_VM_BIND) result=0 .*user_in=' "$tmp/board.dump" && ok "VM_BINDs recorded with their ops arrays (nested user memory)" || fail "no VM_BIND ops in the board trace"
grep -q 'recorded_ns=.* duration_ns=' "$tmp/board.dump" && ok "each call carries its CLOCK_MONOTONIC start and duration" || fail "no timings"
grep -q 'cs_submit group=' "$tmp/board.dump" && grep -q ' cpu_map ' "$tmp/board.dump" && ok "streams' words and CPU maps recorded" || fail "no cs_submit/cpu_map"
grep -q 'kernel_log:.*: 2 unhandled faults' "$tmp/board.dump" && grep -q 'mmu_fault as=1 .*addr=0x7f0000000 .*outcome=efault.*(unknown)' "$tmp/board.dump" \
  && ok "the kernel log's unhandled faults are in the trace (latency unknown)" || fail "kernel log facts: $(grep -E 'kernel_log|mmu_fault' "$tmp/board.dump" | head -3)"
"$fl" replay "$tmp/board.fltrace" >"$tmp/board.replay" 2>&1
grep -q '^outcome: identical$' "$tmp/board.replay" && grep -q '^faults.handled: 1$' "$tmp/board.replay" && grep -q '^faults.efault: 2$' "$tmp/board.replay" \
  && ok "the board trace replays on the twin with no divergence ($(sed -n 's/^injected_from_recording: //p' "$tmp/board.replay") outputs injected)" || fail "board replay: $(head -6 "$tmp/board.replay")"
"$fl" replay "$tmp/board.fltrace" --what-if policy=dummy-page 2>&1 | grep -q '^outcome: what_if$' && ok "what-if replays run on it" || fail "what-if on the board trace"
# A kernel that is not the one the twin models: the replay says where.
sock3="$socks/v3.sock"
"$loopback" --job-timeout-ms 200 --socket "$sock3" --variant series-v3 2>/dev/null &
lb3=$!
for _ in $(seq 50); do [ -S "$sock3" ] && break; sleep 0.1; done
FAULTLAB_BACKEND="unix:$sock3" FAULTLAB_TRACE="$tmp/v3.fltrace" pt "$client" >/dev/null 2>&1
"$fl" replay "$tmp/v3.fltrace" 2>&1 | grep -q 'expected: .* ioctl file=1 request=0xc010644a' \
  && ok "a trace from another kernel (series-v3) diverges at the group state that differs" || fail "v3 control: $("$fl" replay "$tmp/v3.fltrace" 2>&1 | head -4)"
kill "$lb3" 2>/dev/null
# A kernel of today (mainline, driver 1.7: WB_MMAP, no series): its capture
# names the mainline variant and replays identically on it, the client's
# alloc-on-fault requests refused there as the kernel refuses them.
# (A longer job timeout here: under a loaded machine the client's stalled
# job, busy for 3/4 of 200 ms, could pass it on one side of the recording
# and not the other, and the replay's group state would differ.)
"$loopback" --job-timeout-ms 1000 --socket "$socks/ml.sock" --variant mainline 2>/dev/null &
lbm=$!
for _ in $(seq 50); do [ -S "$socks/ml.sock" ] && break; sleep 0.1; done
FAULTLAB_JOB_TIMEOUT_MS=1000 FAULTLAB_BACKEND="unix:$socks/ml.sock" FAULTLAB_TRACE="$tmp/ml.fltrace" pt "$client" >"$tmp/ml.txt" 2>/dev/null
"$fl" dump "$tmp/ml.fltrace" >"$tmp/ml.dump" 2>&1
grep -q '^variant: mainline$' "$tmp/ml.dump" && grep -q '^config.driver_version: 1.7.0$' "$tmp/ml.dump" && grep -q '^config.series: absent$' "$tmp/ml.dump" \
  && ok "a driver 1.7 kernel's capture names the mainline variant" || fail "mainline header: $(grep -E '^variant|driver|series' "$tmp/ml.dump")"
grep -q 'FAIL BO_CREATE: .*(errno 22' "$tmp/ml.txt" && grep -q '^ok   BO_SET_LABEL (1.4) names a BO' "$tmp/ml.txt" \
  && ok "on it, alloc-on-fault BO_CREATEs are EINVAL and the 1.4-1.6 ioctls work" || fail "mainline client: $(grep -E 'BO_CREATE|BO_SET_LABEL' "$tmp/ml.txt" | head -3)"
"$fl" replay "$tmp/ml.fltrace" 2>&1 | grep -q '^outcome: identical$' \
  && ok "and it replays identically on the mainline variant" || fail "mainline replay: $("$fl" replay "$tmp/ml.fltrace" 2>&1 | grep -E -A1 '^  (expected|got):' | cut -c1-400)"
FAULTLAB_BACKEND="unix:$socks/ml.sock" FAULTLAB_AOF=all pt "$client" >/dev/null 2>"$tmp/ml-aof.err"
grep -q "FAULTLAB_AOF=all: this kernel has no alloc-on-fault series" "$tmp/ml-aof.err" \
  && ok "passthrough FAULTLAB_AOF on a kernel without the series: refused, said" || fail "ml aof: $(cat "$tmp/ml-aof.err")"
kill "$lbm" 2>/dev/null
# A kernel without the alloc-on-fault series: the client's alloc-on-fault
# BO_CREATE goes to it (EINVAL), is flagged in the trace and on stderr.
"$loopback" --job-timeout-ms 200 --socket "$socks/ns.sock" --no-series 2>/dev/null &
lbn=$!
for _ in $(seq 50); do [ -S "$socks/ns.sock" ] && break; sleep 0.1; done
FAULTLAB_BACKEND="unix:$socks/ns.sock" FAULTLAB_TRACE="$tmp/ns.fltrace" pt "$client" >"$tmp/ns.txt" 2>"$tmp/ns.err"
"$fl" dump "$tmp/ns.fltrace" >"$tmp/ns.dump" 2>&1
grep -q 'has no alloc-on-fault series' "$tmp/ns.err" && grep -q '^config.series: absent$' "$tmp/ns.dump" \
  && grep -q 'flag:alloc_on_fault_without_series' "$tmp/ns.dump" && grep -q 'FAIL BO_CREATE: .*(errno 22' "$tmp/ns.txt" \
  && ok "no series: the alloc-on-fault BO_CREATE gets the kernel's EINVAL, flagged in the trace and on stderr" || fail "no series: $(cat "$tmp/ns.err") $(grep -E 'series|flag' "$tmp/ns.dump")"
"$fl" replay "$tmp/ns.fltrace" 2>&1 | grep -q 'expected: .* request=0xc0186445 (PANTHOR_BO_CREATE) result=-22' \
  && ok "its replay on the twin (which has the series) diverges at that BO_CREATE" || fail "no-series replay: $("$fl" replay "$tmp/ns.fltrace" 2>&1 | head -3)"
kill "$lbn" 2>/dev/null
# The kernel log names a fault the replay does not make: caught.
FAULTLAB_BACKEND="unix:$sock" FAULTLAB_KMSG="$tmp/kmsg.fake" FAULTLAB_TRACE="$tmp/fake.fltrace" pt "$client" >/dev/null 2>&1 &
append_while $! '[    9.000000] panthor fb000000.gpu: [drm] *ERROR* Unhandled Page fault in AS1 at VA 0x0000000012345000\n' "$tmp/kmsg.fake"
"$fl" replay "$tmp/fake.fltrace" 2>&1 | grep -q 'unhandled faults in the board.s kernel log: [0-9]* at 0x12345000' && ok "an unhandled fault the twin does not make diverges" || fail "fake kernel-log fault: $("$fl" replay "$tmp/fake.fltrace" 2>&1 | head -3)"
# Fault-work brackets from kprobes (trace_pipe text written during the run):
# handled faults with measured latencies, marked recorded.
FAULTLAB_BACKEND="unix:$sock" FAULTLAB_KPROBES="$tmp/pipe.txt" FAULTLAB_TRACE="$tmp/kprobes.fltrace" pt "$client" >/dev/null 2>&1 &
append_while $! '     kworker/u16:2-123     [003] ...1.  1234.567900: fault_work: (panthor_vm_fault_work+0x0/0x1a0)\n     kworker/u16:2-123     [003] ...1.  1234.567931: fault_work_ret: (process_one_work+0x1e4/0x3f8 <- panthor_vm_fault_work)\n' "$tmp/pipe.txt"
"$fl" dump "$tmp/kprobes.fltrace" | grep -q 'mmu_fault .*outcome=handled .*latency_ns=31000 (recorded)' && "$fl" dump "$tmp/kprobes.fltrace" | grep -q 'kprobes:.* fault works (0 with address, 0 VMs), 0 irqs, 0 malformed, 0 unmatched' \
  && ok "kprobe fault-work brackets become handled faults with measured latency (31 us, recorded)" || fail "kprobes: $("$fl" dump "$tmp/kprobes.fltrace" | grep -E 'kprobes|mmu_fault' | head -3)"
"$fl" replay "$tmp/kprobes.fltrace" >"$tmp/kprobes.replay"
grep -q '^outcome: identical$' "$tmp/kprobes.replay" && grep -q '^recorded.fault_latency_ns.p50: 31000$' "$tmp/kprobes.replay" \
  && ok "the trace still replays identically; its report gives the measured p50 (31000 ns) beside the model's" || fail "kprobes replay: $(grep -E 'outcome|recorded' "$tmp/kprobes.replay")"
# The fault stream: the loopback kernel writes each fault's work as a
# board's kprobes show it (AS, VA, status, IRQ, outcome; CLOCK_MONOTONIC);
# the capture carries every fault with its address, outcome, measured
# latency and time, and the report sets them beside the model's.
sock4="$socks/stream.sock"
"$loopback" --job-timeout-ms 200 --socket "$sock4" --kmsg "$tmp/kmsg4" --kprobes "$tmp/stream.txt" 2>/dev/null &
lb4=$!
for _ in $(seq 50); do [ -S "$sock4" ] && break; sleep 0.1; done
FAULTLAB_BACKEND="unix:$sock4" FAULTLAB_KMSG="$tmp/kmsg4" FAULTLAB_KPROBES="$tmp/stream.txt" FAULTLAB_TRACE="$tmp/stream.fltrace" \
  pt "$client" >/dev/null 2>&1
# FAULTLAB_AOF on a kernel with the series: the BO_CREATEs it picks go to the
# kernel as alloc-on-fault (a program that does not ask, made to): the
# stream has their faults, the header says so, the capture replays as is.
FAULTLAB_BACKEND="unix:$sock4" FAULTLAB_KPROBES="$tmp/stream.txt" FAULTLAB_AOF=size\>=64K FAULTLAB_TRACE="$tmp/stream-aof.fltrace" \
  pt "$client" >"$tmp/stream-aof.out" 2>&1
kill "$lb4" 2>/dev/null
"$fl" replay "$tmp/stream-aof.fltrace" >"$tmp/stream-aof.replay" 2>&1
aof_stream=$(sed -n 's/^recorded.faults.stream: //p' "$tmp/stream-aof.replay")
grep -q '^outcome: identical$' "$tmp/stream-aof.replay" && [ "${aof_stream:-0}" -gt 3 ] && [ "$(grep -c '^FAIL' "$tmp/stream-aof.out")" -eq 0 ] \
  && "$fl" dump "$tmp/stream-aof.fltrace" --limit 0 | grep -q '^config.program_aof: size>=64K$' \
  && ok "passthrough FAULTLAB_AOF=size>=64K: the kernel makes those BOs alloc-on-fault ($aof_stream faults in the stream, 3 without), said, replays identically" \
  || fail "passthrough aof: stream $aof_stream; $(grep -E 'outcome|recorded' "$tmp/stream-aof.replay" | head -3); $(grep FAIL "$tmp/stream-aof.out" | head -2)"
"$fl" dump "$tmp/stream.fltrace" >"$tmp/stream.dump"
grep -q 'kprobes:.*: 3 fault works (3 with address, 1 VMs), 3 irqs, 0 malformed, 0 unmatched' "$tmp/stream.dump" \
  && grep -q 'mmu_fault as=1 vm=1 addr=0x100604000 .*outcome=handled .*(recorded) raised_ns=[1-9][0-9]* work_ns=' "$tmp/stream.dump" \
  && grep -q 'mmu_fault as=1 vm=1 addr=0x7f0000000 .*outcome=efault .*(recorded) raised_ns=[1-9]' "$tmp/stream.dump" \
  && ok "the fault stream: every fault's AS, VM, VA, outcome, measured latency and time in the capture" \
  || fail "fault stream: $(grep -E 'kprobes:|mmu_fault' "$tmp/stream.dump" | head -4)"
# (An event's t is when its call returned: the submit began duration_ns before.)
first=$(grep -m1 '(PANTHOR_GROUP_SUBMIT) result=0' "$tmp/stream.dump" | sed 's/.* t=\([0-9]*\) .*duration_ns=\([0-9]*\).*/\1 \2/' | awk '{print $1 - $2}')
raised=$(grep -m1 'addr=0x100604000 .*(recorded)' "$tmp/stream.dump" | sed 's/.*raised_ns=\([0-9]*\).*/\1/')
[ -n "$first" ] && [ -n "$raised" ] && [ "$raised" -gt "$first" ] \
  && ok "a fault's time follows the start of the submit that caused it ($raised ns > $first ns)" || fail "fault time $raised vs submit $first"
"$fl" replay "$tmp/stream.fltrace" >"$tmp/stream.replay"
grep -q '^outcome: identical$' "$tmp/stream.replay" && grep -q '^recorded.faults.stream: 3$' "$tmp/stream.replay" \
  && grep -q '^recorded.faults.handled: 1$' "$tmp/stream.replay" && grep -q '^recorded.faults.efault: 2$' "$tmp/stream.replay" \
  && ok "its report: recorded faults by outcome beside the replayed (handled 1, efault 2)" || fail "stream replay: $(grep -E 'outcome|recorded' "$tmp/stream.replay")"
kill "$lb" 2>/dev/null
FAULTLAB_BACKEND="unix:$socks/nobody-listens.sock" pt "$client" >"$tmp/down.txt" 2>"$tmp/down.err"
[ $? -ne 0 ] && grep -q 'is faultlab-loopback running' "$tmp/down.err" && ok "no loopback kernel: the open fails and the shim says why" || fail "backend down: $(head -2 "$tmp/down.err")"
# No panthor device here and no backend: said once, the program runs unrecorded.
if ! ls /dev/dri/renderD* >/dev/null 2>&1; then
  FAULTLAB_TRACE="$tmp/none.fltrace" pt cat "$0" 2>"$tmp/none.err" | cmp -s - "$0" && grep -q 'no panthor device here' "$tmp/none.err" && [ ! -e "$tmp/none.fltrace" ] \
    && ok "no device: says so, runs the program unrecorded" || fail "no device: $(cat "$tmp/none.err")"
fi
# A stand-in node: every ioctl on it is a real syscall, recorded in full.
FAULTLAB_DEVICE=/dev/null FAULTLAB_TRACE="$tmp/standin.fltrace" pt "$loop" --child /dev/null 1000 >/dev/null 2>&1
n=$("$fl" dump "$tmp/standin.fltrace" 2>/dev/null | grep -c 'ioctl file=1 request=0xc0186443 (PANTHOR_VM_BIND) result=-25 .*user_in=\[')
[ "$n" = 1000 ] && ok "a stand-in node's 1000 ioctls recorded with their ENOTTY and ops arrays" || fail "stand-in: $n of 1000"
rm -rf "$socks"

# An unprivileged user: the files copied where it can read them.
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
  u=$(mktemp -d /tmp/faultlab-shim.XXXXXX)
  cp "$shim" "$client" "$u/"
  chmod 755 "$u"; chmod 755 "$u"/*
  chown nobody "$u"
  (cd "$u" && FAULTLAB_TRACE="$u/user.fltrace" LD_PRELOAD="$u/$(basename "$shim")" \
     setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups "$u/$(basename "$client")") >"$tmp/user.txt" 2>&1
  rc=$?
  [ $rc -eq 0 ] && ok "as 'nobody' too" || fail "unprivileged (exit $rc): $(grep FAIL "$tmp/user.txt" | head -3)"
  "$fl" replay "$u/user.fltrace" 2>&1 | grep -q '^outcome: identical$' && ok "and that trace replays identically" || fail "unprivileged replay"
  rm -rf "$u"
else
  ok "(not root: the run above was the unprivileged one)"
fi
[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
