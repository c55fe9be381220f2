#!/usr/bin/env bash
# tools/cross.sh: what an arm64 build needs (./lab cross arm64; docs/build.md
# "arm64"): Debian's cross compiler and qemu-user on the machine, and a
# sysroot of Debian's arm64 libraries in a cache of our own.
#
#   tools/cross.sh sysroot   install the cross compiler and qemu-user-static, and build
#                            the arm64 sysroot (a second run is instant); print its path
#   tools/cross.sh bin       print the directory of the compiler wrapper and binutils
#                            Bazel's C++ autoconfiguration uses (CC, PATH)
#
# The machine's dpkg and apt configuration stay as they are: no foreign
# architecture is added. The arm64 packages are resolved by apt-get with a
# state of its own (APT::Architecture=arm64, an empty dpkg status, private
# lists and archives), downloaded — apt checks them against the signed
# indexes — and unpacked with dpkg-deb into the sysroot, whose absolute
# symlinks are made relative so that they resolve inside it. The compiler
# wrapper runs Debian's aarch64-linux-gnu-gcc with --sysroot.
set -euo pipefail
export PATH=/usr/bin:/bin:/usr/sbin:/sbin:$PATH

MIRROR=${FAULTLAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
ROOT=${FAULTLAB_CACHE:-$HOME/.cache/faultlab}/arm64
SYSROOT=$ROOT/sysroot
# The -dev packages of the libraries the board-side programs and the server
# link (third_party/BUILD.bazel), in their arm64 builds.
PACKAGES=(
  libgrpc++-dev libprotobuf-dev libabsl-dev libzstd-dev prometheus-cpp-dev libcivetweb-dev
  libdrm-dev libsqlite3-dev libpq-dev libstdc++-12-dev libc6-dev
)
HOST_PACKAGES=(g++-aarch64-linux-gnu binutils-aarch64-linux-gnu qemu-user-static)

say() { printf 'cross: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

install_host_packages() {
  local missing=() p
  for p in "${HOST_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
  done
  [ ${#missing[@]} = 0 ] && return 0
  say "installing ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  local install=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq
    --no-install-recommends "${missing[@]}")
  # With the machine's package lists as they are; if they are too old, fresh ones.
  "${install[@]}" >"$ROOT/host-apt.log" 2>&1 ||
    { "${sudo[@]}" apt-get update -qq >>"$ROOT/host-apt.log" 2>&1 && "${install[@]}" >>"$ROOT/host-apt.log" 2>&1; } ||
    die "installing ${missing[*]} failed: $ROOT/host-apt.log"
}

# apt-get for arm64 in a state of its own: the machine's sources (read),
# bookworm's main, an empty dpkg status (so every dependency is resolved and
# downloaded), private lists and archives.
apt_arm64() {
  apt-get -q \
    -o APT::Architecture=arm64 -o APT::Architectures::=arm64 \
    -o Dir::State="$ROOT/apt/state" -o Dir::State::status="$ROOT/apt/status" \
    -o Dir::Cache="$ROOT/apt/cache" -o Dir::Etc::sourcelist="$ROOT/apt/sources.list" \
    -o Dir::Etc::sourceparts=- -o Dir::Etc::preferencesparts="$ROOT/apt/preferences.d" \
    -o Debug::NoLocking=1 -o APT::Sandbox::User=root -o APT::Get::List-Cleanup=0 "$@"
}

build_sysroot() {
  mkdir -p "$ROOT/apt/state/lists/partial" "$ROOT/apt/cache/archives/partial" "$ROOT/apt/preferences.d"
  : >"$ROOT/apt/status"
  {
    [ -f /etc/apt/sources.list ] && grep -E '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list |
      sed -E 's/\[[^]]*\][[:space:]]*//'
    # deb822 sources (Debian 12's default): one line per URI and suite.
    cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
      function flush() {
        if (types ~ /(^| )deb( |$)/) {
          n = split(uris, u, " "); m = split(suites, su, " ")
          for (i = 1; i <= n; i++) for (j = 1; j <= m; j++) print "deb " u[i] " " su[j] " " comps
        }
        types = uris = suites = comps = ""
      }
      /^[[:space:]]*$/ { flush(); next }
      /^Types:/ { sub(/^Types:[[:space:]]*/, ""); types = $0 }
      /^URIs:/ { sub(/^URIs:[[:space:]]*/, ""); uris = $0 }
      /^Suites:/ { sub(/^Suites:[[:space:]]*/, ""); suites = $0 }
      /^Components:/ { sub(/^Components:[[:space:]]*/, ""); comps = $0 }
      END { flush() }'
    echo "deb $MIRROR bookworm main"
  } | sort -u >"$ROOT/apt/sources.list"
  # Only this resolution's packages: the sysroot, and who provides each
  # library (tools/package.sh), come from the archives directory.
  rm -f "$ROOT"/apt/cache/archives/*.deb
  say "resolving and downloading Debian's arm64 libraries ($ROOT/apt)"
  apt_arm64 update >"$ROOT/apt.log" 2>&1 || die "apt-get update (arm64) failed: $ROOT/apt.log"
  apt_arm64 install -y --download-only --no-install-recommends "${PACKAGES[@]}" \
    >>"$ROOT/apt.log" 2>&1 || die "resolving the arm64 packages failed: $ROOT/apt.log"
  local tmp=$SYSROOT.tmp deb n=0
  rm -rf "$tmp"
  mkdir -p "$tmp"
  for deb in "$ROOT"/apt/cache/archives/*_arm64.deb "$ROOT"/apt/cache/archives/*_all.deb; do
    [ -e "$deb" ] || continue
    dpkg-deb -x "$deb" "$tmp"
    n=$((n + 1))
  done
  # Absolute symlinks (libfoo.so -> /lib/aarch64-linux-gnu/libfoo.so.1)
  # would resolve on the host: make them relative to where they sit.
  local link target
  while IFS= read -r link; do
    target=$(readlink "$link")
    case $target in /*) ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$tmp$target")" "$link" ;; esac
  done < <(find "$tmp" -type l)
  rm -rf "$SYSROOT"
  mv "$tmp" "$SYSROOT"
  say "sysroot: $n packages unpacked into $SYSROOT"
}

# $ROOT/bin: what Bazel's C++ autoconfiguration finds for arm64 (CC, and
# PATH for the binutils): gcc and g++ run Debian's cross compiler with
# --sysroot; ar, ld, nm, objcopy, objdump, strip, dwp are the cross binutils.
write_wrapper() {
  mkdir -p "$ROOT/bin"
  local tool
  for tool in gcc g++; do
    cat >"$ROOT/bin/$tool" <<EOF
#!/bin/sh
# Debian's cross $tool over the arm64 sysroot (tools/cross.sh).
exec /usr/bin/aarch64-linux-gnu-$tool --sysroot=$SYSROOT "\$@"
EOF
    chmod +x "$ROOT/bin/$tool"
  done
  for tool in ar ld nm objcopy objdump strip dwp; do
    ln -sfn "/usr/bin/aarch64-linux-gnu-$tool" "$ROOT/bin/$tool"
  done
}

case ${1:-} in
  sysroot)
    mkdir -p "$ROOT"
    install_host_packages
    # Rebuilt when the package list changes.
    stamp=$(printf '%s\n' "${PACKAGES[@]}" | sha256sum | cut -c1-16)
    if [ "$(cat "$SYSROOT/.faultlab-packages" 2>/dev/null)" != "$stamp" ]; then
      build_sysroot
      echo "$stamp" >"$SYSROOT/.faultlab-packages"
    fi
    write_wrapper
    echo "$SYSROOT"
    ;;
  bin) echo "$ROOT/bin" ;;
  *)
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
