#include "agents/command.h"

#include <fstream>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "engine/profiles/profile.h"
#include "engine/replay/recorder.h"
#include "engine/replay/rewrite.h"
#include "lib/args/args.h"
#include "lib/collect/btf.h"
#include "lib/mesa/mesa.h"

namespace faultlab::agent {

const char kUsage[] =
    "usage: faultlab-agent --board NAME [options]\n"
    "Runs workloads on the emulated GPU, records each run into a spool, uploads the spool.\n"
    "  --board NAME            this board's name (the series label on the server)\n"
    "  --server HOST:PORT      faultlab-server (default 127.0.0.1:7400)\n"
    "  --token T               agent token, when the server has --tokens\n"
    "  --tls-ca FILE           the server uses TLS signed by this CA (--tls: the system's CAs)\n"
    "  --profile ID            board profile (default g610; see 'faultlab profiles')\n"
    "  --profile-dir DIR       profiles looked up there first (a calibrated board's,\n"
    "                          'faultlab calibrate'); the traces carry the one they used\n"
    "  --variant V             series-fixed (default) or series-v3\n"
    "  --policy P              noretry (default), nowait, pool:N, dummy-page\n"
    "  --budget SIZE           GPU memory budget (default the profile's RAM)\n"
    "  --pressure              memory pressure on for every workload\n"
    "  --workloads W,...       the schedule, run in turn (default compute; 'faultlab workloads'\n"
    "                          lists them): the twin's own, and where ./lab mesa built Mesa,\n"
    "                          mesa-gles, mesa-vk and mesa-vk-compute (real Mesa programs run\n"
    "                          under the device shim on the twin; --frames sets their frames)\n"
    "  --mesa-dir DIR          ./lab mesa's cache (default $FAULTLAB_CACHE/mesa-25.0.7, else\n"
    "                          ~/.cache/faultlab/mesa-25.0.7)\n"
    "  --aof SELECTOR          programs (mesa-* workloads, --exec) get the BOs it selects\n"
    "                          allocated on fault, as if they asked: all, heap, size>=N (terms\n"
    "                          joined by +; docs/mesa.md) — on the twin, or with --device real\n"
    "                          on a kernel with the series; a model of a Mesa that does, said\n"
    "                          in each trace's header (program_aof)\n"
    "  --aof-granularity G     their granule (default 4K; halved until it divides the BO)\n"
    "  --frames N              frames per run (default each workload's own)\n"
    "  --runs N                stop after N runs, once all are uploaded (default: run until "
    "stopped)\n"
    "  --interval-ms MS        pause between runs (default 1000)\n"
    "  --seed S                run i uses seed S + i - 1 (default 1)\n"
    "  --spool-dir DIR         where runs wait for upload (default "
    "~/.local/state/faultlab/spool-BOARD)\n"
    "  --spool-max-bytes N     spool bound; when full, recording pauses (default 256 MiB)\n"
    "  --archive-dir DIR       keep uploaded traces here instead of deleting them\n"
    "  --drain-timeout S       with --runs: give up waiting for uploads after S seconds (exit 4)\n"
    "  --http-addr HOST:PORT   serve the agent's own /metrics and /healthz (off by default)\n"
    "  --label KEY=VALUE       free-form identity (rack, owner, ...) written into every trace\n"
    "                          header as label.KEY; repeatable (in --config: label = K=V,K2=V2)\n"
    "  --config FILE           'key = value' lines with any of these options; flags win\n"
    "  --exec -- PROGRAM ARGS  run PROGRAM once under the device shim, record its use of the GPU,\n"
    "                          upload it (or spool it, saying so), exit with PROGRAM's status\n"
    "  --device emulated|real  with --exec: the twin (default), or the board's kernel: the shim's\n"
    "                          passthrough capture records the program's real ioctls "
    "(docs/board.md);\n"
    "                          with no panthor device here the program runs unrecorded, saying so\n"
    "  --backend unix:PATH     with --device real: a faultlab-loopback kernel instead of /dev/dri\n"
    "  --kmsg FILE             with --device real: the kernel log to collect unhandled faults "
    "from\n"
    "                          (default /dev/kmsg when readable; the loopback kernel's --kmsg "
    "file)\n"
    "  --kprobes auto|FILE     with --device real: the GPU fault stream from kprobes on\n"
    "                          panthor_vm_fault_work — each fault's AS, VA, status, outcome and\n"
    "                          measured latency; auto (as root, with tracefs and a kernel that\n"
    "                          has the series) sets them up for the run, reading the offsets\n"
    "                          from the panthor module's BTF; FILE: trace_pipe text captured\n"
    "                          during the run (docs/board.md)\n"
    "  --fault-offsets status=N,addr=N,as_id=N\n"
    "                          with --kprobes auto: struct panthor_vm's fault.status, fault.addr\n"
    "                          and as.id as byte offsets from fault.work, instead of BTF's\n"
    "  --shim PATH             the shim for --exec (default: shim/libfaultlab_shim.so beside the\n"
    "                          agent, or ../lib/faultlab/ from it where a package installed it)\n";

namespace {

constexpr const char* kValued[] = {"board",         "server",        "token",
                                   "tls-ca",        "profile",       "variant",
                                   "policy",        "budget",        "workloads",
                                   "frames",        "runs",          "interval-ms",
                                   "seed",          "spool-dir",     "spool-max-bytes",
                                   "archive-dir",   "drain-timeout", "http-addr",
                                   "config",        "device",        "fault-cost-permille",
                                   "thp",           "label",         "shim",
                                   "backend",       "kmsg",          "kprobes",
                                   "mesa-dir",      "aof",           "aof-granularity",
                                   "fault-offsets", "profile-dir"};
constexpr const char* kSwitches[] = {"pressure", "tls", "exec"};

bool Known(const std::string& key) {
  for (const char* f : kValued) {
    if (key == f) return true;
  }
  for (const char* f : kSwitches) {
    if (key == f) return true;
  }
  return false;
}

absl::Status Usage(const std::string& problem) { return absl::InvalidArgumentError(problem); }

// The flags, then the config file for what they leave out.
class Flags {
 public:
  absl::Status Load(int argc, char** argv) {
    for (const char* f : kValued) args_.Declare(f, true);
    for (const char* f : kSwitches) args_.Declare(f, false);
    args_.Declare("help", false, 'h');
    if (absl::Status s = args_.Parse(argc - 1, argv + 1); !s.ok()) return s;
    return args_.Has("config") ? ReadConfig(args_.Get("config")) : absl::OkStatus();
  }
  const args::Args& args() const { return args_; }
  bool Has(const std::string& k) const { return args_.Has(k) || config_.count(k); }
  std::string Get(const std::string& k, const std::string& fallback = "") const {
    if (args_.Has(k)) return args_.Get(k);
    auto it = config_.find(k);
    return it != config_.end() ? it->second : fallback;
  }
  absl::Status GetUint(const std::string& k, uint64_t fallback, uint64_t* out) const {
    *out = fallback;
    if (!Has(k) || absl::SimpleAtoi(Get(k), out)) return absl::OkStatus();
    return Usage(absl::StrCat("--", k, " '", Get(k), "': not a number"));
  }
  // --label KEY=VALUE (repeatable), or the config's `label = K=V,K2=V2`.
  std::vector<std::string> Labels() const {
    std::vector<std::string> labels = args_.GetAll("label");
    if (labels.empty() && config_.count("label")) {
      labels = absl::StrSplit(config_.at("label"), ',', absl::SkipEmpty());
    }
    return labels;
  }

