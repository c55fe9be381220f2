// The server's read-only web pages (docs/reports.md), beside /metrics on
// --http-addr: /runs (the run list, filtered by board, workload, variant
// and policy) and /runs/ID (a run's report page with its regression verdict
// and links to the runs it was compared with). With --tokens, an operator
// token is needed: an `Authorization: Bearer T` header, or `?token=T`
// (which the page's links then carry). /boards/NAME/profile is a board's
// calibrated profile file, /boards/NAME/calibration how it was fitted
// (server/replay/calibration.h), both plain text.
#ifndef FAULTLAB_SERVER_HTML_PAGES_H_
#define FAULTLAB_SERVER_HTML_PAGES_H_

#include <optional>
#include <vector>

#include "lib/http/http.h"
#include "server/auth/tokens.h"
#include "server/store/store.h"

namespace faultlab::html {

class WebPages {
 public:
  WebPages(server::Store* store, const server::Tokens* tokens) : store_(store), tokens_(tokens) {}
  std::vector<http::Route> Routes();

  http::Reply RunList(const http::Request& req);
  http::Reply RunPage(const http::Request& req);
  http::Reply BoardProfile(const http::Request& req);
  // The run page of trace `hex` (32 hex digits) without an access check (the
  // caller did it); `suffix` ("token=T" or "") goes into its links.
  http::Reply RenderRun(const std::string& hex, const std::string& suffix);

 private:
  // Empty when allowed; else the refusal. `*suffix` is what links carry.
  std::optional<http::Reply> Refuse(const http::Request& req, std::string* suffix) const;

  server::Store* store_;
  const server::Tokens* tokens_;
};

}  // namespace faultlab::html

#endif  // FAULTLAB_SERVER_HTML_PAGES_H_
