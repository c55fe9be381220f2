// SimUserMemory: a simulated process address space for tests and workloads.
// Regions are mapped explicitly (readable and/or writable); everything else
// faults. Contents start zeroed.
//
//   SimUserMemory mem;
//   uint64_t buf = mem.Alloc(4096);                 // fresh, guarded region
//   mem.Write(buf, &args, sizeof(args));
//   device.Ioctl(file, kPanthorIoctlDevQuery, buf);
//   mem.Read(buf, &args, sizeof(args));
#ifndef FAULTLAB_ENGINE_USERMEM_SIM_USER_MEMORY_H_
#define FAULTLAB_ENGINE_USERMEM_SIM_USER_MEMORY_H_

#include <cstdint>
#include <map>
#include <string>

#include "engine/usermem/user_memory.h"

namespace faultlab {

class SimUserMemory : public UserMemory {
 public:
  static constexpr uint32_t kRead = 1;
  static constexpr uint32_t kWrite = 2;

  // Maps [address, address + size) with `prot`; must not overlap a mapping.
  void Map(uint64_t address, uint64_t size, uint32_t prot = kRead | kWrite);
  // Unmaps the region that starts at `address`.
  void Unmap(uint64_t address);
  // Maps a fresh region of `size` bytes (rounded up to 4 KiB) after the last
  // one, leaving an unmapped 4 KiB guard between regions. Returns its address.
  uint64_t Alloc(uint64_t size, uint32_t prot = kRead | kWrite);

  // Whether all of [address, address + n) is mapped (any protection).
  bool IsMapped(uint64_t address, size_t n) const;
  // Test-side access, ignoring protections; aborts on unmapped addresses.
  void Write(uint64_t address, const void* src, size_t n);
  void Read(uint64_t address, void* dst, size_t n) const;
  template <typename T>
  T Get(uint64_t address) const {
    T v;
    Read(address, &v, sizeof(v));
    return v;
  }
  template <typename T>
  void Put(uint64_t address, const T& v) {
    Write(address, &v, sizeof(v));
  }

  int CopyFromUser(void* dst, uint64_t src, size_t n) override;
  int CopyToUser(uint64_t dst, const void* src, size_t n) override;

  void set_observer(UserCopyObserver* observer) { observer_ = observer; }
  uint64_t faults() const { return faults_; }

 private:
  struct Region {
    uint64_t size;
    uint32_t prot;
    std::string bytes;
  };
  // Region containing `address`, or nullptr.
  Region* Find(uint64_t address, uint64_t* start);
  const Region* Find(uint64_t address, uint64_t* start) const;

  std::map<uint64_t, Region> regions_;
  uint64_t next_alloc_ = 0x0000'7f00'0000'0000ULL;
  UserCopyObserver* observer_ = nullptr;
  uint64_t faults_ = 0;
};

}  // namespace faultlab

#endif  // FAULTLAB_ENGINE_USERMEM_SIM_USER_MEMORY_H_
