// The agent's kprobe session against a stand-in tracefs (a directory whose
// kprobe_events is a plain file: what the session writes there is the
// command list a kernel would get) and the BTF fixtures: stale probes of a
// crashed run removed first, the fault stream's probes with the offsets BTF
// gives (or --fault-offsets), an instance with trace_clock mono, everything
// removed at the end; without BTF, durations only, said.
#include "agents/kprobes.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>

#include "lib/collect/testdata.h"

namespace faultlab::agent {
namespace {

std::string Dir(const std::string& name) {
  const std::string d = std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
  mkdir(d.c_str(), 0755);
  return d;
}

// A tracefs whose instance already exists (its files, which tracefs makes
// with the instance, made by hand).
std::string Tracefs(const std::string& name, const std::string& events) {
  const std::string d = Dir(name);
  std::ofstream(d + "/kprobe_events") << events;
  for (const char* sub : {"/instances", "/instances/faultlab", "/instances/faultlab/events",
                          "/instances/faultlab/events/faultlab"}) {
    mkdir((d + sub).c_str(), 0755);
  }
  std::ofstream(d + "/instances/faultlab/trace_clock") << "[local] global mono";
  std::ofstream(d + "/instances/faultlab/events/faultlab/enable") << "0";
  return d;
}

std::string Btf(const std::string& name) {
  const std::string d = Dir(name);
  for (const char* f : {"vmlinux", "panthor"}) {
    std::ofstream(d + "/" + f, std::ios::binary)
        << collect::testing::Fixture(std::string("btf/") + f + ".btf");
  }
  return d;
}

bool Said(const KprobeSession& s, const std::string& text) {
  for (const std::string& line : s.said()) {
    if (line.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST(KprobeSessionTest, TheFaultStreamWithBtfOffsetsAndAStaleRunCleanedFirst) {
  const std::string fs = Tracefs("fs1",
                                 "p:faultlab/fault_work panthor_vm_fault_work\n"
                                 "r:faultlab/fault_work_ret panthor_vm_fault_work\n"
                                 "p:someone/else do_sys_open\n");
  std::string pipe;
  {
    KprobeSession s("b1", fs, Btf("btf1"));
    pipe = s.Start("");
    EXPECT_EQ(pipe, fs + "/instances/faultlab/trace_pipe");
    EXPECT_TRUE(Said(s, "removed 2 probe(s) and the instance an earlier run left"));
    EXPECT_TRUE(Said(s, "the fault stream: 5 probes, offsets status=32,addr=40,as_id=-88"));
    EXPECT_EQ(collect::testing::ReadFile(fs + "/instances/faultlab/trace_clock"), "mono");
    EXPECT_EQ(collect::testing::ReadFile(fs + "/instances/faultlab/events/faultlab/enable"), "1");
  }  // the destructor stops it
  const std::string commands = collect::testing::ReadFile(fs + "/kprobe_events");
  const size_t stale = commands.find("-:faultlab/fault_work\n-:faultlab/fault_work_ret\n");
  const size_t added = commands.find(
      "p:faultlab/fault_work panthor_vm_fault_work work=$arg1:x64 status=+32($arg1):x32 "
      "addr=+40($arg1):x64 as=-88($arg1):s32");
  const size_t removed = commands.find(
      "-:faultlab/map_ret\n-:faultlab/report_fault\n-:faultlab/mmu_irq\n"
      "-:faultlab/fault_work_ret\n-:faultlab/fault_work\n");
  EXPECT_NE(stale, std::string::npos) << commands;
  EXPECT_NE(added, std::string::npos) << commands;
  EXPECT_NE(removed, std::string::npos) << commands;
  EXPECT_LT(stale, added);
  EXPECT_LT(added, removed);
  EXPECT_EQ(commands.find("-:someone"), std::string::npos);  // not ours
  EXPECT_EQ(collect::testing::ReadFile(fs + "/instances/faultlab/events/faultlab/enable"), "0");
}

TEST(KprobeSessionTest, WithoutBtfDurationsOnlyAndSaid) {
  const std::string fs = Tracefs("fs2", "");
  KprobeSession s("b2", fs, Dir("no-btf"));
  EXPECT_FALSE(s.Start("").empty());
  EXPECT_TRUE(Said(s, "no BTF for the panthor module"));
  EXPECT_TRUE(Said(s, "5 probes, durations only"));
  s.Stop();
  EXPECT_NE(collect::testing::ReadFile(fs + "/kprobe_events")
                .find("p:faultlab/fault_work panthor_vm_fault_work\n"),
            std::string::npos);
}

TEST(KprobeSessionTest, FaultOffsetsFlagWinsOverBtf) {
  const std::string fs = Tracefs("fs3", "");
  KprobeSession s("b3", fs, Btf("btf3"));
  EXPECT_FALSE(s.Start("status=8,addr=16,as_id=-200").empty());
  EXPECT_TRUE(Said(s, "offsets status=8,addr=16,as_id=-200"));
  EXPECT_NE(collect::testing::ReadFile(fs + "/kprobe_events")
                .find("status=+8($arg1):x32 addr=+16($arg1):x64 as=-200($arg1):s32"),
            std::string::npos);
}

TEST(KprobeSessionTest, NoTracefsIsSaid) {
  KprobeSession s("b4", Dir("empty") + "/nothing-here");
  EXPECT_EQ(s.Start(""), "");
}

}  // namespace
}  // namespace faultlab::agent
