// faultlab-agent --kprobes auto (docs/board.md "The fault stream"): the
// fault stream's kprobes for the length of one run, in a tracefs instance
// of our own (its own trace_pipe, trace_clock mono so that its times are
// the capture's CLOCK_MONOTONIC), the fetch offsets from the panthor
// module's BTF (or --fault-offsets). What it cannot do it says on stderr
// and goes on with less (durations only, or nothing): a capture never fails
// for want of its kprobes. Probes a crashed earlier run left are removed
// first.
#ifndef FAULTLAB_AGENTS_KPROBES_H_
#define FAULTLAB_AGENTS_KPROBES_H_

#include <optional>
#include <string>
#include <vector>

#include "lib/collect/btf.h"

namespace faultlab::agent {

class KprobeSession {
 public:
  // `tracefs`/`btf`: where tracefs and /sys/kernel/btf are ("": the
  // system's); `fault_offsets`: --fault-offsets (already checked) or "".
  KprobeSession(std::string board, std::string tracefs = "", std::string btf = "");
  ~KprobeSession() { Stop(); }

  // Sets the probes up; the trace_pipe to read for the run, or "" having
  // said why there is none.
  std::string Start(const std::string& fault_offsets);
  // Disables and removes what Start() added (also run by the destructor).
  void Stop();

  // What the session said (also on stderr), for tests.
  const std::vector<std::string>& said() const { return said_; }

 private:
  void Say(const std::string& line);
  bool Write(const std::string& file, const std::string& line, bool append);
  // Probes of ours in kprobe_events, and our instance, from a run that
  // did not end cleanly.
  void RemoveStale();
  // The offsets to fetch the fault's fields at: --fault-offsets, else BTF's;
  // none (said why) without either.
  std::optional<collect::FaultOffsets> Offsets(const std::string& flag);

  std::string board_, dir_, btf_;
  std::vector<std::string> added_;  // event names (faultlab/NAME), in order
  bool instance_ = false;
  std::vector<std::string> said_;
};

}  // namespace faultlab::agent

#endif  // FAULTLAB_AGENTS_KPROBES_H_
