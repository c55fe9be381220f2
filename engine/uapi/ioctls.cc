#include "engine/uapi/ioctls.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "engine/uapi/drm.h"
#include "engine/uapi/panthor.h"

namespace faultlab::uapi {
namespace {

using Dir = Nested::Dir;
using Layout = Nested::Layout;

constexpr DriverVersion kCore{0, 0};
constexpr DriverVersion k10{1, 0};
constexpr uint16_t Off(size_t o) { return static_cast<uint16_t>(o); }

// drm_syncobj_wait and drm_syncobj_timeline_wait as the kernel has had them
// since Linux 6.5 (every kernel with panthor): deadline_nsec and a pad added
// at the end. Callers built against older headers send the shorter struct;
// drm_ioctl() zero-fills the tail.
constexpr uint32_t kSyncobjWaitKernelSize = sizeof(DrmSyncobjWait) + 8;
constexpr uint32_t kSyncobjTimelineWaitKernelSize = sizeof(DrmSyncobjTimelineWait) + 8;

ObjRef Ref(ObjKind kind, size_t offset) {
  ObjRef r;
  r.kind = kind;
  r.offset = Off(offset);
  return r;
}

Nested Mem(Dir dir, Layout layout, size_t at, size_t count_at = 0, size_t elem_size = 0) {
  Nested n;
  n.dir = dir;
  n.layout = layout;
  n.at = Off(at);
  n.count_at = Off(count_at);
  n.elem_size = Off(elem_size);
  return n;
}

// A drm_panthor_sync_op array inside an element: the syncobjs it names.
Nested SyncOps(size_t at) {
  Nested n = Mem(Dir::kIn, Layout::kObjArray, at, 0, sizeof(PanthorSyncOp));
  n.element_refs = {Ref(ObjKind::kSyncobj, offsetof(PanthorSyncOp, handle))};
  return n;
}
// An array of u32 syncobj handles (count at `count_at`).
Nested Handles(size_t at, size_t count_at) {
  Nested n = Mem(Dir::kIn, Layout::kArray, at, count_at, 4);
  n.element_refs = {Ref(ObjKind::kSyncobj, 0)};
  return n;
}
// An array of u64 timeline points.
Nested Points(Dir dir, size_t at, size_t count_at) {
  return Mem(dir, Layout::kArray, at, count_at, 8);
}
Nested CopyField(size_t ptr, size_t len) { return Mem(Dir::kOut, Layout::kCopyField, ptr, len); }

// A row being written: Row(id, name, cmd, flags, since).Nest(...).Creates(...)...
class Row {
 public:
  Row(IoctlId id, const char* name, uint32_t cmd, uint32_t drm_flags, DriverVersion since) {
    d_.id = id;
    d_.name = name;
    d_.cmd = cmd;
    d_.drm_flags = drm_flags;
    d_.since = since;
  }
  Row& Nest(Nested n) {
    d_.nested.push_back(std::move(n));
    return *this;
  }
  Row& Creates(ObjKind kind, size_t offset) {
    d_.creates.push_back(Ref(kind, offset));
    return *this;
  }
  Row& Consumes(ObjKind kind, size_t offset) {
    d_.consumes.push_back(Ref(kind, offset));
    return *this;
  }
  Row& Board(BoardRule rule) {
    d_.board = rule;
    return *this;
  }
  Row& Masked(size_t offset, size_t length) {
    d_.masked.emplace_back(Off(offset), Off(length));
    return *this;
  }
  operator IoctlDesc() const { return d_; }  // NOLINT: rows read as a list

