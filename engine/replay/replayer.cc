#include "engine/replay/replayer.h"

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <deque>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/replay/remap.h"
#include "engine/replay/version.h"
#include "engine/trace/reader.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/ioc.h"
#include "engine/uapi/panthor.h"
#include "engine/usermem/sim_user_memory.h"

namespace faultlab::replay {

namespace {

constexpr uint64_t kArgScratch = 0x0000'7ff0'0000'0000ULL;  // where replayed arguments go

// Compares produced events with the recorded ones as they come.
class Checker : public dev::Observer {
 public:
  Checker(trace::TraceReader* expected, const ReplayOptions& opts, ReplayResult* result,
          bool compare, bool board)
      : expected_(expected), opts_(opts), r_(result), compare_(compare), board_(board) {}

  // Board traces: the next recorded ioctl was not replayed (its outcome is
  // the recording's), so it is not compared either.
  void SkipRecordedIoctl() { ++skip_ioctls_; }
  // Board traces from driver 1.7 on: BO_CREATE's flag bit 1 is WB_MMAP.
  void SetWbMmap() { wb_mmap_ = true; }

  void OnEvent(const trace::Event& got) override {
    r_->summary.Add(got);
    if (opts_.on_output) opts_.on_output(got);
    const uint64_t index = r_->events++;
    const std::string got_line = trace::FormatEvent(index, got);
    // A board recording holds only what a program sees: its ioctls and the
    // markers; the twin's modelled events (faults, jobs, ...) are counted.
    if (board_ && got.kind == trace::EVENT_MARKER && IsKernelLogMarker(got.marker.label)) kernel_log_ = true;
    if (board_ && !Observable(got.kind)) {
      if (got.kind == trace::EVENT_MMU_FAULT && got.fault.outcome != trace::FAULT_HANDLED &&
          got.fault.outcome != trace::FAULT_DEGRADED) {
        got_unhandled_.push_back(got.fault.address);
      }
      context_.push_back(got_line);
      if (context_.size() > opts_.context_events) context_.pop_front();
      return;
    }
    if (compare_ && (r_->divergences.empty() || opts_.keep_going)) {
      trace::Event want;
      if (!NextExpected(&want)) {
        Diverge(index, "(end of the recorded trace)", got_line);
      } else if (board_ ? !BoardEqual(want, got) : !(want == got)) {
        Diverge(index, trace::FormatEvent(expected_->event_index(), want), got_line);
      }
    }
    context_.push_back(got_line);
    if (context_.size() > opts_.context_events) context_.pop_front();
  }

  void Diverge(uint64_t index, std::string expected, std::string got) {
    ++r_->divergence_count;
    if (r_->divergences.size() >= 100) return;
    Divergence d;
    d.index = index;
    d.expected = std::move(expected);
    d.got = std::move(got);
    d.context.assign(context_.begin(), context_.end());
    r_->divergences.push_back(std::move(d));
  }

  // Whatever the recording has beyond what the replay produced.
  void CheckEnd() {
    if (!compare_ || (!r_->divergences.empty() && !opts_.keep_going)) return;
    trace::Event want;
    if (NextExpected(&want)) {
      Diverge(r_->events, trace::FormatEvent(expected_->event_index(), want),
              "(the replay produced nothing more)");
      return;
    }
    // Board traces with the kernel log collected: the faults the kernel could
    // not handle are the ones the twin could not (by address).
    if (board_ && kernel_log_) {
      std::sort(expected_unhandled_.begin(), expected_unhandled_.end());
      std::sort(got_unhandled_.begin(), got_unhandled_.end());
      if (expected_unhandled_ != got_unhandled_) {
        Diverge(r_->events, "unhandled faults in the board's kernel log: " + Addresses(expected_unhandled_),
                "unhandled faults in the replay: " + Addresses(got_unhandled_));
      }
    }
  }

 private:
  static bool Observable(trace::EventKind k) { return k == trace::EVENT_IOCTL || k == trace::EVENT_MARKER; }
  static bool IsKernelLogMarker(absl::string_view label) {
    return absl::StartsWith(label, "kernel_log:") && !absl::StrContains(label, ": unreadable");
  }
  static std::string Addresses(const std::vector<uint64_t>& v) {
    std::string s = absl::StrCat(v.size(), v.empty() ? "" : " at");
    for (uint64_t a : v) absl::StrAppend(&s, " 0x", absl::Hex(a));
    return s;
  }

