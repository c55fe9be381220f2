// Verbs that read a trace or a board's logs and show them.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/exit.h"
#include "cli/progress.h"
#include "cli/verbs.h"
#include "engine/gpu/cs_isa.h"
#include "engine/mmu/mmu.h"
#include "engine/replay/config.h"
#include "engine/trace/io.h"
#include "engine/trace/reader.h"
#include "engine/trace/synthetic.h"
#include "engine/trace/text.h"
#include "engine/trace/writer.h"
#include "lib/collect/kernel_log.h"
#include "lib/collect/kprobes.h"

namespace faultlab::cli {
namespace {

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

}  // namespace

int RunDump(const Args& args) {
  uint64_t limit = 0;
  if (absl::Status s = args.GetUint("limit", &limit); !s.ok()) return Fail(s);
  OpenTrace t;
  if (absl::Status s = Open(args, args.positional()[0], &t); !s.ok()) return Fail(s);
  std::string out;
  auto emit = [&](absl::string_view line) {
    out.append(line.data(), line.size());
    out.push_back('\n');
    if (out.size() > (1 << 16)) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
  };
  // --streams: a submitted stream's words as the CPU left them, one
  // instruction a line: its address, its bytes, its disassembly.
  auto streams = [&](const trace::Event& e) {
    if (e.kind != trace::EVENT_CS_SUBMIT) return;
    const absl::string_view words = e.cs_submit.words;
    for (size_t at = 0; at + 8 <= words.size(); at += 8) {
      uint64_t w;
      std::memcpy(&w, words.data() + at, 8);
      emit(absl::StrFormat("          0x%012x  %016x  %s", e.cs_submit.stream_va + at, w,
                           gpu::cs::Disassemble(w)));
    }
  };
  absl::Status s = trace::Dump(
      *t.reader, limit, emit,
      args.Has("streams") ? std::function<void(const trace::Event&)>(streams) : nullptr);
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
  // The header's configuration, checked as a replay checks it: what stat
  // shows, a replay could rebuild.
  if (t.reader->header().capture_source() != trace::CAPTURE_SOURCE_SYNTHETIC) {
    absl::StatusOr<dev::DeviceConfig> cfg = replay::ConfigFromHeader(t.reader->header());
    if (!cfg.ok()) {
      return Fail(
          absl::Status(cfg.status().code(), absl::StrCat(path, ": ", cfg.status().message())));
    }
  }
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

// board-log: the kernel-side facts of a board (docs/board.md).
int RunBoardLog(const Args& args) {
  if (!args.Has("kmsg") && !args.Has("kprobes")) {
    std::cerr
        << "faultlab board-log: give --kmsg FILE (dmesg or /dev/kmsg text) and/or --kprobes FILE "
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
    std::cout << "unhandled faults: " << log.faults.size() << " (" << log.lines << " lines, "
              << log.malformed << " malformed)\n";
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
    std::vector<uint64_t> work, latency;
    uint64_t stream = 0, unhandled = 0;
    for (const collect::KprobeFault& f : t.faults) {
      work.push_back(f.work_ns());
      latency.push_back(f.latency_ns());
      stream += f.has_fields;
      unhandled += f.unhandled;
    }
    std::cout << "fault works (panthor_vm_fault_work, measured): " << t.faults.size() << ", "
              << stream << " with their address (the fault stream), " << unhandled
              << " unhandled; MMU IRQs: " << t.irqs << " (" << t.lines << " lines, " << t.malformed
              << " malformed, " << t.unmatched << " unmatched)\n";
    for (auto* v : {&work, &latency}) {
      if (v->empty()) continue;
      std::sort(v->begin(), v->end());
      auto q = [&](size_t permille) {  // nearest rank
        const size_t rank = (v->size() * permille + 999) / 1000;
        return (*v)[rank ? rank - 1 : 0];
      };
      const char* name = v == &work ? "fault_work_ns" : "fault_latency_ns";
      std::cout << "  " << name << ".p50: " << q(500) << "\n  " << name << ".p99: " << q(990)
                << "\n  " << name << ".max: " << v->back() << "\n";
    }
    for (const collect::KprobeFault& f : t.faults) {
      if (!f.has_fields) continue;
      const std::string how = !f.unhandled ? ""
                              : f.has_ret  ? absl::StrCat(", unhandled: ", f.ret)
                                           : ", unhandled";
      std::printf("  t=%llu.%06llus AS%d VA 0x%016llx status 0x%x (%s) %llu ns%s\n",
                  static_cast<unsigned long long>(f.start_ns / 1000000000),
                  static_cast<unsigned long long>(f.start_ns / 1000 % 1000000), f.as,
                  static_cast<unsigned long long>(f.va), f.status,
                  mmu::ExceptionName(f.status & 0xff),
                  static_cast<unsigned long long>(f.latency_ns()), how.c_str());
    }
  }
  return kExitOk;
}

}  // namespace faultlab::cli
