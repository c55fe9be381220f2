#!/usr/bin/env bash
# tools/package.sh: faultlab's Debian packages for one architecture
# (./lab package; docs/build.md "Packages").
#
#   tools/package.sh ARCH BIN OUT HOST_BIN [SYSROOT_DEBS]
#     ARCH          amd64 or arm64
#     BIN           Bazel's bazel-bin of an opt build for ARCH
#     OUT           where the .debs go
#     HOST_BIN      a bazel-bin of the same programs for this machine: their
#                   --help becomes each program's manual page (help2man)
#     SYSROOT_DEBS  arm64: the arm64 .debs tools/cross.sh unpacked (who
#                   provides each library the programs link)
#
# faultlab-agent: the agent, the device shim (/usr/lib/faultlab), the
# loopback kernel, a systemd unit with the capabilities --kprobes auto
# needs, /etc/faultlab/agent.conf. faultlab-server: the server, its replay
# worker, the CLI, a systemd unit, /etc/default/faultlab-server, the
# dashboards under /usr/share/faultlab. Depends come from the programs'
# DT_NEEDED: each library's package, at least at the version built against.
# Each .deb is checked by lintian, which must report no error.
set -euo pipefail
export PATH=/usr/bin:/bin:/usr/sbin:/sbin:$PATH
cd "$(dirname "$0")/.."

VERSION=0.3.0  # the engine's model version is 0.3 (engine/replay/version.h)
# Who answers for the packages: set it for a farm's own builds.
MAINTAINER=${FAULTLAB_MAINTAINER:-faultlab <faultlab@example.org>}
# The packages' one date (changelog, manual pages, file times — dpkg-deb
# clamps them to it), so that rebuilding the same tree gives the same bytes
# (Debian's convention): the tree's last commit; where there is no git (a
# tarball, a machine without it), now — never the epoch, which lintian
# rejects as an ancient file.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null) || SOURCE_DATE_EPOCH=
  [ -n "$SOURCE_DATE_EPOCH" ] || SOURCE_DATE_EPOCH=$(date +%s)
fi
export SOURCE_DATE_EPOCH
[ $# -ge 4 ] || { echo "usage: tools/package.sh ARCH BIN OUT HOST_BIN [SYSROOT_DEBS]" >&2; exit 2; }
arch=$1 bin=$2 out=$3 host_bin=$4 debs=${5:-}
case $arch in
  amd64) strip=strip multiarch=x86_64-linux-gnu ;;
  arm64) strip=aarch64-linux-gnu-strip multiarch=aarch64-linux-gnu ;;
  *) echo "package: ARCH is amd64 or arm64, not '$arch'" >&2; exit 2 ;;
esac
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

