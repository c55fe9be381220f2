#include "server/auth/tokens.h"

#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace faultlab::server {

absl::StatusOr<Tokens> Tokens::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  Tokens t;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    const std::string body(absl::StripAsciiWhitespace(line.substr(0, line.find('#'))));
    if (body.empty()) continue;
    std::vector<std::string> f = absl::StrSplit(body, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (f.size() != 2 || (f[0] != "agent" && f[0] != "operator")) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", n, ": expected 'agent TOKEN' or 'operator TOKEN'"));
    }
    if (f[1].size() < 16) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", n, ": token shorter than 16 characters"));
    }
    if (!t.roles_.emplace(f[1], f[0] == "agent" ? Role::kAgent : Role::kOperator).second) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", n, ": token listed twice"));
    }
  }
  if (t.roles_.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no tokens"));
  return t;
}

Role Tokens::RoleOf(const std::string& token) const {
  auto it = roles_.find(token);
  return it == roles_.end() ? Role::kNone : it->second;
}

Role Tokens::RoleOf(const grpc::ServerContext& ctx) const {
  const auto& md = ctx.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return Role::kNone;
  const std::string v(it->second.data(), it->second.size());
  constexpr char kBearer[] = "Bearer ";
  if (v.rfind(kBearer, 0) != 0) return Role::kNone;
  return RoleOf(v.substr(sizeof(kBearer) - 1));
}

grpc::Status Authorize(const Tokens* tokens, const grpc::ServerContext& ctx, Role need) {
  if (tokens == nullptr) return grpc::Status::OK;
  const Role r = tokens->RoleOf(ctx);
  if (r == Role::kNone) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "a valid token is required (--token)");
  }
  if (need == Role::kOperator && r != Role::kOperator) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "this needs an operator token");
  }
  return grpc::Status::OK;
}

}  // namespace faultlab::server
