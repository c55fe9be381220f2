#include "lib/host/host.h"

#include <chrono>
#include <fstream>

namespace faultlab::host {

std::string TraceId() {
  std::string id(16, '\0');
  std::ifstream urandom("/dev/urandom", std::ios::binary);
  urandom.read(id.data(), 16);
  return id;
}

int64_t WallClockNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace faultlab::host
