// The content arena: a BO's bytes are one copy that the twin and a CPU
// mapping of the arena's file both see; untouched ranges and released ones
// cost no host memory; ranges are never handed out twice.
#include "engine/gem/content.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>

#include "engine/gem/bo.h"
#include "engine/gem/objects.h"

namespace faultlab::gem {
namespace {

TEST(ContentArenaTest, OneCopyForTheTwinAndEveryMapping) {
  ContentArena arena;
  ASSERT_GE(arena.fd(), 0) << "memfd_create";
  const uint64_t a = arena.Reserve(64 << 10), b = arena.Reserve(4096);
  EXPECT_EQ(b, a + (64 << 10)) << "ranges follow each other";
  char* twin = arena.Map(a, 64 << 10);
  ASSERT_NE(twin, nullptr);
  void* cpu = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, arena.fd(), a + 8192);
  ASSERT_NE(cpu, MAP_FAILED);
  std::memcpy(twin + 8192, "gpu", 4);
  EXPECT_STREQ(static_cast<char*>(cpu), "gpu") << "the twin's store, through the CPU's map";
  std::memcpy(cpu, "cpu", 4);
  EXPECT_STREQ(twin + 8192, "cpu") << "and back";
  EXPECT_GE(arena.resident_bytes(), 4096u);
  munmap(cpu, 4096);
  ContentArena::Unmap(twin, 64 << 10);
  arena.Release(a, 64 << 10);
  EXPECT_EQ(arena.resident_bytes(), 0u) << "a released range goes back to the host";
  EXPECT_GT(arena.Reserve(4096), b) << "and is never handed out again";
}

TEST(ContentArenaTest, SparseUntilWritten) {
  ContentArena arena;
  const uint64_t big = arena.Reserve(64ULL << 30);  // 64 GiB
  ASSERT_NE(big, ContentArena::kNone);
  char* view = arena.Map(big + (63ULL << 30), 2 << 20);
  ASSERT_NE(view, nullptr);
  view[100] = 1;
  EXPECT_LE(arena.resident_bytes(), 2u << 20) << "one page written, one page (or folio) held";
  ContentArena::Unmap(view, 2 << 20);
  EXPECT_EQ(arena.Reserve(ContentArena::kLimit), ContentArena::kNone) << "past the file's limit";
}

TEST(ContentArenaTest, ABoReadsAndWritesItsRange) {
  mem::MemoryModel mem(mem::MemoryConfig{64ULL << 20, mem::ThpMode::kNever});
  Objects objects(&mem);
  std::shared_ptr<Bo> bo = objects.Create(3 << 20, 0, 0, 0);  // two windows
  uint64_t allocated;
  ASSERT_EQ(bo->GetPages(mem::AllocClass::kBlocking, &allocated), 0);
  const char text[] = "across the 2 MiB window";
  bo->Write((2 << 20) - 6, text, sizeof(text));
  char back[sizeof(text)];
  bo->Read((2 << 20) - 6, back, sizeof(back));
  EXPECT_STREQ(back, text);
  char via_file[sizeof(text)];
  ASSERT_EQ(pread(objects.content().fd(), via_file, sizeof(via_file),
                  static_cast<off_t>(bo->content_at() + (2 << 20) - 6)),
            static_cast<ssize_t>(sizeof(via_file)));
  EXPECT_STREQ(via_file, text) << "the file holds the BO's bytes";
  const uint64_t held = objects.content().resident_bytes();
  EXPECT_GT(held, 0u);
  bo.reset();
  EXPECT_EQ(objects.content().resident_bytes(), 0u) << "a freed BO's bytes go back to the host";
}

}  // namespace
}  // namespace faultlab::gem
