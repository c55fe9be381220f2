// Ingest end to end over loopback gRPC: a real server (in process, port
// picked by the kernel), the upload client, the store behind it. Uploads
// round-trip byte for byte, resume after a partial upload, repeat
// idempotently, run 32 at once, and bad peers get the right status with
// nothing stored past the last ack.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <thread>
#include <vector>

#include "engine/replay/recorder.h"
#include "engine/trace/frame.h"
#include "engine/trace/writer.h"
#include "engine/workload/workload.h"
#include "lib/upload/upload.h"
#include "proto/ingest.grpc.pb.h"
#include "server/ingest/ingest_service.h"
#include "server/store/sqlite_store.h"

namespace faultlab::server {
namespace {

using upload::UploadOptions;
using upload::UploadResult;
using upload::UploadTrace;

std::string TmpDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string t = std::string(base ? base : "/tmp") + "/ingestXXXXXX";
  EXPECT_NE(mkdtemp(t.data()), nullptr);
  return t;
}

// A recorded trace written to a file; returns its bytes.
std::string RecordFile(const std::string& path, uint64_t seed, uint32_t frames = 3) {
  dev::DeviceConfig cfg;
  cfg.profile = *profiles::LoadProfile("g610");
  cfg.seed = seed;
  trace::WriterOptions opts;
  opts.max_events_per_chunk = 64;
  std::string id(16, '\0');
  for (int i = 0; i < 8; ++i) id[i] = static_cast<char>(seed >> (8 * i));
  absl::StatusOr<replay::Recording> r =
      replay::RecordWorkload(cfg, {"game", seed, frames}, "test", id, opts);
  EXPECT_TRUE(r.ok()) << r.status();
  const std::string bytes = r.ok() ? r->bytes : "";
  FILE* f = std::fopen(path.c_str(), "wb");
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
  return bytes;
}

std::string ReadAll(trace::ByteSource& src) {
  std::string out;
  char buf[4096];
  for (;;) {
    absl::StatusOr<size_t> n = src.Read(buf, sizeof(buf));
    if (!n.ok() || *n == 0) return out;
    out.append(buf, *n);
  }
}

class IngestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TmpDir();
    store_ = std::move(*SqliteStore::Open(dir_ + "/data"));
    service_ = std::make_unique<IngestService>(store_.get());
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    b.RegisterService(service_.get());
    server_ = b.BuildAndStart();
    ASSERT_NE(port_, 0);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port_),
                                   grpc::InsecureChannelCredentials());
  }
  void TearDown() override { server_->Shutdown(); }

  std::string Stored(const std::string& id) {
    auto src = store_->OpenTrace(id);
    EXPECT_TRUE(src.ok()) << src.status();
    return src.ok() ? ReadAll(**src) : "";
  }

  std::string dir_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<IngestService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  int port_ = 0;
};

TEST_F(IngestTest, AnUploadIsStoredByteForByteAndARepeatSendsNothing) {
  const std::string path = dir_ + "/a.fltrace";
  const std::string bytes = RecordFile(path, 1);
  uint64_t last_ack = 0;
  UploadOptions opts;
  opts.on_ack = [&](uint64_t n) { last_ack = n; };
  absl::StatusOr<UploadResult> r = UploadTrace(channel_, path, opts);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(r->chunks, 3u);
  EXPECT_EQ(r->acked, r->chunks);
  EXPECT_EQ(last_ack, r->chunks);
  EXPECT_EQ(r->bytes_sent, bytes.size());
  EXPECT_EQ(Stored(r->trace_id), bytes);
  EXPECT_TRUE(store_->GetTrace(r->trace_id)->complete);
  r = UploadTrace(channel_, path, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->acked, 0u);
  EXPECT_EQ(r->already, r->chunks);
}

TEST_F(IngestTest, APartialUploadResumesWhereTheServerStopped) {
  const std::string path = dir_ + "/b.fltrace";
  const std::string bytes = RecordFile(path, 2);
  // What an agent that died mid-upload left: the head and the first chunks.
  const std::string part = dir_ + "/part.fltrace";
  absl::StatusOr<trace::TraceFrames> split = trace::SplitFrames(bytes);
  ASSERT_TRUE(split.ok()) << split.status();
  const std::string head_and_three =
      split->head + split->chunks[0] + split->chunks[1] + split->chunks[2];
  FILE* f = std::fopen(part.c_str(), "wb");
  std::fwrite(head_and_three.data(), 1, head_and_three.size(), f);
  std::fclose(f);
  absl::StatusOr<UploadResult> r = UploadTrace(channel_, part, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->acked, 3u);
  EXPECT_FALSE(store_->GetTrace(r->trace_id)->complete);
  r = UploadTrace(channel_, path, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->already, 3u);
  EXPECT_EQ(r->acked, r->chunks - 3);
  EXPECT_EQ(Stored(r->trace_id), bytes);
}

