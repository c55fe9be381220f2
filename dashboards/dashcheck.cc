// dashcheck: checks Grafana dashboard JSON against the parts of Grafana's
// dashboard model faultlab relies on (no Grafana server can run here), and
// lists every panel's PromQL with the template variables substituted, for
// //tests/e2e:prometheus_test to run against a real Prometheus.
//
//   dashcheck check FILE...   exit 1 with FILE: panel "T": problem lines
//   dashcheck exprs FILE...   FILE<TAB>panel title<TAB>expr, one per target
//
// The model: uid (<= 40 characters), title, schemaVersion >= 36 (Grafana 10),
// a templating variable of type datasource over prometheus, panels with a
// unique id, a known type, a title and a gridPos inside 24 columns; every
// non-row panel and its targets use that variable as datasource; every target
// has a refId and an expr; every $variable used is defined (or a Grafana
// built-in).
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <fstream>
#include <iostream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

const Value* Field(const Struct& s, const std::string& name) {
  auto it = s.fields().find(name);
  return it == s.fields().end() ? nullptr : &it->second;
}

std::string Str(const Struct& s, const std::string& name) {
  const Value* v = Field(s, name);
  return v && v->kind_case() == Value::kStringValue ? v->string_value() : "";
}

bool IsNumber(const Struct& s, const std::string& name) {
  const Value* v = Field(s, name);
  return v && v->kind_case() == Value::kNumberValue;
}

double Num(const Struct& s, const std::string& name) {
  const Value* v = Field(s, name);
  return v && v->kind_case() == Value::kNumberValue ? v->number_value() : -1;
}

// Grafana's built-ins, as a Prometheus query would see them.
const std::pair<const char*, const char*> kBuiltins[] = {
    {"__rate_interval", "1m"}, {"__interval", "15s"}, {"__range", "1h"}};

std::string Substitute(const std::string& expr) {
  std::string out = expr;
  for (auto [name, value] : kBuiltins) {
    out = std::regex_replace(out, std::regex(std::string("\\$\\{?") + name + "\\}?"), value);
  }
  // Query variables are used as regex matchers (=~"$board"): match all.
  return std::regex_replace(out, std::regex("\\$\\{?[A-Za-z_][A-Za-z0-9_]*\\}?"), ".*");
}

