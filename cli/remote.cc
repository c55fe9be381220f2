#include "cli/remote.h"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/exit.h"
#include "cli/progress.h"
#include "cli/verbs.h"
#include "engine/replay/recorder.h"
#include "engine/workload/workload.h"
#include "lib/upload/upload.h"
#include "proto/ingest.grpc.pb.h"

namespace faultlab::cli {
namespace {

using ull = unsigned long long;

std::string Us(uint64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(ns) / 1000.0);
  return buf;
}

}  // namespace

grpc::Status ResolveTrace(const Args& args, const std::string& prefix_in, std::string* id) {
  const std::string prefix = absl::AsciiStrToLower(prefix_in);
  auto stub = api::Query::NewStub(ServerChannel(args, ""));
  grpc::ClientContext ctx;
  Authorize(args, &ctx);
  api::ListTracesResponse all;
  if (grpc::Status s = stub->ListTraces(&ctx, {}, &all); !s.ok()) return s;
  std::vector<const api::TraceInfo*> match;
  for (const api::TraceInfo& t : all.traces()) {
    if (absl::StartsWith(absl::BytesToHexString(t.trace_id()), prefix)) match.push_back(&t);
  }
  if (match.empty() || prefix.empty()) {
    return grpc::Status(
        grpc::StatusCode::NOT_FOUND,
        absl::StrCat("no trace with an id starting '", prefix, "' (see 'faultlab traces')"));
  }
  if (match.size() > 1) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat(match.size(), " traces have an id starting '", prefix, "': give more digits"));
  }
  *id = match[0]->trace_id();
  return grpc::Status::OK;
}

namespace {

// "board=x,workload=y,last=5" -> a filter; else a trace-id prefix.
grpc::Status ParseGroup(const Args& args, const std::string& spec, api::RunGroup* g) {
  if (spec.find('=') == std::string::npos) {
    std::string id;
    if (grpc::Status s = ResolveTrace(args, spec, &id); !s.ok()) return s;
    g->set_trace_id(id);
    return grpc::Status::OK;
  }
  api::RunFilter* f = g->mutable_filter();
  for (absl::string_view kv : absl::StrSplit(spec, ',')) {
    std::vector<std::string> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
    uint64_t n = 0;
    if (p.size() != 2) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("'", kv, "': expected key=value"));
    }
    if (p[0] == "board")
      f->set_board(p[1]);
    else if (p[0] == "gpu")
      f->set_gpu(p[1]);
    else if (p[0] == "workload")
      f->set_workload(p[1]);
    else if (p[0] == "variant")
      f->set_variant(p[1]);
    else if (p[0] == "policy")
      f->set_policy(p[1]);
    else if (p[0] == "last" && absl::SimpleAtoi(p[1], &n))
      f->set_limit(n);
    else {
      return grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("'", kv, "': keys are board, gpu, workload, variant, policy, last=N"));
    }
  }
  return grpc::Status::OK;
}

}  // namespace

void DeclareRemote(Args& a) {
  a.Declare("server", true);
  a.Declare("token", true);
  a.Declare("tls-ca", true);
  a.Declare("tls", false);
}

std::shared_ptr<grpc::Channel> ServerChannel(const Args& args, const std::string& verb) {
  const std::string server = args.Get("server", kDefaultServer);
  if (!args.Has("tls-ca") && !args.Has("tls")) {
    return grpc::CreateChannel(server, grpc::InsecureChannelCredentials());
  }
  grpc::SslCredentialsOptions ssl;
  if (args.Has("tls-ca")) {
    std::ifstream in(args.Get("tls-ca"));
    std::stringstream pem;
    pem << in.rdbuf();
    if (!in || pem.str().empty()) {
      std::cerr << "faultlab " << verb << ": --tls-ca " << args.Get("tls-ca")
                << ": cannot read the CA certificate\n";
      return nullptr;
    }
    ssl.pem_root_certs = pem.str();
  }
  return grpc::CreateChannel(server, grpc::SslCredentials(ssl));
}

