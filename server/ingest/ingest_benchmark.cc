// Ingest with durability on (./lab bench): 16 concurrent uploaders on
// loopback gRPC into one in-process server and a fresh store per iteration;
// every chunk fsynced and committed before its ack.
// Traces: `compute` recorded with 96 frames, chunks of 4096 or 65536 events
// (the argument; zstd). Counters: events/s (items), bytes/s, fsyncs/s (one
// per chunk and head), and ingest_pct_of_limit: its events/s against the
// same frames appended and fsynced by 16 plain writers in the same run.
// BM_MemoryPerStream: host memory per open upload
// stream (server and client sides, both in this process). BM_IngestPostgres:
// the same 16 uploads into 1 or 2 replicas (in-process servers, each its own
// PgStore) on one PostgreSQL that the benchmark starts itself (Debian's
// postgresql, as 'nobody' when run as root), a fresh database each round.
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <thread>
#include <vector>

#include "engine/base/check.h"
#include "engine/replay/recorder.h"
#include "engine/trace/frame.h"
#include "engine/workload/workload.h"
#include "lib/upload/upload.h"
#include "proto/ingest.grpc.pb.h"
#include "server/ingest/ingest_service.h"
#include "server/store/pg_store.h"
#include "server/store/sqlite_store.h"
#include "server/store/testing/postgres.h"

