// Bo: a panthor GEM buffer object (struct panthor_gem_object over a
// drm_gem_shmem_object): page-rounded size, creation flags, an optional
// exclusive VM, its shmem pages and, for DRM_PANTHOR_BO_ALLOC_ON_FAULT, the
// sparse backing of the series.
//
// Pages are allocated lazily: never at creation; a regular BO is populated
// whole when pinned for a GPU mapping or CPU-mapped (drm_gem_shmem_get_pages);
// a sparse BO granule by granule at fault time, or whole when CPU-mapped,
// vmapped or pinned the regular way (series 2/8: get_pages_locked on a sparse
// object populates all of it).
//
// The pages are the model's (frames, accounting); the bytes live in the
// device's ContentArena (content.h), at the BO's range, which CPU mappings
// map too. The twin maps that range 2 MiB at a time, as it touches it.
#ifndef FAULTLAB_ENGINE_GEM_BO_H_
#define FAULTLAB_ENGINE_GEM_BO_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "engine/gem/content.h"
#include "engine/gem/shmem.h"
#include "engine/gem/sparse.h"
#include "engine/mem/memory.h"

namespace faultlab::gem {

class Bo {
 public:
  // `size_bytes` is already page-aligned; `granularity_bytes` is 0 (a plain
  // BO) or a power of two >= 4 KiB (an alloc-on-fault BO; checked by the
  // ioctl). `exclusive_vm` is the VM id's owner-specific key, 0 for none.
  // `arena` holds the bytes at `content_at` (nullptr: private memory of
  // the BO's own, for a BO no CPU maps).
  Bo(mem::MemoryModel* mem, uint64_t id, uint64_t size_bytes, uint32_t flags,
     uint32_t granularity_bytes, uint64_t exclusive_vm, ContentArena* arena = nullptr,
     uint64_t content_at = 0);
  ~Bo();
  Bo(const Bo&) = delete;
  Bo& operator=(const Bo&) = delete;

  uint64_t id() const { return id_; }  // device-wide creation order, from 1
  uint64_t size_bytes() const { return size_bytes_; }
  uint64_t npages() const { return size_bytes_ / mem::kPageSize; }
  uint32_t flags() const { return flags_; }
  bool alloc_on_fault() const { return sparse_ != nullptr; }
  uint64_t exclusive_vm() const { return exclusive_vm_; }

  ShmemPages& pages() { return pages_; }
  const ShmemPages& pages() const { return pages_; }
  SparseBacking* sparse() { return sparse_.get(); }
  const SparseBacking* sparse() const { return sparse_.get(); }

  // Models drm_gem_shmem_get_pages(): every page present afterwards. Returns
  // 0 or -ENOMEM (pages allocated before the failure stay); `*allocated`
  // counts new frames.
  int GetPages(mem::AllocClass cls, uint64_t* allocated);

  // The twin's access to the contents (the GPU, vmap). Pages must be present.
  void Write(uint64_t offset, const void* src, uint64_t n);
  void Read(uint64_t offset, void* dst, uint64_t n) const;
  // Whether the `n` bytes at `offset` equal `bytes`, without copying them
  // out (a recording compares its CPU shadows with it). Pages must be present.
  bool Equals(uint64_t offset, const void* bytes, uint64_t n) const;
  // Where the bytes are in the arena's file (a CPU mapping of BO offset x
  // maps the file at content_at() + x).
  uint64_t content_at() const { return content_at_; }
  // A CPU mapping may write the bytes (so they go back to the host when the
  // BO does; a BO nothing mapped costs no hole punch).
  void NoteCpuMapped() { content_touched_ = true; }

  // Fake mmap offset in pages (drm_vma_node), 0 until BO_MMAP_OFFSET made one.
  uint64_t mmap_pgoff() const { return mmap_pgoff_; }
  void set_mmap_pgoff(uint64_t pgoff) { mmap_pgoff_ = pgoff; }

  // BO_SET_LABEL's label ("" when none; a kernel shows it in debugfs).
  const std::string& label() const { return label_; }
  void set_label(std::string label) { label_ = std::move(label); }

 private:
  uint64_t id_;
  uint64_t size_bytes_;
  uint32_t flags_;
  uint64_t exclusive_vm_;
  ShmemPages pages_;
  std::unique_ptr<SparseBacking> sparse_;
  uint64_t mmap_pgoff_ = 0;
  std::string label_;
  ContentArena* arena_;
  uint64_t content_at_;
  // The twin's views of the contents, by 2 MiB window of the BO.
  mutable std::map<uint64_t, char*> windows_;
  bool content_touched_ = false;  // mapped by the twin or a CPU
  // The bytes at `offset`, to the end of its window (`*len`).
  char* At(uint64_t offset, uint64_t* len) const;
  // Calls `f(bytes, done, chunk)` for each piece of `n` bytes from `offset`
  // within a page and a window, until it returns false; the pages must be
  // present (`what` names the access if one is not).
  bool EachChunk(uint64_t offset, uint64_t n, const char* what,
                 const std::function<bool(char*, uint64_t, uint64_t)>& f) const;
};

}  // namespace faultlab::gem

#endif  // FAULTLAB_ENGINE_GEM_BO_H_