void Authorize(const Args& args, grpc::ClientContext* ctx) {
  if (args.Has("token")) ctx->AddMetadata("authorization", "Bearer " + args.Get("token"));
}

int FailRemote(const std::string& verb, const Args& args, const grpc::Status& s) {
  std::cerr << "faultlab " << verb << ": " << args.Get("server", kDefaultServer) << ": "
            << s.error_message() << "\n";
  return ExitCode(rpc::FromGrpc(s));
}

int RunRuns(const Args& args) {
  auto channel = ServerChannel(args, "runs");
  if (!channel) return kExitUsage;
  auto stub = api::Query::NewStub(channel);
  grpc::ClientContext ctx;
  Authorize(args, &ctx);
  api::RunFilter f;
  f.set_board(args.Get("board"));
  f.set_gpu(args.Get("gpu"));
  f.set_workload(args.Get("workload"));
  f.set_variant(args.Get("variant"));
  f.set_policy(args.Get("policy"));
  uint64_t limit = 0;
  if (absl::Status s = args.GetUint("limit", &limit); !s.ok()) {
    std::cerr << "faultlab runs: " << s.message() << "\n";
    return kExitUsage;
  }
  f.set_limit(limit);
  api::ListRunsResponse out;
  if (grpc::Status s = stub->ListRuns(&ctx, f, &out); !s.ok()) return FailRemote("runs", args, s);
  std::printf("%5s %-12s %-12s %-5s %-15s %-13s %-10s %7s %8s %8s %6s %-21s %7s %s\n", "run",
              "trace", "board", "gpu", "workload", "variant", "policy", "faults", "p50_us",
              "p99_us", "afail", "verdict", "delta", "replay");
  for (const api::RunInfo& r : out.runs()) {
    std::string verdict = r.verdict();
    if (!r.change_point().empty() && r.change_point() == r.trace_id()) verdict += "*";
    char delta[16] = "-";
    if (r.baseline_runs() > 0 && r.verdict() != "insufficient_baseline") {
      std::snprintf(delta, sizeof delta, "%+.2f", r.cliffs_delta());
    }
    std::printf("%5llu %-12s %-12s %-5s %-15s %-13s %-10s %7llu %8s %8s %6llu %-21s %7s %s\n",
                static_cast<ull>(r.run()),
                absl::BytesToHexString(r.trace_id()).substr(0, 12).c_str(), r.board().c_str(),
                r.gpu().c_str(), r.workload().c_str(), r.variant().c_str(), r.policy().c_str(),
                static_cast<ull>(r.faults()), Us(r.p50_ns()).c_str(), Us(r.p99_ns()).c_str(),
                static_cast<ull>(r.alloc_failures()), verdict.c_str(), delta,
                r.replay_outcome().empty() ? "-" : r.replay_outcome().c_str());
  }
  if (out.runs().empty()) std::cerr << "faultlab runs: no runs match\n";
  return kExitOk;
}

int RunCompare(const Args& args) {
  auto channel = ServerChannel(args, "compare");
  if (!channel) return kExitUsage;
  api::CompareRequest req;
  for (int i = 0; i < 2; ++i) {
    const std::string& spec = args.positional()[i];
    api::RunGroup* g = i == 0 ? req.mutable_a() : req.mutable_b();
    if (grpc::Status s = ParseGroup(args, spec, g); !s.ok()) return FailRemote("compare", args, s);
  }
  auto stub = api::Compare::NewStub(channel);
  grpc::ClientContext ctx;
  Authorize(args, &ctx);
  api::CompareResponse out;
  if (grpc::Status s = stub->Runs(&ctx, req, &out); !s.ok()) return FailRemote("compare", args, s);
  std::printf("%-14s %5s %8s %9s %9s %9s %9s %14s\n", "", "runs", "faults", "p50_us", "p90_us",
              "p99_us", "max_us", "alloc_failures");
  for (int i = 0; i < 2; ++i) {
    const api::GroupSummary& g = i == 0 ? out.a() : out.b();
    std::printf("%-14s %5llu %8llu %9s %9s %9s %9s %14llu\n", i == 0 ? "A (baseline)" : "B",
                static_cast<ull>(g.runs()), static_cast<ull>(g.faults()), Us(g.p50_ns()).c_str(),
                Us(g.p90_ns()).c_str(), Us(g.p99_ns()).c_str(), Us(g.max_ns()).c_str(),
                static_cast<ull>(g.alloc_failures()));
  }
  std::printf("verdict: %s (Mann-Whitney p = %.3g, z = %+.2f; Cliff's delta %+.3f; median x%.3f)\n",
              out.verdict().c_str(), out.p_value(), out.z(), out.cliffs_delta(),
              out.median_ratio());
  // A script can gate on it: 1 when B regressed against A.
  return out.verdict() == "regressed" ? 1 : kExitOk;
}

