#include "engine/trace/reader.h"

#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/trace/crc32c.h"
#include "engine/trace/varint.h"

namespace faultlab::trace {
namespace {

constexpr size_t kReadAhead = 256 << 10;
constexpr size_t kMaxDamageNotes = 16;

}  // namespace

TraceReader::TraceReader(ByteSource* source, std::string name, ReaderOptions options)
    : source_(source), name_(std::move(name)), options_(options) {}

absl::Status TraceReader::Error(uint64_t offset, const std::string& problem) {
  return absl::DataLossError(absl::StrCat(name_, ": offset ", offset, ": ", problem));
}

absl::StatusOr<bool> TraceReader::Fill(size_t n) {
  if (tail_ - head_ >= n) return true;
  if (head_ > 0) {
    std::memmove(buf_.data(), buf_.data() + head_, tail_ - head_);
    buf_offset_ += head_;
    tail_ -= head_;
    head_ = 0;
  }
  if (buf_.size() < std::max(n, kReadAhead)) buf_.resize(std::max(n, kReadAhead));
  while (tail_ < n && !eof_) {
    absl::StatusOr<size_t> got = source_->Read(buf_.data() + tail_, buf_.size() - tail_);
    if (!got.ok()) return got.status();
    if (*got == 0) eof_ = true;
    tail_ += *got;
  }
  return tail_ - head_ >= n;
}

absl::Status TraceReader::Open() {
  if (opened_) return status_;
  opened_ = true;
  absl::StatusOr<bool> have = Fill(kPreambleSize);
  if (!have.ok()) return status_ = have.status();
  if (!*have) {
    return status_ = Error(0, tail_ == 0 ? "empty file, not a faultlab trace"
                                         : absl::StrCat("truncated preamble (", tail_, " of ",
                                                        kPreambleSize, " bytes)"));
  }
  const char* p = buf_.data() + head_;
  if (std::memcmp(p, kMagic, sizeof(kMagic)) != 0) {
    return status_ = Error(0, "not a faultlab trace (bad magic)");
  }
  const uint32_t version = GetFixed32(p + 8);
  if (version != kFormatVersion) {
    return status_ = Error(8, absl::StrCat("unsupported format version ", version,
                                           " (this build reads version ", kFormatVersion, ")"));
  }
  if (GetFixed32(p + 12) != 0) {
    return status_ =
               Error(12, absl::StrFormat("unsupported preamble flags 0x%x", GetFixed32(p + 12)));
  }
  head_ += kPreambleSize;

  const uint64_t at = buf_offset_ + head_;
  have = Fill(kFrameHeaderSize);
  if (!have.ok()) return status_ = have.status();
  if (!*have) return status_ = Error(at, "truncated: no header frame");
  FrameHeader fh;
  if (!ParseFrameHeader(buf_.data() + head_, &fh)) {
    return status_ = Error(at, "corrupt frame header (checksum mismatch)");
  }
  if (fh.type != kFrameHeader) {
    return status_ =
               Error(at, absl::StrFormat("expected the header frame, found type 0x%08x", fh.type));
  }
  if (fh.payload_size > options_.max_frame_bytes) {
    return status_ = Error(at, absl::StrCat("oversized header frame: ", fh.payload_size,
                                            " bytes (limit ", options_.max_frame_bytes, ")"));
  }
  have = Fill(kFrameHeaderSize + fh.payload_size);
  if (!have.ok()) return status_ = have.status();
  if (!*have) {
    return status_ =
               Error(at, absl::StrCat("truncated header frame (", tail_ - head_ - kFrameHeaderSize,
                                      " of ", fh.payload_size, " payload bytes)"));
  }
  absl::string_view payload(buf_.data() + head_ + kFrameHeaderSize, fh.payload_size);
  if (Crc32c(payload) != fh.payload_crc) {
    return status_ = Error(at, "header checksum mismatch");
  }
  if (!header_.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return status_ = Error(at, "malformed trace header");
  }
  head_ += kFrameHeaderSize + fh.payload_size;
  stats_.bytes = buf_offset_ + head_;
  return absl::OkStatus();
}

absl::StatusOr<absl::string_view> UnpackChunk(const ChunkEnvelope& env, std::string* raw) {
  const std::string chunk = absl::StrCat("chunk ", env.chunk_index());
  if (env.raw_size() > kMaxRawChunkBytes) {
    return absl::DataLossError(absl::StrCat(chunk, " too large: ", env.raw_size(),
                                            " bytes decoded (limit ", kMaxRawChunkBytes, ")"));
  }
  // Every event takes at least two bytes (kind and time).
  if (static_cast<uint64_t>(env.event_count()) * 2 > env.raw_size()) {
    return absl::DataLossError(absl::StrCat(chunk, " claims ", env.event_count(), " events in ",
                                            env.raw_size(), " bytes"));
  }
  switch (env.codec()) {
    case CODEC_NONE:
      if (env.payload().size() != env.raw_size()) {
        return absl::DataLossError(absl::StrCat(chunk, " size mismatch"));
      }
      return absl::string_view(env.payload());
    case CODEC_ZSTD: {
      raw->resize(env.raw_size());
      const size_t n =
          ZSTD_decompress(raw->data(), raw->size(), env.payload().data(), env.payload().size());
      if (ZSTD_isError(n) || n != env.raw_size()) {
        return absl::DataLossError(absl::StrCat(
            chunk, ": zstd: ", ZSTD_isError(n) ? ZSTD_getErrorName(n) : "size mismatch"));
      }
      return absl::string_view(*raw);
    }
    default:
      return absl::DataLossError(absl::StrCat(chunk, ": unknown codec ", env.codec()));
  }
}

absl::Status VerifyColumns(absl::string_view block, uint32_t event_count) {
  ChunkDecoder check;
  if (absl::Status s = check.Reset(block, event_count); !s.ok()) return s;
  Event scratch;
  while (check.Next(&scratch)) {
  }
  return check.status();
}

void TraceReader::RecordDamage(const absl::Status& problem) {
  ++stats_.damaged_chunks;
  if (stats_.damage.size() < kMaxDamageNotes) stats_.damage.emplace_back(problem.message());
}

absl::Status TraceReader::DecodeEnvelope(uint64_t at, absl::string_view payload) {
  if (!envelope_.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return Error(at, "malformed chunk envelope");
  }
  const ChunkEnvelope& env = envelope_;
  if (env.chunk_index() != next_chunk_index_) {
    if (!options_.skip_damaged || env.chunk_index() < next_chunk_index_) {
      return Error(
          at, absl::StrCat("chunk index ", env.chunk_index(), ", expected ", next_chunk_index_));
    }
  } else if (env.first_event_index() != next_event_index_) {
    return Error(at, absl::StrCat("chunk ", env.chunk_index(), " starts at event ",
                                  env.first_event_index(), ", expected ", next_event_index_));
  }
  if (env.trace_id() != header_.trace_id()) {
    return Error(at, absl::StrCat("chunk ", env.chunk_index(), " belongs to another trace"));
  }
  absl::StatusOr<absl::string_view> block = UnpackChunk(env, &raw_);
  if (!block.ok()) return Error(at, std::string(block.status().message()));
  if (env.codec() == CODEC_ZSTD) ++stats_.compressed_chunks;
  if (absl::Status s = decoder_.Reset(*block, env.event_count()); !s.ok()) {
    return Error(at, absl::StrCat("chunk ", env.chunk_index(), ": ", s.message()));
  }
  // The whole chunk decodes before any of its events is handed out: a
  // damaged column stops a replay before the chunk's first event takes
  // effect, not half way through it.
  if (absl::Status s = VerifyColumns(*block, env.event_count()); !s.ok()) {
    return Error(at, absl::StrCat("chunk ", env.chunk_index(), ": ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status TraceReader::ReadChunkFrame(uint64_t at, bool* end) {
  *end = false;
  absl::StatusOr<bool> have = Fill(kFrameHeaderSize);
  if (!have.ok()) return have.status();
  if (!*have) {
    *end = tail_ == head_;
    if (*end) return absl::OkStatus();
    return Error(at, absl::StrCat("truncated frame header (", tail_ - head_, " of ",
                                  kFrameHeaderSize, " bytes)"));
  }
  FrameHeader fh;
  if (!ParseFrameHeader(buf_.data() + head_, &fh)) {
    return Error(at, "corrupt frame header (checksum mismatch)");
  }
  if (fh.type != kFrameChunk) {
    return Error(at, fh.type == kFrameHeader
                         ? std::string("unexpected second header frame")
                         : absl::StrFormat("unknown frame type 0x%08x", fh.type));
  }
  if (fh.payload_size > options_.max_frame_bytes) {
    return Error(at, absl::StrCat("oversized frame: ", fh.payload_size, " bytes (limit ",
                                  options_.max_frame_bytes, ")"));
  }
  have = Fill(kFrameHeaderSize + fh.payload_size);
  if (!have.ok()) return have.status();
  if (!*have) {
    return Error(at, absl::StrCat("truncated frame (", tail_ - head_ - kFrameHeaderSize, " of ",
                                  fh.payload_size, " payload bytes)"));
  }
  absl::string_view payload(buf_.data() + head_ + kFrameHeaderSize, fh.payload_size);
  if (Crc32c(payload) != fh.payload_crc) {
    return Error(at, absl::StrCat("checksum mismatch in chunk frame (after chunk ",
                                  static_cast<int64_t>(next_chunk_index_) - 1, ")"));
  }
  if (absl::Status s = DecodeEnvelope(at, payload); !s.ok()) return s;
  head_ += kFrameHeaderSize + fh.payload_size;
  return absl::OkStatus();
}

absl::StatusOr<bool> TraceReader::Resync() {
  // The damaged frame starts at head_; look for the next chunk frame after it.
  ++head_;
  ++stats_.skipped_bytes;
  const char tag[4] = {'F', 'L', 'C', 'K'};
  while (true) {
    absl::StatusOr<bool> have = Fill(kFrameHeaderSize);
    if (!have.ok()) return have.status();
    if (!*have) {
      stats_.skipped_bytes += tail_ - head_;
      head_ = tail_;
      return false;
    }
    const char* begin = buf_.data() + head_;
    const char* hit = static_cast<const char*>(memmem(begin, tail_ - head_, tag, 4));
    if (hit == nullptr) {
      // Keep the last 3 bytes: a tag may straddle the refill.
      const size_t drop = tail_ - head_ - 3;
      stats_.skipped_bytes += drop;
      head_ += drop;
      if (eof_) {
        stats_.skipped_bytes += 3;
        head_ = tail_;
        return false;
      }
      absl::StatusOr<bool> more = Fill(tail_ - head_ + kReadAhead / 2);
      if (!more.ok()) return more.status();
      continue;
    }
    stats_.skipped_bytes += hit - begin;
    head_ += hit - begin;
    have = Fill(kFrameHeaderSize);
    if (!have.ok()) return have.status();
    FrameHeader fh;
    if (*have && ParseFrameHeader(buf_.data() + head_, &fh) && fh.type == kFrameChunk &&
        fh.payload_size <= options_.max_frame_bytes) {
      return true;
    }
    ++head_;
    ++stats_.skipped_bytes;
  }
}

absl::StatusOr<bool> TraceReader::LoadChunk() {
  while (true) {
    const uint64_t at = buf_offset_ + head_;
    bool end = false;
    absl::Status s = ReadChunkFrame(at, &end);
    if (s.ok() && end) {
      if (complete_ || options_.allow_incomplete) return false;
      absl::Status trunc =
          Error(at, absl::StrCat("truncated trace: no final chunk after ", stats_.chunks,
                                 " chunks (", stats_.events, " events)"));
      if (!options_.skip_damaged) return trunc;
      RecordDamage(trunc);
      return false;
    }
    if (s.ok()) {
      chunk_offset_ = at;
      if (envelope_.chunk_index() != next_chunk_index_) {
        RecordDamage(Error(at, absl::StrCat("chunks ", next_chunk_index_, "..",
                                            envelope_.chunk_index() - 1, " missing")));
      }
      next_chunk_index_ = envelope_.chunk_index() + 1;
      next_event_index_ = envelope_.first_event_index();
      ++stats_.chunks;
      stats_.bytes = buf_offset_ + head_;
      return true;
    }
    if (!options_.skip_damaged || absl::IsUnavailable(s) || absl::IsNotFound(s)) return s;
    RecordDamage(s);
    absl::StatusOr<bool> found = Resync();
    if (!found.ok()) return found.status();
    if (!*found) {
      stats_.bytes = buf_offset_ + head_;
      return false;
    }
  }
}

bool TraceReader::Next(Event* e) {
  if (!opened_) {
    if (!Open().ok()) done_ = true;
  }
  while (!done_) {
    if (in_chunk_) {
      if (decoder_.Next(e)) {
        ++next_event_index_;
        ++stats_.events;
        return true;
      }
      in_chunk_ = false;
      stats_.unknown_event_kinds += decoder_.unknown_kind_events();
      stats_.unknown_columns += decoder_.unknown_columns();
      if (!decoder_.status().ok()) {
        absl::Status s = Error(chunk_offset_, absl::StrCat("chunk ", envelope_.chunk_index(), ": ",
                                                           decoder_.status().message()));
        if (!options_.skip_damaged) {
          status_ = s;
          done_ = true;
          return false;
        }
        RecordDamage(s);
        continue;
      }
      if (envelope_.final()) {
        complete_ = true;
        absl::StatusOr<bool> more = Fill(1);
        if (!more.ok()) {
          status_ = more.status();
        } else if (*more) {
          absl::Status s = Error(buf_offset_ + head_, "trailing data after the final chunk");
          if (options_.skip_damaged) {
            RecordDamage(s);
          } else {
            status_ = s;
          }
        }
        done_ = true;
        return false;
      }
    }
    absl::StatusOr<bool> loaded = LoadChunk();
    if (!loaded.ok()) {
      status_ = loaded.status();
      done_ = true;
      return false;
    }
    if (!*loaded) {
      done_ = true;
      return false;
    }
    in_chunk_ = true;
  }
  return false;
}

}  // namespace faultlab::trace
