#include "engine/trace/writer.h"

#include <zstd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/trace/frame.h"

namespace faultlab::trace {

TraceWriter::TraceWriter(ByteSink* sink, TraceHeader header, WriterOptions options)
    : sink_(sink), header_(std::move(header)), options_(options) {}

absl::Status TraceWriter::WriteStart() {
  started_ = true;
  frame_.clear();
  AppendPreamble(frame_);
  std::string payload;
  header_.SerializeToString(&payload);
  AppendFrame(frame_, kFrameHeader, payload);
  bytes_ += frame_.size();
  return sink_->Write(frame_);
}

absl::Status TraceWriter::Append(const Event& e) {
  if (!error_.ok()) return error_;
  if (finished_) return absl::FailedPreconditionError("trace writer: Append after Finish");
  if (!IsKnownKind(e.kind)) {
    return absl::InvalidArgumentError(absl::StrCat("trace writer: unknown event kind ", e.kind));
  }
  if (!started_) {
    error_ = WriteStart();
    if (!error_.ok()) return error_;
  }
  if (encoder_.event_count() == 0) chunk_first_ns_ = e.virtual_ns;
  chunk_last_ns_ = e.virtual_ns;
  encoder_.Append(e);
  ++events_;
  if (encoder_.raw_bytes() > kMaxRawChunkBytes / 2) {
    // One event this large would make a chunk no reader accepts.
    error_ = absl::InvalidArgumentError("trace writer: event too large for a chunk");
    return error_;
  }
  if (encoder_.event_count() >= options_.max_events_per_chunk ||
      encoder_.raw_bytes() >= options_.target_chunk_bytes) {
    error_ = WriteChunk(/*final=*/false);
  }
  return error_;
}

absl::Status TraceWriter::Flush() {
  if (!error_.ok()) return error_;
  if (finished_) return absl::FailedPreconditionError("trace writer: Flush after Finish");
  if (!started_) {
    error_ = WriteStart();
    if (!error_.ok()) return error_;
  }
  if (encoder_.event_count() > 0) error_ = WriteChunk(/*final=*/false);
  return error_;
}

absl::Status TraceWriter::Finish() {
  if (!error_.ok()) return error_;
  if (finished_) return absl::OkStatus();
  if (!started_) {
    error_ = WriteStart();
    if (!error_.ok()) return error_;
  }
  error_ = WriteChunk(/*final=*/true);
  finished_ = true;
  return error_;
}

absl::Status TraceWriter::WriteChunk(bool final) {
  ChunkEnvelope env;
  env.set_chunk_index(chunks_);
  env.set_first_event_index(events_ - encoder_.event_count());
  env.set_event_count(encoder_.event_count());
  env.set_first_virtual_ns(encoder_.event_count() ? chunk_first_ns_ : chunk_last_ns_);
  env.set_last_virtual_ns(chunk_last_ns_);
  env.set_final(final);
  env.set_trace_id(header_.trace_id());
  std::string block = encoder_.Finish();
  env.set_raw_size(static_cast<uint32_t>(block.size()));
  if (options_.codec == CODEC_ZSTD && !block.empty()) {
    std::string packed(ZSTD_compressBound(block.size()), '\0');
    const size_t n = ZSTD_compress(packed.data(), packed.size(), block.data(), block.size(),
                                   options_.zstd_level);
    if (ZSTD_isError(n)) {
      return absl::InternalError(absl::StrCat("zstd: ", ZSTD_getErrorName(n)));
    }
    packed.resize(n);
    env.set_codec(CODEC_ZSTD);
    env.set_payload(std::move(packed));
  } else {
    env.set_codec(CODEC_NONE);
    env.set_payload(std::move(block));
  }
  std::string payload;
  env.SerializeToString(&payload);
  frame_.clear();
  AppendFrame(frame_, kFrameChunk, payload);
  ++chunks_;
  bytes_ += frame_.size();
  return sink_->Write(frame_);
}

}  // namespace faultlab::trace
