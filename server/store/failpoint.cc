#include "server/store/failpoint.h"

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_split.h"

namespace faultlab::server {

FailAction Failpoint(const char* name) {
  const char* env = std::getenv("FAULTLAB_FAILPOINT");
  if (env == nullptr || *env == '\0') return FailAction::kNone;
  for (absl::string_view item : absl::StrSplit(env, ',')) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(item, ':');
    if (kv.first != name) continue;
    if (kv.second == "enospc") return FailAction::kEnospc;
    if (kv.second == "fire") return FailAction::kFire;
    _exit(137);  // as if killed: nothing flushed, nothing destroyed
  }
  return FailAction::kNone;
}

const std::vector<std::string>& StoreFailpoints() {
  static const std::vector<std::string> kAll = {
      "before_blob_write", "after_blob_write", "after_blob_fsync", "before_commit", "after_commit",
  };
  return kAll;
}

}  // namespace faultlab::server
