// Verbs that run the twin here: record, replay, report, diff.
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/exit.h"
#include "cli/progress.h"
#include "cli/remote.h"
#include "cli/verbs.h"
#include "engine/profiles/profile.h"
#include "engine/replay/recorder.h"
#include "engine/replay/replayer.h"
#include "engine/trace/io.h"
#include "engine/trace/reader.h"
#include "engine/trace/writer.h"
#include "engine/workload/workload.h"
#include "lib/host/host.h"
#include "lib/html/report_html.h"
#include "lib/mesa/mesa.h"

namespace faultlab::cli {
namespace {

// Shows record progress by frame markers.
class FrameProgress : public events::Observer {
 public:
  FrameProgress(events::Observer* next, uint64_t frames)
      : next_(next), progress_("recording", frames) {}
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
  if (args.Has("board-faults")) {
    const std::string m = args.Get("board-faults");
    if (m != "recorded" && m != "model") {
      replay::ReplayResult r;
      r.status = absl::InvalidArgumentError(
          absl::StrCat("--board-faults '", m,
                       "': recorded (the board's fault stream) or model (the twin's footprints)"));
      return r;
    }
    opts.gpu_work = m == "recorded" ? replay::ReplayOptions::GpuWork::kRecorded
                                    : replay::ReplayOptions::GpuWork::kModel;
  }
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

absl::StatusOr<html::RunData> CollectLocal(const std::string& path) {
  auto open = [&path]() -> absl::StatusOr<std::unique_ptr<trace::ByteSource>> {
    auto f = trace::FileSource::Open(path);
    if (!f.ok()) return f.status();
    return std::unique_ptr<trace::ByteSource>(std::move(*f));
  };
  return html::CollectRun(open, path.substr(path.rfind('/') + 1), {});
}

}  // namespace

int RunRecord(const Args& args) {
  const std::string name = args.Get("workload");
  const workload::WorkloadInfo* info = workload::FindWorkload(name);
  if (info == nullptr && mesa::FindWorkload(name) != nullptr) {
    std::cerr << "faultlab record: " << name
              << " is a real Mesa program, run under the device shim: 'faultlab-agent --board B "
                 "--workloads "
              << name << "' records it (docs/mesa.md)\n";
    return kExitUsage;
  }
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
  absl::StatusOr<dev::DeviceConfig> cfg =
      replay::RecordingConfig(name, settings, args.Has("pressure"));
  if (!cfg.ok()) return Fail(cfg.status());
  uint64_t seed = 1, frames = 0;
  if (absl::Status s = args.GetUint("seed", &seed); !s.ok()) return Fail(s);
  if (absl::Status s = args.GetUint("frames", &frames); !s.ok()) return Fail(s);
  cfg->seed = seed;
  uint64_t fault_cost = 1000;
  if (absl::Status s = args.GetUint("fault-cost-permille", &fault_cost); !s.ok()) return Fail(s);
  if (fault_cost == 0 || fault_cost > 100000) {
    return Fail(absl::InvalidArgumentError(
        "--fault-cost-permille: want 1..100000 (1000: the profile's costs)"));
  }
  cfg->fault_cost_permille = static_cast<uint32_t>(fault_cost);
  const std::string path = args.Get("output");
  auto sink = trace::FileSink::Open(path);
  if (!sink.ok()) return Fail(sink.status());
  trace::TraceWriter writer(
      sink->get(), replay::MakeHeader(*cfg, name, args.Get("board", "twin"), host::TraceId(),
                                      host::WallClockNs(), frames ? frames : info->default_frames));
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

int RunReplay(const Args& args) {
  if (args.Has("server")) return RunRemoteReplay(args);
  const std::string path = args.positional()[0];
  const std::string mode = args.Get("what-if-mode", "open");
  if (mode != "open" && mode != "rerun") {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--what-if-mode '", mode,
                     "': 'open' (replay the recorded inputs) or 'rerun' (re-run the "
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
  if (!r.not_derivable.empty()) {
    std::cerr << path << ": not derivable from the board's fault stream: " << r.not_derivable
              << " (faults.derivable: 0; --board-faults model replays the twin's footprints)\n";
  }
  std::cout << (args.Has("json") ? replay::ReportJson(r) : replay::ReportText(r));
  if (args.Has("timing")) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wall).count();
    std::cout << "wall_ns: " << ns << "\n";
    if (ns > 0) std::cout << "events_per_s: " << static_cast<int64_t>(r.events * 1e9 / ns) << "\n";
  }
  return r.outcome == replay::ReplayOutcome::kDiverged ? 1 : kExitOk;
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
  return RunRemoteReport(args);
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
    const std::string key = la[i].substr(0, ca), va = la[i].substr(ca + 2),
                      vb = lb[i].substr(cb + 2);
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
    std::printf(
        "       gpu_id 0x%08x  VA %u bits  PA %u bits  %u address spaces  "
        "shader_present 0x%llx\n",
        p->gpu_info.gpu_id, p->va_bits(), p->pa_bits(), p->as_count(),
        static_cast<unsigned long long>(p->gpu_info.shader_present));
    std::printf("       RAM %llu MiB  timer %llu Hz  CSG slots %u\n",
                static_cast<unsigned long long>(p->ram_bytes >> 20),
                static_cast<unsigned long long>(p->timestamp_frequency),
                p->csif_info.csg_slot_count);
    // GPU_ARCH_MAJOR (panthor_regs.h): the twin's interpreter is v10's (docs/engine.md).
    const uint32_t arch = p->gpu_info.gpu_id >> 28;
    if (arch == 10) {
      std::printf("       command streams: v10 (CSF), the interpreter's own architecture\n");
    } else {
      std::printf(
          "       command streams: run as v10's — this GPU is v%u, whose differences are not "
          "modelled\n",
          arch);
    }
    if (p->approximate()) {
      std::printf("       approximate: invented %s\n", absl::StrJoin(p->invented, ", ").c_str());
    }
  }
  return kExitOk;
}

int RunWorkloads(const Args&) {
  for (const workload::WorkloadInfo& w : workload::Workloads()) {
    std::cout << PadTo(w.name, 10) << w.summary << "\n"
              << "          default frames: " << w.default_frames
              << (w.wants_pressure ? ", runs with memory pressure on" : "") << "\n"
              << "          " << w.parameters << "\n";
  }
  // Real Mesa programs (lib/mesa): the agent's schedule runs them.
  absl::StatusOr<mesa::Cache> cache = mesa::OpenCache();
  std::cout << "\nReal Mesa " << mesa::kVersion
            << " programs, on the twin under the device shim (faultlab-agent --workloads; "
               "docs/mesa.md)\n"
            << (cache.ok() ? "built in " + cache->dir
                           : "not available here: " + std::string(cache.status().message()))
            << "\n";
  for (const mesa::Workload& w : mesa::Workloads()) {
    std::cout << PadTo(w.name, 16) << w.summary << "\n"
              << "                default frames: " << w.default_frames << "; program " << w.program
              << "\n";
  }
  return kExitOk;
}

}  // namespace faultlab::cli
