// Client: a user-space process of the twin — a simulated address space and
// typed ioctls on one open file. Workloads drive the device only through it
// (and through access-range job submission), and advance virtual time only
// through SYNCOBJ_WAIT, so that a recorded trace holds every input.
#ifndef FAULTLAB_ENGINE_WORKLOAD_CLIENT_H_
#define FAULTLAB_ENGINE_WORKLOAD_CLIENT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/dev/device.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/panthor.h"
#include "engine/usermem/sim_user_memory.h"

namespace faultlab::workload {

class Client {
 public:
  // Opens a file of `dev` (the device tells its observer).
  Client(dev::Device* dev, dev::NodeType node = dev::NodeType::kRender);
  // Closes the file (the process exits).
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  template <typename T>
  int Call(uint32_t request, T* arg) {
    const uint64_t at = mem_.Alloc(sizeof(T));
    mem_.Write(at, arg, sizeof(T));
    const int ret = dev_->Ioctl(file_, request, at);
    mem_.Read(at, arg, sizeof(T));
    mem_.Unmap(at);
    return ret;
  }
  uint64_t Place(const void* data, size_t n);
  void Release(uint64_t address) { mem_.Unmap(address); }

  uint32_t CreateVm();
  // On a variant without the series, an ALLOC_ON_FAULT request creates a
  // plain BO.
  uint32_t CreateBo(uint64_t size, uint32_t flags = 0, uint32_t granularity = 0);
  void CloseBo(uint32_t handle);
  int Bind(uint32_t vm, const std::vector<uapi::PanthorVmBindOp>& ops, uint32_t flags = 0);
  int Map(uint32_t vm, uint32_t bo, uint64_t va, uint64_t size, uint32_t flags = 0);
  int Unmap(uint32_t vm, uint64_t va, uint64_t size);
  uint32_t CreateGroup(uint32_t vm, uint32_t queues = 1);
  uint32_t CreateSyncobj();
  // Submits a job of access ranges signalling `syncobj`.
  int Submit(uint32_t group, std::vector<gpu::GpuAccess> accesses, uint32_t syncobj,
             uint32_t queue = 0);
  // SYNCOBJ_WAIT on every handle (WAIT_ALL) with an absolute virtual deadline
  // (INT64_MAX: forever). Returns the ioctl's result.
  int Wait(const std::vector<uint32_t>& syncobjs, int64_t deadline_ns = INT64_MAX);
  // SYNCOBJ_RESET.
  void Reset(uint32_t syncobj);
  // Lets virtual time pass: a wait on a never-signalled syncobj with a deadline.
  void Sleep(uint64_t ns);

  dev::Device& device() { return *dev_; }
  dev::File* file() { return file_; }

 private:
  dev::Device* dev_;
  SimUserMemory mem_;
  dev::File* file_;
  uint32_t sleeper_ = 0;
};

}  // namespace faultlab::workload

#endif  // FAULTLAB_ENGINE_WORKLOAD_CLIENT_H_
