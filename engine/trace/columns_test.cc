#include "engine/trace/columns.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <map>

#include "engine/trace/synthetic.h"
#include "engine/trace/test_util.h"
#include "engine/trace/text.h"
#include "engine/trace/varint.h"

namespace faultlab::trace {
namespace {

using ::testing::HasSubstr;

std::map<uint32_t, std::string> SplitBlock(const std::string& block) {
  std::map<uint32_t, std::string> cols;
  const char* p = block.data();
  const char* end = p + block.size();
  while (p < end) {
    uint64_t id, len;
    p = GetVarint(p, end, &id);
    p = GetVarint(p, end, &len);
    cols[static_cast<uint32_t>(id)] = std::string(p, len);
    p += len;
  }
  return cols;
}

std::string JoinBlock(const std::map<uint32_t, std::string>& cols) {
  std::string block;
  for (const auto& [id, data] : cols) {
    PutVarint(block, id);
    PutVarint(block, data.size());
    block += data;
  }
  return block;
}

uint32_t IdOf(Col c) { return Columns()[static_cast<int>(c)].id; }

std::vector<Event> Decode(const std::string& block, uint32_t n, EventArena& arena,
                          absl::Status* status) {
  ChunkDecoder dec;
  std::vector<Event> out;
  *status = dec.Reset(block, n);
  if (!status->ok()) return out;
  Event e;
  while (dec.Next(&e)) out.push_back(arena.Own(e));
  *status = dec.status();
  return out;
}

TEST(ColumnsTest, IdsAreUniqueAndEncodeTheirParts) {
  std::map<uint32_t, std::string> seen;
  for (const ColumnInfo& c : Columns()) {
    EXPECT_TRUE(seen.emplace(c.id, c.name).second) << c.name << " reuses id " << c.id;
    EXPECT_EQ(c.id >> 16, c.kind) << c.name;
    EXPECT_EQ((c.id >> 8) & 0xff, c.field) << c.name;
  }
}

TEST(ColumnsTest, RoundTripsEveryKind) {
  EventArena arena;
  std::vector<Event> events = testing::MakeEvents(Mix::kAllKinds, 3, 2000, arena);
  ChunkEncoder enc;
  for (const Event& e : events) enc.Append(e);
  const std::string block = enc.Finish();
  absl::Status status;
  std::vector<Event> got = Decode(block, events.size(), arena, &status);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(got.size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) ASSERT_EQ(got[i], events[i]) << "event " << i;
}

TEST(ColumnsTest, RoundTripsExtremeValues) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  EventArena arena;
  std::vector<Event> events;
  Event e;
  e.kind = EVENT_JOB_ACCESS;
  e.virtual_ns = kMax;
  e.access = {kMax, 0xffffffffu, kMax, kMax, kMax, ACCESS_ATOMIC};
  events.push_back(e);
  e.virtual_ns = 0;  // time going backwards is representable
  e.access = {0, 0, 0, 0, 0, ACCESS_TYPE_UNSPECIFIED};
  events.push_back(e);
  Event io;
  io.kind = EVENT_IOCTL;
  io.ioctl.result = std::numeric_limits<int32_t>::min();
  io.ioctl.arg_in = arena.Keep(std::string(256, '\0'));
  io.ioctl.user_out = {{kMax, arena.Keep("x")}, {0, ""}};
  events.push_back(io);
  Event h;
  h.kind = EVENT_STATE_HASH;
  h.state_hash = {HASH_VM, 7, 0x0123456789abcdefULL};
  events.push_back(h);

