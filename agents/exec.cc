#include "agents/exec.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "agents/kprobes.h"
#include "engine/trace/reader.h"
#include "engine/uapi/drm.h"
#include "lib/mesa/mesa.h"

namespace faultlab::agent {
namespace {

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
    uapi::DrmVersion v{};
    v.name_len = sizeof(driver) - 1;
    v.name = reinterpret_cast<uint64_t>(driver);
    found = ioctl(fd, uapi::kDrmIoctlVersion, &v) == 0 && std::string(driver) == "panthor";
    close(fd);
  }
  closedir(d);
  return found;
}

// The shim beside the agent binary: shim/libfaultlab_shim.so in Bazel's
// tree, ../lib/faultlab/libfaultlab_shim.so where a package installed it
// (/usr/bin/faultlab-agent, /usr/lib/faultlab/).
std::string DefaultShim() {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  self[n > 0 ? n : 0] = '\0';
  const std::string exe(self), dir = exe.substr(0, exe.rfind('/'));
  const std::string built = dir + "/shim/libfaultlab_shim.so";
  const std::string installed = dir + "/../lib/faultlab/libfaultlab_shim.so";
  return access(built.c_str(), R_OK) != 0 && access(installed.c_str(), R_OK) == 0 ? installed
                                                                                  : built;
}

// The program's environment: this process's, then the shim's settings
// (unless `unrecorded`: as it would run without the agent), then the
// program's own (a Mesa workload's). Made before fork(): the child of a
// process with threads may only exec.
std::vector<std::string> ProgramEnvironment(const Command& c, const std::string& shim,
                                            const std::string& part,
                                            const std::string& kprobe_source, bool unrecorded) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    const size_t eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  auto set = [&env](const std::string& k, const std::string& v) {
    if (!v.empty()) env[k] = v;
  };
  if (!unrecorded) {
    const AgentOptions& o = c.agent;
    const std::string pre = env.count("LD_PRELOAD") ? env["LD_PRELOAD"] : "";
    set("LD_PRELOAD", pre.empty() ? shim : shim + ":" + pre);
    set("FAULTLAB_SHIM", c.real ? "passthrough" : "emulate");
    set("FAULTLAB_BACKEND", c.backend);
    set("FAULTLAB_KMSG", c.kmsg);
    set("FAULTLAB_KPROBES", kprobe_source);
    set("FAULTLAB_TRACE", part);
    set("FAULTLAB_BOARD", o.board);
    set("FAULTLAB_WORKLOAD", c.workload);
    set("FAULTLAB_PROFILE", o.profile);
    set("FAULTLAB_VARIANT", o.variant);
    set("FAULTLAB_POLICY", o.policy);
    set("FAULTLAB_BUDGET", o.budget);
    set("FAULTLAB_PROFILE_DIR", c.profile_dir);
    set("FAULTLAB_AOF", c.aof);
    set("FAULTLAB_AOF_GRANULARITY", c.aof_granularity);
  }
  for (const auto& [k, v] : c.env) set(k, v);
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

// In the child: exec, with the signals the agent blocks unblocked (nothing
// here allocates).
[[noreturn]] void ExecChild(char* const* argv, char* const* envp, const std::string& cannot,
                            int stdout_fd) {
  sigset_t none;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, nullptr);
  if (stdout_fd >= 0) dup2(stdout_fd, 1);
  execvpe(argv[0], argv, envp);
  (void)!write(2, cannot.data(), cannot.size());
  _exit(127);
}

// Pointers to `strings`' texts, null-terminated, for exec.
std::vector<char*> Pointers(const std::vector<std::string>& strings) {
  std::vector<char*> p;
  for (const std::string& s : strings) p.push_back(const_cast<char*>(s.c_str()));
  p.push_back(nullptr);
  return p;
}

