#include "server/replay/sandbox.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "proto/replay_worker.pb.h"

namespace faultlab::server {
namespace {

constexpr char kWorkerName[] = "faultlab-replay-worker";
constexpr size_t kMaxMessage = 64 << 20;  // a report is kilobytes
constexpr size_t kStderrTail = 4096;

// The worker's own resident memory in bytes (0 once it is gone): anonymous
// and shmem pages, not the file pages of the trace it maps — those are the
// page cache's, shared with the other workers and reclaimable, and a long
// trace read to its end would otherwise count whole.
uint64_t Rss(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  uint64_t kib = 0;
  for (std::string line; std::getline(status, line);) {
    uint64_t n = 0;
    for (absl::string_view field : {"RssAnon:", "RssShmem:"}) {
      if (absl::StartsWith(line, field) &&
          absl::SimpleAtoi(
              absl::StripSuffix(
                  absl::StripAsciiWhitespace(absl::string_view(line).substr(field.size())), " kB"),
              &n)) {
        kib += n;
      }
    }
  }
  return kib << 10;
}

// One Update from the front of `buf`, if whole: 1 taken, 0 not yet, -1 damaged.
int TakeUpdate(std::string* buf, worker::Update* u) {
  uint64_t len = 0;
  size_t i = 0;
  for (int shift = 0;; shift += 7, ++i) {
    if (i >= buf->size()) return 0;
    if (shift > 63) return -1;
    const uint8_t b = static_cast<uint8_t>((*buf)[i]);
    len |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) break;
  }
  if (len > kMaxMessage) return -1;
  if (buf->size() - i - 1 < len) return 0;
  if (!u->ParseFromArray(buf->data() + i + 1, static_cast<int>(len))) return -1;
  buf->erase(0, i + 1 + len);
  return 1;
}

std::string LastLine(const std::string& text) {
  std::string t = text;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  const size_t nl = t.rfind('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

}  // namespace

struct Sandbox::Child {
  pid_t pid = -1;
  int out = -1, err = -1;  // its stdout and stderr, read here
  std::string buf;         // stdout not yet parsed
  std::string err_tail;    // the last kStderrTail bytes of its stderr
  bool have_result = false;
  worker::Result result;
  std::string killed_for;  // why this side killed it, if it did
  std::string detail;
};

absl::StatusOr<std::string> Sandbox::FindWorker() {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  self[n > 0 ? n : 0] = '\0';
  const std::string dir(self);
  const std::string path = absl::StrCat(dir.substr(0, dir.rfind('/')), "/", kWorkerName);
  if (access(path.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat(path, ": not found (bazel build //server:", kWorkerName,
                                            "; it runs every replay in a process of its own)"));
  }
  return path;
}

bool Sandbox::Start(const SandboxJob& job, uint64_t cpu_seconds, Child* c, std::string* error) {
  std::vector<std::string> args = {worker_, "--mode", job.mode};
  std::vector<SandboxTrace> traces = job.calibrate_from;
  if (job.mode != "calibrate") traces = {{job.trace_path, job.bytes, job.name}};
  for (const SandboxTrace& t : traces) {
    for (const std::string& a : {std::string("--trace"), t.path, std::string("--bytes"),
                                 absl::StrCat(t.bytes), std::string("--name"), t.name}) {
      args.push_back(a);
    }
  }
  for (const std::string& kv : job.what_if) {
    args.push_back("--what-if");
    args.push_back(kv);
  }
  if (job.keep_going) args.push_back("--keep-going");
  if (!job.costs_profile.empty()) {
    for (const std::string& a : {std::string("--costs"), job.costs_profile,
                                 std::string("--costs-source"), job.costs_source}) {
      args.push_back(a);
    }
  }
  if (job.mode == "calibrate") {
    for (const std::string& a : {std::string("--base"), job.calibrate_base,
                                 std::string("--profile-id"), job.calibrate_id}) {
      args.push_back(a);
    }
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    *error = absl::StrCat("pipe: ", std::strerror(errno));
    return false;
  }
  if (pipe2(err, O_CLOEXEC) != 0) {
    *error = absl::StrCat("pipe: ", std::strerror(errno));
    close(out[0]);
    close(out[1]);
    return false;
  }
  const struct rlimit cpu = {cpu_seconds, cpu_seconds + 5};
  const struct rlimit no_core = {0, 0};
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) {
    for (int fd : {out[0], out[1], err[0], err[1]}) close(fd);
    c->killed_for = "stopped";
    return false;
  }
  c->pid = fork();
  if (c->pid == 0) {
    // The child, until exec: async-signal-safe calls only.
    const int null = open("/dev/null", O_RDONLY);
    if (null < 0 || dup2(null, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0) _exit(126);
    setrlimit(RLIMIT_CPU, &cpu);
    setrlimit(RLIMIT_CORE, &no_core);
    syscall(SYS_close_range, 3u, ~0u, 0u);  // the server's sockets stay the server's
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  if (c->pid < 0) {
    *error = absl::StrCat("fork: ", std::strerror(errno));
    close(out[0]);
    close(err[0]);
    return false;
  }
  c->out = out[0];
  c->err = err[0];
  running_.insert(c->pid);
  return true;
}

void Sandbox::Supervise(Child* c, uint64_t wall_seconds,
                        const std::function<void(uint64_t)>& on_progress,
                        const std::function<bool()>& cancelled) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wall_seconds);
  auto kill_for = [c](const std::string& why, const std::string& detail) {
    if (c->killed_for.empty()) {
      c->killed_for = why;
      c->detail = detail;
    }
    kill(c->pid, SIGKILL);
  };
  char chunk[65536];
  while (c->out >= 0 || c->err >= 0) {
    struct pollfd fds[2] = {{c->out, POLLIN, 0}, {c->err, POLLIN, 0}};
    poll(fds, 2, 50);
    for (int i = 0; i < 2; ++i) {
      int& fd = i == 0 ? c->out : c->err;
      if (fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = read(fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        close(fd);
        fd = -1;
        continue;
      }
      std::string& to = i == 0 ? c->buf : c->err_tail;
      to.append(chunk, static_cast<size_t>(n));
      if (i == 1 && to.size() > kStderrTail) to.erase(0, to.size() - kStderrTail);
    }
    worker::Update u;
    int got;
    while ((got = TakeUpdate(&c->buf, &u)) == 1) {
      if (u.has_result()) {
        c->have_result = true;
        c->result = u.result();
      } else if (on_progress) {
        on_progress(u.inputs_done());
      }
    }
    if (got < 0 || c->buf.size() > kMaxMessage + 16) kill_for("crashed", "it broke the protocol");
    if (const uint64_t rss = Rss(c->pid); rss > policy_.rss_bytes) {
      kill_for("memory_limit", absl::StrCat("it grew to ", rss >> 20, " MiB resident (limit ",
                                            policy_.rss_bytes >> 20, " MiB)"));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      kill_for("timeout", absl::StrCat("it ran past ", wall_seconds, " s"));
    }
    if (cancelled && cancelled()) kill_for("stopped", "");
  }
}

SandboxOutcome Sandbox::Finish(Child* c, uint64_t cpu_seconds) {
  int status = 0;
  while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR) {
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_.erase(c->pid);
    if (stopping_ && c->killed_for.empty() && !c->have_result) c->killed_for = "stopped";
  }
  SandboxOutcome o;
  if (c->have_result && c->killed_for.empty() && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    o.outcome = c->result.outcome();
    o.report = c->result.report();
    if (o.outcome == "error") o.error_reason = c->result.damaged() ? "damaged" : "crashed";
    std::vector<uint64_t> flat(c->result.tally().begin(), c->result.tally().end());
    if (!flat.empty()) o.tally.Unflatten(flat);
    o.stream_faults = c->result.stream_faults();
    o.profile = c->result.profile();
    return o;
  }
  o.outcome = "error";
  if (!c->killed_for.empty()) {
    o.error_reason = c->killed_for;
  } else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGXCPU) {
    o.error_reason = "cpu_limit";
    c->detail = absl::StrCat("it used its ", cpu_seconds, " s of CPU");
  } else {
    o.error_reason = "crashed";
    c->detail = WIFSIGNALED(status) ? absl::StrCat("signal ", WTERMSIG(status), " (",
                                                   strsignal(WTERMSIG(status)), ")")
                                    : absl::StrCat("exit status ", WEXITSTATUS(status));
    const std::string last = LastLine(c->err_tail);
    if (!last.empty()) absl::StrAppend(&c->detail, ": ", last);
  }
  o.report = absl::StrCat("replay worker: ", o.error_reason,
                          c->detail.empty() ? "" : absl::StrCat(": ", c->detail), "\n");
  return o;
}

SandboxOutcome Sandbox::Run(const SandboxJob& job, const std::function<void(uint64_t)>& on_progress,
                            const std::function<bool()>& cancelled) {
  const uint64_t mib = (job.bytes + (1 << 20) - 1) >> 20;
  const uint64_t cpu = std::min(policy_.cpu_max_seconds,
                                policy_.cpu_base_seconds + mib * policy_.cpu_seconds_per_mib);
  Child c;
  std::string error;
  if (!Start(job, cpu, &c, &error)) {
    SandboxOutcome o;
    o.outcome = "error";
    o.error_reason = c.killed_for.empty() ? "crashed" : c.killed_for;
    o.report = absl::StrCat("replay worker: cannot start: ", error, "\n");
    return o;
  }
  Supervise(&c, 2 * cpu, on_progress, cancelled);
  return Finish(&c, cpu);
}

void Sandbox::StopAll() {
  std::lock_guard<std::mutex> lock(mu_);
  stopping_ = true;
  for (pid_t pid : running_) kill(pid, SIGKILL);
}

}  // namespace faultlab::server
