// The upload protocol, written once for every dialect (store.h, docs/store.md).
//
// Write order of a chunk (the crash tests walk every step, failpoint.h):
//   become the trace's one writer; check against its row; drop any
//   unacknowledged tail of the blob; write the frame; fsync the blob; commit
//   the chunk row and the trace's new length in one transaction (durable at
//   COMMIT); acknowledge.
// A crash before the commit leaves bytes past the trace's committed length,
// which the next append (or a read) ignores; a crash after it leaves the
// chunk stored though the agent saw no ack, and its resend is idempotent.
#include "server/store/store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/base/status.h"
#include "server/store/failpoint.h"
#include "server/store/files.h"

namespace faultlab::server {

std::string Store::BlobPath(const std::string& trace_id) const {
  return absl::StrCat(blob_dir_, "/", absl::BytesToHexString(trace_id), ".fltrace");
}

absl::StatusOr<UploadState> Store::BeginTrace(const std::string& head) {
  absl::StatusOr<trace::TraceHeader> header = CheckHead(head);
  if (!header.ok()) return header.status();
  const std::string& id = header->trace_id();
  absl::StatusOr<std::unique_ptr<TraceWriter>> writer = LockTrace(id);
  if (!writer.ok()) return writer.status();
  absl::StatusOr<std::optional<TraceRow>> row = (*writer)->Find();
  if (!row.ok()) return row.status();
  if (row->has_value()) {
    if ((*row)->head != head) {
      return absl::AlreadyExistsError(
          absl::StrCat("trace ", absl::BytesToHexString(id), " exists with another header"));
    }
    return UploadState{id, (*row)->chunks, (*row)->complete};
  }
  // A new trace: its blob first (a crash before the row is committed leaves
  // a blob nobody knows, rewritten by the retry), then its row.
  const std::string path = BlobPath(id);
  absl::Status s = WriteDurably(path, O_CREAT, 0, head);
  if (s.ok()) s = FsyncDir(blob_dir_);
  if (s.ok()) s = (*writer)->Insert(*header, head);
  // A blob the database does not know is nobody's: a refused upload leaves
  // no empty file behind.
  if (!s.ok()) unlink(path.c_str());
  NoteWrite(s);
  if (!s.ok()) return s;
  return UploadState{id, 0, false};
}

absl::Status Store::AppendChunk(const std::string& trace_id, uint64_t index,
                                const std::string& frame) {
  // Validate the frame before touching anything.
  absl::StatusOr<ChunkFacts> facts = CheckChunk(trace_id, index, frame);
  if (!facts.ok()) return facts.status();
  const std::string hex = absl::BytesToHexString(trace_id);
  absl::StatusOr<std::unique_ptr<TraceWriter>> writer = LockTrace(trace_id);
  if (!writer.ok()) return writer.status();
  absl::StatusOr<std::optional<TraceRow>> row = (*writer)->Find();
  if (!row.ok()) return row.status();
  if (!row->has_value()) return absl::NotFoundError(absl::StrCat("no trace ", hex));
  const TraceRow& t = **row;
  if (index < t.chunks) {  // a resend, perhaps through another replica
    absl::StatusOr<ChunkRow> stored = (*writer)->Chunk(index);
    if (!stored.ok()) return stored.status();
    if (stored->size == frame.size() && stored->crc == facts->crc) return absl::OkStatus();
    return absl::AlreadyExistsError(
        absl::StrCat("trace ", hex, " chunk ", index, " is stored with other bytes"));
  }
  if (t.complete) {
    return absl::FailedPreconditionError(
        absl::StrCat("trace ", hex, " is complete at ", t.chunks, " chunks"));
  }
  if (index > t.chunks) {
    return absl::FailedPreconditionError(
        absl::StrCat("trace ", hex, ": expected chunk ", t.chunks, ", got ", index));
  }
  const std::string path = BlobPath(trace_id);
  absl::Status s = WriteDurably(path, 0, t.bytes, frame);
  if (s.ok() && Failpoint("before_commit") == FailAction::kEnospc) s = ErrnoStatus(ENOSPC, path);
  if (s.ok()) {
    s = (*writer)->Commit({index, t.bytes, frame.size(), facts->crc, facts->events, facts->final});
  }
  NoteWrite(s);
  if (!s.ok()) return s;
  Failpoint("after_commit");
  return absl::OkStatus();
}

void Store::NoteWrite(const absl::Status& s) {
  if (!s.ok()) ++write_failures_;
  std::lock_guard<std::mutex> lock(problem_mu_);
  write_problem_ = s.ok() ? "" : std::string(s.message());
}

std::string Store::WriteProblem() const {
  std::lock_guard<std::mutex> lock(problem_mu_);
  return write_problem_;
}

absl::StatusOr<Store::StoredFile> Store::TraceFile(const std::string& trace_id) {
  absl::StatusOr<TraceRecord> t = GetTrace(trace_id);
  if (!t.ok()) return t.status();
  return StoredFile{BlobPath(trace_id), t->bytes};
}

absl::StatusOr<std::unique_ptr<trace::ByteSource>> Store::OpenTrace(const std::string& trace_id) {
  absl::StatusOr<StoredFile> f = TraceFile(trace_id);
  if (!f.ok()) return f.status();
  absl::StatusOr<std::unique_ptr<trace::FileSource>> src = trace::FileSource::Open(f->path);
  if (!src.ok()) return src.status();
  return std::unique_ptr<trace::ByteSource>(
      std::make_unique<trace::LimitedSource>(std::move(*src), f->bytes));
}

}  // namespace faultlab::server
