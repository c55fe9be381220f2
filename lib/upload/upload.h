// UploadTrace: streams a trace file to a faultlab-server (proto/ingest.proto),
// from the server's resume point, and returns once every chunk is
// acknowledged (durable on the server) or the stream failed. Frames are read
// from the file as they are sent: memory stays at one frame.
//
//   auto channel = grpc::CreateChannel("127.0.0.1:7400", grpc::InsecureChannelCredentials());
//   absl::StatusOr<UploadResult> r = UploadTrace(channel, "game.fltrace", {});
#ifndef FAULTLAB_LIB_UPLOAD_UPLOAD_H_
#define FAULTLAB_LIB_UPLOAD_UPLOAD_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace faultlab::upload {

struct UploadOptions {
  std::string token;  // sent as "authorization: Bearer TOKEN" when set
  // Called with the count of chunks acknowledged so far (from any thread).
  std::function<void(uint64_t)> on_ack;
};

struct UploadResult {
  std::string trace_id;  // 16 bytes
  uint64_t chunks = 0;   // in the file
  uint64_t already = 0;  // the server had them (resume or a repeat upload)
  uint64_t acked = 0;    // acknowledged by this upload
  uint64_t bytes_sent = 0;
};

// Errors: the file's (`FILE: offset N: problem`, DATA_LOSS; cannot open, by
// its errno), or the server's status (rpc::IsRemote), except that a chunk
// or head the server refuses as damaged (INVALID_ARGUMENT) is DATA_LOSS.
// Chunks acknowledged before an error are stored; uploading again resumes
// after them.
absl::StatusOr<UploadResult> UploadTrace(const std::shared_ptr<grpc::Channel>& channel,
                                         const std::string& path, const UploadOptions& options);

}  // namespace faultlab::upload

#endif  // FAULTLAB_LIB_UPLOAD_UPLOAD_H_
