// faultlab-agent: one board's daemon — runs a schedule of workloads on the
// twin, records each run into a bounded on-disk spool, and streams the
// spool to a faultlab-server, surviving its outages (docs/agent.md).
//
//   faultlab-agent --board NAME [--server HOST:PORT] [--token T] [--spool-dir DIR]
//                  [--workloads W,...] [--runs N] [--http-addr HOST:PORT] ...
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <sys/wait.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>
#include <iostream>
#include <map>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agents/agent.h"
#include "engine/replay/recorder.h"
#include "engine/uapi/drm.h"
#include "engine/trace/reader.h"
#include "lib/args/args.h"
#include "engine/workload/workload.h"
#include "lib/http/http.h"

namespace {

constexpr char kUsage[] =
    "usage: faultlab-agent --board NAME [options]\n"
    "Runs workloads on the emulated GPU, records each run into a spool, uploads the spool.\n"
    "  --board NAME            this board's name (the series label on the server)\n"
    "  --server HOST:PORT      faultlab-server (default 127.0.0.1:7400)\n"
    "  --token T               agent token, when the server has --tokens\n"
    "  --tls-ca FILE           the server uses TLS signed by this CA (--tls: the system's CAs)\n"
    "  --profile ID            board profile (default g610; see 'faultlab profiles')\n"
    "  --variant V             series-fixed (default) or series-v3\n"
    "  --policy P              noretry (default), nowait, pool:N, dummy-page\n"
    "  --budget SIZE           GPU memory budget (default the profile's RAM)\n"
    "  --pressure              memory pressure on for every workload\n"
    "  --workloads W,...       the schedule, run in turn (default compute)\n"
    "  --frames N              frames per run (default each workload's own)\n"
    "  --runs N                stop after N runs, once all are uploaded (default: run until stopped)\n"
    "  --interval-ms MS        pause between runs (default 1000)\n"
    "  --seed S                run i uses seed S + i - 1 (default 1)\n"
    "  --spool-dir DIR         where runs wait for upload (default ~/.local/state/faultlab/spool-BOARD)\n"
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
    "                          passthrough capture records the program's real ioctls (docs/board.md);\n"
    "                          with no panthor device here the program runs unrecorded, saying so\n"
    "  --backend unix:PATH     with --device real: a faultlab-loopback kernel instead of /dev/dri\n"
    "  --kmsg FILE             with --device real: the kernel log to collect unhandled faults from\n"
    "                          (default /dev/kmsg when readable; the loopback kernel's --kmsg file)\n"
    "  --kprobes auto|FILE     with --device real: measured fault latencies from kprobes on\n"
    "                          panthor_vm_fault_work; auto (as root, with tracefs and a kernel that\n"
    "                          has the series) sets them up for the run; FILE: trace_pipe text\n"
    "                          captured during the run (docs/board.md)\n"
    "  --shim PATH             the shim for --exec (default: shim/libfaultlab_shim.so beside the agent)\n";

// `--kprobes auto`: the fault-work brackets (docs/board.md) for the length of
// one run. Returns the trace_pipe to read, or "" having said why not.
class Kprobes {
 public:
  std::string Start(const std::string& board) {
    for (const char* d : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
      if (access((std::string(d) + "/kprobe_events").c_str(), F_OK) == 0) dir_ = d;
      if (!dir_.empty()) break;
    }
    auto no = [&](const std::string& why) {
      std::cerr << "faultlab-agent[" << board << "]: kprobes: " << why << "; fault latencies are not measured\n";
      Stop();
      return std::string();
    };
    if (geteuid() != 0) return no("not root");
    if (dir_.empty()) return no("no tracefs (mount -t tracefs nodev /sys/kernel/tracing)");
    for (const char* probe : {"p:faultlab/fault_work panthor_vm_fault_work",
                              "r:faultlab/fault_work_ret panthor_vm_fault_work",
                              "p:faultlab/mmu_irq panthor_mmu_irq_handler"}) {
      if (!Write("kprobe_events", probe, true)) {
        return no(absl::StrCat("cannot probe '", probe, "' (", std::strerror(errno),
                               "): no panthor module, or a kernel without the series"));
      }
      added_ = true;
    }
    if (!Write("events/faultlab/enable", "1", false)) return no(std::string("cannot enable: ") + std::strerror(errno));
    return dir_ + "/trace_pipe";
  }
  void Stop() {
    if (!added_) return;
    Write("events/faultlab/enable", "0", false);
    for (const char* probe : {"-:faultlab/fault_work", "-:faultlab/fault_work_ret", "-:faultlab/mmu_irq"}) {
      Write("kprobe_events", probe, true);
    }
    added_ = false;
  }

