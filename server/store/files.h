// Files and checks both stores share (sqlite_store, pg_store): the blob
// write path with its failpoints, the head and chunk checks, the latency
// encoding of runs.
#ifndef FAULTLAB_SERVER_STORE_FILES_H_
#define FAULTLAB_SERVER_STORE_FILES_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/trace/io.h"
#include "proto/trace.pb.h"

namespace faultlab::server {

absl::Status MakeDir(const std::string& path);
absl::Status FsyncDir(const std::string& path);
// Writes all of `data` at `offset` (dropping anything past it) and fsyncs,
// through the failpoints before_blob_write, after_blob_write, after_blob_fsync.
absl::Status WriteDurably(const std::string& path, int flags, uint64_t offset,
                          const std::string& data);

// A head must be exactly the preamble and header frame, with a 16-byte id.
absl::StatusOr<trace::TraceHeader> CheckHead(const std::string& head);

// What a valid chunk frame says about itself.
struct ChunkFacts {
  uint32_t crc;  // of the whole frame
  uint32_t events;
  bool final;
};
// A whole chunk frame, its checksum right, its envelope naming this trace
// and index, its columns decoding whole (trace::VerifyColumns).
absl::StatusOr<ChunkFacts> CheckChunk(const std::string& trace_id, uint64_t index,
                                      const std::string& frame);

std::string EncodeLatencies(const std::vector<uint64_t>& sorted);
std::vector<uint64_t> DecodeLatencies(const std::string& in);

}  // namespace faultlab::server

#endif  // FAULTLAB_SERVER_STORE_FILES_H_
