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
#include "engine/trace/writer.h"
#include "engine/workload/workload.h"
#include "server/store/sqlite_store.h"

namespace faultlab::server {
namespace {

void BM_UploadDurably(benchmark::State& state) {
  dev::DeviceConfig cfg;
  cfg.profile = *dev::LoadProfile("g610");
  std::string bytes;
  trace::StringSink sink(&bytes);
  trace::WriterOptions opts;
  opts.max_events_per_chunk = 4096;
  const std::string id(16, 'b');
  trace::TraceWriter writer(&sink, replay::MakeHeader(cfg, "compute", "bench", id, 0), opts);
  replay::Recorder rec(&writer);
  {
    dev::Device device(cfg);
    device.set_observer(&rec);
    (void)workload::RunWorkload({"compute", 1, 96}, device);
    device.set_observer(nullptr);
  }
  (void)rec.Finish();
  std::string head;
  std::vector<std::string> chunks;
  for (size_t at = trace::kPreambleSize; at < bytes.size();) {
    trace::FrameHeader fh;
    trace::ParseFrameHeader(bytes.data() + at, &fh);
    const size_t end = at + trace::kFrameHeaderSize + fh.payload_size;
    if (head.empty()) {
      head = bytes.substr(0, end);
    } else {
      chunks.push_back(bytes.substr(at, end - at));
    }
    at = end;
  }
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
  state.SetItemsProcessed(state.iterations() * writer.events_written());
  state.SetBytesProcessed(state.iterations() * bytes.size());
  state.counters["chunks"] = static_cast<double>(chunks.size());
  state.counters["fsyncs_per_s"] = benchmark::Counter(
      static_cast<double>(chunks.size() + 2) * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_UploadDurably)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace faultlab::server
