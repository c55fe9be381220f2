#include "agents/twin/twin_host.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>

#include "agents/twin/own_memory.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/ioctls.h"
#include "engine/uapi/panthor.h"

namespace faultlab::twin {

namespace {

using uapi::IoctlId;

IoctlId IdOf(uint32_t request) {
  const uapi::IoctlDesc* d = uapi::FindIoctl(request);
  return d ? d->id : IoctlId::kCount;
}

constexpr uint32_t kWaitForSubmit = 1u << 1;  // DRM_SYNCOBJ_WAIT_FLAGS_WAIT_FOR_SUBMIT

std::chrono::steady_clock::time_point HostTimePoint(int64_t ns) {
  return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns));
}

}  // namespace

TwinHost::TwinHost(const dev::DeviceConfig& config) : device_(config) {
  device_.LogGpuWrites(&gpu_writes_);
}

TwinHost::~TwinHost() { StopLive(); }

void TwinHost::StartLive() {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (live_) return;
  live_ = true;
  stopping_ = false;
  host_origin_ns_ = MonotonicNs();
  virtual_origin_ns_ = device_.now_ns();
  thread_pid_ = getpid();
  thread_ = std::make_unique<std::thread>([this] { DeviceLoop(); });
}

void TwinHost::StopLive() {
  std::unique_ptr<std::thread> thread;
  {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    live_ = false;
    stopping_ = true;
    thread = std::move(thread_);
    work_.notify_all();
    progress_.notify_all();
  }
  if (!thread) return;
  if (thread_pid_ == getpid()) {
    thread->join();
  } else {
    (void)thread.release();  // a forked child: the thread was the parent's
  }
}

uint64_t TwinHost::VirtualNow() const {
  const int64_t since = MonotonicNs() - host_origin_ns_;
  return virtual_origin_ns_ + static_cast<uint64_t>(std::max<int64_t>(since, 0));
}

int64_t TwinHost::HostTimeOf(uint64_t virtual_ns) const {
  if (virtual_ns <= virtual_origin_ns_) return host_origin_ns_;
  const uint64_t since = virtual_ns - virtual_origin_ns_;
  return since >= static_cast<uint64_t>(INT64_MAX - host_origin_ns_)
             ? INT64_MAX
             : host_origin_ns_ + static_cast<int64_t>(since);
}

void TwinHost::CatchUp() {
  if (!live_) return;
  const uint64_t now = VirtualNow();
  if (device_.next_work_ns() <= now || now > device_.now_ns() + kMaxLagNs ||
      device_.SyncWaitReleasable()) {
    Step(now);
  }
}

int64_t TwinHost::NextStepAt() {
  const uint64_t due = device_.next_work_ns();
  int64_t at = due == dev::Device::kNoWork ? INT64_MAX : HostTimeOf(due);
  if (device_.sync_waiting()) at = std::min(at, MonotonicNs() + kLookNs);
  return at;
}

void TwinHost::Step(uint64_t until) {
  // An idle GPU reads nothing in the step: the CPU's writes wait for the
  // next step with work, or the next submit or wait, which record them.
  if (device_.next_work_ns() != dev::Device::kNoWork || device_.sync_waiting()) RecordCpuWrites();
  device_.RunGpu(until);
  ResyncShadows();
  RefreshFlushIdPages();
  SignalSyncFiles();
  if (on_progress_) on_progress_();
  progress_.notify_all();
}

// The device thread: a step whenever work is due or a blocked SYNC_WAIT's
// condition holds; in between it sleeps until the next is due, a call
// makes work, or (a queue blocked on a SYNC_WAIT) the next look.
void TwinHost::DeviceLoop() {
  std::unique_lock<std::recursive_mutex> lock(mu_);
  while (!stopping_) {
    const uint64_t now = VirtualNow();
    if (device_.next_work_ns() <= now || device_.SyncWaitReleasable()) {
      Step(now);
      continue;
    }
    sleeping_until_ = NextStepAt();
    if (sleeping_until_ == INT64_MAX) {
      work_.wait(lock);
    } else {
      work_.wait_until(lock, HostTimePoint(sleeping_until_));
    }
    sleeping_until_ = 0;
  }
}

