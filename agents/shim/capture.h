// Passthrough capture (docs/board.md): the shim records a program's use of a
// real DRM device — or of the loopback kernel, or a stand-in node — as a board
// trace (CAPTURE_SOURCE_BOARD) that `faultlab replay` checks on the twin.
//
// Each ioctl is recorded generically from the uAPI's layouts: the argument as
// passed and as copied back, the arrays it points at (VM_BIND ops and their
// syncs, queue submits, syncobj handles and points, ...) before the call, and
// what the kernel wrote through its pointers (DEV_QUERY payloads, version
// strings, ...) after it, with the call's CLOCK_MONOTONIC start and duration.
// CPU mappings of the device are recorded, and at each GROUP_SUBMIT the words
// of every stream and the bytes the CPU wrote through its mappings since the
// last submit, found through a mirror of the VM_BIND mappings and mmaps.
#ifndef FAULTLAB_AGENTS_SHIM_CAPTURE_H_
#define FAULTLAB_AGENTS_SHIM_CAPTURE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/trace/event.h"
#include "engine/trace/io.h"
#include "engine/trace/writer.h"

namespace faultlab::shim {

// Reads this process's memory; false (nothing read) where a byte is unmapped.
// A SIGSEGV handler installed by InstallReadGuard() turns the fault of a
// guarded read into that return; other faults go to the handler before it.
void InstallReadGuard();
bool SafeRead(void* dst, uint64_t src, size_t n);

struct UserRange {
  uint64_t address;
  uint64_t length;
};
// The user memory a DRM or panthor ioctl's argument points at and the kernel
// reads (`in`, from the argument as passed) or writes (`out`, from the
// argument as passed and as returned). Arrays are read from memory here for
// the pointers they hold (VM_BIND ops -> syncs). Unknown requests have none.
void NestedIn(uint32_t request, const std::string& arg_in, std::vector<UserRange>* in);
void NestedOut(uint32_t request, const std::string& arg_in, const std::string& arg_out, int result,
               std::vector<UserRange>* out);

class Capture {
 public:
  Capture(std::unique_ptr<trace::FileSink> sink, const trace::TraceHeader& header);

  // Files: ids from 1 in the order of opening, as the twin's.
  uint32_t Open(bool primary);
  void Close(uint32_t file);
  void Note(const std::string& label);

  // One ioctl: Begin copies the argument and what it points at (and, for a
  // GROUP_SUBMIT, records its streams); End records the outcome.
  struct Call {
    uint32_t file = 0;
    uint32_t request = 0;
    int64_t start_ns = 0;
    std::string arg_in;
    std::vector<std::pair<uint64_t, std::string>> in;
  };
  void Begin(Call* c, uint32_t file, uint32_t request, const void* arg);
  void End(Call* c, const void* arg, int result);

  void Mapped(uint32_t file, void* addr, uint64_t offset, uint64_t length, int prot, int flags, int result);
  void Unmapped(void* addr);
  // The GPU may have written through the mappings (after submits and waits).
  void GpuRan();

  absl::Status Finish();
  uint64_t events() const { return events_; }

 private:
  struct Bind {
    uint64_t size;
    uint32_t handle;
    uint64_t bo_offset;
  };
  struct Map {
    uint32_t file;
    uint64_t offset;
    uint64_t length;
    bool writable_shared;
    std::string shadow;  // the bytes at the last submit or wait
  };
  void Append(trace::Event& e);  // under mu_
  void Learn(const Call& c, const std::string& arg_out, int result);
  void RecordStreams(const Call& c);
  bool VaToCpu(uint32_t file, uint32_t vm, uint64_t va, uint64_t n, uint64_t* cpu) const;
  std::vector<uint64_t> BoToVas(uint32_t file, uint32_t vm, uint64_t offset) const;

  std::mutex mu_;
  std::unique_ptr<trace::FileSink> sink_;
  std::unique_ptr<trace::TraceWriter> writer_;
  absl::Status status_;
  int64_t t0_;
  uint64_t events_ = 0;
  uint32_t next_file_ = 0;
  // The mirror: what the recorded calls told us, per file.
  std::map<std::pair<uint32_t, uint32_t>, uint64_t> mmap_offsets_;          // (file, handle) -> fake offset
  std::map<std::pair<uint32_t, uint64_t>, uint32_t> offset_handles_;        // (file, fake offset) -> handle
  std::map<std::pair<uint32_t, uint32_t>, std::map<uint64_t, Bind>> binds_;  // (file, vm) -> va -> bind
  std::map<std::pair<uint32_t, uint32_t>, uint32_t> group_vms_;             // (file, group) -> vm
  std::map<uintptr_t, Map> maps_;                                           // CPU address -> mapping
};

}  // namespace faultlab::shim

#endif  // FAULTLAB_AGENTS_SHIM_CAPTURE_H_
