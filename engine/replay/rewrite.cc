#include "engine/replay/rewrite.h"

#include <cstring>

#include "engine/uapi/ioctls.h"
#include "engine/uapi/panthor.h"

namespace faultlab::replay {

bool Rewriter::Ioctl(const trace::Ioctl& io, std::string* arg, SimUserMemory& mem) {
  Granularity(io.request, arg);
  return remapper_.Rewrite(io, arg, mem);
}

void Rewriter::Granularity(uint32_t request, std::string* arg) {
  const uapi::IoctlDesc* d = uapi::FindIoctl(request);
  if (granularity_ == 0 || d == nullptr || d->id != uapi::IoctlId::kBoCreate ||
      arg->size() < sizeof(uapi::PanthorBoCreate)) {
    return;
  }
  uapi::PanthorBoCreate bc;
  std::memcpy(&bc, arg->data(), sizeof(bc));
  if (!(bc.flags & uapi::kPanthorBoAllocOnFault)) return;
  uint64_t g = granularity_;
  while (g > 4096 && g > bc.size) g >>= 1;
  clamped_ += g != granularity_;
  bc.alloc_on_fault_granularity = static_cast<uint32_t>(g);
  std::memcpy(arg->data(), &bc, sizeof(bc));
}

}  // namespace faultlab::replay
