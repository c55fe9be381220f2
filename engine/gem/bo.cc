#include "engine/gem/bo.h"

#include <algorithm>
#include <cstdlib>

#include "engine/base/check.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/panthor.h"

namespace faultlab::gem {

Bo::Bo(mem::MemoryModel* mem, uint64_t id, uint64_t size_bytes, uint32_t flags,
       uint32_t granularity_bytes, uint64_t exclusive_vm)
    : mem_(mem),
      id_(id),
      size_bytes_(size_bytes),
      flags_(flags),
      exclusive_vm_(exclusive_vm),
      pages_(mem, size_bytes / mem::kPageSize) {
  // panthor_gem_create_with_handle(): sparse init with granularity >> PAGE_SHIFT.
  // Only the series' ALLOC_ON_FAULT BOs have a granularity: bit 1 of `flags`
  // is WB_MMAP on mainline (a plain BO).
  if (granularity_bytes) {
    sparse_ = std::make_unique<SparseBacking>(mem, granularity_bytes >> uapi::kPageShift);
  }
}

int Bo::GetPages(mem::AllocClass cls, uint64_t* allocated) {
  *allocated = 0;
  for (uint64_t i = 0; i < npages(); ++i) {
    uint32_t frame, got;
    if (!pages_.Get(i, cls, &frame, &got)) return -uapi::kENOMEM;
    *allocated += got;
  }
  return 0;
}

void Bo::Write(uint64_t offset, const void* src, uint64_t n) {
  const char* p = static_cast<const char*>(src);
  while (n > 0) {
    const uint32_t frame = pages_.FrameOf(offset / mem::kPageSize);
    FAULTLAB_CHECK(frame != kNoFrame, "BO write at offset ", offset, ": page not backed");
    const uint32_t in = static_cast<uint32_t>(offset % mem::kPageSize);
    const uint32_t chunk = static_cast<uint32_t>(std::min<uint64_t>(n, mem::kPageSize - in));
    mem_->WriteFrame(frame, in, p, chunk);
    p += chunk;
    offset += chunk;
    n -= chunk;
  }
}

void Bo::Read(uint64_t offset, void* dst, uint64_t n) const {
  char* p = static_cast<char*>(dst);
  while (n > 0) {
    const uint32_t frame = pages_.FrameOf(offset / mem::kPageSize);
    FAULTLAB_CHECK(frame != kNoFrame, "BO read at offset ", offset, ": page not backed");
    const uint32_t in = static_cast<uint32_t>(offset % mem::kPageSize);
    const uint32_t chunk = static_cast<uint32_t>(std::min<uint64_t>(n, mem::kPageSize - in));
    mem_->ReadFrame(frame, in, p, chunk);
    p += chunk;
    offset += chunk;
    n -= chunk;
  }
}

}  // namespace faultlab::gem