 private:
  bool Write(const std::string& file, const std::string& line, bool append) {
    const int fd = open((dir_ + "/" + file).c_str(), O_WRONLY | O_CLOEXEC | (append ? O_APPEND : O_TRUNC));
    if (fd < 0) return false;
    const bool ok = write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    const int e = errno;
    close(fd);
    errno = e;
    return ok;
  }
  std::string dir_;
  bool added_ = false;
};

// A node under /dev/dri that says "panthor" to DRM_IOCTL_VERSION.
bool HasPanthorDevice() {
  DIR* d = opendir("/dev/dri");
  if (!d) return false;
  bool found = false;
  while (struct dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (found || (name.rfind("card", 0) != 0 && name.rfind("renderD", 0) != 0)) continue;
    const int fd = open(("/dev/dri/" + name).c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) continue;
    char driver[32] = {};
    faultlab::uapi::DrmVersion v{};
    v.name_len = sizeof(driver) - 1;
    v.name = reinterpret_cast<uint64_t>(driver);
    found = ioctl(fd, faultlab::uapi::kDrmIoctlVersion, &v) == 0 && std::string(driver) == "panthor";
    close(fd);
  }
  closedir(d);
  return found;
}

constexpr const char* kValued[] = {
    "board", "server", "token", "tls-ca", "profile", "variant", "policy", "budget", "workloads",
    "frames", "runs", "interval-ms", "seed", "spool-dir", "spool-max-bytes", "archive-dir",
    "drain-timeout", "http-addr", "config", "device", "fault-cost-permille", "thp", "label", "shim",
    "backend", "kmsg", "kprobes"};
constexpr const char* kSwitches[] = {"pressure", "tls", "exec"};

sigset_t g_signals;

}  // namespace