namespace faultlab::server {
namespace {

using upload::UploadOptions;
using upload::UploadResult;
using upload::UploadTrace;

constexpr int kUploaders = 16;

struct Traces {
  std::vector<std::string> paths;
  std::vector<trace::TraceFrames> frames;  // each trace's head and chunks
  uint64_t events = 0, bytes = 0, chunks = 0;
};

const Traces& MakeTraces(const std::string& dir, uint32_t events_per_chunk) {
  static std::map<uint32_t, Traces> cache;
  Traces& t = cache[events_per_chunk];
  if (!t.paths.empty()) return t;
  for (int i = 0; i < kUploaders; ++i) {
    dev::DeviceConfig cfg;
    cfg.profile = *profiles::LoadProfile("g610");
    cfg.seed = i + 1;
    trace::WriterOptions opts;
    opts.max_events_per_chunk = events_per_chunk;
    std::string id(16, 'i');
    id[0] = static_cast<char>(i);
    absl::StatusOr<replay::Recording> r =
        replay::RecordWorkload(cfg, {"compute", cfg.seed, 96}, "bench", id, opts);
    absl::StatusOr<trace::TraceFrames> frames =
        r.ok() ? trace::SplitFrames(r->bytes) : absl::StatusOr<trace::TraceFrames>(r.status());
    FAULTLAB_CHECK(frames.ok(), "benchmark trace: ", frames.status().message());
    const std::string& bytes = r->bytes;
    t.events += r->events;
    t.bytes += bytes.size();
    t.chunks += frames->chunks.size() + 1;  // and the head
    t.frames.push_back(*frames);
    t.paths.push_back(dir + "/t" + std::to_string(events_per_chunk) + "-" + std::to_string(i) +
                      ".fltrace");
    FILE* f = std::fopen(t.paths.back().c_str(), "wb");
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
  return t;
}

// A service on a loopback port, and a channel to it.
struct Loopback {
  std::unique_ptr<grpc::Server> server;
  std::shared_ptr<grpc::Channel> channel;
};
Loopback Serve(grpc::Service* service) {
  int port = 0;
  grpc::ServerBuilder b;
  b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  b.RegisterService(service);
  Loopback l;
  l.server = b.BuildAndStart();
  l.channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  return l;
}

// The 16 uploads at once, uploader i to channel i % channels; false if any failed.
bool UploadAll(const Traces& t, const std::vector<std::shared_ptr<grpc::Channel>>& channels) {
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int i = 0; i < kUploaders; ++i) {
    threads.emplace_back([&, i] {
      if (!UploadTrace(channels[i % channels.size()], t.paths[i], {}).ok()) failed.fetch_add(1);
    });
  }
  for (std::thread& th : threads) th.join();
  return failed.load() == 0;
}

// The limit ingest is measured against (issue 21): the same bytes appended
// by the same 16 writers to files of their own on the same disk, each
// frame (head, chunk) written and fsynced as the store does before its ack
// — durability with no protocol, no database, no checks. Seconds taken.
double FsyncedAppends(const Traces& t, const std::string& dir) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < kUploaders; ++i) {
    threads.emplace_back([&, i] {
      const std::string path = dir + "/limit-" + std::to_string(i);
      FILE* f = std::fopen(path.c_str(), "wb");
      FAULTLAB_CHECK(f != nullptr, "cannot write ", path);
      auto put = [f](const std::string& frame) {
        std::fwrite(frame.data(), 1, frame.size(), f);
        std::fflush(f);
        fsync(fileno(f));
      };
      put(t.frames[i].head);
      for (const std::string& c : t.frames[i].chunks) put(c);
      std::fclose(f);
      std::remove(path.c_str());
    });
  }
  for (std::thread& th : threads) th.join();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void BM_Ingest16Uploaders(benchmark::State& state) {
  const char* base = std::getenv("TMPDIR");
  std::string dir = std::string(base ? base : "/tmp") + "/faultlab-ingest-bench-XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) {
    state.SkipWithError("mkdtemp");
    return;
  }
  const Traces& t = MakeTraces(dir, static_cast<uint32_t>(state.range(0)));
  int round = 0;
  double limit_s = 0, upload_s = 0;  // the fsynced appends' and the uploads' times
  for (auto _ : state) {
    state.PauseTiming();
    limit_s += FsyncedAppends(t, dir);
    auto store = SqliteStore::Open(dir + "/data" + std::to_string(round++));
    IngestService service(store->get());
    Loopback l = Serve(&service);
    state.ResumeTiming();
    const auto t0 = std::chrono::steady_clock::now();
    const bool ok = UploadAll(t, {l.channel});
    upload_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.PauseTiming();
    if (!ok) state.SkipWithError("an upload failed");
    l.server->Shutdown();
    state.ResumeTiming();
  }
  // This call's data dirs; the traces stay (cached for the next calls).
  for (int r = 0; r < round; ++r) std::filesystem::remove_all(dir + "/data" + std::to_string(r));
  if (std::filesystem::path(t.paths[0]).parent_path() != dir) std::filesystem::remove_all(dir);
  state.SetItemsProcessed(state.iterations() * t.events);
  state.SetBytesProcessed(state.iterations() * t.bytes);
  state.counters["fsyncs_per_s"] = benchmark::Counter(
      static_cast<double>(t.chunks) * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["events_per_upload"] = static_cast<double>(t.events) / kUploaders;
  state.counters["bytes_per_chunk"] = static_cast<double>(t.bytes) / static_cast<double>(t.chunks);
  // Ingest as a share of its limit: the same frames fsynced by plain appends.
  state.counters["limit_events_per_s"] =
      static_cast<double>(t.events) * static_cast<double>(state.iterations()) / limit_s;
  state.counters["ingest_pct_of_limit"] = 100.0 * limit_s / upload_s;
}
BENCHMARK(BM_Ingest16Uploaders)
    ->Arg(4096)
    ->Arg(65536)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

uint64_t RssBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  unsigned long long pages = 0, rss = 0;
  if (f) {
    if (std::fscanf(f, "%llu %llu", &pages, &rss) != 2) rss = 0;
    std::fclose(f);
  }
  return rss * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

// 256 upload streams opened, each past its head (the server holds it open,
// waiting for chunks): the host memory they take, per stream.
void BM_MemoryPerStream(benchmark::State& state) {
  constexpr int kStreams = 256;
  const char* base = std::getenv("TMPDIR");
  std::string dir = std::string(base ? base : "/tmp") + "/faultlab-streams-bench-XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) {
    state.SkipWithError("mkdtemp");
    return;
  }
  const Traces& t = MakeTraces(dir, 4096);
  absl::StatusOr<trace::TraceFrames> split;
  {
    FILE* f = std::fopen(t.paths[0].c_str(), "rb");
    std::string bytes;
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) bytes.append(buf, n);
    std::fclose(f);
    split = trace::SplitFrames(bytes);
  }
  double per_stream = 0;
  for (auto _ : state) {
    auto store = SqliteStore::Open(dir + "/streams");
    IngestService service(store->get());
    Loopback l = Serve(&service);
    auto stub = api::Ingest::NewStub(l.channel);
    // One stream first, so that one-time costs (threads, buffers) are paid.
    std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
    std::vector<std::unique_ptr<grpc::ClientReaderWriter<api::UploadRequest, api::UploadResponse>>>
        streams;
    api::UploadRequest head;
    head.set_head(split->head);
    api::UploadResponse resp;
    auto open = [&] {
      ctxs.push_back(std::make_unique<grpc::ClientContext>());
      streams.push_back(stub->Upload(ctxs.back().get()));
      streams.back()->Write(head);
      streams.back()->Read(&resp);
    };
    open();
    const uint64_t before = RssBytes();
    for (int i = 0; i < kStreams; ++i) open();
    const uint64_t after = RssBytes();
    per_stream = static_cast<double>(after - before) / kStreams;
    for (auto& c : ctxs) c->TryCancel();
    for (auto& s : streams) s->Finish();
    l.server->Shutdown();
  }
  std::filesystem::remove_all(dir);
  state.counters["bytes_per_stream"] = per_stream;
}
BENCHMARK(BM_MemoryPerStream)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// One PostgreSQL for the benchmark, started on first use, stopped at exit.
TestPostgres* SharedPostgres() {
  static std::unique_ptr<TestPostgres> pg = [] {
    absl::StatusOr<std::unique_ptr<TestPostgres>> started = TestPostgres::Start();
    if (!started.ok()) std::cerr << "ingest_benchmark: " << started.status().message() << "\n";
    return started.ok() ? std::move(*started) : nullptr;
  }();
  return pg.get();
}

