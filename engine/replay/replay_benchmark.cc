// Replay throughput per workload (./lab bench).
//   BM_Replay/<workload>: events/s of a checked replay (two readers, a fresh
//     device, every output compared), one core.
//   BM_Decode/<workload>: events/s of decoding the same trace alone (CRC,
//     zstd, columns) — the ceiling a replay is measured against.
//   BM_ReplayVsDecode/<workload>: both, interleaved in one run, and the
//     ratio replay_pct_of_decode (docs/record-replay.md "Performance").
// Counters: bytes_per_event (trace bytes / events), events, and for replays
// speedup_x = the trace's virtual duration / the wall time of one replay,
// with the shipped g610 cost model.
// The workloads run with their default frames, seed 1, g610, series-fixed,
// noretry (as the traces in traces/); `compute` is fault-dominated, `fuzz`
// ioctl-dominated, `heap` heap-grow-dominated, `game` the mix; the board
// traces are read from traces/ (no speedup_x: their time is the board's).
// FAULTLAB_BENCH_TRACES=DIR adds a BM_ReplayVsDecode row for each DIR/*.fltrace,
// named by its header's workload (./lab bench records Mesa's programs there
// when ./lab mesa has built Mesa).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "engine/base/check.h"
#include "engine/replay/recorder.h"
#include "engine/replay/replayer.h"
#include "engine/trace/io.h"
#include "engine/trace/reader.h"
#include "engine/trace/writer.h"
#include "engine/workload/workload.h"

