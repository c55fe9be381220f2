#include "server/store/files.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/base/status.h"
#include "engine/trace/crc32c.h"
#include "engine/trace/frame.h"
#include "engine/trace/reader.h"
#include "server/store/failpoint.h"

namespace faultlab::server {

absl::Status MakeDir(const std::string& path) {
  if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, path, "cannot create");
  }
  return absl::OkStatus();
}

absl::Status FsyncDir(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return ErrnoStatus(errno, path);
  const int rc = fsync(fd);
  const int err = errno;
  close(fd);
  return rc == 0 ? absl::OkStatus() : ErrnoStatus(err, path);
}

// Writes all of `data` at `offset` and fsyncs, through the failpoints.
absl::Status WriteDurably(const std::string& path, int flags, uint64_t offset,
                          const std::string& data) {
  if (Failpoint("before_blob_write") == FailAction::kEnospc) return ErrnoStatus(ENOSPC, path);
  const int fd = open(path.c_str(), flags | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, path);
  // Whatever lies past `offset` was never acknowledged: drop it.
  if (ftruncate(fd, static_cast<off_t>(offset)) != 0) {
    const int err = errno;
    close(fd);
    return ErrnoStatus(err, path);
  }
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n =
        pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : ENOSPC;
      close(fd);
      return ErrnoStatus(err, path);
    }
    done += static_cast<size_t>(n);
  }
  if (Failpoint("after_blob_write") == FailAction::kEnospc) {
    close(fd);
    return ErrnoStatus(ENOSPC, path);
  }
  const int rc = fsync(fd);
  const int err = errno;
  close(fd);
  if (rc != 0) return ErrnoStatus(err, path);
  if (Failpoint("after_blob_fsync") == FailAction::kEnospc) return ErrnoStatus(ENOSPC, path);
  return absl::OkStatus();
}

// Reads at most `limit` bytes of another source (a blob's committed part).

// Sorted latencies as delta-coded LEB128 varints (about 2 bytes a fault).
std::string EncodeLatencies(const std::vector<uint64_t>& sorted) {
  std::string out;
  uint64_t prev = 0;
  for (uint64_t v : sorted) {
    uint64_t d = v - prev;
    prev = v;
    while (d >= 0x80) {
      out.push_back(static_cast<char>((d & 0x7f) | 0x80));
      d >>= 7;
    }
    out.push_back(static_cast<char>(d));
  }
  return out;
}

std::vector<uint64_t> DecodeLatencies(const std::string& in) {
  std::vector<uint64_t> out;
  uint64_t prev = 0, d = 0;
  int shift = 0;
  for (char c : in) {
    const uint8_t b = static_cast<uint8_t>(c);
    if (shift < 64) d |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (b & 0x80) {
      shift += 7;
      continue;
    }
    prev += d;
    out.push_back(prev);
    d = 0;
    shift = 0;
  }
  return out;
}

absl::StatusOr<trace::TraceHeader> CheckHead(const std::string& head) {
  // The head must be a whole preamble and header frame, nothing more.
  trace::MemorySource src(head);
  trace::TraceReader reader(&src, "upload");
  if (absl::Status s = reader.Open(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("trace head: ", s.message()));
  }
  trace::FrameHeader fh;
  if (head.size() < trace::kPreambleSize + trace::kFrameHeaderSize ||
      !trace::ParseFrameHeader(head.data() + trace::kPreambleSize, &fh) ||
      head.size() != trace::kPreambleSize + trace::kFrameHeaderSize + fh.payload_size) {
    return absl::InvalidArgumentError("trace head: expected the preamble and header frame only");
  }
  if (reader.header().trace_id().size() != 16) {
    return absl::InvalidArgumentError(absl::StrCat(
        "trace head: trace id of ", reader.header().trace_id().size(), " bytes, want 16"));
  }
  return reader.header();
}

absl::StatusOr<ChunkFacts> CheckChunk(const std::string& trace_id, uint64_t index,
                                      const std::string& frame) {
  const std::string hex = absl::BytesToHexString(trace_id);
  trace::FrameHeader fh;
  if (frame.size() < trace::kFrameHeaderSize || !trace::ParseFrameHeader(frame.data(), &fh) ||
      fh.type != trace::kFrameChunk || fh.payload_size != frame.size() - trace::kFrameHeaderSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("trace ", hex, " chunk ", index, ": not a whole chunk frame"));
  }
  const absl::string_view payload(frame.data() + trace::kFrameHeaderSize, fh.payload_size);
  if (trace::Crc32c(payload) != fh.payload_crc) {
    return absl::InvalidArgumentError(
        absl::StrCat("trace ", hex, " chunk ", index, ": payload checksum mismatch"));
  }
  trace::ChunkEnvelope env;
  if (!env.ParseFromArray(payload.data(), static_cast<int>(payload.size())) ||
      env.chunk_index() != index || env.trace_id() != trace_id) {
    return absl::InvalidArgumentError(
        absl::StrCat("trace ", hex, " chunk ", index, ": the envelope names chunk ",
                     env.chunk_index(), " of trace ", absl::BytesToHexString(env.trace_id())));
  }
  // Its columns decode whole: a replay never meets a damaged chunk the
  // store acknowledged.
  std::string raw;
  absl::StatusOr<absl::string_view> block = trace::UnpackChunk(env, &raw);
  if (!block.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("trace ", hex, " ", block.status().message()));
  }
  if (absl::Status s = trace::VerifyColumns(*block, env.event_count()); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("trace ", hex, " chunk ", index, ": ", s.message()));
  }
  return ChunkFacts{trace::Crc32c(frame), env.event_count(), env.final()};
}

}  // namespace faultlab::server
