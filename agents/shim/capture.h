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

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "engine/trace/event.h"
#include "engine/trace/io.h"
#include "engine/trace/writer.h"
#include "engine/uapi/ioctls.h"

namespace faultlab::shim {

// Reads this process's memory; false (nothing read) where a byte is unmapped.
// A SIGSEGV handler installed by InstallReadGuard() turns the fault of a
// guarded read into that return; other faults go to the handler before it.
void InstallReadGuard();
bool SafeRead(void* dst, uint64_t src, size_t n);
// Compares n bytes of this process's memory at `a` with `b` (*same); false
// where a byte at `a` is unmapped.
bool SafeCompare(uint64_t a, const void* b, size_t n, int* same);

using uapi::UserRange;
// The user memory a DRM or panthor ioctl's argument points at and the kernel
// reads (`in`, from the argument as passed) or writes (`out`, from the
// argument as passed and as returned), from the ioctl table's layouts.
// Arrays are read from this process's memory for the pointers they hold
// (VM_BIND ops -> syncs). Requests the table lacks have none.
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
  // GROUP_SUBMIT, records its streams); End records the outcome. A Call is
  // reused call after call (its buffers keep their capacity).
  struct Call {
    uint32_t file = 0;
    uint32_t request = 0;
    int64_t start_ns = 0;
    std::string arg_in, arg_out;
    std::vector<UserRange> in, out;  // what was read, concatenated in in_bytes / out_bytes
    std::string in_bytes, out_bytes;
    // The bytes read at `address` before the call (nullptr: none).
    const std::string* InAt(uint64_t address, std::string* scratch) const;
  };
  void Begin(Call* c, uint32_t file, uint32_t request, const void* arg);
  void End(Call* c, const void* arg, int result);

  void Mapped(uint32_t file, void* addr, uint64_t offset, uint64_t length, int prot, int flags,
              int result);
  void Unmapped(void* addr);
  // The GPU may have written through the mappings (after submits and waits).
  void GpuRan();

  // Kernel-side facts a userspace recorder cannot see (lib/collect): the
  // kernel log's unhandled faults (latency unknown) and the fault stream's
  // faults with their measured latencies (source recorded), after a marker
  // naming where they came from. Called once, before Finish.
  struct Fact {
    int as;
    uint64_t va;
    uint32_t status;
    trace::FaultOutcome outcome;
    uint64_t latency_ns = 0;  // measured (kprobes)
    bool measured = false;    // false: the kernel log's (latency unknown)
    uint32_t vm = 0;          // the board's VM, numbered in order of first fault (0: unknown)
    uint64_t time_ns = 0;     // CLOCK_MONOTONIC of its IRQ (0: unknown)
    uint64_t work_ns = 0;     // the fault work's duration (0: unknown)
  };
  void KernelFacts(const std::string& marker, const std::vector<Fact>& facts);

  absl::Status Finish();

 private:
  // Events queued for the writer thread (encoding and compressing stay off
  // the program's calling thread), their bytes in one arena per batch.
  struct Span {
    uint64_t address;
    size_t at, length;  // in Batch::bytes
  };
  struct Record {
    // The event's numbers by kind (the writer builds the trace::Event):
    // ioctl: file, request, result, recorded_ns, duration_ns; marker: -, -, -, id;
    // file: file, node, close;
    // cs_submit: group, queue, -, stream_va; cpu_map: file, handle, result, offset, length.
    trace::EventKind kind = trace::EVENT_KIND_UNSPECIFIED;
    uint64_t t = 0;
    // mmu_fault: as, status, outcome, address, latency_ns, latency source (z), vm (w).
    uint32_t x = 0, y = 0, z = 0, w = 0;
    int32_t result = 0;
    uint64_t p = 0, q = 0;
    uint64_t raised = 0, work = 0;  // mmu_fault: a board's fault stream (raised_ns, work_ns)
    size_t a = 0, a_len = 0, b = 0,
           b_len = 0;  // ioctl: arg_in, arg_out; marker: label; cs_submit: words
    size_t spans = 0, in_n = 0, out_n = 0;  // ioctl: user_in, user_out; cs_submit: reads
  };
  struct Batch {
    std::vector<Record> records;
    std::string bytes;
    std::vector<Span> spans;
    size_t Put(const char* p, size_t n) {
      bytes.append(p, n);
      return bytes.size() - n;
    }
  };
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
  void Append(Record& r, int64_t now);                 // under mu_
  void Marker(uint32_t id, std::string label);         // under mu_
  void File(uint32_t file, bool primary, bool close);  // under mu_
  void WriteLoop();
  void Learn(const Call& c, const std::string& arg_out);  // after a call that succeeded
  void RecordStreams(const Call& c);
  bool VaToCpu(uint32_t file, uint32_t vm, uint64_t va, uint64_t n, uint64_t* cpu) const;
  std::vector<uint64_t> BoToVas(uint32_t file, uint32_t vm, uint64_t offset) const;

  std::mutex mu_;
  std::condition_variable queued_, drained_;
  Batch queue_;  // under mu_
  bool stop_ = false;
  std::unique_ptr<trace::FileSink> sink_;
  std::unique_ptr<trace::TraceWriter> writer_;  // the writer thread's
  absl::Status status_;                         // the writer thread's until it ends
  std::thread thread_;
  int64_t t0_;
  uint32_t next_file_ = 0;
  std::map<uint32_t, bool> primary_;  // open files: opened on the primary node
  // The mirror: what the recorded calls told us, per file.
  std::map<std::pair<uint32_t, uint32_t>, uint64_t> mmap_offsets_;  // (file, handle) -> fake offset
  std::map<std::pair<uint32_t, uint64_t>, uint32_t>
      offset_handles_;  // (file, fake offset) -> handle
  std::map<std::pair<uint32_t, uint32_t>, std::map<uint64_t, Bind>>
      binds_;                                                    // (file, vm) -> va -> bind
  std::map<std::pair<uint32_t, uint32_t>, uint32_t> group_vms_;  // (file, group) -> vm
  std::map<uintptr_t, Map> maps_;                                // CPU address -> mapping
};

}  // namespace faultlab::shim

#endif  // FAULTLAB_AGENTS_SHIM_CAPTURE_H_
