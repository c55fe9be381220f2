#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/trace/crc32c.h"
#include "engine/trace/frame.h"
#include "engine/trace/io.h"
#include "engine/trace/reader.h"
#include "engine/trace/synthetic.h"
#include "engine/trace/test_util.h"
#include "engine/trace/varint.h"
#include "engine/trace/writer.h"

namespace faultlab::trace {
namespace {

using ::testing::HasSubstr;
using testing::MakeEvents;
using testing::ReadTrace;
using ::testing::StartsWith;
using testing::WriteTrace;

MATCHER_P2(StatusIs, code, substring, "") {
  return arg.code() == code && std::string(arg.message()).find(substring) != std::string::npos;
}

// A source that hands out at most `step` bytes per Read, to exercise buffering.
class TrickleSource : public ByteSource {
 public:
  TrickleSource(absl::string_view data, size_t step) : data_(data), step_(step) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    const size_t take = std::min({n, step_, data_.size() - pos_});
    std::memcpy(buf, data_.data() + pos_, take);
    pos_ += take;
    return take;
  }

 private:
  absl::string_view data_;
  size_t step_;
  size_t pos_ = 0;
};

TEST(TraceTest, RoundTripsHeaderAndEvents) {
  for (Codec codec : {CODEC_NONE, CODEC_ZSTD}) {
    EventArena arena;
    std::vector<Event> events = MakeEvents(Mix::kAllKinds, 11, 5000, arena);
    WriterOptions opts;
    opts.codec = codec;
    opts.max_events_per_chunk = 700;
    const TraceHeader header = SyntheticHeader(Mix::kAllKinds, 11);
    const std::string bytes = WriteTrace(header, events, opts);
    testing::ReadResult r = ReadTrace(bytes, arena);
    ASSERT_TRUE(r.status.ok()) << r.status;
    EXPECT_TRUE(r.complete);
    EXPECT_EQ(r.header.SerializeAsString(), header.SerializeAsString());
    ASSERT_EQ(r.events.size(), events.size());
    for (size_t i = 0; i < events.size(); ++i) ASSERT_EQ(r.events[i], events[i]) << i;
    EXPECT_EQ(r.stats.chunks, 8u);  // 7 full chunks of 700 + the final one
    EXPECT_EQ(r.stats.bytes, bytes.size());
    EXPECT_EQ(r.stats.compressed_chunks, codec == CODEC_ZSTD ? 8u : 0u);
  }
}

TEST(TraceTest, WritingIsByteStable) {
  EventArena arena;
  std::vector<Event> events = MakeEvents(Mix::kFaultHeavy, 2, 3000, arena);
  const TraceHeader header = SyntheticHeader(Mix::kFaultHeavy, 2);
  EXPECT_EQ(WriteTrace(header, events), WriteTrace(header, events));
}

TEST(TraceTest, EmptyTraceIsCompleteWithNoEvents) {
  EventArena arena;
  const std::string bytes = WriteTrace(SyntheticHeader(Mix::kAllKinds, 1), {});
  testing::ReadResult r = ReadTrace(bytes, arena);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_TRUE(r.complete);
  EXPECT_TRUE(r.events.empty());
}

TEST(TraceTest, ReadsThroughTinyReads) {
  EventArena arena;
  std::vector<Event> events = MakeEvents(Mix::kIoctlHeavy, 4, 3000, arena);
  WriterOptions opts;
  opts.max_events_per_chunk = 256;
  const std::string bytes = WriteTrace(SyntheticHeader(Mix::kIoctlHeavy, 4), events, opts);
  for (size_t step : {1, 3, 16, 17, 4096}) {
    TrickleSource src(bytes, step);
    TraceReader reader(&src, "trickle");
    ASSERT_TRUE(reader.Open().ok());
    Event e;
    size_t n = 0;
    while (reader.Next(&e)) ASSERT_EQ(e, events[n++]) << "step " << step;
    EXPECT_TRUE(reader.status().ok()) << reader.status();
    EXPECT_EQ(n, events.size());
  }
}

TEST(TraceTest, MemoryIsBoundedByChunkNotTraceSize) {
  // 2 M events (~20 MB of trace) through a reader whose buffers stay at the
  // size of one chunk plus read-ahead.
  std::string bytes;
  StringSink sink(&bytes);
  TraceWriter writer(&sink, SyntheticHeader(Mix::kAccessHeavy, 8));
  SyntheticGenerator gen(Mix::kAccessHeavy, 8);
  Event e;
  for (int i = 0; i < 2'000'000; ++i) {
    gen.Next(&e);
    ASSERT_TRUE(writer.Append(e).ok());
  }
  ASSERT_TRUE(writer.Finish().ok());
  MemorySource src(bytes);
  TraceReader reader(&src, "big");
  ASSERT_TRUE(reader.Open().ok());
  uint64_t n = 0;
  size_t peak = 0;
  while (reader.Next(&e)) {
    ++n;
    peak = std::max(peak, reader.buffer_capacity());
  }
  ASSERT_TRUE(reader.status().ok()) << reader.status();
  EXPECT_EQ(n, 2'000'000u);
  EXPECT_GT(bytes.size(), 4u << 20);
  EXPECT_LT(peak, 2u << 20) << "reader buffers grew with the trace";
}

TEST(TraceTest, FileSinkAndSourceRoundTrip) {
  EventArena arena;
  std::vector<Event> events = MakeEvents(Mix::kFaultHeavy, 6, 1000, arena);
  const std::string dir = std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp";
  const std::string path = dir + "/roundtrip.fltrace";
  {
    auto sink = FileSink::Open(path);
    ASSERT_TRUE(sink.ok()) << sink.status();
    TraceWriter writer(sink->get(), SyntheticHeader(Mix::kFaultHeavy, 6));
    for (const Event& e : events) ASSERT_TRUE(writer.Append(e).ok());
    ASSERT_TRUE(writer.Finish().ok());
    ASSERT_TRUE((*sink)->Sync().ok());
    ASSERT_TRUE((*sink)->Close().ok());
  }
  auto src = FileSource::Open(path);
  ASSERT_TRUE(src.ok()) << src.status();
  TraceReader reader(src->get(), path);
  ASSERT_TRUE(reader.Open().ok());
  Event e;
  size_t n = 0;
  while (reader.Next(&e)) ASSERT_EQ(e, events[n++]);
  EXPECT_TRUE(reader.status().ok());
  EXPECT_EQ(n, events.size());
  std::remove(path.c_str());

  EXPECT_THAT(FileSource::Open(dir + "/does-not-exist").status(),
              StatusIs(absl::StatusCode::kNotFound, "does-not-exist: cannot open"));
  EXPECT_THAT(FileSource::Open(dir).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "is a directory"));
  EXPECT_THAT(FileSink::Open(dir + "/no/such/dir/x").status(),
              StatusIs(absl::StatusCode::kNotFound, "cannot create"));
}