  ChunkEncoder enc;
  for (const Event& x : events) enc.Append(x);
  absl::Status status;
  std::vector<Event> got = Decode(enc.Finish(), events.size(), arena, &status);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(got.size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(got[i], events[i]) << i;
}

TEST(ColumnsTest, EncoderResetsDeltaStateBetweenChunks) {
  EventArena arena;
  std::vector<Event> events = testing::MakeEvents(Mix::kFaultHeavy, 5, 100, arena);
  ChunkEncoder enc;
  for (const Event& e : events) enc.Append(e);
  const std::string first = enc.Finish();
  for (const Event& e : events) enc.Append(e);
  EXPECT_EQ(enc.Finish(), first);
}

TEST(ColumnsTest, SkipsColumnsAndKindsFromNewerWriters) {
  EventArena arena;
  std::vector<Event> events = testing::MakeEvents(Mix::kFaultHeavy, 9, 50, arena);
  ChunkEncoder enc;
  for (const Event& e : events) enc.Append(e);
  std::map<uint32_t, std::string> cols = SplitBlock(enc.Finish());
  // A field 13 of MmuFault that this build does not know...
  std::string extra;
  for (size_t i = 0; i < events.size(); ++i) PutVarint(extra, 1);
  cols[4 << 16 | 13 << 8] = extra;
  // ...and an event of kind 42 appended at the end, with a column of its own.
  PutVarint(cols[IdOf(Col::Kind)], 42);
  PutVarint(cols[IdOf(Col::Time)], 0);
  cols[42 << 16 | 1 << 8] = "\x05";
  const std::string block = JoinBlock(cols);  // the decoder points into it
  ChunkDecoder dec;
  ASSERT_TRUE(dec.Reset(block, events.size() + 1).ok());
  Event e;
  size_t n = 0;
  while (dec.Next(&e)) {
    ASSERT_LT(n, events.size());
    ASSERT_EQ(FormatEvent(n, e), FormatEvent(n, events[n]));
    ++n;
  }
  EXPECT_TRUE(dec.status().ok()) << dec.status();
  EXPECT_EQ(n, events.size());
  EXPECT_EQ(dec.unknown_kind_events(), 1u);
  EXPECT_EQ(dec.unknown_columns(), 2u);
}

// A board's fault-stream fields are written only in chunks that have them:
// a trace without them keeps its bytes; one with them reads back whole.
TEST(ColumnsTest, SparseFaultStreamColumnsAppearOnlyWhenUsed) {
  EventArena arena;
  std::vector<Event> events = testing::MakeEvents(Mix::kFaultHeavy, 3, 40, arena);
  ChunkEncoder plain;
  for (const Event& e : events) plain.Append(e);
  const std::map<uint32_t, std::string> cols = SplitBlock(plain.Finish());
  EXPECT_EQ(cols.count(IdOf(Col::FaultRaisedNs)), 0u);
  EXPECT_EQ(cols.count(IdOf(Col::FaultWorkNs)), 0u);
  // The last fault alone carries them: the zeros before it are written too.
  size_t last = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].kind == EVENT_MMU_FAULT) last = i;
  }
  ASSERT_GT(last, 0u);
  events[last].fault.raised_ns = 123456789;
  events[last].fault.work_ns = 4321;
  ChunkEncoder enc;
  for (const Event& e : events) enc.Append(e);
  const std::string block = enc.Finish();
  ChunkDecoder dec;
  ASSERT_TRUE(dec.Reset(block, events.size()).ok());
  Event e;
  for (size_t n = 0; dec.Next(&e); ++n) ASSERT_EQ(FormatEvent(n, e), FormatEvent(n, events[n]));
  EXPECT_TRUE(dec.status().ok()) << dec.status();
}

TEST(ColumnsTest, ReportsAColumnThatEndsEarly) {
  EventArena arena;
  std::vector<Event> events = testing::MakeEvents(Mix::kAccessHeavy, 1, 100, arena);
  ChunkEncoder enc;
  for (const Event& e : events) enc.Append(e);
  std::map<uint32_t, std::string> cols = SplitBlock(enc.Finish());
  std::string& va = cols[IdOf(Col::AccessVa)];
  va.resize(va.size() / 2);
  absl::Status status;
  Decode(JoinBlock(cols), events.size(), arena, &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("column AccessVa"));
}

TEST(ColumnsTest, ReportsLeftoverBytes) {
  EventArena arena;
  std::vector<Event> events = testing::MakeEvents(Mix::kAccessHeavy, 1, 10, arena);
  ChunkEncoder enc;
  for (const Event& e : events) enc.Append(e);
  std::map<uint32_t, std::string> cols = SplitBlock(enc.Finish());
  cols[IdOf(Col::AccessVm)] += "\x01";
  absl::Status status;
  Decode(JoinBlock(cols), events.size(), arena, &status);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("column AccessVm (id 131584): has bytes left after the last event"));
}

TEST(ColumnsTest, RejectsADirectoryOutOfOrderOrOverrunning) {
  std::string block;
  PutVarint(block, 2 << 8);
  PutVarint(block, 0);
  PutVarint(block, 1 << 8);
  PutVarint(block, 0);
  ChunkDecoder dec;
  absl::Status s = dec.Reset(block, 0);
  EXPECT_THAT(std::string(s.message()), HasSubstr("out of order"));

  std::string overrun;
  PutVarint(overrun, 1 << 8);
  PutVarint(overrun, 1000);
  s = dec.Reset(overrun, 0);
  EXPECT_THAT(std::string(s.message()), HasSubstr("bad entry at byte 0"));
}

TEST(ColumnsTest, RejectsAHugeRepeatedCountWithoutAllocating) {
  std::map<uint32_t, std::string> cols;
  PutVarint(cols[IdOf(Col::Kind)], EVENT_IOCTL);
  PutVarint(cols[IdOf(Col::Time)], 0);
  for (Col c : {Col::IoctlFile, Col::IoctlRequest, Col::IoctlResult, Col::IoctlArgInLen,
                Col::IoctlArgOutLen}) {
    PutVarint(cols[IdOf(c)], 0);
  }
  PutVarint(cols[IdOf(Col::IoctlUserInCount)], 1ULL << 60);
  absl::Status status;
  EventArena arena;
  Decode(JoinBlock(cols), 1, arena, &status);
  EXPECT_THAT(std::string(status.message()), HasSubstr("count exceeds its columns"));
}

TEST(ColumnsTest, RejectsOutOfRange32BitFields) {
  std::map<uint32_t, std::string> cols;
  PutVarint(cols[IdOf(Col::Kind)], EVENT_JOB_ACCESS);
  PutVarint(cols[IdOf(Col::Time)], 0);
  PutVarint(cols[IdOf(Col::AccessJob)], 0);
  PutVarint(cols[IdOf(Col::AccessVm)], 1ULL << 33);
  absl::Status status;
  EventArena arena;
  Decode(JoinBlock(cols), 1, arena, &status);
  EXPECT_THAT(std::string(status.message()), HasSubstr("AccessVm (id 131584): value out of range"));
}

}  // namespace
}  // namespace faultlab::trace
