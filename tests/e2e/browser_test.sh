#!/usr/bin/env bash
# Reports in a real browser: Debian's Chromium, headless, loads a generated
# report, a diff page and the server's run list and run page. Checked: no
# console errors or failed loads (a control page with a broken image proves
# the check sees them), the plots present in the DOM, tokens enforced; the
# screenshots go to the test's outputs (bazel-testlogs/.../test.outputs).
set -u
. "$(dirname "$0")/lib.sh"
fl=$1 srv=$2
tmp=${TEST_TMPDIR:-$(mktemp -d)}
out=${TEST_UNDECLARED_OUTPUTS_DIR:-$tmp}
export HOME=$tmp
failures=0
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }
[ -x /usr/bin/chromium ] || { fail "/usr/bin/chromium missing: './lab install' installs Debian's chromium"; exit 1; }

browse() {  # browse URL NAME: the DOM in $tmp/NAME.dom, console in $tmp/NAME.log, $out/NAME.png
  local flags=(--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update
    --disable-sync --disable-default-apps --no-first-run --metrics-recording-only --disable-extensions
    --user-data-dir="$tmp/chrome" --enable-logging=stderr --log-level=0 --window-size=1400,2200)
  timeout 90 chromium "${flags[@]}" --dump-dom "$1" >"$tmp/$2.dom" 2>"$tmp/$2.log"
  timeout 90 chromium "${flags[@]}" --screenshot="$out/$2.png" "$1" >/dev/null 2>>"$tmp/$2.log"
}
console_errors() {  # the console and load errors Chromium logged for a page
  grep -E 'CONSOLE|Uncaught|Failed to load resource|net::ERR_' "$tmp/$1.log"
}

# The check can fail: a page that logs an error is caught.
printf '<!DOCTYPE html><html><body><script>console.error("boom")</script></body></html>' >"$tmp/control.html"
browse "file://$tmp/control.html" control
console_errors control >/dev/null && ok "the console check sees a broken page's errors" || fail "control page showed no error: $(cat "$tmp/control.log" | tail -5)"

"$fl" record --workload game --frames 12 -o "$tmp/game.fltrace" >/dev/null
"$fl" record --workload pressure --frames 8 -o "$tmp/pressure.fltrace" >/dev/null
"$fl" report "$tmp/game.fltrace" --html "$tmp/game-report.html" >/dev/null && ok "report --html" || fail "report --html"
"$fl" diff "$tmp/game.fltrace" "$tmp/pressure.fltrace" --html "$tmp/diff-page.html" >/dev/null && ok "diff --html" || fail "diff --html"
browse "file://$tmp/game-report.html" report
[ -s "$out/report.png" ] && ok "report screenshot written" || fail "no screenshot"
! console_errors report && ok "report: no console errors" || fail "report console: $(console_errors report)"
for id in latency-histogram latency-cdf timeline frames config report; do
  grep -q "id=\"$id\"" "$tmp/report.dom" || fail "report: no #$id in the DOM"
done
[ "$(grep -o '<rect class="bar"' "$tmp/report.dom" | wc -l)" -ge 12 ] && ok "report: histogram and frame bars rendered" || fail "report: bars"
grep -q '<polyline class="cdf"' "$tmp/report.dom" && ok "report: the CDF is drawn" || fail "report: no CDF"
browse "file://$tmp/diff-page.html" diff
! console_errors diff && grep -q 'id="reports"' "$tmp/diff.dom" && [ "$(grep -o '<polyline class="cdf"' "$tmp/diff.dom" | wc -l)" -eq 2 ] \
  && ok "diff page: two CDFs, reports side by side, no errors" || fail "diff page"

# The server's pages, with tokens on.
printf 'agent agent-0123456789abcdef\noperator op-0123456789abcdef\n' >"$tmp/tokens"
"$srv" --data-dir "$tmp/data" --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --tokens "$tmp/tokens" 2>"$tmp/server.log" &
pid=$!
g=$(port_of "$tmp/server.log" "gRPC on")
h=$(port_of "$tmp/server.log" "HTTP on")
"$fl" backfill --server "127.0.0.1:$g" --token agent-0123456789abcdef --runs 7 --boards web --workloads compute \
  --variants series-fixed --regress-from 7 >/dev/null 2>&1 && ok "backfill" || fail "backfill"
for _ in $(seq 1 100); do
  [ "$("$fl" runs --server "127.0.0.1:$g" --token op-0123456789abcdef 2>/dev/null | grep -c ' identical$')" -eq 7 ] && break
  sleep 0.1
done
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$h/runs")
[ "$code" = 401 ] && ok "/runs without a token: 401" || fail "/runs without token: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$h/runs?token=agent-0123456789abcdef")
[ "$code" = 403 ] && ok "/runs with an agent token: 403" || fail "/runs agent token: $code"
browse "http://127.0.0.1:$h/runs?token=op-0123456789abcdef" runs
! console_errors runs && [ "$(grep -o '<a href="/runs/[0-9a-f]' "$tmp/runs.dom" | wc -l)" -eq 7 ] && ok "run list: 7 runs linked, no errors" || fail "run list: $(grep -o '<a href="/runs/[0-9a-f]' "$tmp/runs.dom" | wc -l) links; $(console_errors runs)"
grep -q '>regressed<' "$tmp/runs.dom" && ok "run list shows the regressed run" || fail "no regressed run listed"
last=$(grep -o '<a href="/runs/[0-9a-f]\{32\}' "$tmp/runs.dom" | head -1 | sed 's|.*/runs/||')
browse "http://127.0.0.1:$h/runs/$last?token=op-0123456789abcdef" run
! console_errors run && grep -q 'id="verdict"' "$tmp/run.dom" && grep -q 'id="latency-cdf"' "$tmp/run.dom" \
  && ok "run page: verdict and plots, no errors" || fail "run page: $(console_errors run)"
[ "$(grep -o 'class="baseline"' "$tmp/run.dom" | wc -l)" -eq 5 ] && ok "run page links the 5 baseline runs" || fail "baseline links: $(grep -o 'class="baseline"' "$tmp/run.dom" | wc -l)"
grep -q '&amp;workload=compute&amp;token=op-' "$tmp/run.dom" || grep -q 'workload=compute&amp;token=op-' "$tmp/run.dom" && ok "links carry the token" || fail "links lose the token"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$h/runs/00112233445566778899aabbccddeeff?token=op-0123456789abcdef")
[ "$code" = 404 ] && ok "an unknown run: 404" || fail "unknown run: $code"
"$fl" report "${last:0:10}" --server "127.0.0.1:$g" --token op-0123456789abcdef --html "$tmp/remote.html" >/dev/null \
  && grep -q 'id="verdict"' "$tmp/remote.html" && ok "report ID --server --html: the server's page" || fail "remote html"
kill -TERM "$pid"; wait "$pid"
[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
