// The HTTP side under slow and silent peers: /healthz and /metrics keep
// answering while connections that never send, or send a byte a second,
// sit open; the server cuts those within its request timeout. And only one
// plain HOST:PORT is an address.
#include "lib/http/http.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace faultlab::http {
namespace {

int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  return fd;
}

// GET `path`; the status line, or "" if none came within `seconds`.
std::string Get(int port, const std::string& path, int seconds = 2) {
  const int fd = Connect(port);
  timeval tv{seconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  EXPECT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  char buf[256];
  const ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  if (n <= 0) return "";
  const std::string got(buf, static_cast<size_t>(n));
  return got.substr(0, got.find("\r\n"));
}

// True if the server closes `fd` within `seconds` (perhaps saying why first).
bool ClosedWithin(int fd, int seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  timeval tv{0, 100 * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[512];
  while (std::chrono::steady_clock::now() < deadline) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return true;
  }
  return false;
}

TEST(HttpTest, SilentAndTricklingPeersStarveNothingAndAreCut) {
  auto s = Server::Start(
      "127.0.0.1:0", [] { return std::string("up 1\n"); }, [] { return std::string(); });
  ASSERT_TRUE(s.ok()) << s.status();
  const int port = (*s)->port();
  std::vector<int> silent;
  for (int i = 0; i < Server::kThreads - 2; ++i) silent.push_back(Connect(port));
  const int trickle = Connect(port);
  std::thread dripper([trickle] {
    const std::string req = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
    for (char c : req) {
      if (send(trickle, &c, 1, MSG_NOSIGNAL) != 1) return;  // cut: good
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  });
  EXPECT_EQ(Get(port, "/healthz"), "HTTP/1.1 200 OK");
  EXPECT_EQ(Get(port, "/metrics"), "HTTP/1.1 200 OK");
  // Each is cut once the request timeout has passed since it connected.
  const int limit_s = Server::kRequestTimeoutMs / 1000 + 3;
  for (int fd : silent) {
    EXPECT_TRUE(ClosedWithin(fd, limit_s));
    close(fd);
  }
  EXPECT_TRUE(ClosedWithin(trickle, limit_s)) << "a byte every 500 ms does not keep a thread";
  dripper.join();
  close(trickle);
  EXPECT_EQ(Get(port, "/healthz"), "HTTP/1.1 200 OK");
}

TEST(HttpTest, AnAddressIsOneHostAndPort) {
  for (const char* ok : {"127.0.0.1:0", "0.0.0.0:7401", "localhost:80", "[::1]:7401"}) {
    EXPECT_TRUE(IsHostPort(ok)) << ok;
  }
  for (const char* bad : {"127.0.0.1:7401,0.0.0.0:7402", "127.0.0.1:443s", "127.0.0.1:+80", "7401",
                          "127.0.0.1:", "example.com:80", "127.0.0.1:123456", "[::1]x:80"}) {
    EXPECT_FALSE(IsHostPort(bad)) << bad;
  }
  EXPECT_EQ(Server::Start("127.0.0.1:0,0.0.0.0:0", nullptr, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace faultlab::http
