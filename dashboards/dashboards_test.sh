#!/usr/bin/env bash
# Every dashboard passes dashcheck; a deliberately broken one is caught on
# each of its defects (so the check can fail).
set -u
dc=$1
here=dashboards
failures=0
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }
for f in "$here"/grafana/*.json; do
  out=$("$dc" check "$f" 2>&1) && ok "$out" || fail "$out"
done
n=$("$dc" exprs "$here"/grafana/*.json | wc -l)
[ "$n" -ge 25 ] && ok "$n queries listed" || fail "only $n queries"
! "$dc" exprs "$here"/grafana/*.json | cut -f3 | grep -q '\$' && ok "every variable substituted" || fail "a \$ left"
"$dc" check "$here/testdata/broken.json" 2>"$TEST_TMPDIR/broken.err"
[ $? -eq 1 ] && ok "the broken dashboard fails" || fail "broken passed"
for want in "schemaVersion missing or below 36" "no datasource variable" "gridPos outside" \
            "uses \$nosuch" "id missing or not unique" "datasource must be"; do
  grep -qF "$want" "$TEST_TMPDIR/broken.err" && ok "caught: $want" || fail "missed: $want"
done
[ "$failures" -eq 0 ] || exit 1
