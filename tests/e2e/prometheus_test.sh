#!/usr/bin/env bash
# The dashboards and rules against a real Prometheus (Debian's, run here on a
# loopback port with its own storage — never the packaged service), scraping
# a live server fed by three agents and by the seeded backfill, with one
# injected regression (board 'slow'), one divergence (a tampered trace of
# board 'tamper'), one ingest stall (agent 'fleet-stall' pointed at no
# server), allocation failures (agent 'fleet-a' has a 16 MiB budget) and, on a
# second server, a forced nondeterminism (failpoint replay_verify_mismatch).
# Checks: promtool passes the shipped config and rules; every panel's and
# every rule's PromQL (variables substituted, thresholds removed) returns
# data; each alert fires on its cause and not on the control; Prometheus
# itself reports the rules healthy and the un-delayed alerts firing.
set -u
. "$(dirname "$0")/lib.sh"
agent=$1 srv=$2 fl=$3 dc=$4 tamper=$5
dash=dashboards
tmp=${TEST_TMPDIR:-$(mktemp -d)}
failures=0
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT

for b in /usr/bin/prometheus /usr/bin/promtool /usr/bin/curl; do
  [ -x "$b" ] || { fail "$b missing: './lab install' installs Debian's prometheus and curl"; exit 1; }
done
promtool check config "$dash/prometheus/prometheus.yml" >"$tmp/pc.txt" 2>&1 && ok "promtool check config" || fail "config: $(cat "$tmp/pc.txt")"
promtool check rules "$dash/prometheus/faultlab-rules.yml" >"$tmp/pr.txt" 2>&1 && ok "promtool check rules" || fail "rules: $(cat "$tmp/pr.txt")"

"$srv" --data-dir "$tmp/s1" --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 2>"$tmp/s1.log" & pids+=($!)
FAULTLAB_FAILPOINT=replay_verify_mismatch:fire "$srv" --data-dir "$tmp/s2" --grpc-addr 127.0.0.1:0 \
  --http-addr 127.0.0.1:0 --verify-every 1 2>"$tmp/s2.log" & pids+=($!)
g1=$(port_of "$tmp/s1.log" "gRPC on") && h1=$(port_of "$tmp/s1.log" "HTTP on") || { fail "server 1: $(cat "$tmp/s1.log")"; exit 1; }
g2=$(port_of "$tmp/s2.log" "gRPC on") && h2=$(port_of "$tmp/s2.log" "HTTP on") || { fail "server 2: $(cat "$tmp/s2.log")"; exit 1; }
ok "servers up (gRPC $g1, $g2)"

start_agent_port() {
  for _ in $(seq 1 100); do
    p=$(sed -n 's/.*metrics on port \([0-9]*\).*/\1/p' "$tmp/agent-$1.log")
    [ -n "$p" ] && { echo "$p"; return; }
    sleep 0.05
  done
}
"$agent" --board fleet-a --server "127.0.0.1:$g1" --workloads compute --budget 16M --frames 2 --interval-ms 300 \
  --spool-dir "$tmp/spool-a" --http-addr 127.0.0.1:0 2>"$tmp/agent-fleet-a.log" & pids+=($!)
"$agent" --board fleet-c --server "127.0.0.1:$g1" --workloads compute --frames 2 --interval-ms 300 \
  --spool-dir "$tmp/spool-c" --http-addr 127.0.0.1:0 2>"$tmp/agent-fleet-c.log" & pids+=($!)
"$agent" --board fleet-stall --server 127.0.0.1:1 --workloads compute --frames 2 --interval-ms 300 \
  --spool-dir "$tmp/spool-stall" --http-addr 127.0.0.1:0 2>"$tmp/agent-fleet-stall.log" & pids+=($!)
