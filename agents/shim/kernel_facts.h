// KernelFacts: what the kernel says that a userspace recorder cannot see
// (docs/board.md "What the kernel says"): the kernel log's unhandled faults
// (FAULTLAB_KMSG, /dev/kmsg on a real kernel) and the fault work's kprobe
// brackets (FAULTLAB_KPROBES: trace_pipe or captured text). Each source is
// opened at the capture's start and read at its end: what was written there
// during the run is the run's.
#ifndef FAULTLAB_AGENTS_SHIM_KERNEL_FACTS_H_
#define FAULTLAB_AGENTS_SHIM_KERNEL_FACTS_H_

#include <sys/types.h>

#include <string>

#include "agents/shim/capture.h"

namespace faultlab::shim {

class KernelFacts {
 public:
  // Opens the sources the environment names (the kernel log by default on
  // a real kernel).
  void Open(bool real_kernel);
  // Reads what the run wrote and adds it to `capture`, after a marker per
  // source naming it and what was found.
  void CollectInto(Capture* capture);

 private:
  struct Source {
    std::string path;
    int fd = -1;      // /dev/kmsg or trace_pipe: read from where it stood at the start
    off_t start = 0;  // a file: from its size at the start
    std::string error;
  };
  static Source OpenSource(const std::string& path);
  static std::string ReadSource(Source& src);

  Source kmsg_, kprobes_;
};

}  // namespace faultlab::shim

#endif  // FAULTLAB_AGENTS_SHIM_KERNEL_FACTS_H_
