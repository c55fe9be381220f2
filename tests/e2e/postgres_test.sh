#!/usr/bin/env bash
# Two faultlab-server replicas on one real PostgreSQL (Debian's, run here by
# the test itself — initdb and postgres as an unprivileged user, on a
# loopback port, in a temporary directory) and one shared blob directory.
# Uploads go to both; one replica is killed with kill -9 in the middle of
# ingest and again in the middle of replays. Afterwards every trace is
# complete, every replay stored exactly once, every run judged once, and each
# report is byte-identical to a single-replica SQLite server's for the same
# traces. Also: migrations from an empty database and from schema version 1.
set -u
. "$(dirname "$0")/lib.sh"
srv=$1 fl=$2
pgbin=/usr/lib/postgresql/15/bin
failures=0
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }
[ -x "$pgbin/postgres" ] && command -v psql >/dev/null || { fail "PostgreSQL missing: './lab install' installs Debian's postgresql"; exit 1; }

# PostgreSQL refuses to run as root: as root, run it as 'nobody' in a
# directory 'nobody' can reach (the test's own tmpdir is under /root).
pgdir=$(mktemp -d /tmp/faultlab-pg.XXXXXX)
tmp=${TEST_TMPDIR:-$(mktemp -d)}
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  [ -n "${pgpid:-}" ] && kill -INT "$pgpid" 2>/dev/null && wait "$pgpid" 2>/dev/null
  rm -rf "$pgdir"
}
trap cleanup EXIT
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  chown nobody "$pgdir"
  as_pg=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups)
fi
"${as_pg[@]}" "$pgbin/initdb" -D "$pgdir/db" -U faultlab --auth=trust -E UTF8 >"$tmp/initdb.log" 2>&1 \
  && ok "initdb" || { fail "initdb: $(tail -3 "$tmp/initdb.log")"; exit 1; }
pgport=
for _ in 1 2 3 4 5; do
  cand=$((20000 + RANDOM % 30000))
  "${as_pg[@]}" "$pgbin/postgres" -D "$pgdir/db" -k "$pgdir" -h 127.0.0.1 -p "$cand" >"$pgdir/pg.log" 2>&1 &
  pgpid=$!
  for _ in $(seq 1 100); do
    grep -q "ready to accept connections" "$pgdir/pg.log" && { pgport=$cand; break; }
    kill -0 "$pgpid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$pgport" ] && break
done
[ -n "$pgport" ] && ok "postgres on 127.0.0.1:$pgport" || { fail "postgres: $(tail -5 "$pgdir/pg.log")"; exit 1; }
sql() { psql -h 127.0.0.1 -p "$pgport" -U faultlab -d "$1" -Atqc "$2"; }
conn() { echo "host=127.0.0.1 port=$pgport user=faultlab dbname=$1"; }
for db in fresh upgrade lab; do sql postgres "CREATE DATABASE $db" || fail "create $db"; done

# Migrations: from empty, and from version 1.
"$srv" --store=postgres --pg "$(conn fresh)" --blob-dir "$tmp/b0" --migrate-to 3 2>/dev/null
[ "$(sql fresh "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_version")" = "1,2,3" ] \
  && ok "migrations from an empty database: 1,2,3" || fail "fresh: $(sql fresh 'SELECT version FROM schema_version')"
"$srv" --store=postgres --pg "$(conn upgrade)" --blob-dir "$tmp/b1" --migrate-to 1 2>/dev/null
[ "$(sql upgrade 'SELECT max(version) FROM schema_version')" = 1 ] && ! sql upgrade 'SELECT 1 FROM replay_leases' 2>/dev/null \
  && ok "a database at schema version 1" || fail "upgrade setup"
"$srv" --store=postgres --pg "$(conn upgrade)" --blob-dir "$tmp/b1" --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 2>"$tmp/u.log" &
upid=$!
up=$(port_of "$tmp/u.log" "gRPC on")
"$fl" backfill --server "127.0.0.1:$up" --runs 1 --boards u --workloads compute --variants series-fixed >/dev/null 2>&1
[ "$(sql upgrade 'SELECT max(version) FROM schema_version')" = 3 ] && [ "$(sql upgrade 'SELECT count(*) FROM traces WHERE complete')" = 1 ] \
  && ok "upgraded from version 1 to 3 at start, and takes uploads" || fail "upgrade: $(cat "$tmp/u.log")"
kill -TERM "$upid"; wait "$upid"

