// Applier: the stage of a replay that executes recorded inputs on the fresh
// device: each ioctl with its argument and the user memory it read placed
// in a simulated address space, files opened and closed, job submissions,
// CPU maps, the stream words and CPU writes recorded at a GROUP_SUBMIT put
// back just before it, the live device's steps, markers and state-hash
// requests. With a Rewriter
// (what-if) the recorded ids become the replay's and inputs naming objects
// whose creation failed are skipped.
#ifndef FAULTLAB_ENGINE_REPLAY_APPLY_H_
#define FAULTLAB_ENGINE_REPLAY_APPLY_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "engine/dev/device.h"
#include "engine/gpu/job.h"
#include "engine/replay/board_faults.h"
#include "engine/replay/normalise.h"
#include "engine/replay/replayer.h"
#include "engine/replay/rewrite.h"
#include "engine/trace/event.h"
#include "engine/usermem/sim_user_memory.h"

namespace faultlab::replay {

class Applier {
 public:
  // `rewrite` may be null (no what-if: ids are the recording's).
  Applier(dev::Device* device, const Normaliser* norm, Rewriter* rewrite, ReplayResult* result);

  // Executes one input; DATA_LOSS when the trace contradicts itself (an
  // ioctl on a file never opened) or is damaged (validate.h).
  absl::Status Ioctl(const trace::Ioctl& io);
  void CsSubmit(const trace::CsSubmit& cs);
  // A board replay from its recorded faults: each successful submit's first
  // job touches its attributed faults first (board_faults.h).
  void set_board_faults(const BoardFaults* faults) { board_faults_ = faults; }
  // One job: its consecutive access ranges.
  void Job(const trace::JobAccess& first, std::vector<gpu::GpuAccess> ranges);
  // DATA_LOSS past kMaxOpenFiles files open at once.
  absl::Status File(const trace::FileOp& op, bool legacy);
  void Marker(const trace::Marker& m);
  void StateHash() { device_->EmitStateHash(); }
  void CpuMap(const trace::CpuMap& m);
  // A live device's step: the CPU's writes put back, then the GPU runs to
  // the recorded time. DATA_LOSS when the step is impossible (validate.h).
  absl::Status GpuRun(const trace::GpuRun& run);

 private:
  // Maps every page a recorded copy touched, writes what was read.
  void PrepareUserMemory(const trace::Ioctl& io);
  void PutBackStreams(dev::File* file);
  // The steps of Ioctl(), for the call's row `id` of the ioctl table.
  void PaceBoardGpu(const trace::Ioctl& io, uapi::IoctlId id, dev::File* file);
  void ReserveRecordedFd(const trace::Ioctl& io, uapi::IoctlId id);
  void WithoutDeadline(uapi::IoctlId id, std::string* arg);

  dev::Device* device_;
  const Normaliser* norm_;
  const BoardFaults* board_faults_ = nullptr;
  size_t submits_ = 0;  // successful GROUP_SUBMITs of the recording so far
  Rewriter* rewrite_;
  ReplayResult* r_;
  SimUserMemory mem_;
  std::map<uint64_t, bool> mapped_;       // pages of mem_ mapped for recorded copies
  uint64_t ro_scratch_;                   // a read-only argument: reproduces a copy-out -EFAULT
  std::map<uint32_t, dev::File*> files_;  // by the trace's file id
  // Stream words recorded at a GROUP_SUBMIT, put back just before it.
  struct PendingCs {
    uint32_t group;
    uint64_t va;
    std::string words;
    std::vector<std::pair<uint64_t, std::string>>
        cpu_writes;  // the CPU's bytes the stream may load
  };
  std::vector<PendingCs> pending_cs_;
  // Board traces: the kernel's fake mmap offsets -> the twin's
  // (BO_MMAP_OFFSET), per file.
  std::map<std::pair<uint32_t, uint64_t>, uint64_t> mmap_offsets_;
};

}  // namespace faultlab::replay

#endif  // FAULTLAB_ENGINE_REPLAY_APPLY_H_