TEST_F(IngestTest, ThirtyTwoConcurrentUploadsAllLand) {
  std::vector<std::string> paths, sources;
  for (int i = 0; i < 32; ++i) {
    paths.push_back(dir_ + "/c" + std::to_string(i) + ".fltrace");
    sources.push_back(RecordFile(paths.back(), 100 + i, 2));
  }
  std::vector<absl::StatusOr<UploadResult>> results(32, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < 32; ++i) {
    threads.emplace_back([&, i] { results[i] = UploadTrace(channel_, paths[i], {}); });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < 32; ++i) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status();
    EXPECT_EQ(Stored(results[i]->trace_id), sources[i]) << i;
  }
  EXPECT_EQ(store_->ListTraces()->size(), 32u);
  EXPECT_EQ(service_->active_streams(), 0u);
}

TEST_F(IngestTest, BadPeersGetTheRightStatusAndStoreNothingPastTheLastAck) {
  const std::string path = dir_ + "/d.fltrace";
  const std::string bytes = RecordFile(path, 3);
  auto stub = api::Ingest::NewStub(channel_);
  {  // Garbage instead of a head.
    grpc::ClientContext ctx;
    auto s = stub->Upload(&ctx);
    api::UploadRequest req;
    req.set_head("not a trace");
    s->Write(req);
    s->WritesDone();
    EXPECT_EQ(s->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  {  // A chunk first.
    grpc::ClientContext ctx;
    auto s = stub->Upload(&ctx);
    api::UploadRequest req;
    req.mutable_chunk()->set_index(0);
    s->Write(req);
    s->WritesDone();
    EXPECT_EQ(s->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  // A damaged chunk after two good ones: two acks, then INVALID_ARGUMENT.
  absl::StatusOr<trace::TraceFrames> split = trace::SplitFrames(bytes);
  ASSERT_TRUE(split.ok()) << split.status();
  const std::string& head = split->head;
  const std::vector<std::string>& frames = split->chunks;
  grpc::ClientContext ctx;
  auto s = stub->Upload(&ctx);
  api::UploadRequest req;
  req.set_head(head);
  ASSERT_TRUE(s->Write(req));
  api::UploadResponse resp;
  ASSERT_TRUE(s->Read(&resp));
  const std::string id = resp.resume().trace_id();
  for (int i = 0; i < 3; ++i) {
    req.Clear();
    req.mutable_chunk()->set_index(i);
    std::string frame = frames[i];
    if (i == 2) frame[frame.size() - 1] ^= 1;
    req.mutable_chunk()->set_frame(frame);
    s->Write(req);
  }
  s->WritesDone();
  int acks = 0;
  while (s->Read(&resp)) ++acks;
  const grpc::Status st = s->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  EXPECT_NE(st.error_message().find("checksum"), std::string::npos) << st.error_message();
  EXPECT_EQ(acks, 2);
  EXPECT_EQ(store_->GetTrace(id)->chunks, 2u);
  // A client that vanishes mid-stream: the server notices, nothing half-done.
  {
    grpc::ClientContext c2;
    auto s2 = stub->Upload(&c2);
    req.Clear();
    req.set_head(head);
    s2->Write(req);
    s2->Read(&resp);
    c2.TryCancel();
  }
  // The upload then completes from the resume point.
  absl::StatusOr<UploadResult> r = UploadTrace(channel_, path, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->already, 2u);
  EXPECT_EQ(Stored(id), bytes);
}

TEST_F(IngestTest, AFullDiskTellsTheClientSoWithoutTheServersPaths) {
  const std::string path = dir_ + "/full.fltrace";
  RecordFile(path, 31);
  setenv("FAULTLAB_FAILPOINT", "after_blob_write:enospc", 1);
  absl::StatusOr<UploadResult> r = UploadTrace(channel_, path, {});
  unsetenv("FAULTLAB_FAILPOINT");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_NE(r.status().message().find("the server's disk is full"), std::string::npos)
      << r.status();
  EXPECT_EQ(r.status().message().find("/data/blobs/"), std::string::npos) << r.status();
  EXPECT_TRUE(UploadTrace(channel_, path, {}).ok()) << "room again: the retry goes through";
}

TEST_F(IngestTest, FileProblemsNameTheFile) {
  absl::StatusOr<UploadResult> r = UploadTrace(channel_, dir_ + "/missing.fltrace", {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  const std::string junk = dir_ + "/junk.fltrace";
  FILE* f = std::fopen(junk.c_str(), "wb");
  std::fputs("hello, not a trace at all", f);
  std::fclose(f);
  r = UploadTrace(channel_, junk, {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("junk.fltrace: offset 0"), std::string::npos);
}

// A server with limits and metrics: a third stream from one agent is
// refused while two are open (and taken once one ends), an oversized chunk
// and an oversized message are refused, a client that stalls holds nobody
// else up; every refusal counts under its reason.
TEST(IngestLimitsTest, LimitsRefuseAndCountAndAStalledClientBlocksNobody) {
  const std::string dir = TmpDir();
  auto store = std::move(*SqliteStore::Open(dir + "/data"));
  ServerMetrics metrics;
  IngestLimits limits;
  limits.streams_per_agent = 2;
  limits.chunk_bytes = 3000;
  IngestService service(store.get(), &metrics, {}, nullptr, limits);
  grpc::ServerBuilder b;
  int port = 0;
  b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  b.SetMaxReceiveMessageSize(64 << 10);
  b.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = b.BuildAndStart();
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  auto stub = api::Ingest::NewStub(channel);
  const std::string bytes = RecordFile(dir + "/a.fltrace", 11);
  absl::StatusOr<trace::TraceFrames> split = trace::SplitFrames(bytes);
  ASSERT_TRUE(split.ok());

  // Two stalled streams: each sent its head and then nothing.
  grpc::ClientContext c1, c2;
  auto s1 = stub->Upload(&c1);
  auto s2 = stub->Upload(&c2);
  api::UploadRequest head;
  head.set_head(split->head);
  api::UploadResponse resp;
  ASSERT_TRUE(s1->Write(head) && s1->Read(&resp));
  ASSERT_TRUE(s2->Write(head) && s2->Read(&resp));
  // The third from the same address is refused, naming the limit.
  absl::StatusOr<UploadResult> r = UploadTrace(channel, dir + "/a.fltrace", {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_NE(r.status().message().find("limit 2"), std::string::npos) << r.status();
  // One stalled stream ends: the upload goes through while the other stalls.
  c1.TryCancel();
  s1->Finish();
  for (int i = 0; i < 100 && service.active_streams() > 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  r = UploadTrace(channel, dir + "/a.fltrace", {});
  ASSERT_TRUE(r.ok()) << r.status();
  c2.TryCancel();
  s2->Finish();

  // A chunk over --max-chunk-bytes, and a message over --max-message-bytes.
  for (size_t size : {size_t{4000}, size_t{100000}}) {
    grpc::ClientContext ctx;
    auto s = stub->Upload(&ctx);
    absl::StatusOr<trace::TraceFrames> other =
        trace::SplitFrames(RecordFile(dir + "/b.fltrace", 12 + size));
    ASSERT_TRUE(other.ok());
    head.set_head(other->head);
    ASSERT_TRUE(s->Write(head));
    ASSERT_TRUE(s->Read(&resp));
    api::UploadRequest req;
    req.mutable_chunk()->set_index(0);
    req.mutable_chunk()->set_frame(std::string(size, 'x'));
    s->Write(req);
    s->WritesDone();
    while (s->Read(&resp)) {
    }
    const grpc::Status st = s->Finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << size << ": " << st.error_message();
  }
  for (int i = 0; i < 100 && service.active_streams() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const std::string text = metrics.Scrape();
  for (const char* reason : {"too_many_streams", "chunk_too_large", "cancelled"}) {
    EXPECT_NE(text.find(std::string("faultlab_ingest_rejections_total{reason=\"") + reason + "\"}"),
              std::string::npos)
        << reason << "\n"
        << text;
  }
  server->Shutdown();
}

TEST(IngestLimitsTest, AnAgentPastItsHourlyQuotaIsRefusedAndResumesLater) {
  const std::string dir = TmpDir();
  auto store = std::move(*SqliteStore::Open(dir + "/data"));
  ServerMetrics metrics;
  const std::string bytes = RecordFile(dir + "/a.fltrace", 21);
  absl::StatusOr<trace::TraceFrames> split = trace::SplitFrames(bytes);
  ASSERT_TRUE(split.ok());
  ASSERT_GT(split->chunks.size(), 2u);
  IngestLimits limits;
  limits.bytes_per_hour = split->chunks[0].size() + split->chunks[1].size();  // two chunks' worth
  IngestService service(store.get(), &metrics, {}, nullptr, limits);
  grpc::ServerBuilder b;
  int port = 0;
  b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  b.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = b.BuildAndStart();
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  absl::StatusOr<UploadResult> r = UploadTrace(channel, dir + "/a.fltrace", {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_NE(r.status().message().find("upload quota"), std::string::npos) << r.status();
  absl::StatusOr<std::vector<TraceRecord>> t = store->ListTraces();
  ASSERT_TRUE(t.ok() && t->size() == 1);
  EXPECT_EQ((*t)[0].chunks, 2u) << "what the quota allowed is stored; the rest waits";
  EXPECT_NE(metrics.Scrape().find("faultlab_ingest_rejections_total{reason=\"quota\"} 1"),
            std::string::npos);
  server->Shutdown();
}

}  // namespace
}  // namespace faultlab::server
