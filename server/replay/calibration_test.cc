// Which replays take a board's calibrated costs (calibration.h): board
// traces recorded on the calibration's base profile, under what-ifs that
// keep that profile; and the profile id a board name makes.
#include "server/replay/calibration.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "server/store/sqlite_store.h"

namespace faultlab::server {
namespace {

trace::TraceHeader Header(const std::string& board, trace::CaptureSource source,
                          const std::string& profile) {
  trace::TraceHeader h;
  h.set_board(board);
  h.set_capture_source(source);
  h.set_profile(profile);
  return h;
}

class CalibrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = ::testing::TempDir() + "/calXXXXXX";
    ASSERT_NE(mkdtemp(dir.data()), nullptr);
    auto s = SqliteStore::Open(dir);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
    BoardProfileRecord p{
        "rk3588-03", "g610", "rk3588-03-calibrated", "id = rk3588-03-calibrated\n", "fit", 5, 0};
    ASSERT_TRUE(store_->SaveBoardProfile(&p).ok());
  }
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(CalibrationTest, ABoardTraceOnTheBaseProfileTakesTheBoardsCosts) {
  SandboxJob job;
  EXPECT_EQ(UseBoardCosts(BoardCostsFor(store_.get(),
                                        Header("rk3588-03", trace::CAPTURE_SOURCE_BOARD, "g610")),
                          {"budget=64M"}, &job),
            1u);
  EXPECT_EQ(job.costs_profile, "id = rk3588-03-calibrated\n");
  EXPECT_EQ(job.costs_source,
            "rk3588-03-calibrated version 1 (this board's calibration on the server)");
}

TEST_F(CalibrationTest, OtherTracesKeepTheirProfilesCosts) {
  const struct {
    trace::TraceHeader h;
    std::vector<std::string> what_if;
    const char* why;
  } cases[] = {
      {Header("rk3588-03", trace::CAPTURE_SOURCE_TWIN, "g610"), {}, "a twin trace"},
      {Header("rk3588-03", trace::CAPTURE_SOURCE_BOARD, "g310"), {}, "another base profile"},
      {Header("rk3588-04", trace::CAPTURE_SOURCE_BOARD, "g610"), {}, "another board"},
      {Header("rk3588-03", trace::CAPTURE_SOURCE_BOARD, "g610"),
       {"budget=64M", "profile=g610"},
       "a what-if naming a profile"},
  };
  for (const auto& c : cases) {
    SandboxJob job;
    EXPECT_EQ(UseBoardCosts(BoardCostsFor(store_.get(), c.h), c.what_if, &job), 0u) << c.why;
    EXPECT_TRUE(job.costs_profile.empty()) << c.why;
  }
}

TEST(CalibratedProfileIdTest, ABoardNameBecomesAProfileId) {
  EXPECT_EQ(CalibratedProfileId("rk3588-03"), "rk3588-03-calibrated");
  EXPECT_EQ(CalibratedProfileId("rack 3/board\"7"), "rack_3_board_7-calibrated");
  EXPECT_EQ(CalibratedProfileId(""), "board-calibrated");
  EXPECT_EQ(CalibratedProfileId(std::string(100, 'a')).size(), 64 + 11u);
}

}  // namespace
}  // namespace faultlab::server
