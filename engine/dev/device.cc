#include "engine/dev/device.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/base/hash.h"
#include "engine/dev/recording_user_memory.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/ioc.h"
#include "engine/uapi/panthor.h"

namespace faultlab::dev {

using namespace uapi;  // NOLINT: the ABI's names read best unqualified here

namespace {

// DRM ioctl flags (drm_ioctl.h).
constexpr uint32_t kDrmMaster = 1u << 1;
constexpr uint32_t kDrmRootOnly = 1u << 2;
constexpr uint32_t kDrmRenderAllow = 1u << 5;

constexpr uint32_t kIocIn = kIocWrite << 30;   // user -> kernel
constexpr uint32_t kIocOut = kIocRead << 30;   // kernel -> user

// drm_syncobj wait flags (drm.h).
constexpr uint32_t kWaitAll = 1u << 0;
constexpr uint32_t kWaitForSubmit = 1u << 1;
constexpr uint32_t kWaitAvailable = 1u << 2;
constexpr uint32_t kWaitDeadline = 1u << 3;

bool IsPowerOf2(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

uint64_t RoundDownPow2(uint64_t x) { return x == 0 ? 0 : 1ULL << (63 - __builtin_clzll(x)); }

}  // namespace

struct Device::IoctlDesc {
  uint32_t cmd;  // the kernel's definition (direction and size)
  uint32_t flags;
  Handler func;
};

// The ioctl tables (drm_ioctl.c drm_ioctls[], panthor_drv.c panthor_drm_driver_ioctls[]).
const Device::IoctlDesc* Device::FindIoctl(uint32_t nr) {
  static const IoctlDesc kPanthor[kPanthorIoctlCount] = {
      {kPanthorIoctlDevQuery, kDrmRenderAllow, &Device::IoctlDevQuery},
      {kPanthorIoctlVmCreate, kDrmRenderAllow, &Device::IoctlVmCreate},
      {kPanthorIoctlVmDestroy, kDrmRenderAllow, &Device::IoctlVmDestroy},
      {kPanthorIoctlVmBind, kDrmRenderAllow, &Device::IoctlVmBind},
      {kPanthorIoctlVmGetState, kDrmRenderAllow, &Device::IoctlVmGetState},
      {kPanthorIoctlBoCreate, kDrmRenderAllow, &Device::IoctlBoCreate},
      {kPanthorIoctlBoMmapOffset, kDrmRenderAllow, &Device::IoctlBoMmapOffset},
      {kPanthorIoctlGroupCreate, kDrmRenderAllow, &Device::IoctlGroupCreate},
      {kPanthorIoctlGroupDestroy, kDrmRenderAllow, &Device::IoctlGroupDestroy},
      {kPanthorIoctlGroupSubmit, kDrmRenderAllow, &Device::IoctlGroupSubmit},
      {kPanthorIoctlGroupGetState, kDrmRenderAllow, &Device::IoctlGroupGetState},
      {kPanthorIoctlTilerHeapCreate, kDrmRenderAllow, &Device::IoctlTilerHeapCreate},
      {kPanthorIoctlTilerHeapDestroy, kDrmRenderAllow, &Device::IoctlTilerHeapDestroy},
  };
  static const std::map<uint32_t, IoctlDesc>* kCore = new std::map<uint32_t, IoctlDesc>{
      {IocNr(kDrmIoctlVersion), {kDrmIoctlVersion, kDrmRenderAllow, &Device::IoctlVersion}},
      {IocNr(kDrmIoctlGetUnique), {kDrmIoctlGetUnique, 0, &Device::IoctlGetUnique}},
      {IocNr(kDrmIoctlSetVersion), {kDrmIoctlSetVersion, kDrmMaster, &Device::IoctlSetVersion}},
      {IocNr(kDrmIoctlGemClose), {kDrmIoctlGemClose, kDrmRenderAllow, &Device::IoctlGemClose}},
      {IocNr(kDrmIoctlGetCap), {kDrmIoctlGetCap, kDrmRenderAllow, &Device::IoctlGetCap}},
      {IocNr(kDrmIoctlSetClientCap), {kDrmIoctlSetClientCap, 0, &Device::IoctlSetClientCap}},
      {IocNr(kDrmIoctlPrimeHandleToFd),
       {kDrmIoctlPrimeHandleToFd, kDrmRenderAllow, &Device::NotModelled}},
      {IocNr(kDrmIoctlPrimeFdToHandle),
       {kDrmIoctlPrimeFdToHandle, kDrmRenderAllow, &Device::NotModelled}},
      {IocNr(kDrmIoctlSyncobjCreate),
       {kDrmIoctlSyncobjCreate, kDrmRenderAllow, &Device::IoctlSyncobjCreate}},
      {IocNr(kDrmIoctlSyncobjDestroy),
       {kDrmIoctlSyncobjDestroy, kDrmRenderAllow, &Device::IoctlSyncobjDestroy}},
      {IocNr(kDrmIoctlSyncobjHandleToFd),
       {kDrmIoctlSyncobjHandleToFd, kDrmRenderAllow, &Device::NotModelled}},
      {IocNr(kDrmIoctlSyncobjFdToHandle),
       {kDrmIoctlSyncobjFdToHandle, kDrmRenderAllow, &Device::NotModelled}},
      {IocNr(kDrmIoctlSyncobjWait), {kDrmIoctlSyncobjWait, kDrmRenderAllow, &Device::IoctlSyncobjWait}},
      {IocNr(kDrmIoctlSyncobjReset),
       {kDrmIoctlSyncobjReset, kDrmRenderAllow, &Device::IoctlSyncobjReset}},
      {IocNr(kDrmIoctlSyncobjSignal),
       {kDrmIoctlSyncobjSignal, kDrmRenderAllow, &Device::IoctlSyncobjSignal}},
      {IocNr(kDrmIoctlSyncobjTimelineWait),
       {kDrmIoctlSyncobjTimelineWait, kDrmRenderAllow, &Device::IoctlSyncobjTimelineWait}},
      {IocNr(kDrmIoctlSyncobjQuery),
       {kDrmIoctlSyncobjQuery, kDrmRenderAllow, &Device::IoctlSyncobjQuery}},
      {IocNr(kDrmIoctlSyncobjTransfer),
       {kDrmIoctlSyncobjTransfer, kDrmRenderAllow, &Device::IoctlSyncobjTransfer}},
      {IocNr(kDrmIoctlSyncobjTimelineSignal),
       {kDrmIoctlSyncobjTimelineSignal, kDrmRenderAllow, &Device::IoctlSyncobjTimelineSignal}},
  };
  if (nr >= kDrmCommandBase && nr < kDrmCommandEnd) {
    const uint32_t index = nr - kDrmCommandBase;
    return index < kPanthorIoctlCount ? &kPanthor[index] : nullptr;
  }
  auto it = kCore->find(nr);
  return it == kCore->end() ? nullptr : &it->second;
}

Device::Device(DeviceConfig config)
    : config_(std::move(config)),
      memory_(mem::MemoryConfig{
          config_.budget_bytes ? config_.budget_bytes : config_.profile.ram_bytes, config_.thp}),
      sched_(config_.seed),
      mmu_(config_.profile.gpu_info.as_present) {
  if (config_.fault_cost_permille != 1000) {
    CostModel& c = config_.profile.cost;
    for (CostRange* r : {&c.irq_entry, &c.workqueue_delay, &c.page_alloc, &c.huge_alloc,
                         &c.metadata_alloc, &c.pte_update, &c.flush}) {
      r->min_ns = r->min_ns * config_.fault_cost_permille / 1000;
      r->max_ns = r->max_ns * config_.fault_cost_permille / 1000;
    }
  }
  const CostModel& cm = config_.profile.cost;
  pressure_ = std::make_unique<mem::Pressure>(
      &memory_, &sched_, config_.pressure,
      mem::ReclaimCosts{cm.kswapd_wakeup.min_ns, cm.kswapd_wakeup.max_ns, cm.reclaim_page.min_ns,
                        cm.reclaim_page.max_ns},
      config_.seed);
  pressure_->Start();
  memory_.set_failure_observer([this](mem::AllocClass cls, mem::Owner owner, uint32_t pages) {
    if (owner == mem::Owner::kTenant) return;  // other tenants' failures are theirs
    trace::Event e;
    e.kind = trace::EVENT_ALLOC_FAILURE;
    e.alloc_failure.kind = owner == mem::Owner::kPageTable  ? trace::ALLOC_PAGE_TABLE
                           : owner == mem::Owner::kMetadata ? trace::ALLOC_METADATA
                                                            : trace::ALLOC_PAGE;
    e.alloc_failure.alloc_class = cls == mem::AllocClass::kBlocking ? trace::ALLOC_BLOCKING
                                  : cls == mem::AllocClass::kNowait ? trace::ALLOC_NOWAIT
                                  : cls == mem::AllocClass::kPool   ? trace::ALLOC_POOL
                                                                    : trace::ALLOC_NORETRY;
    e.alloc_failure.size_bytes = static_cast<uint64_t>(pages) * mem::kPageSize;
    Emit(e);
  });
}

uint64_t Device::Cost(const CostRange& r) { return sched_.prng().Range(r.min_ns, r.max_ns); }

void Device::Emit(trace::Event& e) {
  if (observer_ == nullptr) return;
  e.virtual_ns = sched_.now_ns();
  observer_->OnEvent(e);
}

void Device::EmitMarker(trace::MarkerType type, uint64_t id, absl::string_view label) {
  trace::Event e;
  e.kind = trace::EVENT_MARKER;
  e.marker.type = type;
  e.marker.id = id;
  e.marker.label = label;
  Emit(e);
}

uint64_t Device::EmitStateHash() {
  trace::Event e;
  e.kind = trace::EVENT_STATE_HASH;
  e.state_hash.scope = trace::HASH_DEVICE;
  e.state_hash.hash = StateHash();
  Emit(e);
  return e.state_hash.hash;
}

void Device::OnOops(uint64_t vm_key, const char* function, const std::string& message) {
  oopses_.push_back(OopsRecord{sched_.now_ns(), vm_key, function, message});
  trace::Event e;
  e.kind = trace::EVENT_OOPS;
  e.oops.function = function;
  e.oops.message = message;
  e.oops.vm = static_cast<uint32_t>(vm_key);
  Emit(e);
}

Device::~Device() {
  while (!files_.empty()) Close(files_.back().get());
  for (uint32_t f : reserve_tables_) memory_.Free(f, mem::Owner::kReserve);
}

File* Device::Open(NodeType node, UserMemory* umem, Credentials creds) {
  auto f = std::make_unique<File>();
  f->id_ = next_file_id_++;
  f->node_ = node;
  f->creds_ = creds;
  f->umem_ = umem;
  // drm_master_open(): only the primary node has masters; the first opener
  // while none exists becomes it.
  if (node == NodeType::kPrimary && master_ == nullptr) {
    f->master_ = true;
    master_ = f.get();
  }
  files_.push_back(std::move(f));
  return files_.back().get();
}

void Device::Close(File* file) {
  if (master_ == file) master_ = nullptr;
  for (auto& [h, bo] : file->handles_) ReleaseBo(bo);
  file->handles_.clear();
  for (auto& [h, g] : file->groups_) {
    g->destroyed = true;
    KillGroup(g, 0);
  }
  file->groups_.clear();
  for (auto& [id, vm] : file->vms_) DestroyVm(*vm);
  file->vms_.clear();
  file->syncobjs_.clear();
  files_.erase(std::remove_if(files_.begin(), files_.end(),
                              [file](const std::unique_ptr<File>& f) { return f.get() == file; }),
               files_.end());
}

void Device::ReleaseBo(std::shared_ptr<gem::Bo>& bo) { bo.reset(); }

// Models panthor_vm_destroy(): heaps go, everything is unmapped; the slot is
// released once nothing runs on the VM.
void Device::DestroyVm(vm::Vm& vm) {
  for (auto it = heaps_.begin(); it != heaps_.end();) {
    it = it->second.vm_key == vm.key() ? heaps_.erase(it) : std::next(it);
  }
  vm.Destroy();
  if (!mmu_.Active(vm.key())) mmu_.Release(vm.key());
}

int Device::Permit(const File& f, uint32_t flags) const {
  // drm_ioctl_permit().
  if ((flags & kDrmRootOnly) && !f.creds_.cap_sys_admin) return -kEACCES;
  // DRM_AUTH: render clients count as authenticated, and this model has no
  // legacy magic handshake, so every primary client is authenticated too.
  if ((flags & kDrmMaster) && !f.master_) return -kEACCES;
  if (!(flags & kDrmRenderAllow) && f.node_ == NodeType::kRender) return -kEACCES;
  return 0;
}

int Device::Ioctl(File* file, uint32_t cmd, uint64_t arg) {
  ++stats_.ioctls;
  // drm_ioctl(): an unplugged device answers nothing; an unknown number is
  // -EINVAL before any copy. Both are still calls the program made, so they
  // are recorded (with no argument bytes) and a replay makes them again.
  const IoctlDesc* desc = unplugged_ ? nullptr : FindIoctl(IocNr(cmd));
  if (desc == nullptr) {
    const int ret = unplugged_ ? -kENODEV : -kEINVAL;
    ++stats_.ioctl_errors;
    if (observer_ != nullptr) EmitIoctl(*file, cmd, ret, "", "", nullptr);
    return ret;
  }
  const uint32_t drv_size = IocSize(desc->cmd);
  uint32_t in_size = IocSize(cmd), out_size = IocSize(cmd);
  if ((cmd & desc->cmd & kIocIn) == 0) in_size = 0;
  if ((cmd & desc->cmd & kIocOut) == 0) out_size = 0;
  const uint32_t ksize = std::max({in_size, out_size, drv_size});
  // 8-byte aligned storage so handlers may view it as their struct.
  std::vector<uint64_t> storage((ksize + 7) / 8 + 1, 0);
  char* kdata = reinterpret_cast<char*>(storage.data());
  UserMemory& umem = *file->umem_;
  // With an observer, every user copy of the call is recorded.
  RecordingUserMemory recording(&umem);
  if (observer_ != nullptr) file->umem_ = &recording;
  int ret;
  std::string arg_in;
  if (in_size && file->umem_->CopyFromUser(kdata, arg, in_size) != 0) {
    ret = -kEFAULT;
  } else {
    arg_in.assign(kdata, in_size);
    recording.Reset();  // the argument itself is not an indirect copy
    ret = Permit(*file, desc->flags);
    if (ret == 0) ret = (this->*desc->func)(*file, kdata);
    // The struct goes back whatever the handler said (drm_ioctl()).
    if (out_size && umem.CopyToUser(arg, kdata, out_size) != 0) ret = -kEFAULT;
  }
  file->umem_ = &umem;
  if (ret < 0) ++stats_.ioctl_errors;
  if (observer_ != nullptr) {
    const std::string arg_out = ret == -kEFAULT && out_size == 0 ? "" : std::string(kdata, out_size);
    EmitIoctl(*file, cmd, ret, arg_in, arg_out, &recording);
  }
  return ret;
}

void Device::EmitIoctl(const File& file, uint32_t cmd, int ret, absl::string_view arg_in,
                       absl::string_view arg_out, RecordingUserMemory* copies) {
  trace::Event e;
  e.kind = trace::EVENT_IOCTL;
  e.ioctl.file = file.id_;
  e.ioctl.request = cmd;
  e.ioctl.result = ret;
  e.ioctl.arg_in = arg_in;
  e.ioctl.arg_out = arg_out;
  if (copies != nullptr) copies->Fill(&e.ioctl);
  Emit(e);
}

int Device::NotModelled(File&, void*) {
  ++stats_.unmodelled_ioctls;
  return -kENOSYS;
}

// ---------------------------------------------------------------------------
// DRM core

int Device::CopyString(File& f, const std::string& value, uint64_t* len, uint64_t ptr) {
  // drm_copy_field(): copy at most *len bytes, report the full length.
  uint64_t n = value.size();
  if (n > *len) n = *len;
  *len = value.size();
  if (n && ptr && f.umem_->CopyToUser(ptr, value.data(), n) != 0) return -kEFAULT;
  return 0;
}

// Models drm_version().
int Device::IoctlVersion(File& f, void* data) {
  auto* v = static_cast<uapi::DrmVersion*>(data);
  v->version_major = kPanthorMajor;
  v->version_minor = kPanthorMinor;
  v->version_patchlevel = kPanthorPatchlevel;
  int err = CopyString(f, kPanthorName, &v->name_len, v->name);
  if (!err) err = CopyString(f, kPanthorDate, &v->date_len, v->date);
  if (!err) err = CopyString(f, kPanthorDesc, &v->desc_len, v->desc);
  return err;
}

// Models drm_getunique(): the platform device name.
int Device::IoctlGetUnique(File& f, void* data) {
  auto* u = static_cast<uapi::DrmUnique*>(data);
  const std::string& unique = config_.profile.unique;
  if (u->unique_len >= unique.size() &&
      f.umem_->CopyToUser(u->unique, unique.data(), unique.size()) != 0) {
    return -kEFAULT;
  }
  u->unique_len = unique.size();
  return 0;
}

// Models drm_setversion().
int Device::IoctlSetVersion(File&, void* data) {
  auto* sv = static_cast<uapi::DrmSetVersion*>(data);
  int ret = 0;
  if (sv->drm_di_major != -1 && (sv->drm_di_major != kDrmIfMajor || sv->drm_di_minor < 0 ||
                                 sv->drm_di_minor > kDrmIfMinor)) {
    ret = -kEINVAL;
  } else if (sv->drm_dd_major != -1 &&
             (sv->drm_dd_major != kPanthorMajor || sv->drm_dd_minor < 0 ||
              sv->drm_dd_minor > kPanthorMinor)) {
    ret = -kEINVAL;
  }
  sv->drm_di_major = kDrmIfMajor;
  sv->drm_di_minor = kDrmIfMinor;
  sv->drm_dd_major = kPanthorMajor;
  sv->drm_dd_minor = kPanthorMinor;
  return ret;
}

// Models drm_gem_close_ioctl(): no pad check; an unknown handle is -EINVAL.
int Device::IoctlGemClose(File& f, void* data) {
  auto* c = static_cast<uapi::DrmGemClose*>(data);
  auto it = f.handles_.find(c->handle);
  if (it == f.handles_.end()) return -kEINVAL;
  ReleaseBo(it->second);
  f.handles_.erase(it);
  return 0;
}

// Models drm_getcap() for a render-only (non-KMS) driver with SYNCOBJ and
// SYNCOBJ_TIMELINE features.
int Device::IoctlGetCap(File&, void* data) {
  auto* c = static_cast<uapi::DrmGetCap*>(data);
  c->value = 0;
  switch (c->capability) {
    case kDrmCapTimestampMonotonic: c->value = 1; return 0;
    case kDrmCapPrime: c->value = kDrmPrimeCapImport | kDrmPrimeCapExport; return 0;
    case kDrmCapSyncobj: c->value = 1; return 0;
    case kDrmCapSyncobjTimeline: c->value = 1; return 0;
    default: return -kEOPNOTSUPP;  // "Other caps only work with KMS drivers"
  }
}

// Models drm_setclientcap(): no render-only settable capabilities; every
// other cap needs DRIVER_MODESET, which panthor lacks.
int Device::IoctlSetClientCap(File&, void*) { return -kEOPNOTSUPP; }

// Models drm_syncobj_create_ioctl().
int Device::IoctlSyncobjCreate(File& f, void* data) {
  auto* c = static_cast<uapi::DrmSyncobjCreate*>(data);
  if (c->flags & ~kDrmSyncobjCreateSignaled) return -kEINVAL;
  auto obj = std::make_unique<sync::Syncobj>();
  if (c->flags & kDrmSyncobjCreateSignaled) obj->ReplaceFence(sync::SignalledStub());
  // idr_alloc(..., 1, 0): the lowest free handle from 1.
  uint32_t h = 1;
  for (const auto& [k, v] : f.syncobjs_) {
    if (k != h) break;
    ++h;
  }
  f.syncobjs_[h] = std::move(obj);
  c->handle = h;
  return 0;
}

// Models drm_syncobj_destroy_ioctl().
int Device::IoctlSyncobjDestroy(File& f, void* data) {
  auto* d = static_cast<uapi::DrmSyncobjDestroy*>(data);
  if (d->pad) return -kEINVAL;
  return f.syncobjs_.erase(d->handle) ? 0 : -kEINVAL;
}

// Models drm_syncobj_array_find(): -EFAULT on the handle array, -ENOENT for an
// unknown handle.
int Device::SyncobjArrayFind(File& f, uint64_t user_handles, uint32_t count,
                             std::vector<sync::Syncobj*>* out) {
  std::vector<uint32_t> handles(count);
  if (f.umem_->CopyFromUser(handles.data(), user_handles, sizeof(uint32_t) * count) != 0) {
    return -kEFAULT;
  }
  out->clear();
  for (uint32_t h : handles) {
    auto it = f.syncobjs_.find(h);
    if (it == f.syncobjs_.end()) return -kENOENT;
    out->push_back(it->second.get());
  }
  return 0;
}

// Models drm_syncobj_array_wait_timeout(): the fences are looked up now (a
// missing one is -EINVAL unless WAIT_FOR_SUBMIT), then virtual time runs until
// all (WAIT_ALL) or any of them signalled, or the absolute timeout passes
// (-ETIME). Nothing can attach a fence while the caller waits, so a missing
// fence under WAIT_FOR_SUBMIT only ever times out. An infinite wait that
// nothing can end returns -ETIME too and is counted (`waits_never_ending`).
int Device::SyncobjWaitCommon(File&, const std::vector<sync::Syncobj*>& objs,
                              const std::vector<uint64_t>& points, uint32_t flags,
                              int64_t timeout_ns, uint32_t* first_signaled) {
  std::vector<std::shared_ptr<sync::Fence>> fences;
  bool any_missing = false;
  for (size_t i = 0; i < objs.size(); ++i) {
    std::shared_ptr<sync::Fence> fence = objs[i]->FenceForPoint(points.empty() ? 0 : points[i]);
    if (!fence) {
      if (!(flags & kWaitForSubmit)) return -kEINVAL;
      any_missing = true;
    }
    fences.push_back(std::move(fence));
  }
  auto first = [&]() -> int64_t {
    for (size_t i = 0; i < fences.size(); ++i) {
      if (fences[i] && fences[i]->signalled) return static_cast<int64_t>(i);
    }
    return -1;
  };
  auto done = [&] {
    if (flags & kWaitAll) {
      if (any_missing) return false;
      for (const auto& fc : fences) {
        if (!fc->signalled) return false;
      }
      return true;
    }
    return first() >= 0;
  };
  const uint64_t deadline =
      timeout_ns <= 0 ? sched_.now_ns()
                      : (timeout_ns == INT64_MAX ? sim::Scheduler::kNever
                                                 : static_cast<uint64_t>(timeout_ns));
  if (sched_.RunUntil(done, deadline)) {
    const int64_t idx = first();
    *first_signaled = static_cast<uint32_t>(idx < 0 ? 0 : idx);
    return 0;
  }
  if (deadline == sim::Scheduler::kNever) ++stats_.waits_never_ending;
  return -kETIME;
}

// Models drm_syncobj_wait_ioctl().
int Device::IoctlSyncobjWait(File& f, void* data) {
  auto* w = static_cast<uapi::DrmSyncobjWait*>(data);
  if (w->flags & ~(kWaitAll | kWaitForSubmit | kWaitDeadline)) return -kEINVAL;
  if (w->count_handles == 0) return -kEINVAL;
  std::vector<sync::Syncobj*> objs;
  if (int ret = SyncobjArrayFind(f, w->handles, w->count_handles, &objs); ret) return ret;
  return SyncobjWaitCommon(f, objs, {}, w->flags, w->timeout_nsec, &w->first_signaled);
}

// Models drm_syncobj_timeline_wait_ioctl().
int Device::IoctlSyncobjTimelineWait(File& f, void* data) {
  auto* w = static_cast<uapi::DrmSyncobjTimelineWait*>(data);
  if (w->flags & ~(kWaitAll | kWaitForSubmit | kWaitAvailable | kWaitDeadline)) return -kEINVAL;
  if (w->count_handles == 0) return -kEINVAL;
  std::vector<sync::Syncobj*> objs;
  if (int ret = SyncobjArrayFind(f, w->handles, w->count_handles, &objs); ret) return ret;
  std::vector<uint64_t> points(w->count_handles);
  if (f.umem_->CopyFromUser(points.data(), w->points, sizeof(uint64_t) * points.size()) != 0) {
    return -kEFAULT;
  }
  return SyncobjWaitCommon(f, objs, points, w->flags, w->timeout_nsec, &w->first_signaled);
}

// Models drm_syncobj_reset_ioctl().
int Device::IoctlSyncobjReset(File& f, void* data) {
  auto* a = static_cast<uapi::DrmSyncobjArray*>(data);
  if (a->pad) return -kEINVAL;
  if (a->count_handles == 0) return -kEINVAL;
  std::vector<sync::Syncobj*> objs;
  if (int ret = SyncobjArrayFind(f, a->handles, a->count_handles, &objs); ret) return ret;
  for (sync::Syncobj* o : objs) o->ReplaceFence(nullptr);
  return 0;
}

// Models drm_syncobj_signal_ioctl().
int Device::IoctlSyncobjSignal(File& f, void* data) {
  auto* a = static_cast<uapi::DrmSyncobjArray*>(data);
  if (a->pad) return -kEINVAL;
  if (a->count_handles == 0) return -kEINVAL;
  std::vector<sync::Syncobj*> objs;
  if (int ret = SyncobjArrayFind(f, a->handles, a->count_handles, &objs); ret) return ret;
  for (sync::Syncobj* o : objs) o->ReplaceFence(sync::SignalledStub());
  return 0;
}

// Models drm_syncobj_timeline_signal_ioctl().
int Device::IoctlSyncobjTimelineSignal(File& f, void* data) {
  auto* a = static_cast<uapi::DrmSyncobjTimelineArray*>(data);
  if (a->flags != 0) return -kEINVAL;
  if (a->count_handles == 0) return -kEINVAL;
  std::vector<sync::Syncobj*> objs;
  if (int ret = SyncobjArrayFind(f, a->handles, a->count_handles, &objs); ret) return ret;
  std::vector<uint64_t> points(a->count_handles);
  if (f.umem_->CopyFromUser(points.data(), a->points, sizeof(uint64_t) * points.size()) != 0) {
    return -kEFAULT;
  }
  for (size_t i = 0; i < objs.size(); ++i) {
    if (points[i] == 0) {
      objs[i]->ReplaceFence(sync::SignalledStub());
    } else {
      objs[i]->AddPoint(points[i], sync::SignalledStub());
    }
  }
  return 0;
}

// Models drm_syncobj_query_ioctl().
int Device::IoctlSyncobjQuery(File& f, void* data) {
  auto* a = static_cast<uapi::DrmSyncobjTimelineArray*>(data);
  if (a->flags & ~kDrmSyncobjQueryFlagsLastSubmitted) return -kEINVAL;
  if (a->count_handles == 0) return -kEINVAL;
  std::vector<sync::Syncobj*> objs;
  if (int ret = SyncobjArrayFind(f, a->handles, a->count_handles, &objs); ret) return ret;
  for (size_t i = 0; i < objs.size(); ++i) {
    const uint64_t point = objs[i]->QueryPoint(a->flags & kDrmSyncobjQueryFlagsLastSubmitted);
    if (f.umem_->CopyToUser(a->points + i * sizeof(uint64_t), &point, sizeof(point)) != 0) {
      return -kEFAULT;
    }
  }
  return 0;
}

// Models drm_syncobj_transfer_ioctl() (flags: only WAIT_AVAILABLE-style bits
// are defined for the source fence lookup; pad must be zero).
int Device::IoctlSyncobjTransfer(File& f, void* data) {
  auto* t = static_cast<uapi::DrmSyncobjTransfer*>(data);
  if (t->pad) return -kEINVAL;
  auto src = f.syncobjs_.find(t->src_handle);
  auto dst = f.syncobjs_.find(t->dst_handle);
  if (src == f.syncobjs_.end() || dst == f.syncobjs_.end()) return -kENOENT;
  std::shared_ptr<sync::Fence> fence = src->second->FenceForPoint(t->src_point);
  if (!fence) return -kEINVAL;
  if (t->dst_point) {
    dst->second->AddPoint(t->dst_point, fence);
  } else {
    dst->second->ReplaceFence(fence);
  }
  return 0;
}

// ---------------------------------------------------------------------------
// panthor

uint64_t Device::CurrentGpuTimestamp() const {
  // The GPU timestamp counter runs at the arch timer frequency.
  const uint64_t hz = config_.profile.timestamp_frequency;
  return static_cast<uint64_t>(static_cast<unsigned __int128>(sched_.now_ns()) * hz /
                               1'000'000'000ULL);
}

// Models panthor_ioctl_dev_query() with PANTHOR_UOBJ_SET (panthor_set_uobj()).
int Device::IoctlDevQuery(File& f, void* data) {
  auto* q = static_cast<PanthorDevQuery*>(data);
  PanthorTimestampInfo ts{};
  PanthorGroupPrioritiesInfo prio{};
  const void* obj;
  uint32_t kern_size, min_size;
  switch (q->type) {
    case kPanthorDevQueryGpuInfo:
      obj = &config_.profile.gpu_info;
      kern_size = sizeof(PanthorGpuInfo);
      min_size = kPanthorGpuInfoMinSize;
      break;
    case kPanthorDevQueryCsifInfo:
      obj = &config_.profile.csif_info;
      kern_size = sizeof(PanthorCsifInfo);
      min_size = kPanthorCsifInfoMinSize;
      break;
    case kPanthorDevQueryTimestampInfo:
      ts.timestamp_frequency = config_.profile.timestamp_frequency;
      ts.current_timestamp = CurrentGpuTimestamp();
      ts.timestamp_offset = 0;
      obj = &ts;
      kern_size = sizeof(ts);
      min_size = kPanthorTimestampInfoMinSize;
      break;
    case kPanthorDevQueryGroupPrioritiesInfo:
      // panthor_query_group_priorities_info(): LOW and MEDIUM always; HIGH and
      // REALTIME with CAP_SYS_NICE or as DRM master (group_priority_permit()).
      prio.allowed_mask = 1u << kPanthorGroupPriorityLow | 1u << kPanthorGroupPriorityMedium;
      if (f.creds_.cap_sys_nice || f.master_) {
        prio.allowed_mask |= 1u << kPanthorGroupPriorityHigh | 1u << kPanthorGroupPriorityRealtime;
      }
      obj = &prio;
      kern_size = sizeof(prio);
      min_size = kPanthorGroupPrioritiesInfoMinSize;
      break;
    default:
      return -kEINVAL;
  }
  if (q->pointer == 0) {
    q->size = kern_size;  // size negotiation
    return 0;
  }
  if (q->size < min_size) return -kEINVAL;
  if (f.umem_->CopyToUser(q->pointer, obj, std::min(q->size, kern_size)) != 0) return -kEFAULT;
  if (q->size > kern_size && f.umem_->ClearUser(q->pointer + kern_size, q->size - kern_size) != 0) {
    return -kEFAULT;
  }
  return 0;
}

// Models panthor_ioctl_vm_create() -> panthor_vm_pool_create_vm() with
// panthor_vm_create_check_args() and panthor_vm_create_get_user_va_range().
int Device::IoctlVmCreate(File& f, void* data) {
  auto* a = static_cast<PanthorVmCreate*>(data);
  const uint32_t va_bits = config_.profile.va_bits();
  const uint64_t full = 1ULL << va_bits;
  if (a->flags != 0) return -kEINVAL;  // PANTHOR_VM_CREATE_FLAGS is 0
  uint64_t user = 0;
  if (full >= kPanthorVmMinKernelVaSize) {
    if (a->user_va_range) {
      user = a->user_va_range;
    } else if (config_.profile.task_size < full) {
      user = config_.profile.task_size;
    } else {
      user = full > (4ULL << 30) ? full / 2 : full - kPanthorVmMinKernelVaSize;
    }
    if (full - kPanthorVmMinKernelVaSize < user) user = full - kPanthorVmMinKernelVaSize;
  }
  if (user == 0 || (a->user_va_range && a->user_va_range > user)) return -kEINVAL;
  const uint64_t kernel_range = RoundDownPow2(full - user);
  const uint64_t kernel_start = full - kernel_range;
  // xa_alloc(XA_LIMIT(1, PANTHOR_MAX_VMS_PER_FILE)): lowest free id, -EBUSY when full.
  uint32_t id = 1;
  for (const auto& [k, v] : f.vms_) {
    if (k != id) break;
    ++id;
  }
  // panthor_vm_create() (root page table, GFP_KERNEL) runs before xa_alloc().
  auto vm = std::make_shared<vm::Vm>(next_vm_key_++, va_bits, kernel_start, kernel_range,
                                     &memory_, config_.variant, this);
  if (!vm->ok()) return -kENOMEM;
  if (config_.policy.kind == FaultPolicyKind::kDummyPage) {
    // The dummy-page policy's per-context reserve page, allocated up front.
    uint32_t frame;
    if (!memory_.AllocPage(mem::AllocClass::kBlocking, mem::Owner::kReserve, &frame)) {
      return -kENOMEM;
    }
    vm->set_dummy_frame(frame);
  }
  if (id > kPanthorMaxVmsPerFile) return -kEBUSY;
  vms_by_key_[vm->key()] = vm;
  f.vms_[id] = std::move(vm);
  a->id = id;
  a->user_va_range = kernel_start;
  return 0;
}

// Models panthor_ioctl_vm_destroy() -> panthor_vm_pool_destroy_vm().
int Device::IoctlVmDestroy(File& f, void* data) {
  auto* a = static_cast<PanthorVmDestroy*>(data);
  if (a->pad) return -kEINVAL;
  auto it = f.vms_.find(a->id);
  if (it == f.vms_.end()) return -kEINVAL;
  DestroyVm(*it->second);
  f.vms_.erase(it);
  return 0;
}

// Models panthor_ioctl_vm_get_state().
int Device::IoctlVmGetState(File& f, void* data) {
  auto* a = static_cast<PanthorVmGetState*>(data);
  auto it = f.vms_.find(a->vm_id);
  if (it == f.vms_.end()) return -kEINVAL;
  a->state = it->second->unusable() ? kPanthorVmStateUnusable : kPanthorVmStateUsable;
  return 0;
}

uint32_t Device::AllocHandle(const std::map<uint32_t, std::shared_ptr<gem::Bo>>& m) const {
  // drm_gem_handle_create_tail(): idr_alloc(..., 1, 0) -> the lowest free id.
  uint32_t h = 1;
  for (const auto& [k, v] : m) {
    if (k != h) break;
    ++h;
  }
  return h;
}

// Models panthor_ioctl_bo_create() as the seed patches it, then
// panthor_gem_create_with_handle() -> drm_gem_shmem_create() (size rounded
// up to pages; no pages allocated) -> drm_gem_handle_create().
int Device::IoctlBoCreate(File& f, void* data) {
  auto* a = static_cast<PanthorBoCreate*>(data);
  // PANTHOR_BO_FLAGS = NO_MMAP | ALLOC_ON_FAULT; the pad became the granularity.
  if (a->size == 0 || (a->flags & ~(kPanthorBoNoMmap | kPanthorBoAllocOnFault))) return -kEINVAL;
  const uint32_t gran = a->alloc_on_fault_granularity;
  if (a->flags & kPanthorBoAllocOnFault) {
    if (gran < kPageSize || !IsPowerOf2(gran)) return -kEINVAL;
    // The uAPI doc also says "<= size"; v3 does not check it (spec 1.4 (c), 7.1).
    if (config_.variant == Variant::kSeriesFixed && gran > a->size) return -kEINVAL;
  } else if (gran) {
    return -kEINVAL;
  }
  uint64_t exclusive = 0;
  if (a->exclusive_vm_id) {
    auto it = f.vms_.find(a->exclusive_vm_id);
    if (it == f.vms_.end()) return -kEINVAL;
    exclusive = it->second->key();
  }
  // shmem_file_setup() refuses sizes past MAX_LFS_FILESIZE; PAGE_ALIGN of the
  // last page's worth would wrap (approximated as the same -EINVAL).
  const uint64_t size = (a->size + kPageSize - 1) & ~(kPageSize - 1);
  if (a->size > 0x7fffffffffffffffULL || size == 0) return -kEINVAL;
  const uint64_t bo_id = next_bo_id_++;
  auto* raw = new gem::Bo(&memory_, bo_id, size, a->flags, gran, exclusive);
  std::shared_ptr<gem::Bo> bo(raw, [this](gem::Bo* b) {
    // drm_gem_object_free() -> panthor_gem_free_object(): sparse finish,
    // mmap offset freed, pages released.
    if (b->mmap_pgoff()) mmap_offsets_.Remove(b->mmap_pgoff());
    bos_.erase(b->id());
    ++stats_.bos_freed;
    if (b->alloc_on_fault()) stats_.aof_bytes_live -= b->size_bytes();
    delete b;
  });
  bos_[bo_id] = bo;
  ++stats_.bos_created;
  if (bo->alloc_on_fault()) {
    stats_.aof_bytes_live += size;
    stats_.aof_bytes_peak = std::max(stats_.aof_bytes_peak, stats_.aof_bytes_live);
  }
  const uint32_t handle = AllocHandle(f.handles_);
  f.handles_[handle] = std::move(bo);
  a->size = size;
  a->handle = handle;
  return 0;
}

// Models panthor_ioctl_bo_mmap_offset().
int Device::IoctlBoMmapOffset(File& f, void* data) {
  auto* a = static_cast<PanthorBoMmapOffset*>(data);
  if (a->pad) return -kEINVAL;
  auto it = f.handles_.find(a->handle);
  if (it == f.handles_.end()) return -kENOENT;  // drm_gem_object_lookup() failed
  gem::Bo& bo = *it->second;
  if (bo.flags() & kPanthorBoNoMmap) return -kEPERM;
  // drm_gem_create_mmap_offset(): one node per object, made on first request.
  if (bo.mmap_pgoff() == 0) {
    const uint64_t pgoff = mmap_offsets_.Add(bo.npages(), bo.id());
    if (pgoff == 0) return -kENOSPC;
    bo.set_mmap_pgoff(pgoff);
  }
  a->offset = bo.mmap_pgoff() << kPageShift;
  return 0;
}

// ---------------------------------------------------------------------------
// CPU mappings

std::shared_ptr<gem::Bo> Device::BoAtOffset(File* file, uint64_t offset, uint64_t length) {
  if (offset % kPageSize) return nullptr;
  const uint64_t npages = (length + kPageSize - 1) / kPageSize;
  const uint64_t id = mmap_offsets_.Lookup(offset >> kPageShift, npages);
  if (id == 0) return nullptr;
  auto it = bos_.find(id);
  if (it == bos_.end()) return nullptr;
  std::shared_ptr<gem::Bo> bo = it->second.lock();
  // drm_vma_node_is_allowed(): only files holding a handle may map it.
  for (const auto& [h, b] : file->handles_) {
    if (b == bo) return bo;
  }
  return nullptr;
}

int Device::MmapBo(File* file, uint64_t offset, uint64_t length, bool shared,
                   uint64_t* populated) {
  *populated = 0;
  if (unplugged_) return -kENODEV;
  const uint64_t npages = (length + kPageSize - 1) / kPageSize;
  if (offset % kPageSize || npages == 0) return -kEINVAL;
  const uint64_t id = mmap_offsets_.Lookup(offset >> kPageShift, npages);
  if (id == 0) return -kEINVAL;  // drm_gem_mmap(): no such node
  std::shared_ptr<gem::Bo> bo = BoAtOffset(file, offset, length);
  if (!bo) return -kEACCES;
  // drm_gem_shmem_mmap(): a private writable mapping is refused (is_cow_mapping).
  if (!shared) return -kEINVAL;
  // drm_gem_shmem_get_pages(): the whole object, for a sparse one too.
  const int ret = bo->GetPages(mem::AllocClass::kBlocking, populated);
  trace::Event e;
  e.kind = trace::EVENT_CPU_MAP;
  e.cpu_map = {file->id_, 0, offset, length, ret, false, static_cast<uint32_t>(*populated)};
  for (const auto& [h, b] : file->handles_) {
    if (b == bo) e.cpu_map.handle = h;
  }
  Emit(e);
  return ret;
}

// ---------------------------------------------------------------------------

std::shared_ptr<gem::Bo> Device::LookupBo(File* file, uint32_t handle) const {
  auto it = file->handles_.find(handle);
  return it == file->handles_.end() ? nullptr : it->second;
}

std::shared_ptr<vm::Vm> Device::LookupVm(File* file, uint32_t id) const {
  auto it = file->vms_.find(id);
  return it == file->vms_.end() ? nullptr : it->second;
}

std::string Device::CheckInvariants() const {
  uint64_t bo_pages = 0;
  for (const auto& [id, weak] : bos_) {
    std::shared_ptr<gem::Bo> bo = weak.lock();
    if (!bo) return absl::StrCat("BO ", id, " listed but freed");
    if (bo->pages().populated() > bo->npages()) return absl::StrCat("BO ", id, " over-populated");
    bo_pages += bo->pages().populated();
  }
  if (bo_pages != memory_.owned_pages(mem::Owner::kBoPage)) {
    return absl::StrCat("BO pages ", bo_pages, " vs memory model ",
                        memory_.owned_pages(mem::Owner::kBoPage));
  }
  for (const auto& f : files_) {
    for (const auto& [h, bo] : f->handles_) {
      if (h == 0 || !bo || !bos_.count(bo->id())) return absl::StrCat("file ", f->id_, " handle ", h);
    }
    if (f->vms_.size() > kPanthorMaxVmsPerFile) return "too many VMs";
  }
  if (master_ != nullptr && !master_->master_) return "master flag";
  for (const auto& [key, weak] : vms_by_key_) {
    if (std::shared_ptr<vm::Vm> v = weak.lock()) {
      if (std::string p = v->CheckInvariants(); !p.empty()) return absl::StrCat("VM ", key, ": ", p);
    }
  }
  if (std::string p = mmu_.CheckInvariants(); !p.empty()) return absl::StrCat("MMU: ", p);
  return memory_.CheckInvariants();
}

uint64_t Device::StateHash() const {
  StateHasher h;
  h.Add(memory_.used_pages());
  for (int o = 0; o < static_cast<int>(mem::Owner::kCount); ++o) {
    h.Add(memory_.owned_pages(static_cast<mem::Owner>(o)));
  }
  for (const auto& [id, weak] : bos_) {
    if (std::shared_ptr<gem::Bo> bo = weak.lock()) {
      h.Add(id);
      h.Add(bo->pages().populated());
    }
  }
  for (const auto& [key, weak] : vms_by_key_) {
    if (std::shared_ptr<vm::Vm> v = weak.lock()) {
      h.Add(key);
      h.Add(v->Hash());
    }
  }
  h.Add(mmu_.rawstat());
  h.Add(mmu_.faulty_mask());
  return h.Finish();
}

}  // namespace faultlab::dev
