// faultlab: the one CLI of the lab (DESIGN "Services and commands").
//
// Exit codes (docs/cli.md):
//   0  success
//   1  the operation ran and found a problem (reserved for replay divergence)
//   2  usage error: unknown verb or option, missing or malformed argument
//   3  damaged or invalid input: "FILE: offset N: problem" on stderr
//   4  I/O error: a file could not be opened, read or written
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/args.h"
#include "cli/progress.h"
#include "engine/dev/profile.h"
#include "engine/trace/io.h"
#include "engine/trace/reader.h"
#include "engine/trace/synthetic.h"
#include "engine/trace/text.h"
#include "engine/trace/writer.h"

namespace faultlab::cli {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitUsage = 2;
constexpr int kExitDamaged = 3;
constexpr int kExitIo = 4;

struct Verb {
  const char* summary;
  const char* usage;
  std::function<void(Args&)> declare;
  std::function<int(const Args&)> run;
};

int Fail(const absl::Status& s) {
  std::cerr << "faultlab: " << s.message() << "\n";
  if (s.code() == absl::StatusCode::kDataLoss) return kExitDamaged;
  if (s.code() == absl::StatusCode::kInvalidArgument) return kExitUsage;
  return kExitIo;
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
      args.positional().empty() ? dev::BuiltinProfileIds() : args.positional();
  for (const std::string& id : ids) {
    absl::StatusOr<dev::Profile> p = dev::LoadProfile(id, args.Get("profile-dir"));
    if (absl::IsNotFound(p.status())) {
      std::cerr << "faultlab: " << p.status().message() << "\n";
      return kExitUsage;
    }
    if (!p.ok()) return Fail(p.status());
    std::printf("%-6s %s%s\n", p->id.c_str(), p->name.c_str(),
                id == dev::kDefaultProfile ? "  [default]" : "");
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

const std::map<std::string, Verb>& Verbs() {
  static const auto* verbs = new std::map<std::string, Verb>{
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
  if (verb == "synth") return 0;
  if (verb == "profiles") return -1;
  return 1;
}

void PrintHelp() {
  std::cout << "faultlab - trace-replay and performance lab for GPU memory allocated on fault\n\n"
               "usage: faultlab VERB [ARGS] [--help]\n\nverbs:\n";
  for (const auto& [name, v] : Verbs()) {
    std::cout << "  " << name << std::string(8 - name.size(), ' ') << v.summary << "\n";
  }
  std::cout << "\nOptions may come anywhere after the verb. Damaged traces make reading verbs\n"
               "exit 3 with 'FILE: offset N: problem'; --skip-damaged skips and counts instead.\n"
               "Exit codes: 0 ok, 2 usage, 3 damaged input, 4 I/O error (docs/cli.md).\n";
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
                              ? "missing FILE argument"
                              : "too many arguments");
  }
  if (verb == "synth" && !args.Has("output")) return Usage(verb, v, "missing -o FILE");
  return v.run(args);
}

}  // namespace faultlab::cli

int main(int argc, char** argv) { return faultlab::cli::Main(argc, argv); }
