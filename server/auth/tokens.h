// Tokens: who may call the server (DESIGN "Contracts"; docs/security.md).
// `--tokens FILE` holds one token per line, `agent TOKEN` (may upload) or
// `operator TOKEN` (may do everything); `#` starts a comment. Clients send
// `authorization: Bearer TOKEN`. Without a tokens file the server is open,
// and only on loopback addresses.
#ifndef FAULTLAB_SERVER_AUTH_TOKENS_H_
#define FAULTLAB_SERVER_AUTH_TOKENS_H_

#include <grpcpp/grpcpp.h>

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace faultlab::server {

enum class Role { kNone, kAgent, kOperator };

class Tokens {
 public:
  // Errors name the file and line; an empty file is an error (it would lock
  // everyone out), so is a token shorter than 16 characters.
  static absl::StatusOr<Tokens> Load(const std::string& path);
  static Tokens FromMap(std::map<std::string, Role> m) {
    Tokens t;
    t.roles_ = std::move(m);
    return t;
  }
  Role RoleOf(const std::string& token) const;
  // The caller's role from its `authorization: Bearer` metadata.
  Role RoleOf(const grpc::ServerContext& ctx) const;
  size_t size() const { return roles_.size(); }

 private:
  std::map<std::string, Role> roles_;
};

// OK when `tokens` is null (open mode) or the caller has at least `need`;
// else UNAUTHENTICATED (no or unknown token) or PERMISSION_DENIED.
grpc::Status Authorize(const Tokens* tokens, const grpc::ServerContext& ctx, Role need);

}  // namespace faultlab::server

#endif  // FAULTLAB_SERVER_AUTH_TOKENS_H_
