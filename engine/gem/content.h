// ContentArena: where the bytes of a device's BOs live — one shared-memory
// file (a memfd) for the whole device, each BO a range of it, as each GEM
// object is its own shmem file in the kernel. The twin reads and writes a
// BO through mappings of its range; the device shim maps the same range into
// the program for a CPU map of the BO (and the loopback kernel hands the
// file to its clients), so every CPU mapping and the emulated GPU see one
// copy of the bytes, with nothing to copy or keep coherent. One file, not a
// descriptor per BO: programs make more BOs than a process may hold open
// files. A range never written is a hole: host memory follows what was
// written, not what was promised (a 64 GiB sparse BO costs nothing).
//
//   ContentArena arena;
//   uint64_t at = arena.Reserve(64 << 10);       // a new BO's range
//   char* p = arena.Map(at, 64 << 10);           // the twin's view of it
//   mmap(0, 4096, PROT_READ, MAP_SHARED, arena.fd(), at);   // the same bytes
//   arena.Unmap(p, 64 << 10);
//   arena.Release(at, 64 << 10);                 // the BO is gone: a hole again
#ifndef FAULTLAB_ENGINE_GEM_CONTENT_H_
#define FAULTLAB_ENGINE_GEM_CONTENT_H_

#include <cstdint>

namespace faultlab::gem {

class ContentArena {
 public:
  // Ranges are whole pages; the file's offsets up to kLimit are used.
  static constexpr uint64_t kLimit = 1ULL << 62;
  static constexpr uint64_t kNone = ~uint64_t{0};

  ContentArena();
  ~ContentArena();
  ContentArena(const ContentArena&) = delete;
  ContentArena& operator=(const ContentArena&) = delete;

  // A range of `bytes` (a multiple of the page size) for a new BO, reading
  // as zeros: its offset in the file, or kNone when the file's offsets are
  // used up (the twin's limit: 4 EiB of BOs over a device's life). Ranges
  // are never reserved twice, so a stale mapping can never see another BO.
  uint64_t Reserve(uint64_t bytes);
  // The BO is gone: the range's pages go back to the host.
  void Release(uint64_t offset, uint64_t bytes);
  // The twin's view of [offset, offset + bytes), or nullptr when the host
  // gives no address space for it.
  char* Map(uint64_t offset, uint64_t bytes);
  static void Unmap(char* view, uint64_t bytes);

  // The file every CPU mapping maps; -1 when the host has no memfd (then
  // only the twin sees the bytes, in private memory).
  int fd() const { return fd_; }
  // Bytes of host memory the file holds now.
  uint64_t resident_bytes() const;

 private:
  int fd_ = -1;
  uint64_t end_ = 0;  // offsets below were reserved at some time
};

}  // namespace faultlab::gem

#endif  // FAULTLAB_ENGINE_GEM_CONTENT_H_
