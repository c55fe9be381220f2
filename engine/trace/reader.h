// TraceReader: a streaming reader of trace files and streams.
//
// Memory is bounded by the largest frame (kMaxFrameBytes) plus one decoded
// chunk, whatever the trace's length. Stages, in order: frame (magic, sizes,
// checksums) -> envelope (chunk order, trace id, codec) -> columns (events).
// Every problem is reported as an absl::Status "NAME: offset N: problem",
// where N is the byte offset of the frame (or preamble) at fault; the reader
// never crashes and never trusts a size it has not checked.
//
// With `skip_damaged`, a damaged chunk is skipped, counted in stats(), and
// reading resumes at the next intact chunk frame.
//
//   ASSIGN_OR_RETURN(auto src, FileSource::Open(path));
//   TraceReader reader(src.get(), path);
//   RETURN_IF_ERROR(reader.Open());
//   Event e;
//   while (reader.Next(&e)) { ... }
//   RETURN_IF_ERROR(reader.status());   // includes "no final chunk"
#ifndef FAULTLAB_ENGINE_TRACE_READER_H_
#define FAULTLAB_ENGINE_TRACE_READER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/trace/columns.h"
#include "engine/trace/event.h"
#include "engine/trace/frame.h"
#include "engine/trace/io.h"
#include "proto/trace.pb.h"

namespace faultlab::trace {

// A chunk's column block: `env`'s payload, or it decompressed into `*raw`;
// DATA_LOSS "chunk N: problem" for a size or codec it cannot be.
absl::StatusOr<absl::string_view> UnpackChunk(const ChunkEnvelope& env, std::string* raw);
// Decodes every event of a column block, keeping none: OK only when all of
// it is well formed and every column is consumed exactly.
absl::Status VerifyColumns(absl::string_view block, uint32_t event_count);

struct ReaderOptions {
  bool skip_damaged = false;
  // Accept a trace that ends without its final chunk (a recording still in
  // progress). Off by default: a missing end is reported as truncation.
  bool allow_incomplete = false;
  uint32_t max_frame_bytes = kMaxFrameBytes;
};

// Named counters of odd but survivable input.
struct ReaderStats {
  uint64_t chunks = 0;
  uint64_t events = 0;
  uint64_t bytes = 0;  // bytes consumed from the source
  uint64_t compressed_chunks = 0;
  uint64_t damaged_chunks = 0;       // skipped with skip_damaged
  uint64_t skipped_bytes = 0;        // bytes passed over while resynchronising
  uint64_t unknown_event_kinds = 0;  // events of kinds newer than this build
  uint64_t unknown_columns = 0;      // columns of fields newer than this build
  std::vector<std::string> damage;   // the first few problems, for reports
};

class TraceReader {
 public:
  TraceReader(ByteSource* source, std::string name, ReaderOptions options = {});

  // Reads the preamble and the header frame.
  absl::Status Open();
  const TraceHeader& header() const { return header_; }

  // The next event; false at the end of the trace or on an error (status()).
  // Byte fields of `*e` stay valid until the next call.
  bool Next(Event* e);

  // OK after a clean end; otherwise the first error.
  const absl::Status& status() const { return status_; }
  // True once the final chunk has been read.
  bool complete() const { return complete_; }
  const ReaderStats& stats() const { return stats_; }
  // Trace-wide index of the event last returned by Next().
  uint64_t event_index() const { return next_event_index_ - 1; }
  // The envelope of the chunk being decoded, and its frame's byte offset.
  const ChunkEnvelope& chunk() const { return envelope_; }
  uint64_t chunk_offset() const { return chunk_offset_; }
  // Bytes held in buffers now (for the bounded-memory tests).
  size_t buffer_capacity() const { return buf_.capacity() + raw_.capacity(); }

 private:
  // Makes at least `n` bytes available at head_; false at end of input.
  absl::StatusOr<bool> Fill(size_t n);
  absl::Status Error(uint64_t offset, const std::string& problem);
  // Reads the next chunk frame into the decoder. Returns false at the end.
  absl::StatusOr<bool> LoadChunk();
  // Reads and checks one chunk frame at head_; on damage returns the problem.
  absl::Status ReadChunkFrame(uint64_t frame_offset, bool* end);
  absl::Status DecodeEnvelope(uint64_t frame_offset, absl::string_view payload);
  // Skip mode: moves head_ to the next plausible chunk frame after a damaged one.
  absl::StatusOr<bool> Resync();
  void RecordDamage(const absl::Status& problem);

  ByteSource* source_;
  std::string name_;
  ReaderOptions options_;
  TraceHeader header_;
  absl::Status status_;

  std::string buf_;
  size_t head_ = 0;
  size_t tail_ = 0;
  uint64_t buf_offset_ = 0;  // absolute offset of buf_[0]
  bool eof_ = false;

  ChunkEnvelope envelope_;
  std::string raw_;  // decompressed column block
  ChunkDecoder decoder_;
  bool opened_ = false;
  bool in_chunk_ = false;
  bool complete_ = false;
  bool done_ = false;
  uint64_t next_chunk_index_ = 0;
  uint64_t next_event_index_ = 0;
  uint64_t chunk_offset_ = 0;
  ReaderStats stats_;
};

}  // namespace faultlab::trace

#endif  // FAULTLAB_ENGINE_TRACE_READER_H_
