#include "lib/metrics/family.h"

#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "engine/base/check.h"

namespace faultlab::metrics {
namespace {

const char* TypeName(Type t) {
  switch (t) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "?";
}

template <typename Builder>
auto& Register(Builder b, prometheus::Registry& r, const Family& f, Type want) {
  FAULTLAB_CHECK(f.type == want, f.name, " is a ", TypeName(f.type), ", registered as a ",
                 TypeName(want));
  return b.Name(f.name).Help(f.help).Register(r);
}

// The label names of one sample line: `name{a="x",b="y"} 1` -> {a, b}.
std::set<std::string> SampleLabels(const std::string& line) {
  std::set<std::string> names;
  const size_t open = line.find('{');
  if (open == std::string::npos) return names;
  size_t i = open + 1;
  while (i < line.size() && line[i] != '}') {
    const size_t eq = line.find('=', i);
    if (eq == std::string::npos) break;
    names.insert(line.substr(i, eq - i));
    // Skip the quoted value (escapes: \\ \" \n).
    size_t j = eq + 2;
    while (j < line.size() && line[j] != '"') j += line[j] == '\\' ? 2 : 1;
    i = j + 1;
    if (i < line.size() && line[i] == ',') ++i;
  }
  return names;
}

}  // namespace

prometheus::Family<prometheus::Counter>& AddCounter(prometheus::Registry& r, const Family& f) {
  return Register(prometheus::BuildCounter(), r, f, Type::kCounter);
}

prometheus::Family<prometheus::Gauge>& AddGauge(prometheus::Registry& r, const Family& f) {
  return Register(prometheus::BuildGauge(), r, f, Type::kGauge);
}

prometheus::Family<prometheus::Histogram>& AddHistogram(prometheus::Registry& r, const Family& f) {
  return Register(prometheus::BuildHistogram(), r, f, Type::kHistogram);
}

prometheus::Labels Labels(const Family& f, const std::vector<std::string>& values) {
  FAULTLAB_CHECK(values.size() == f.labels.size(), f.name, " takes ", f.labels.size(),
                 " label values (", absl::StrJoin(f.labels, ", "), "), given ", values.size());
  prometheus::Labels out;
  for (size_t i = 0; i < values.size(); ++i) out[f.labels[i]] = values[i];
  return out;
}

prometheus::Labels Labels(const Family& f, std::initializer_list<std::string> values) {
  return Labels(f, std::vector<std::string>(values));
}

absl::Status CheckExposition(const std::string& text, const std::vector<const Family*>& families) {
  std::map<std::string, const Family*> by_name;
  for (const Family* f : families) by_name[f->name] = f;
  std::set<std::string> seen;
  const Family* current = nullptr;
  int n = 0;
  for (absl::string_view view : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    ++n;
    const std::string line(view);
    const auto fail = [&](const std::string& why) {
      return absl::FailedPreconditionError(
          absl::StrCat("exposition line ", n, ": ", why, ": ", line));
    };
    if (absl::StartsWith(line, "# HELP ")) {
      const std::string rest = line.substr(7);
      const std::string name = rest.substr(0, rest.find(' '));
      auto it = by_name.find(name);
      if (it == by_name.end()) return fail("a family not in the list");
      current = it->second;
      seen.insert(name);
      if (rest != absl::StrCat(name, " ", current->help))
        return fail("help differs from the list's");
    } else if (absl::StartsWith(line, "# TYPE ")) {
      if (current == nullptr ||
          line != absl::StrCat("# TYPE ", current->name, " ", TypeName(current->type))) {
        return fail("type differs from the list's");
      }
    } else if (!absl::StartsWith(line, "#")) {
      if (current == nullptr || !absl::StartsWith(line, current->name))
        return fail("a sample outside its family");
      std::set<std::string> want(current->labels.begin(), current->labels.end());
      std::set<std::string> got = SampleLabels(line);
      if (current->type == Type::kHistogram) got.erase("le");
      if (got != want) {
        return fail(absl::StrCat("labels {", absl::StrJoin(got, ","), "}, declared {",
                                 absl::StrJoin(want, ","), "}"));
      }
    }
  }
  for (const Family* f : families) {
    if (!seen.count(f->name)) return absl::NotFoundError(absl::StrCat(f->name, " is not exposed"));
  }
  return absl::OkStatus();
}

absl::Status CheckDocumented(const std::string& markdown,
                             const std::vector<const Family*>& families,
                             const std::vector<std::string>& implied) {
  const std::set<std::string> said(implied.begin(), implied.end());
  for (const Family* f : families) {
    const size_t row = markdown.find(absl::StrCat("| `", f->name, "`"));
    if (row == std::string::npos)
      return absl::NotFoundError(absl::StrCat(f->name, " has no table row"));
    const std::string line = markdown.substr(row, markdown.find('\n', row) - row);
    for (const std::string& label : f->labels) {
      if (!said.count(label) && line.find(absl::StrCat("`", label, "`")) == std::string::npos) {
        return absl::NotFoundError(
            absl::StrCat(f->name, "'s row does not name its label `", label, "`"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace faultlab::metrics
