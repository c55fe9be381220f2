// Store ingest with durability on (./lab bench): one upload of a recorded
// `compute` trace (chunks of 4096 events) into a fresh data dir per
// iteration: every chunk fsynced and committed before the next.
// Counters: events/s (items), bytes/s, fsyncs/s (one per chunk).
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "engine/replay/recorder.h"
#include "engine/trace/frame.h"
#include "engine/workload/workload.h"
#include "server/store/sqlite_store.h"

namespace faultlab::server {
namespace {

void BM_UploadDurably(benchmark::State& state) {
  dev::DeviceConfig cfg;
  cfg.profile = *profiles::LoadProfile("g610");
  trace::WriterOptions opts;
  opts.max_events_per_chunk = 4096;
  const std::string id(16, 'b');
  absl::StatusOr<replay::Recording> rec =
      replay::RecordWorkload(cfg, {"compute", 1, 96}, "bench", id, opts);
  absl::StatusOr<trace::TraceFrames> frames =
      rec.ok() ? trace::SplitFrames(rec->bytes) : absl::StatusOr<trace::TraceFrames>(rec.status());
  if (!frames.ok()) {
    state.SkipWithError("recording failed");
    return;
  }
  const std::string& head = frames->head;
  const std::vector<std::string>& chunks = frames->chunks;
  const char* base = std::getenv("TMPDIR");
  int round = 0;
  std::vector<std::string> dirs;
  for (auto _ : state) {
    state.PauseTiming();
    std::string dir = std::string(base ? base : "/tmp") + "/faultlab-store-bench-XXXXXX";
    if (mkdtemp(dir.data()) == nullptr) state.SkipWithError("mkdtemp");
    auto store = SqliteStore::Open(dir + "/d" + std::to_string(round++));
    dirs.push_back(dir);
    state.ResumeTiming();
    if (!store.ok() || !(*store)->BeginTrace(head).ok()) {
      state.SkipWithError("open/begin failed");
      break;
    }
    for (size_t i = 0; i < chunks.size(); ++i) {
      if (!(*store)->AppendChunk(id, i, chunks[i]).ok()) state.SkipWithError("append failed");
    }
  }
  for (const std::string& d : dirs) std::filesystem::remove_all(d);
  state.SetItemsProcessed(state.iterations() * rec->events);
  state.SetBytesProcessed(state.iterations() * rec->bytes.size());
  state.counters["chunks"] = static_cast<double>(chunks.size());
  state.counters["fsyncs_per_s"] = benchmark::Counter(
      static_cast<double>(chunks.size() + 2) * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_UploadDurably)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace faultlab::server