namespace faultlab::replay {
namespace {

// The twin's workloads, then board traces from traces/ (captured through
// passthrough over the loopback kernel, with the fault stream: their GPU
// work replays from the recorded faults).
const char* const kWorkloads[] = {
    "compute", "game", "heap", "pressure", "fuzz", "board-storm", "board-drm_client"};

constexpr int kBuiltIn = sizeof(kWorkloads) / sizeof(kWorkloads[0]);

uint64_t DecodeOnce(const Recording& rec);

// FAULTLAB_BENCH_TRACES/*.fltrace, in name order (rows kBuiltIn and on).
const std::vector<std::string>& ExtraTraces() {
  static const std::vector<std::string> paths = [] {
    std::vector<std::string> found;
    const char* dir = std::getenv("FAULTLAB_BENCH_TRACES");
    std::error_code ec;
    if (dir == nullptr || !std::filesystem::is_directory(dir, ec)) return found;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      if (e.path().extension() == ".fltrace") found.push_back(e.path().string());
    }
    std::sort(found.begin(), found.end());
    return found;
  }();
  return paths;
}

Recording ReadTraceFile(const std::string& path) {
  absl::StatusOr<std::unique_ptr<trace::FileSource>> f = trace::FileSource::Open(path);
  FAULTLAB_CHECK(f.ok(), path, ": ", f.status().message());
  Recording r;
  char buf[65536];
  for (;;) {
    absl::StatusOr<size_t> n = (*f)->Read(buf, sizeof buf);
    FAULTLAB_CHECK(n.ok(), path, ": ", n.status().message());
    if (*n == 0) break;
    r.bytes.append(buf, *n);
  }
  r.events = DecodeOnce(r);
  return r;  // virtual_ns 0 (no speedup_x): a board trace's time is the board's
}

// traces/NAME.fltrace in the repository (./lab bench runs from its root;
// `bazel run` says where it is). Not a Bazel dependency: engine/ may not
// depend on traces/ (tools/layering.py).
Recording ReadBoardTrace(const std::string& name) {
  const char* root = std::getenv("BUILD_WORKSPACE_DIRECTORY");
  return ReadTraceFile((root ? std::string(root) + "/" : "") + "traces/" + name + ".fltrace");
}

const Recording& Get(int index) {
  static std::map<int, Recording> cache;
  auto it = cache.find(index);
  if (it != cache.end()) return it->second;
  if (index >= kBuiltIn) return cache[index] = ReadTraceFile(ExtraTraces()[index - kBuiltIn]);
  if (std::string(kWorkloads[index]).rfind("board-", 0) == 0) {
    return cache[index] = ReadBoardTrace(kWorkloads[index]);
  }
  const workload::WorkloadInfo* w = workload::FindWorkload(kWorkloads[index]);
  dev::DeviceConfig cfg = replay::DefaultConfig();
  cfg.seed = 1;
  cfg.pressure.enabled = w->wants_pressure;
  if (w->wants_pressure) cfg.budget_bytes = 512ULL << 20;
  absl::StatusOr<Recording> r = RecordWorkload(cfg, {w->name, 1, 0}, "bench", std::string(16, 'b'));
  FAULTLAB_CHECK(r.ok(), r.status().message());
  return cache[index] = std::move(*r);
}

// A row's name: the workload, or an extra trace's header workload.
std::string RowName(int index) {
  if (index < kBuiltIn) return kWorkloads[index];
  trace::MemorySource src(Get(index).bytes);
  trace::TraceReader reader(&src, "bench");
  FAULTLAB_CHECK(reader.Open().ok(), ExtraTraces()[index - kBuiltIn], ": does not open");
  return reader.header().workload();
}

// One checked replay of `rec`: false if it did not come out identical.
bool ReplayOnce(const Recording& rec) {
  ReplayResult r = Replay(
      [&]() -> absl::StatusOr<std::unique_ptr<trace::ByteSource>> {
        return std::make_unique<trace::MemorySource>(rec.bytes);
      },
      "bench", {});
  benchmark::DoNotOptimize(r.events);
  return r.outcome == ReplayOutcome::kIdentical;
}

// One decode of `rec`: its events.
uint64_t DecodeOnce(const Recording& rec) {
  trace::MemorySource src(rec.bytes);
  trace::TraceReader reader(&src, "bench");
  FAULTLAB_CHECK(reader.Open().ok(), "benchmark trace does not open");
  trace::Event e;
  uint64_t n = 0;
  while (reader.Next(&e)) ++n;
  return n;
}

void BM_Replay(benchmark::State& state) {
  const Recording& rec = Get(static_cast<int>(state.range(0)));
  state.SetLabel(RowName(static_cast<int>(state.range(0))));
  for (auto _ : state) {
    if (!ReplayOnce(rec)) {
      state.SkipWithError("replay did not come out identical");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * rec.events);
  state.counters["events"] = static_cast<double>(rec.events);
  state.counters["bytes_per_event"] = static_cast<double>(rec.bytes.size()) / rec.events;
  // Virtual ns per wall ns: iterations * virtual duration / elapsed time.
  state.counters["speedup_x"] = benchmark::Counter(
      static_cast<double>(rec.virtual_ns) * 1e-9 * state.iterations(), benchmark::Counter::kIsRate);
}

void BM_Decode(benchmark::State& state) {
  const Recording& rec = Get(static_cast<int>(state.range(0)));
  state.SetLabel(RowName(static_cast<int>(state.range(0))));
  for (auto _ : state) benchmark::DoNotOptimize(DecodeOnce(rec));
  state.SetItemsProcessed(state.iterations() * rec.events);
  state.counters["bytes_per_event"] = static_cast<double>(rec.bytes.size()) / rec.events;
}

// Both in one run, interleaved (the ratio: a replay's speed as a
// share of merely decoding the same trace): replay_pct_of_decode = decode
// time / replay time x 100.
void BM_ReplayVsDecode(benchmark::State& state) {
  const Recording& rec = Get(static_cast<int>(state.range(0)));
  state.SetLabel(RowName(static_cast<int>(state.range(0))));
  std::chrono::nanoseconds decode{0}, replay{0};
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(DecodeOnce(rec));
    const auto t1 = std::chrono::steady_clock::now();
    FAULTLAB_CHECK(ReplayOnce(rec), "replay did not come out identical");
    const auto t2 = std::chrono::steady_clock::now();
    decode += t1 - t0;
    replay += t2 - t1;
  }
  const double events = static_cast<double>(rec.events) * static_cast<double>(state.iterations());
  state.counters["replay_eps"] = events / (replay.count() * 1e-9);
  state.counters["decode_eps"] = events / (decode.count() * 1e-9);
  state.counters["replay_pct_of_decode"] =
      100.0 * static_cast<double>(decode.count()) / static_cast<double>(replay.count());
  if (rec.virtual_ns != 0) {  // the trace's own (virtual) time / the replay's
    state.counters["speedup_x"] = static_cast<double>(rec.virtual_ns) *
                                  static_cast<double>(state.iterations()) /
                                  static_cast<double>(replay.count());
  }
}

// The extra traces' rows.
const bool kExtraRows = [] {
  for (size_t i = 0; i < ExtraTraces().size(); ++i) {
    benchmark::RegisterBenchmark("BM_ReplayVsDecode", BM_ReplayVsDecode)
        ->Arg(kBuiltIn + static_cast<int>(i))
        ->Unit(benchmark::kMillisecond);
  }
  return true;
}();

BENCHMARK(BM_Replay)->DenseRange(0, kBuiltIn - 1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReplayVsDecode)->DenseRange(0, kBuiltIn - 1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Decode)->DenseRange(0, kBuiltIn - 1)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace faultlab::replay
