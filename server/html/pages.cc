#include "server/html/pages.h"

#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "lib/html/report_html.h"

namespace faultlab::html {
namespace {

http::Reply Page(int code, const std::string& title, const std::string& body) {
  return {code, "text/html; charset=utf-8", PageHead(title) + body + PageFoot()};
}

std::string Us(uint64_t ns) { return absl::StrCat(ns / 1000, ".", ns / 100 % 10); }

std::string VerdictClass(const std::string& v) {
  return v == "regressed" ? "bad" : (v == "improved" ? "good" : "");
}

}  // namespace

std::vector<http::Route> WebPages::Routes() {
  return {{"/runs",
           [this](const http::Request& r) {
             return r.path == "/runs" || r.path == "/runs/" ? RunList(r) : RunPage(r);
           }},
          {"/boards/", [this](const http::Request& r) { return BoardProfile(r); }}};
}

http::Reply WebPages::BoardProfile(const http::Request& req) {
  std::string suffix;
  if (auto refused = Refuse(req, &suffix)) return *refused;
  // /boards/NAME/profile or /boards/NAME/calibration (NAME decoded; a board
  // name may hold any character but '/').
  const std::string rest = req.path.substr(std::string("/boards/").size());
  const size_t slash = rest.rfind('/');
  const std::string what = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (slash == std::string::npos || (what != "profile" && what != "calibration")) {
    return {404, "text/plain; charset=utf-8",
            "not found: /boards/NAME/profile (the calibrated profile) or "
            "/boards/NAME/calibration (how it was fitted)\n"};
  }
  absl::StatusOr<server::BoardProfileRecord> p = store_->GetBoardProfile(rest.substr(0, slash));
  if (!p.ok()) {
    return {p.status().code() == absl::StatusCode::kNotFound ? 404 : 503,
            "text/plain; charset=utf-8",
            absl::StrCat(p.status().message(),
                         " (a board is calibrated from its traces with a fault stream: "
                         "docs/board.md)\n")};
  }
  if (what == "profile") return {200, "text/plain; charset=utf-8", p->text};
  return {200, "text/plain; charset=utf-8",
          absl::StrCat("board: ", p->board, "\nprofile: ", p->id, " version ", p->version,
                       " (save as ", p->id, ".profile; use with --profile-dir)\nbase: ", p->base,
                       "\nthrough_trace: ", p->through, "\n", p->fit)};
}

std::optional<http::Reply> WebPages::Refuse(const http::Request& req, std::string* suffix) const {
  suffix->clear();
  if (tokens_ == nullptr) return std::nullopt;
  std::string token = req.Param("token");
  if (!token.empty()) {
    *suffix = "token=" + token;
  } else if (absl::StartsWith(req.authorization, "Bearer ")) {
    token = req.authorization.substr(7);
  }
  const server::Role role = tokens_->RoleOf(token);
  if (role == server::Role::kOperator) return std::nullopt;
  return Page(role == server::Role::kNone ? 401 : 403, "faultlab: not allowed",
              role == server::Role::kNone
                  ? "<p>An operator token is required: send <code>Authorization: Bearer "
                    "TOKEN</code> or add "
                    "<code>?token=TOKEN</code> to the address.</p>\n"
                  : "<p>This token may upload but not read: an operator token is required.</p>\n");
}

http::Reply WebPages::RunList(const http::Request& req) {
  std::string suffix;
  if (auto refused = Refuse(req, &suffix)) return *refused;
  server::RunFilter f;
  f.board = req.Param("board");
  f.workload = req.Param("workload");
  f.variant = req.Param("variant");
  f.policy = req.Param("policy");
  f.limit = 500;
  absl::StatusOr<std::vector<server::RunRecord>> runs = store_->ListRuns(f);
  if (!runs.ok())
    return Page(503, "faultlab: runs",
                "<p>" + Escape(std::string(runs.status().message())) + "</p>");
  const std::string amp = suffix.empty() ? "" : "&" + suffix;
  std::string s = "<form id=\"filter\" method=\"get\" action=\"/runs\">\n";
  for (const char* k : {"board", "workload", "variant", "policy"}) {
    absl::StrAppend(&s, "<label>", k, " <input name=\"", k, "\" value=\"", Escape(req.Param(k)),
                    "\" size=\"12\"></label> ");
  }
  if (!suffix.empty())
    absl::StrAppend(&s, "<input type=\"hidden\" name=\"token\" value=\"",
                    Escape(req.Param("token")), "\">");
  absl::StrAppend(
      &s, "<button type=\"submit\">filter</button></form>\n<p>", runs->size(),
      " run(s), newest first. A verdict compares a run's recorded fault latencies with the "
      "previous "
      "runs of its series (docs/regressions.md).</p>\n<table "
      "id=\"runs\">\n<tr><th>run</th><th>trace</th>"
      "<th>board</th><th>gpu</th><th>workload</th><th>variant</th><th>policy</th><th>faults</th>"
      "<th>p50 us</th><th>p99 us</th><th>alloc failures</th><th>verdict</th><th>Cliff's delta</th>"
      "<th>replay</th></tr>\n");
  for (auto it = runs->rbegin(); it != runs->rend(); ++it) {
    const server::RunRecord& r = *it;
    const std::string id = absl::BytesToHexString(r.trace_id);
    std::string replay = "-";
    if (auto rep = store_->GetReplay(r.trace_id); rep.ok()) replay = rep->first;
    absl::StrAppend(
        &s, "<tr", r.verdict == "regressed" ? " class=\"diff\"" : "", "><td class=\"n\">", r.run,
        "</td><td><a href=\"/runs/", id, suffix.empty() ? "" : "?" + suffix, "\">",
        id.substr(0, 12), "</a></td><td><a href=\"/runs?board=", Escape(r.board), amp, "\">",
        Escape(r.board), "</a></td><td>", Escape(r.gpu), "</td><td>", Escape(r.workload),
        "</td><td>", Escape(r.variant), "</td><td>", Escape(r.policy), "</td><td class=\"n\">",
        r.faults, "</td><td class=\"n\">", Us(r.p50_ns), "</td><td class=\"n\">", Us(r.p99_ns),
        "</td><td class=\"n\">", r.alloc_failures, "</td><td class=\"", VerdictClass(r.verdict),
        "\">", Escape(r.verdict), r.change_point == r.trace_id ? " (level shift here)" : "",
        "</td><td class=\"n\">",
        r.baseline_runs && r.verdict != "insufficient_baseline"
            ? absl::StrFormat("%+.2f", r.cliffs_delta)
            : "-",
        "</td><td>", Escape(replay), "</td></tr>\n");
  }
  absl::StrAppend(&s, "</table>\n");
  return Page(200, "faultlab: runs", s);
}

http::Reply WebPages::RunPage(const http::Request& req) {
  std::string suffix;
  if (auto refused = Refuse(req, &suffix)) return *refused;
  return RenderRun(req.path.substr(std::string("/runs/").size()), suffix);
}

http::Reply WebPages::RenderRun(const std::string& hex, const std::string& suffix) {
  std::string id;
  if (hex.size() != 32 || hex.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return Page(404, "faultlab: no such run",
                "<p>A run's address is /runs/ and its 32 hex digits.</p>");
  }
  id = absl::HexStringToBytes(hex);
  absl::StatusOr<server::TraceRecord> t = store_->GetTrace(id);
  if (!t.ok() || !t->complete) {
    return Page(404, "faultlab: no such run",
                "<p>No complete trace " + Escape(hex) + " on this server.</p>");
  }
  absl::StatusOr<RunData> data = CollectRun([&] { return store_->OpenTrace(id); }, hex, {});
  if (!data.ok())
    return Page(500, "faultlab: run " + hex,
                "<p>" + Escape(std::string(data.status().message())) + "</p>");
  PageExtras extras;
  extras.title = "faultlab run " + hex.substr(0, 12) + " (" + t->header.board() + ", " +
                 t->header.workload() + ")";
  const std::string q = suffix.empty() ? "" : "?" + suffix;
  const std::string amp = suffix.empty() ? "" : "&" + suffix;
  extras.above_html =
      absl::StrCat("<p><a href=\"/runs", q,
                   "\">all runs</a> &middot; <a href=\"/runs?board=", Escape(t->header.board()),
                   "&workload=", Escape(t->header.workload()), amp, "\">this series</a></p>\n");
  absl::StatusOr<server::RunRecord> run = store_->GetRun(id, false);
  if (run.ok()) {
    server::RunFilter f;
    f.board = run->board;
    f.gpu = run->gpu;
    f.workload = run->workload;
    f.variant = run->variant;
    f.policy = run->policy;
    std::vector<std::string> links;
    if (auto series = store_->ListRuns(f); series.ok()) {
      std::vector<const server::RunRecord*> before;
      for (const server::RunRecord& r : *series) {
        if (r.run < run->run) before.push_back(&r);
      }
      const size_t n = std::min<size_t>(before.size(), run->baseline_runs);
      for (size_t i = before.size() - n; i < before.size(); ++i) {
        const std::string b = absl::BytesToHexString(before[i]->trace_id);
        links.push_back(absl::StrCat("<a class=\"baseline\" href=\"/runs/", b, q, "\">",
                                     b.substr(0, 12), "</a>"));
      }
    }
    absl::StrAppend(&extras.above_html,
                    "<p id=\"verdict\">regression verdict: <span class=\"badge ",
                    VerdictClass(run->verdict), "\">", Escape(run->verdict), "</span>");
    if (run->verdict != "insufficient_baseline") {
      absl::StrAppend(&extras.above_html,
                      absl::StrFormat(" (Mann-Whitney p = %.3g, Cliff's delta %+.3f, median x%.3f)",
                                      run->p_value, run->cliffs_delta, run->median_ratio));
    }
    absl::StrAppend(&extras.above_html,
                    links.empty() ? " &mdash; no earlier runs in its series"
                                  : " against " + absl::StrJoin(links, ", "),
                    "</p>\n");
  }
  return {200, "text/html; charset=utf-8", ReportPage(*data, extras)};
}

}  // namespace faultlab::html
