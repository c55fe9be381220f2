#!/usr/bin/env bash
# tools/mesa.sh: Mesa's panfrost (GLES) and panvk (Vulkan) drivers and its
# noop drm-shim, built once from Debian's source into a cache keyed by
# version (./lab mesa; docs/mesa.md).
#
#   tools/mesa.sh build    install the build's packages, fetch, verify, build (a second run is instant)
#   tools/mesa.sh programs compile the Mesa tier's programs (tests/mesa); print their directory
#   tools/mesa.sh prefix   print the installed prefix (exit 1 when not built)
#
# Nothing here changes the machine's apt configuration: bookworm-backports
# (meson 1.7, python3-mako) is reached through a private source list with
# its own lists directory. Mesa's source is the upstream tarball Debian
# ships (`apt-get source` answers 404 on this mirror for the .dsc): its
# SHA256 comes from the bookworm-backports Sources index, whose own SHA256
# comes from the suite's InRelease, checked with gpgv against Debian's
# archive keyring.
set -euo pipefail
# Debian's python3 (with its mako), meson and ninja, before any other on PATH.
export PATH=/usr/bin:/bin:/usr/sbin:/sbin:$PATH

MESA_VERSION=25.0.7
MIRROR=${FAULTLAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=${FAULTLAB_CACHE:-$HOME/.cache/faultlab}/mesa-$MESA_VERSION
APT_DIR=${FAULTLAB_CACHE:-$HOME/.cache/faultlab}/apt
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
# What Mesa's meson build asks for with the options below (no LLVM, no
# window system), and what the Mesa tier runs (vulkaninfo, eglinfo): from
# bookworm; meson + mako from bookworm-backports.
BUILD_PACKAGES=(
  bison flex pkg-config ninja-build python3-yaml python3-ply glslang-tools
  libexpat1-dev libdrm-dev zlib1g-dev libzstd-dev xz-utils curl gpgv debian-archive-keyring
  vulkan-tools mesa-utils-bin
)
BACKPORTS_PACKAGES=(meson python3-mako)

say() { printf 'mesa: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# apt-get with the machine's own sources (read, never changed) plus
# bookworm-backports, in a source list and lists directory of our own. The
# machine's suites must be there too: a machine with bookworm-updates or
# -security installed has newer libraries than bookworm's, and a -dev
# package from bookworm alone would ask to downgrade them.
apt_private() {
  mkdir -p "$APT_DIR/lists/partial"
  {
    [ -f /etc/apt/sources.list ] && grep -v '^[[:space:]]*#' /etc/apt/sources.list
    echo "deb $MIRROR bookworm main"
    echo "deb $MIRROR bookworm-backports main"
  } >"$APT_DIR/sources.list"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get \
    -o Dir::Etc::sourcelist="$APT_DIR/sources.list" \
    -o Dir::State::Lists="$APT_DIR/lists" -o APT::Get::List-Cleanup=0 "$@"
}

install_build_packages() {
  local missing=() p
  for p in "${BUILD_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
  done
  local meson_ok=0
  if command -v meson >/dev/null && dpkg --compare-versions "$(meson --version)" ge 1.4; then
    meson_ok=1
  fi
  /usr/bin/python3 -c 'import mako' 2>/dev/null && [ $meson_ok = 1 ] && [ ${#missing[@]} = 0 ] && return 0
  say "installing Mesa's build packages through a private apt source list ($APT_DIR)"
  mkdir -p "$APT_DIR"
  apt_private update -qq >"$APT_DIR/apt.log" 2>&1 || die "apt-get update failed: $APT_DIR/apt.log"
  [ ${#missing[@]} = 0 ] || apt_private install -y -qq --no-install-recommends "${missing[@]}" \
    >>"$APT_DIR/apt.log" 2>&1 || die "installing ${missing[*]} failed: $APT_DIR/apt.log"
  apt_private install -y -qq --no-install-recommends -t bookworm-backports "${BACKPORTS_PACKAGES[@]}" \
    >>"$APT_DIR/apt.log" 2>&1 || die "installing meson and mako from bookworm-backports failed: $APT_DIR/apt.log"
}

# The SHA256 that Release file `$1` lists for path `$2`.
sha256_of() {
  awk -v path="$2" '/^SHA256:/{s=1; next} /^[A-Za-z]/{s=0} s && $3 == path {print $1; exit}' "$1"
}

fetch_source() {
  local tarball="$CACHE/mesa_$MESA_VERSION.orig.tar.xz"
  [ -f "$tarball.ok" ] && return 0
  mkdir -p "$CACHE"
  local dist="$MIRROR/dists/bookworm-backports"
  say "fetching bookworm-backports' InRelease and Sources (checked with gpgv)"
  curl -fsS -o "$CACHE/InRelease" "$dist/InRelease" || die "cannot fetch $dist/InRelease"
  gpgv --keyring "$KEYRING" --output "$CACHE/Release" "$CACHE/InRelease" 2>"$CACHE/gpgv.log" ||
    die "InRelease's signature does not verify against $KEYRING ($CACHE/gpgv.log)"
  curl -fsS -o "$CACHE/Sources.xz" "$dist/main/source/Sources.xz" || die "cannot fetch Sources.xz"
  local want
  want=$(sha256_of "$CACHE/Release" main/source/Sources.xz)
  [ -n "$want" ] && echo "$want  $CACHE/Sources.xz" | sha256sum -c --status ||
    die "Sources.xz does not match InRelease's SHA256"
  local entry dir sum
  xz -dc "$CACHE/Sources.xz" >"$CACHE/Sources"
  entry=$(awk '/^Package: mesa$/{p=1} p && /^$/{exit} p' "$CACHE/Sources")
  grep -q "^Version: $MESA_VERSION-" <<<"$entry" || die "bookworm-backports has no mesa $MESA_VERSION"
  dir=$(sed -n 's/^Directory: //p' <<<"$entry")
  sum=$(awk -v f="mesa_$MESA_VERSION.orig.tar.xz" '/^Checksums-Sha256:/{s=1; next} /^[A-Za-z]/{s=0} s && $3 == f {print $1}' <<<"$entry")
  [ -n "$dir" ] && [ -n "$sum" ] || die "the Sources entry names no orig tarball"
  say "fetching $dir/mesa_$MESA_VERSION.orig.tar.xz (47 MB)"
  curl -fsS -o "$tarball" "$MIRROR/$dir/mesa_$MESA_VERSION.orig.tar.xz" || die "cannot fetch the tarball"
  echo "$sum  $tarball" | sha256sum -c --status || die "the tarball's SHA256 is not $sum"
  touch "$tarball.ok"
}

build() {
  local prefix="$CACHE/install"
  if [ -f "$prefix/.built" ]; then
    say "Mesa $MESA_VERSION is built: $prefix"
    return 0
  fi
  install_build_packages
  fetch_source
  local src="$CACHE/src"
  if [ ! -f "$src/meson.build" ]; then
    rm -rf "$src" && mkdir -p "$src"
    tar -xf "$CACHE/mesa_$MESA_VERSION.orig.tar.xz" -C "$src" --strip-components=1
  fi
  if [ ! -f "$CACHE/build/build.ninja" ]; then
    say "configuring (panfrost, panvk, the noop drm-shim; no LLVM, no window system)"
    meson setup "$CACHE/build" "$src" --prefix="$prefix" --buildtype=release \
      -Dgallium-drivers=panfrost -Dvulkan-drivers=panfrost -Dtools=drm-shim,panfrost \
      -Dplatforms= -Dllvm=disabled -Dglvnd=disabled -Dglx=disabled -Dgbm=disabled \
      -Dbuild-tests=false -Dvalgrind=disabled -Dlibunwind=disabled -Dlmsensors=disabled \
      -Dzstd=enabled >"$CACHE/meson.log" 2>&1 || die "meson setup failed: $CACHE/meson.log"
  fi
  say "building (about 1,400 steps; 15-30 min on two cores; log: $CACHE/ninja.log)"
  ninja -C "$CACHE/build" >"$CACHE/ninja.log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 30
    say "  $(grep -o '^\[[0-9]*/[0-9]*\]' "$CACHE/ninja.log" | tail -1)"
  done
  wait "$pid" || die "the build failed: $CACHE/ninja.log"
  ninja -C "$CACHE/build" install >"$CACHE/install.log" 2>&1 || die "install failed: $CACHE/install.log"
  touch "$prefix/.built"
  say "Mesa $MESA_VERSION built: $prefix"
}

# The Mesa tier's own programs (tests/mesa/*.c: EGL/GLES and Vulkan only),
# compiled against the headers in Mesa's source and Mesa's libEGL/libGLESv2
# and the system's Vulkan loader; SPIR-V from glslangValidator. Kept by a
# hash of their sources: an edit rebuilds them. Prints their directory.
programs() {
  local here src="$CACHE/src" lib="$CACHE/install/lib/x86_64-linux-gnu"
  here=$(cd "$(dirname "$0")/.." && pwd)/tests/mesa
  [ -f "$CACHE/install/.built" ] || die "Mesa is not built (tools/mesa.sh build)"
  local key out
  key=$(cat "$here"/*.c "$here"/*.h "$here"/*.comp "$here"/*.vert "$here"/*.frag | sha256sum | cut -c1-12)
  out="$CACHE/programs/$key"
  if [ ! -f "$out/.built" ]; then
    say "compiling the Mesa tier's programs (tests/mesa) into $out"
    mkdir -p "$out"
    local cc=(gcc -O2 -Wall -Werror -I"$src/include")
    "${cc[@]}" -o "$out/vk_compute" "$here/vk_compute.c" /usr/lib/x86_64-linux-gnu/libvulkan.so.1 ||
      die "vk_compute does not compile"
    "${cc[@]}" -o "$out/vk_render" "$here/vk_render.c" /usr/lib/x86_64-linux-gnu/libvulkan.so.1 ||
      die "vk_render does not compile"
    "${cc[@]}" -o "$out/gles_render" "$here/gles_render.c" -L"$lib" -lEGL -lGLESv2 \
      -Wl,-rpath-link,"$lib" || die "gles_render does not compile"
    local shader
    for shader in compute.comp render.vert render.frag; do
      glslangValidator -V -o "$out/$shader.spv" "$here/$shader" >/dev/null ||
        die "$shader does not compile"
    done
    touch "$out/.built"
  fi
  # The agent's Mesa workloads run these (lib/mesa: programs/current).
  ln -sfn "$key" "$CACHE/programs/current"
  echo "$out"
}

case "${1:-build}" in
  build) build ;;
  programs) programs ;;
  prefix)
    [ -f "$CACHE/install/.built" ] || exit 1
    echo "$CACHE/install"
    ;;
  *) die "usage: tools/mesa.sh build|programs|prefix" ;;
esac
