// Randomized corruption: flip, truncate and splice trace bytes over many seeds.
// Whatever the damage, the reader must not crash (this test also runs under
// --config=asan), must report "NAME: offset N: problem", and must never hand
// out an event that differs from the one recorded at that index.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/base/prng.h"
#include "engine/trace/reader.h"
#include "engine/trace/synthetic.h"
#include "engine/trace/test_util.h"
#include "engine/trace/writer.h"

namespace faultlab::trace {
namespace {

struct Original {
  std::string bytes;
  std::vector<Event> events;
  EventArena arena;
};

const Original& MakeOriginal(int which) {
  static Original originals[3];
  Original& o = originals[which];
  if (o.bytes.empty()) {
    const Mix mix = which == 0 ? Mix::kAllKinds : which == 1 ? Mix::kFaultHeavy : Mix::kIoctlHeavy;
    o.events = testing::MakeEvents(mix, 100 + which, 600, o.arena);
    WriterOptions opts;
    opts.max_events_per_chunk = 64;
    opts.codec = which == 2 ? CODEC_NONE : CODEC_ZSTD;
    o.bytes = testing::WriteTrace(SyntheticHeader(mix, 100 + which), o.events, opts);
  }
  return o;
}

std::string Corrupt(const std::string& in, Prng& prng) {
  std::string s = in;
  const int kind = static_cast<int>(prng.Uniform(3));
  const int times = 1 + static_cast<int>(prng.Uniform(3));
  for (int t = 0; t < times && !s.empty(); ++t) {
    switch (kind) {
      case 0: {  // flip bits in a few bytes
        const size_t at = prng.Uniform(s.size());
        s[at] = static_cast<char>(s[at] ^ (1 + prng.Uniform(255)));
        break;
      }
      case 1:  // truncate
        s.resize(prng.Uniform(s.size()));
        break;
      default: {  // splice: copy a run from elsewhere over (or into) the trace
        const size_t from = prng.Uniform(s.size());
        const size_t len = 1 + prng.Uniform(std::min<size_t>(s.size() - from, 4096));
        const std::string run = s.substr(from, len);
        const size_t to = prng.Uniform(s.size());
        if (prng.Chance(1, 2)) {
          s.replace(to, std::min(len, s.size() - to), run);
        } else {
          s.insert(to, run);
        }
        break;
      }
    }
  }
  return s;
}

// "mem: offset N: problem"
bool WellFormedError(const absl::Status& s) {
  const std::string m(s.message());
  const std::string prefix = "mem: offset ";
  if (m.compare(0, prefix.size(), prefix) != 0) return false;
  size_t i = prefix.size();
  const size_t digits = i;
  while (i < m.size() && m[i] >= '0' && m[i] <= '9') ++i;
  return i > digits && m.compare(i, 2, ": ") == 0 && m.size() > i + 2;
}

void CheckOne(const Original& o, const std::string& bytes, bool skip, uint64_t seed) {
  MemorySource src(bytes);
  ReaderOptions opts;
  opts.skip_damaged = skip;
  TraceReader reader(&src, "mem", opts);
  absl::Status s = reader.Open();
  if (!s.ok()) {
    ASSERT_TRUE(WellFormedError(s)) << s << " seed " << seed;
    return;
  }
  Event e;
  uint64_t last_index = 0;
  bool first = true;
  while (reader.Next(&e)) {
    const uint64_t i = reader.event_index();
    ASSERT_LT(i, o.events.size()) << "seed " << seed;
    ASSERT_EQ(e, o.events[i]) << "event " << i << " seed " << seed;
    if (!first) {
      ASSERT_GT(i, last_index) << "seed " << seed;
    }
    first = false;
    last_index = i;
  }
  if (skip) {
    // Skipping turns every kind of damage into counted stats, never an error.
    ASSERT_TRUE(reader.status().ok()) << reader.status() << " seed " << seed;
  } else if (!reader.status().ok()) {
    ASSERT_TRUE(WellFormedError(reader.status())) << reader.status() << " seed " << seed;
  } else if (bytes != o.bytes) {
    // Accepting damaged bytes as a complete trace is only fine if the damage
    // changed nothing that matters: every event must have been delivered.
    ASSERT_TRUE(reader.complete()) << "seed " << seed;
    ASSERT_EQ(reader.stats().events, o.events.size()) << "seed " << seed;
  }
}

TEST(CorruptionTest, RandomFlipsTruncationsAndSplices) {
  const uint64_t seeds = testing::SoakTier() ? 200'000 : 4'000;
  for (uint64_t seed = 0; seed < seeds; ++seed) {
    Prng prng(seed);
    const Original& o = MakeOriginal(static_cast<int>(seed % 3));
    const std::string bad = Corrupt(o.bytes, prng);
    CheckOne(o, bad, /*skip=*/false, seed);
    CheckOne(o, bad, /*skip=*/true, seed);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace faultlab::trace