int RunRemoteReplay(const Args& args) {
  auto channel = ServerChannel(args, "replay");
  if (!channel) return kExitUsage;
  api::ReplayRequest req;
  req.set_mode(args.Get("what-if-mode", "open"));
  for (const std::string& kv : args.GetAll("what-if")) {
    std::vector<std::string> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
    if (p.size() != 2 || p[0].empty() || p[1].empty()) {
      std::cerr << "faultlab replay: --what-if '" << kv << "': expected KEY=VALUE[,VALUE...]\n";
      return kExitUsage;
    }
    api::WhatIfAxis* axis = req.add_axes();
    axis->set_key(p[0]);
    for (absl::string_view v : absl::StrSplit(p[1], ',')) axis->add_values(std::string(v));
  }
  std::string id;
  if (grpc::Status s = ResolveTrace(args, args.positional()[0], &id); !s.ok()) {
    return FailRemote("replay", args, s);
  }
  req.set_trace_id(id);
  auto stub = api::Replay::NewStub(channel);
  grpc::ClientContext ctx;
  Authorize(args, &ctx);
  std::unique_ptr<grpc::ClientReader<api::ReplayUpdate>> reader = stub->Run(&ctx, req);
  api::ReplayUpdate u;
  std::vector<api::ReplayCell> cells;
  std::unique_ptr<Progress> progress;
  uint64_t total = 1;
  while (reader->Read(&u)) {
    if (u.has_progress()) {
      total = u.progress().cells();
      if (!progress) progress = std::make_unique<Progress>("replaying on the server, inputs", 0);
      progress->Update(u.progress().inputs_done());
      continue;
    }
    if (progress) progress->Done();
    progress.reset();
    cells.push_back(u.result());
  }
  if (progress) progress->Done();
  if (grpc::Status s = reader->Finish(); !s.ok()) return FailRemote("replay", args, s);
  // The server sends each cell as it finishes: in the matrix's order here.
  std::sort(cells.begin(), cells.end(),
            [](const api::ReplayCell& a, const api::ReplayCell& b) { return a.cell() < b.cell(); });
  bool diverged = false;
  for (const api::ReplayCell& c : cells) {
    diverged = diverged || c.outcome() == "diverged";
    if (req.axes().empty()) {
      std::cout << c.report();
      continue;
    }
    std::cout << "== cell " << c.cell() + 1 << "/" << std::max<uint64_t>(total, cells.size())
              << ": " << c.settings() << (c.cached() ? " (stored result)" : "") << "\n"
              << c.report();
  }
  if (cells.size() > 1) {
    // The matrix at a glance, from the reports' own lines.
    std::cout << "\n";
    std::printf("%-40s %-9s %8s %8s %9s %9s %7s\n", "what-if", "outcome", "handled", "enomem",
                "p50_us", "p99_us", "killed");
    for (const api::ReplayCell& c : cells) {
      std::map<std::string, std::string> kv;
      for (absl::string_view line : absl::StrSplit(c.report(), '\n')) {
        std::vector<std::string> p = absl::StrSplit(line, absl::MaxSplits(": ", 1));
        if (p.size() == 2) kv[p[0]] = p[1];
      }
      uint64_t p50 = 0, p99 = 0;
      (void)absl::SimpleAtoi(kv["fault_latency_ns.p50"], &p50);
      (void)absl::SimpleAtoi(kv["fault_latency_ns.p99"], &p99);
      std::printf("%-40s %-9s %8s %8s %9s %9s %7s\n", c.settings().c_str(), c.outcome().c_str(),
                  kv["faults.handled"].c_str(), kv["faults.enomem"].c_str(), Us(p50).c_str(),
                  Us(p99).c_str(), kv["jobs_killed"].c_str());
    }
  }
  return diverged ? 1 : kExitOk;
}

