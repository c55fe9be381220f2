// Frames: how a trace is laid out as bytes (docs/trace-format.md, "Layout").
//
//   file   := preamble frame(HEADER) frame(CHUNK)*
//   preamble (16 bytes) := magic "\x89FLT\r\n\x1a\n" | u32 format_version | u32 flags (0)
//   frame  (16-byte header + payload):
//            u32 type ('FLHD' header, 'FLCK' chunk, as little-endian ASCII)
//            u32 payload_size
//            u32 crc32c(payload)
//            u32 crc32c(the 12 bytes above)   -- a damaged size is caught before
//                                                anything is allocated for it
//            payload: a serialized TraceHeader or ChunkEnvelope
// All integers are little-endian. The same frames travel over gRPC.
#ifndef FAULTLAB_ENGINE_TRACE_FRAME_H_
#define FAULTLAB_ENGINE_TRACE_FRAME_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace faultlab::trace {

// The format version this build writes and reads. Bump only for changes that
// old readers cannot skip (see proto/trace.proto, "Rules for changes").
constexpr uint32_t kFormatVersion = 1;

constexpr char kMagic[8] = {'\x89', 'F', 'L', 'T', '\r', '\n', '\x1a', '\n'};
constexpr size_t kPreambleSize = 16;
constexpr size_t kFrameHeaderSize = 16;

// Frame types: ASCII tags read as little-endian u32.
constexpr uint32_t kFrameHeader = 0x44484c46;  // "FLHD"
constexpr uint32_t kFrameChunk = 0x4b434c46;   // "FLCK"

// Readers refuse frames larger than this (a damaged or hostile size must not
// make anyone allocate gigabytes). Writers stay far below it.
constexpr uint32_t kMaxFrameBytes = 64u << 20;
// ... and decompressed column blocks larger than this.
constexpr uint32_t kMaxRawChunkBytes = 64u << 20;

// Appends the 16-byte preamble.
void AppendPreamble(std::string& out);

// Appends a frame of `type` around `payload`.
void AppendFrame(std::string& out, uint32_t type, absl::string_view payload);

struct FrameHeader {
  uint32_t type = 0;
  uint32_t payload_size = 0;
  uint32_t payload_crc = 0;
};

// Parses a 16-byte frame header. Returns false if its own checksum fails.
bool ParseFrameHeader(const char* p, FrameHeader* out);

// A whole trace cut into what an upload sends: the head (preamble and header
// frame) and each chunk frame. Checks the framing only (magic, frame-header
// checksums, sizes), not payloads; DATA_LOSS names the offset of a problem.
struct TraceFrames {
  std::string head;
  std::vector<std::string> chunks;
};
absl::StatusOr<TraceFrames> SplitFrames(absl::string_view bytes);

}  // namespace faultlab::trace

#endif  // FAULTLAB_ENGINE_TRACE_FRAME_H_
