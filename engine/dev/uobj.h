// PANTHOR_UOBJ_GET_ARRAY (panthor_drv.c, spec 2.1): copies a user array of
// extensible structs through the user-memory seam.
//  - count 0: an empty array, no error;
//  - stride below the minimum size: -EINVAL;
//  - more than INT_MAX bytes: -ENOMEM (kvmalloc refuses);
//  - equal stride: one copy_from_user (-EFAULT);
//  - else per element copy_struct_from_user(): a smaller user struct is
//    zero-extended, a bigger one must have a zero tail (-E2BIG).
#ifndef FAULTLAB_ENGINE_DEV_UOBJ_H_
#define FAULTLAB_ENGINE_DEV_UOBJ_H_

#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/uapi/errno.h"
#include "engine/uapi/panthor.h"
#include "engine/usermem/user_memory.h"

namespace faultlab::dev {

// copy_from_user() of `count` elements at `user` into `*out`, in bounded
// pieces, so that an absurd count over a small mapping faults (-EFAULT)
// before the model has allocated much.
template <typename T>
int CopyArrayFromUser(UserMemory& mem, uint64_t user, uint64_t count, std::vector<T>* out) {
  out->clear();
  for (uint64_t i = 0; i < count; i += 4096) {
    const uint64_t n = std::min<uint64_t>(4096, count - i);
    const size_t at = out->size();
    out->resize(at + n);
    if (mem.CopyFromUser(out->data() + at, user + i * sizeof(T), n * sizeof(T)) != 0) {
      return -uapi::kEFAULT;
    }
  }
  return 0;
}

template <typename T>
int GetUobjArray(UserMemory& mem, const uapi::PanthorObjArray& in, uint32_t min_stride,
                 std::vector<T>* out) {
  out->clear();
  if (in.count == 0) return 0;
  if (in.stride < min_stride) return -uapi::kEINVAL;
  if (static_cast<uint64_t>(in.count) * sizeof(T) > 0x7fffffffULL) return -uapi::kENOMEM;
  if (in.stride == sizeof(T)) return CopyArrayFromUser(mem, in.array, in.count, out);
  // copy_struct_from_user(): the known part, then a zero check of any tail,
  // read in bounded pieces (a hostile stride must not make us allocate it).
  const size_t known = std::min<size_t>(in.stride, sizeof(T));
  char tail[256];
  for (uint32_t i = 0; i < in.count; ++i) {
    const uint64_t at = in.array + static_cast<uint64_t>(i) * in.stride;
    for (uint64_t off = known; off < in.stride;) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(sizeof(tail), in.stride - off));
      if (mem.CopyFromUser(tail, at + off, n) != 0) return -uapi::kEFAULT;
      for (size_t b = 0; b < n; ++b) {
        if (tail[b] != 0) return -uapi::kE2BIG;
      }
      off += n;
    }
    T v{};
    if (mem.CopyFromUser(&v, at, known) != 0) return -uapi::kEFAULT;
    out->push_back(v);
  }
  return 0;
}

}  // namespace faultlab::dev

#endif  // FAULTLAB_ENGINE_DEV_UOBJ_H_
