// Byte sinks and sources for traces: files (POSIX fds) and memory.
//
// A trace writer hands every frame to ByteSink::Write in one call (the
// preamble and header frame together), so a sink that needs frame boundaries
// (the agent's spool, the gRPC stream) gets them for free.
#ifndef FAULTLAB_ENGINE_TRACE_IO_H_
#define FAULTLAB_ENGINE_TRACE_IO_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace faultlab::trace {

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual absl::Status Write(absl::string_view bytes) = 0;
  // Makes everything written so far durable where the sink supports it.
  virtual absl::Status Sync() { return absl::OkStatus(); }
};

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to `n` bytes; returns 0 only at the end of the input.
  virtual absl::StatusOr<size_t> Read(char* buf, size_t n) = 0;
};

// Appends to a string it does not own.
class StringSink : public ByteSink {
 public:
  explicit StringSink(std::string* out) : out_(out) {}
  absl::Status Write(absl::string_view bytes) override {
    out_->append(bytes.data(), bytes.size());
    return absl::OkStatus();
  }

 private:
  std::string* out_;
};

// Reads from memory it does not own.
class MemorySource : public ByteSource {
 public:
  explicit MemorySource(absl::string_view data) : data_(data) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override;

 private:
  absl::string_view data_;
  size_t pos_ = 0;
};

// Reads at most `limit` bytes of another source (a blob's committed part).
class LimitedSource : public ByteSource {
 public:
  LimitedSource(std::unique_ptr<ByteSource> in, uint64_t limit)
      : in_(std::move(in)), left_(limit) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    if (left_ == 0) return 0;
    absl::StatusOr<size_t> got = in_->Read(buf, std::min<uint64_t>(n, left_));
    if (got.ok()) left_ -= *got;
    return got;
  }

 private:
  std::unique_ptr<ByteSource> in_;
  uint64_t left_;
};

// A file written through a POSIX fd. Open() creates or truncates; errors name
// the path and the errno text.
class FileSink : public ByteSink {
 public:
  static absl::StatusOr<std::unique_ptr<FileSink>> Open(const std::string& path);
  ~FileSink() override;
  absl::Status Write(absl::string_view bytes) override;
  absl::Status Sync() override;
  absl::Status Close();

 private:
  FileSink(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_;
};

class FileSource : public ByteSource {
 public:
  // "-" reads standard input.
  static absl::StatusOr<std::unique_ptr<FileSource>> Open(const std::string& path);
  ~FileSource() override;
  absl::StatusOr<size_t> Read(char* buf, size_t n) override;
  // Total size if the file is regular (for progress), else 0.
  size_t size_bytes() const { return size_bytes_; }

 private:
  FileSource(std::string path, int fd, size_t size)
      : path_(std::move(path)), fd_(fd), size_bytes_(size) {}
  std::string path_;
  int fd_;
  size_t size_bytes_;
};

// A regular file's first `limit` bytes (fewer if the file is shorter),
// mapped read-only: every reader made over bytes() shares the one mapping,
// and processes that map the same file share its page-cache pages (the
// server's replay workers, each replaying a cell of one what-if matrix).
// The file must not shrink below what is mapped while it is mapped — a
// read past its end would be SIGBUS; the server's stored blobs only ever
// drop bytes past their acknowledged length, which is all a worker maps.
class MappedFile {
 public:
  static absl::StatusOr<std::shared_ptr<const MappedFile>> Map(const std::string& path,
                                                               uint64_t limit);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  absl::string_view bytes() const { return {static_cast<const char*>(data_), size_}; }

 private:
  MappedFile(const void* data, size_t size) : data_(data), size_(size) {}
  const void* data_;
  size_t size_;
};

}  // namespace faultlab::trace

#endif  // FAULTLAB_ENGINE_TRACE_IO_H_