a1=$(start_agent_port fleet-a); a2=$(start_agent_port fleet-c); a3=$(start_agent_port fleet-stall)
[ -n "$a1" ] && [ -n "$a2" ] && [ -n "$a3" ] && ok "three agents up" || fail "agents: $(cat "$tmp"/agent-*.log)"

# Prometheus, scraping everything every second, with the shipped rules.
cat >"$tmp/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $PWD/$dash/prometheus/faultlab-rules.yml
scrape_configs:
  - job_name: faultlab-server
    static_configs:
      - targets: ["127.0.0.1:$h1", "127.0.0.1:$h2"]
  - job_name: faultlab-agents
    static_configs:
      - targets: ["127.0.0.1:$a1", "127.0.0.1:$a2", "127.0.0.1:$a3"]
YML
start_prometheus "$tmp/prometheus.yml" "$tmp"
[ -n "$pp" ] && ok "prometheus ready on $pp" || { fail "prometheus: $(tail -5 "$tmp/prom.log")"; exit 1; }
q() { curl -s --data-urlencode "query=$1" "http://127.0.0.1:$pp/api/v1/query"; }
has_data() { q "$1" | grep -q '"result":\[{'; }
for _ in $(seq 1 100); do [ "$(q 'count(up == 1)' | grep -o '"5"')" = '"5"' ] && break; sleep 0.2; done
[ "$(q 'count(up == 1)' | grep -o '"5"')" = '"5"' ] && ok "5 targets up" || fail "targets: $(q up)"

# The injected causes. The diverging series is first seen (at 0) before its
# tampered trace arrives, as in a lab where the series has history.
"$fl" backfill --server "127.0.0.1:$g1" --runs 8 --boards slow,steady --workloads compute \
  --variants series-fixed --regress-from 7 >"$tmp/backfill.txt" 2>&1 && ok "backfill with an injected regression" || fail "backfill: $(cat "$tmp/backfill.txt")"
"$fl" record --workload compute --frames 2 --board tamper -o "$tmp/t1.fltrace" >/dev/null
"$fl" record --workload compute --frames 2 --board tamper --seed 2 -o "$tmp/t2.fltrace" >/dev/null
"$tamper" "$tmp/t2.fltrace" "$tmp/t2-tampered.fltrace"
"$fl" upload "$tmp/t1.fltrace" --server "127.0.0.1:$g1" >/dev/null
"$fl" upload "$tmp/t1.fltrace" --server "127.0.0.1:$g2" >/dev/null
# Until Prometheus has seen the series at 0 on the server that gets the
# tampered trace (t1 replayed there, and scraped).
for _ in $(seq 1 100); do
  has_data "faultlab_replays_total{board=\"tamper\",outcome=\"diverged\",instance=\"127.0.0.1:$h1\"} == 0" && break
  sleep 0.2
done
"$fl" upload "$tmp/t2-tampered.fltrace" --server "127.0.0.1:$g1" >/dev/null && ok "a tampered trace uploaded" || fail "tampered upload"
for _ in $(seq 1 100); do
  has_data 'faultlab_replays_total{board="tamper",outcome="diverged"} > 0' && has_data 'faultlab_agent_upload_failures_in_a_row{board="fleet-stall"} > 5' \
    && has_data 'faultlab_regression_regressed{board="slow"} > 0' && break
  sleep 0.3
done

