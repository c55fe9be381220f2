// Trace container throughput and size, per event mix (./lab bench).
//   BM_Write/<mix>: events/s encoding + framing (+ zstd) into memory
//   BM_Read/<mix>:  events/s through the streaming reader (CRC, zstd, columns)
//   BM_ReadNoZstd/<mix>: the same without compression
// Counters: bytes_per_event (trace bytes / events).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "engine/trace/reader.h"
#include "engine/trace/synthetic.h"
#include "engine/trace/writer.h"

namespace faultlab::trace {
namespace {

constexpr int kEvents = 1'000'000;

Mix MixArg(const benchmark::State& state) { return static_cast<Mix>(state.range(0)); }

std::string Encode(Mix mix, Codec codec) {
  std::string bytes;
  StringSink sink(&bytes);
  WriterOptions opts;
  opts.codec = codec;
  TraceWriter writer(&sink, SyntheticHeader(mix, 1), opts);
  SyntheticGenerator gen(mix, 1);
  Event e;
  for (int i = 0; i < kEvents; ++i) {
    gen.Next(&e);
    (void)writer.Append(e);
  }
  (void)writer.Finish();
  return bytes;
}

void BM_Write(benchmark::State& state) {
  const Mix mix = MixArg(state);
  // Pre-generate so that only the writer is timed.
  EventArena arena;
  std::vector<Event> events;
  SyntheticGenerator gen(mix, 1);
  Event e;
  for (int i = 0; i < kEvents; ++i) {
    gen.Next(&e);
    events.push_back(arena.Own(e));
  }
  size_t bytes_out = 0;
  for (auto _ : state) {
    std::string bytes;
    bytes.reserve(32 << 20);
    StringSink sink(&bytes);
    TraceWriter writer(&sink, SyntheticHeader(mix, 1));
    for (const Event& ev : events) (void)writer.Append(ev);
    (void)writer.Finish();
    bytes_out = bytes.size();
    benchmark::DoNotOptimize(bytes.data());
  }
  state.SetItemsProcessed(state.iterations() * kEvents);
  state.counters["bytes_per_event"] = static_cast<double>(bytes_out) / kEvents;
  state.SetLabel(std::string(MixName(mix)));
}

void ReadBench(benchmark::State& state, Codec codec) {
  const Mix mix = MixArg(state);
  const std::string bytes = Encode(mix, codec);
  for (auto _ : state) {
    MemorySource src(bytes);
    TraceReader reader(&src, "bench");
    (void)reader.Open();
    Event e;
    uint64_t n = 0;
    while (reader.Next(&e)) ++n;
    if (!reader.status().ok() || n != static_cast<uint64_t>(kEvents)) {
      state.SkipWithError("read failed");
      return;
    }
    benchmark::DoNotOptimize(e);
  }
  state.SetItemsProcessed(state.iterations() * kEvents);
  state.counters["bytes_per_event"] = static_cast<double>(bytes.size()) / kEvents;
  state.SetLabel(std::string(MixName(mix)));
}

void BM_Read(benchmark::State& state) { ReadBench(state, CODEC_ZSTD); }
void BM_ReadNoZstd(benchmark::State& state) { ReadBench(state, CODEC_NONE); }

#define MIXES                                    \
  Arg(static_cast<int>(Mix::kFaultHeavy))        \
      ->Arg(static_cast<int>(Mix::kAccessHeavy)) \
      ->Arg(static_cast<int>(Mix::kIoctlHeavy))  \
      ->Unit(benchmark::kMillisecond)

BENCHMARK(BM_Write)->MIXES;
BENCHMARK(BM_Read)->MIXES;
BENCHMARK(BM_ReadNoZstd)->MIXES;

}  // namespace
}  // namespace faultlab::trace