// The program's trace, if whole, committed to the spool under its id.
ProgramRun SpoolTrace(const Command& c, Spool* spool, const std::string& part, int status) {
  const std::string who = absl::StrCat("faultlab-agent[", c.agent.board, "]: ", c.program[0]);
  auto src = trace::FileSource::Open(part);
  if (!src.ok()) {
    std::cerr << who << " did not use the GPU device: nothing recorded (exit status " << status
              << ")\n";
    return {status, false};
  }
  trace::TraceReader reader(src->get(), part);
  uint64_t events = 0;
  trace::Event e;
  absl::Status s = reader.Open();
  while (s.ok() && reader.Next(&e)) ++events;
  if (s.ok()) s = reader.status();
  if (!s.ok() || !reader.complete()) {
    spool->Discard(part);
    std::cerr << who << " ended before its trace was whole ("
              << (s.ok() ? "no final chunk" : std::string(s.message()))
              << "): nothing recorded (exit status " << status << ")\n";
    return {status, false};
  }
  if (absl::Status cs =
          spool->CommitAs(part, absl::BytesToHexString(reader.header().trace_id()), events);
      !cs.ok()) {
    std::cerr << "faultlab-agent[" << c.agent.board << "]: " << cs.message() << "\n";
    return {status ? status : 4, false};
  }
  std::cerr << who << " exited with " << status << "; recorded " << events << " events\n";
  return {status, true, events};
}

}  // namespace

ProgramRun RunProgram(const Command& c, Spool* spool) {
  const std::string shim = c.shim.empty() ? DefaultShim() : c.shim;
  if (access(shim.c_str(), R_OK) != 0) {
    std::cerr << "faultlab-agent: --shim " << shim
              << ": not found (bazel build //agents/shim:libfaultlab_shim.so)\n";
    return {2, false};
  }
  // No panthor device and no loopback kernel: nothing to record; the
  // program still runs, as it would without the agent.
  const bool unrecorded = c.real && c.backend.empty() && !HasPanthorDevice();
  if (unrecorded) {
    std::cerr << "faultlab-agent[" << c.agent.board
              << "]: no panthor device on this machine (no node under /dev/dri "
              << "answers DRM_IOCTL_VERSION with \"panthor\"); " << c.program[0]
              << " runs unrecorded\n";
  }
  const std::string part = spool->NewPart("exec");
  KprobeSession kprobes(c.agent.board);
  std::string kprobe_source = c.kprobes;
  if (!unrecorded && kprobe_source == "auto") kprobe_source = kprobes.Start(c.fault_offsets);
  const std::vector<std::string> environment =
      ProgramEnvironment(c, shim, part, kprobe_source, unrecorded);
  const std::vector<char*> argv = Pointers(c.program), envp = Pointers(environment);
  const std::string cannot =
      absl::StrCat("faultlab-agent: cannot run ", c.program[0], ": exec failed\n");
  // A scheduled program's output is not the agent's to print.
  const int quiet = c.workload.empty() ? -1 : open("/dev/null", O_WRONLY | O_CLOEXEC);
  const pid_t child = fork();
  if (child == 0) ExecChild(argv.data(), envp.data(), cannot, quiet);
  const int fork_errno = errno;
  if (quiet >= 0) close(quiet);
  if (child < 0) {
    std::cerr << "faultlab-agent: cannot start " << c.program[0]
              << ": fork: " << std::strerror(fork_errno) << "\n";
    kprobes.Stop();
    spool->Discard(part);
    return {4, false};
  }
  int wstatus = 0;
  while (waitpid(child, &wstatus, 0) < 0 && errno == EINTR) {
  }
  const int status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  kprobes.Stop();
  if (unrecorded) {
    spool->Discard(part);
    std::cerr << "faultlab-agent[" << c.agent.board << "]: " << c.program[0] << " exited with "
              << status << " (unrecorded)\n";
    return {status, false};
  }
  return SpoolTrace(c, spool, part, status);
}

absl::StatusOr<uint64_t> RunWorkloadProgram(const Command& c, const std::string& workload,
                                            Spool* spool) {
  const mesa::Workload* w = mesa::FindWorkload(workload);
  if (w == nullptr)
    return absl::InvalidArgumentError(absl::StrCat("unknown workload '", workload, "'"));
  absl::StatusOr<mesa::Cache> cache = mesa::OpenCache(c.mesa_dir);
  if (!cache.ok()) return cache.status();
  const mesa::Invocation inv = mesa::Invoke(*cache, *w, c.agent.frames);
  Command run = c;
  run.program = inv.argv;
  run.env = inv.env;
  run.workload = workload;
  const ProgramRun r = RunProgram(run, spool);
  if (!r.spooled) {
    return absl::UnavailableError(absl::StrCat(
        workload, " (", w->program, ") recorded no whole trace; exit status ", r.exit_status));
  }
  return r.events;
}

}  // namespace faultlab::agent
