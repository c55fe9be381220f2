#include "engine/trace/frame.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
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

absl::StatusOr<TraceFrames> SplitFrames(absl::string_view bytes) {
  if (bytes.size() < kPreambleSize || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return absl::DataLossError("offset 0: not a faultlab trace (bad magic)");
  }
  TraceFrames out;
  size_t at = kPreambleSize;
  while (at < bytes.size()) {
    FrameHeader fh;
    if (bytes.size() - at < kFrameHeaderSize || !ParseFrameHeader(bytes.data() + at, &fh)) {
      return absl::DataLossError(absl::StrCat("offset ", at, ": damaged frame header"));
    }
    const size_t end = at + kFrameHeaderSize + fh.payload_size;
    if (end > bytes.size())
      return absl::DataLossError(absl::StrCat("offset ", at, ": truncated frame"));
    if (out.head.empty()) {
      out.head = std::string(bytes.substr(0, end));
    } else {
      out.chunks.emplace_back(bytes.substr(at, end - at));
    }
    at = end;
  }
  if (out.head.empty())
    return absl::DataLossError(absl::StrCat("offset ", at, ": no header frame"));
  return out;
}

}  // namespace faultlab::trace