void BM_IngestPostgres(benchmark::State& state) {
  const int replicas = static_cast<int>(state.range(0));
  TestPostgres* pg = SharedPostgres();
  if (pg == nullptr) {
    state.SkipWithError("no PostgreSQL here (./lab install installs Debian's postgresql)");
    return;
  }
  const char* base = std::getenv("TMPDIR");
  std::string dir = std::string(base ? base : "/tmp") + "/faultlab-pgingest-bench-XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) {
    state.SkipWithError("mkdtemp");
    return;
  }
  const Traces& t = MakeTraces(dir, 4096);
  static int round = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const std::string db = "bench" + std::to_string(getpid()) + "_" + std::to_string(round++);
    if (!pg->CreateDatabase(db).ok()) {
      state.SkipWithError("CREATE DATABASE failed");
      return;
    }
    std::vector<std::unique_ptr<PgStore>> stores;
    std::vector<std::unique_ptr<IngestService>> services;
    std::vector<Loopback> servers;
    std::vector<std::shared_ptr<grpc::Channel>> channels;
    for (int r = 0; r < replicas; ++r) {
      auto store = PgStore::Open(pg->Conninfo(db), dir + "/blobs-" + db, 8);
      if (!store.ok()) {
        state.SkipWithError(std::string(store.status().message()).c_str());
        return;
      }
      stores.push_back(std::move(*store));
      services.push_back(std::make_unique<IngestService>(stores.back().get()));
      servers.push_back(Serve(services.back().get()));
      channels.push_back(servers.back().channel);
    }
    state.ResumeTiming();
    const bool ok = UploadAll(t, channels);
    state.PauseTiming();
    if (!ok) state.SkipWithError("an upload failed");
    for (auto& s : servers) s.server->Shutdown();
    std::filesystem::remove_all(dir + "/blobs-" + db);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * t.events);
  state.SetBytesProcessed(state.iterations() * t.bytes);
  state.counters["fsyncs_per_s"] = benchmark::Counter(
      static_cast<double>(t.chunks) * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_IngestPostgres)
    ->ArgName("replicas")
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace faultlab::server
