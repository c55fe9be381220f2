// Fuzz target: any bytes as a kernel's BTF, alone and as split BTF over the
// fixtures' base. Errors are fine; a crash, a hang or unbounded memory is not.
#include <cstddef>
#include <cstdint>
#include <string>

#include "lib/collect/btf.h"

namespace {

// The base every split input continues: a small BTF built in (the fuzzer
// finds the rest by mutation).
const faultlab::collect::Btf* Base() {
  static const auto* base = [] {
    std::string b(24, '\0');
    b[0] = '\x9f', b[1] = '\xeb', b[2] = 1, b[4] = 24;  // magic, version, hdr_len; empty sections
    auto r = faultlab::collect::Btf::Parse(b, "base");
    return r.ok() ? r->release() : nullptr;
  }();
  return base;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  for (const faultlab::collect::Btf* base :
       {static_cast<const faultlab::collect::Btf*>(nullptr), Base()}) {
    auto btf = faultlab::collect::Btf::Parse(bytes, "fuzz", base);
    if (!btf.ok()) continue;
    (void)faultlab::collect::PanthorFaultOffsets(**btf);
    (void)(*btf)->MemberOffset("work_struct", {"entry", "next"});
  }
  (void)faultlab::collect::ParseFaultOffsets(bytes);
  return 0;
}