TEST(TraceTest, AMappedFileReadsAsTheFilesFirstBytes) {
  EventArena arena;
  std::vector<Event> events = MakeEvents(Mix::kFaultHeavy, 7, 1000, arena);
  std::string bytes;
  StringSink sink(&bytes);
  TraceWriter writer(&sink, SyntheticHeader(Mix::kFaultHeavy, 7));
  for (const Event& e : events) ASSERT_TRUE(writer.Append(e).ok());
  ASSERT_TRUE(writer.Finish().ok());
  const std::string dir = std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp";
  const std::string path = dir + "/mapped.fltrace";
  {
    auto out = FileSink::Open(path);
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_TRUE((*out)->Write(bytes + "trailing bytes past the limit").ok());
    ASSERT_TRUE((*out)->Close().ok());
  }
  auto mapped = MappedFile::Map(path, bytes.size());
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  EXPECT_EQ((*mapped)->bytes(), bytes);
  // Two readers over the one mapping, as a replay's inputs and checks are.
  MemorySource a((*mapped)->bytes()), b((*mapped)->bytes());
  TraceReader ra(&a, path), rb(&b, path);
  ASSERT_TRUE(ra.Open().ok());
  ASSERT_TRUE(rb.Open().ok());
  Event ea, eb;
  size_t n = 0;
  while (ra.Next(&ea)) {
    ASSERT_TRUE(rb.Next(&eb));
    ASSERT_EQ(ea, events[n]);
    ASSERT_EQ(eb, events[n++]);
  }
  EXPECT_TRUE(ra.status().ok()) << ra.status();
  EXPECT_EQ(n, events.size());

  // A limit past the end maps what there is; a limit of 0 maps nothing.
  auto whole = MappedFile::Map(path, uint64_t{1} << 40);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ((*whole)->bytes().size(), bytes.size() + 29);
  auto none = MappedFile::Map(path, 0);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE((*none)->bytes().empty());
  std::remove(path.c_str());
  EXPECT_EQ((*mapped)->bytes(), bytes) << "the mapping outlives the file's name";

  EXPECT_THAT(MappedFile::Map(dir + "/does-not-exist", 1).status(),
              StatusIs(absl::StatusCode::kNotFound, "does-not-exist: cannot open"));
  EXPECT_THAT(MappedFile::Map(dir, 1).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "not a regular file"));
}

