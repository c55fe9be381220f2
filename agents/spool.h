// Spool: the agent's bounded on-disk queue of recorded traces (docs/agent.md).
//
// A run is recorded into `NNNNNNNN-ID.fltrace.part`, fsynced, then renamed
// to `NNNNNNNN-ID.fltrace` (and the directory fsynced): a `.fltrace` in the
// spool is a whole trace, and only then is it reported as recorded (ledger
// line `recorded`). Traces leave the spool only once the server has
// acknowledged every chunk (ledger line `uploaded`), or, if the server
// refuses them for good, into `rejected/`. Nothing recorded is ever dropped.
// A `.part` left by a crash was never reported: it is removed at Open.
#ifndef FAULTLAB_AGENTS_SPOOL_H_
#define FAULTLAB_AGENTS_SPOOL_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace faultlab::agent {

class Spool {
 public:
  // Creates DIR (and DIR/rejected) if missing; `max_bytes` bounds what is
  // held (a trace being recorded may go past it once: see Full()).
  static absl::StatusOr<std::unique_ptr<Spool>> Open(const std::string& dir, uint64_t max_bytes);

  // Where to record the next trace (a .part path).
  std::string NewPart(const std::string& trace_id_hex);
  // The .part is whole and fsynced: make it a spooled trace, and log it.
  absl::Status Commit(const std::string& part, const std::string& trace_id_hex, uint64_t events);
  // Like Commit, for a .part named before its trace id was known (--exec):
  // it becomes NNNNNNNN-ID.fltrace.
  absl::Status CommitAs(const std::string& part, const std::string& trace_id_hex, uint64_t events);
  // Removes an unfinished .part (a failed recording).
  void Discard(const std::string& part);

  // The oldest spooled trace, if any.
  std::optional<std::string> Oldest() const;
  // The server has it all: remove it (or move it to `archive_dir` when not
  // empty), and log it.
  absl::Status Uploaded(const std::string& path, const std::string& archive_dir);
  // The server refused it for good: move it to rejected/ and log why.
  absl::Status Rejected(const std::string& path, const std::string& why);

  bool Full() const;
  uint64_t bytes() const;
  uint64_t traces() const;
  uint64_t max_bytes() const { return max_bytes_; }
  const std::string& dir() const { return dir_; }

 private:
  Spool(std::string dir, uint64_t max_bytes) : dir_(std::move(dir)), max_bytes_(max_bytes) {}
  absl::Status Log(const std::string& line);

  std::string dir_;
  uint64_t max_bytes_;
  mutable std::mutex mu_;
  std::vector<std::pair<std::string, uint64_t>> queue_;  // path, bytes; oldest first
  uint64_t bytes_ = 0;
  uint64_t next_seq_ = 1;
};

// "ab12…" -> the id in the name of a spooled trace.
std::string TraceIdOfPath(const std::string& path);

}  // namespace faultlab::agent

#endif  // FAULTLAB_AGENTS_SPOOL_H_