# Two replicas on database 'lab'.
start() {  # start NAME [NTH_START] [FAILPOINT]: sets port_NAME (gRPC), keeps the pid
  FAULTLAB_FAILPOINT=${3:-} "$srv" --store=postgres --pg "$(conn lab)" --blob-dir "$tmp/blobs" --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 \
    --replay-lease-ms 1500 --verify-every 0 2>>"$tmp/$1.log" &
  eval "pid_$1=$!"
  pids+=($!)
  local p=
  for _ in $(seq 1 400); do  # (a loaded machine: up to 20 s)
    p=$(sed -n 's/.*gRPC on 127\.0\.0\.1:\([0-9]*\);.*/\1/p' "$tmp/$1.log" | tail -1)
    [ -n "$p" ] && [ "$(grep -c 'gRPC on' "$tmp/$1.log")" -ge "${2:-1}" ] && break
    sleep 0.05
  done
  eval "port_$1=$p"
}
start a; start b
[ -n "$port_a" ] && [ -n "$port_b" ] && ok "two replicas up ($port_a, $port_b)" || { fail "replicas: $(cat "$tmp/a.log" "$tmp/b.log")"; exit 1; }
bf() {  # bf PORT BOARDS: the backfill both the replicas and the SQLite reference get
  "$fl" backfill --server "127.0.0.1:$1" --runs 6 --boards "$2" --workloads compute,game --variants series-fixed \
    --frames 6 --regress-from 6 >>"$tmp/backfill.log" 2>&1
}
bf "$port_a" ra1,ra2 & bfa=$!
bf "$port_b" rb1,rb2 & bfb=$!
# Mid-ingest: once b has taken a first trace of its backfill.
for _ in $(seq 1 400); do
  [ "$(sql lab "SELECT count(*) FROM traces WHERE board LIKE 'rb%'")" -ge 1 ] && break
  sleep 0.05
done
kill -9 "$pid_b"; wait "$pid_b" 2>/dev/null
ok "replica b killed (-9) mid-ingest"
wait "$bfa" && ok "uploads to a went on" || fail "backfill to a: $(tail -3 "$tmp/backfill.log")"
wait "$bfb"; [ $? -ne 0 ] && ok "b's uploader saw b die" || ok "b's uploads had finished"
# The agent reconnects to the other replica and resumes where it stopped.
bf "$port_a" rb1,rb2 && ok "b's uploads resumed through a" || fail "resume through a: $(tail -3 "$tmp/backfill.log")"
# Kill b again while it holds a replay: b stalls 3 s on each claim
# (failpoint replay_stall), uploads go to b (so b claims each at once); b
# dies with its lease, which a takes over when it expires, and the uploads
# finish through a.
start b 2 replay_stall:fire
bfbig() {
  "$fl" backfill --server "127.0.0.1:$1" --runs 6 --boards rc --workloads compute --variants series-fixed \
    --frames 24 >>"$tmp/backfill.log" 2>&1
}
bfbig "$port_b" & bfc=$!
held=0
for _ in $(seq 1 1000); do
  # A claim of b's not yet finished (its lease may already have run out:
  # b stalls 3 s, its lease is 1.5 s; a takes such work over).
  held=$(sql lab "SELECT count(*) FROM replay_leases WHERE owner LIKE '%:$pid_b'")
  [ "$held" -gt 0 ] && break
  sleep 0.02
done
kill -9 "$pid_b"; wait "$pid_b" 2>/dev/null
[ "$held" -gt 0 ] && ok "replica b killed (-9) holding $held replay lease(s)" || fail "b held no replay lease when killed"
wait "$bfc"
bfbig "$port_a" || fail "big backfill through a: $(tail -3 "$tmp/backfill.log")"
start b 3
total=$(sql lab 'SELECT count(*) FROM traces')
for _ in $(seq 1 300); do
  [ "$(sql lab 'SELECT count(*) FROM replays')" = "$total" ] && [ "$(sql lab 'SELECT count(*) FROM runs')" = "$total" ] && break
  sleep 0.1
done
[ "$total" -eq 54 ] && ok "54 traces stored" || fail "$total traces stored, want 54"
[ "$(sql lab 'SELECT count(*) FROM traces WHERE NOT complete')" = 0 ] && ok "every trace complete" || fail "incomplete traces"
[ "$(sql lab 'SELECT count(*) FROM replays')" = "$total" ] && ok "every replay stored exactly once" || fail "replays: $(sql lab 'SELECT count(*) FROM replays') of $total"
[ "$(sql lab 'SELECT count(*) FROM runs')" = "$total" ] && ok "every run judged once" || fail "runs: $(sql lab 'SELECT count(*) FROM runs')"
[ "$(sql lab "SELECT count(*) FROM replays WHERE outcome <> 'identical'")" = 0 ] && ok "every replay identical" || fail "non-identical replays"