namespace {

// 16 bytes from the backfill's coordinates, so that a repeated backfill
// names the same traces (and the server keeps them once).
std::string BackfillId(uint64_t seed, const std::string& series, uint64_t run) {
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ seed;
  auto mix = [&h](uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    h ^= h >> 31;
  };
  for (char c : series) mix(static_cast<unsigned char>(c));
  mix(run);
  std::string id;
  for (int half = 0; half < 2; ++half) {
    mix(half);
    for (int i = 0; i < 8; ++i) id.push_back(static_cast<char>(h >> (8 * i)));
  }
  return id;
}

std::vector<std::string> List(const Args& args, const std::string& flag,
                              const std::string& fallback) {
  return absl::StrSplit(args.Get(flag, fallback), ',', absl::SkipEmpty());
}

struct Series {
  std::string board, workload, variant, policy;
  std::string Key() const { return absl::StrCat(board, "/", workload, "/", variant, "/", policy); }
};

// What a backfill records: every series, its runs, and the injected regression.
struct BackfillPlan {
  uint64_t runs = 8, frames = 2, seed = 1, regress_from = 0, regress_permille = 1300;
  std::string profile, regress_board;
  std::vector<Series> series;
};

// INVALID_ARGUMENT naming the flag that is wrong.
absl::StatusOr<BackfillPlan> PlanBackfill(const Args& args) {
  BackfillPlan p;
  for (auto [flag, out] : {std::pair<const char*, uint64_t*>{"runs", &p.runs},
                           {"frames", &p.frames},
                           {"seed", &p.seed},
                           {"regress-from", &p.regress_from},
                           {"regress-permille", &p.regress_permille}}) {
    if (absl::Status s = args.GetUint(flag, out); !s.ok()) return s;
  }
  if (p.runs == 0 || p.runs > 10000 || p.regress_permille == 0 || p.regress_permille > 100000) {
    return absl::InvalidArgumentError("want --runs 1..10000 and --regress-permille 1..100000");
  }
  const std::vector<std::string> boards = List(args, "boards", "lab-01,lab-02");
  const std::vector<std::string> workloads = List(args, "workloads", "compute,game");
  p.regress_board = args.Get("regress-board", boards.empty() ? "" : boards[0]);
  p.profile = args.Get("profile", profiles::kDefaultProfile);
  for (const std::string& w : workloads) {
    if (!workload::FindWorkload(w)) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown workload '", w, "' (see 'faultlab workloads')"));
    }
  }
  for (const auto& b : boards) {
    for (const auto& w : workloads) {
      for (const auto& v : List(args, "variants", "series-fixed,series-v3")) {
        for (const auto& pol : List(args, "policies", "noretry"))
          p.series.push_back({b, w, v, pol});
      }
    }
  }
  if (p.series.empty()) {
    return absl::InvalidArgumentError(
        "no series (empty --boards/--workloads/--variants/--policies)");
  }
  return p;
}

