// faultlab-server's flags reach its settings, with their documented
// defaults (docs/security.md), and bad values are usage errors naming the
// flag.
#include "server/config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

namespace faultlab::server {
namespace {

absl::StatusOr<ServerConfig> Parse(std::vector<std::string> flags) {
  flags.insert(flags.begin(), {"faultlab-server", "--data-dir", "/tmp/x"});
  std::vector<char*> argv;
  for (std::string& f : flags) argv.push_back(f.data());
  return ParseServerConfig(static_cast<int>(argv.size()), argv.data());
}

TEST(ServerConfig, Defaults) {
  absl::StatusOr<ServerConfig> c = Parse({});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->limits.streams_per_agent, 32u);
  EXPECT_EQ(c->limits.bytes_per_hour, 16ULL << 30);
  EXPECT_EQ(c->max_connections, 4096u);
  EXPECT_EQ(c->sandbox.rss_bytes, 2ULL << 30);
  EXPECT_EQ(c->sandbox.cpu_base_seconds, 60u);
  EXPECT_EQ(c->replay_worker, "");
  EXPECT_EQ(c->matrix_workers, std::max(1u, std::thread::hardware_concurrency()));
}

TEST(ServerConfig, BoundsFlagsReachTheirSettings) {
  absl::StatusOr<ServerConfig> c =
      Parse({"--max-upload-bytes-per-hour", "512M", "--max-connections", "100", "--replay-max-rss",
             "256M", "--replay-cpu-limit", "5", "--replay-worker", "/w", "--matrix-workers", "3"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->limits.bytes_per_hour, 512ULL << 20);
  EXPECT_EQ(c->max_connections, 100u);
  EXPECT_EQ(c->sandbox.rss_bytes, 256ULL << 20);
  EXPECT_EQ(c->sandbox.cpu_base_seconds, 5u);
  EXPECT_EQ(c->replay_worker, "/w");
  EXPECT_EQ(c->matrix_workers, 3u);
  c = Parse({"--max-upload-bytes-per-hour", "0"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->limits.bytes_per_hour, 0u);  // no limit
}

TEST(ServerConfig, BadValuesNameTheirFlag) {
  for (const auto& [flag, value] :
       std::vector<std::pair<std::string, std::string>>{{"max-upload-bytes-per-hour", "lots"},
                                                        {"max-connections", "3"},
                                                        {"max-connections", "x"},
                                                        {"replay-max-rss", "1M"},
                                                        {"replay-max-rss", "2Q"},
                                                        {"replay-cpu-limit", "0"},
                                                        {"replay-cpu-limit", "3601"},
                                                        {"matrix-workers", "0"},
                                                        {"matrix-workers", "65"},
                                                        {"grpc-addr", "127.0.0.1:1,0.0.0.0:2"},
                                                        {"http-addr", "0.0.0.0:7401"}}) {
    absl::StatusOr<ServerConfig> c = Parse({"--" + flag, value});
    ASSERT_FALSE(c.ok()) << flag << " " << value;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(c.status().message()).find("--" + flag), std::string::npos) << c.status();
  }
}

}  // namespace
}  // namespace faultlab::server