# Metrics stay per replica and add up: the verdicts (judged once, by the
# leader) sum to the runs across replicas; both replicas name one store.
vsum=0; stores=""
for r in a b; do
  h=$(sed -n 's/.*HTTP on 127\.0\.0\.1:\([0-9]*\);.*/\1/p' "$tmp/$r.log" | tail -1)
  m=$(curl -s "http://127.0.0.1:$h/metrics")
  vsum=$((vsum + $(echo "$m" | awk '/^faultlab_regression_verdicts_total\{/ {s += $NF} END {print s + 0}')))
  stores="$stores $(echo "$m" | sed -n 's/^faultlab_store_bytes{store="\([^"]*\)"}.*/\1/p')"
done
[ "$vsum" -eq "$total" ] && ok "verdict counters summed over both replicas: $vsum = runs" || fail "verdicts summed: $vsum, runs $total"
[ "$(echo $stores | tr ' ' '\n' | sort -u | wc -l)" -eq 1 ] && echo "$stores" | grep -q "postgres:127.0.0.1:$pgport/lab" \
  && ok "both replicas report one store ($(echo $stores | cut -d' ' -f1))" || fail "stores: $stores"

# And through a real Prometheus scraping both replicas: the dashboards'
# aggregations count the shared store once and every verdict once.
if [ -x /usr/bin/prometheus ]; then
  ha=$(sed -n 's/.*HTTP on 127\.0\.0\.1:\([0-9]*\);.*/\1/p' "$tmp/a.log" | tail -1)
  hb=$(sed -n 's/.*HTTP on 127\.0\.0\.1:\([0-9]*\);.*/\1/p' "$tmp/b.log" | tail -1)
  printf 'global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: faultlab-server\n    static_configs:\n      - targets: ["127.0.0.1:%s", "127.0.0.1:%s"]\n' "$ha" "$hb" >"$tmp/prom.yml"
  start_prometheus "$tmp/prom.yml" "$tmp"
  q() { curl -s --data-urlencode "query=$1" "http://127.0.0.1:$pp/api/v1/query" | sed -n 's/.*"value":\[[0-9.]*,"\([^"]*\)"\].*/\1/p'; }
  for _ in $(seq 1 100); do [ "$(q 'count(up == 1)')" = 2 ] && break; sleep 0.2; done
  [ "$(q 'count(up == 1)')" = 2 ] && ok "Prometheus scrapes both replicas" || fail "prometheus: $(tail -3 "$tmp/prom.log")"
  [ "$(q 'sum(faultlab_regression_verdicts_total)')" = "$total" ] && ok "sum of verdicts across replicas = $total runs" || fail "verdicts: $(q 'sum(faultlab_regression_verdicts_total)')"
  [ "$(q 'sum(max by (store) (faultlab_store_bytes))')" = "$(q 'max(faultlab_store_bytes)')" ] && [ "$(q 'count(faultlab_store_bytes)')" = 2 ] \
    && ok "the fleet's store size counts the shared store once" || fail "store size: $(q 'sum(max by (store) (faultlab_store_bytes))') vs $(q 'max(faultlab_store_bytes)')"
  regressed=$(q 'sum(max by (board, gpu, workload, variant, policy) (faultlab_regression_regressed))')
  [ -n "$regressed" ] && [ "$regressed" -gt 0 ] && [ "$regressed" = "$(q 'count(max by (board, gpu, workload, variant, policy) (faultlab_regression_regressed) == 1)')" ] \
    && ok "$regressed regressed series, each counted once across replicas" || fail "regressed series: $regressed"
fi

# The same traces on one SQLite server: the reports are byte-identical.
"$srv" --data-dir "$tmp/sqlite" --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 2>"$tmp/c.log" &
pid_c=$!; pids+=($pid_c)
port_c=$(port_of "$tmp/c.log" "gRPC on")
bf "$port_c" ra1,ra2; bf "$port_c" rb1,rb2; bfbig "$port_c"
for _ in $(seq 1 300); do [ "$("$fl" traces --server "127.0.0.1:$port_c" | grep -c ' identical$')" -eq 54 ] && break; sleep 0.1; done
same=0
for id in $(sql lab "SELECT encode(trace_id, 'hex') FROM traces"); do
  "$fl" report "$id" --server "127.0.0.1:$port_a" >"$tmp/pg.txt" 2>&1
  "$fl" report "$id" --server "127.0.0.1:$port_c" >"$tmp/sq.txt" 2>&1
  cmp -s "$tmp/pg.txt" "$tmp/sq.txt" && same=$((same + 1))
done
[ "$same" -eq 54 ] && ok "all 54 reports identical to the single SQLite server's" || fail "$same of 54 reports identical"
for b in ra1 rb1 rc; do
  "$fl" runs --server "127.0.0.1:$port_a" --board "$b" | awk 'NR>1 {print $2, $12}' >"$tmp/pv.txt"
  "$fl" runs --server "127.0.0.1:$port_c" --board "$b" | awk 'NR>1 {print $2, $12}' >"$tmp/sv.txt"
  cmp -s "$tmp/pv.txt" "$tmp/sv.txt" && ok "$b: the same verdicts as on SQLite" || fail "$b verdicts differ: $(diff "$tmp/pv.txt" "$tmp/sv.txt")"
done
[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