// Run `run` of `s`: its id and seed follow from the plan, so a repeated
// backfill records the same bytes.
absl::StatusOr<replay::Recording> RecordBackfillRun(const BackfillPlan& p, const Series& s,
                                                    uint64_t run) {
  absl::StatusOr<replay::WhatIf> settings = replay::ParseWhatIfArgs(
      {"profile=" + p.profile, "variant=" + s.variant, "policy=" + s.policy});
  if (!settings.ok()) return settings.status();
  absl::StatusOr<dev::DeviceConfig> cfg = replay::RecordingConfig(s.workload, *settings, false);
  if (!cfg.ok()) return cfg.status();
  const std::string id = BackfillId(p.seed, s.Key(), run);
  // Each run (and board) its own jitter: the seed comes from the id.
  uint64_t run_seed = 0;
  for (int i = 0; i < 8; ++i) {
    run_seed |= static_cast<uint64_t>(static_cast<uint8_t>(id[i])) << (8 * i);
  }
  cfg->seed = run_seed;
  if (p.regress_from > 0 && run >= p.regress_from && s.board == p.regress_board) {
    cfg->fault_cost_permille = static_cast<uint32_t>(p.regress_permille);
  }
  return replay::RecordWorkload(*cfg, {s.workload, run_seed, static_cast<uint32_t>(p.frames)},
                                s.board, id);
}

absl::Status WriteWhole(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out.flush()) return absl::UnavailableError(absl::StrCat(path, ": cannot write"));
  return absl::OkStatus();
}

}  // namespace

int RunBackfill(const Args& args) {
  auto channel = ServerChannel(args, "backfill");
  if (!channel) return kExitUsage;
  absl::StatusOr<BackfillPlan> plan = PlanBackfill(args);
  if (!plan.ok()) {
    std::cerr << "faultlab backfill: " << plan.status().message() << "\n";
    return kExitUsage;
  }
  char tmpl[] = "/tmp/faultlab-backfill-XXXXXX";
  const int fd = mkstemp(tmpl);
  if (fd < 0) {
    std::cerr << "faultlab backfill: cannot create a temporary file in /tmp\n";
    return kExitIo;
  }
  close(fd);
  const std::string tmp = tmpl;
  struct Remove {
    const std::string& path;
    ~Remove() { unlink(path.c_str()); }
  } remove{tmp};
  upload::UploadOptions opts;
  opts.token = args.Get("token");
  const std::string server = args.Get("server", kDefaultServer);
  Progress progress("backfill: runs uploaded", plan->runs * plan->series.size());
  uint64_t done = 0, already = 0;
  // Run i of every series, then run i + 1: each series arrives in order.
  for (uint64_t run = 1; run <= plan->runs; ++run) {
    for (const Series& s : plan->series) {
      const std::string where = absl::StrCat("faultlab backfill: ", s.Key(), " run ", run, ": ");
      absl::StatusOr<replay::Recording> rec = RecordBackfillRun(*plan, s, run);
      absl::Status written = rec.ok() ? WriteWhole(tmp, rec->bytes) : rec.status();
      if (!written.ok()) {
        progress.Done();
        std::cerr << where << written.message() << "\n";
        return ExitCode(written);
      }
      absl::StatusOr<upload::UploadResult> up = upload::UploadTrace(channel, tmp, opts);
      if (!up.ok()) {
        progress.Done();
        std::cerr << where << server << ": " << up.status().message()
                  << "\n(runs uploaded before this are stored; run the same backfill again to go "
                     "on)\n";
        return ExitCode(up.status());
      }
      if (up->acked == 0) ++already;
      progress.Update(++done);
    }
  }
  progress.Done();
  std::cout << "backfill: " << done << " runs (" << plan->runs << " per series, "
            << plan->series.size() << " series) on " << server << "; " << already
            << " were already there";
  if (plan->regress_from > 0) {
    std::cout << "; injected: fault path at " << plan->regress_permille << " per mille from run "
              << plan->regress_from << " on board " << plan->regress_board;
  }
  std::cout << "\n";
  return kExitOk;
}