  bool NextExpected(trace::Event* want) {
    for (;;) {
      if (!expected_->Next(want)) return false;
      if (!board_) return true;
      if (want->kind == trace::EVENT_MMU_FAULT && want->fault.latency_source == trace::LATENCY_UNKNOWN) {
        expected_unhandled_.push_back(want->fault.address);  // from the kernel log
      }
      if (!Observable(want->kind)) continue;  // inputs only: CPU maps, streams; kernel facts
      if (want->kind == trace::EVENT_IOCTL && skip_ioctls_ > 0) {
        --skip_ioctls_;
        continue;
      }
      return true;
    }
  }

  // What a board recording and the twin must agree on: every ioctl's errno
  // and what it returned (handles, VM ids, rounded sizes, VAs, group
  // states, ...) except what the model cannot know, which the recording
  // supplies: DEV_QUERY payloads (GPU registers, timestamps), the driver's
  // version strings and platform name, fake mmap offsets (device-wide, shared
  // with other clients) and host timings.
  bool BoardEqual(const trace::Event& want, const trace::Event& got) {
    if (want.kind != got.kind) return false;
    if (want.kind == trace::EVENT_MARKER) return want.marker == got.marker;
    const trace::Ioctl& w = want.ioctl;
    const trace::Ioctl& g = got.ioctl;
    if (w.file != g.file || w.request != g.request) return false;
    // Ioctls of newer drivers (spec 2.2: ids 13-16 since 1.4-1.7) and the
    // DRM core ones the twin leaves out change nothing it models.
    const uint32_t nr = uapi::IocNr(w.request);
    if ((uapi::IocType(w.request) == uapi::kDrmIoctlBase && nr >= 0x4d && nr <= 0x50 && g.result == -uapi::kEINVAL) ||
        (g.result == -uapi::kENOSYS && w.result != g.result)) {
      ++r_->not_modelled;
      return true;
    }
    if (w.result != g.result) return false;
    if (w.request == uapi::kPanthorIoctlDevQuery || w.request == uapi::kDrmIoctlVersion ||
        w.request == uapi::kDrmIoctlGetUnique) {
      ++r_->injected;
      return true;
    }

    if (!w.arg_out.empty() && !g.arg_out.empty()) {
      std::string a(w.arg_out), b(g.arg_out);
      constexpr size_t kFlags = offsetof(uapi::PanthorBoCreate, flags);
      constexpr size_t kPad = offsetof(uapi::PanthorBoCreate, alloc_on_fault_granularity);
      if (wb_mmap_ && w.request == uapi::kPanthorIoctlBoCreate && a.size() >= kPad + 4 && (a[kFlags] & 2) &&
          a.compare(kPad, 4, std::string(4, '\0')) == 0) {
        a[kFlags] &= ~2;  // WB_MMAP: a CPU cache attribute the twin leaves out
        ++r_->not_modelled;
      }
      if (w.request == uapi::kPanthorIoctlBoMmapOffset && a.size() >= 16 && b.size() >= 16) {
        a.replace(8, 8, 8, '\0');
        b.replace(8, 8, 8, '\0');
      }
      if (a != b) return false;
    }
    for (const trace::UserBytes& u : w.user_out) {
      bool found = false;
      for (const trace::UserBytes& v : g.user_out) {
        if (v.address == u.address) found = v.data == u.data;
      }
      if (!found) return false;
    }
    return true;
  }

