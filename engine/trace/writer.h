// TraceWriter: turns a stream of events into trace frames on a ByteSink.
//
// Events are buffered into a chunk until it holds `max_events_per_chunk`
// events or about `target_chunk_bytes` of column data; the chunk is then
// encoded (optionally zstd-compressed), framed and written in one Write().
// Finish() writes the last chunk with `final = true`; a trace without it reads
// as incomplete.
//
//   StringSink sink(&bytes);
//   TraceWriter writer(&sink, header);
//   for (const Event& e : events) RETURN_IF_ERROR(writer.Append(e));
//   RETURN_IF_ERROR(writer.Finish());
#ifndef FAULTLAB_ENGINE_TRACE_WRITER_H_
#define FAULTLAB_ENGINE_TRACE_WRITER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "engine/trace/columns.h"
#include "engine/trace/event.h"
#include "engine/trace/io.h"
#include "proto/trace.pb.h"

namespace faultlab::trace {

struct WriterOptions {
  uint32_t max_events_per_chunk = 32768;
  size_t target_chunk_bytes = 1 << 20;
  // CODEC_ZSTD compresses each chunk (it pays: see docs/trace-format.md).
  Codec codec = CODEC_ZSTD;
  int zstd_level = 3;
};

class TraceWriter {
 public:
  // Writes the preamble and header at the first Append() or Finish().
  TraceWriter(ByteSink* sink, TraceHeader header, WriterOptions options = {});

  absl::Status Append(const Event& e);
  // Writes out the current chunk now (not final). Streaming recorders call it
  // to bound how much an interrupted recording can lose.
  absl::Status Flush();
  // Writes the final chunk. No Append() after it.
  absl::Status Finish();

  uint64_t events_written() const { return events_; }
  uint64_t chunks_written() const { return chunks_; }
  uint64_t bytes_written() const { return bytes_; }
  const TraceHeader& header() const { return header_; }

 private:
  absl::Status WriteStart();
  absl::Status WriteChunk(bool final);

  ByteSink* sink_;
  TraceHeader header_;
  WriterOptions options_;
  ChunkEncoder encoder_;
  bool started_ = false;
  bool finished_ = false;
  absl::Status error_;  // sticky: after a sink error nothing more is written
  uint64_t events_ = 0;
  uint64_t chunks_ = 0;
  uint64_t bytes_ = 0;
  uint64_t chunk_first_ns_ = 0;
  uint64_t chunk_last_ns_ = 0;
  std::string frame_;  // reused buffer
};

}  // namespace faultlab::trace

#endif  // FAULTLAB_ENGINE_TRACE_WRITER_H_