int RunUpload(const Args& args) {
  const std::string path = args.positional()[0];
  const std::string server = args.Get("server", kDefaultServer);
  auto channel = ServerChannel(args, "upload");
  if (!channel) return kExitUsage;
  Progress progress("uploading " + path.substr(path.rfind('/') + 1) + ", chunks acknowledged", 0);
  upload::UploadOptions opts;
  opts.token = args.Get("token");
  opts.on_ack = [&progress](uint64_t n) { progress.Update(n); };
  absl::StatusOr<upload::UploadResult> r = upload::UploadTrace(channel, path, opts);
  progress.Done();
  if (!r.ok()) {
    std::cerr << "faultlab upload: " << r.status().message() << "\n";
    const int code = ExitCode(r.status());
    if (code == kExitIo)
      std::cerr << "(chunks acknowledged before this are stored; upload again to resume)\n";
    return code;
  }
  std::cout << "uploaded " << path << " to " << server << ": trace "
            << absl::BytesToHexString(r->trace_id) << ", " << r->chunks
            << (r->chunks == 1 ? " chunk (" : " chunks (") << r->acked << " sent and acknowledged, "
            << r->already << " already on the server), " << r->bytes_sent << " bytes sent\n";
  return kExitOk;
}

int RunTraces(const Args& args) {
  auto channel = ServerChannel(args, "traces");
  if (!channel) return kExitUsage;
  auto stub = api::Query::NewStub(channel);
  grpc::ClientContext ctx;
  Authorize(args, &ctx);
  api::TraceFilter f;
  f.set_board(args.Get("board"));
  f.set_workload(args.Get("workload"));
  f.set_variant(args.Get("variant"));
  f.set_policy(args.Get("policy"));
  api::ListTracesResponse out;
  if (grpc::Status s = stub->ListTraces(&ctx, f, &out); !s.ok())
    return FailRemote("traces", args, s);
  std::printf("%-12s %5s %-12s %-10s %-13s %-12s %9s %6s %-9s %s\n", "trace", "seq", "board",
              "workload", "variant", "policy", "events", "chunks", "upload", "replay");
  for (const api::TraceInfo& t : out.traces()) {
    std::printf("%-12s %5llu %-12s %-10s %-13s %-12s %9llu %6llu %-9s %s\n",
                absl::BytesToHexString(t.trace_id()).substr(0, 12).c_str(),
                static_cast<unsigned long long>(t.sequence()), t.board().c_str(),
                t.workload().c_str(), t.variant().c_str(), t.policy().c_str(),
                static_cast<unsigned long long>(t.events()),
                static_cast<unsigned long long>(t.chunks()), t.complete() ? "complete" : "partial",
                t.replay_outcome().empty() ? "-" : t.replay_outcome().c_str());
  }
  return kExitOk;
}

int RunRemoteReport(const Args& args) {
  auto channel = ServerChannel(args, "report");
  if (!channel) return kExitUsage;
  auto stub = api::Query::NewStub(channel);
  std::string id;
  if (grpc::Status s = ResolveTrace(args, args.positional()[0], &id); !s.ok()) {
    // An id that names no trace, or several, is a usage error here.
    if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
      s = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, s.error_message());
    }
    return FailRemote("report", args, s);
  }
  grpc::ClientContext ctx;
  Authorize(args, &ctx);
  api::ReportRequest req;
  req.set_trace_id(id);
  req.set_html(args.Has("html"));
  api::ReportResponse out;
  if (grpc::Status s = stub->GetReport(&ctx, req, &out); !s.ok())
    return FailRemote("report", args, s);
  if (args.Has("html")) return WriteHtml(args, out.html());
  const api::TraceInfo& t = out.trace();
  std::cout << "trace: " << absl::BytesToHexString(t.trace_id()) << "\nboard: " << t.board()
            << "\nworkload: " << t.workload() << "\nvariant: " << t.variant()
            << "\npolicy: " << t.policy() << "\nprofile: " << t.profile() << "\n"
            << out.report();
  return kExitOk;
}

}  // namespace faultlab::cli
