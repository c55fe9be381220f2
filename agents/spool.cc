#include "agents/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/base/status.h"

namespace faultlab::agent {
namespace {

absl::Status MakeDirs(const std::string& path) {
  std::string cur;
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || (path[i] == '/' && i > 0)) {
      cur = path.substr(0, i);
      if (mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST)
        return ErrnoStatus(errno, cur, "cannot create");
    }
  }
  return absl::OkStatus();
}

absl::Status FsyncDir(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return ErrnoStatus(errno, dir);
  const int rc = fsync(fd);
  close(fd);
  return rc == 0 ? absl::OkStatus() : ErrnoStatus(errno, dir);
}

uint64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

std::string Base(const std::string& path) { return path.substr(path.rfind('/') + 1); }

}  // namespace

std::string TraceIdOfPath(const std::string& path) {
  std::string b = Base(path);
  const size_t dash = b.find('-');
  if (dash != std::string::npos) b = b.substr(dash + 1);
  return b.substr(0, b.find('.'));
}

absl::StatusOr<std::unique_ptr<Spool>> Spool::Open(const std::string& dir, uint64_t max_bytes) {
  if (absl::Status s = MakeDirs(dir + "/rejected"); !s.ok()) return s;
  std::unique_ptr<Spool> sp(new Spool(dir, max_bytes));
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return ErrnoStatus(errno, dir);
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) names.push_back(e->d_name);
  closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) {
    const std::string path = absl::StrCat(dir, "/", n);
    if (absl::EndsWith(n, ".fltrace.part")) {
      unlink(path.c_str());  // a recording a crash cut short, never reported
      continue;
    }
    if (!absl::EndsWith(n, ".fltrace")) continue;
    uint64_t seq = 0;
    if (absl::SimpleAtoi(n.substr(0, n.find('-')), &seq))
      sp->next_seq_ = std::max(sp->next_seq_, seq + 1);
    const uint64_t size = FileSize(path);
    sp->queue_.push_back({path, size});
    sp->bytes_ += size;
  }
  return sp;
}

std::string Spool::NewPart(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  return absl::StrFormat("%s/%08d-%s.fltrace.part", dir_, next_seq_++, id);
}

absl::Status Spool::Commit(const std::string& part, const std::string& id, uint64_t events) {
  const std::string path = part.substr(0, part.size() - std::strlen(".part"));
  if (rename(part.c_str(), path.c_str()) != 0) return ErrnoStatus(errno, part, "cannot rename");
  if (absl::Status s = FsyncDir(dir_); !s.ok()) return s;
  const uint64_t size = FileSize(path);
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back({path, size});
    bytes_ += size;
  }
  return Log(absl::StrCat("recorded\t", id, "\t", events, "\t", size));
}

absl::Status Spool::CommitAs(const std::string& part, const std::string& id, uint64_t events) {
  const std::string base = part.substr(part.rfind('/') + 1);
  const std::string named =
      absl::StrCat(dir_, "/", base.substr(0, base.find('-')), "-", id, ".fltrace.part");
  if (rename(part.c_str(), named.c_str()) != 0) return ErrnoStatus(errno, part, "cannot rename");
  return Commit(named, id, events);
}

void Spool::Discard(const std::string& part) { unlink(part.c_str()); }

std::optional<std::string> Spool::Oldest() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (queue_.empty()) return std::nullopt;
  return queue_.front().first;
}

absl::Status Spool::Uploaded(const std::string& path, const std::string& archive_dir) {
  if (!archive_dir.empty()) {
    if (absl::Status s = MakeDirs(archive_dir); !s.ok()) return s;
    const std::string to = absl::StrCat(archive_dir, "/", TraceIdOfPath(path), ".fltrace");
    if (rename(path.c_str(), to.c_str()) != 0)
      return ErrnoStatus(errno, path, absl::StrCat("cannot move to ", to));
  } else if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, path, "cannot remove");
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it =
        std::find_if(queue_.begin(), queue_.end(), [&](const auto& q) { return q.first == path; });
    if (it != queue_.end()) {
      bytes_ -= it->second;
      queue_.erase(it);
    }
  }
  return Log(absl::StrCat("uploaded\t", TraceIdOfPath(path)));
}

absl::Status Spool::Rejected(const std::string& path, const std::string& why) {
  const std::string to = absl::StrCat(dir_, "/rejected/", Base(path));
  if (rename(path.c_str(), to.c_str()) != 0)
    return ErrnoStatus(errno, path, absl::StrCat("cannot move to ", to));
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it =
        std::find_if(queue_.begin(), queue_.end(), [&](const auto& q) { return q.first == path; });
    if (it != queue_.end()) {
      bytes_ -= it->second;
      queue_.erase(it);
    }
  }
  std::string one_line = why;
  std::replace(one_line.begin(), one_line.end(), '\n', ' ');
  return Log(absl::StrCat("rejected\t", TraceIdOfPath(path), "\t", one_line));
}

bool Spool::Full() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_ >= max_bytes_;
}

uint64_t Spool::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

uint64_t Spool::traces() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

absl::Status Spool::Log(const std::string& line) {
  const std::string path = dir_ + "/ledger.tsv";
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, path);
  const std::string l = line + "\n";
  const bool ok = write(fd, l.data(), l.size()) == static_cast<ssize_t>(l.size()) && fsync(fd) == 0;
  const absl::Status s = ok ? absl::OkStatus() : ErrnoStatus(errno, path);
  close(fd);
  return s;
}

}  // namespace faultlab::agent
