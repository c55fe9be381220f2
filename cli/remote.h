// The CLI's remote side (DESIGN "Services"): every verb that talks to a
// faultlab-server takes --server HOST:PORT (default 127.0.0.1:7400),
// --token T and, for a server with TLS, --tls-ca FILE (or --tls to trust
// the system's roots). docs/cli.md.
#ifndef FAULTLAB_CLI_REMOTE_H_
#define FAULTLAB_CLI_REMOTE_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "lib/args/args.h"

namespace faultlab::cli {

using args::Args;

constexpr char kDefaultServer[] = "127.0.0.1:7400";

// Declares --server, --token, --tls-ca and --tls.
void DeclareRemote(Args& a);
// The channel to --server; null with a message on stderr when --tls-ca
// cannot be read.
std::shared_ptr<grpc::Channel> ServerChannel(const Args& args, const std::string& verb);
// Adds the token (if any) to the call.
void Authorize(const Args& args, grpc::ClientContext* ctx);
// Prints the server's error and returns its exit code (exit.h).
int FailRemote(const std::string& verb, const Args& args, const grpc::Status& s);

// The one trace on the server whose hex id starts with `prefix`: NOT_FOUND
// when none does, INVALID_ARGUMENT when several do.
grpc::Status ResolveTrace(const Args& args, const std::string& prefix, std::string* id);

int RunUpload(const Args& args);
int RunTraces(const Args& args);
// `faultlab report ID`: the server's report of a stored trace.
int RunRemoteReport(const Args& args);
int RunRuns(const Args& args);
int RunCompare(const Args& args);
// `faultlab replay ID --server ...`: a replay or what-if matrix on the server.
int RunRemoteReplay(const Args& args);
int RunBackfill(const Args& args);

}  // namespace faultlab::cli

#endif  // FAULTLAB_CLI_REMOTE_H_
