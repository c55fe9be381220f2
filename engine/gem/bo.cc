#include "engine/gem/bo.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "engine/base/check.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/panthor.h"

namespace faultlab::gem {

namespace {
constexpr uint64_t kWindow = 2ULL << 20;
}  // namespace

Bo::Bo(mem::MemoryModel* mem, uint64_t id, uint64_t size_bytes, uint32_t flags,
       uint32_t granularity_bytes, uint64_t exclusive_vm, ContentArena* arena, uint64_t content_at)
    : id_(id),
      size_bytes_(size_bytes),
      flags_(flags),
      exclusive_vm_(exclusive_vm),
      pages_(mem, size_bytes / mem::kPageSize),
      arena_(arena),
      content_at_(content_at) {
  // panthor_gem_create_with_handle(): sparse init with granularity >> PAGE_SHIFT.
  // Only the series' ALLOC_ON_FAULT BOs have a granularity: bit 1 of `flags`
  // is WB_MMAP on mainline (a plain BO).
  if (granularity_bytes) {
    sparse_ = std::make_unique<SparseBacking>(mem, granularity_bytes >> uapi::kPageShift);
  }
}

Bo::~Bo() {
  for (const auto& [w, view] : windows_) {
    ContentArena::Unmap(view, std::min(kWindow, size_bytes_ - w * kWindow));
  }
  if (arena_ && (content_touched_ || !windows_.empty())) arena_->Release(content_at_, size_bytes_);
}

char* Bo::At(uint64_t offset, uint64_t* len) const {
  const uint64_t w = offset / kWindow;
  const uint64_t window_len = std::min(kWindow, size_bytes_ - w * kWindow);
  char*& view = windows_[w];
  if (view == nullptr) {
    if (arena_) {
      view = arena_->Map(content_at_ + w * kWindow, window_len);
    } else {  // no device: private memory
      view = static_cast<char*>(mmap(nullptr, window_len, PROT_READ | PROT_WRITE,
                                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
      if (view == MAP_FAILED) view = nullptr;
    }
    FAULTLAB_CHECK(view != nullptr, "no address space for 2 MiB of BO ", id_, "'s contents");
  }
  *len = window_len - offset % kWindow;
  return view + offset % kWindow;
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

bool Bo::EachChunk(uint64_t offset, uint64_t n, const char* what,
                   const std::function<bool(char*, uint64_t, uint64_t)>& f) const {
  for (uint64_t done = 0; done < n;) {
    FAULTLAB_CHECK(pages_.FrameOf(offset / mem::kPageSize) != kNoFrame, "BO ", what, " at offset ",
                   offset, ": page not backed");
    uint64_t len;
    char* at = At(offset, &len);
    const uint64_t chunk = std::min({n - done, len, mem::kPageSize - offset % mem::kPageSize});
    if (!f(at, done, chunk)) return false;
    offset += chunk;
    done += chunk;
  }
  return true;
}

void Bo::Write(uint64_t offset, const void* src, uint64_t n) {
  const char* p = static_cast<const char*>(src);
  EachChunk(offset, n, "write", [&](char* at, uint64_t done, uint64_t chunk) {
    std::memcpy(at, p + done, chunk);
    return true;
  });
}

bool Bo::Equals(uint64_t offset, const void* bytes, uint64_t n) const {
  const char* p = static_cast<const char*>(bytes);
  return EachChunk(offset, n, "read", [&](char* at, uint64_t done, uint64_t chunk) {
    return std::memcmp(p + done, at, chunk) == 0;
  });
}

void Bo::Read(uint64_t offset, void* dst, uint64_t n) const {
  char* p = static_cast<char*>(dst);
  EachChunk(offset, n, "read", [&](char* at, uint64_t done, uint64_t chunk) {
    std::memcpy(p + done, at, chunk);
    return true;
  });
}

}  // namespace faultlab::gem
