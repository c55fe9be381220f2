// Fuzz target: the ingest service's validation of what an agent sends,
// before the store touches anything: accepted whole, or refused with
// INVALID_ARGUMENT. The input is read as the start of a trace file — its
// head (preamble and header frame) then chunk 0's frame — as given and with
// both frames' checksums made right (so that mutations reach the envelope
// and the columns).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "engine/trace/frame.h"
#include "server/store/files.h"

namespace {

using faultlab::trace::kFrameHeaderSize;
using faultlab::trace::kPreambleSize;

// The frame at `at`: its type, and its size clamped to what is there.
size_t FrameSize(const std::string& bytes, size_t at, uint32_t* type) {
  if (bytes.size() < at + kFrameHeaderSize) return 0;
  uint32_t size;
  std::memcpy(type, bytes.data() + at, 4);
  std::memcpy(&size, bytes.data() + at + 4, 4);
  return std::min<size_t>(size, bytes.size() - at - kFrameHeaderSize);
}

// `bytes` with the frame at `at` re-framed (size clamped, checksum right)
// and what follows it kept.
std::string Reframe(const std::string& bytes, size_t at) {
  uint32_t type = 0;
  const size_t n = FrameSize(bytes, at, &type);
  if (bytes.size() < at + kFrameHeaderSize) return bytes;
  std::string out = bytes.substr(0, at);
  faultlab::trace::AppendFrame(out, type,
                               absl::string_view(bytes).substr(at + kFrameHeaderSize, n));
  out.append(bytes, at + kFrameHeaderSize + n, std::string::npos);
  return out;
}

void Check(const std::string& file) {
  uint32_t type = 0;
  const size_t head_size = std::min(
      file.size(), kPreambleSize + kFrameHeaderSize + FrameSize(file, kPreambleSize, &type));
  absl::StatusOr<faultlab::trace::TraceHeader> h =
      faultlab::server::CheckHead(file.substr(0, head_size));
  const std::string id = h.ok() ? h->trace_id() : std::string(16, 'f');
  for (uint64_t index : {uint64_t{0}, uint64_t{1}}) {
    (void)faultlab::server::CheckChunk(id, index, file.substr(head_size));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string file(reinterpret_cast<const char*>(data), size);
  Check(file);
  const std::string head_fixed = Reframe(file, kPreambleSize);
  uint32_t type = 0;
  Check(Reframe(head_fixed,
                kPreambleSize + kFrameHeaderSize + FrameSize(head_fixed, kPreambleSize, &type)));
  return 0;
}
