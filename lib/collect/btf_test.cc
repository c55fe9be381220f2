// The BTF reader on fixtures pahole made from C (testdata/btf/make.sh): a
// base and a split BTF, as /sys/kernel/btf/{vmlinux,panthor} are; the
// offsets it finds are the compiler's; damaged and hostile files are errors
// naming where.
#include "lib/collect/btf.h"

#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "lib/collect/testdata.h"

namespace faultlab::collect {
namespace {

std::string Read(const std::string& name) { return testing::Fixture("btf/" + name); }

// The compiler's offsetof()s, written by make.sh.
std::map<std::string, int64_t> Truth() {
  std::map<std::string, int64_t> m;
  std::istringstream in(Read("panthor-offsets.txt"));
  std::string k;
  int64_t v;
  while (in >> k >> v) m[k] = v;
  return m;
}

TEST(BtfTest, SplitModuleBtfGivesTheCompilersOffsets) {
  auto base = Btf::Parse(Read("vmlinux.btf"), "vmlinux");
  ASSERT_TRUE(base.ok()) << base.status();
  auto panthor = Btf::Parse(Read("panthor.btf"), "panthor", base->get());
  ASSERT_TRUE(panthor.ok()) << panthor.status();
  const std::map<std::string, int64_t> t = Truth();
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(*(*panthor)->MemberOffset("panthor_vm", {"fault", "work"}), t.at("work"));
  EXPECT_EQ(*(*panthor)->MemberOffset("panthor_vm", {"as", "id"}), t.at("as_id"));
  absl::StatusOr<FaultOffsets> o = PanthorFaultOffsets(**panthor);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->status, t.at("status") - t.at("work"));
  EXPECT_EQ(o->addr, t.at("addr") - t.at("work"));
  EXPECT_EQ(o->as_id, t.at("as_id") - t.at("work"));
  EXPECT_LT(o->as_id, 0);
  // A base type's members are read from the base (work_struct.func).
  EXPECT_TRUE((*base)->MemberOffset("work_struct", {"func"}).ok());
}

TEST(BtfTest, AKernelWithoutTheSeriesSaysWhichMemberIsMissing) {
  auto base = Btf::Parse(Read("vmlinux.btf"), "vmlinux");
  ASSERT_TRUE(base.ok());
  absl::StatusOr<FaultOffsets> o = PanthorFaultOffsets(**base);  // no struct panthor_vm there
  EXPECT_EQ(o.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(o.status().message(), "vmlinux: no struct panthor_vm");
  auto panthor = Btf::Parse(Read("panthor.btf"), "panthor", base->get());
  ASSERT_TRUE(panthor.ok());
  EXPECT_EQ((*panthor)->MemberOffset("panthor_vm", {"fault", "nope"}).status().message(),
            "panthor: struct panthor_vm.fault has no member nope");
}

TEST(BtfTest, DamagedAndHostileFilesAreErrorsNamingWhere) {
  EXPECT_EQ(Btf::Parse("abc", "x").status().message(), "x: offset 0: too short for a BTF header");
  std::string b = Read("vmlinux.btf");
  std::string swapped = b;
  std::swap(swapped[0], swapped[1]);
  EXPECT_NE(Btf::Parse(swapped, "x").status().message().find("not BTF"), std::string::npos);
  std::string big = b;
  big[12] = '\xff', big[13] = '\xff', big[14] = '\xff';  // type_len past the file
  EXPECT_NE(Btf::Parse(big, "x").status().message().find("outside the file"), std::string::npos);
  // Every truncation and every flipped byte: an error or a parse, never a crash.
  for (size_t n = 0; n < b.size(); n += 7) (void)Btf::Parse(b.substr(0, n), "t");
  for (size_t i = 0; i < b.size(); ++i) {
    std::string c = b;
    c[i] ^= 0x5a;
    auto r = Btf::Parse(c, "f");
    if (r.ok()) (void)(*r)->MemberOffset("work_struct", {"entry", "next"});
  }
}

TEST(BtfTest, FaultOffsetsFlag) {
  absl::StatusOr<FaultOffsets> o = ParseFaultOffsets("status=32,addr=40,as_id=-88");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->status, 32);
  EXPECT_EQ(o->as_id, -88);
  EXPECT_EQ(FormatFaultOffsets(*o), "status=32,addr=40,as_id=-88");
  EXPECT_FALSE(ParseFaultOffsets("status=32,addr=40").ok());
  EXPECT_FALSE(ParseFaultOffsets("status=x,addr=40,as_id=1").ok());
  EXPECT_FALSE(ParseFaultOffsets("status=99999999,addr=40,as_id=1").ok());
}

}  // namespace
}  // namespace faultlab::collect