 private:
  IoctlDesc d_;
};

std::vector<IoctlDesc> CoreRows() {
  const uint32_t ra = kDrmRenderAllow;
  using K = ObjKind;
  return {
      Row(IoctlId::kVersion, "VERSION", kDrmIoctlVersion, ra, kCore)
          .Nest(CopyField(offsetof(DrmVersion, name), offsetof(DrmVersion, name_len)))
          .Nest(CopyField(offsetof(DrmVersion, date), offsetof(DrmVersion, date_len)))
          .Nest(CopyField(offsetof(DrmVersion, desc), offsetof(DrmVersion, desc_len)))
          .Board(BoardRule::kTakeOutputs),
      Row(IoctlId::kGetUnique, "GET_UNIQUE", kDrmIoctlGetUnique, 0, kCore)
          .Nest(Mem(Dir::kOut, Layout::kWholeField, offsetof(DrmUnique, unique),
                    offsetof(DrmUnique, unique_len)))
          .Board(BoardRule::kTakeOutputs),
      Row(IoctlId::kSetVersion, "SET_VERSION", kDrmIoctlSetVersion, kDrmMaster, kCore),
      Row(IoctlId::kGemClose, "GEM_CLOSE", kDrmIoctlGemClose, ra, kCore)
          .Consumes(K::kBo, offsetof(DrmGemClose, handle)),
      Row(IoctlId::kGetCap, "GET_CAP", kDrmIoctlGetCap, ra, kCore),
      Row(IoctlId::kSetClientCap, "SET_CLIENT_CAP", kDrmIoctlSetClientCap, 0, kCore),
      Row(IoctlId::kPrimeHandleToFd, "PRIME_HANDLE_TO_FD", kDrmIoctlPrimeHandleToFd, ra, kCore)
          .Consumes(K::kBo, offsetof(DrmPrimeHandle, handle)),
      Row(IoctlId::kPrimeFdToHandle, "PRIME_FD_TO_HANDLE", kDrmIoctlPrimeFdToHandle, ra, kCore)
          .Creates(K::kBo, offsetof(DrmPrimeHandle, handle)),
      Row(IoctlId::kSyncobjCreate, "SYNCOBJ_CREATE", kDrmIoctlSyncobjCreate, ra, kCore)
          .Creates(K::kSyncobj, offsetof(DrmSyncobjCreate, handle)),
      Row(IoctlId::kSyncobjDestroy, "SYNCOBJ_DESTROY", kDrmIoctlSyncobjDestroy, ra, kCore)
          .Consumes(K::kSyncobj, offsetof(DrmSyncobjDestroy, handle)),
      Row(IoctlId::kSyncobjHandleToFd, "SYNCOBJ_HANDLE_TO_FD",
          DrmIowr(0xc1, sizeof(DrmSyncobjHandle)), ra, kCore)
          .Consumes(K::kSyncobj, offsetof(DrmSyncobjHandle, handle)),
      Row(IoctlId::kSyncobjFdToHandle, "SYNCOBJ_FD_TO_HANDLE",
          DrmIowr(0xc2, sizeof(DrmSyncobjHandle)), ra, kCore)
          .Creates(K::kSyncobj, offsetof(DrmSyncobjHandle, handle)),
      // A board's wait that ended in time is replayed without a deadline
      // (replay/apply.cc): its timeout is the board's business.
      Row(IoctlId::kSyncobjWait, "SYNCOBJ_WAIT", DrmIowr(0xc3, kSyncobjWaitKernelSize), ra, kCore)
          .Nest(Handles(offsetof(DrmSyncobjWait, handles), offsetof(DrmSyncobjWait, count_handles)))
          .Masked(offsetof(DrmSyncobjWait, timeout_nsec), 8),
      Row(IoctlId::kSyncobjReset, "SYNCOBJ_RESET", kDrmIoctlSyncobjReset, ra, kCore)
          .Nest(Handles(offsetof(DrmSyncobjArray, handles),
                        offsetof(DrmSyncobjArray, count_handles))),
      Row(IoctlId::kSyncobjSignal, "SYNCOBJ_SIGNAL", kDrmIoctlSyncobjSignal, ra, kCore)
          .Nest(Handles(offsetof(DrmSyncobjArray, handles),
                        offsetof(DrmSyncobjArray, count_handles))),
      Row(IoctlId::kSyncobjTimelineWait, "SYNCOBJ_TIMELINE_WAIT",
          DrmIowr(0xca, kSyncobjTimelineWaitKernelSize), ra, kCore)
          .Nest(Handles(offsetof(DrmSyncobjTimelineWait, handles),
                        offsetof(DrmSyncobjTimelineWait, count_handles)))
          .Nest(Points(Dir::kIn, offsetof(DrmSyncobjTimelineWait, points),
                       offsetof(DrmSyncobjTimelineWait, count_handles)))
          .Masked(offsetof(DrmSyncobjTimelineWait, timeout_nsec), 8),
      Row(IoctlId::kSyncobjQuery, "SYNCOBJ_QUERY", kDrmIoctlSyncobjQuery, ra, kCore)
          .Nest(Handles(offsetof(DrmSyncobjTimelineArray, handles),
                        offsetof(DrmSyncobjTimelineArray, count_handles)))
          .Nest(Points(Dir::kOut, offsetof(DrmSyncobjTimelineArray, points),
                       offsetof(DrmSyncobjTimelineArray, count_handles))),
      Row(IoctlId::kSyncobjTransfer, "SYNCOBJ_TRANSFER", kDrmIoctlSyncobjTransfer, ra, kCore)
          .Consumes(K::kSyncobj, offsetof(DrmSyncobjTransfer, src_handle))
          .Consumes(K::kSyncobj, offsetof(DrmSyncobjTransfer, dst_handle)),
      Row(IoctlId::kSyncobjTimelineSignal, "SYNCOBJ_TIMELINE_SIGNAL",
          kDrmIoctlSyncobjTimelineSignal, ra, kCore)
          .Nest(Handles(offsetof(DrmSyncobjTimelineArray, handles),
                        offsetof(DrmSyncobjTimelineArray, count_handles)))
          .Nest(Points(Dir::kIn, offsetof(DrmSyncobjTimelineArray, points),
                       offsetof(DrmSyncobjTimelineArray, count_handles))),
  };
}

// VM_BIND's ops: MAP ops name a BO, every op may carry syncs.
Nested BindOps() {
  Nested n =
      Mem(Dir::kIn, Layout::kObjArray, offsetof(PanthorVmBind, ops), 0, sizeof(PanthorVmBindOp));
  ObjRef bo = Ref(ObjKind::kBo, offsetof(PanthorVmBindOp, bo_handle));
  bo.when_offset = Off(offsetof(PanthorVmBindOp, flags));
  bo.when_mask = kPanthorVmBindOpTypeMask;
  bo.when_value = kPanthorVmBindOpTypeMap;
  n.element_refs = {bo};
  n.element_nested = {SyncOps(offsetof(PanthorVmBindOp, syncs))};
  return n;
}

// GROUP_SUBMIT's queue submits, each with its syncs.
Nested QueueSubmits() {
  Nested n = Mem(Dir::kIn, Layout::kObjArray, offsetof(PanthorGroupSubmit, queue_submits), 0,
                 sizeof(PanthorQueueSubmit));
  n.element_nested = {SyncOps(offsetof(PanthorQueueSubmit, syncs))};
  return n;
}

std::vector<IoctlDesc> PanthorRows() {
  const uint32_t ra = kDrmRenderAllow;
  using K = ObjKind;
  // The group handle comes first in GROUP_DESTROY, _SUBMIT and _GET_STATE.
  static_assert(offsetof(PanthorGroupDestroy, group_handle) == 0 &&
                offsetof(PanthorGroupSubmit, group_handle) == 0 &&
                offsetof(PanthorGroupGetState, group_handle) == 0);
  Nested bo_sync_ops =
      Mem(Dir::kIn, Layout::kObjArray, offsetof(PanthorBoSync, ops), 0, sizeof(PanthorBoSyncOp));
  bo_sync_ops.element_refs = {Ref(K::kBo, offsetof(PanthorBoSyncOp, handle))};
  return {
      Row(IoctlId::kDevQuery, "PANTHOR_DEV_QUERY", kPanthorIoctlDevQuery, ra, k10)
          .Nest(Mem(Dir::kOut, Layout::kSized, offsetof(PanthorDevQuery, pointer),
                    offsetof(PanthorDevQuery, size)))
          .Board(BoardRule::kTakeOutputs),
      Row(IoctlId::kVmCreate, "PANTHOR_VM_CREATE", kPanthorIoctlVmCreate, ra, k10)
          .Creates(K::kVm, offsetof(PanthorVmCreate, id)),
      Row(IoctlId::kVmDestroy, "PANTHOR_VM_DESTROY", kPanthorIoctlVmDestroy, ra, k10)
          .Consumes(K::kVm, offsetof(PanthorVmDestroy, id)),
      Row(IoctlId::kVmBind, "PANTHOR_VM_BIND", kPanthorIoctlVmBind, ra, k10)
          .Nest(BindOps())
          .Consumes(K::kVm, offsetof(PanthorVmBind, vm_id)),
      Row(IoctlId::kVmGetState, "PANTHOR_VM_GET_STATE", kPanthorIoctlVmGetState, ra, k10)
          .Consumes(K::kVm, offsetof(PanthorVmGetState, vm_id)),
      // An exclusive VM id 0 means none, and no VM has id 0.
      Row(IoctlId::kBoCreate, "PANTHOR_BO_CREATE", kPanthorIoctlBoCreate, ra, k10)
          .Creates(K::kBo, offsetof(PanthorBoCreate, handle))
          .Consumes(K::kVm, offsetof(PanthorBoCreate, exclusive_vm_id)),
      // Fake offsets are device-wide: the board's other clients move them.
      Row(IoctlId::kBoMmapOffset, "PANTHOR_BO_MMAP_OFFSET", kPanthorIoctlBoMmapOffset, ra, k10)
          .Consumes(K::kBo, offsetof(PanthorBoMmapOffset, handle))
          .Masked(offsetof(PanthorBoMmapOffset, offset), 8),
      Row(IoctlId::kGroupCreate, "PANTHOR_GROUP_CREATE", kPanthorIoctlGroupCreate, ra, k10)
          .Nest(Mem(Dir::kIn, Layout::kObjArray, offsetof(PanthorGroupCreate, queues), 0,
                    sizeof(PanthorQueueCreate)))
          .Creates(K::kGroup, offsetof(PanthorGroupCreate, group_handle))
          .Consumes(K::kVm, offsetof(PanthorGroupCreate, vm_id)),
      Row(IoctlId::kGroupDestroy, "PANTHOR_GROUP_DESTROY", kPanthorIoctlGroupDestroy, ra, k10)
          .Consumes(K::kGroup, 0),
      Row(IoctlId::kGroupSubmit, "PANTHOR_GROUP_SUBMIT", kPanthorIoctlGroupSubmit, ra, k10)
          .Nest(QueueSubmits())
          .Consumes(K::kGroup, 0),
      Row(IoctlId::kGroupGetState, "PANTHOR_GROUP_GET_STATE", kPanthorIoctlGroupGetState, ra, k10)
          .Consumes(K::kGroup, 0),
      Row(IoctlId::kTilerHeapCreate, "PANTHOR_TILER_HEAP_CREATE", kPanthorIoctlTilerHeapCreate, ra,
          k10)
          .Creates(K::kHeap, offsetof(PanthorTilerHeapCreate, handle))
          .Consumes(K::kVm, offsetof(PanthorTilerHeapCreate, vm_id)),
      Row(IoctlId::kTilerHeapDestroy, "PANTHOR_TILER_HEAP_DESTROY", kPanthorIoctlTilerHeapDestroy,
          ra, k10)
          .Consumes(K::kHeap, offsetof(PanthorTilerHeapDestroy, handle)),
      Row(IoctlId::kBoSetLabel, "PANTHOR_BO_SET_LABEL", kPanthorIoctlBoSetLabel, ra, {1, 4})
          .Nest(Mem(Dir::kIn, Layout::kString, offsetof(PanthorBoSetLabel, label), 0,
                    kPanthorBoMaxLabelSize))
          .Consumes(K::kBo, offsetof(PanthorBoSetLabel, handle)),
      Row(IoctlId::kSetUserMmioOffset, "PANTHOR_SET_USER_MMIO_OFFSET",
          kPanthorIoctlSetUserMmioOffset, ra, {1, 5}),
      Row(IoctlId::kBoSync, "PANTHOR_BO_SYNC", kPanthorIoctlBoSync, ra, {1, 7}).Nest(bo_sync_ops),
      Row(IoctlId::kBoQueryInfo, "PANTHOR_BO_QUERY_INFO", kPanthorIoctlBoQueryInfo, ra, {1, 7})
          .Consumes(K::kBo, offsetof(PanthorBoQueryInfo, handle)),
  };
}

template <typename T>
T At(const std::string& s, size_t at) {
  T v{};
  if (at + sizeof(T) <= s.size()) std::memcpy(&v, s.data() + at, sizeof(T));
  return v;
}

// Where ranges go, and how big one may be.
struct Collector {
  const UserReader& read;
  std::vector<UserRange>* out;
  uint64_t max_bytes;
  bool left_out = false;  // a range over max_bytes was met
};

// Adds [ptr, ptr + n) when it is an honest range.
void Add(uint64_t ptr, uint64_t n, Collector* c) {
  if (!ptr || !n) return;
  if (n > c->max_bytes) {
    c->left_out = true;
    return;
  }
  c->out->push_back({ptr, n});
}

// The bytes of `n` at `ptr`, or empty where unreadable or too big.
std::string ReadAll(const UserReader& read, uint64_t ptr, uint64_t n, uint64_t max_bytes) {
  std::string s;
  if (!ptr || !n || n > max_bytes) return s;
  s.resize(n);
  if (!read(s.data(), ptr, n)) s.clear();
  return s;
}

// The length of a NUL-terminated string at `ptr` with its NUL (at most
// `max`), read page by page so that a short string at the end of a mapping
// is found; 0 where even its first byte is unreadable.
uint64_t StringLength(const UserReader& read, uint64_t ptr, uint64_t max) {
  char buf[4096];
  uint64_t done = 0;
  while (done < max) {
    const uint64_t at = ptr + done;
    const uint64_t n = std::min<uint64_t>({max - done, sizeof(buf), 4096 - (at & 4095)});
    if (!read(buf, at, n)) return done;
    if (const void* nul = std::memchr(buf, 0, n))
      return done + (static_cast<const char*>(nul) - buf) + 1;
    done += n;
  }
  return max;
}

void Walk(const std::vector<Nested>& nested, Dir dir, const std::string& in, const std::string& out,
          Collector* c) {
  for (const Nested& n : nested) {
    switch (n.layout) {
      case Layout::kObjArray: {
        const auto a = At<PanthorObjArray>(in, n.at);
        const uint64_t bytes = uint64_t{a.count} * a.stride;
        if (n.dir == dir) Add(a.array, bytes, c);
        if (n.element_nested.empty() || !a.stride) break;
        const std::string elems = ReadAll(c->read, a.array, bytes, c->max_bytes);
        for (size_t at = 0; !elems.empty() && at + n.elem_size <= elems.size(); at += a.stride) {
          Walk(n.element_nested, dir, elems.substr(at, n.elem_size), "", c);
        }
        break;
      }
      case Layout::kArray:
        if (n.dir == dir) {
          Add(At<uint64_t>(in, n.at), uint64_t{At<uint32_t>(in, n.count_at)} * n.elem_size, c);
        }
        break;
      case Layout::kCopyField:
        if (n.dir == dir) {
          Add(At<uint64_t>(in, n.at),
              std::min(At<uint64_t>(in, n.count_at), At<uint64_t>(out, n.count_at)), c);
        }
        break;
      case Layout::kWholeField:
        if (n.dir == dir && At<uint64_t>(in, n.count_at) >= At<uint64_t>(out, n.count_at)) {
          Add(At<uint64_t>(in, n.at), At<uint64_t>(out, n.count_at), c);
        }
        break;
      case Layout::kSized:
        if (n.dir == dir) Add(At<uint64_t>(in, n.at), At<uint32_t>(in, n.count_at), c);
        break;
      case Layout::kString:
        if (n.dir == dir) {
          const uint64_t ptr = At<uint64_t>(in, n.at);
          if (ptr) Add(ptr, StringLength(c->read, ptr, n.elem_size), c);
        }
        break;
    }
  }
}

}  // namespace

bool ObjRef::Applies(const char* bytes, size_t size) const {
  if (when_mask == 0) return true;
  uint32_t v = 0;
  if (when_offset + sizeof(v) > size) return false;
  std::memcpy(&v, bytes + when_offset, sizeof(v));
  return (v & when_mask) == when_value;
}

const std::vector<IoctlDesc>& AllIoctls() {
  static const auto* rows = [] {
    auto* v = new std::vector<IoctlDesc>(CoreRows());
    for (IoctlDesc& d : PanthorRows()) v->push_back(std::move(d));
    return v;
  }();
  return *rows;
}

const IoctlDesc& Ioctl(IoctlId id) { return AllIoctls()[static_cast<size_t>(id)]; }

const IoctlDesc* FindIoctl(uint32_t request) {
  // By number alone, as drm_ioctl() does (DRM_IOCTL_NR(cmd); the type byte
  // is not checked): the core table below DRM_COMMAND_BASE and above
  // DRM_COMMAND_END, the driver's in between.
  static const auto* by_nr = [] {
    auto* index = new std::vector<const IoctlDesc*>(256, nullptr);
    for (const IoctlDesc& d : AllIoctls()) (*index)[d.nr()] = &d;
    return index;
  }();
  return (*by_nr)[IocNr(request)];
}

const char* IoctlName(uint32_t request) {
  const IoctlDesc* d = FindIoctl(request);
  return d ? d->name : "";
}

CopySizes DrmCopySizes(uint32_t request, const IoctlDesc& desc) {
  constexpr uint32_t kIn = kIocWrite << 30, kOut = kIocRead << 30;
  CopySizes s;
  s.in = (request & desc.cmd & kIn) ? IocSize(request) : 0;
  s.out = (request & desc.cmd & kOut) ? IocSize(request) : 0;
  s.kernel = std::max({s.in, s.out, desc.size()});
  return s;
}

bool UserRanges(const IoctlDesc& desc, Nested::Dir dir, const std::string& arg_in,
                const std::string& arg_out, int result, const UserReader& read,
                std::vector<UserRange>* out, uint64_t max_bytes) {
  if (dir == Dir::kOut && result < 0) return true;
  Collector c{read, out, max_bytes};
  Walk(desc.nested, dir, arg_in, arg_out, &c);
  return !c.left_out;
}

}  // namespace faultlab::uapi
