#include "lib/args/args.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace faultlab::args {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::Status ParseAll(Args& a, std::vector<const char*> argv) {
  return a.Parse(static_cast<int>(argv.size()), argv.data());
}

Args MakeArgs() {
  Args a;
  a.Declare("limit", true);
  a.Declare("what-if", true);
  a.Declare("skip-damaged", false);
  a.Declare("output", true, 'o');
  return a;
}

TEST(ArgsTest, FlagsAnywhereAfterTheVerb) {
  Args a = MakeArgs();
  ASSERT_TRUE(ParseAll(a, {"trace.fl", "--limit", "5", "--skip-damaged", "-o", "x"}).ok());
  EXPECT_THAT(a.positional(), ElementsAre("trace.fl"));
  Args b = MakeArgs();
  ASSERT_TRUE(ParseAll(b, {"--limit=5", "trace.fl", "--output=x"}).ok());
  EXPECT_THAT(b.positional(), ElementsAre("trace.fl"));
  EXPECT_EQ(b.Get("output"), "x");
  uint64_t limit = 0;
  ASSERT_TRUE(b.GetUint("limit", &limit).ok());
  EXPECT_EQ(limit, 5u);
}

TEST(ArgsTest, RepeatedValuesAndDoubleDash) {
  Args a = MakeArgs();
  ASSERT_TRUE(
      ParseAll(a, {"--what-if", "policy=nowait", "--what-if=budget=64M", "--", "--limit"}).ok());
  EXPECT_THAT(a.GetAll("what-if"), ElementsAre("policy=nowait", "budget=64M"));
  EXPECT_THAT(a.positional(), ElementsAre("--limit"));
}

TEST(ArgsTest, ErrorsNameTheOption) {
  Args a = MakeArgs();
  EXPECT_THAT(std::string(ParseAll(a, {"--limt", "5"}).message()),
              HasSubstr("unknown option '--limt'"));
  Args b = MakeArgs();
  EXPECT_THAT(std::string(ParseAll(b, {"--limit"}).message()),
              HasSubstr("'--limit' needs a value"));
  Args c = MakeArgs();
  EXPECT_THAT(std::string(ParseAll(c, {"--skip-damaged=1"}).message()),
              HasSubstr("takes no value"));
  Args d = MakeArgs();
  ASSERT_TRUE(ParseAll(d, {"--limit", "lots"}).ok());
  uint64_t v = 0;
  EXPECT_THAT(std::string(d.GetUint("limit", &v).message()),
              HasSubstr("'lots' is not a non-negative integer"));
  Args e = MakeArgs();
  EXPECT_THAT(std::string(ParseAll(e, {"-x"}).message()), HasSubstr("unknown option '-x'"));
}

}  // namespace
}  // namespace faultlab::args
