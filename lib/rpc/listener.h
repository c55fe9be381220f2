// A gRPC server's listening socket, accepted from here and handed to gRPC
// (ServerBuilder's external connection acceptor) rather than left to gRPC:
// - gRPC 1.51, Debian's, stops accepting for good once accept4() fails with
//   EMFILE (grpc/grpc#20418). Measured: a flood of 3,000 idle connections
//   against a server with 2,048 open files left it deaf after the flood had
//   gone. Here a failed accept is retried.
// - gRPC 1.51 has no bound on connections. Here connections are held to a
//   cap, counted by the process's open files, with files kept in reserve for
//   the store and the replay workers' pipes: a flood makes new connections
//   wait in the kernel's listen queue, never the store fail.
#ifndef FAULTLAB_LIB_RPC_LISTENER_H_
#define FAULTLAB_LIB_RPC_LISTENER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace grpc::experimental {
class ExternalConnectionAcceptor;
}

namespace faultlab::rpc {

class Listener {
 public:
  struct Options {
    // Connections held at once: accepting pauses while the process has this
    // many more open files than when Serve() began.
    int max_connections = 4096;
    // ... or while it is this close to its open-file limit.
    int reserve_files = 256;
  };

  // Binds HOST:PORT (an IPv4 address, [IPv6] or localhost; port 0: any
  // free one) and listens. UNAVAILABLE naming the address if it cannot.
  static absl::StatusOr<std::unique_ptr<Listener>> Bind(const std::string& addr, Options options);
  // Stops accepting and closes the socket (connections handed over stay).
  ~Listener();

  int port() const { return port_; }
  // Accepts on a thread of its own, handing each connection to `acceptor`
  // (which must outlive this), until destroyed.
  void Serve(grpc::experimental::ExternalConnectionAcceptor* acceptor);
  // Times accepting paused at the cap, and accepts that failed.
  uint64_t pauses() const { return pauses_.load(); }

  // Raises the soft open-file limit to the hard one; the soft limit after.
  static uint64_t RaiseFileLimit();
  // The process's open files.
  static int OpenFiles();

 private:
  Listener() = default;
  void Run(grpc::experimental::ExternalConnectionAcceptor* acceptor);
  // Waits up to `ms` for the listening socket to be readable; false once stopping.
  bool Wait(int ms);

  Options options_;
  int fd_ = -1;
  int wake_ = -1;  // an eventfd: Stop
  int port_ = 0;
  std::string addr_;
  std::atomic<uint64_t> pauses_{0};
  std::thread thread_;
};

}  // namespace faultlab::rpc

#endif  // FAULTLAB_LIB_RPC_LISTENER_H_
