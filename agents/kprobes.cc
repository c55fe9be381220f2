#include "agents/kprobes.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lib/collect/btf.h"
#include "lib/collect/kprobes.h"

namespace faultlab::agent {
namespace {

constexpr char kInstance[] = "instances/faultlab";

std::string Slurp(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  *ok = static_cast<bool>(in) || !s.str().empty();
  return s.str();
}

}  // namespace

KprobeSession::KprobeSession(std::string board, std::string tracefs, std::string btf)
    : board_(std::move(board)), btf_(btf.empty() ? "/sys/kernel/btf" : std::move(btf)) {
  if (!tracefs.empty()) {
    dir_ = tracefs;
    return;
  }
  for (const char* d : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
    if (access((std::string(d) + "/kprobe_events").c_str(), F_OK) == 0) {
      dir_ = d;
      break;
    }
  }
}

void KprobeSession::Say(const std::string& line) {
  said_.push_back(line);
  std::cerr << "faultlab-agent[" << board_ << "]: kprobes: " << line << "\n";
}

bool KprobeSession::Write(const std::string& file, const std::string& line, bool append) {
  const int fd =
      open((dir_ + "/" + file).c_str(), O_WRONLY | O_CLOEXEC | (append ? O_APPEND : O_TRUNC));
  if (fd < 0) return false;
  const bool ok = write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  const int e = errno;
  close(fd);
  errno = e;
  return ok;
}

void KprobeSession::RemoveStale() {
  bool ok = false;
  const std::string events = Slurp(dir_ + "/kprobe_events", &ok);
  std::vector<std::string> stale;
  for (absl::string_view line : absl::StrSplit(events, '\n')) {
    // "p:faultlab/fault_work panthor_vm_fault_work ..."
    const size_t at = line.find(absl::StrCat(collect::kProbeGroup, "/"));
    if (at == absl::string_view::npos || at > 2) continue;
    stale.emplace_back(line.substr(at, line.find(' ') - at));
  }
  struct stat st {};
  const bool instance = stat((dir_ + "/" + kInstance).c_str(), &st) == 0;
  if (stale.empty() && !instance) return;
  // Disabled everywhere first: an enabled event cannot be removed (-EBUSY).
  Write(absl::StrCat(kInstance, "/events/", collect::kProbeGroup, "/enable"), "0", false);
  Write(absl::StrCat("events/", collect::kProbeGroup, "/enable"), "0", false);
  for (const std::string& e : stale) Write("kprobe_events", "-:" + e + "\n", true);
  if (instance) rmdir((dir_ + "/" + kInstance).c_str());
  Say(absl::StrCat("removed ", stale.size(), " probe(s)", instance ? " and the instance" : "",
                   " an earlier run left (it did not end cleanly)"));
}

std::optional<collect::FaultOffsets> KprobeSession::Offsets(const std::string& flag) {
  if (!flag.empty()) {
    absl::StatusOr<collect::FaultOffsets> o = collect::ParseFaultOffsets(flag);
    if (o.ok()) return *o;
    Say(absl::StrCat("--fault-offsets: ", o.status().message(), ": durations only"));
    return std::nullopt;
  }
  bool ok_base = false, ok_mod = false;
  std::string base = Slurp(btf_ + "/vmlinux", &ok_base);
  std::string mod = Slurp(btf_ + "/panthor", &ok_mod);
  if (!ok_base || !ok_mod) {
    Say(absl::StrCat(
        "no BTF for the panthor module (", btf_, "/panthor: a kernel without ",
        "CONFIG_DEBUG_INFO_BTF_MODULES?): each fault's duration is measured, not its "
        "address; --fault-offsets status=N,addr=N,as_id=N gives them (docs/board.md)"));
    return std::nullopt;
  }
  auto vmlinux = collect::Btf::Parse(std::move(base), btf_ + "/vmlinux");
  absl::StatusOr<std::unique_ptr<collect::Btf>> panthor =
      vmlinux.ok() ? collect::Btf::Parse(std::move(mod), btf_ + "/panthor", vmlinux->get())
                   : vmlinux.status();
  absl::StatusOr<collect::FaultOffsets> o =
      panthor.ok() ? collect::PanthorFaultOffsets(**panthor) : panthor.status();
  if (!o.ok()) {
    Say(absl::StrCat(o.status().message(), ": durations only"));
    return std::nullopt;
  }
  return *o;
}

std::string KprobeSession::Start(const std::string& fault_offsets) {
  if (geteuid() != 0 && dir_.find("/sys/") == 0) {
    Say("not root: fault latencies are not measured");
    return "";
  }
  if (dir_.empty()) {
    Say("no tracefs (mount -t tracefs nodev /sys/kernel/tracing): fault latencies are not "
        "measured");
    return "";
  }
  RemoveStale();
  const std::optional<collect::FaultOffsets> offsets = Offsets(fault_offsets);
  for (const collect::ProbeDef& p : collect::FaultProbes(offsets ? &*offsets : nullptr)) {
    if (Write("kprobe_events", p.line + "\n", true)) {
      added_.push_back(p.event);
    } else if (p.required) {
      Say(absl::StrCat("cannot probe '", p.line, "' (", std::strerror(errno),
                       "): no panthor module, or a kernel without the series; fault latencies "
                       "are not measured"));
      Stop();
      return "";
    } else {
      Say(absl::StrCat("no ", p.event, " (", std::strerror(errno),
                       "; inlined by this kernel's build?): an unhandled fault's errno is not "
                       "told apart"));
    }
  }
  if (mkdir((dir_ + "/" + kInstance).c_str(), 0755) != 0 && errno != EEXIST) {
    Say(absl::StrCat("cannot make a tracefs instance (", std::strerror(errno), ")"));
    Stop();
    return "";
  }
  instance_ = true;
  if (!Write(absl::StrCat(kInstance, "/trace_clock"), "mono", false)) {
    Say("cannot set trace_clock mono: the faults' times are not placed in the capture");
  }
  if (!Write(absl::StrCat(kInstance, "/events/", collect::kProbeGroup, "/enable"), "1", false)) {
    Say(absl::StrCat("cannot enable the probes (", std::strerror(errno), ")"));
    Stop();
    return "";
  }
  if (offsets) {
    Say(absl::StrCat("the fault stream: ", added_.size(), " probes, offsets ",
                     collect::FormatFaultOffsets(*offsets)));
  } else {
    Say(absl::StrCat(added_.size(), " probes, durations only"));
  }
  return absl::StrCat(dir_, "/", kInstance, "/trace_pipe");
}

void KprobeSession::Stop() {
  if (added_.empty() && !instance_) return;
  Write(absl::StrCat(kInstance, "/events/", collect::kProbeGroup, "/enable"), "0", false);
  for (auto it = added_.rbegin(); it != added_.rend(); ++it) {
    Write("kprobe_events", "-:" + *it + "\n", true);
  }
  added_.clear();
  if (instance_) rmdir((dir_ + "/" + kInstance).c_str());
  instance_ = false;
}

}  // namespace faultlab::agent
