// The agent's exposition against its one list of families (families.h), and
// every family documented in docs/agent.md.
#include "agents/families.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>
#include <stdlib.h>

#include <fstream>
#include <sstream>

#include "agents/agent.h"
#include "agents/spool.h"

namespace faultlab::agent {
namespace {

TEST(AgentFamilies, TheExpositionIsTheList) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string dir = std::string(base ? base : "/tmp") + "/spoolXXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  absl::StatusOr<std::unique_ptr<Spool>> spool = Spool::Open(dir, 1 << 20);
  ASSERT_TRUE(spool.ok()) << spool.status();
  AgentOptions opt;
  opt.board = "rock5b-01";
  Agent agent(opt, grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials()),
              spool->get());
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, agent.registry()->Collect());
  absl::Status s = metrics::CheckExposition(out.str(), families::All());
  EXPECT_TRUE(s.ok()) << s << "\n" << out.str();
}

TEST(AgentFamilies, EveryFamilyIsDocumented) {
  std::ifstream in("docs/agent.md");
  ASSERT_TRUE(in) << "docs/agent.md in the runfiles";
  std::stringstream all;
  all << in.rdbuf();
  const std::string doc = all.str();
  for (const metrics::Family* f : families::All()) {
    const size_t row = doc.find(std::string("| `") + f->name + "`");
    ASSERT_NE(row, std::string::npos) << f->name << " has no row in docs/agent.md";
    const std::string line = doc.substr(row, doc.find('\n', row) - row);
    for (const std::string& label : f->labels) {
      if (label == "board") continue;  // on every family: said once above the table
      EXPECT_NE(line.find("`" + label + "`"), std::string::npos) << f->name << ": " << label;
    }
  }
}

}  // namespace
}  // namespace faultlab::agent
