#include "engine/replay/remap.h"

#include <cstring>
#include <vector>

#include "engine/uapi/panthor.h"

namespace faultlab::replay {
namespace {

using uapi::ObjKind;

// Kinds whose creation can fail differently in a what-if.
bool Remapped(ObjKind k) { return k != ObjKind::kSyncobj; }

// The obj_array at `at` in `bytes`.
bool ObjArrayAt(const std::string& bytes, size_t at, uapi::PanthorObjArray* a) {
  if (at + sizeof(*a) > bytes.size()) return false;
  std::memcpy(a, bytes.data() + at, sizeof(*a));
  return true;
}

}  // namespace

bool Remapper::Map(uint32_t file, ObjKind kind, uint32_t* id) const {
  auto it = ids_.find({file, kind, *id});
  if (it == ids_.end()) return true;  // never created by the recording
  if (it->second == 0) return false;  // its creation failed here
  remapped_ += it->second != *id;
  *id = it->second;
  return true;
}

bool Remapper::MapAt(uint32_t file, const uapi::ObjRef& ref, char* bytes, size_t size) {
  if (!Remapped(ref.kind) || ref.offset + size_t{4} > size || !ref.Applies(bytes, size))
    return true;
  uint32_t id;
  std::memcpy(&id, bytes + ref.offset, 4);
  if (!Map(file, ref.kind, &id)) return false;
  std::memcpy(bytes + ref.offset, &id, 4);
  return true;
}

// The ids inside the elements of the obj_arrays the argument points at,
// already placed in `mem` as the recording captured them; a bad array is
// the kernel's to refuse.
bool Remapper::RewriteArrays(uint32_t file, const uapi::Nested& n, const std::string& arg,
                             SimUserMemory& mem) {
  uapi::PanthorObjArray a;
  if (n.layout != uapi::Nested::Layout::kObjArray || n.element_refs.empty() ||
      !ObjArrayAt(arg, n.at, &a)) {
    return true;
  }
  if (a.stride < n.elem_size || a.count > 4096) return true;
  std::vector<char> elem(n.elem_size);
  for (uint32_t i = 0; i < a.count; ++i) {
    const uint64_t at = a.array + static_cast<uint64_t>(i) * a.stride;
    if (!mem.IsMapped(at, elem.size())) return true;
    mem.Read(at, elem.data(), elem.size());
    for (const uapi::ObjRef& r : n.element_refs) {
      if (!MapAt(file, r, elem.data(), elem.size())) return false;
    }
    mem.Write(at, elem.data(), elem.size());
  }
  return true;
}

bool Remapper::Rewrite(const trace::Ioctl& io, std::string* arg, SimUserMemory& mem) {
  const uapi::IoctlDesc* d = uapi::FindIoctl(io.request);
  if (d == nullptr) return true;
  for (const uapi::ObjRef& r : d->consumes) {
    if (!MapAt(io.file, r, arg->data(), arg->size())) return false;
  }
  for (const uapi::Nested& n : d->nested) {
    if (!RewriteArrays(io.file, n, *arg, mem)) return false;
  }
  return true;
}

void Remapper::Learn(const trace::Ioctl& io, int result, const std::string& out) {
  if (io.result != 0) return;  // the recording created nothing
  const uapi::IoctlDesc* d = uapi::FindIoctl(io.request);
  if (d == nullptr) return;
  for (const uapi::ObjRef& r : d->creates) {
    if (!Remapped(r.kind) || r.offset + size_t{4} > io.arg_out.size()) continue;
    uint32_t recorded, replayed = 0;
    std::memcpy(&recorded, io.arg_out.data() + r.offset, 4);
    if (result == 0 && r.offset + size_t{4} <= out.size())
      std::memcpy(&replayed, out.data() + r.offset, 4);
    ids_[{io.file, r.kind, recorded}] = result == 0 ? replayed : 0;
  }
}

}  // namespace faultlab::replay
