// What one fault (or one pre-fault) cost and how it ended.
#ifndef FAULTLAB_ENGINE_DEV_FAULT_RESULT_H_
#define FAULTLAB_ENGINE_DEV_FAULT_RESULT_H_

#include <cstdint>

#include "engine/dev/device.h"

namespace faultlab::dev {

struct Device::FaultResult {
  int ret = 0;
  trace::FaultOutcome outcome = trace::FAULT_HANDLED;
  uint32_t pages = 0;
  uint32_t pt_pages = 0;
  uint32_t metadata = 0;
  uint64_t cost_ns = 0;
};

}  // namespace faultlab::dev

#endif  // FAULTLAB_ENGINE_DEV_FAULT_RESULT_H_
