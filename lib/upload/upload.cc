#include "lib/upload/upload.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "engine/base/status.h"
#include "engine/trace/frame.h"
#include "lib/rpc/status.h"
#include "proto/ingest.grpc.pb.h"

namespace faultlab::upload {
namespace {

// Reads a trace file frame by frame.
class FrameFile {
 public:
  explicit FrameFile(std::string path) : path_(std::move(path)) {}
  ~FrameFile() {
    if (f_) std::fclose(f_);
  }

  absl::Status Open() {
    f_ = std::fopen(path_.c_str(), "rb");
    if (f_ == nullptr) {
      return ErrnoStatus(errno, path_, "cannot open");
    }
    return absl::OkStatus();
  }

  // The preamble and header frame.
  absl::Status Head(std::string* out) {
    out->resize(trace::kPreambleSize);
    if (!ReadExactly(out->data(), out->size()) ||
        std::memcmp(out->data(), trace::kMagic, sizeof(trace::kMagic)) != 0) {
      return absl::DataLossError(
          absl::StrCat(path_, ": offset 0: not a faultlab trace (bad magic)"));
    }
    std::string frame;
    bool end;
    if (absl::Status s = Next(&frame, &end); !s.ok()) return s;
    if (end) return absl::DataLossError(absl::StrCat(path_, ": offset 16: no header frame"));
    out->append(frame);
    return absl::OkStatus();
  }

  // The next whole frame; `*end` at a clean end of file.
  absl::Status Next(std::string* frame, bool* end) {
    *end = false;
    const uint64_t at = offset_;
    frame->resize(trace::kFrameHeaderSize);
    const size_t n = std::fread(frame->data(), 1, trace::kFrameHeaderSize, f_);
    offset_ += n;
    if (n == 0 && std::feof(f_)) {
      *end = true;
      return absl::OkStatus();
    }
    trace::FrameHeader fh;
    if (n != trace::kFrameHeaderSize || !trace::ParseFrameHeader(frame->data(), &fh) ||
        fh.payload_size > trace::kMaxFrameBytes) {
      return absl::DataLossError(absl::StrCat(path_, ": offset ", at, ": damaged frame header"));
    }
    frame->resize(trace::kFrameHeaderSize + fh.payload_size);
    if (!ReadExactly(frame->data() + trace::kFrameHeaderSize, fh.payload_size)) {
      return absl::DataLossError(absl::StrCat(path_, ": offset ", at, ": truncated frame"));
    }
    return absl::OkStatus();
  }

 private:
  bool ReadExactly(char* p, size_t n) {
    const size_t got = std::fread(p, 1, n, f_);
    offset_ += got;
    return got == n;
  }

  std::string path_;
  std::FILE* f_ = nullptr;
  uint64_t offset_ = 0;
};

// The server's refusal. INVALID_ARGUMENT is its judgement of what we sent —
// a damaged head or chunk (docs/store.md) — so to us the file is damaged.
absl::Status ServerError(const grpc::Status& st, const std::string& path) {
  absl::Status s = rpc::FromGrpc(st, absl::StrCat(path, ": upload"));
  if (s.code() != absl::StatusCode::kInvalidArgument) return s;
  return absl::DataLossError(absl::StrCat(s.message(), " (the server found it damaged)"));
}

}  // namespace

absl::StatusOr<UploadResult> UploadTrace(const std::shared_ptr<grpc::Channel>& channel,
                                         const std::string& path, const UploadOptions& options) {
  FrameFile file(path);
  if (absl::Status s = file.Open(); !s.ok()) return s;
  std::string head;
  if (absl::Status s = file.Head(&head); !s.ok()) return s;

  auto stub = api::Ingest::NewStub(channel);
  grpc::ClientContext ctx;
  if (!options.token.empty()) ctx.AddMetadata("authorization", "Bearer " + options.token);
  auto stream = stub->Upload(&ctx);
  UploadResult result;
  api::UploadRequest req;
  req.set_head(head);
  api::UploadResponse resp;
  if (!stream->Write(req) || !stream->Read(&resp) || !resp.has_resume()) {
    stream->WritesDone();
    return ServerError(stream->Finish(), path);
  }
  result.trace_id = resp.resume().trace_id();
  const uint64_t resume = resp.resume().next_chunk();
  result.bytes_sent = head.size();

  // Acks arrive while chunks go out: a reader thread counts them.
  std::atomic<uint64_t> acked{0};
  std::thread reader([&] {
    api::UploadResponse ack;
    while (stream->Read(&ack)) {
      const uint64_t n = acked.fetch_add(1) + 1;
      if (options.on_ack) options.on_ack(resume + n);
    }
  });
  absl::Status file_error;
  std::string frame;
  for (uint64_t index = 0;; ++index) {
    bool end;
    if (file_error = file.Next(&frame, &end); !file_error.ok() || end) break;
    ++result.chunks;
    if (index < resume) continue;
    req.Clear();
    req.mutable_chunk()->set_index(index);
    req.mutable_chunk()->set_frame(frame);
    if (!stream->Write(req)) break;  // the server ended the stream: Finish says why
    result.bytes_sent += frame.size();
  }
  stream->WritesDone();
  reader.join();
  const grpc::Status st = stream->Finish();
  result.acked = acked.load();
  result.already = std::min(resume, result.chunks);
  if (!st.ok()) return ServerError(st, path);
  if (!file_error.ok()) return file_error;  // what came before it is stored
  return result;
}

}  // namespace faultlab::upload
