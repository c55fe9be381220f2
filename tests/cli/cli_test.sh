#!/usr/bin/env bash
# The faultlab binary driven as a user would: verbs, exit codes, messages.
set -u
fl=$1
tamper=$2
tmp=${TEST_TMPDIR:-$(mktemp -d)}
failures=0

check() {  # check NAME EXPECTED_EXIT EXPECTED_STDERR_SUBSTRING -- COMMAND...
  local name=$1 want=$2 substr=$3; shift 4
  local out err rc
  out=$("$@" 2>"$tmp/err") ; rc=$?
  err=$(cat "$tmp/err")
  if [ "$rc" -ne "$want" ]; then
    echo "FAIL $name: exit $rc, want $want; stderr: $err"; failures=$((failures + 1)); return
  fi
  if [ -n "$substr" ] && ! grep -qF -- "$substr" "$tmp/err"; then
    echo "FAIL $name: stderr lacks '$substr': $err"; failures=$((failures + 1)); return
  fi
  echo "ok   $name"
}

check "no args is usage" 2 "" -- "$fl"
check "help" 0 "" -- "$fl" help
check "verb help" 0 "" -- "$fl" dump --help
check "unknown verb" 2 "unknown verb 'frobnicate'" -- "$fl" frobnicate
check "unknown option" 2 "unknown option '--limt'" -- "$fl" dump x --limt 3
check "missing file arg" 2 "missing FILE argument" -- "$fl" stat
check "bad number" 2 "'many' is not a non-negative integer" -- "$fl" synth -o "$tmp/a" --events many
check "bad mix" 2 "unknown mix 'wobbly'" -- "$fl" synth -o "$tmp/a" --mix wobbly
check "synth" 0 "" -- "$fl" synth -o "$tmp/t.fltrace" --events 5000 --mix fault-heavy
check "flags after file" 0 "" -- "$fl" dump "$tmp/t.fltrace" --limit 3
check "flags before file" 0 "" -- "$fl" dump --limit=3 "$tmp/t.fltrace"
check "stat" 0 "" -- "$fl" stat "$tmp/t.fltrace"
check "missing file" 4 "nope.fltrace: cannot open" -- "$fl" stat "$tmp/nope.fltrace"
check "unwritable output" 4 "cannot create" -- "$fl" synth -o "$tmp/no/such/dir/x"

check "profiles" 0 "" -- "$fl" profiles
check "one profile" 0 "" -- "$fl" profiles g610
check "unknown profile" 2 "unknown profile 'g999' (built in: g310, g610, g925)" -- "$fl" profiles g999
if "$fl" profiles | grep -q '^g610 .*\[default\]'; then echo "ok   g610 is the default"; else
  echo "FAIL g610 not marked default"; failures=$((failures + 1)); fi
mkdir -p "$tmp/profiles"
"$fl" profiles g610 >/dev/null
printf 'id = mine\n' >"$tmp/profiles/mine.profile"
check "broken override profile" 2 "mine.profile: missing key" -- "$fl" profiles mine --profile-dir "$tmp/profiles"

# Damage: truncate the trace mid-chunk.
head -c 3000 "$tmp/t.fltrace" >"$tmp/cut.fltrace"
check "truncated" 3 "$tmp/cut.fltrace: offset " -- "$fl" dump "$tmp/cut.fltrace"
check "truncated, skip-damaged" 0 "skipped 1 damaged chunk" -- "$fl" dump "$tmp/cut.fltrace" --skip-damaged
printf 'hello world, not a trace' >"$tmp/text.fltrace"
check "not a trace" 3 "offset 0: not a faultlab trace (bad magic)" -- "$fl" stat "$tmp/text.fltrace"

# Same input, same bytes out.
"$fl" synth -o "$tmp/a.fltrace" --events 3000 --seed 9 >/dev/null
"$fl" synth -o "$tmp/b.fltrace" --events 3000 --seed 9 >/dev/null
if cmp -s "$tmp/a.fltrace" "$tmp/b.fltrace"; then echo "ok   deterministic synth"; else
  echo "FAIL deterministic synth"; failures=$((failures + 1)); fi
if "$fl" stat "$tmp/a.fltrace" | grep -q '^\*\* synthetic trace'; then echo "ok   says synthetic"; else
  echo "FAIL stat does not say synthetic"; failures=$((failures + 1)); fi
if [ "$("$fl" dump "$tmp/a.fltrace" | sed -n '/^--$/,$p' | wc -l)" -eq 3001 ]; then echo "ok   dump lines"; else
  echo "FAIL dump line count"; failures=$((failures + 1)); fi