int Check(const std::string& file, bool print_exprs) {
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in) {
    std::cerr << file << ": cannot read\n";
    return 1;
  }
  Struct d;
  if (auto st = google::protobuf::util::JsonStringToMessage(ss.str(), &d); !st.ok()) {
    std::cerr << file << ": not JSON: " << st.ToString() << "\n";
    return 1;
  }
  int problems = 0;
  auto bad = [&](const std::string& where, const std::string& what) {
    std::cerr << file << ": " << where << (where.empty() ? "" : ": ") << what << "\n";
    ++problems;
  };
  if (Str(d, "uid").empty() || Str(d, "uid").size() > 40)
    bad("", "uid missing or over 40 characters");
  if (Str(d, "title").empty()) bad("", "title missing");
  if (Num(d, "schemaVersion") < 36) bad("", "schemaVersion missing or below 36");
  std::set<std::string> vars;
  std::string ds_var;
  const Value* templating = Field(d, "templating");
  const Value* list = templating && templating->has_struct_value()
                          ? Field(templating->struct_value(), "list")
                          : nullptr;
  if (!list || !list->has_list_value()) {
    bad("", "templating.list missing");
  } else {
    for (const Value& v : list->list_value().values()) {
      if (!v.has_struct_value()) continue;
      const Struct& t = v.struct_value();
      if (Str(t, "name").empty() || Str(t, "type").empty())
        bad("templating", "a variable without name or type");
      vars.insert(Str(t, "name"));
      if (Str(t, "type") == "datasource" && Str(t, "query") == "prometheus")
        ds_var = Str(t, "name");
    }
  }
  if (ds_var.empty()) bad("templating", "no datasource variable over prometheus");
  const std::string ds_ref = "${" + ds_var + "}";
  auto check_ds = [&](const Struct& s, const std::string& where) {
    const Value* v = Field(s, "datasource");
    if (!v || !v->has_struct_value() || Str(v->struct_value(), "uid") != ds_ref ||
        Str(v->struct_value(), "type") != "prometheus") {
      bad(where, "datasource must be {type: prometheus, uid: " + ds_ref + "}");
    }
  };
  static const std::set<std::string> kTypes = {"timeseries", "stat",          "table", "heatmap",
                                               "gauge",      "bargauge",      "text",  "row",
                                               "barchart",   "state-timeline"};
  std::set<double> ids;
  const Value* panels = Field(d, "panels");
  if (!panels || !panels->has_list_value() || panels->list_value().values().empty())
    bad("", "no panels");
  int targets = 0;
  if (panels && panels->has_list_value()) {
    for (const Value& pv : panels->list_value().values()) {
      if (!pv.has_struct_value()) {
        bad("panels", "a panel that is not an object");
        continue;
      }
      const Struct& p = pv.struct_value();
      const std::string where = "panel \"" + Str(p, "title") + "\"";
      if (Str(p, "title").empty()) bad(where, "title missing");
      if (!IsNumber(p, "id") || !ids.insert(Num(p, "id")).second)
        bad(where, "id missing or not unique");
      if (!kTypes.count(Str(p, "type"))) bad(where, "unknown type '" + Str(p, "type") + "'");
      const Value* g = Field(p, "gridPos");
      if (!g || !g->has_struct_value()) {
        bad(where, "gridPos missing");
      } else {
        const Struct& gs = g->struct_value();
        for (const char* k : {"h", "w", "x", "y"}) {
          if (!IsNumber(gs, k)) bad(where, std::string("gridPos.") + k + " missing");
        }
        if (Num(gs, "x") + Num(gs, "w") > 24 || Num(gs, "w") <= 0 || Num(gs, "h") <= 0) {
          bad(where, "gridPos outside the 24 columns");
        }
      }
      if (Str(p, "type") == "row" || Str(p, "type") == "text") continue;
      check_ds(p, where);
      const Value* t = Field(p, "targets");
      if (!t || !t->has_list_value() || t->list_value().values().empty()) {
        bad(where, "no targets");
        continue;
      }
      for (const Value& tv : t->list_value().values()) {
        const Struct& ts = tv.struct_value();
        if (Str(ts, "refId").empty()) bad(where, "a target without refId");
        const std::string expr = Str(ts, "expr");
        if (expr.empty()) bad(where, "a target without expr");
        check_ds(ts, where + " target " + Str(ts, "refId"));
        std::smatch m;
        std::string rest = expr;
        const std::regex used("\\$\\{?([A-Za-z_][A-Za-z0-9_]*)\\}?");
        while (std::regex_search(rest, m, used)) {
          const std::string name = m[1];
          bool builtin = false;
          for (auto [b, v] : kBuiltins) builtin = builtin || name == b;
          if (!builtin && !vars.count(name))
            bad(where, "uses $" + name + ", which no variable defines");
          rest = m.suffix();
        }
        ++targets;
        if (print_exprs)
          std::cout << file << "\t" << Str(p, "title") << "\t" << Substitute(expr) << "\n";
      }
    }
  }
  if (!print_exprs && problems == 0) {
    std::cout << file << ": ok (" << ids.size() << " panels, " << targets << " queries)\n";
  }
  return problems ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if ((mode != "check" && mode != "exprs") || argc < 3) {
    std::cerr << "usage: dashcheck check|exprs DASHBOARD.json...\n";
    return 2;
  }
  int rc = 0;
  for (int i = 2; i < argc; ++i) rc |= Check(argv[i], mode == "exprs");
  return rc;
}
