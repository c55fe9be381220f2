# Helpers the end-to-end tests share (sourced).

# port_of LOG PATTERN: waits (up to 10 s) for "PATTERN 127.0.0.1:PORT" in LOG
# — a server's start-up line, e.g. "gRPC on", "gRPC (TLS) on", "HTTP on" —
# and prints PORT; fails if it never comes.
port_of() {
  local p _
  for _ in $(seq 1 200); do
    p=$(sed -n "s/.*$2 127\.0\.0\.1:\([0-9]*\).*/\1/p" "$1" 2>/dev/null | head -1)
    [ -n "$p" ] && { echo "$p"; return 0; }
    sleep 0.05
  done
  return 1
}

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

# judge_fit SUMMARY FACTOR: a calibration summary (faultlab calibrate's
# output, a server's /boards/NAME/calibration) against the known truth —
# each base range x FACTOR — through the caller's ok/fail: every range it
# fitted within 10 %, bound by bound; at least 3 fitted; the KS distance
# between measured and calibrated-replay latencies <= 0.05.
judge_fit() {
  local key base cal _ row fitted=0 ks
  while read -r key base cal _; do
    [ "$cal" = "(kept)" ] && continue
    fitted=$((fitted + 1))
    row=$(awk -v k="$key" -v b="$base" -v c="$cal" -v f="$2" 'BEGIN {
      split(b, t, "\\.\\."); split(c, g, "\\.\\.")
      lo = t[1] * f; hi = t[2] * f
      e1 = (g[1] - lo) / lo; e2 = (g[2] - hi) / hi
      if (e1 < 0) e1 = -e1; if (e2 < 0) e2 = -e2
      printf "%s %s: %s against the truth %d..%d (errors %.1f%% %.1f%%)",
        (e1 <= 0.10 && e2 <= 0.10) ? "ok" : "off", k, c, lo, hi, 100 * e1, 100 * e2 }')
    case $row in
      ok*) ok "${row#ok }" ;;
      *) fail "${row#off }: more than 10% off" ;;
    esac
  done < <(grep '^cost\.' "$1")
  [ "$fitted" -ge 3 ] && ok "$fitted ranges fitted, the rest kept and said why" || fail "only $fitted ranges fitted"
  ks=$(sed -n 's/^ks_distance.calibrated: //p' "$1")
  awk -v k="$ks" 'BEGIN { exit !(k != "" && k <= 0.05) }' &&
    ok "KS distance measured vs calibrated replay: $ks (<= 0.05)" || fail "KS distance $ks"
}
