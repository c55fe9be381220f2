#include "cli/host.h"

#include <chrono>
#include <fstream>

namespace faultlab::cli {

std::string HostTraceId() {
  std::string id(16, '\0');
  std::ifstream urandom("/dev/urandom", std::ios::binary);
  urandom.read(id.data(), 16);
  return id;
}

int64_t HostWallClockNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace faultlab::cli
