// faultlab: the one CLI of the lab (DESIGN "Services and commands").
//
// Exit codes (docs/cli.md):
//   0  success
//   1  the operation ran and found a problem: a replay diverged
//   2  usage error: unknown verb or option, missing or malformed argument
//   3  damaged or invalid input: "FILE: offset N: problem" on stderr
//   4  I/O error: a file could not be opened, read or written
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <algorithm>
#include <fstream>
#include <sstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "lib/args/args.h"
#include "cli/exit.h"
#include "cli/progress.h"
#include "lib/collect/kernel_log.h"
#include "lib/host/host.h"
#include "cli/remote.h"
#include "engine/mmu/mmu.h"
#include "lib/html/report_html.h"
#include "engine/profiles/profile.h"
#include "engine/replay/recorder.h"
#include "engine/replay/replayer.h"
#include "engine/workload/workload.h"
#include "engine/trace/io.h"
#include "engine/trace/reader.h"
#include "engine/trace/synthetic.h"
#include "engine/trace/text.h"
#include "engine/trace/writer.h"
#include "proto/ingest.grpc.pb.h"
#include "lib/upload/upload.h"

namespace faultlab::cli {
namespace {

struct Verb {
  const char* summary;
  const char* usage;
  std::function<void(Args&)> declare;
  std::function<int(const Args&)> run;
};

int Fail(const absl::Status& s) {
  std::cerr << "faultlab: " << s.message() << "\n";
  return ExitCode(s);
}

int Usage(const std::string& verb, const Verb& v, const std::string& problem) {
  std::cerr << "faultlab " << verb << ": " << problem << "\nusage: " << v.usage
            << "\n(see 'faultlab help " << verb << "')\n";
  return kExitUsage;
}

// Opens a trace for reading, with the options shared by every reading verb.
struct OpenTrace {
  std::unique_ptr<trace::FileSource> source;
  std::unique_ptr<trace::TraceReader> reader;
};

absl::Status Open(const Args& args, const std::string& path, OpenTrace* out) {
  auto src = trace::FileSource::Open(path);
  if (!src.ok()) return src.status();
  out->source = std::move(*src);
  trace::ReaderOptions opts;
  opts.skip_damaged = args.Has("skip-damaged");
  out->reader = std::make_unique<trace::TraceReader>(out->source.get(), path, opts);
  return out->reader->Open();
}

int RunDump(const Args& args) {
  uint64_t limit = 0;
  if (absl::Status s = args.GetUint("limit", &limit); !s.ok()) return Fail(s);
  OpenTrace t;
  if (absl::Status s = Open(args, args.positional()[0], &t); !s.ok()) return Fail(s);
  std::string out;
  absl::Status s = trace::Dump(*t.reader, limit, [&](absl::string_view line) {
    out.append(line.data(), line.size());
    out.push_back('\n');
    if (out.size() > (1 << 16)) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
  });
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  if (!s.ok()) return Fail(s);
  if (t.reader->stats().damaged_chunks) {
    std::cerr << "faultlab: skipped " << t.reader->stats().damaged_chunks
              << " damaged chunk(s); 'faultlab stat' lists them\n";
  }
  return kExitOk;
}

int RunStat(const Args& args) {
  OpenTrace t;
  const std::string path = args.positional()[0];
  if (absl::Status s = Open(args, path, &t); !s.ok()) return Fail(s);
  Progress progress("reading", t.source->size_bytes());
  trace::TraceSummary summary;
  trace::Event e;
  while (t.reader->Next(&e)) {
    summary.Add(e);
    progress.Update(t.reader->stats().bytes);
  }
  progress.Done();
  if (!t.reader->status().ok()) return Fail(t.reader->status());
  std::cout << "file: " << path << "\n" << trace::FormatHeader(t.reader->header());
  if (t.reader->header().capture_source() == trace::CAPTURE_SOURCE_SYNTHETIC) {
    std::cout << "** synthetic trace: generated for tests and benchmarks, not by the model **\n";
  }
  std::cout << "complete: " << (t.reader->complete() ? "yes" : "no") << "\n"
            << summary.Format(t.reader->stats());
  return kExitOk;
}

int RunSynth(const Args& args) {
  const auto mix = trace::ParseMix(args.Get("mix", "fault-heavy"));
  if (!mix) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--mix: unknown mix '", args.Get("mix"),
                     "' (fault-heavy, access-heavy, ioctl-heavy, all-kinds)")));
  }
  uint64_t events = 100000, seed = 1;
  if (absl::Status s = args.GetUint("events", &events); !s.ok()) return Fail(s);
  if (absl::Status s = args.GetUint("seed", &seed); !s.ok()) return Fail(s);
  const std::string path = args.Get("output");
  auto sink = trace::FileSink::Open(path);
  if (!sink.ok()) return Fail(sink.status());
  trace::TraceWriter writer(sink->get(), trace::SyntheticHeader(*mix, seed));
  trace::SyntheticGenerator gen(*mix, seed);
  Progress progress("writing", events);
  trace::Event e;
  for (uint64_t i = 0; i < events; ++i) {
    gen.Next(&e);
    if (absl::Status s = writer.Append(e); !s.ok()) return Fail(s);
    progress.Update(i);
  }
  progress.Done();
  if (absl::Status s = writer.Finish(); !s.ok()) return Fail(s);
  if (absl::Status s = (*sink)->Close(); !s.ok()) return Fail(s);
  std::cout << "wrote " << path << ": " << writer.events_written() << " synthetic events ("
            << trace::MixName(*mix) << " mix, seed " << seed << "), " << writer.chunks_written()
            << " chunks, " << writer.bytes_written() << " bytes\n";
  return kExitOk;
}