int main(int argc, char** argv) {
  sigemptyset(&g_signals);
  sigaddset(&g_signals, SIGINT);
  sigaddset(&g_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &g_signals, nullptr);  // before any thread starts

  faultlab::args::Args args;
  for (const char* f : kValued) args.Declare(f, true);
  for (const char* f : kSwitches) args.Declare(f, false);
  args.Declare("help", false, 'h');
  if (absl::Status s = args.Parse(argc - 1, argv + 1); !s.ok()) {
    std::cerr << "faultlab-agent: " << s.message() << "\n" << kUsage;
    return 2;
  }
  if (args.Has("help")) {
    std::cout << kUsage;
    return 0;
  }
  // The config file fills in what the flags leave out.
  std::map<std::string, std::string> config;
  if (args.Has("config")) {
    std::ifstream in(args.Get("config"));
    if (!in) {
      std::cerr << "faultlab-agent: --config " << args.Get("config") << ": cannot read\n";
      return 2;
    }
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      std::string l(absl::StripAsciiWhitespace(line.substr(0, line.find('#'))));
      if (l.empty()) continue;
      std::vector<std::string> kv = absl::StrSplit(l, absl::MaxSplits('=', 1));
      std::string key(absl::StripAsciiWhitespace(kv[0]));
      bool known = false;
      for (const char* f : kValued) known = known || key == f;
      for (const char* f : kSwitches) known = known || key == f;
      if (kv.size() != 2 || !known || key == "config") {
        std::cerr << "faultlab-agent: " << args.Get("config") << ":" << n << ": expected 'key = value' with "
                  << "a key of faultlab-agent --help, got '" << l << "'\n";
        return 2;
      }
      config[key] = std::string(absl::StripAsciiWhitespace(kv[1]));
    }
  }
  auto has = [&](const std::string& k) { return args.Has(k) || config.count(k); };
  auto get = [&](const std::string& k, const std::string& fallback = "") {
    if (args.Has(k)) return args.Get(k);
    auto it = config.find(k);
    return it != config.end() ? it->second : fallback;
  };
  auto get_uint = [&](const std::string& k, uint64_t fallback, uint64_t* out) {
    *out = fallback;
    if (!has(k)) return true;
    if (absl::SimpleAtoi(get(k), out)) return true;
    std::cerr << "faultlab-agent: --" << k << " '" << get(k) << "': not a number\n" << kUsage;
    return false;
  };
  if (has("exec") && args.positional().empty()) {
    std::cerr << "faultlab-agent: --exec needs a program: --exec -- PROGRAM [ARGS]\n";
    return 2;
  }
  const std::string device = get("device", "emulated");
  if (device != "emulated" && device != "real") {
    std::cerr << "faultlab-agent: --device '" << device << "': emulated or real\n";
    return 2;
  }
  const bool real = device == "real";
  if (!real && (has("backend") || has("kmsg") || has("kprobes"))) {
    std::cerr << "faultlab-agent: --backend, --kmsg and --kprobes go with --device real\n";
    return 2;
  }
  if (real && !has("exec")) {
    std::cerr << "faultlab-agent: --device real records a program: --exec -- PROGRAM [ARGS]\n";
    return 2;
  }
  if (has("backend") && !absl::StartsWith(get("backend"), "unix:")) {
    std::cerr << "faultlab-agent: --backend '" << get("backend") << "': expected unix:PATH\n";
    return 2;
  }
  if (!has("board") || get("board").empty()) {
    std::cerr << "faultlab-agent: missing --board NAME\n" << kUsage;
    return 2;
  }
  faultlab::agent::AgentOptions o;
  o.board = get("board");
  o.server = get("server", "127.0.0.1:7400");
  o.token = get("token");
  o.profile = get("profile", o.profile);
  o.variant = get("variant", o.variant);
  o.policy = get("policy", o.policy);
  o.budget = get("budget");
  o.thp = get("thp", o.thp);
  o.pressure = has("pressure") && get("pressure", "true") != "false";
  o.archive_dir = get("archive-dir");
  o.workloads = absl::StrSplit(get("workloads", "compute"), ',', absl::SkipEmpty());
  std::vector<std::string> labels = args.GetAll("label");
  if (labels.empty() && config.count("label")) labels = absl::StrSplit(config["label"], ',', absl::SkipEmpty());
  for (const std::string& kv : labels) {
    std::vector<std::string> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
    if (p.size() != 2 || p[0].empty() || p[0].find_first_not_of(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != std::string::npos) {
      std::cerr << "faultlab-agent: --label '" << kv << "': expected KEY=VALUE (KEY of letters, digits, _-.)\n";
      return 2;
    }
    o.labels.push_back({p[0], p[1]});
  }
  uint64_t frames, cost, max_bytes, drain;
  if (!get_uint("frames", 0, &frames) || !get_uint("runs", 0, &o.runs) ||
      !get_uint("interval-ms", 1000, &o.interval_ms) || !get_uint("seed", 1, &o.seed) ||
      !get_uint("spool-max-bytes", 256ULL << 20, &max_bytes) || !get_uint("drain-timeout", 0, &drain) ||
      !get_uint("fault-cost-permille", 1000, &cost)) {
    return 2;
  }
  o.frames = static_cast<uint32_t>(frames);
  o.fault_cost_permille = static_cast<uint32_t>(cost);
  if (o.workloads.empty()) {
    std::cerr << "faultlab-agent: --workloads is empty\n";
    return 2;
  }
  // Every workload and the configuration must build a device before anything runs.
  absl::StatusOr<faultlab::replay::WhatIf> settings = faultlab::agent::Settings(o);
  if (!settings.ok()) {
    std::cerr << "faultlab-agent: " << settings.status().message() << "\n";
    return 2;
  }
  for (const std::string& w : o.workloads) {
    absl::StatusOr<faultlab::dev::DeviceConfig> c = faultlab::replay::RecordingConfig(w, *settings, o.pressure);
    if (!c.ok()) {
      std::cerr << "faultlab-agent: " << c.status().message() << "\n";
      return 2;
    }
  }
  std::string spool_dir = get("spool-dir");
  if (spool_dir.empty()) {
    const char* state = std::getenv("XDG_STATE_HOME");
    const char* home = std::getenv("HOME");
    spool_dir = state ? absl::StrCat(state, "/faultlab/spool-", o.board)
                      : absl::StrCat(home ? home : "/tmp", "/.local/state/faultlab/spool-", o.board);
  }
  auto spool = faultlab::agent::Spool::Open(spool_dir, max_bytes);
  if (!spool.ok()) {
    std::cerr << "faultlab-agent: spool: " << spool.status().message() << "\n";
    return 4;
  }
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (has("tls-ca") || has("tls")) {
    grpc::SslCredentialsOptions ssl;
    if (has("tls-ca")) {
      std::ifstream in(get("tls-ca"));
      std::stringstream pem;
      pem << in.rdbuf();
      if (!in || pem.str().empty()) {
        std::cerr << "faultlab-agent: --tls-ca " << get("tls-ca") << ": cannot read the CA certificate\n";
        return 2;
      }
      ssl.pem_root_certs = pem.str();
    }
    creds = grpc::SslCredentials(ssl);
  }
  // Reconnect about as fast as the agent's own backoff (gRPC's default waits
  // up to 2 minutes between attempts after an outage).
  grpc::ChannelArguments channel_args;
  channel_args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  channel_args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  channel_args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  o.record = !has("exec");
  faultlab::agent::Agent agent(o, grpc::CreateCustomChannel(o.server, creds, channel_args), spool->get());
  std::unique_ptr<faultlab::http::Server> http;
  if (has("http-addr")) {
    auto h = faultlab::http::Server::Start(
        get("http-addr"), [&agent] { return agent.Scrape(); }, [&agent] { return agent.Health(); });
    if (!h.ok()) {
      std::cerr << "faultlab-agent: " << h.status().message() << "\n";
      return 4;
    }
    http = std::move(*h);
  }
  std::cerr << "faultlab-agent[" << o.board << "]: " << o.profile << "/" << o.variant << "/" << o.policy << ", "
            << (has("exec") ? absl::StrCat("running ", args.positional()[0],
                                           !real ? " on the twin (--exec)"
                                           : has("backend") ? " on the loopback kernel at " + get("backend").substr(5)
                                                            : " on this board's kernel (--device real)")
                            : absl::StrCat("workloads ", get("workloads", "compute"), ", ",
                                           o.runs ? absl::StrCat(o.runs, " run(s)") : std::string("until stopped")))
            << "; server "
            << o.server << "; spool " << spool_dir << " (" << (*spool)->traces() << " trace(s) waiting)"
            << (http ? absl::StrCat("; metrics on port ", http->port()) : std::string()) << "\n";
  // --exec: run the program once under the shim, then upload its trace.
  int program_status = 0;
  if (has("exec")) {
    std::string shim = get("shim");
    if (shim.empty()) {
      char self[4096];
      const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
      self[n > 0 ? n : 0] = '\0';
      std::string dir(self);
      shim = dir.substr(0, dir.rfind('/')) + "/shim/libfaultlab_shim.so";
    }
    if (access(shim.c_str(), R_OK) != 0) {
      std::cerr << "faultlab-agent: --shim " << shim << ": not found (bazel build //agents/shim:libfaultlab_shim.so)\n";
      return 2;
    }
    const std::vector<std::string>& prog = args.positional();
    // No panthor device and no loopback kernel: nothing to record; the
    // program still runs, as it would without the agent.
    const bool unrecorded = real && !has("backend") && !HasPanthorDevice();
    if (unrecorded) {
      std::cerr << "faultlab-agent[" << o.board << "]: no panthor device on this machine (no node under /dev/dri "
                << "answers DRM_IOCTL_VERSION with \"panthor\"); " << prog[0] << " runs unrecorded\n";
    }
    const std::string part = (*spool)->NewPart("exec");
    Kprobes kprobes;
    std::string kprobe_source = get("kprobes");
    if (!unrecorded && kprobe_source == "auto") kprobe_source = kprobes.Start(o.board);
    const pid_t child = fork();
    if (child == 0) {
      sigset_t none;
      sigemptyset(&none);
      pthread_sigmask(SIG_SETMASK, &none, nullptr);
      // Unrecorded (no device here): as it would run without the agent.
      if (!unrecorded) {
        const char* pre = std::getenv("LD_PRELOAD");
        setenv("LD_PRELOAD", (pre && *pre ? shim + ":" + pre : shim).c_str(), 1);
        setenv("FAULTLAB_SHIM", real ? "passthrough" : "emulate", 1);
        if (has("backend")) setenv("FAULTLAB_BACKEND", get("backend").c_str(), 1);
        if (has("kmsg")) setenv("FAULTLAB_KMSG", get("kmsg").c_str(), 1);
        if (!kprobe_source.empty()) setenv("FAULTLAB_KPROBES", kprobe_source.c_str(), 1);
        setenv("FAULTLAB_TRACE", part.c_str(), 1);
        setenv("FAULTLAB_BOARD", o.board.c_str(), 1);
        setenv("FAULTLAB_PROFILE", o.profile.c_str(), 1);
        setenv("FAULTLAB_VARIANT", o.variant.c_str(), 1);
        setenv("FAULTLAB_POLICY", o.policy.c_str(), 1);
        if (!o.budget.empty()) setenv("FAULTLAB_BUDGET", o.budget.c_str(), 1);
      }
      std::vector<char*> argv2;
      for (const std::string& a : prog) argv2.push_back(const_cast<char*>(a.c_str()));
      argv2.push_back(nullptr);
      execvp(argv2[0], argv2.data());
      std::cerr << "faultlab-agent: cannot run " << prog[0] << ": " << std::strerror(errno) << "\n";
      _exit(127);
    }
    int wstatus = 0;
    while (waitpid(child, &wstatus, 0) < 0 && errno == EINTR) {
    }
    program_status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    kprobes.Stop();
    // What it recorded: a whole trace, named by its id in the spool.
    auto src = faultlab::trace::FileSource::Open(part);
    if (unrecorded) {
      (*spool)->Discard(part);
      std::cerr << "faultlab-agent[" << o.board << "]: " << prog[0] << " exited with " << program_status
                << " (unrecorded)\n";
      return program_status;
    }
    if (!src.ok()) {
      std::cerr << "faultlab-agent[" << o.board << "]: " << prog[0]
                << " did not use the GPU device: nothing recorded (exit status " << program_status << ")\n";
      return program_status;
    }
    faultlab::trace::TraceReader reader(src->get(), part);
    uint64_t events = 0;
    faultlab::trace::Event e;
    absl::Status s = reader.Open();
    while (s.ok() && reader.Next(&e)) ++events;
    if (s.ok()) s = reader.status();
    if (!s.ok() || !reader.complete()) {
      (*spool)->Discard(part);
      std::cerr << "faultlab-agent[" << o.board << "]: " << prog[0] << " ended before its trace was whole ("
                << (s.ok() ? "no final chunk" : std::string(s.message())) << "): nothing recorded (exit status "
                << program_status << ")\n";
      return program_status;
    }
    if (absl::Status c = (*spool)->CommitAs(part, absl::BytesToHexString(reader.header().trace_id()), events);
        !c.ok()) {
      std::cerr << "faultlab-agent[" << o.board << "]: " << c.message() << "\n";
      return program_status ? program_status : 4;
    }
    std::cerr << "faultlab-agent[" << o.board << "]: " << prog[0] << " exited with " << program_status
              << "; recorded " << events << " events\n";
  }
  agent.Start();
  if (has("exec")) {
    // Wait for the acknowledgement (or give up and leave it spooled).
    const bool drained = agent.WaitDrained(std::chrono::milliseconds(drain ? drain * 1000 : 10000));
    agent.Stop();
    if (drained) {
      std::cerr << "faultlab-agent[" << o.board << "]: trace uploaded to " << o.server << "\n";
    } else {
      std::cerr << "faultlab-agent[" << o.board << "]: " << o.server << " did not take the trace; it stays spooled in "
                << spool_dir << " for the next agent run\n";
    }
    return program_status;
  }

  // A signal stops everything; with --runs, so does the spool draining.
  std::atomic<int> signalled{0};
  std::atomic<bool> done{false};
  std::thread waiter([&] {
    const timespec tick = {0, 200 * 1000 * 1000};
    while (!done) {
      const int sig = sigtimedwait(&g_signals, nullptr, &tick);
      if (sig > 0) {
        signalled = sig;
        agent.Stop();
        return;
      }
    }
  });
  int rc = 0;
  if (o.runs > 0) {
    const bool drained = agent.WaitDrained(std::chrono::milliseconds(drain * 1000));
    if (signalled == 0 && !drained) {
      std::cerr << "faultlab-agent[" << o.board << "]: --drain-timeout: " << (*spool)->traces()
                << " trace(s) still in " << spool_dir << "; the next start uploads them\n";
      rc = 4;
    } else if (signalled == 0) {
      std::cerr << "faultlab-agent[" << o.board << "]: " << o.runs << " run(s) recorded and uploaded\n";
    }
  } else {
    agent.WaitDrained(std::chrono::milliseconds(0));  // returns on Stop()
  }
  agent.Stop();
  done = true;
  waiter.join();
  if (signalled != 0) {
    std::cerr << "faultlab-agent[" << o.board << "]: signal " << signalled.load() << ", stopping; "
              << (*spool)->traces() << " trace(s) stay in " << spool_dir << "\n";
  }
  return rc;
}
