// faultlab: the one CLI of the lab (DESIGN "Services and commands"). This
// file is the table of verbs and the dispatch; the verbs live in
// trace_verbs.cc, twin_verbs.cc and remote.cc; exit codes in exit.h.
#include <cstring>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "cli/exit.h"
#include "cli/remote.h"
#include "cli/verbs.h"
#include "engine/profiles/profile.h"

namespace faultlab::cli {
namespace {

struct Verb {
  const char* name;
  const char* summary;
  const char* usage;
  int positionals;                 // exactly this many; -1: any number
  const char* missing_positional;  // what too few is called
  std::vector<std::pair<const char*, const char*>>
      required;  // a flag, and what its absence is called
  void (*declare)(Args&);
  int (*run)(const Args&);
};

// Every verb: its name, help, positional arguments and required flags, its
// flags, and what runs it. `faultlab help` lists them in this order.
const Verb kVerbs[] = {
    {"backfill",
     "record seeded runs on the twin and upload them, optionally with a regression injected",
     "faultlab backfill [--server HOST:PORT] [--token T] [--runs N] [--boards A,B] "
     "[--workloads W,...] [--variants V,...] [--policies P,...] [--profile P] [--frames F] "
     "[--seed S] [--regress-from K [--regress-permille P] [--regress-board B]]\n"
     "  N runs (default 8) for every series board x workload x variant x policy (defaults\n"
     "  lab-01,lab-02 x compute,game x series-fixed,series-v3 x noretry), F frames each\n"
     "  (default 2). --regress-from K makes runs K.. of one board (default the first) record\n"
     "  a fault path P per mille as costly (default 1300). Trace ids follow from the\n"
     "  arguments, so a repeated backfill stores nothing twice",
     0,
     "missing FILE argument",
     {},
     [](Args& a) {
       DeclareRemote(a);
       for (const char* f :
            {"runs", "boards", "workloads", "variants", "policies", "profile", "frames", "seed",
             "regress-from", "regress-permille", "regress-board"}) {
         a.Declare(f, true);
       }
     },
     RunBackfill},
    {"board-log",
     "decode a board's kernel-side facts: unhandled GPU faults, fault-work latencies",
     "faultlab board-log [--kmsg FILE] [--kprobes FILE]\n"
     "  --kmsg FILE     dmesg output or /dev/kmsg records: panthor's 'Unhandled Page fault' "
     "reports\n"
     "  --kprobes FILE  tracefs trace_pipe text of the kprobes in docs/board.md: handled-fault\n"
     "                  durations (panthor_vm_fault_work entry to return) and MMU IRQs",
     0,
     "missing FILE argument",
     {},
     [](Args& a) {
       a.Declare("kmsg", true);
       a.Declare("kprobes", true);
     },
     RunBoardLog},
    {"calibrate",
     "fit a profile's fault-path costs to the latencies board traces measured",
     "faultlab calibrate TRACE... -o ID.profile [--profile P] [--profile-dir DIR]\n"
     "  TRACE: board captures with a fault stream (faultlab-agent --device real --kprobes).\n"
     "  Replays each on the twin for what each fault did, fits flush, page_alloc,\n"
     "  metadata_alloc, pte_update and workqueue_delay where the faults separate them (the\n"
     "  rest kept from P, default the traces' profile), prints the fit and the\n"
     "  Kolmogorov-Smirnov distance of measured and replayed latencies before and after,\n"
     "  and writes the profile (docs/cost-model.md \"Calibration\")",
     -1,
     "missing TRACE argument",
     {{"output", "missing -o ID.profile"}},
     [](Args& a) {
       a.Declare("output", true, 'o');
       a.Declare("profile", true);
       a.Declare("profile-dir", true);
     },
     RunCalibrate},
    {"compare",
     "compare two runs, or two groups of runs, on a faultlab-server (B against baseline A)",
     "faultlab compare A B [--server HOST:PORT] [--token T]\n"
     "  A and B: a trace id prefix, or a group 'board=X,workload=Y,variant=V,policy=P,last=N'\n"
     "  (any subset; last=N: the newest N runs). Exit 1 when B regressed against A",
     2,
     "needs A and B",
     {},
     [](Args& a) { DeclareRemote(a); },
     RunCompare},
    {"diff",
     "replay two traces and show their reports side by side",
     "faultlab diff A B [--html OUT.html]\n"
     "  --html: a page comparing the two (configuration, latency histogram and CDF overlaid,\n"
     "  timelines, reports side by side)",
     2,
     "needs two trace files",
     {},
     [](Args& a) {
       a.Declare("skip-damaged", false);
       a.Declare("html", true);
     },
     RunDiff},
    {"dump",
     "print a trace's header and events, one line each",
     "faultlab dump FILE [--limit N] [--streams] [--skip-damaged]\n"
     "  --streams: after each submitted command stream, its instructions disassembled\n"
     "             (v10 names, Mesa's pandecode style), one line each",
     1,
     "missing FILE argument",
     {},
     [](Args& a) {
       a.Declare("limit", true);
       a.Declare("streams", false);
       a.Declare("skip-damaged", false);
     },
     RunDump},
    {"profiles",
     "list the board profiles (built in, or from --profile-dir)",
     "faultlab profiles [ID...] [--profile-dir DIR]",
     -1,
     "missing FILE argument",
     {},
     [](Args& a) { a.Declare("profile-dir", true); },
     RunProfiles},
    {"record",
     "run a workload on the twin and record its trace",
     "faultlab record --workload W -o FILE [--frames N] [--seed S] [--profile P] "
     "[--variant series-fixed|series-v3|mainline] [--policy noretry|nowait|pool:N|dummy-page] "
     "[--budget SIZE] [--thp never|within_size] [--pressure] [--board NAME] "
     "[--fault-cost-permille N] [--profile-dir DIR]\n"
     "  --profile-dir DIR        profiles looked up there first (a calibrated board's,\n"
     "                           'faultlab calibrate'); the trace carries the one it used\n"
     "  --fault-cost-permille N  scale the fault path's modelled costs (1000 = the profile's;\n"
     "                           1300 = a kernel whose fault handling is 30% slower)",
     0,
     "missing FILE argument",
     {{"output", "missing -o FILE"}, {"workload", "missing --workload W"}},
     [](Args& a) {
       for (const char* f : {"workload", "frames", "seed", "profile", "variant", "policy", "budget",
                             "thp", "board", "fault-cost-permille", "profile-dir"}) {
         a.Declare(f, true);
       }
       a.Declare("output", true, 'o');
       a.Declare("pressure", false);
     },
     RunRecord},
    {"replay",
     "replay a trace on a fresh twin and check every output (or what-if)",
     "faultlab replay FILE [--what-if KEY=VALUE ...] [--what-if-mode open|rerun] [--json] "
     "[--keep-going] [--timing] [--skip-damaged] [--profile-dir DIR] [--board-faults "
     "recorded|model]\n"
     "       faultlab replay ID --server HOST:PORT [--token T] [--what-if KEY=V1[,V2...] ...]\n"
     "  what-if keys: profile, variant, policy, budget, granularity, thp, aof (BOs made\n"
     "  alloc-on-fault: all, heap, size>=2M, label=TEXT), aof_granularity; 'open' replays the\n"
     "  recorded inputs (ids remapped, dependents of failed creations skipped), 'rerun'\n"
     "  re-runs the recorded workload (docs/record-replay.md). A board trace with a fault\n"
     "  stream replays its GPU work from the recorded faults (--board-faults model: from the\n"
     "  twin's footprints instead; docs/board.md). With --server, ID is a prefix\n"
     "  of a stored trace's id and the server replays it: several values per key make a\n"
     "  matrix (every combination, at most 64 cells), with progress; results are stored",
     1,
     "missing FILE argument",
     {},
     [](Args& a) {
       DeclareRemote(a);
       a.Declare("what-if", true);
       a.Declare("what-if-mode", true);
       a.Declare("json", false);
       a.Declare("keep-going", false);
       a.Declare("timing", false);
       a.Declare("skip-damaged", false);
       a.Declare("profile-dir", true);
       a.Declare("board-faults", true);
     },
     RunReplay},
    {"report",
     "a trace's report: a local FILE's, or the server's of ID (unique prefix); --html for a page",
     "faultlab report FILE [--html OUT.html]\n"
     "       faultlab report ID [--server HOST:PORT] [--token T] [--html OUT.html]\n"
     "  FILE: replay a local trace and print its report, or write its HTML page (plots of the\n"
     "  latency distribution, faults over time, per frame; docs/reports.md). ID: a unique prefix\n"
     "  of a trace id on the server, whose report (or page) the server gives",
     1,
     "missing FILE argument",
     {},
     [](Args& a) {
       DeclareRemote(a);
       a.Declare("html", true);
     },
     RunReport},
    {"runs",
     "list a faultlab-server's runs with their measured latencies and regression verdicts",
     "faultlab runs [--server HOST:PORT] [--token T] [--board B] [--gpu G] [--workload W] "
     "[--variant V] [--policy P] [--limit N]\n"
     "  a run is one complete trace; its verdict compares its recorded fault latencies with\n"
     "  the previous runs of its series (docs/regressions.md); '*' marks the run where the\n"
     "  series' level shifted; --limit N shows the newest N",
     0,
     "missing FILE argument",
     {},
     [](Args& a) {
       DeclareRemote(a);
       for (const char* f : {"board", "gpu", "workload", "variant", "policy", "limit"}) {
         a.Declare(f, true);
       }
     },
     RunRuns},
    {"stat",
     "print a trace's header and summary statistics",
     "faultlab stat FILE [--skip-damaged]",
     1,
     "missing FILE argument",
     {},
     [](Args& a) { a.Declare("skip-damaged", false); },
     RunStat},
    {"synth",
     "write a synthetic trace (test data, not produced by the model)",
     "faultlab synth -o FILE [--mix fault-heavy|access-heavy|ioctl-heavy|all-kinds] "
     "[--events N] [--seed S]",
     0,
     "missing FILE argument",
     {{"output", "missing -o FILE"}},
     [](Args& a) {
       a.Declare("output", true, 'o');
       a.Declare("mix", true);
       a.Declare("events", true);
       a.Declare("seed", true);
     },
     RunSynth},
    {"traces",
     "list the traces a faultlab-server holds, with their replay outcomes",
     "faultlab traces [--server HOST:PORT] [--token T] [--board B] [--workload W] "
     "[--variant V] [--policy P]",
     0,
     "missing FILE argument",
     {},
     [](Args& a) {
       DeclareRemote(a);
       for (const char* f : {"board", "workload", "variant", "policy"}) a.Declare(f, true);
     },
     RunTraces},
    {"upload",
     "send a trace to a faultlab-server; resumes where an earlier upload stopped",
     "faultlab upload FILE [--server HOST:PORT] [--token T] [--tls-ca FILE]\n"
     "  --server defaults to 127.0.0.1:7400; the trace is stored once every chunk is\n"
     "  acknowledged (durable on the server); run it again to resume after a failure.\n"
     "  --tls-ca FILE: the server uses TLS signed by this CA (--tls: the system's CAs)",
     1,
     "missing FILE argument",
     {},
     [](Args& a) { DeclareRemote(a); },
     RunUpload},
    {"workloads",
     "list the workloads 'record' can run",
     "faultlab workloads",
     0,
     "missing FILE argument",
     {},
     [](Args&) {},
     RunWorkloads},
};

const Verb* FindVerb(const std::string& name) {
  for (const Verb& v : kVerbs) {
    if (name == v.name) return &v;
  }
  return nullptr;
}

int Usage(const Verb& v, const std::string& problem) {
  std::cerr << "faultlab " << v.name << ": " << problem << "\nusage: " << v.usage
            << "\n(see 'faultlab help " << v.name << "')\n";
  return kExitUsage;
}

void PrintHelp() {
  std::cout << "faultlab - trace-replay and performance lab for GPU memory allocated on fault\n\n"
               "usage: faultlab VERB [ARGS] [--help]\n\nverbs:\n";
  for (const Verb& v : kVerbs) std::cout << "  " << PadTo(v.name, 11) << v.summary << "\n";
  std::cout
      << "\nOptions may come anywhere after the verb. Damaged traces make reading verbs\n"
         "exit 3 with 'FILE: offset N: problem'; --skip-damaged skips and counts instead.\n"
         "Exit codes: 0 ok, 1 ran and found a problem (a divergence, a conflict, a regression,\n"
         "nothing there yet), 2 usage, 3 damaged input, 4 I/O error (docs/cli.md).\n";
}

int UnknownVerb(const std::string& name) {
  std::cerr << "faultlab: unknown verb '" << name << "' (try 'faultlab help')\n";
  return kExitUsage;
}

}  // namespace

int Main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    PrintHelp();
    return argc < 2 ? kExitUsage : kExitOk;
  }
  if (std::strcmp(argv[1], "help") == 0) {
    if (argc < 3) {
      PrintHelp();
      return kExitOk;
    }
    const Verb* v = FindVerb(argv[2]);
    if (v == nullptr) return UnknownVerb(argv[2]);
    std::cout << v->summary << "\nusage: " << v->usage << "\n";
    return kExitOk;
  }
  const Verb* v = FindVerb(argv[1]);
  if (v == nullptr) return UnknownVerb(argv[1]);
  Args args;
  args.Declare("help", false, 'h');
  v->declare(args);
  if (absl::Status s = args.Parse(argc - 2, argv + 2); !s.ok())
    return Usage(*v, std::string(s.message()));
  if (args.Has("help")) {
    std::cout << v->summary << "\nusage: " << v->usage << "\n";
    return kExitOk;
  }
  const size_t given = args.positional().size();
  if (v->positionals >= 0 && given != static_cast<size_t>(v->positionals)) {
    return Usage(*v, given < static_cast<size_t>(v->positionals) ? v->missing_positional
                                                                 : "too many arguments");
  }
  for (const auto& [flag, missing] : v->required) {
    if (!args.Has(flag)) return Usage(*v, missing);
  }
  // Profiles by id (--profile, what-if profile=) are looked up here first.
  if (args.Has("profile-dir")) profiles::SetProfileDir(args.Get("profile-dir"));
  return v->run(args);
}

}  // namespace faultlab::cli

int main(int argc, char** argv) { return faultlab::cli::Main(argc, argv); }
