#include "engine/usermem/sim_user_memory.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "engine/base/check.h"
#include "engine/uapi/errno.h"

namespace faultlab {

int UserMemory::ClearUser(uint64_t dst, size_t n) {
  static const char kZeros[4096] = {};
  while (n > 0) {
    const size_t chunk = std::min(n, sizeof(kZeros));
    if (CopyToUser(dst, kZeros, chunk) != 0) return -uapi::kEFAULT;
    dst += chunk;
    n -= chunk;
  }
  return 0;
}

void SimUserMemory::Map(uint64_t address, uint64_t size, uint32_t prot) {
  FAULTLAB_CHECK(size != 0 && address + size > address, "map of ", size, " bytes at 0x",
                 absl::Hex(address), ": empty or wraps");
  auto next = regions_.lower_bound(address);
  FAULTLAB_CHECK(next == regions_.end() || next->first >= address + size, "map at 0x",
                 absl::Hex(address), " overlaps the region at 0x", absl::Hex(next->first));
  if (next != regions_.begin()) {
    auto prev = std::prev(next);
    FAULTLAB_CHECK(prev->first + prev->second.size <= address, "map at 0x", absl::Hex(address),
                   " overlaps the region at 0x", absl::Hex(prev->first));
  }
  regions_[address] = Region{size, prot, std::string(size, '\0')};
}

void SimUserMemory::Unmap(uint64_t address) { regions_.erase(address); }

uint64_t SimUserMemory::Alloc(uint64_t size, uint32_t prot) {
  size = (std::max<uint64_t>(size, 1) + 4095) & ~4095ULL;
  const uint64_t at = next_alloc_;
  Map(at, size, prot);
  next_alloc_ = at + size + 4096;  // guard page
  return at;
}

SimUserMemory::Region* SimUserMemory::Find(uint64_t address, uint64_t* start) {
  auto it = regions_.upper_bound(address);
  if (it == regions_.begin()) return nullptr;
  --it;
  if (address - it->first >= it->second.size) return nullptr;
  *start = it->first;
  return &it->second;
}

const SimUserMemory::Region* SimUserMemory::Find(uint64_t address, uint64_t* start) const {
  return const_cast<SimUserMemory*>(this)->Find(address, start);
}

bool SimUserMemory::IsMapped(uint64_t address, size_t n) const {
  while (n > 0) {
    uint64_t start;
    const Region* r = Find(address, &start);
    if (r == nullptr) return false;
    const size_t chunk = std::min<size_t>(n, r->size - (address - start));
    address += chunk;
    n -= chunk;
  }
  return true;
}

void SimUserMemory::Write(uint64_t address, const void* src, size_t n) {
  const char* p = static_cast<const char*>(src);
  while (n > 0) {
    uint64_t start;
    Region* r = Find(address, &start);
    FAULTLAB_CHECK(r != nullptr, "write at unmapped 0x", absl::Hex(address));
    const size_t off = address - start;
    const size_t chunk = std::min<size_t>(n, r->size - off);
    std::memcpy(&r->bytes[off], p, chunk);
    p += chunk;
    address += chunk;
    n -= chunk;
  }
}

void SimUserMemory::Read(uint64_t address, void* dst, size_t n) const {
  char* p = static_cast<char*>(dst);
  while (n > 0) {
    uint64_t start;
    const Region* r = Find(address, &start);
    FAULTLAB_CHECK(r != nullptr, "read at unmapped 0x", absl::Hex(address));
    const size_t off = address - start;
    const size_t chunk = std::min<size_t>(n, r->size - off);
    std::memcpy(p, &r->bytes[off], chunk);
    p += chunk;
    address += chunk;
    n -= chunk;
  }
}

int SimUserMemory::CopyFromUser(void* dst, uint64_t src, size_t n) {
  char* p = static_cast<char*>(dst);
  const uint64_t first = src;
  size_t left = n;
  while (left > 0) {
    uint64_t start;
    Region* r = Find(src, &start);
    if (r == nullptr || !(r->prot & kRead) || src + left < src) {
      ++faults_;
      return -uapi::kEFAULT;
    }
    const size_t off = src - start;
    const size_t chunk = std::min<size_t>(left, r->size - off);
    std::memcpy(p, &r->bytes[off], chunk);
    p += chunk;
    src += chunk;
    left -= chunk;
  }
  if (observer_ != nullptr && n > 0) observer_->OnCopyIn(first, dst, n);
  return 0;
}

int SimUserMemory::CopyToUser(uint64_t dst, const void* src, size_t n) {
  const char* p = static_cast<const char*>(src);
  const uint64_t first = dst;
  size_t left = n;
  while (left > 0) {
    uint64_t start;
    Region* r = Find(dst, &start);
    if (r == nullptr || !(r->prot & kWrite) || dst + left < dst) {
      ++faults_;
      return -uapi::kEFAULT;
    }
    const size_t off = dst - start;
    const size_t chunk = std::min<size_t>(left, r->size - off);
    std::memcpy(&r->bytes[off], p, chunk);
    p += chunk;
    dst += chunk;
    left -= chunk;
  }
  if (observer_ != nullptr && n > 0) observer_->OnCopyOut(first, src, n);
  return 0;
}

}  // namespace faultlab
