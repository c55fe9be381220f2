#include "lib/rpc/listener.h"

#include <dirent.h>
#include <grpcpp/server_builder.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>

#include "absl/strings/str_cat.h"

namespace faultlab::rpc {
namespace {

absl::Status Unavailable(const std::string& addr, const std::string& what) {
  return absl::UnavailableError(
      absl::StrCat("cannot listen on ", addr, ": ", what, ": ", std::strerror(errno)));
}

// A socket bound to HOST:PORT and listening, or -1 with errno and `what`.
int BindSocket(const std::string& addr, std::string* what) {
  const size_t colon = addr.rfind(':');
  std::string host = colon == std::string::npos ? addr : addr.substr(0, colon);
  const std::string port = colon == std::string::npos ? "" : addr.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";  // (clients try each of localhost's addresses)
  addrinfo hints = {};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* ai = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &ai); rc != 0) {
    *what = gai_strerror(rc);
    errno = EINVAL;
    return -1;
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> free_ai(ai, freeaddrinfo);
  const int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    *what = "socket";
    return -1;
  }
  const int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // "[::]" takes IPv4 too, as gRPC's own listener does.
  if (ai->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
    *what = "bind";
    const int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

int LocalPort(int fd) {
  sockaddr_storage a = {};
  socklen_t len = sizeof a;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return 0;
  return ntohs(a.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&a)->sin6_port
                                       : reinterpret_cast<sockaddr_in*>(&a)->sin_port);
}

uint64_t SoftFileLimit() {
  rlimit r = {};
  getrlimit(RLIMIT_NOFILE, &r);
  return r.rlim_cur;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Listener>> Listener::Bind(const std::string& addr, Options options) {
  std::unique_ptr<Listener> l(new Listener());
  l->options_ = options;
  l->addr_ = addr;
  std::string what;
  l->fd_ = BindSocket(addr, &what);
  if (l->fd_ < 0) return Unavailable(addr, what);
  l->wake_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (l->wake_ < 0) return Unavailable(addr, "eventfd");
  l->port_ = LocalPort(l->fd_);
  l->addr_ = absl::StrCat(addr.substr(0, addr.rfind(':') + 1), l->port_);
  return l;
}

Listener::~Listener() {
  if (wake_ >= 0) {
    const uint64_t one = 1;
    (void)!write(wake_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) close(fd_);
  if (wake_ >= 0) close(wake_);
}

void Listener::Serve(grpc::experimental::ExternalConnectionAcceptor* acceptor) {
  thread_ = std::thread([this, acceptor] { Run(acceptor); });
}

bool Listener::Wait(int ms) {
  pollfd fds[2] = {{wake_, POLLIN, 0}, {fd_, POLLIN, 0}};
  // With ms >= 0 this is a pause: the listening socket is not watched.
  poll(fds, ms < 0 ? 2 : 1, ms);
  return (fds[0].revents & POLLIN) == 0;
}

void Listener::Run(grpc::experimental::ExternalConnectionAcceptor* acceptor) {
  const int base = OpenFiles();
  const int limit = static_cast<int>(std::min<uint64_t>(
      static_cast<uint64_t>(base) + options_.max_connections,
      SoftFileLimit() - std::min<uint64_t>(SoftFileLimit(), options_.reserve_files)));
  // An upper bound on the open files but for those others opened since the
  // last count (the reserve is for those): counted again only at the cap.
  int open = base;
  auto last_said = std::chrono::steady_clock::time_point();
  for (;;) {
    if (open >= limit) {
      open = OpenFiles();
      if (open >= limit) {
        ++pauses_;
        const auto now = std::chrono::steady_clock::now();
        if (now - last_said > std::chrono::minutes(1)) {
          std::cerr << "gRPC on " << addr_ << ": holding " << open - base
                    << " connections, the most it takes (--max-connections, or the open-file "
                       "limit); new ones wait\n";
          last_said = now;
        }
        if (!Wait(100)) return;
        continue;
      }
    }
    if (!Wait(-1)) return;
    const int c = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) continue;
      // EMFILE, ENFILE, ENOBUFS, ENOMEM: out of something for now. Count
      // again, and try again shortly.
      ++pauses_;
      open = limit;
      if (!Wait(100)) return;
      continue;
    }
    const int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters p;
    p.listener_fd = fd_;
    p.fd = c;
    acceptor->HandleNewConnection(&p);  // gRPC owns `c` from here
    ++open;
  }
}

uint64_t Listener::RaiseFileLimit() {
  rlimit r = {};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
  return SoftFileLimit();
}

int Listener::OpenFiles() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return 0;
  int n = 0;
  while (const dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n - 1;  // not the directory's own
}

}  // namespace faultlab::rpc
