#include "engine/gem/content.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace faultlab::gem {

ContentArena::ContentArena() {
  // The file's size is set once, far past any use: a sparse file costs
  // nothing until written.
  fd_ = memfd_create("faultlab-bo-contents", MFD_CLOEXEC);
  if (fd_ >= 0 && ftruncate(fd_, static_cast<off_t>(kLimit)) != 0) {
    close(fd_);
    fd_ = -1;
  }
}

ContentArena::~ContentArena() {
  if (fd_ >= 0) close(fd_);
}

uint64_t ContentArena::Reserve(uint64_t bytes) {
  if (bytes > kLimit - end_) return kNone;
  const uint64_t at = end_;
  end_ += bytes;
  return at;
}

void ContentArena::Release(uint64_t offset, uint64_t bytes) {
  if (fd_ >= 0 && bytes) {
    fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
              static_cast<off_t>(bytes));
  }
}

char* ContentArena::Map(uint64_t offset, uint64_t bytes) {
  void* p = fd_ >= 0 ? mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd_,
                            static_cast<off_t>(offset))
                     : mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<char*>(p);
}

void ContentArena::Unmap(char* view, uint64_t bytes) {
  if (view) munmap(view, bytes);
}

uint64_t ContentArena::resident_bytes() const {
  struct stat st;
  if (fd_ < 0 || fstat(fd_, &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

}  // namespace faultlab::gem