int RunProfiles(const Args& args) {
  const std::vector<std::string> ids =
      args.positional().empty() ? profiles::BuiltinProfileIds() : args.positional();
  for (const std::string& id : ids) {
    absl::StatusOr<profiles::Profile> p = profiles::LoadProfile(id, args.Get("profile-dir"));
    if (absl::IsNotFound(p.status())) {
      std::cerr << "faultlab: " << p.status().message() << "\n";
      return kExitUsage;
    }
    if (!p.ok()) return Fail(p.status());
    std::printf("%-6s %s%s\n", p->id.c_str(), p->name.c_str(),
                id == profiles::kDefaultProfile ? "  [default]" : "");
    std::printf("       gpu_id 0x%08x  VA %u bits  PA %u bits  %u address spaces  "
                "shader_present 0x%llx\n",
                p->gpu_info.gpu_id, p->va_bits(), p->pa_bits(), p->as_count(),
                static_cast<unsigned long long>(p->gpu_info.shader_present));
    std::printf("       RAM %llu MiB  timer %llu Hz  CSG slots %u\n",
                static_cast<unsigned long long>(p->ram_bytes >> 20),
                static_cast<unsigned long long>(p->timestamp_frequency),
                p->csif_info.csg_slot_count);
    if (p->approximate()) {
      std::printf("       approximate: invented %s\n", absl::StrJoin(p->invented, ", ").c_str());
    }
  }
  return kExitOk;
}

// Shows record progress by frame markers.
class FrameProgress : public events::Observer {
 public:
  FrameProgress(events::Observer* next, uint64_t frames) : next_(next), progress_("recording", frames) {}
  void OnEvent(const trace::Event& e) override {
    next_->OnEvent(e);
    if (e.kind == trace::EVENT_MARKER && e.marker.type == trace::MARKER_FRAME_END) {
      progress_.Step(e.marker.id + 1);
    }
  }
  void Done() { progress_.Done(); }

 private:
  events::Observer* next_;
  Progress progress_;
};

