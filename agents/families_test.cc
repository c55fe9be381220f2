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
  std::stringstream doc;
  doc << in.rdbuf();
  // `board` is on every family: said once above the table.
  absl::Status s = metrics::CheckDocumented(doc.str(), families::All(), {"board"});
  EXPECT_TRUE(s.ok()) << "docs/agent.md: " << s;
}

}  // namespace
}  // namespace faultlab::agent
