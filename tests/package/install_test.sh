#!/usr/bin/env bash
# tests/package/install_test.sh: the packages `./lab package` made, installed
# with apt on this machine and started (docs/build.md "Packages"). It
# changes the machine — run it on a throwaway one:
#
#   ../shared/tools/fresh-machine.sh . './lab package && tests/package/install_test.sh --here'
#
# There is no systemd in such a chroot: the server starts as its unit would
# (the unit's ExecStart with /etc/default/faultlab-server's flags). Then the
# installed agent records the twin's compute workload and uploads it, the
# installed CLI sees it replayed identically, and the installed agent finds
# its shim in /usr/lib/faultlab (a program under it sees the twin's
# /dev/dri). Last, both packages are purged.
set -uo pipefail
[ "${1:-}" = --here ] || { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
cd "$(dirname "$0")/../.."
arch=$(dpkg --print-architecture)
failures=0
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }

export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q "./dist/faultlab-server_0.3.0_$arch.deb" "./dist/faultlab-agent_0.3.0_$arch.deb" >/tmp/pkg-install.log 2>&1 \
  && ok "apt install ./dist/faultlab-{server,agent}_0.3.0_$arch.deb: their dependencies came from Debian" \
  || { fail "apt install: $(tail -5 /tmp/pkg-install.log)"; exit 1; }
for f in /usr/bin/faultlab-server /usr/bin/faultlab-replay-worker /usr/bin/faultlab /usr/bin/faultlab-agent \
  /usr/lib/faultlab/libfaultlab_shim.so /lib/systemd/system/faultlab-server.service \
  /lib/systemd/system/faultlab-agent.service /etc/faultlab/agent.conf /usr/share/faultlab/grafana/faultlab-fleet.json; do
  [ -e "$f" ] || fail "missing $f"
done
# Each program's manual page (dpkg -L: a machine may exclude /usr/share/man).
for p in faultlab-server:faultlab-server faultlab-server:faultlab-replay-worker faultlab-server:faultlab \
  faultlab-agent:faultlab-agent faultlab-agent:faultlab-loopback; do
  dpkg -L "${p%%:*}" | grep -qx "/usr/share/man/man1/${p#*:}.1.gz" || fail "no manual page for ${p#*:}"
done

# The server, as its unit starts it.
. /etc/default/faultlab-server
mkdir -p /var/lib/faultlab-server
# shellcheck disable=SC2086
/usr/bin/faultlab-server --data-dir /var/lib/faultlab-server $FAULTLAB_SERVER_ARGS 2>/tmp/pkg-server.log &
spid=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:7401/healthz >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf http://127.0.0.1:7401/healthz >/dev/null && ok "faultlab-server started as its unit would: /healthz answers" \
  || fail "server: $(cat /tmp/pkg-server.log)"

faultlab-agent --board pkg-test --server 127.0.0.1:7400 --spool-dir /tmp/pkg-spool --workloads compute --frames 2 \
  --runs 1 --interval-ms 0 --drain-timeout 30 2>/tmp/pkg-agent.log \
  && ok "the installed agent recorded the twin's compute workload and uploaded it" || fail "agent: $(tail -3 /tmp/pkg-agent.log)"
for _ in $(seq 100); do faultlab traces --server 127.0.0.1:7400 --board pkg-test 2>/dev/null | grep -q ' identical$' && break; sleep 0.1; done
faultlab traces --server 127.0.0.1:7400 --board pkg-test | grep -q ' compute .* identical$' \
  && ok "the installed CLI: the trace is stored and replayed identically by the installed server and its worker" \
  || fail "traces: $(faultlab traces --server 127.0.0.1:7400 2>&1)"
faultlab-agent --board pkg-test --server 127.0.0.1:7400 --spool-dir /tmp/pkg-spool2 --drain-timeout 5 \
  --exec -- ls /dev/dri >/tmp/pkg-ls.txt 2>/tmp/pkg-ls.err
[ "$(tr '\n' ' ' </tmp/pkg-ls.txt)" = "card0 renderD128 " ] \
  && ok "the installed agent runs a program under its shim from /usr/lib/faultlab (it sees the twin's /dev/dri)" \
  || fail "agent --exec: $(cat /tmp/pkg-ls.txt /tmp/pkg-ls.err | tail -3)"
kill "$spid"
wait "$spid" 2>/dev/null

apt-get purge -y -q faultlab-agent faultlab-server >/tmp/pkg-purge.log 2>&1 && [ ! -e /usr/bin/faultlab-agent ] && [ ! -e /etc/faultlab/agent.conf ] \
  && ok "both purged: nothing left" || fail "purge: $(tail -3 /tmp/pkg-purge.log)"
echo "$failures failed"
exit $((failures > 0))