int RunRecord(const Args& args) {
  const std::string name = args.Get("workload");
  const workload::WorkloadInfo* info = workload::FindWorkload(name);
  if (info == nullptr) {
    std::cerr << "faultlab record: unknown workload '" << name << "' (see 'faultlab workloads')\n";
    return kExitUsage;
  }
  replay::WhatIf settings;
  for (const char* key : {"profile", "variant", "policy", "budget", "thp"}) {
    if (!args.Has(key)) continue;
    if (absl::Status s = replay::SetWhatIf(key, args.Get(key), &settings); !s.ok()) {
      return Fail(absl::InvalidArgumentError(absl::StrCat("--", s.message())));
    }
  }
  absl::StatusOr<dev::DeviceConfig> cfg = replay::RecordingConfig(name, settings, args.Has("pressure"));
  if (!cfg.ok()) return Fail(cfg.status());
  uint64_t seed = 1, frames = 0;
  if (absl::Status s = args.GetUint("seed", &seed); !s.ok()) return Fail(s);
  if (absl::Status s = args.GetUint("frames", &frames); !s.ok()) return Fail(s);
  cfg->seed = seed;
  uint64_t fault_cost = 1000;
  if (absl::Status s = args.GetUint("fault-cost-permille", &fault_cost); !s.ok()) return Fail(s);
  if (fault_cost == 0 || fault_cost > 100000) {
    return Fail(absl::InvalidArgumentError("--fault-cost-permille: want 1..100000 (1000: the profile's costs)"));
  }
  cfg->fault_cost_permille = static_cast<uint32_t>(fault_cost);
  const std::string path = args.Get("output");
  auto sink = trace::FileSink::Open(path);
  if (!sink.ok()) return Fail(sink.status());
  trace::TraceWriter writer(sink->get(),
                            replay::MakeHeader(*cfg, name, args.Get("board", "twin"), host::TraceId(),
                                               host::WallClockNs(),
                                               frames ? frames : info->default_frames));
  replay::Recorder rec(&writer);
  FrameProgress progress(&rec, frames ? frames : info->default_frames);
  dev::Device device(*cfg);
  device.set_observer(&progress);
  absl::Status s = workload::RunWorkload({name, seed, static_cast<uint32_t>(frames)}, device);
  progress.Done();
  device.set_observer(nullptr);
  if (!s.ok()) return Fail(s);
  if (absl::Status fs = rec.Finish(); !fs.ok()) return Fail(fs);
  if (absl::Status cs = (*sink)->Close(); !cs.ok()) return Fail(cs);
  const dev::DeviceStats& st = device.stats();
  std::cout << "recorded " << path << ": workload " << name << ", " << writer.events_written()
            << " events, " << writer.bytes_written() << " bytes; " << st.faults << " faults ("
            << st.faults_handled << " handled, " << st.faults_degraded << " degraded, "
            << st.faults_failed << " failed), " << st.jobs_failed << " jobs killed, virtual time "
            << device.now_ns() / 1000 << " us\n";
  return kExitOk;
}

// --what-if KEY=VALUE, repeatable.
absl::Status ParseWhatIf(const Args& args, replay::WhatIf* out) {
  for (const std::string& kv : args.GetAll("what-if")) {
    if (absl::Status s = replay::ParseWhatIfArg(kv, out); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--what-if ", s.message()));
    }
  }
  return absl::OkStatus();
}

replay::ReplayResult DoReplay(const Args& args, const std::string& path, bool with_what_if) {
  Progress progress("replaying " + path.substr(path.rfind('/') + 1) + ", inputs", 0);
  replay::ReplayOptions opts;
  opts.on_input = [&progress](uint64_t n) { progress.Update(n); };
  opts.keep_going = args.Has("keep-going");
  opts.skip_damaged = args.Has("skip-damaged");
  if (with_what_if) {
    if (absl::Status s = ParseWhatIf(args, &opts.what_if); !s.ok()) {
      replay::ReplayResult r;
      r.status = s;
      return r;
    }
  }
  return replay::Replay(
      [&]() -> absl::StatusOr<std::unique_ptr<trace::ByteSource>> {
        auto src = trace::FileSource::Open(path);
        if (!src.ok()) return src.status();
        return std::unique_ptr<trace::ByteSource>(std::move(*src));
      },
      path, opts);
}

replay::ReplayResult DoRerun(const Args& args, const std::string& path) {
  replay::ReplayResult r;
  replay::WhatIf what_if;
  if (r.status = ParseWhatIf(args, &what_if); !r.status.ok()) return r;
  auto src = trace::FileSource::Open(path);
  if (!src.ok()) {
    r.status = src.status();
    return r;
  }
  trace::TraceReader reader(src->get(), path);
  if (absl::Status s = reader.Open(); !s.ok()) {
    r.status = s;
    return r;
  }
  return replay::Rerun(reader.header(), path, what_if);
}

