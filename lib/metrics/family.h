// A Prometheus metric family declared once — name, type, help, label names
// — in one list per program (server/metrics/families.h, the agent's in
// agents/agent.cc), so that registering it, labelling its samples and
// checking its exposition all read the same declaration.
//
//   const metrics::Family kReplays{"faultlab_replays_total", metrics::Type::kCounter,
//                                  "Replays by outcome", {"board", "outcome"}};
//   auto& replays = metrics::AddCounter(registry, kReplays);
//   replays.Add(metrics::Labels(kReplays, {"rock5b", "identical"})).Increment();
#ifndef FAULTLAB_LIB_METRICS_FAMILY_H_
#define FAULTLAB_LIB_METRICS_FAMILY_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace faultlab::metrics {

enum class Type { kCounter, kGauge, kHistogram };

struct Family {
  const char* name;
  Type type;
  const char* help;
  std::vector<std::string> labels;  // in the order Labels() takes values
};

// Registers `f`; a CHECK that its type is the accessor's.
prometheus::Family<prometheus::Counter>& AddCounter(prometheus::Registry& r, const Family& f);
prometheus::Family<prometheus::Gauge>& AddGauge(prometheus::Registry& r, const Family& f);
prometheus::Family<prometheus::Histogram>& AddHistogram(prometheus::Registry& r, const Family& f);

// `f`'s label names with `values`, one each (a CHECK).
prometheus::Labels Labels(const Family& f, std::initializer_list<std::string> values);
prometheus::Labels Labels(const Family& f, const std::vector<std::string>& values);

// Checks a text exposition against `families`: each is there with its
// declared HELP and TYPE, no other family is, and every sample carries
// exactly the declared label names (a histogram's `le` aside). The error
// names the first line that disagrees.
absl::Status CheckExposition(const std::string& text, const std::vector<const Family*>& families);

// Checks a markdown page against `families`: each has a table row starting
// "| `NAME`" that names every label in backquotes, except those in
// `implied` (labels the page states once for all, e.g. the series').
absl::Status CheckDocumented(const std::string& markdown,
                             const std::vector<const Family*>& families,
                             const std::vector<std::string>& implied);

}  // namespace faultlab::metrics

#endif  // FAULTLAB_LIB_METRICS_FAMILY_H_
