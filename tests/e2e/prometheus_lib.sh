# start_prometheus CONFIG DIR: Debian's Prometheus on a loopback port, its
# data and log (prom.log) in DIR; retries another port when the one it picked
# is taken. Sets pp (its port, empty on failure) and appends it to pids.
start_prometheus() {
  local config=$1 dir=$2 cand ppid _
  pp=
  for _ in 1 2 3 4 5; do
    cand=$((30000 + RANDOM % 20000))
    /usr/bin/prometheus --config.file="$config" --storage.tsdb.path="$dir/tsdb" \
      --web.listen-address="127.0.0.1:$cand" --log.level=warn >"$dir/prom.log" 2>&1 &
    ppid=$!
    for _ in $(seq 1 100); do
      curl -sf "http://127.0.0.1:$cand/-/ready" >/dev/null 2>&1 && { pp=$cand; break; }
      kill -0 "$ppid" 2>/dev/null || break
      sleep 0.1
    done
    [ -n "$pp" ] && { pids+=("$ppid"); return 0; }
    kill "$ppid" 2>/dev/null; wait "$ppid" 2>/dev/null
  done
  return 1
}
