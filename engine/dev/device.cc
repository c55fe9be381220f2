#include "engine/dev/device.h"

#include <algorithm>
#include <cstring>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "engine/base/check.h"
#include "engine/base/hash.h"
#include "engine/dev/recording_user_memory.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/ioc.h"

namespace faultlab::dev {

using namespace uapi;  // NOLINT: the ABI's names read best unqualified here

namespace {

// The profile's fault-path costs scaled by fault_cost_permille.
DeviceConfig Scaled(DeviceConfig c) {
  if (c.fault_cost_permille != 1000) {
    profiles::CostModel& m = c.profile.cost;
    for (profiles::CostRange* r : {&m.irq_entry, &m.workqueue_delay, &m.page_alloc, &m.huge_alloc,
                                   &m.metadata_alloc, &m.pte_update, &m.flush}) {
      r->min_ns = r->min_ns * c.fault_cost_permille / 1000;
      r->max_ns = r->max_ns * c.fault_cost_permille / 1000;
    }
  }
  return c;
}

mem::MemoryConfig MemoryConfigOf(const DeviceConfig& c) {
  return {c.budget_bytes ? c.budget_bytes : c.profile.ram_bytes, c.thp};
}

// What the profile's GPU gives its command streams: the CS register file
// (GPU_CSF_INFO) and threads resident at once over its cores (GPU_INFO).
gpu::CsShape CsShapeOf(const profiles::Profile& p, bool footprints) {
  gpu::CsShape s;
  s.footprints = footprints;
  s.cs_reg_count = p.csif_info.cs_reg_count;
  s.unpreserved_cs_reg_count = p.csif_info.unpreserved_cs_reg_count;
  s.work.cores = static_cast<uint64_t>(__builtin_popcountll(p.gpu_info.shader_present));
  s.work.resident_threads = uint64_t{p.gpu_info.max_threads} * s.work.cores;
  return s;
}

// The trace's names for the memory model's allocation classes and owners.
trace::AllocClass TraceClass(mem::AllocClass c) {
  switch (c) {
    case mem::AllocClass::kBlocking:
      return trace::ALLOC_BLOCKING;
    case mem::AllocClass::kNoretry:
      return trace::ALLOC_NORETRY;
    case mem::AllocClass::kNowait:
      return trace::ALLOC_NOWAIT;
    case mem::AllocClass::kPool:
      return trace::ALLOC_POOL;
  }
  FAULTLAB_CHECK(false, "allocation class ", static_cast<int>(c));
}
trace::AllocKind TraceKind(mem::Owner o) {
  switch (o) {
    case mem::Owner::kPageTable:
      return trace::ALLOC_PAGE_TABLE;
    case mem::Owner::kMetadata:
      return trace::ALLOC_METADATA;
    case mem::Owner::kBoPage:
    case mem::Owner::kPool:
    case mem::Owner::kReserve:
      return trace::ALLOC_PAGE;
    case mem::Owner::kTenant:
    case mem::Owner::kCount:
      break;
  }
  FAULTLAB_CHECK(false, "frames of ", mem::OwnerName(o), " are not the device's");
}

}  // namespace

Device::Device(DeviceConfig config)
    : config_(Scaled(std::move(config))),
      memory_(MemoryConfigOf(config_)),
      objects_(&memory_),
      sched_(config_.seed),
      out_(&sched_),
      mmu_(config_.profile.gpu_info.as_present),
      policy_(policy::Make(config_.policy, &memory_)),
      fault_({&sched_, &memory_, &mmu_, &vms_, &config_.profile.cost, config_.variant,
              policy_.get(), &out_, this}),
      heaps_({&sched_, &objects_, &fault_, &config_.profile.cost, &out_, config_.variant}),
      power_(config_.profile.opp_hz),
      executor_({&sched_, &mmu_, &fault_, &heaps_, &config_.profile.cost, config_.variant,
                 policy_.get(), &out_, config_.v3_tick_race_permille,
                 config_.profile.job_timeout_ns, &power_, config_.profile.timestamp_frequency,
                 config_.profile.opp_hz.back(),
                 CsShapeOf(config_.profile, config_.model_footprints)}) {
  fault_.set_listener(&executor_);
  const profiles::CostModel& cm = config_.profile.cost;
  pressure_ = std::make_unique<mem::Pressure>(
      &memory_, &sched_, config_.pressure,
      mem::ReclaimCosts{cm.kswapd_wakeup.min_ns, cm.kswapd_wakeup.max_ns, cm.reclaim_page.min_ns,
                        cm.reclaim_page.max_ns},
      config_.seed);
  pressure_->Start();
  memory_.set_failure_observer([this](mem::AllocClass cls, mem::Owner owner, uint32_t pages) {
    OnAllocFailure(cls, owner, pages);
  });
}

Device::~Device() {
  out_.set_observer(nullptr);  // the teardown is no part of any recording
  while (!files_.empty()) Close(files_.back().get());
}

void Device::OnAllocFailure(mem::AllocClass cls, mem::Owner owner, uint32_t pages) {
  if (owner == mem::Owner::kTenant) return;  // other tenants' failures are theirs
  trace::Event e;
  e.kind = trace::EVENT_ALLOC_FAILURE;
  e.alloc_failure.kind = TraceKind(owner);
  e.alloc_failure.alloc_class = TraceClass(cls);
  e.alloc_failure.size_bytes = static_cast<uint64_t>(pages) * mem::kPageSize;
  out_.Emit(e);
}

void Device::EmitMarker(trace::MarkerType type, uint64_t id, absl::string_view label) {
  trace::Event e;
  e.kind = trace::EVENT_MARKER;
  e.marker.type = type;
  e.marker.id = id;
  e.marker.label = label;
  out_.Emit(e);
}

uint64_t Device::EmitStateHash() {
  trace::Event e;
  e.kind = trace::EVENT_STATE_HASH;
  e.state_hash.scope = trace::HASH_DEVICE;
  e.state_hash.hash = StateHash();
  out_.Emit(e);
  return e.state_hash.hash;
}

void Device::OnOops(uint64_t vm_key, const char* function, const std::string& message) {
  oopses_.push_back(OopsRecord{sched_.now_ns(), vm_key, function, message});
  trace::Event e;
  e.kind = trace::EVENT_OOPS;
  e.oops.function = function;
  e.oops.message = message;
  e.oops.vm = static_cast<uint32_t>(vm_key);
  out_.Emit(e);
}

void Device::EmitFile(const File& file, bool close) {
  if (legacy_file_markers_) {
    // As traces recorded before file events said it (the replay of one must
    // produce the same events).
    EmitMarker(trace::MARKER_NOTE, file.id_,
               close ? absl::StrCat("close:", file.id_)
                     : absl::StrCat("open:", file.id_, ":",
                                    file.node_ == NodeType::kPrimary ? "primary" : "render"));
    return;
  }
  trace::Event e;
  e.kind = trace::EVENT_FILE;
  e.file_op.file = file.id_;
  e.file_op.node = file.node_ == NodeType::kPrimary ? trace::NODE_PRIMARY : trace::NODE_RENDER;
  e.file_op.close = close;
  out_.Emit(e);
}

File* Device::Open(NodeType node, UserMemory* umem, Credentials creds) {
  auto f = std::make_unique<File>();
  f->id_ = next_file_id_++;
  f->node_ = node;
  f->creds_ = creds;
  f->umem_ = umem;
  // panthor_open(): mmap2's page offset is 32 bits for a compat task.
  if (creds.compat_task) f->user_mmio_offset_ = uapi::kPanthorUserMmioOffset32;
  // drm_master_open(): only the primary node has masters; the first opener
  // while none exists becomes it.
  if (node == NodeType::kPrimary && master_ == nullptr) {
    f->master_ = true;
    master_ = f.get();
  }
  files_.push_back(std::move(f));
  EmitFile(*files_.back(), /*close=*/false);
  return files_.back().get();
}

void Device::Close(File* file) {
  EmitFile(*file, /*close=*/true);
  if (master_ == file) master_ = nullptr;
  file->handles_.clear();
  for (auto& [h, g] : file->groups_) DestroyGroup(g);
  file->groups_.clear();
  for (auto& [id, vm] : file->vms_) DestroyVm(*vm);
  file->vms_.clear();
  file->syncobjs_.clear();
  files_.erase(std::remove_if(files_.begin(), files_.end(),
                              [file](const std::unique_ptr<File>& f) { return f.get() == file; }),
               files_.end());
}

// Models panthor_group_destroy(): the group's jobs are cancelled.
void Device::DestroyGroup(const std::shared_ptr<gpu::Group>& group) {
  group->destroyed = true;
  executor_.KillGroup(group, 0);
  executor_.RemoveGroup(*group);
  for (const auto& f : files_) {
    if (f->id_ == group->file) f->retired_engine_ns_ += group->engine_ns;
  }
}

Device::FileUsage Device::UsageOf(const File* file) const {
  FileUsage u;
  u.client_id = file->id_;
  u.engine_ns = file->retired_engine_ns_;
  for (const auto& [h, g] : file->groups_) u.engine_ns += g->engine_ns;
  for (const auto& [h, bo] : file->handles_) {
    const uint64_t size = bo->size_bytes();
    u.total_bytes += size;
    u.resident_bytes += bo->pages().populated() * mem::kPageSize;
    bool shared = false;
    for (const auto& other : files_) {
      if (other.get() == file) continue;
      for (const auto& [oh, ob] : other->handles_) shared |= ob == bo;
    }
    for (const auto& [fd, e] : exports_) shared |= e.bo == bo;
    if (shared) u.shared_bytes += size;
  }
  return u;
}

// Models panthor_vm_destroy(): heaps go, everything is unmapped; the slot is
// released once nothing runs on the VM.
void Device::DestroyVm(vm::Vm& vm) {
  heaps_.DropVm(vm.key());
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

const IoctlDesc* Device::Known(uint32_t request, Variant variant) {
  const IoctlDesc* desc = FindIoctl(request);
  // A panthor ioctl newer than the variant's driver is unknown to it, as to
  // a kernel of that version.
  const DriverVersion version{kPanthorMajor, DriverMinor(variant)};
  if (desc == nullptr || (desc->panthor() && !(desc->since <= version))) return nullptr;
  return desc;
}

bool Device::Models(uint32_t request, Variant variant) {
  const IoctlDesc* desc = Known(request, variant);
  return desc != nullptr && Handlers()[static_cast<size_t>(desc->id)] != nullptr;
}

int Device::Ioctl(File* file, uint32_t cmd, uint64_t arg) {
  ++ioctls_;
  // drm_ioctl(): an unplugged device answers nothing; an unknown number is
  // -EINVAL before any copy. Both are still calls the program made, so they
  // are recorded (with no argument bytes) and a replay makes them again.
  const IoctlDesc* desc = unplugged_ ? nullptr : Known(cmd, config_.variant);
  if (desc == nullptr) {
    const int ret = unplugged_ ? -kENODEV : -kEINVAL;
    ++ioctl_errors_;
    if (out_.observed()) EmitIoctl(*file, cmd, ret, "", "", nullptr);
    return ret;
  }
  const CopySizes size = DrmCopySizes(cmd, *desc);
  // 8-byte aligned storage so handlers may view it as their struct (on the
  // stack for every panthor struct; drm_ioctl() uses a 128-byte stack buffer
  // the same way).
  absl::InlinedVector<uint64_t, 32> storage((size.kernel + 7) / 8 + 1, 0);
  char* kdata = reinterpret_cast<char*>(storage.data());
  UserMemory& umem = *file->umem_;
  // With an observer, every user copy of the call is recorded.
  RecordingUserMemory recording(&umem);
  if (out_.observed()) file->umem_ = &recording;
  int ret;
  std::string arg_in;
  if (size.in && file->umem_->CopyFromUser(kdata, arg, size.in) != 0) {
    ret = -kEFAULT;
  } else {
    arg_in.assign(kdata, size.in);
    recording.Reset();  // the argument itself is not an indirect copy
    ret = Permit(*file, desc->drm_flags);
    const Handler handler = Handlers()[static_cast<size_t>(desc->id)];
    if (ret == 0) ret = (this->*(handler ? handler : &Device::NotModelled))(*file, kdata);
    // The struct goes back whatever the handler said (drm_ioctl()).
    if (size.out && umem.CopyToUser(arg, kdata, size.out) != 0) ret = -kEFAULT;
  }
  file->umem_ = &umem;
  if (ret < 0) ++ioctl_errors_;
  if (out_.observed()) {
    const std::string arg_out =
        ret == -kEFAULT && size.out == 0 ? "" : std::string(kdata, size.out);
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
  out_.Emit(e);
}

DeviceStats Device::stats() const {
  const gem::ObjectStats& o = objects_.stats();
  const fault::FaultStats& f = fault_.stats();
  const gpu::ExecutorStats& x = executor_.stats();
  DeviceStats s;
  s.ioctls = ioctls_;
  s.ioctl_errors = ioctl_errors_;
  s.bos_created = o.created;
  s.bos_freed = o.freed;
  s.aof_bytes_live = o.aof_bytes_live;
  s.aof_bytes_peak = o.aof_bytes_peak;
  s.unmodelled_ioctls = unmodelled_ioctls_;
  s.waits_never_ending = waits_never_ending_;
  s.jobs_submitted = x.jobs_submitted;
  s.jobs_completed = x.jobs_completed;
  s.jobs_failed = x.jobs_failed;
  s.faults = f.faults;
  s.faults_handled = f.handled;
  s.faults_degraded = f.degraded;
  s.faults_failed = f.failed;
  s.irqs = f.irqs;
  s.recycled_slot_irqs = f.recycled_slot_irqs;
  s.groups_killed = x.groups_killed;
  s.heap_grows = heaps_.stats().grows;
  s.heap_grow_fallbacks = heaps_.stats().fallbacks;
  s.v3_tick_missed_fault = x.v3_tick_missed_fault;
  s.map_beyond_vma = f.map_beyond_vma;
  return s;
}

std::shared_ptr<gem::Bo> Device::LookupBo(File* file, uint32_t handle) const {
  auto it = file->handles_.find(handle);
  return it == file->handles_.end() ? nullptr : it->second;
}

std::shared_ptr<vm::Vm> Device::LookupVm(File* file, uint32_t id) const {
  auto it = file->vms_.find(id);
  return it == file->vms_.end() ? nullptr : it->second;
}

std::shared_ptr<gpu::Group> Device::LookupGroup(File* file, uint32_t handle) const {
  auto it = file->groups_.find(handle);
  return it == file->groups_.end() ? nullptr : it->second;
}

std::string Device::CheckInvariants() const {
  uint64_t bo_pages = 0;
  for (const auto& [id, weak] : objects_.all()) {
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
      if (h == 0 || !bo || !objects_.Find(bo->id()))
        return absl::StrCat("file ", f->id_, " handle ", h);
    }
    if (f->vms_.size() > kPanthorMaxVmsPerFile) return "too many VMs";
  }
  if (master_ != nullptr && !master_->master_) return "master flag";
  for (const auto& [key, weak] : vms_.all()) {
    if (std::shared_ptr<vm::Vm> v = weak.lock()) {
      if (std::string p = v->CheckInvariants(); !p.empty())
        return absl::StrCat("VM ", key, ": ", p);
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
  for (const auto& [id, weak] : objects_.all()) {
    if (std::shared_ptr<gem::Bo> bo = weak.lock()) {
      h.Add(id);
      h.Add(bo->pages().populated());
    }
  }
  for (const auto& [key, weak] : vms_.all()) {
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
