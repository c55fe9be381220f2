// Normaliser: the first stage of a replay — what each recorded event means
// to a replay by this build, before anything runs:
//  - inputs (what the program did: ioctls, file opens and closes, job
//    submissions, CPU maps, streams, markers, state-hash requests) are
//    executed; outputs (faults, allocation failures, heap grows, oopses) are
//    what the twin must produce again;
//  - file opens and closes recorded before FileEvent existed are the
//    markers "open:<file>:primary|render" and "close:<file>": read as file
//    inputs, and the device then tells them the same old way (legacy());
//  - board captures (capture_source board, docs/board.md) hold only what a
//    program sees: the twin's own events are not compared, waits that ran
//    out of host time on the board are taken from the recording, and from
//    driver 1.7 on BO_CREATE's flag bit 1 is WB_MMAP, not the series'
//    alloc-on-fault: replayed on a variant of the series (which has no
//    WB_MMAP), it is cleared in what the twin runs and in what it is
//    compared with; the `mainline` variant runs it as it is.
//
//   Normaliser n(header, config.variant);
//   if (n.RoleOf(e) == Role::kInput) ...
#ifndef FAULTLAB_ENGINE_REPLAY_NORMALISE_H_
#define FAULTLAB_ENGINE_REPLAY_NORMALISE_H_

#include <cstdint>
#include <string>

#include "engine/base/variant.h"
#include "engine/trace/event.h"
#include "proto/trace.pb.h"

namespace faultlab::replay {

class Normaliser {
 public:
  // `variant`: the kernel the replay runs on.
  Normaliser(const trace::TraceHeader& header, Variant variant);

  enum class Role {
    kInput,               // executed by the replay
    kOutput,              // produced by the twin, compared (or counted)
    kTakenFromRecording,  // an input whose outcome the recording supplies: not run
  };
  Role RoleOf(const trace::Event& e) const;

  bool board() const { return board_; }
  // The replay's device models `request` (has a handler at its variant's
  // driver version); board replays take the others' outcome as recorded.
  bool Models(uint32_t request) const;
  // Board replays compare only what a program sees: ioctls, markers, files.
  bool Observable(trace::EventKind kind) const;

  // A legacy file marker ("open:N:..." / "close:N") as the file op it
  // records; false for any other event.
  static bool LegacyFileOp(const trace::Event& e, trace::FileOp* op);

  // The argument a recorded ioctl is replayed with (WB_MMAP cleared).
  void NormaliseArgIn(uint32_t request, std::string* arg) const;
  // The recorded argument as returned, as the twin's is compared with it;
  // true when it was changed (a WB_MMAP BO: counted as not modelled).
  bool NormaliseArgOut(uint32_t request, std::string* arg_out) const;

 private:
  bool board_ = false;
  Variant variant_;
  // From driver 1.7, BO_CREATE's flag bit 1 is WB_MMAP (spec 2.3), and the
  // replay's variant reads it as ALLOC_ON_FAULT.
  bool wb_mmap_ = false;
};

}  // namespace faultlab::replay

#endif  // FAULTLAB_ENGINE_REPLAY_NORMALISE_H_