// One SYNCOBJ_WAIT or SYNCOBJ_TIMELINE_WAIT in host time: looks until the
// wait is decided, each one ioctl of the twin with its argument in the
// caller's memory as the real one is. Live, a look is a zero-timeout call
// (the device runs the GPU); otherwise it runs the twin in virtual time
// until signalled or idle.
template <typename W>
int TwinHost::HostTimeWait(std::unique_lock<std::recursive_mutex>& lock, dev::File* file,
                           UserMemory& mem, uint32_t req, uint64_t user,
                           const std::function<bool()>& gone) {
  W w;
  if (mem.CopyFromUser(&w, user, sizeof(w)) != 0)
    return device_.Ioctl(file, req, user);  // the twin says -EFAULT
  const int64_t deadline = w.timeout_nsec;
  for (;;) {
    CatchUp();  // (a forked child has no device thread: its waits step it)
    W attempt = w;
    attempt.timeout_nsec = live_ ? 0 : INT64_MAX;
    if (mem.CopyToUser(user, &attempt, sizeof(attempt)) != 0)
      return device_.Ioctl(file, req, user);  // read-only: -EFAULT
    int ret = device_.Ioctl(file, req, user);
    if (mem.CopyFromUser(&attempt, user, sizeof(attempt)) == 0)
      w.first_signaled = attempt.first_signaled;
    const bool caller_gone = ret == -ETIME && gone && gone();
    const bool may_block = live_ || (w.flags & kWaitForSubmit);
    if (ret != -ETIME || !may_block || MonotonicNs() >= deadline || caller_gone) {
      if (caller_gone) ret = -EINTR;
      return mem.CopyToUser(user, &w, sizeof(w)) != 0 ? -EFAULT : ret;
    }
    int64_t wake = std::min<int64_t>(deadline, MonotonicNs() + 1'000'000'000);
    if (live_) wake = std::min(wake, NextStepAt());
    progress_.wait_until(lock, HostTimePoint(wake));
  }
}

int ProcessMemory::CopyFromUser(void* dst, uint64_t src, size_t n) {
  if (n == 0) return 0;
  if (pid_ == 0) return ReadOwn(dst, src, n) ? 0 : -EFAULT;
  iovec local{dst, n}, remote{reinterpret_cast<void*>(src), n};
  return process_vm_readv(pid_, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(n) ? 0 : -EFAULT;
}

int ProcessMemory::CopyToUser(uint64_t dst, const void* src, size_t n) {
  if (n == 0) return 0;
  if (pid_ == 0) return WriteOwn(dst, src, n) ? 0 : -EFAULT;
  iovec local{const_cast<void*>(src), n}, remote{reinterpret_cast<void*>(dst), n};
  return process_vm_writev(pid_, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(n) ? 0 : -EFAULT;
}

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int TwinHost::Ioctl(std::unique_lock<std::recursive_mutex>& lock, dev::File* file, UserMemory& mem,
                    uint32_t request, uint64_t arg, const std::function<bool()>& gone,
                    int* exported) {
  const IoctlId id = IdOf(request);
  const bool wait = id == IoctlId::kSyncobjWait || id == IoctlId::kSyncobjTimelineWait;
  CatchUp();
  // The GPU may look now: at a submit; at a wait when the wait runs the
  // GPU itself (not live — live, the steps it waits through record them).
  if ((wait && !live_) || id == IoctlId::kGroupSubmit) RecordCpuWrites();
  int ret;
  if (wait) {
    ++in_calls_[file];  // the file stays open while a wait is in it
    ret = id == IoctlId::kSyncobjWait
              ? HostTimeWait<uapi::DrmSyncobjWait>(lock, file, mem, request, arg, gone)
              : HostTimeWait<uapi::DrmSyncobjTimelineWait>(lock, file, mem, request, arg, gone);
    if (--in_calls_[file] == 0) {
      in_calls_.erase(file);
      if (released_.erase(file)) Close(file);  // closed meanwhile
    }
  } else if (id == IoctlId::kSyncobjHandleToFd || id == IoctlId::kPrimeHandleToFd) {
    ret = MakeExport(id, file, mem, request, arg, exported);
  } else {
    ret = device_.Ioctl(file, request, arg);
    progress_.notify_all();  // a submit, a signal: blocked waits look again
    // Work due before the device thread would wake: wake it (not on every
    // call: a wake is a context switch).
    if (live_ && sleeping_until_ != 0 && NextStepAt() < sleeping_until_) work_.notify_all();
  }
  ResyncShadows();
  RefreshFlushIdPages();
  SignalSyncFiles();
  if (on_progress_) on_progress_();
  return ret;
}

void TwinHost::Release(dev::File* file) {
  if (in_calls_.count(file)) {
    released_.insert(file);  // closed when its last call returns
    return;
  }
  Close(file);
}

void TwinHost::Close(dev::File* file) {
  for (auto it = maps_.begin(); it != maps_.end();) {
    if (it->second.file == file) {
      auto gone = it++;
      Drop(gone);
    } else {
      ++it;
    }
  }
  device_.Close(file);
  progress_.notify_all();
}

int TwinHost::Mmap(dev::File* file, uint64_t offset, uint64_t length, int prot, bool shared) {
  if (dev::Device::InUserMmio(file, offset)) {
    return device_.MmapUserMmio(file, offset, length, shared, prot & PROT_WRITE, prot & PROT_EXEC);
  }
  uint64_t populated = 0;
  const int ret = device_.MmapBo(file, offset, length, shared, &populated);
  if (ret == 0 && device_.content_fd() < 0) return -ENOMEM;  // no content file to map
  return ret;
}

int TwinHost::MapSource(dev::File* file, uint64_t offset, uint64_t* file_offset) {
  if (dev::Device::InUserMmio(file, offset)) return -1;
  std::shared_ptr<gem::Bo> bo = device_.BoAtOffset(file, offset, 1);
  *file_offset = bo ? bo->content_at() + (offset - (bo->mmap_pgoff() << uapi::kPageShift)) : 0;
  return device_.content_fd();
}

uint64_t TwinHost::Track(dev::File* file, uint64_t offset, uint64_t length, int prot, bool shared,
                         char* view, bool programs_pages) {
  const uint64_t id = next_map_++;
  Mapping m{file, offset, 0, length, prot, shared, view, programs_pages, {}, {}};
  if (dev::Device::InUserMmio(file, offset)) {
    flush_id_maps_.insert(id);
    const uint32_t flush_id = device_.latest_flush_id();
    memcpy(view, &flush_id, sizeof(flush_id));
  } else if (std::shared_ptr<gem::Bo> bo = device_.BoAtOffset(file, offset, length)) {
    m.bo_off = offset - (bo->mmap_pgoff() << uapi::kPageShift);
    Shadow(id, bo, &m);
  }
  maps_[id] = std::move(m);
  return id;
}

uint64_t TwinHost::TrackDmaBuf(const std::shared_ptr<gem::Bo>& bo, uint64_t offset, uint64_t length,
                               int prot, char* view) {
  const uint64_t id = next_map_++;
  Mapping m{nullptr, 0, offset, length, prot, true, view, true, {}, {}};
  Shadow(id, bo, &m);
  maps_[id] = std::move(m);
  return id;
}

void TwinHost::Shadow(uint64_t id, const std::shared_ptr<gem::Bo>& bo, Mapping* m) {
  if (!device_.recording() || !m->shared || !(m->prot & PROT_WRITE)) return;
  m->bo = bo;
  m->shadow.resize(std::min<uint64_t>(m->length, bo->size_bytes() - m->bo_off));
  bo->Read(m->bo_off, m->shadow.data(), m->shadow.size());
  shadowed_.emplace(bo.get(), id);
}

bool TwinHost::Unmap(uint64_t id) {
  auto it = maps_.find(id);
  if (it == maps_.end()) return false;
  Drop(it);
  return true;
}

uint64_t TwinHost::MappingAt(const void* view) const {
  for (const auto& [id, m] : maps_) {
    if (m.view == view) return id;
  }
  return 0;
}

void TwinHost::Drop(std::map<uint64_t, Mapping>::iterator it) {
  flush_id_maps_.erase(it->first);
  for (auto s = shadowed_.begin(); s != shadowed_.end(); ++s) {
    if (s->second == it->first) {
      shadowed_.erase(s);
      break;
    }
  }
  if (!it->second.programs_pages && it->second.view) munmap(it->second.view, it->second.length);
  maps_.erase(it);
}

namespace {

// Calls `f(offset, length)` for each run of bytes where `now` differs from
// `was` (runs closer than 64 bytes joined: one record, not many).
template <typename F>
void ForEachChangedRun(const char* now, const char* was, uint64_t n, F f) {
  constexpr uint64_t kJoin = 64;
  for (uint64_t i = 0; i < n;) {
    if (now[i] == was[i]) {
      ++i;
      continue;
    }
    uint64_t end = i + 1;
    for (uint64_t j = end; j < n && j < end + kJoin; ++j) {
      if (now[j] != was[j]) end = j + 1;
    }
    f(i, end - i);
    i = end;
  }
}

}  // namespace

void TwinHost::RecordCpuWrites() {
  if (!device_.recording()) return;
  char now[4096];
  for (auto& [id, m] : maps_) {
    std::shared_ptr<gem::Bo> bo = m.bo.lock();
    if (!bo) continue;  // not shadowed, or freed
    for (uint64_t at = 0; at < m.shadow.size(); at += sizeof(now)) {
      const uint64_t n = std::min<uint64_t>(sizeof(now), m.shadow.size() - at);
      if (bo->Equals(m.bo_off + at, m.shadow.data() + at, n)) continue;
      bo->Read(m.bo_off + at, now, n);
      // Only the bytes that changed: a page the GPU also wrote must not
      // carry the GPU's bytes with the CPU's, or a replay on a slower
      // device would see them too early.
      char* shadow = m.shadow.data() + at;
      ForEachChangedRun(now, shadow, n, [&](uint64_t i, uint64_t len) {
        device_.NoteCpuWrite(bo, m.bo_off + at + i, std::string(now + i, len));
        memcpy(shadow + i, now + i, len);
      });
    }
  }
}

void TwinHost::ResyncShadows() {
  for (const auto& w : gpu_writes_) {
    std::shared_ptr<gem::Bo> bo = w.bo.lock();
    if (!bo) continue;
    const auto [first, last] = shadowed_.equal_range(bo.get());
    for (auto s = first; s != last; ++s) {
      Mapping& m = maps_.at(s->second);
      if (m.bo.lock() != bo) continue;  // a freed BO's mapping at a reused address
      const uint64_t lo = std::max(w.offset, m.bo_off);
      const uint64_t hi = std::min(w.offset + w.length, m.bo_off + m.shadow.size());
      if (lo < hi) bo->Read(lo, &m.shadow[lo - m.bo_off], hi - lo);
    }
  }
  gpu_writes_.clear();
}

void TwinHost::RefreshFlushIdPages() {
  const uint32_t flush_id = device_.latest_flush_id();
  for (const uint64_t id : flush_id_maps_) {
    const Mapping& m = maps_.at(id);
    uint32_t shown;
    memcpy(&shown, m.view, sizeof(shown));  // the page is readable: MmapUserMmio said so
    if (shown == flush_id) continue;
    const bool unprotect = m.programs_pages && !(m.prot & PROT_WRITE);
    if (unprotect) mprotect(m.view, m.length, PROT_READ | PROT_WRITE);
    memcpy(m.view, &flush_id, sizeof(flush_id));
    if (unprotect) mprotect(m.view, m.length, m.prot);
  }
}

}  // namespace faultlab::twin