# Every panel's query returns data, and every rule's expr (alerts with their
# threshold removed) — asked until they all do (the rate windows fill over a
# few scrapes and rule evaluations), then reported.
"$dc" exprs "$dash"/grafana/*.json >"$tmp/exprs.tsv"
sed -n 's/^ *expr: //p' "$dash/prometheus/faultlab-rules.yml" | sed -E 's/ *(>|<|>=|<=|==|!=) *[0-9.e+-]+$//' >"$tmp/rules.txt"
count_empty() {  # sets empty, total, rempty, rtotal; prints what is empty when $1 = say
  empty=0; total=0; rempty=0; rtotal=0
  while IFS=$'\t' read -r file title expr; do
    total=$((total + 1))
    has_data "$expr" || { empty=$((empty + 1)); [ "$1" = say ] && echo "  no data: $(basename "$file") / $title: $expr"; }
  done <"$tmp/exprs.tsv"
  while read -r signal; do
    rtotal=$((rtotal + 1))
    has_data "$signal" || { rempty=$((rempty + 1)); [ "$1" = say ] && echo "  no data: $signal"; }
  done <"$tmp/rules.txt"
  return 0
}
for _ in $(seq 1 60); do
  count_empty quiet
  [ "$empty" -eq 0 ] && [ "$rempty" -eq 0 ] && break
  sleep 0.5
done
count_empty say
[ "$total" -ge 25 ] && [ "$empty" -eq 0 ] && ok "all $total panel queries return data" || fail "$empty of $total panel queries return nothing"
[ "$rtotal" -eq 10 ] && [ "$rempty" -eq 0 ] && ok "all $rtotal rule expressions return data" || fail "$rempty of $rtotal rule expressions return nothing"

# Each alert on its cause, and not on the control.
alert_expr() { awk -v a="$1" '$0 ~ "alert: "a"$" {f=1; next} f && /expr:/ {sub(/^ *expr: /, ""); print; exit}' "$dash/prometheus/faultlab-rules.yml"; }
fires() {  # fires ALERT CAUSE_LABEL CONTROL_LABEL
  local r
  r=$(q "$(alert_expr "$1")")
  echo "$r" | grep -qF "$2" && ! echo "$r" | grep -qF "$3" && ok "$1 fires on $2, not on $3" || fail "$1: $r"
}
fires FaultLatencyRegression '"board":"slow"' '"board":"steady"'
fires AllocationFailureRate '"board":"fleet-a"' '"board":"fleet-c"'
fires ReplayDiverged '"board":"tamper"' '"board":"fleet-c"'
fires ReplayNondeterminism "\"instance\":\"127.0.0.1:$h2\"" "\"instance\":\"127.0.0.1:$h1\""
fires IngestStalled '"board":"fleet-stall"' '"board":"fleet-a"'

# Prometheus's own view: rules healthy; alerts without a 'for' are firing.
rules=$(curl -s "http://127.0.0.1:$pp/api/v1/rules")
[ "$(echo "$rules" | grep -o '"health":"ok"' | wc -l)" -eq 10 ] && ok "Prometheus evaluates all 10 rules healthily" || fail "rule health: $(echo "$rules" | grep -o '"health":"[a-z]*"' | sort | uniq -c)"
state() {  # state ALERT: its state in Prometheus's alert list, one line per instance
  curl -s "http://127.0.0.1:$pp/api/v1/alerts" | sed 's/{"labels":/\n/g' | grep "\"alertname\":\"$1\"" |
    sed -n 's/.*"state":"\([a-z]*\)".*/\1/p'
}
# Until the rule evaluations have caught up (every second).
for _ in $(seq 1 60); do
  settled=1
  for a in FaultLatencyRegression ReplayDiverged ReplayNondeterminism; do [ "$(state "$a" | sort -u)" = firing ] || settled=0; done
  for a in AllocationFailureRate IngestStalled; do [ "$(state "$a" | sort -u)" = pending ] || settled=0; done
  [ "$settled" -eq 1 ] && break
  sleep 0.5
done
for a in FaultLatencyRegression ReplayDiverged ReplayNondeterminism; do
  [ "$(state "$a" | sort -u)" = firing ] && ok "$a is firing in Prometheus" || fail "$a: '$(state "$a")'"
done
for a in AllocationFailureRate IngestStalled; do
  [ "$(state "$a" | sort -u)" = pending ] && ok "$a is pending in Prometheus (it waits its 'for')" \
    || fail "$a: '$(state "$a")'; its expr gives $(q "$(alert_expr "$a")")"
done

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