int RunReplay(const Args& args) {
  if (args.Has("server")) return RunRemoteReplay(args);
  const std::string path = args.positional()[0];
  const std::string mode = args.Get("what-if-mode", "open");
  if (mode != "open" && mode != "rerun") {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "--what-if-mode '", mode, "': 'open' (replay the recorded inputs) or 'rerun' (re-run the "
        "recorded workload)")));
  }
  const auto start = std::chrono::steady_clock::now();
  replay::ReplayResult r = mode == "rerun" ? DoRerun(args, path) : DoReplay(args, path, true);
  const auto wall = std::chrono::steady_clock::now() - start;
  if (!r.status.ok()) return Fail(r.status);
  for (const replay::Divergence& d : r.divergences) {
    std::cerr << path << ": event " << d.index << ": diverged\n";
    for (const std::string& c : d.context) std::cerr << "  before:   " << c << "\n";
    std::cerr << "  expected: " << d.expected << "\n  got:      " << d.got << "\n";
  }
  std::cout << (args.Has("json") ? replay::ReportJson(r) : replay::ReportText(r));
  if (args.Has("timing")) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wall).count();
    std::cout << "wall_ns: " << ns << "\n";
    if (ns > 0) std::cout << "events_per_s: " << static_cast<int64_t>(r.events * 1e9 / ns) << "\n";
  }
  return r.outcome == replay::ReplayOutcome::kDiverged ? 1 : kExitOk;
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
    if (code == kExitIo) std::cerr << "(chunks acknowledged before this are stored; upload again to resume)\n";
    return code;
  }
  std::cout << "uploaded " << path << " to " << server << ": trace "
            << absl::BytesToHexString(r->trace_id) << ", " << r->chunks
            << (r->chunks == 1 ? " chunk (" : " chunks (")
            << r->acked << " sent and acknowledged, " << r->already
            << " already on the server), " << r->bytes_sent << " bytes sent\n";
  return kExitOk;
}

// Writes `html` to --html's path; the exit code.
int WriteHtml(const Args& args, const std::string& html) {
  const std::string out = args.Get("html");
  std::ofstream f(out, std::ios::binary | std::ios::trunc);
  f << html;
  if (!f.flush()) {
    std::cerr << "faultlab: " << out << ": cannot write\n";
    return kExitIo;
  }
  std::cout << "wrote " << out << " (" << html.size() << " bytes; open it in a browser)\n";
  return kExitOk;
}

