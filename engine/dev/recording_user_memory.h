// RecordingUserMemory: forwards to another UserMemory and keeps a copy of
// every successful copy in and out, for the ioctl events of the trace.
#ifndef FAULTLAB_ENGINE_DEV_RECORDING_USER_MEMORY_H_
#define FAULTLAB_ENGINE_DEV_RECORDING_USER_MEMORY_H_

#include <string>
#include <utility>
#include <vector>

#include "engine/trace/event.h"
#include "engine/usermem/user_memory.h"

namespace faultlab::dev {

class RecordingUserMemory : public UserMemory {
 public:
  explicit RecordingUserMemory(UserMemory* inner) : inner_(inner) {}
  int CopyFromUser(void* dst, uint64_t src, size_t n) override {
    const int ret = inner_->CopyFromUser(dst, src, n);
    if (ret == 0 && n) in_.emplace_back(src, std::string(static_cast<char*>(dst), n));
    return ret;
  }
  int CopyToUser(uint64_t dst, const void* src, size_t n) override {
    const int ret = inner_->CopyToUser(dst, src, n);
    if (ret == 0 && n) out_.emplace_back(dst, std::string(static_cast<const char*>(src), n));
    return ret;
  }
  void Reset() {
    in_.clear();
    out_.clear();
  }
  // Points the event's user copies at this object's bytes.
  void Fill(trace::Ioctl* e) const {
    for (const auto& [addr, bytes] : in_) e->user_in.push_back({addr, bytes});
    for (const auto& [addr, bytes] : out_) e->user_out.push_back({addr, bytes});
  }

 private:
  UserMemory* inner_;
  // Vectors (no allocation for a call that copies nothing): Fill() takes
  // views only once the call's copies are all made.
  std::vector<std::pair<uint64_t, std::string>> in_;
  std::vector<std::pair<uint64_t, std::string>> out_;
};

}  // namespace faultlab::dev

#endif  // FAULTLAB_ENGINE_DEV_RECORDING_USER_MEMORY_H_
