#include "lib/rpc/status.h"

#include <gtest/gtest.h>

namespace faultlab::rpc {
namespace {

TEST(RpcStatus, ACodeAndItsMessageCrossUnchanged) {
  for (absl::StatusCode code :
       {absl::StatusCode::kInvalidArgument, absl::StatusCode::kNotFound,
        absl::StatusCode::kAlreadyExists, absl::StatusCode::kFailedPrecondition,
        absl::StatusCode::kResourceExhausted, absl::StatusCode::kUnavailable,
        absl::StatusCode::kDataLoss, absl::StatusCode::kUnauthenticated}) {
    const absl::Status s(code, "trace 00ff: expected chunk 3, got 5");
    const grpc::Status g = ToGrpc(s);
    EXPECT_EQ(static_cast<int>(g.error_code()), static_cast<int>(code));
    const absl::Status back = FromGrpc(g);
    EXPECT_EQ(back.code(), code);
    EXPECT_EQ(back.message(), s.message());
    EXPECT_TRUE(IsRemote(back));
    EXPECT_FALSE(IsRemote(s));
  }
  EXPECT_TRUE(ToGrpc(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpc(grpc::Status::OK, "x").ok());
  EXPECT_EQ(FromGrpc(grpc::Status(grpc::StatusCode::NOT_FOUND, "no trace 00"), "a.fltrace: upload")
                .message(),
            "a.fltrace: upload: no trace 00");
}

}  // namespace
}  // namespace faultlab::rpc
