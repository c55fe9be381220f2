#include "engine/replay/validate.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/uapi/ioc.h"
#include "engine/uapi/ioctls.h"

namespace faultlab::replay {
namespace {

absl::Status Damaged(const trace::Ioctl& io, const std::string& what) {
  const uapi::IoctlDesc* d = uapi::FindIoctl(io.request);
  const std::string name = d ? d->name : absl::StrCat("ioctl 0x", absl::Hex(io.request));
  return absl::DataLossError(absl::StrCat(name, ": ", what));
}

// The recorded copies in, by address: what a reader of the recording's
// user memory can see.
class RecordedMemory {
 public:
  explicit RecordedMemory(const std::vector<trace::UserBytes>& copies) {
    for (const trace::UserBytes& u : copies) {
      if (!u.data.empty()) at_.emplace(u.address, u.data);
      total_ += u.data.size();
    }
  }
  uint64_t total() const { return total_; }
  // Reads [address, address + n) if the copies cover it, whole.
  bool Read(void* dst, uint64_t address, uint64_t n) const {
    char* out = static_cast<char*>(dst);
    while (n > 0) {
      auto it = at_.upper_bound(address);
      if (it == at_.begin()) return false;
      --it;
      const uint64_t off = address - it->first;
      if (off >= it->second.size()) return false;
      const uint64_t take = std::min<uint64_t>(n, it->second.size() - off);
      if (out) {
        std::memcpy(out, it->second.data() + off, take);
        out += take;
      }
      address += take;
      n -= take;
    }
    return true;
  }

 private:
  std::multimap<uint64_t, absl::string_view> at_;
  uint64_t total_ = 0;
};

absl::Status CheckCopies(const trace::Ioctl& io, const std::vector<trace::UserBytes>& copies,
                         const char* dir) {
  for (const trace::UserBytes& u : copies) {
    if (u.address + u.data.size() < u.address || u.address + u.data.size() > kUserTop) {
      return Damaged(io, absl::StrCat("a copy ", dir, " at 0x", absl::Hex(u.address), " of ",
                                      u.data.size(), " bytes lies outside user memory"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateIoctl(const trace::Ioctl& io) {
  // _IOC_SIZE is 14 bits: no ioctl moves more argument bytes.
  constexpr size_t kMaxArg = (1u << 14) - 1;
  if (io.arg_in.size() > kMaxArg || io.arg_out.size() > kMaxArg) {
    return Damaged(io,
                   absl::StrCat("an argument of ", std::max(io.arg_in.size(), io.arg_out.size()),
                                " bytes (an ioctl's size field allows ", kMaxArg, ")"));
  }
  if (absl::Status s = CheckCopies(io, io.user_in, "in"); !s.ok()) return s;
  if (absl::Status s = CheckCopies(io, io.user_out, "out"); !s.ok()) return s;
  const uapi::IoctlDesc* desc = uapi::FindIoctl(io.request);
  if (desc == nullptr || io.result != 0) return absl::OkStatus();
  // It succeeded: the kernel read every byte its argument points at.
  const RecordedMemory mem(io.user_in);
  std::vector<uapi::UserRange> ranges;
  const bool whole = uapi::UserRanges(
      *desc, uapi::Nested::Dir::kIn, std::string(io.arg_in), std::string(io.arg_out), io.result,
      [&mem](void* dst, uint64_t a, size_t n) { return mem.Read(dst, a, n); }, &ranges,
      mem.total());
  if (!whole) {
    return Damaged(io, absl::StrCat("its argument points at more memory than the ", mem.total(),
                                    " bytes recorded, yet it succeeded"));
  }
  for (const uapi::UserRange& r : ranges) {
    if (!mem.Read(nullptr, r.address, r.length)) {
      return Damaged(io, absl::StrCat("it succeeded, but the ", r.length, " bytes it read at 0x",
                                      absl::Hex(r.address), " are not in the recording"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateGpuRun(const trace::GpuRun& run) {
  if (run.until_ns >= kMaxVirtualNs) {
    return absl::DataLossError(absl::StrCat("a GPU step to virtual time ", run.until_ns,
                                            " ns, past the ", kMaxVirtualNs, " a trace may reach"));
  }
  for (const trace::UserBytes& w : run.cpu_writes) {
    if (w.address + w.data.size() < w.address) {
      return absl::DataLossError(absl::StrCat("a GPU step's CPU write at 0x", absl::Hex(w.address),
                                              " of ", w.data.size(),
                                              " bytes runs past the mmap offset space"));
    }
  }
  return absl::OkStatus();
}

}  // namespace faultlab::replay
