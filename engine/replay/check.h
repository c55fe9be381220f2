// Checker: the last stage of a replay — every event the fresh device
// produces is compared, as it is produced, with the next recorded event
// (kind, virtual time, every field), rr-style. A board capture
// (Normaliser::board()) is compared on what a program sees — each ioctl's
// errno and what it returned, markers and files — by the ioctl table's board
// rule: outputs the twin cannot know (DEV_QUERY payloads, version strings,
// the platform name) are taken from the recording and counted; device-wide
// numbers (fake mmap offsets) are masked; ioctls the twin does not model
// take the recorded outcome. With the board's kernel log collected, its
// unhandled faults must be the twin's (by address).
#ifndef FAULTLAB_ENGINE_REPLAY_CHECK_H_
#define FAULTLAB_ENGINE_REPLAY_CHECK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/events/observer.h"
#include "engine/replay/normalise.h"
#include "engine/replay/replayer.h"
#include "engine/trace/reader.h"

namespace faultlab::replay {

class Checker : public events::Observer {
 public:
  // `expected` reads the recording; `compare` off (what-if, another model
  // version): events are only counted.
  Checker(trace::TraceReader* expected, const Normaliser* norm, const ReplayOptions& opts,
          ReplayResult* result, bool compare)
      : expected_(expected), norm_(norm), opts_(opts), r_(result), compare_(compare) {}

  void OnEvent(const trace::Event& got) override;
  // Whatever the recording has beyond what the replay produced; the board's
  // kernel-log faults.
  void CheckEnd();

 private:
  bool NextExpected(trace::Event* want);
  bool BoardEqual(const trace::Event& want, const trace::Event& got);
  void Diverge(uint64_t index, std::string expected, std::string got);
  // The last events produced, kept for a divergence's context: formatted
  // only if one comes (most replays never diverge), except the kinds whose
  // bytes are views into the producer's buffers, formatted at once.
  void Remember(uint64_t index, const trace::Event& e);
  std::vector<std::string> Context() const;

  trace::TraceReader* expected_;
  const Normaliser* norm_;
  const ReplayOptions& opts_;
  ReplayResult* r_;
  bool compare_;
  // Board captures: the kernel log was collected (its marker seen), and the
  // unhandled faults' addresses on each side.
  bool kernel_log_ = false;
  std::vector<uint64_t> expected_unhandled_, got_unhandled_;
  struct Seen {
    uint64_t index = 0;
    trace::Event event;  // kind, time and its member, views into `bytes`
    std::string bytes;   // an ioctl's or marker's bytes, owned
    std::string line;    // or its line, for the other kinds with views
  };
  static void KeepBytes(const trace::Event& e, Seen* s);
  std::vector<Seen> context_;  // a ring of opts_.context_events
  size_t context_next_ = 0, context_size_ = 0;
};

}  // namespace faultlab::replay

#endif  // FAULTLAB_ENGINE_REPLAY_CHECK_H_