TEST(TraceTest, FullDiskIsAnErrorNamingTheFile) {
  if (access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no /dev/full";
  auto sink = FileSink::Open("/dev/full");
  ASSERT_TRUE(sink.ok());
  TraceWriter writer(sink->get(), SyntheticHeader(Mix::kAllKinds, 1));
  Event e;
  e.kind = EVENT_MARKER;
  EXPECT_THAT(writer.Append(e),
              StatusIs(absl::StatusCode::kResourceExhausted, "/dev/full: write failed"));
  // The error is sticky: nothing more is attempted.
  EXPECT_FALSE(writer.Finish().ok());
}

TEST(TraceTest, BadPreambles) {
  EventArena arena;
  const std::string good = WriteTrace(SyntheticHeader(Mix::kAllKinds, 1), {});
  EXPECT_THAT(ReadTrace("", arena).status,
              StatusIs(absl::StatusCode::kDataLoss, "mem: offset 0: empty file"));
  EXPECT_THAT(ReadTrace(good.substr(0, 5), arena).status,
              StatusIs(absl::StatusCode::kDataLoss, "mem: offset 0: truncated preamble (5 of 16"));
  std::string bad = good;
  bad[1] = 'X';
  EXPECT_THAT(ReadTrace(bad, arena).status,
              StatusIs(absl::StatusCode::kDataLoss, "mem: offset 0: not a faultlab trace"));
  bad = good;
  bad[8] = 2;
  EXPECT_THAT(ReadTrace(bad, arena).status,
              StatusIs(absl::StatusCode::kDataLoss,
                       "mem: offset 8: unsupported format version 2 (this build reads version 1)"));
  bad = good;
  bad[12] = 1;
  EXPECT_THAT(ReadTrace(bad, arena).status,
              StatusIs(absl::StatusCode::kDataLoss, "offset 12: unsupported preamble flags 0x1"));
  EXPECT_THAT(ReadTrace(good.substr(0, 16), arena).status,
              StatusIs(absl::StatusCode::kDataLoss, "offset 16: truncated: no header frame"));
  EXPECT_THAT(ReadTrace(good.substr(0, 40), arena).status,
              StatusIs(absl::StatusCode::kDataLoss, "offset 16: truncated header frame"));
}

TEST(TraceTest, TruncationAtAFrameBoundaryIsStillReported) {
  EventArena arena;
  std::vector<Event> events = MakeEvents(Mix::kFaultHeavy, 3, 1000, arena);
  WriterOptions opts;
  opts.max_events_per_chunk = 100;
  std::string bytes;
  StringSink sink(&bytes);
  TraceWriter writer(&sink, SyntheticHeader(Mix::kFaultHeavy, 3), opts);
  for (const Event& e : events) ASSERT_TRUE(writer.Append(e).ok());
  // Not finished: 10 chunks written, no final chunk.
  testing::ReadResult r = ReadTrace(bytes, arena);
  EXPECT_THAT(r.status, StatusIs(absl::StatusCode::kDataLoss,
                                 "truncated trace: no final chunk after 10 chunks (1000 events)"));
  EXPECT_EQ(r.events.size(), 1000u) << "events before the cut are still delivered";
  EXPECT_FALSE(r.complete);

  ReaderOptions live;
  live.allow_incomplete = true;
  r = ReadTrace(bytes, arena, live);
  EXPECT_TRUE(r.status.ok()) << r.status;
  EXPECT_FALSE(r.complete);
}

TEST(TraceTest, OversizedFrameIsRejectedBeforeAllocation) {
  EventArena arena;
  std::string bytes;
  AppendPreamble(bytes);
  AppendFrame(bytes, kFrameHeader, SyntheticHeader(Mix::kAllKinds, 1).SerializeAsString());
  const size_t at = bytes.size();
  // A chunk frame header that claims 1 GiB, with a valid header checksum.
  std::string forged;
  PutFixed32(forged, kFrameChunk);
  PutFixed32(forged, 1u << 30);
  PutFixed32(forged, 0);
  PutFixed32(forged, Crc32c(forged));
  bytes += forged;
  testing::ReadResult r = ReadTrace(bytes, arena);
  EXPECT_THAT(r.status,
              StatusIs(absl::StatusCode::kDataLoss,
                       absl::StrCat("mem: offset ", at, ": oversized frame: 1073741824 bytes")));
}

TEST(TraceTest, TrailingDataAfterFinalChunk) {
  EventArena arena;
  std::vector<Event> events = MakeEvents(Mix::kAllKinds, 1, 10, arena);
  std::string bytes = WriteTrace(SyntheticHeader(Mix::kAllKinds, 1), events);
  const size_t end = bytes.size();
  bytes += "garbage";
  testing::ReadResult r = ReadTrace(bytes, arena);
  EXPECT_THAT(r.status,
              StatusIs(absl::StatusCode::kDataLoss,
                       absl::StrCat("offset ", end, ": trailing data after the final chunk")));
  EXPECT_EQ(r.events.size(), 10u);
}

TEST(TraceTest, ChunkFromAnotherTraceIsRejected) {
  EventArena arena;
  std::vector<Event> events = MakeEvents(Mix::kAllKinds, 1, 10, arena);
  const std::string a = WriteTrace(SyntheticHeader(Mix::kAllKinds, 1), events);
  const std::string b = WriteTrace(SyntheticHeader(Mix::kAllKinds, 2), events);
  // The header of `a`, then the chunks of `b`.
  FrameHeader fh;
  ASSERT_TRUE(ParseFrameHeader(a.data() + 16, &fh));
  const size_t a_chunks = 16 + kFrameHeaderSize + fh.payload_size;
  ASSERT_TRUE(ParseFrameHeader(b.data() + 16, &fh));
  const size_t b_chunks = 16 + kFrameHeaderSize + fh.payload_size;
  const std::string spliced = a.substr(0, a_chunks) + b.substr(b_chunks);
  testing::ReadResult r = ReadTrace(spliced, arena);
  EXPECT_THAT(r.status, StatusIs(absl::StatusCode::kDataLoss, "chunk 0 belongs to another trace"));
}

TEST(TraceTest, SkipDamagedSkipsACorruptChunkAndCountsIt) {
  EventArena arena;
  std::vector<Event> events = MakeEvents(Mix::kFaultHeavy, 21, 1000, arena);
  WriterOptions opts;
  opts.max_events_per_chunk = 100;
  std::string bytes = WriteTrace(SyntheticHeader(Mix::kFaultHeavy, 21), events, opts);
  // Find chunk 3's frame and flip a payload byte.
  size_t at = 16;
  FrameHeader fh;
  ASSERT_TRUE(ParseFrameHeader(bytes.data() + at, &fh));
  at += kFrameHeaderSize + fh.payload_size;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(ParseFrameHeader(bytes.data() + at, &fh));
    at += kFrameHeaderSize + fh.payload_size;
  }
  bytes[at + kFrameHeaderSize + 20] ^= 0x40;

  testing::ReadResult strict = ReadTrace(bytes, arena);
  EXPECT_THAT(strict.status,
              StatusIs(absl::StatusCode::kDataLoss,
                       absl::StrCat("mem: offset ", at, ": checksum mismatch in chunk frame")));
  EXPECT_EQ(strict.events.size(), 300u);

  ReaderOptions skip;
  skip.skip_damaged = true;
  testing::ReadResult r = ReadTrace(bytes, arena, skip);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.events.size(), 900u);
  EXPECT_EQ(r.stats.damaged_chunks, 2u);  // the corrupt frame, then the gap it left
  ASSERT_FALSE(r.stats.damage.empty());
  EXPECT_THAT(r.stats.damage[0], HasSubstr("checksum mismatch"));
  for (size_t i = 0; i < 300; ++i) ASSERT_EQ(r.events[i], events[i]);
  for (size_t i = 300; i < 900; ++i) ASSERT_EQ(r.events[i], events[i + 100]);
}