say() { printf 'package: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# "soname package version" for every library a package of ARCH provides:
# the machine's dpkg database (amd64), or the arm64 .debs' contents.
providers() {
  local lib="/lib(64)?/($multiarch/)?[^/]*\\.so\\.[0-9.]*$"
  if [ "$arch" = amd64 ]; then
    # Each installed package's file list (/var/lib/dpkg/info/PKG[:ARCH].list).
    dpkg-query -W -f='${Package} ${Version}\n' >"$work/versions"
    grep -E "$lib" /var/lib/dpkg/info/*.list | sed -E 's|^.*/info/([^:/]+)(:[a-z0-9]+)?\.list:.*/(.*)$|\3 \1|' |
      awk 'NR == FNR {v[$1] = $2; next} ($2 in v) {print $1, $2, v[$2]}' "$work/versions" -
  else
    local deb p v
    for deb in "$debs"/*_arm64.deb; do
      p=$(dpkg-deb -f "$deb" Package) v=$(dpkg-deb -f "$deb" Version)
      dpkg-deb -c "$deb" | awk '{print $6}' | { grep -E "$lib" || true; } | sed "s|.*/||; s|\$| $p $v|"
    done
  fi
}

# The Depends of the ELF files given: each DT_NEEDED's package (>= the
# upstream part of its version), sorted, once.
depends() {
  local needed so
  needed=$(for f in "$@"; do readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; done | sort -u)
  for so in $needed; do
    local line
    line=$(awk -v so="$so" '$1 == so {print $2, $3; exit}' "$work/providers")
    [ -n "$line" ] || die "no $arch package provides $so"
    set -- $line
    echo "$1 (>= ${2%%-*})"
  done | sort -u | paste -sd, | sed 's/,/, /g'
}

# stage PACKAGE: a staging root with the doc files every package has.
stage() {
  local root=$work/$1
  mkdir -p "$root/DEBIAN" "$root/usr/share/doc/$1"
  install -m 0644 packaging/copyright "$root/usr/share/doc/$1/copyright"
  printf '%s (%s) stable; urgency=medium\n\n  * Built from the faultlab tree.\n\n -- %s  %s\n' \
    "$1" "$VERSION" "$MAINTAINER" "$(date -R -u -d "@$SOURCE_DATE_EPOCH")" | gzip -9n >"$root/usr/share/doc/$1/changelog.gz"
  chmod 0644 "$root/usr/share/doc/$1/changelog.gz"
  echo "$root"
}

program() {  # program SRC DEST MODE: installed and stripped
  install -D -m "$3" "$1" "$2"
  "$strip" --strip-unneeded --remove-section=.comment --remove-section=.note "$2"
}

# manpage PROGRAM SUMMARY ROOT: the program's manual page, made by help2man
# from its --help as built for this machine (the same text as ARCH's),
# dated SOURCE_DATE_EPOCH.
manpage() {
  local name page
  name=$(basename "$1")
  page=$3/usr/share/man/man1/$name.1.gz
  mkdir -p "$(dirname "$page")"
  help2man --no-info --version-string="$VERSION" --name="$2" \
    --output="$work/$name.1" "$host_bin/$1" || die "help2man: $1 --help failed"
  gzip -9n <"$work/$name.1" >"$page"
  chmod 0644 "$page"
}

# finish PACKAGE DESCRIPTION ELF...: control, md5sums, conffiles, the .deb, lintian.
finish() {
  local name=$1 desc=$2 root=$work/$1
  shift 2
  local size
  size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
  {
    echo "Package: $name"
    echo "Version: $VERSION"
    echo "Architecture: $arch"
    echo "Maintainer: $MAINTAINER"
    echo "Installed-Size: $size"
    echo "Depends: $(depends "$@")"
    echo "Section: devel"
    echo "Priority: optional"
    echo "Homepage: https://example.org/faultlab"
    echo "Description: $desc"
    sed 's/^/ /; s/^ $/ ./' "packaging/$name.description"
  } >"$root/DEBIAN/control"
  (cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) \
    >"$root/DEBIAN/md5sums"
  chmod 0644 "$root/DEBIAN/md5sums"
  (cd "$root" && find etc -type f -printf '/%p\n' 2>/dev/null | sort) >"$root/DEBIAN/conffiles"
  [ -s "$root/DEBIAN/conffiles" ] || rm "$root/DEBIAN/conffiles"
  local deb=$out/${name}_${VERSION}_${arch}.deb
  dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
  local lint
  lint=$(lintian --no-tag-display-limit "$deb" 2>&1 || true)
  if grep -q '^E: ' <<<"$lint"; then
    grep '^E: ' <<<"$lint" >&2
    die "lintian reports errors in $deb"
  fi
  say "$(basename "$deb"): $(du -k "$deb" | cut -f1) KiB; lintian: $(grep -c '^E: ' <<<"$lint") errors, $(grep -c '^W: ' <<<"$lint") warnings"
  grep '^W: ' <<<"$lint" | sed 's/^/  /' >&2 || true
}

providers | sort -u >"$work/providers"

root=$(stage faultlab-agent)
program "$bin/agents/faultlab-agent" "$root/usr/bin/faultlab-agent" 0755
program "$bin/agents/loopback/faultlab-loopback" "$root/usr/bin/faultlab-loopback" 0755
program "$bin/agents/shim/libfaultlab_shim.so" "$root/usr/lib/faultlab/libfaultlab_shim.so" 0644
install -D -m 0644 packaging/faultlab-agent.service "$root/lib/systemd/system/faultlab-agent.service"
install -D -m 0644 packaging/agent.conf "$root/etc/faultlab/agent.conf"
install -D -m 0644 packaging/faultlab-agent.README "$root/usr/share/doc/faultlab-agent/README"
manpage agents/faultlab-agent "record GPU fault traces on a board and upload them" "$root"
manpage agents/loopback/faultlab-loopback "faultlab's twin behind a unix socket, posing as the kernel" "$root"
finish faultlab-agent "GPU fault traces from a Mali CSF board for faultlab" \
  "$root/usr/bin/faultlab-agent" "$root/usr/bin/faultlab-loopback" "$root/usr/lib/faultlab/libfaultlab_shim.so"

root=$(stage faultlab-server)
program "$bin/server/faultlab-server" "$root/usr/bin/faultlab-server" 0755
program "$bin/server/faultlab-replay-worker" "$root/usr/bin/faultlab-replay-worker" 0755
program "$bin/cli/faultlab" "$root/usr/bin/faultlab" 0755
install -D -m 0644 packaging/faultlab-server.service "$root/lib/systemd/system/faultlab-server.service"
install -D -m 0644 packaging/faultlab-server.default "$root/etc/default/faultlab-server"
install -D -m 0644 packaging/faultlab-server.README "$root/usr/share/doc/faultlab-server/README"
manpage server/faultlab-server "store, replay and measure GPU fault traces" "$root"
manpage server/faultlab-replay-worker "one sandboxed replay for faultlab-server" "$root"
manpage cli/faultlab "trace-replay and performance lab for GPU memory allocated on fault" "$root"
mkdir -p "$root/usr/share/faultlab"
cp -r dashboards/grafana dashboards/prometheus "$root/usr/share/faultlab/"
find "$root/usr/share/faultlab" -type f -exec chmod 0644 {} + -o -type d -exec chmod 0755 {} +
finish faultlab-server "faultlab's server: stores, replays and measures GPU fault traces" \
  "$root/usr/bin/faultlab-server" "$root/usr/bin/faultlab-replay-worker" "$root/usr/bin/faultlab"
