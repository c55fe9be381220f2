#include "agents/shim/kernel_facts.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agents/shim/real.h"
#include "lib/collect/kernel_log.h"
#include "lib/collect/kprobes.h"

namespace faultlab::shim {

namespace {

using Facts = std::vector<Capture::Fact>;

std::string KernelLogFacts(const std::string& text, Facts* facts) {
  const collect::KernelLog log = collect::ParseKernelLog(text);
  // The log says the same for every errno (docs/board.md): -EFAULT.
  for (const auto& f : log.faults) facts->push_back({f.as, f.va, f.status, trace::FAULT_EFAULT});
  return absl::StrCat(log.faults.size(), " unhandled faults, ", log.lines, " lines, ",
                      log.malformed, " malformed");
}

// An unhandled fault's errno from panthor_vm_map_on_demand_locked()'s return
// (the kernel log says the same for all of them); EFAULT when not probed.
trace::FaultOutcome UnhandledOutcome(const collect::KprobeFault& f) {
  if (!f.has_ret) return trace::FAULT_EFAULT;
  switch (f.ret) {
    case -12:
      return trace::FAULT_ENOMEM;
    case -22:
      return trace::FAULT_EINVAL;
    default:
      return trace::FAULT_EFAULT;
  }
}

std::string KprobeFacts(const std::string& text, Facts* facts) {
  const collect::KprobeTrace t = collect::ParseKprobeTrace(text);
  std::map<uint64_t, uint32_t> vms;  // &vm->fault.work -> the board VM's number
  uint64_t stream = 0;
  for (const collect::KprobeFault& f : t.faults) {
    Capture::Fact fact{f.as, f.va, f.status,
                       f.unhandled ? UnhandledOutcome(f) : trace::FAULT_HANDLED};
    fact.latency_ns = f.latency_ns();
    fact.measured = true;
    if (f.has_fields) {
      ++stream;
      fact.vm = vms.emplace(f.work, static_cast<uint32_t>(vms.size() + 1)).first->second;
    }
    fact.time_ns = f.irq_ns ? f.irq_ns : f.start_ns;
    fact.work_ns = f.work_ns();
    facts->push_back(fact);
  }
  return absl::StrCat(t.faults.size(), " fault works (", stream, " with address, ", vms.size(),
                      " VMs), ", t.irqs, " irqs, ", t.malformed, " malformed, ", t.unmatched,
                      " unmatched");
}

}  // namespace

void KernelFacts::Open(bool real_kernel) {
  const char* kmsg = std::getenv("FAULTLAB_KMSG");
  if (kmsg && *kmsg) {
    kmsg_ = OpenSource(kmsg);
  } else if (real_kernel) {
    kmsg_ = OpenSource("/dev/kmsg");
  }
  const char* kprobes = std::getenv("FAULTLAB_KPROBES");
  if (kprobes && *kprobes) kprobes_ = OpenSource(kprobes);
}

KernelFacts::Source KernelFacts::OpenSource(const std::string& path) {
  Source src;
  src.path = path;
  struct stat st {};
  REAL(open);
  REAL(stat);
  if (real_stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT)
      src.error = strerror(errno);  // a log file not written yet: all of it is the run's
  } else if (S_ISCHR(st.st_mode) || absl::EndsWith(path, "/trace_pipe")) {
    // /dev/kmsg from its end; tracefs's trace_pipe emptied of what came before.
    src.fd = real_open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (src.fd < 0) {
      src.error = strerror(errno);
    } else if (S_ISCHR(st.st_mode)) {
      lseek(src.fd, 0, SEEK_END);
    } else {
      char drop[4096];
      while (read(src.fd, drop, sizeof(drop)) > 0) {
      }
    }
  } else {
    src.start = st.st_size;
  }
  return src;
}

std::string KernelFacts::ReadSource(Source& src) {
  std::string text;
  char buf[8192];
  if (src.fd >= 0) {
    for (;;) {
      const ssize_t n = read(src.fd, buf, sizeof(buf));
      if (n > 0) {
        text.append(buf, n);
      } else if (n < 0 && errno == EPIPE) {
        continue;  // records overwritten before we read them: go on
      } else {
        break;
      }
    }
    close(src.fd);
    src.fd = -1;
  } else if (src.error.empty()) {
    REAL(open);
    const int fd = real_open(src.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      lseek(fd, src.start, SEEK_SET);
      ssize_t n;
      while ((n = read(fd, buf, sizeof(buf))) > 0) text.append(buf, n);
      close(fd);
    }
  }
  return text;
}

void KernelFacts::CollectInto(Capture* capture) {
  const std::pair<Source*, std::pair<const char*, std::string (*)(const std::string&, Facts*)>>
      sources[] = {{&kmsg_, {"kernel_log", &KernelLogFacts}},
                   {&kprobes_, {"kprobes", &KprobeFacts}}};
  for (const auto& [src, how] : sources) {
    if (src->path.empty()) continue;
    Facts facts;
    const std::string summary = src->error.empty() ? how.second(ReadSource(*src), &facts)
                                                   : absl::StrCat("unreadable (", src->error, ")");
    capture->KernelFacts(absl::StrCat(how.first, ":", src->path, ": ", summary), facts);
  }
}

}  // namespace faultlab::shim
