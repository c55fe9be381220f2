// Fuzz target: the ioctl front end, as the device shim and the loopback
// kernel expose it to any program. The input is a list of calls; each is a
// byte choosing the file (render or primary node), a request word (any:
// known numbers, any size field, unknown ones), its argument bytes, and
// bytes for the user memory the argument may point into (the region at
// kUser). The input's length picks the variant (series-fixed, series-v3 or
// mainline: driver 1.6 or 1.7). After every call the device's invariants
// hold; queued GPU work is run out at the end. Nothing may crash, and no
// argument can make the twin allocate past what the kernel would.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string>

#include "engine/base/check.h"
#include "engine/dev/test_util.h"

namespace {

constexpr uint64_t kUser = 0x10000000;  // where a call's memory bytes go
constexpr uint64_t kUserSize = 1 << 20;
constexpr uint64_t kArg = 0x20000000;  // where its argument goes

// Reads an n-byte little-endian integer, or 0 past the end.
uint64_t Take(const uint8_t*& p, const uint8_t* end, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n && p < end; ++i) v |= static_cast<uint64_t>(*p++) << (8 * i);
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace faultlab;
  dev::testing::TestDevice t(dev::testing::Config(kAllVariants[size % std::size(kAllVariants)]));
  t.mem.Map(kUser, kUserSize);
  t.mem.Map(kArg, 1 << 14);
  dev::File* other = t.dev.Open(dev::NodeType::kPrimary, &t.mem);
  const uint8_t* p = data;
  const uint8_t* end = data + size;
  for (int calls = 0; p < end && calls < 64; ++calls) {
    dev::File* file = Take(p, end, 1) & 1 ? other : t.file;
    const uint32_t request = static_cast<uint32_t>(Take(p, end, 4));
    const size_t arg_len = std::min<size_t>(Take(p, end, 1) * 4, end - p);
    std::string arg(reinterpret_cast<const char*>(p), arg_len);
    p += arg_len;
    const size_t mem_len = std::min<size_t>(Take(p, end, 2), end - p);
    t.mem.Write(kUser, p, mem_len);
    p += mem_len;
    arg.resize(1 << 14, '\0');
    t.mem.Write(kArg, arg.data(), arg.size());
    t.dev.Ioctl(file, request, kArg);
    const std::string broken = t.dev.CheckInvariants();
    FAULTLAB_CHECK(broken.empty(), broken);
  }
  t.dev.RunAll();
  const std::string broken = t.dev.CheckInvariants();
  FAULTLAB_CHECK(broken.empty(), broken);
  return 0;
}