  trace::TraceReader* expected_;
  const ReplayOptions& opts_;
  ReplayResult* r_;
  bool compare_;
  bool board_;
  uint64_t skip_ioctls_ = 0;
  bool wb_mmap_ = false;
  bool kernel_log_ = false;
  std::vector<uint64_t> expected_unhandled_, got_unhandled_;
  std::deque<std::string> context_;
};

// Maps every page a recorded copy touched, writes what was read.
void PrepareUserMemory(SimUserMemory& mem, std::map<uint64_t, bool>& mapped,
                       const trace::Ioctl& io) {
  auto map_range = [&](uint64_t addr, uint64_t n) {
    for (uint64_t page = addr & ~4095ULL; page < addr + n; page += 4096) {
      if (!mapped.count(page)) {
        mem.Map(page, 4096);
        mapped[page] = true;
      }
    }
  };
  for (const trace::UserBytes& u : io.user_in) {
    map_range(u.address, u.data.size());
    mem.Write(u.address, u.data.data(), u.data.size());
  }
  for (const trace::UserBytes& u : io.user_out) map_range(u.address, u.data.size());
}

}  // namespace

const char* ReplayOutcomeName(ReplayOutcome o) {
  switch (o) {
    case ReplayOutcome::kIdentical: return "identical";
    case ReplayOutcome::kDiverged: return "diverged";
    case ReplayOutcome::kModelChanged: return "model_changed";
    case ReplayOutcome::kWhatIf: return "what_if";
    case ReplayOutcome::kError: return "error";
  }
  return "?";
}

ReplayResult Replay(const std::function<absl::StatusOr<std::unique_ptr<trace::ByteSource>>()>& open,
                    const std::string& name, const ReplayOptions& options) {
  ReplayResult r;
  auto in_src = open();
  auto want_src = open();
  if (!in_src.ok() || !want_src.ok()) {
    r.status = in_src.ok() ? want_src.status() : in_src.status();
    return r;
  }
  trace::ReaderOptions ropts;
  ropts.skip_damaged = options.skip_damaged;
  trace::TraceReader inputs(in_src->get(), name, ropts);
  trace::TraceReader expected(want_src->get(), name, ropts);
  if (absl::Status s = inputs.Open(); !s.ok()) {
    r.status = s;
    return r;
  }
  if (absl::Status s = expected.Open(); !s.ok()) {
    r.status = s;
    return r;
  }
  if (inputs.header().capture_source() == trace::CAPTURE_SOURCE_SYNTHETIC) {
    // Synthetic events were never produced by the model: there is nothing to
    // check them against (engine/trace/synthetic.h).
    r.status = absl::InvalidArgumentError(absl::StrCat(
        name, ": a synthetic trace (from 'faultlab synth') cannot be replayed: its outputs "
              "were not produced by the model; record one with 'faultlab record'"));
    return r;
  }
  absl::StatusOr<dev::DeviceConfig> cfg = ConfigFromHeader(inputs.header(), options.what_if);
  if (!cfg.ok()) {
    r.status = cfg.status();
    return r;
  }
  r.model_version = inputs.header().model_version();
  const bool model_changed = r.model_version != kModelVersion;
  const bool compare = options.what_if.empty() && !model_changed;
  uint64_t what_if_granularity = 0;
  for (const WhatIf& w : options.what_if) {
    if (w.key == "granularity") {
      absl::StatusOr<uint64_t> g = ParseSize(w.value);
      if (!g.ok() || *g < 4096 || (*g & (*g - 1)) || *g > 0xffffffffu) {
        r.status = absl::InvalidArgumentError(
            absl::StrCat("granularity '", w.value, "' must be a power of two, >= 4K, < 4G"));
        return r;
      }
      what_if_granularity = *g;
    }
  }

  const bool remap = !compare;
  r.board = inputs.header().capture_source() == trace::CAPTURE_SOURCE_BOARD;
  Remapper remapper;
  dev::Device device(*cfg);
  Checker checker(&expected, options, &r, compare, r.board);
  // Board traces: the kernel's fake mmap offsets -> the twin's (BO_MMAP_OFFSET).
  std::map<std::pair<uint32_t, uint64_t>, uint64_t> mmap_offsets;
  // From driver 1.7, BO_CREATE's flag bit 1 is WB_MMAP (spec 2.3), not the
  // series' alloc-on-fault: a board's WB_MMAP BO is a plain BO to the twin.
  bool wb_mmap = false;
  if (r.board) {
    for (const trace::ConfigEntry& c : inputs.header().config()) {
      int major = 0, minor = 0;
      if (c.key() == "driver_version" && std::sscanf(c.value().c_str(), "%d.%d", &major, &minor) == 2) {
        wb_mmap = major > 1 || (major == 1 && minor >= 7);
      }
    }
    if (wb_mmap) checker.SetWbMmap();
  }
  device.set_observer(&checker);
  // Whatever the device emits while it is torn down (files closed on every
  // return path) is not part of the replay, and the checker dies first.
  struct Detach {
    dev::Device& d;
    ~Detach() { d.set_observer(nullptr); }
  } detach{device};
  SimUserMemory mem;
  std::map<uint64_t, bool> mapped;
  mem.Map(kArgScratch, 1 << 16);
  const uint64_t ro_scratch = kArgScratch + (1 << 20);
  mem.Map(ro_scratch, 1 << 16, SimUserMemory::kRead);
  std::map<uint32_t, dev::File*> files;
  // Stream words recorded at a GROUP_SUBMIT, put back just before it.
  struct PendingCs {
    uint32_t group;
    uint64_t va;
    std::string words;
    std::vector<std::pair<uint64_t, std::string>> cpu_writes;  // the CPU's bytes the stream may load
  };
  std::vector<PendingCs> pending_cs;

  trace::Event e;
  bool have = inputs.Next(&e);
  while (have) {
    ++r.inputs;
    if (options.on_input) options.on_input(r.inputs);
    switch (e.kind) {
      case trace::EVENT_CS_SUBMIT: {
        // A command stream the CPU wrote before the GROUP_SUBMIT that follows:
        // its words go where the recording found them, just before it.
        pending_cs.push_back({e.cs_submit.group, e.cs_submit.stream_va,
                              std::string(e.cs_submit.words.data(), e.cs_submit.words.size()), {}});
        for (const trace::UserBytes& rd : e.cs_submit.reads) {
          pending_cs.back().cpu_writes.emplace_back(rd.address, std::string(rd.data.data(), rd.data.size()));
        }
        have = inputs.Next(&e);
        break;
      }
      case trace::EVENT_IOCTL: {
        const trace::Ioctl& io = e.ioctl;
        auto f = files.find(io.file);
        if (f == files.end()) {
          r.status = absl::DataLossError(absl::StrCat(name, ": event ", inputs.event_index(),
                                                      ": ioctl on file ", io.file,
                                                      " that was never opened"));
          return r;
        }
        for (const PendingCs& cs : pending_cs) {
          uint32_t group = cs.group;
          if (remap && !remapper.MapGroup(io.file, &group)) continue;
          for (const auto& [va, bytes] : cs.cpu_writes) device.WriteGpuVa(f->second, group, va, bytes, /*note=*/true);
          device.WriteGpuVa(f->second, group, cs.va, cs.words);
        }
        pending_cs.clear();
        // A wait that ran out of host time on the board: its outcome is the
        // recording's (the twin's virtual time knows no such deadline).
        if (r.board && io.result == -uapi::kETIME &&
            (io.request == uapi::kDrmIoctlSyncobjWait || io.request == uapi::kDrmIoctlSyncobjTimelineWait)) {
          ++r.injected;
          checker.SkipRecordedIoctl();
          have = inputs.Next(&e);
          break;
        }
        PrepareUserMemory(mem, mapped, io);
        std::string arg(io.arg_in.data(), io.arg_in.size());
        // What-if granularity: BO_CREATE of an alloc-on-fault BO gets the new
        // one, clamped (and counted) where it no longer fits the BO.
        if (what_if_granularity && io.request == uapi::kPanthorIoctlBoCreate &&
            arg.size() >= sizeof(uapi::PanthorBoCreate)) {
          uapi::PanthorBoCreate bc;
          std::memcpy(&bc, arg.data(), sizeof(bc));
          if (bc.flags & uapi::kPanthorBoAllocOnFault) {
            uint64_t g = what_if_granularity;
            while (g > 4096 && g > bc.size) g >>= 1;
            r.granularity_clamped += g != what_if_granularity;
            bc.alloc_on_fault_granularity = static_cast<uint32_t>(g);
            std::memcpy(arg.data(), &bc, sizeof(bc));
          }
        }
        if (wb_mmap && io.request == uapi::kPanthorIoctlBoCreate && arg.size() >= sizeof(uapi::PanthorBoCreate)) {
          uapi::PanthorBoCreate bc;
          std::memcpy(&bc, arg.data(), sizeof(bc));
          if (bc.alloc_on_fault_granularity == 0) {  // with one, it asked for alloc-on-fault
            bc.flags &= ~uapi::kPanthorBoAllocOnFault;  // bit 1: WB_MMAP here
            std::memcpy(arg.data(), &bc, sizeof(bc));
          }
        }
        // What-if: recorded ids become the replay's; an input naming an
        // object whose creation failed here is skipped (remap.h).
        if (remap && !remapper.Rewrite(io, &arg, mem)) {
          ++r.skipped_dependent;
          remapper.Learn(io, -1, std::string());  // what it would create failed too
          have = inputs.Next(&e);
          break;
        }
        // An empty argument of a request that copies in means the copy-in
        // faulted in the recording: NULL faults the same way here.
        const bool copy_in_failed = arg.empty() && (uapi::IocDir(io.request) & uapi::kIocWrite) &&
                                    uapi::IocSize(io.request) > 0;
        uint64_t at = 0;
        if (!copy_in_failed) {
          // A recorded -EFAULT with a copied-in argument means the copy-out
          // (or a nested copy) faulted: a read-only argument reproduces it.
          at = io.result == -uapi::kEFAULT ? ro_scratch : kArgScratch;
          mem.Write(at, arg.data(), arg.size());  // test-side write: ignores protections
        }
        const int result = device.Ioctl(f->second, io.request, at);
        if (r.board && result == 0 && io.result == 0 && io.request == uapi::kPanthorIoctlBoMmapOffset &&
            io.arg_out.size() >= sizeof(uapi::PanthorBoMmapOffset)) {
          uapi::PanthorBoMmapOffset rec, twin;
          std::memcpy(&rec, io.arg_out.data(), sizeof(rec));
          mem.Read(at, &twin, sizeof(twin));
          mmap_offsets[{io.file, rec.offset}] = twin.offset;
        }
        if (remap) {
          std::string out(arg.size(), '\0');
          if (at != 0 && !out.empty()) mem.Read(at, out.data(), out.size());
          remapper.Learn(io, result, out);
        }
        have = inputs.Next(&e);
        break;
      }
      case trace::EVENT_JOB_ACCESS: {
        // One job: consecutive ranges with the same job number.
        const trace::JobAccess first = e.access;
        std::vector<dev::GpuAccess> acc;
        while (have && e.kind == trace::EVENT_JOB_ACCESS && e.access.job == first.job) {
          const bool oom = e.access.access == trace::ACCESS_TYPE_UNSPECIFIED;
          acc.push_back(dev::GpuAccess{e.access.va, e.access.length_bytes, e.access.stride_bytes,
                                       oom ? trace::ACCESS_WRITE : e.access.access, oom});
          have = inputs.Next(&e);
        }
        auto f = files.find(first.file);
        uint32_t group = first.group;
        if (remap && !remapper.MapGroup(first.file, &group)) {
          ++r.skipped_dependent;  // its group was never created here
        } else if (f != files.end()) {
          device.SubmitAccessJob(f->second, group, first.queue, std::move(acc),
                                 first.signal_syncobj, nullptr);
        }
        break;
      }
      case trace::EVENT_MARKER: {
        const std::string label(e.marker.label.data(), e.marker.label.size());
        if (e.marker.type == trace::MARKER_NOTE && label.rfind("open:", 0) == 0) {
          std::vector<std::string> parts = absl::StrSplit(label, ':');
          const dev::NodeType node =
              parts.size() > 2 && parts[2] == "primary" ? dev::NodeType::kPrimary : dev::NodeType::kRender;
          dev::File* file = device.Open(node, &mem);
          files[file->id()] = file;
          device.EmitMarker(e.marker.type, e.marker.id, label);
        } else if (e.marker.type == trace::MARKER_NOTE && label.rfind("close:", 0) == 0) {
          // A file closed mid-run (the device shim records it; drm_release()).
          uint32_t id = 0;
          auto f = absl::SimpleAtoi(label.substr(6), &id) ? files.find(id) : files.end();
          device.EmitMarker(e.marker.type, e.marker.id, label);
          if (f != files.end()) {
            device.Close(f->second);
            files.erase(f);
          }
        } else if (e.marker.type == trace::MARKER_NOTE && label == "end") {
          device.RunAll();
          device.EmitMarker(e.marker.type, e.marker.id, label);
        } else {
          device.EmitMarker(e.marker.type, e.marker.id, label);
        }
        have = inputs.Next(&e);
        break;
      }
      case trace::EVENT_STATE_HASH:
        device.EmitStateHash();
        have = inputs.Next(&e);
        break;
      case trace::EVENT_CPU_MAP: {
        auto f = files.find(e.cpu_map.file);
        uint64_t populated;
        uint64_t offset = e.cpu_map.offset;
        if (r.board) {  // the board's offset, as the twin numbered the same BO
          auto base = mmap_offsets.upper_bound({e.cpu_map.file, offset});
          if (base != mmap_offsets.begin() && (--base)->first.first == e.cpu_map.file) {
            offset = base->second + (offset - base->first.second);
          }
        }
        if (f != files.end() && (!r.board || e.cpu_map.result == 0)) {
          device.MmapBo(f->second, offset, e.cpu_map.length_bytes, true, &populated);
        }
        have = inputs.Next(&e);
        break;
      }
      default:
        --r.inputs;  // an output: the checker sees its replayed twin
        if (r.board && e.kind == trace::EVENT_MMU_FAULT) {  // the board's own account
          if (e.fault.latency_source == trace::LATENCY_UNKNOWN) ++r.recorded_unhandled;
          if (e.fault.latency_source == trace::LATENCY_RECORDED) {
            ++r.recorded_measured;
            r.recorded.Add(e);
          }
        }
        have = inputs.Next(&e);
        break;
    }
  }
  if (!inputs.status().ok()) {
    r.status = inputs.status();
    r.outcome = ReplayOutcome::kError;
    return r;
  }
  checker.CheckEnd();
  if (compare && !expected.status().ok() && r.divergences.empty()) r.status = expected.status();
  r.device = device.stats();
  r.ids_remapped = remapper.remapped();
  r.peak_resident_bytes = device.memory().peak_used_pages() * 4096;
  if (!r.status.ok()) {
    r.outcome = ReplayOutcome::kError;
  } else if (model_changed) {
    r.outcome = ReplayOutcome::kModelChanged;
  } else if (!options.what_if.empty()) {
    r.outcome = ReplayOutcome::kWhatIf;
  } else {
    r.outcome = r.divergence_count ? ReplayOutcome::kDiverged : ReplayOutcome::kIdentical;
  }
  return r;
}

namespace {

// The report lines after the trace summary, in order; text and JSON share them.
std::vector<std::pair<const char*, uint64_t>> DeviceLines(const ReplayResult& r) {
  // Overcommit: alloc-on-fault bytes promised at their peak per 1000 bytes of
  // peak resident memory (integers only, so reports compare as bytes).
  const uint64_t overcommit =
      r.peak_resident_bytes ? r.device.aof_bytes_peak * 1000 / r.peak_resident_bytes : 0;
  std::vector<std::pair<const char*, uint64_t>> v = {
      {"ioctls", r.device.ioctls},
      {"ioctl_errors", r.device.ioctl_errors},
      {"jobs_completed", r.device.jobs_completed},
      {"jobs_killed", r.device.jobs_failed},
      {"groups_killed", r.device.groups_killed},
      {"heap_grows", r.device.heap_grows},
      {"peak_resident_bytes", r.peak_resident_bytes},
      {"alloc_on_fault_bytes_peak", r.device.aof_bytes_peak},
      {"overcommit_permille", overcommit},
  };
  if (r.granularity_clamped) v.push_back({"granularity_clamped", r.granularity_clamped});
  if (r.skipped_dependent) v.push_back({"skipped_dependent", r.skipped_dependent});
  if (r.ids_remapped) v.push_back({"ids_remapped", r.ids_remapped});
  if (r.board) {
    v.push_back({"injected_from_recording", r.injected});
    if (r.not_modelled) v.push_back({"not_modelled_ioctls", r.not_modelled});
    v.push_back({"recorded.faults.unhandled", r.recorded_unhandled});
    v.push_back({"recorded.faults.measured", r.recorded_measured});
    if (r.recorded_measured) {
      v.push_back({"recorded.fault_latency_ns.p50", r.recorded.LatencyQuantileNs(500)});
      v.push_back({"recorded.fault_latency_ns.p99", r.recorded.LatencyQuantileNs(990)});
      v.push_back({"recorded.fault_latency_ns.max", r.recorded.LatencyQuantileNs(1000)});
    }
  }
  v.push_back({"divergences", r.divergence_count});
  return v;
}

}  // namespace

std::string ReportText(const ReplayResult& r) {
  std::string s;
  absl::StrAppend(&s, "outcome: ", ReplayOutcomeName(r.outcome), "\n");
  absl::StrAppend(&s, "inputs: ", r.inputs, "\n");
  absl::StrAppend(&s, r.summary.ReportText());
  for (const auto& [key, value] : DeviceLines(r)) absl::StrAppend(&s, key, ": ", value, "\n");
  return s;
}

std::string ReportJson(const ReplayResult& r) {
  std::string s = "{";
  absl::StrAppend(&s, "\"outcome\": \"", ReplayOutcomeName(r.outcome), "\", \"inputs\": ", r.inputs,
                  ", ", r.summary.ReportJson());
  for (const auto& [key, value] : DeviceLines(r)) absl::StrAppend(&s, ", \"", key, "\": ", value);
  s += "}\n";
  return s;
}

}  // namespace faultlab::replay
