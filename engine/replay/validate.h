// Validation: what a replay refuses as damaged input before any of it takes
// effect (docs/security.md). A trace is untrusted: its bytes can be well
// formed and still say what no program and no kernel could have done. Each
// check returns DATA_LOSS naming what is impossible; the replayer adds
// where (file, offset of the chunk, event).
#ifndef FAULTLAB_ENGINE_REPLAY_VALIDATE_H_
#define FAULTLAB_ENGINE_REPLAY_VALIDATE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "engine/trace/event.h"

namespace faultlab::replay {

// User memory a recorded copy may name lies below this: past every CPU's
// user VA (arm64 with 52-bit VAs included). The replay keeps its own
// scratch memory above it.
constexpr uint64_t kUserTop = 1ULL << 52;
// The most access ranges one recorded job may have (workloads use a few;
// a program's job touches at most its VM's mappings).
constexpr uint64_t kMaxJobRanges = 1 << 20;
// The most device files open at once: NR_OPEN, the kernel's hard ceiling
// on a process's descriptors.
constexpr uint64_t kMaxOpenFiles = 1 << 20;

// An ioctl event: its argument no larger than an ioctl's size field allows;
// every recorded copy inside user memory; and, when the recording says the
// call succeeded, every byte the kernel read of the arrays and strings the
// argument points at (the ioctl table's nested memory) among the recorded
// copies — a count larger than what was recorded is damage, found before
// anything is sized by it.
absl::Status ValidateIoctl(const trace::Ioctl& io);

// Virtual time a trace may reach: 2^62 ns (146 years), so that no sum of
// a time and a cost overflows.
constexpr uint64_t kMaxVirtualNs = 1ULL << 62;

// A live device's step: it runs to a time below kMaxVirtualNs, and every
// CPU write it carries lies inside the mmap offset space (below 2^64).
absl::Status ValidateGpuRun(const trace::GpuRun& run);

}  // namespace faultlab::replay

#endif  // FAULTLAB_ENGINE_REPLAY_VALIDATE_H_
