#!/usr/bin/env bash
# engine/ must be deterministic by construction (STYLE.md): no wall clock,
# threads, unseeded randomness, implementation-defined distributions or
# hash-order iteration. Test and benchmark files may time themselves.
set -u
pattern='std::chrono::(system|steady|high_resolution)_clock|absl::Now\(|absl::BitGen|std::random_device|std::(uniform|normal|bernoulli)_[a-z_]*distribution|std::thread|pthread_create|[^a-z_]rand\(\)|srand\(|time\(NULL\)|time\(nullptr\)|gettimeofday|clock_gettime|std::unordered_(map|set)|absl::flat_hash_(map|set)|absl::node_hash_(map|set)|std::hash<|absl::Hash'
files=()
for f in "$@"; do
  case "$f" in *_test.cc|*_benchmark.cc|*test_util.h) continue ;; esac
  files+=("$f")
done
[ ${#files[@]} -gt 0 ] || { echo "no engine sources given"; exit 1; }
hits=""
for f in "${files[@]}"; do
  # Comments may name banned calls (to explain why they are not used).
  found=$(sed 's://.*$::' "$f" | grep -nE "$pattern" | sed "s|^|$f:|") || true
  [ -z "$found" ] || hits+="$found"$'\n'
done
if [ -n "$hits" ]; then
  echo "engine/ must stay deterministic; these lines use a banned call:"
  echo "$hits"
  exit 1
fi
echo "checked ${#files[@]} engine sources: no banned calls"