absl::StatusOr<html::RunData> CollectLocal(const std::string& path) {
  auto open = [&path]() -> absl::StatusOr<std::unique_ptr<trace::ByteSource>> {
    auto f = trace::FileSource::Open(path);
    if (!f.ok()) return f.status();
    return std::unique_ptr<trace::ByteSource>(std::move(*f));
  };
  return html::CollectRun(open, path.substr(path.rfind('/') + 1), {});
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
  if (grpc::Status s = stub->ListTraces(&ctx, f, &out); !s.ok()) return FailRemote("traces", args, s);
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

int RunReport(const Args& args) {
  // A file here: a local report (text, or the HTML page).
  struct stat st;
  if (!args.Has("server") && stat(args.positional()[0].c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    const std::string path = args.positional()[0];
    if (args.Has("html")) {
      absl::StatusOr<html::RunData> d = CollectLocal(path);
      if (!d.ok()) return Fail(d.status());
      return WriteHtml(args, html::ReportPage(*d));
    }
    replay::ReplayResult r = DoReplay(args, path, false);
    if (!r.status.ok()) return Fail(r.status);
    std::cout << replay::ReportText(r);
    return r.outcome == replay::ReplayOutcome::kDiverged ? 1 : kExitOk;
  }
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
  if (grpc::Status s = stub->GetReport(&ctx, req, &out); !s.ok()) return FailRemote("report", args, s);
  if (args.Has("html")) return WriteHtml(args, out.html());
  const api::TraceInfo& t = out.trace();
  std::cout << "trace: " << absl::BytesToHexString(t.trace_id()) << "\nboard: " << t.board()
            << "\nworkload: " << t.workload() << "\nvariant: " << t.variant()
            << "\npolicy: " << t.policy() << "\nprofile: " << t.profile() << "\n"
            << out.report();
  return kExitOk;
}

// board-log: the kernel-side facts of a board (docs/board.md).
int RunBoardLog(const Args& args) {
  if (!args.Has("kmsg") && !args.Has("kprobes")) {
    std::cerr << "faultlab board-log: give --kmsg FILE (dmesg or /dev/kmsg text) and/or --kprobes FILE "
                 "(trace_pipe text)\n";
    return kExitUsage;
  }
  auto slurp = [](const std::string& path, std::string* out) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    *out = s.str();
    return static_cast<bool>(in) || !out->empty();
  };
  if (args.Has("kmsg")) {
    std::string text;
    if (!slurp(args.Get("kmsg"), &text)) {
      std::cerr << "faultlab board-log: " << args.Get("kmsg") << ": cannot read\n";
      return kExitIo;
    }
    collect::KernelLog log = collect::ParseKernelLog(text);
    std::cout << "unhandled faults: " << log.faults.size() << " (" << log.lines << " lines, " << log.malformed
              << " malformed)\n";
    for (const collect::KernelFault& f : log.faults) {
      std::printf("  t=%llu.%06llus AS%d VA 0x%016llx status 0x%x (%s)%s%s\n",
                  static_cast<unsigned long long>(f.time_ns / 1000000000),
                  static_cast<unsigned long long>(f.time_ns / 1000 % 1000000), f.as,
                  static_cast<unsigned long long>(f.va), f.status,
                  f.has_status ? mmu::ExceptionName(f.exception) : "no status line",
                  f.device.empty() ? "" : " on ", f.device.c_str());
    }
  }
  if (args.Has("kprobes")) {
    std::string text;
    if (!slurp(args.Get("kprobes"), &text)) {
      std::cerr << "faultlab board-log: " << args.Get("kprobes") << ": cannot read\n";
      return kExitIo;
    }
    collect::KprobeTrace t = collect::ParseKprobeTrace(text);
    std::vector<uint64_t> v = t.fault_work_ns;
    std::sort(v.begin(), v.end());
    auto q = [&](size_t permille) {  // nearest rank
      const size_t rank = (v.size() * permille + 999) / 1000;
      return v[rank ? rank - 1 : 0];
    };
    std::cout << "handled faults (panthor_vm_fault_work, measured): " << v.size() << "; MMU IRQs: " << t.irqs
              << " (" << t.lines << " lines, " << t.malformed << " malformed, " << t.unmatched << " unmatched)\n";
    if (!v.empty()) {
      std::cout << "  fault_work_ns.p50: " << q(500) << "\n  fault_work_ns.p99: " << q(990)
                << "\n  fault_work_ns.max: " << v.back() << "\n";
    }
  }
  return kExitOk;
}

// Pads NAME to WIDTH columns, always leaving at least one space.
std::string PadTo(const std::string& name, size_t width) {
  return name + std::string(name.size() < width ? width - name.size() : 1, ' ');
}

int RunWorkloads(const Args&) {
  for (const workload::WorkloadInfo& w : workload::Workloads()) {
    std::cout << PadTo(w.name, 10) << w.summary << "\n"
              << "          default frames: " << w.default_frames
              << (w.wants_pressure ? ", runs with memory pressure on" : "") << "\n"
              << "          " << w.parameters << "\n";
  }
  return kExitOk;
}

int RunDiff(const Args& args) {
  const std::string a = args.positional()[0], b = args.positional()[1];
  if (args.Has("html")) {
    absl::StatusOr<html::RunData> da = CollectLocal(a);
    if (!da.ok()) return Fail(da.status());
    absl::StatusOr<html::RunData> db = CollectLocal(b);
    if (!db.ok()) return Fail(db.status());
    return WriteHtml(args, html::DiffPage(*da, *db));
  }
  replay::ReplayResult ra = DoReplay(args, a, false);
  if (!ra.status.ok()) return Fail(ra.status);
  replay::ReplayResult rb = DoReplay(args, b, false);
  if (!rb.status.ok()) return Fail(rb.status);
  std::vector<std::string> la = absl::StrSplit(replay::ReportText(ra), '\n', absl::SkipEmpty());
  std::vector<std::string> lb = absl::StrSplit(replay::ReportText(rb), '\n', absl::SkipEmpty());
  std::printf("%-34s %16s %16s %10s\n", "", a.substr(a.rfind('/') + 1).c_str(),
              b.substr(b.rfind('/') + 1).c_str(), "change");
  for (size_t i = 0; i < la.size() && i < lb.size(); ++i) {
    const size_t ca = la[i].find(": "), cb = lb[i].find(": ");
    const std::string key = la[i].substr(0, ca), va = la[i].substr(ca + 2), vb = lb[i].substr(cb + 2);
    int64_t x, y;
    std::string change;
    if (absl::SimpleAtoi(va, &x) && absl::SimpleAtoi(vb, &y)) {
      if (x == y) {
        change = "=";
      } else if (x != 0) {
        const int64_t permille = (y - x) * 1000 / x;
        change = absl::StrCat(permille >= 0 ? "+" : "-", std::llabs(permille) / 10, ".",
                              std::llabs(permille) % 10, "%");
      } else {
        change = "new";
      }
    }
    std::printf("%-34s %16s %16s %10s\n", key.c_str(), va.substr(0, 16).c_str(),
                vb.substr(0, 16).c_str(), change.c_str());
  }
  return kExitOk;
}

const std::map<std::string, Verb>& Verbs() {
  static const auto* verbs = new std::map<std::string, Verb>{
      {"record",
       {"run a workload on the twin and record its trace",
        "faultlab record --workload W -o FILE [--frames N] [--seed S] [--profile P] "
        "[--variant series-fixed|series-v3] [--policy noretry|nowait|pool:N|dummy-page] "
        "[--budget SIZE] [--thp never|within_size] [--pressure] [--board NAME] "
        "[--fault-cost-permille N]\n"
        "  --fault-cost-permille N  scale the fault path's modelled costs (1000 = the profile's;\n"
        "                           1300 = a kernel whose fault handling is 30% slower)",
        [](Args& a) {
          for (const char* f : {"workload", "frames", "seed", "profile", "variant", "policy",
                                "budget", "thp", "board", "fault-cost-permille"}) {
            a.Declare(f, true);
          }
          a.Declare("output", true, 'o');
          a.Declare("pressure", false);
        },
        RunRecord}},
      {"replay",
       {"replay a trace on a fresh twin and check every output (or what-if)",
        "faultlab replay FILE [--what-if KEY=VALUE ...] [--what-if-mode open|rerun] [--json] "
        "[--keep-going] [--timing] [--skip-damaged]\n"
        "       faultlab replay ID --server HOST:PORT [--token T] [--what-if KEY=V1[,V2...] ...]\n"
        "  what-if keys: profile, variant, policy, budget, granularity, thp; 'open' replays the\n"
        "  recorded inputs (ids remapped, dependents of failed creations skipped), 'rerun'\n"
        "  re-runs the recorded workload (docs/record-replay.md). With --server, ID is a prefix\n"
        "  of a stored trace's id and the server replays it: several values per key make a\n"
        "  matrix (every combination, at most 64 cells), with progress; results are stored",
        [](Args& a) {
          DeclareRemote(a);
          a.Declare("what-if", true);
          a.Declare("what-if-mode", true);
          a.Declare("json", false);
          a.Declare("keep-going", false);
          a.Declare("timing", false);
          a.Declare("skip-damaged", false);
        },
        RunReplay}},
      {"upload",
       {"send a trace to a faultlab-server; resumes where an earlier upload stopped",
        "faultlab upload FILE [--server HOST:PORT] [--token T] [--tls-ca FILE]\n"
        "  --server defaults to 127.0.0.1:7400; the trace is stored once every chunk is\n"
        "  acknowledged (durable on the server); run it again to resume after a failure.\n"
        "  --tls-ca FILE: the server uses TLS signed by this CA (--tls: the system's CAs)",
        [](Args& a) { DeclareRemote(a); },
        RunUpload}},
      {"traces",
       {"list the traces a faultlab-server holds, with their replay outcomes",
        "faultlab traces [--server HOST:PORT] [--token T] [--board B] [--workload W] "
        "[--variant V] [--policy P]",
        [](Args& a) {
          DeclareRemote(a);
          for (const char* f : {"board", "workload", "variant", "policy"}) a.Declare(f, true);
        },
        RunTraces}},
      {"runs",
       {"list a faultlab-server's runs with their measured latencies and regression verdicts",
        "faultlab runs [--server HOST:PORT] [--token T] [--board B] [--gpu G] [--workload W] "
        "[--variant V] [--policy P] [--limit N]\n"
        "  a run is one complete trace; its verdict compares its recorded fault latencies with\n"
        "  the previous runs of its series (docs/regressions.md); '*' marks the run where the\n"
        "  series' level shifted; --limit N shows the newest N",
        [](Args& a) {
          DeclareRemote(a);
          for (const char* f : {"board", "gpu", "workload", "variant", "policy", "limit"}) {
            a.Declare(f, true);
          }
        },
        RunRuns}},
      {"compare",
       {"compare two runs, or two groups of runs, on a faultlab-server (B against baseline A)",
        "faultlab compare A B [--server HOST:PORT] [--token T]\n"
        "  A and B: a trace id prefix, or a group 'board=X,workload=Y,variant=V,policy=P,last=N'\n"
        "  (any subset; last=N: the newest N runs). Exit 1 when B regressed against A",
        [](Args& a) { DeclareRemote(a); }, RunCompare}},
      {"backfill",
       {"record seeded runs on the twin and upload them, optionally with a regression injected",
        "faultlab backfill [--server HOST:PORT] [--token T] [--runs N] [--boards A,B] "
        "[--workloads W,...] [--variants V,...] [--policies P,...] [--profile P] [--frames F] "
        "[--seed S] [--regress-from K [--regress-permille P] [--regress-board B]]\n"
        "  N runs (default 8) for every series board x workload x variant x policy (defaults\n"
        "  lab-01,lab-02 x compute,game x series-fixed,series-v3 x noretry), F frames each\n"
        "  (default 2). --regress-from K makes runs K.. of one board (default the first) record\n"
        "  a fault path P per mille as costly (default 1300). Trace ids follow from the\n"
        "  arguments, so a repeated backfill stores nothing twice",
        [](Args& a) {
          DeclareRemote(a);
          for (const char* f : {"runs", "boards", "workloads", "variants", "policies", "profile",
                                "frames", "seed", "regress-from", "regress-permille",
                                "regress-board"}) {
            a.Declare(f, true);
          }
        },
        RunBackfill}},
      {"report",
       {"a trace's report: a local FILE's, or the server's of ID (unique prefix); --html for a page",
        "faultlab report FILE [--html OUT.html]\n"
        "       faultlab report ID [--server HOST:PORT] [--token T] [--html OUT.html]\n"
        "  FILE: replay a local trace and print its report, or write its HTML page (plots of the\n"
        "  latency distribution, faults over time, per frame; docs/reports.md). ID: a unique prefix\n"
        "  of a trace id on the server, whose report (or page) the server gives",
        [](Args& a) {
          DeclareRemote(a);
          a.Declare("html", true);
        },
        RunReport}},
      {"board-log",
       {"decode a board's kernel-side facts: unhandled GPU faults, fault-work latencies",
        "faultlab board-log [--kmsg FILE] [--kprobes FILE]\n"
        "  --kmsg FILE     dmesg output or /dev/kmsg records: panthor's 'Unhandled Page fault' reports\n"
        "  --kprobes FILE  tracefs trace_pipe text of the kprobes in docs/board.md: handled-fault\n"
        "                  durations (panthor_vm_fault_work entry to return) and MMU IRQs",
        [](Args& a) {
          a.Declare("kmsg", true);
          a.Declare("kprobes", true);
        },
        RunBoardLog}},
      {"workloads",
       {"list the workloads 'record' can run", "faultlab workloads", [](Args&) {}, RunWorkloads}},
      {"diff",
       {"replay two traces and show their reports side by side", "faultlab diff A B [--html OUT.html]\n"
        "  --html: a page comparing the two (configuration, latency histogram and CDF overlaid,\n"
        "  timelines, reports side by side)",
        [](Args& a) {
          a.Declare("skip-damaged", false);
          a.Declare("html", true);
        },
        RunDiff}},
      {"dump",
       {"print a trace's header and events, one line each",
        "faultlab dump FILE [--limit N] [--skip-damaged]",
        [](Args& a) {
          a.Declare("limit", true);
          a.Declare("skip-damaged", false);
        },
        RunDump}},
      {"profiles",
       {"list the board profiles (built in, or from --profile-dir)",
        "faultlab profiles [ID...] [--profile-dir DIR]",
        [](Args& a) { a.Declare("profile-dir", true); }, RunProfiles}},
      {"stat",
       {"print a trace's header and summary statistics",
        "faultlab stat FILE [--skip-damaged]",
        [](Args& a) { a.Declare("skip-damaged", false); }, RunStat}},
      {"synth",
       {"write a synthetic trace (test data, not produced by the model)",
        "faultlab synth -o FILE [--mix fault-heavy|access-heavy|ioctl-heavy|all-kinds] "
        "[--events N] [--seed S]",
        [](Args& a) {
          a.Declare("output", true, 'o');
          a.Declare("mix", true);
          a.Declare("events", true);
          a.Declare("seed", true);
        },
        RunSynth}},
  };
  return *verbs;
}

// Positional arguments each verb needs.
// Positional arguments each verb needs (-1: any number).
int NeededPositionals(const std::string& verb) {
  if (verb == "synth" || verb == "record" || verb == "workloads" || verb == "traces" ||
      verb == "runs" || verb == "backfill" || verb == "board-log") {
    return 0;
  }
  if (verb == "profiles") return -1;
  if (verb == "diff" || verb == "compare") return 2;
  return 1;
}

void PrintHelp() {
  std::cout << "faultlab - trace-replay and performance lab for GPU memory allocated on fault\n\n"
               "usage: faultlab VERB [ARGS] [--help]\n\nverbs:\n";
  for (const auto& [name, v] : Verbs()) {
    std::cout << "  " << PadTo(name, 11) << v.summary << "\n";
  }
  std::cout << "\nOptions may come anywhere after the verb. Damaged traces make reading verbs\n"
               "exit 3 with 'FILE: offset N: problem'; --skip-damaged skips and counts instead.\n"
               "Exit codes: 0 ok, 1 replay diverged, 2 usage, 3 damaged input, 4 I/O error\n"
               "(docs/cli.md).\n";
}

}  // namespace