# Record a workload on the twin, replay it, what-if it, tamper with it.
check "workloads" 0 "" -- "$fl" workloads
if "$fl" workloads | grep -q '^compute '; then echo "ok   compute is listed"; else
  echo "FAIL compute not listed"; failures=$((failures + 1)); fi
check "record needs -o" 2 "missing -o FILE" -- "$fl" record --workload game
check "record needs a known workload" 2 "unknown workload 'nope'" -- "$fl" record --workload nope -o "$tmp/x"
check "record compute" 0 "" -- "$fl" record --workload compute --frames 2 -o "$tmp/c.fltrace"
check "record compute again" 0 "" -- "$fl" record --workload compute --frames 2 -o "$tmp/c2.fltrace"
# Every recording gets a fresh trace id; everything else is the same.
if cmp -s <("$fl" dump "$tmp/c.fltrace" | grep -v '^trace_id:') \
          <("$fl" dump "$tmp/c2.fltrace" | grep -v '^trace_id:'); then echo "ok   deterministic record"; else
  echo "FAIL deterministic record"; failures=$((failures + 1)); fi
check "replay identical" 0 "" -- "$fl" replay "$tmp/c.fltrace"
if "$fl" replay "$tmp/c.fltrace" | grep -q '^outcome: identical$'; then echo "ok   says identical"; else
  echo "FAIL replay not identical"; failures=$((failures + 1)); fi
check "replay json" 0 "" -- "$fl" replay "$tmp/c.fltrace" --json
check "what-if policy" 0 "" -- "$fl" replay "$tmp/c.fltrace" --what-if policy=nowait
if "$fl" replay "$tmp/c.fltrace" --what-if variant=series-v3 | grep -q '^outcome: what_if$'; then
  echo "ok   what-if outcome"; else echo "FAIL what-if outcome"; failures=$((failures + 1)); fi
check "what-if bad key" 2 "unknown what-if key 'bogus'" -- "$fl" replay "$tmp/c.fltrace" --what-if bogus=1
check "what-if bad granularity" 2 "granularity '3K': must be a power of two" -- "$fl" replay "$tmp/c.fltrace" --what-if granularity=3K
if "$fl" replay "$tmp/c.fltrace" --what-if-mode rerun --what-if policy=nowait | grep -q '^outcome: what_if$'; then
  echo "ok   rerun what-if"; else echo "FAIL rerun what-if"; failures=$((failures + 1)); fi
check "rerun refuses granularity" 2 "granularity and aof cannot be rerun what-ifs" -- "$fl" replay "$tmp/c.fltrace" --what-if-mode rerun --what-if granularity=2M
check "rerun refuses aof" 2 "granularity and aof cannot be rerun what-ifs" -- "$fl" replay "$tmp/c.fltrace" --what-if-mode rerun --what-if aof=all
check "bad what-if mode" 2 "--what-if-mode 'sideways'" -- "$fl" replay "$tmp/c.fltrace" --what-if-mode sideways
check "synthetic is not replayable" 2 "a synthetic trace (from 'faultlab synth') cannot be replayed" -- "$fl" replay "$tmp/a.fltrace"
"$tamper" "$tmp/c.fltrace" "$tmp/bad.fltrace" >/dev/null
check "tampered trace diverges" 1 ": diverged" -- "$fl" replay "$tmp/bad.fltrace"
check "diff" 0 "" -- "$fl" diff "$tmp/c.fltrace" "$tmp/c2.fltrace"
check "diff needs two" 2 "" -- "$fl" diff "$tmp/c.fltrace"
# A header no recorder wrote is damaged input (exit 3), for replay and stat,
# whichever value is wrong; an absurd what-if is usage (exit 2), not a crash.
for kv in policy=sometimes variant=series-v9 profile=g999 budget=18446744073709551615 thp=maybe; do
  "$tamper" "$tmp/c.fltrace" "$tmp/h.fltrace" --header "$kv" >/dev/null
  check "header $kv: replay" 3 "trace header: ${kv%%=*}" -- "$fl" replay "$tmp/h.fltrace"
  check "header $kv: stat" 3 "trace header: ${kv%%=*}" -- "$fl" stat "$tmp/h.fltrace"
done
check "what-if budget past 1T" 2 "budget '1048576G'" -- "$fl" replay "$tmp/c.fltrace" --what-if budget=1048576G
head -c 2500 "$tmp/c.fltrace" >"$tmp/ccut.fltrace"
check "replay truncated" 3 "$tmp/ccut.fltrace: offset " -- "$fl" replay "$tmp/ccut.fltrace"

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
