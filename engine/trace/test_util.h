// Helpers for trace tests: write synthetic events to bytes, read them back.
#ifndef FAULTLAB_ENGINE_TRACE_TEST_UTIL_H_
#define FAULTLAB_ENGINE_TRACE_TEST_UTIL_H_

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/base/check.h"
#include "engine/trace/event.h"
#include "engine/trace/frame.h"
#include "engine/trace/reader.h"
#include "engine/trace/synthetic.h"
#include "engine/trace/writer.h"

namespace faultlab::trace::testing {

// "fast" (the default, ./lab test) or "soak" (./lab soak): tests scale their
// seed and iteration counts by tier, never by wall-clock time.
inline bool SoakTier() {
  const char* tier = std::getenv("FAULTLAB_TIER");
  return tier != nullptr && std::string(tier) == "soak";
}

// `n` synthetic events of `mix`, owned by `arena`.
inline std::vector<Event> MakeEvents(Mix mix, uint64_t seed, int n, EventArena& arena) {
  SyntheticGenerator gen(mix, seed);
  std::vector<Event> out;
  out.reserve(n);
  Event e;
  for (int i = 0; i < n; ++i) {
    gen.Next(&e);
    out.push_back(arena.Own(e));
  }
  return out;
}

inline std::string WriteTrace(const TraceHeader& header, const std::vector<Event>& events,
                              WriterOptions options = {}) {
  std::string bytes;
  StringSink sink(&bytes);
  TraceWriter writer(&sink, header, options);
  for (const Event& e : events) {
    FAULTLAB_CHECK(writer.Append(e).ok(), "test trace: Append");
  }
  FAULTLAB_CHECK(writer.Finish().ok(), "test trace: Finish");
  return bytes;
}

struct ReadResult {
  absl::Status status;
  TraceHeader header;
  std::vector<Event> events;
  ReaderStats stats;
  bool complete = false;
};

inline ReadResult ReadTrace(absl::string_view bytes, EventArena& arena,
                            ReaderOptions options = {}) {
  ReadResult r;
  MemorySource src(bytes);
  TraceReader reader(&src, "mem", options);
  r.status = reader.Open();
  if (r.status.ok()) {
    r.header = reader.header();
    Event e;
    while (reader.Next(&e)) r.events.push_back(arena.Own(e));
    r.status = reader.status();
  }
  r.stats = reader.stats();
  r.complete = reader.complete();
  return r;
}

// `bytes` with every frame's checksums made right again (sizes clamped to
// what is there): the fuzzers' mutations then reach envelopes, columns and
// the replay instead of dying at a checksum.
inline std::string Reframe(absl::string_view bytes) {
  if (bytes.size() < kPreambleSize) return std::string(bytes);
  std::string out(bytes.substr(0, kPreambleSize));
  size_t at = kPreambleSize;
  while (at + kFrameHeaderSize <= bytes.size()) {
    uint32_t type, size;
    std::memcpy(&type, bytes.data() + at, 4);
    std::memcpy(&size, bytes.data() + at + 4, 4);
    const size_t n = std::min<size_t>(size, bytes.size() - at - kFrameHeaderSize);
    AppendFrame(out, type, bytes.substr(at + kFrameHeaderSize, n));
    at += kFrameHeaderSize + n;
  }
  out.append(bytes.data() + at, bytes.size() - at);
  return out;
}

}  // namespace faultlab::trace::testing

#endif  // FAULTLAB_ENGINE_TRACE_TEST_UTIL_H_