int Main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    PrintHelp();
    return argc < 2 ? kExitUsage : kExitOk;
  }
  std::string verb = argv[1];
  if (verb == "help") {
    if (argc < 3) {
      PrintHelp();
      return kExitOk;
    }
    verb = argv[2];
    auto it = Verbs().find(verb);
    if (it == Verbs().end()) {
      std::cerr << "faultlab: unknown verb '" << verb << "' (try 'faultlab help')\n";
      return kExitUsage;
    }
    std::cout << it->second.summary << "\nusage: " << it->second.usage << "\n";
    return kExitOk;
  }
  auto it = Verbs().find(verb);
  if (it == Verbs().end()) {
    std::cerr << "faultlab: unknown verb '" << verb << "' (try 'faultlab help')\n";
    return kExitUsage;
  }
  const Verb& v = it->second;
  Args args;
  args.Declare("help", false, 'h');
  v.declare(args);
  if (absl::Status s = args.Parse(argc - 2, argv + 2); !s.ok()) {
    return Usage(verb, v, std::string(s.message()));
  }
  if (args.Has("help")) {
    std::cout << v.summary << "\nusage: " << v.usage << "\n";
    return kExitOk;
  }
  const int needed = NeededPositionals(verb);
  if (needed >= 0 && args.positional().size() != static_cast<size_t>(needed)) {
    return Usage(verb, v, args.positional().size() < static_cast<size_t>(needed)
                              ? (needed == 2 ? (verb == "compare" ? "needs A and B" : "needs two trace files")
                                           : "missing FILE argument")
                              : "too many arguments");
  }
  if ((verb == "synth" || verb == "record") && !args.Has("output")) {
    return Usage(verb, v, "missing -o FILE");
  }
  if (verb == "record" && !args.Has("workload")) return Usage(verb, v, "missing --workload W");
  return v.run(args);
}

}  // namespace faultlab::cli

int main(int argc, char** argv) { return faultlab::cli::Main(argc, argv); }