TEST(TraceTest, AChunkWithDamagedColumnsHandsOutNoneOfItsEvents) {
  // Checksums right, columns wrong: a chunk re-framed around a column block
  // one byte short. Not one of its events comes out, with or without
  // skipping (a replay never runs half a damaged chunk).
  EventArena arena;
  std::vector<Event> events = MakeEvents(Mix::kAllKinds, 22, 300, arena);
  WriterOptions opts;
  opts.max_events_per_chunk = 100;
  opts.codec = CODEC_NONE;
  const std::string bytes = WriteTrace(SyntheticHeader(Mix::kAllKinds, 22), events, opts);
  size_t at = 16;
  FrameHeader fh;
  ASSERT_TRUE(ParseFrameHeader(bytes.data() + at, &fh));
  at += kFrameHeaderSize + fh.payload_size;
  ASSERT_TRUE(ParseFrameHeader(bytes.data() + at, &fh));  // chunk 0
  const size_t chunk1 = at + kFrameHeaderSize + fh.payload_size;
  ASSERT_TRUE(ParseFrameHeader(bytes.data() + chunk1, &fh));
  ChunkEnvelope env;
  ASSERT_TRUE(env.ParseFromString(bytes.substr(chunk1 + kFrameHeaderSize, fh.payload_size)));
  env.set_payload(env.payload().substr(0, env.payload().size() - 1));
  env.set_raw_size(env.payload().size());
  std::string damaged = bytes.substr(0, chunk1);
  AppendFrame(damaged, kFrameChunk, env.SerializeAsString());
  damaged += bytes.substr(chunk1 + kFrameHeaderSize + fh.payload_size);

  testing::ReadResult strict = ReadTrace(damaged, arena);
  EXPECT_THAT(strict.status, StatusIs(absl::StatusCode::kDataLoss,
                                      absl::StrCat("mem: offset ", chunk1, ": chunk 1: ")));
  EXPECT_EQ(strict.events.size(), 100u) << "chunk 0's, and none of chunk 1's";
  ReaderOptions skip;
  skip.skip_damaged = true;
  testing::ReadResult r = ReadTrace(damaged, arena, skip);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.events.size(), 200u);
  EXPECT_EQ(r.stats.damaged_chunks, 2u);  // the damaged chunk, then the gap it left
  for (size_t i = 100; i < 200; ++i) ASSERT_EQ(r.events[i], events[i + 100]);
}

}  // namespace
}  // namespace faultlab::trace
