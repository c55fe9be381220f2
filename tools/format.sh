#!/usr/bin/env bash
# clang-format (Debian's, .clang-format at the root) over every C/C++ file of
# ours. ./lab test runs the check; ./lab format rewrites.
#
#   tools/format.sh          list the files that are not formatted; exit 1 if any
#   tools/format.sh --fix    format them in place
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
command -v clang-format >/dev/null || { echo "format: clang-format missing ('./lab install' installs it)" >&2; exit 1; }
mapfile -d '' files < <(find engine lib cli agents server tests tools dashboards \
  \( -name '*.cc' -o -name '*.h' -o -name '*.c' \) -print0 | sort -z)
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  echo "format: ${#files[@]} files formatted"
  exit 0
fi
[ $# -eq 0 ] || { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  printf 'format: not clang-formatted: %s\n' "${bad[@]}" >&2
  echo "format: ${#bad[@]} of ${#files[@]} files; './lab format' fixes them" >&2
  exit 1
fi
echo "format: ok (${#files[@]} files, $(clang-format --version | sed 's/.*version \([0-9.]*\).*/clang-format \1/'))"
