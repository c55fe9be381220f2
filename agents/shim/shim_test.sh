#!/usr/bin/env bash
# The device shim end to end: a libdrm client (drm_client.c) runs unchanged on
# the twin under LD_PRELOAD, as root and as an unprivileged user; the trace it
# records replays with no divergence; the shim is silent unless FAULTLAB_LOG
# is set; other files pass through; without the shim the client finds nothing.
set -u
shim=$(readlink -f "$1") client=$(readlink -f "$2") fl=$(readlink -f "$3")
tmp=${TEST_TMPDIR:-$(mktemp -d)}
failures=0
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }

"$client" >"$tmp/noshim.txt" 2>&1
[ $? -ne 0 ] && grep -q "FAIL drmGetDevices2" "$tmp/noshim.txt" && ok "without the shim the client finds no device" || fail "no-shim run: $(head -3 "$tmp/noshim.txt")"

FAULTLAB_TRACE="$tmp/root.fltrace" LD_PRELOAD="$shim" "$client" >"$tmp/root.txt" 2>"$tmp/root.err"
rc=$?
[ $rc -eq 0 ] && ok "the libdrm client passes every check ($(grep -c '^ok' "$tmp/root.txt") checks)" || fail "client (exit $rc): $(grep FAIL "$tmp/root.txt")"
[ ! -s "$tmp/root.err" ] && ok "the shim prints nothing without FAULTLAB_LOG" || fail "stderr: $(head -3 "$tmp/root.err")"
"$fl" replay "$tmp/root.fltrace" >"$tmp/replay.txt" 2>&1
[ $? -eq 0 ] && grep -q '^outcome: identical$' "$tmp/replay.txt" && ok "its trace replays identically ($(sed -n 's/^inputs: //p' "$tmp/replay.txt") inputs)" || fail "replay: $(head -5 "$tmp/replay.txt")"
"$fl" dump "$tmp/root.fltrace" | grep -q 'ioctl file=1 request=0xc0186443 result=0' && ok "the trace holds the client's VM_BINDs" || fail "no VM_BIND in the trace"
"$fl" dump "$tmp/root.fltrace" | grep -q 'mmu_fault .* addr=0x100604000 .* outcome=handled' && ok "the trace holds the fault of the stream's store into the alloc-on-fault BO" || fail "no handled fault at 0x100604000"
"$fl" dump "$tmp/root.fltrace" | grep -q 'cs_submit' && ok "the trace holds the submitted streams' words" || fail "no cs_submit event"

FAULTLAB_LOG=1 LD_PRELOAD="$shim" "$client" >/dev/null 2>"$tmp/log.err"
grep -q "faultlab-shim: emulating g610" "$tmp/log.err" && ok "FAULTLAB_LOG makes it talk" || fail "log: $(head -3 "$tmp/log.err")"
FAULTLAB_PROFILE=g310 LD_PRELOAD="$shim" "$client" | grep -q "^ok   DEV_QUERY GPU_INFO: gpu_id 0x" && ok "FAULTLAB_PROFILE picks the profile" || fail "g310"
[ "$(LD_PRELOAD="$shim" ls /dev/dri | tr '\n' ' ')" = "card0 renderD128 " ] && ok "ls /dev/dri: card0 renderD128" || fail "ls: $(LD_PRELOAD="$shim" ls /dev/dri 2>&1)"
LD_PRELOAD="$shim" cat "$0" | cmp -s - "$0" && ok "other files pass through" || fail "passthrough"

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
