// A 64-cell what-if matrix on the server (issue 21; docs/record-replay.md
// "Performance"): the Replay RPC over a real gRPC channel, each cell in a
// sandboxed worker process, against 64 x one replay of the same trace
// measured in the same run. BM_Matrix/W runs the cells W at a time
// (--matrix-workers); counters: one_replay_ms (the fastest of 3 one-cell
// requests), matrix_s, of_64x_one (the matrix's wall time as a fraction of
// 64 x one replay: 1/W is the ideal on W free cores), cores.
#include <benchmark/benchmark.h>
#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "engine/base/check.h"
#include "engine/replay/recorder.h"
#include "engine/trace/frame.h"
#include "engine/trace/writer.h"
#include "engine/workload/workload.h"
#include "server/replay/replay_service.h"
#include "server/store/sqlite_store.h"

namespace faultlab::server {
namespace {

std::string RecordCompute(uint32_t frames) {
  dev::DeviceConfig cfg;
  cfg.profile = *profiles::LoadProfile("g610");
  std::string bytes;
  trace::StringSink sink(&bytes);
  trace::TraceWriter writer(
      &sink, replay::MakeHeader(cfg, "compute", "bench", std::string(16, 'm'), 0, frames));
  replay::Recorder rec(&writer);
  dev::Device device(cfg);
  device.set_observer(&rec);
  FAULTLAB_CHECK(workload::RunWorkload({"compute", 1, frames}, device).ok(), "matrix benchmark");
  device.set_observer(nullptr);
  FAULTLAB_CHECK(rec.Finish().ok(), "matrix benchmark");
  return bytes;
}

// The worker beside this binary, as the server finds its own (./lab bench
// runs it from the repository, `bazel run` from its runfiles).
std::string Worker() {
  absl::StatusOr<std::string> w = Sandbox::FindWorker();
  FAULTLAB_CHECK(w.ok(), w.status().message());
  return *w;
}

// A store holding one compute trace, a sandbox, and the Replay service on
// an in-process gRPC server.
struct Lab {
  std::unique_ptr<SqliteStore> store;
  Sandbox sandbox{Worker(), SandboxPolicy{}};
  std::unique_ptr<ReplayService> service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<api::Replay::Stub> stub;
  std::string id;

  explicit Lab(int matrix_workers) {
    const char* base = std::getenv("TEST_TMPDIR");
    std::string dir = std::string(base ? base : "/tmp") + "/matrixXXXXXX";
    FAULTLAB_CHECK(mkdtemp(dir.data()) != nullptr, "matrix benchmark");
    store = std::move(*SqliteStore::Open(dir));
    absl::StatusOr<trace::TraceFrames> f = trace::SplitFrames(RecordCompute(8));
    FAULTLAB_CHECK(f.ok(), "matrix benchmark");
    absl::StatusOr<UploadState> st = store->BeginTrace(f->head);
    FAULTLAB_CHECK(st.ok(), "matrix benchmark");
    for (size_t i = 0; i < f->chunks.size(); ++i)
      FAULTLAB_CHECK(store->AppendChunk(st->trace_id, i, f->chunks[i]).ok(), "matrix benchmark");
    id = st->trace_id;
    service =
        std::make_unique<ReplayService>(store.get(), nullptr, &sandbox, nullptr, 1, matrix_workers);
    grpc::ServerBuilder b;
    b.RegisterService(service.get());
    server = b.BuildAndStart();
    stub = api::Replay::NewStub(server->InProcessChannel(grpc::ChannelArguments()));
  }
  ~Lab() { server->Shutdown(); }

  // One request; returns its wall time in seconds and the cells answered.
  double Run(const std::vector<std::pair<std::string, std::vector<std::string>>>& axes,
             int* answered) {
    api::ReplayRequest req;
    req.set_trace_id(id);
    for (const auto& [key, values] : axes) {
      api::WhatIfAxis* a = req.add_axes();
      a->set_key(key);
      for (const std::string& v : values) a->add_values(v);
    }
    grpc::ClientContext ctx;
    const auto t0 = std::chrono::steady_clock::now();
    auto reader = stub->Run(&ctx, req);
    api::ReplayUpdate u;
    *answered = 0;
    while (reader->Read(&u)) {
      if (u.has_result()) {
        FAULTLAB_CHECK(!u.result().cached(), "matrix benchmark");  // every cell replayed here
        FAULTLAB_CHECK(u.result().outcome() != "error", "matrix benchmark");
        ++*answered;
      }
    }
    FAULTLAB_CHECK(reader->Finish().ok(), "matrix benchmark");
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
};

void BM_Matrix(benchmark::State& state) {
  const int workers = static_cast<int>(state.range(0));
  double one = 0, matrix = 0;
  int round = 0;
  for (auto _ : state) {
    Lab lab(workers);  // a fresh store: nothing answered from an earlier round
    int n = 0;
    // One replay: the fastest of 3 one-cell requests (what-ifs nothing
    // else asks), so that the channel's first use is not in it.
    one = 1e9;
    for (int i = 0; i < 3; ++i) {
      one = std::min(one, lab.Run({{"budget", {absl::StrCat(4096 + 8 * round + i, "M")}}}, &n));
      FAULTLAB_CHECK(n == 1, "matrix benchmark");
    }
    std::vector<std::string> budgets, granules;
    for (int i = 0; i < 8; ++i) budgets.push_back(absl::StrCat(64 << i, "M"));
    for (const char* g : {"4K", "8K", "16K", "32K", "64K", "128K", "256K", "2M"})
      granules.push_back(g);
    matrix = lab.Run({{"budget", budgets}, {"granularity", granules}}, &n);
    FAULTLAB_CHECK(n == 64, "matrix benchmark");
    ++round;
  }
  state.counters["one_replay_ms"] = one * 1e3;
  state.counters["matrix_s"] = matrix;
  state.counters["of_64x_one"] = matrix / (64 * one);
  state.counters["cores"] = std::thread::hardware_concurrency();
}
BENCHMARK(BM_Matrix)->Arg(1)->Arg(2)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

}  // namespace
}  // namespace faultlab::server
