#include "engine/trace/frame.h"

#include "engine/trace/crc32c.h"
#include "engine/trace/varint.h"

namespace faultlab::trace {

void AppendPreamble(std::string& out) {
  out.append(kMagic, sizeof(kMagic));
  PutFixed32(out, kFormatVersion);
  PutFixed32(out, 0);
}

void AppendFrame(std::string& out, uint32_t type, absl::string_view payload) {
  const size_t start = out.size();
  PutFixed32(out, type);
  PutFixed32(out, static_cast<uint32_t>(payload.size()));
  PutFixed32(out, Crc32c(payload));
  PutFixed32(out, Crc32c(absl::string_view(out.data() + start, 12)));
  out.append(payload.data(), payload.size());
}

bool ParseFrameHeader(const char* p, FrameHeader* out) {
  if (GetFixed32(p + 12) != Crc32c(absl::string_view(p, 12))) return false;
  out->type = GetFixed32(p);
  out->payload_size = GetFixed32(p + 4);
  out->payload_crc = GetFixed32(p + 8);
  return true;
}

}  // namespace faultlab::trace