 private:
  absl::Status ReadConfig(const std::string& path) {
    std::ifstream in(path);
    if (!in) return Usage(absl::StrCat("--config ", path, ": cannot read"));
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      std::string l(absl::StripAsciiWhitespace(line.substr(0, line.find('#'))));
      if (l.empty()) continue;
      std::vector<std::string> kv = absl::StrSplit(l, absl::MaxSplits('=', 1));
      std::string key(absl::StripAsciiWhitespace(kv[0]));
      if (kv.size() != 2 || !Known(key) || key == "config") {
        return Usage(absl::StrCat(
            path, ":", n, ": expected 'key = value' with a key of faultlab-agent --help, got '", l,
            "'"));
      }
      config_[key] = std::string(absl::StripAsciiWhitespace(kv[1]));
    }
    return absl::OkStatus();
  }

  args::Args args_;
  std::map<std::string, std::string> config_;
};

// --exec, --device and their companions.
absl::Status ExecPart(const Flags& s, Command* c) {
  c->exec = s.Has("exec");
  c->program = s.args().positional();
  if (c->exec && c->program.empty())
    return Usage("--exec needs a program: --exec -- PROGRAM [ARGS]");
  const std::string device = s.Get("device", "emulated");
  if (device != "emulated" && device != "real")
    return Usage(absl::StrCat("--device '", device, "': emulated or real"));
  c->real = device == "real";
  if (!c->real &&
      (s.Has("backend") || s.Has("kmsg") || s.Has("kprobes") || s.Has("fault-offsets"))) {
    return Usage("--backend, --kmsg, --kprobes and --fault-offsets go with --device real");
  }
  if (c->real && !c->exec)
    return Usage("--device real records a program: --exec -- PROGRAM [ARGS]");
  c->backend = s.Get("backend");
  if (s.Has("backend") && !absl::StartsWith(c->backend, "unix:")) {
    return Usage(absl::StrCat("--backend '", c->backend, "': expected unix:PATH"));
  }
  c->kmsg = s.Get("kmsg");
  c->kprobes = s.Get("kprobes");
  c->fault_offsets = s.Get("fault-offsets");
  if (!c->fault_offsets.empty()) {
    if (c->kprobes != "auto") return Usage("--fault-offsets goes with --kprobes auto");
    if (absl::StatusOr<collect::FaultOffsets> o = collect::ParseFaultOffsets(c->fault_offsets);
        !o.ok()) {
      return Usage(absl::StrCat("--fault-offsets: ", o.status().message()));
    }
  }
  c->shim = s.Get("shim");
  c->mesa_dir = s.Get("mesa-dir");
  return absl::OkStatus();
}

// --aof: for programs the twin runs, checked as the shim will apply it.
absl::Status AofPart(const Flags& s, Command* c) {
  c->aof = s.Get("aof");
  c->aof_granularity = s.Get("aof-granularity");
  if (c->aof.empty()) {
    return c->aof_granularity.empty() ? absl::OkStatus()
                                      : Usage("--aof-granularity goes with --aof SELECTOR");
  }
  bool programs = c->exec;
  for (const std::string& w : c->agent.workloads) programs |= mesa::FindWorkload(w) != nullptr;
  if (!programs) {
    return Usage(
        "--aof applies to programs (--exec, mesa-* workloads); the twin's own workloads make "
        "their own alloc-on-fault BOs");
  }
  // The shim's rule (it checks FAULTLAB_AOF again as the program starts; on
  // a real kernel, whether it has the series).
  const Variant variant = c->real ? Variant::kSeriesFixed
                                  : ParseVariant(c->agent.variant).value_or(Variant::kSeriesFixed);
  absl::StatusOr<replay::ProgramAof> aof =
      replay::ParseProgramAof(c->aof, c->aof_granularity, variant);
  return aof.ok() ? absl::OkStatus() : Usage(absl::StrCat("--aof: ", aof.status().message()));
}

// What the agent records, and how often.
absl::Status AgentPart(const Flags& s, AgentOptions* o) {
  if (!s.Has("board") || s.Get("board").empty()) return Usage("missing --board NAME");
  o->board = s.Get("board");
  o->server = s.Get("server", "127.0.0.1:7400");
  o->token = s.Get("token");
  o->profile = s.Get("profile", o->profile);
  o->variant = s.Get("variant", o->variant);
  o->policy = s.Get("policy", o->policy);
  o->budget = s.Get("budget");
  o->thp = s.Get("thp", o->thp);
  o->pressure = s.Has("pressure") && s.Get("pressure", "true") != "false";
  o->archive_dir = s.Get("archive-dir");
  o->workloads = absl::StrSplit(s.Get("workloads", "compute"), ',', absl::SkipEmpty());
  if (o->workloads.empty()) return Usage("--workloads is empty");
  for (const std::string& kv : s.Labels()) {
    std::vector<std::string> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
    if (p.size() != 2 || p[0].empty() ||
        p[0].find_first_not_of(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") !=
            std::string::npos) {
      return Usage(
          absl::StrCat("--label '", kv, "': expected KEY=VALUE (KEY of letters, digits, _-.)"));
    }
    o->labels.push_back({p[0], p[1]});
  }
  uint64_t frames, cost;
  for (absl::Status st :
       {s.GetUint("frames", 0, &frames), s.GetUint("runs", 0, &o->runs),
        s.GetUint("interval-ms", 1000, &o->interval_ms), s.GetUint("seed", 1, &o->seed),
        s.GetUint("fault-cost-permille", 1000, &cost)}) {
    if (!st.ok()) return st;
  }
  o->frames = static_cast<uint32_t>(frames);
  o->fault_cost_permille = static_cast<uint32_t>(cost);
  // Every workload and the configuration must build a device before anything runs.
  absl::StatusOr<replay::WhatIf> settings = Settings(*o);
  if (!settings.ok()) return Usage(std::string(settings.status().message()));
  for (const std::string& w : o->workloads) {
    if (mesa::FindWorkload(w) != nullptr) continue;  // MesaPart
    absl::StatusOr<dev::DeviceConfig> cfg = replay::RecordingConfig(w, *settings, o->pressure);
    if (!cfg.ok()) {
      return Usage(absl::StrCat(cfg.status().message(),
                                " (see 'faultlab workloads': the twin's, and mesa-*)"));
    }
  }
  return absl::OkStatus();
}

// Mesa workloads in the schedule: Mesa must be built where the agent looks.
absl::Status MesaPart(const Command& c) {
  for (const std::string& w : c.agent.workloads) {
    if (mesa::FindWorkload(w) == nullptr) continue;
    if (c.exec) return Usage(absl::StrCat("--workloads ", w, ": a schedule, not with --exec"));
    absl::StatusOr<mesa::Cache> cache = mesa::OpenCache(c.mesa_dir);
    if (!cache.ok()) return Usage(absl::StrCat("--workloads ", w, ": ", cache.status().message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Command> ParseCommand(int argc, char** argv) {
  Flags s;
  if (absl::Status st = s.Load(argc, argv); !st.ok()) return Usage(std::string(st.message()));
  Command c;
  if (s.args().Has("help")) {
    c.help = true;
    return c;
  }
  // Profiles by id are looked up there first (set before --profile is checked).
  c.profile_dir = s.Get("profile-dir");
  if (!c.profile_dir.empty()) profiles::SetProfileDir(c.profile_dir);
  if (absl::Status st = ExecPart(s, &c); !st.ok()) return st;
  if (absl::Status st = AgentPart(s, &c.agent); !st.ok()) return st;
  if (absl::Status st = MesaPart(c); !st.ok()) return st;
  if (absl::Status st = AofPart(s, &c); !st.ok()) return st;
  c.agent.record = !c.exec;
  for (absl::Status st : {s.GetUint("spool-max-bytes", 256ULL << 20, &c.spool_max_bytes),
                          s.GetUint("drain-timeout", 0, &c.drain_timeout_s)}) {
    if (!st.ok()) return st;
  }
  c.spool_dir = s.Get("spool-dir");
  if (c.spool_dir.empty()) {
    const char* state = std::getenv("XDG_STATE_HOME");
    const char* home = std::getenv("HOME");
    c.spool_dir =
        state ? absl::StrCat(state, "/faultlab/spool-", c.agent.board)
              : absl::StrCat(home ? home : "/tmp", "/.local/state/faultlab/spool-", c.agent.board);
  }
  c.http_addr = s.Get("http-addr");
  c.tls = s.Has("tls") || s.Has("tls-ca");
  c.tls_ca = s.Get("tls-ca");
  return c;
}

}  // namespace faultlab::agent
