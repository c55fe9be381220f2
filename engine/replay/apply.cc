#include "engine/replay/apply.h"

#include <cstddef>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/replay/validate.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/ioc.h"
#include "engine/uapi/ioctls.h"
#include "engine/uapi/panthor.h"

namespace faultlab::replay {

namespace {

// Where replayed arguments go: above every recorded copy (kUserTop), so no
// recording's user memory can land on it.
constexpr uint64_t kArgScratch = kUserTop;

}  // namespace

Applier::Applier(dev::Device* device, const Normaliser* norm, Rewriter* rewrite,
                 ReplayResult* result)
    : device_(device),
      norm_(norm),
      rewrite_(rewrite),
      r_(result),
      ro_scratch_(kArgScratch + (1 << 20)) {
  mem_.Map(kArgScratch, 1 << 16);
  mem_.Map(ro_scratch_, 1 << 16, SimUserMemory::kRead);
}

void Applier::PrepareUserMemory(const trace::Ioctl& io) {
  auto map_range = [&](uint64_t addr, uint64_t n) {
    for (uint64_t page = addr & ~4095ULL; page < addr + n; page += 4096) {
      if (!mapped_.count(page)) {
        mem_.Map(page, 4096);
        mapped_[page] = true;
      }
    }
  };
  for (const trace::UserBytes& u : io.user_in) {
    map_range(u.address, u.data.size());
    mem_.Write(u.address, u.data.data(), u.data.size());
  }
  for (const trace::UserBytes& u : io.user_out) map_range(u.address, u.data.size());
}

// A board's GPU ran while its program ran, and the program saw how far it
// had got only through calls. The twin's GPU runs in waits only — never
// ahead of the board's — and where a call shows that the board's had got
// further, it runs on until it has too (or has nothing left to run): a
// GROUP_GET_STATE that found the group timed out or faulted, a
// GROUP_SUBMIT the dead group refused (-EINVAL). The pace is the
// recording's, so the replay stays deterministic.
void Applier::PaceBoardGpu(const trace::Ioctl& io, uapi::IoctlId id, dev::File* file) {
  if (!norm_->board()) return;
  constexpr uint32_t kDead = uapi::kPanthorGroupStateTimedout | uapi::kPanthorGroupStateFatalFault;
  uint32_t handle = 0, want = 0;
  const bool submit = id == uapi::IoctlId::kGroupSubmit;
  if (id == uapi::IoctlId::kGroupGetState && io.result == 0 &&
      io.arg_out.size() >= sizeof(uapi::PanthorGroupGetState)) {
    uapi::PanthorGroupGetState st;
    std::memcpy(&st, io.arg_out.data(), sizeof(st));
    handle = st.group_handle;
    want = st.state & kDead;
  } else if (submit && io.result == -uapi::kEINVAL &&
             io.arg_in.size() >= sizeof(uapi::PanthorGroupSubmit)) {
    uapi::PanthorGroupSubmit gs;
    std::memcpy(&gs, io.arg_in.data(), sizeof(gs));
    handle = gs.group_handle;
    want = kDead;  // either
  }
  if (want == 0 || (rewrite_ && !rewrite_->MapGroup(io.file, &handle))) return;
  std::shared_ptr<gpu::Group> group = device_->LookupGroup(file, handle);
  if (!group) return;
  device_->RunGpuUntil(
      [&] { return submit ? (group->state & want) != 0 : (group->state & want) == want; });
}

// A call that handed out a descriptor hands out the recorded number, so
// that later calls naming it (FD_TO_HANDLE) name the same object.
void Applier::ReserveRecordedFd(const trace::Ioctl& io, uapi::IoctlId id) {
  if (io.result != 0) return;
  size_t at;
  if (id == uapi::IoctlId::kSyncobjHandleToFd) {
    at = offsetof(uapi::DrmSyncobjHandle, fd);
  } else if (id == uapi::IoctlId::kPrimeHandleToFd) {
    at = offsetof(uapi::DrmPrimeHandle, fd);
  } else {
    return;
  }
  int32_t fd;
  if (io.arg_out.size() < at + sizeof(fd)) return;
  std::memcpy(&fd, io.arg_out.data() + at, sizeof(fd));
  device_->ReserveExportFd(fd);
}

void Applier::WithoutDeadline(uapi::IoctlId id, std::string* arg) {
  size_t at;
  if (id == uapi::IoctlId::kSyncobjWait) {
    at = offsetof(uapi::DrmSyncobjWait, timeout_nsec);
  } else if (id == uapi::IoctlId::kSyncobjTimelineWait) {
    at = offsetof(uapi::DrmSyncobjTimelineWait, timeout_nsec);
  } else {
    return;
  }
  const int64_t never = INT64_MAX;
  if (arg->size() >= at + sizeof(never))
    arg->replace(at, sizeof(never), reinterpret_cast<const char*>(&never), sizeof(never));
}

void Applier::CsSubmit(const trace::CsSubmit& cs) {
  pending_cs_.push_back({cs.group, cs.stream_va, std::string(cs.words), {}});
  for (const trace::UserBytes& rd : cs.reads)
    pending_cs_.back().cpu_writes.emplace_back(rd.address, std::string(rd.data));
}

// A command stream the CPU wrote before the GROUP_SUBMIT that follows: its
// words go where the recording found them, just before it.
void Applier::PutBackStreams(dev::File* file) {
  for (const PendingCs& cs : pending_cs_) {
    uint32_t group = cs.group;
    if (rewrite_ && !rewrite_->MapGroup(file->id(), &group)) continue;
    for (const auto& [va, bytes] : cs.cpu_writes)
      device_->WriteGpuVa(file, group, va, bytes, /*note=*/true);
    device_->WriteGpuVa(file, group, cs.va, cs.words);
  }
  pending_cs_.clear();
}

absl::Status Applier::Ioctl(const trace::Ioctl& io) {
  auto f = files_.find(io.file);
  if (f == files_.end()) {
    return absl::DataLossError(absl::StrCat("an ioctl on file ", io.file, ", never opened"));
  }
  if (absl::Status s = ValidateIoctl(io); !s.ok()) return s;
  const uapi::IoctlDesc* desc = uapi::FindIoctl(io.request);
  const uapi::IoctlId id = desc ? desc->id : uapi::IoctlId::kCount;
  // Its recorded faults, when it is a submit that succeeded on the board.
  const std::vector<gpu::GpuAccess>* faults = nullptr;
  if (id == uapi::IoctlId::kGroupSubmit && io.result == 0) {
    const size_t n = submits_++;
    if (board_faults_ && n < board_faults_->by_submit.size() &&
        !board_faults_->by_submit[n].empty())
      faults = &board_faults_->by_submit[n];
  }
  PaceBoardGpu(io, id, f->second);
  PutBackStreams(f->second);
  PrepareUserMemory(io);
  std::string arg(io.arg_in);
  norm_->NormaliseArgIn(io.request, &arg);
  // A board's wait that ended in time waited for work its GPU had done by
  // then: the twin's GPU (which runs in waits only) runs it too, whatever
  // the timeout was (the field is masked when compared). So does a what-if's:
  // the program went on because the work was done, and on a slower device
  // (faults the recording never took) it must be done here too before the
  // calls that follow — a BO freed under a running job would fault.
  if ((norm_->board() || rewrite_) && io.result == 0) WithoutDeadline(id, &arg);
  if (rewrite_ && !rewrite_->Ioctl(io, &arg, mem_)) {
    ++r_->skipped_dependent;
    rewrite_->Learn(io, -1, std::string());  // what it would create failed too
    return absl::OkStatus();
  }
  // An empty argument of a request that copies in means the copy-in
  // faulted in the recording: NULL faults the same way here.
  const bool copy_in_failed =
      arg.empty() && (uapi::IocDir(io.request) & uapi::kIocWrite) && uapi::IocSize(io.request) > 0;
  uint64_t at = 0;
  if (!copy_in_failed) {
    // A recorded -EFAULT with a copied-in argument means the copy-out (or a
    // nested copy) faulted: a read-only argument reproduces it.
    at = io.result == -uapi::kEFAULT ? ro_scratch_ : kArgScratch;
    mem_.Write(at, arg.data(), arg.size());  // test-side write: ignores protections
  }
  ReserveRecordedFd(io, id);
  const int result = device_->Ioctl(f->second, io.request, at);
  if (faults && result == 0 && device_->PrependAccesses(*faults))
    r_->faults_from_recording += faults->size();
  if (norm_->board() && result == 0 && io.result == 0 && id == uapi::IoctlId::kBoMmapOffset &&
      io.arg_out.size() >= sizeof(uapi::PanthorBoMmapOffset)) {
    uapi::PanthorBoMmapOffset rec, twin;
    std::memcpy(&rec, io.arg_out.data(), sizeof(rec));
    mem_.Read(at, &twin, sizeof(twin));
    mmap_offsets_[{io.file, rec.offset}] = twin.offset;
  }
  if (rewrite_) {
    std::string out(arg.size(), '\0');
    if (at != 0 && !out.empty()) mem_.Read(at, out.data(), out.size());
    rewrite_->Learn(io, result, out);
  }
  return absl::OkStatus();
}

void Applier::Job(const trace::JobAccess& first, std::vector<gpu::GpuAccess> ranges) {
  auto f = files_.find(first.file);
  uint32_t group = first.group;
  if (rewrite_ && !rewrite_->MapGroup(first.file, &group)) {
    ++r_->skipped_dependent;  // its group was never created here
  } else if (f != files_.end()) {
    device_->SubmitAccessJob(f->second, group, first.queue, std::move(ranges), first.signal_syncobj,
                             nullptr);
  }
}

absl::Status Applier::File(const trace::FileOp& op, bool legacy) {
  if (op.node == trace::NODE_EXPORT) {  // a descriptor the device handed out, closed
    if (op.close) device_->CloseExport(static_cast<int32_t>(op.file));
    return absl::OkStatus();
  }
  device_->set_legacy_file_markers(legacy);
  if (!op.close) {
    if (files_.size() >= kMaxOpenFiles) {
      return absl::DataLossError(
          absl::StrCat("more than ", kMaxOpenFiles, " device files open at once"));
    }
    dev::File* file = device_->Open(
        op.node == trace::NODE_PRIMARY ? dev::NodeType::kPrimary : dev::NodeType::kRender, &mem_);
    files_[file->id()] = file;
    return absl::OkStatus();
  }
  auto f = files_.find(op.file);
  if (f == files_.end()) {
    // Nothing to close here; a legacy trace still had its marker.
    if (legacy) device_->EmitMarker(trace::MARKER_NOTE, op.file, absl::StrCat("close:", op.file));
    return absl::OkStatus();
  }
  device_->Close(f->second);
  files_.erase(f);
  return absl::OkStatus();
}

void Applier::Marker(const trace::Marker& m) {
  // The end of a run: queued work runs out first, as the recording did.
  if (m.type == trace::MARKER_NOTE && m.label == "end") device_->RunAll();
  device_->EmitMarker(m.type, m.id, m.label);
}

absl::Status Applier::GpuRun(const trace::GpuRun& run) {
  if (absl::Status s = ValidateGpuRun(run); !s.ok()) return s;
  // A write whose BO is gone here (a what-if that failed to create it) is
  // one this replay cannot see; the recorded one saw it.
  for (const trace::UserBytes& w : run.cpu_writes) device_->NoteCpuWriteAt(w.address, w.data);
  device_->RunGpu(run.until_ns);
  return absl::OkStatus();
}

void Applier::CpuMap(const trace::CpuMap& m) {
  if (m.file == 0 && !norm_->board()) {  // a dma-buf's map: its descriptor is the handle
    device_->MmapExport(static_cast<int32_t>(m.handle), m.offset, m.length_bytes, true);
    return;
  }
  auto f = files_.find(m.file);
  uint64_t offset = m.offset;
  if (norm_->board()) {  // the board's offset, as the twin numbered the same BO
    auto base = mmap_offsets_.upper_bound({m.file, offset});
    if (base != mmap_offsets_.begin() && (--base)->first.first == m.file) {
      offset = base->second + (offset - base->first.second);
    }
  }
  uint64_t populated;
  if (f != files_.end() && (!norm_->board() || m.result == 0)) {
    device_->MmapBo(f->second, offset, m.length_bytes, true, &populated);
  }
}

}  // namespace faultlab::replay
