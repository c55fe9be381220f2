#include "lib/mesa/mesa.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace faultlab::mesa {
namespace {

std::string Dir(const std::string& name) {
  const std::string d = std::string(getenv("TEST_TMPDIR")) + "/" + name;
  mkdir(d.c_str(), 0755);
  return d;
}

void Touch(const std::string& path) { std::ofstream(path) << ""; }

TEST(MesaTest, WorkloadsHaveTheirNames) {
  ASSERT_NE(FindWorkload("mesa-gles"), nullptr);
  EXPECT_FALSE(FindWorkload("mesa-gles")->vulkan);
  ASSERT_NE(FindWorkload("mesa-vk"), nullptr);
  EXPECT_TRUE(FindWorkload("mesa-vk")->vulkan);
  ASSERT_NE(FindWorkload("mesa-vk-compute"), nullptr);
  EXPECT_EQ(FindWorkload("compute"), nullptr);
  EXPECT_EQ(FindWorkload("mesa"), nullptr);
}

TEST(MesaTest, DefaultDirFollowsTheCacheVariable) {
  setenv("FAULTLAB_CACHE", "/var/cache/fl", 1);
  EXPECT_EQ(DefaultDir(), "/var/cache/fl/mesa-25.0.7");
  unsetenv("FAULTLAB_CACHE");
  setenv("HOME", "/home/farm", 1);
  EXPECT_EQ(DefaultDir(), "/home/farm/.cache/faultlab/mesa-25.0.7");
}

TEST(MesaTest, AnUnbuiltCacheSaysWhatIsMissingAndHowToBuildIt) {
  const std::string dir = Dir("unbuilt");
  absl::StatusOr<Cache> c = OpenCache(dir);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(c.status().message().find("not built in " + dir), std::string::npos);
  EXPECT_NE(c.status().message().find("./lab mesa"), std::string::npos);
  // Mesa built, the programs not yet.
  mkdir((dir + "/install").c_str(), 0755);
  Touch(dir + "/install/.built");
  c = OpenCache(dir);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("programs are not built"), std::string::npos);
}

TEST(MesaTest, ABuiltCacheRunsEachProgramWithItsMesa) {
  const std::string dir = Dir("built");
  mkdir((dir + "/install").c_str(), 0755);
  mkdir((dir + "/programs").c_str(), 0755);
  mkdir((dir + "/programs/current").c_str(), 0755);
  Touch(dir + "/install/.built");
  Touch(dir + "/programs/current/.built");
  absl::StatusOr<Cache> c = OpenCache(dir);
  ASSERT_TRUE(c.ok()) << c.status();
  const std::string p = dir + "/programs/current/";

  Invocation vk = Invoke(*c, *FindWorkload("mesa-vk"), 3);
  EXPECT_EQ(vk.argv, (std::vector<std::string>{p + "vk_render", p + "render.vert.spv",
                                               p + "render.frag.spv", "--frames", "3"}));
  ASSERT_EQ(vk.env.size(), 1u);
  EXPECT_EQ(vk.env[0].first, "VK_ICD_FILENAMES");
  EXPECT_EQ(vk.env[0].second.rfind(dir + "/install/share/vulkan/icd.d/panfrost_icd.", 0), 0u);

  Invocation cs = Invoke(*c, *FindWorkload("mesa-vk-compute"), 0);
  EXPECT_EQ(cs.argv,
            (std::vector<std::string>{p + "vk_compute", p + "compute.comp.spv", "--passes", "8"}));

  setenv("LD_LIBRARY_PATH", "/opt/lib", 1);
  Invocation gl = Invoke(*c, *FindWorkload("mesa-gles"), 0);
  EXPECT_EQ(gl.argv, (std::vector<std::string>{p + "gles_render", "--frames", "8"}));
  ASSERT_EQ(gl.env.size(), 1u);
  EXPECT_EQ(gl.env[0].first, "LD_LIBRARY_PATH");
  EXPECT_EQ(gl.env[0].second, c->libdir + ":/opt/lib");
}

}  // namespace
}  // namespace faultlab::mesa
