#include "engine/base/status.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace faultlab {
namespace {

TEST(ErrnoStatus, CodesByMeaning) {
  EXPECT_EQ(ErrnoCode(ENOENT), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrnoCode(EACCES), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoCode(ENOSPC), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoCode(EDQUOT), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoCode(EINVAL), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrnoCode(EEXIST), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ErrnoCode(EINTR), absl::StatusCode::kUnavailable);
  // absl leaves EIO UNKNOWN: a failed write, retried later.
  EXPECT_EQ(ErrnoCode(EIO), absl::StatusCode::kUnavailable);
}

TEST(ErrnoStatus, NamesWhereAndWhat) {
  EXPECT_EQ(ErrnoStatus(ENOENT, "a/b.fltrace", "cannot open").message(),
            "a/b.fltrace: cannot open: No such file or directory");
  EXPECT_EQ(ErrnoStatus(ENOSPC, "blobs/x").message(), "blobs/x: No space left on device");
}

}  // namespace
}  // namespace faultlab
