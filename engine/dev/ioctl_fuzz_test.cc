// A random-ioctl test in the spirit of syzkaller over Engine A's ioctls: valid
// and invalid arguments, bad pointers through the user-memory seam, random
// request numbers, files opened and closed. A reference model predicts the
// result of the ioctls whose outcome is fully determined by their arguments
// (BO create/close, VM create/destroy), and the device's invariants are
// checked all along. Runs under --config=asan in ./lab test.
#include <gtest/gtest.h>

#include <cstring>
#include <iterator>
#include <map>
#include <set>
#include <vector>

#include "engine/base/prng.h"
#include "engine/dev/test_util.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/panthor.h"

namespace faultlab::dev {
namespace {

using namespace uapi;  // NOLINT

const char* Tier() {
  const char* t = std::getenv("FAULTLAB_TIER");
  return t ? t : "fast";
}

uint32_t LowestFree(const std::set<uint32_t>& s) {
  uint32_t h = 1;
  for (uint32_t x : s) {
    if (x != h) break;
    ++h;
  }
  return h;
}

class Fuzzer {
 public:
  Fuzzer(uint64_t seed, Variant variant) : prng_(seed), variant_(variant) {
    DeviceConfig c = testing::Config(variant);
    c.budget_bytes = 64ULL << 20;  // small, so population runs out of memory
    dev_ = std::make_unique<Device>(c);
    ro_ = mem_.Alloc(4096, SimUserMemory::kRead);
    OpenFile();
  }

  void Step() {
    FileState& fs = files_[prng_.Uniform(files_.size())];
    switch (prng_.Uniform(15)) {
      case 0:
      case 1:
        BoCreate(fs);
        break;
      case 2:
        GemClose(fs);
        break;
      case 3:
        MmapOffset(fs);
        break;
      case 4:
        CpuMap(fs);
        break;
      case 5:
        VmCreate(fs);
        break;
      case 6:
        VmDestroy(fs);
        break;
      case 7:
        VmGetState(fs);
        break;
      case 8:
        DevQuery(fs);
        break;
      case 9:
        Syncobjs(fs);
        break;
      case 10:
        Core(fs);
        break;
      case 11:
        RandomRequest(fs);
        break;
      case 12:
        if (prng_.Chance(1, 50)) {
          if (files_.size() < 4) {
            OpenFile();
          } else {
            dev_->Close(fs.file);
            fs = files_.back();
            files_.pop_back();
          }
        }
        break;
      case 13:
        SinceDriver13(fs);
        break;
      default:
        BoCreate(fs);
        break;
    }
    ++calls_;
  }

  std::string Check() const { return dev_->CheckInvariants(); }
  uint64_t calls() const { return calls_; }
  Device& device() { return *dev_; }

 private:
  struct FileState {
    File* file;
    std::set<uint32_t> handles;
    std::set<uint32_t> vms;
  };

  void OpenFile() {
    const NodeType node = prng_.Chance(1, 4) ? NodeType::kPrimary : NodeType::kRender;
    files_.push_back(FileState{dev_->Open(node, &mem_), {}, {}});
  }

  // An argument address: usually good, sometimes NULL, unmapped or read-only.
  uint64_t ArgAddress(const void* data, size_t n, bool* good) {
    *good = false;
    switch (prng_.Uniform(40)) {
      case 0:
        return 0;
      case 1:
        return 0xdead'0000 + prng_.Uniform(4096);
      case 2:
        return ro_;  // readable: copy-in works, copy-out faults
      default:
        break;
    }
    *good = true;
    const uint64_t at = mem_.Alloc(n);
    mem_.Write(at, data, n);
    return at;
  }

  template <typename T>
  int Call(FileState& fs, uint32_t req, T* arg, bool* good) {
    const uint64_t at = ArgAddress(arg, sizeof(T), good);
    const int ret = dev_->Ioctl(fs.file, req, at);
    if (*good) {
      mem_.Read(at, arg, sizeof(T));
      mem_.Unmap(at);
    }
    return ret;
  }

  uint32_t SomeHandle(const std::set<uint32_t>& s) {
    if (s.empty() || prng_.Chance(1, 5)) return static_cast<uint32_t>(prng_.Uniform(40));
    auto it = s.begin();
    std::advance(it, prng_.Uniform(s.size()));
    return *it;
  }

  void BoCreate(FileState& fs) {
    static constexpr uint64_t kSizes[] = {0, 1, 4096, 65536, 1 << 20, 3 << 20, 1ULL << 40, ~0ULL};
    static constexpr uint32_t kGrans[] = {0, 0, 4096, 65536, 2 << 20, 3000, 12288, 1u << 31};
    PanthorBoCreate a{};
    a.size = prng_.Chance(1, 4) ? prng_.Uniform(1 << 22) : kSizes[prng_.Uniform(8)];
    a.flags = static_cast<uint32_t>(prng_.Uniform(4));
    if (prng_.Chance(1, 20)) a.flags |= 1u << prng_.Uniform(32);
    a.alloc_on_fault_granularity = kGrans[prng_.Uniform(8)];
    if (prng_.Chance(1, 5)) a.exclusive_vm_id = SomeHandle(fs.vms);
    // What the kernel must answer (panthor_ioctl_bo_create() with the seed).
    int want = 0;
    const bool aof = a.flags & kPanthorBoAllocOnFault;
    const uint32_t g = a.alloc_on_fault_granularity;
    const bool series = HasAllocOnFault(variant_);
    if (a.size == 0 || (a.flags & ~3u)) {
      want = -kEINVAL;
    } else if (!series && (g || a.flags == 3)) {
      // 1.7: bit 1 is WB_MMAP, the granularity a pad, NO_MMAP with WB_MMAP refused.
      want = -kEINVAL;
    } else if (series && aof && (g < 4096 || (g & (g - 1)))) {
      want = -kEINVAL;
    } else if (series && aof && variant_ == Variant::kSeriesFixed && g > a.size) {
      want = -kEINVAL;
    } else if (series && !aof && g) {
      want = -kEINVAL;
    } else if (a.exclusive_vm_id && !fs.vms.count(a.exclusive_vm_id)) {
      want = -kEINVAL;
    } else if (a.size > 0x7fffffffffffffffULL) {
      want = -kEINVAL;
    }
    const uint32_t expect_handle = LowestFree(fs.handles);
    bool good;
    const int ret = Call(fs, kPanthorIoctlBoCreate, &a, &good);
    if (!good) {
      // NULL/unmapped: -EFAULT on copy-in. Read-only: the (zeroed) struct is
      // read, the ioctl runs, and the copy-out faults: a created object
      // exists although userspace never saw its handle.
      ASSERT_EQ(ret, -kEFAULT);
      if (dev_->LookupBo(fs.file, expect_handle)) fs.handles.insert(expect_handle);
      return;
    }
    ASSERT_EQ(ret, want) << "BO_CREATE size=" << a.size << " flags=" << a.flags << " gran=" << g;
    if (ret == 0) {
      ASSERT_EQ(a.handle, expect_handle);
      fs.handles.insert(a.handle);
    }
  }

  // BO_SET_LABEL, SET_USER_MMIO_OFFSET and user MMIO maps (1.4, 1.5), BO_SYNC
  // and BO_QUERY_INFO (1.7: unknown, -EINVAL, on the series' 1.6).
  void SinceDriver13(FileState& fs) {
    bool good;
    const bool v17 = !HasAllocOnFault(variant_);
    switch (prng_.Uniform(5)) {
      case 0: {
        const char label[] = "fuzz";
        PanthorBoSetLabel l{SomeHandle(fs.handles), prng_.Chance(1, 10) ? 1u : 0u,
                            prng_.Chance(1, 4) ? 0x60 : mem_.Alloc(8)};
        if (l.label != 0x60) mem_.Write(l.label, label, sizeof(label));
        const int ret = Call(fs, kPanthorIoctlBoSetLabel, &l, &good);
        if (good) {
          ASSERT_EQ(ret, l.pad                         ? -kEINVAL
                         : !fs.handles.count(l.handle) ? -kENOENT
                         : l.label == 0x60             ? -kEFAULT
                                                       : 0);
        }
        if (l.label != 0x60) mem_.Unmap(l.label);
        break;
      }
      case 1: {
        static constexpr uint64_t kOffsets[] = {kPanthorUserMmioOffset32, kPanthorUserMmioOffset64,
                                                0, 1ULL << 44};
        PanthorSetUserMmioOffset o{kOffsets[prng_.Uniform(4)]};
        const int ret = Call(fs, kPanthorIoctlSetUserMmioOffset, &o, &good);
        if (good) {
          ASSERT_EQ(ret,
                    o.offset == kPanthorUserMmioOffset32 || o.offset == kPanthorUserMmioOffset64
                        ? 0
                        : -kEINVAL);
        }
        break;
      }
      case 2: {
        const uint64_t at = fs.file->user_mmio_offset() + (prng_.Chance(1, 4) ? 4096 : 0);
        const bool shared = !prng_.Chance(1, 4), write = prng_.Chance(1, 4);
        const int ret = dev_->MmapUserMmio(fs.file, at, 4096, shared, write, false);
        ASSERT_EQ(ret, at == fs.file->user_mmio_offset() && shared && !write ? 0 : -kEINVAL);
        break;
      }
      case 3: {
        PanthorBoSyncOp op{SomeHandle(fs.handles), static_cast<uint32_t>(prng_.Uniform(3)),
                           prng_.Uniform(1 << 20), prng_.Uniform(1 << 20)};
        PanthorBoSync bs{{sizeof(op), static_cast<uint32_t>(prng_.Uniform(2)), mem_.Alloc(24)}};
        mem_.Write(bs.ops.array, &op, sizeof(op));
        const int ret = Call(fs, kPanthorIoctlBoSync, &bs, &good);
        if (!v17 && good) {
          ASSERT_EQ(ret, -kEINVAL) << "unknown to a 1.6 driver";
        } else if (good && bs.ops.count == 0) {
          ASSERT_EQ(ret, 0);
        }
        mem_.Unmap(bs.ops.array);
        break;
      }
      default: {
        PanthorBoQueryInfo q{SomeHandle(fs.handles), 0, 0, 0};
        const int ret = Call(fs, kPanthorIoctlBoQueryInfo, &q, &good);
        if (good) {
          ASSERT_EQ(ret, !v17 ? -kEINVAL : fs.handles.count(q.handle) ? 0 : -kENOENT);
        }
        break;
      }
    }
  }

  void GemClose(FileState& fs) {
    DrmGemClose c{SomeHandle(fs.handles), static_cast<uint32_t>(prng_.Uniform(2))};
    bool good;
    const bool known = fs.handles.count(c.handle) > 0;
    const int ret = Call(fs, kDrmIoctlGemClose, &c, &good);
    if (good || ret == 0) {
      ASSERT_EQ(ret, known ? 0 : -kEINVAL);
    }
    if (ret == 0) fs.handles.erase(c.handle);
  }

  void MmapOffset(FileState& fs) {
    PanthorBoMmapOffset m{SomeHandle(fs.handles), prng_.Chance(1, 10) ? 1u : 0u, 0};
    bool good;
    const int ret = Call(fs, kPanthorIoctlBoMmapOffset, &m, &good);
    if (ret == 0 && good) last_offset_ = m.offset;
  }

  void CpuMap(FileState& fs) {
    uint64_t populated;
    const uint64_t len = 4096 * (1 + prng_.Uniform(512));
    const uint64_t off = prng_.Chance(1, 4) ? prng_.Uniform(1ULL << 33) : last_offset_;
    const int ret = dev_->MmapBo(fs.file, off, len, !prng_.Chance(1, 10), &populated);
    ASSERT_TRUE(ret == 0 || ret == -kEINVAL || ret == -kEACCES || ret == -kENOMEM) << ret;
  }

  void VmCreate(FileState& fs) {
    PanthorVmCreate v{};
    if (prng_.Chance(1, 10)) v.flags = 1;
    if (prng_.Chance(1, 3)) v.user_va_range = prng_.Uniform(1ULL << 49);
    const uint64_t max_user = (1ULL << 48) - (256ULL << 20);
    int want = 0;
    if (v.flags || v.user_va_range > max_user) {
      want = -kEINVAL;
    } else if (fs.vms.size() >= kPanthorMaxVmsPerFile) {
      want = -kEBUSY;
    }
    const uint32_t expect_id = LowestFree(fs.vms);
    bool good;
    const int ret = Call(fs, kPanthorIoctlVmCreate, &v, &good);
    if (!good) {
      ASSERT_EQ(ret, -kEFAULT);
      if (dev_->LookupVm(fs.file, expect_id)) fs.vms.insert(expect_id);
      return;
    }
    // A population (a CPU map, a BO_SYNC) may have taken all the memory
    // there is: then the VM's page tables cannot be allocated.
    const bool exhausted = dev_->memory().free_pages() < dev_->memory().watermarks().min_pages + 16;
    if (want == 0 && ret == -kENOMEM && exhausted) return;
    ASSERT_EQ(ret, want) << "VM_CREATE range=" << v.user_va_range;
    if (ret == 0) {
      ASSERT_EQ(v.id, expect_id);
      ASSERT_LE(v.user_va_range, 1ULL << 48);
      fs.vms.insert(v.id);
    }
  }

  void VmDestroy(FileState& fs) {
    PanthorVmDestroy d{SomeHandle(fs.vms), prng_.Chance(1, 10) ? 1u : 0u};
    const bool ok = d.pad == 0 && fs.vms.count(d.id);
    bool good;
    const int ret = Call(fs, kPanthorIoctlVmDestroy, &d, &good);
    if (good) {
      ASSERT_EQ(ret, ok ? 0 : -kEINVAL);
    }
    if (ret == 0) fs.vms.erase(d.id);
  }

  void VmGetState(FileState& fs) {
    PanthorVmGetState s{SomeHandle(fs.vms), 0};
    bool good;
    const int ret = Call(fs, kPanthorIoctlVmGetState, &s, &good);
    if (good) {
      ASSERT_EQ(ret, fs.vms.count(s.vm_id) ? 0 : -kEINVAL);
    }
  }

  void DevQuery(FileState& fs) {
    PanthorDevQuery q{static_cast<uint32_t>(prng_.Uniform(6)),
                      static_cast<uint32_t>(prng_.Uniform(160)), 0};
    switch (prng_.Uniform(4)) {
      case 0:
        break;  // NULL: size negotiation
      case 1:
        q.pointer = mem_.Alloc(256);
        break;
      case 2:
        q.pointer = ro_;
        break;
      default:
        q.pointer = 0xbad000 + prng_.Uniform(64);
        break;
    }
    bool good;
    const int ret = Call(fs, kPanthorIoctlDevQuery, &q, &good);
    ASSERT_TRUE(ret == 0 || ret == -kEINVAL || ret == -kEFAULT) << ret;
  }

  void Syncobjs(FileState& fs) {
    uint32_t handles[3] = {static_cast<uint32_t>(prng_.Uniform(6)),
                           static_cast<uint32_t>(prng_.Uniform(6)), 1};
    const uint64_t hp = prng_.Chance(1, 8) ? 0x40 : mem_.Alloc(16);
    if (hp != 0x40) mem_.Write(hp, handles, sizeof(handles));
    const uint64_t pts = mem_.Alloc(32);
    const uint64_t values[3] = {prng_.Uniform(10), prng_.Uniform(10), 0};
    mem_.Write(pts, values, sizeof(values));
    const uint32_t count = static_cast<uint32_t>(prng_.Uniform(4));
    bool good;
    switch (prng_.Uniform(7)) {
      case 0: {
        DrmSyncobjCreate c{0, static_cast<uint32_t>(prng_.Uniform(3))};
        Call(fs, kDrmIoctlSyncobjCreate, &c, &good);
        break;
      }
      case 1: {
        DrmSyncobjDestroy d{handles[0], static_cast<uint32_t>(prng_.Uniform(2))};
        Call(fs, kDrmIoctlSyncobjDestroy, &d, &good);
        break;
      }
      case 2: {
        DrmSyncobjArray a{hp, count, 0};
        Call(fs, prng_.Chance(1, 2) ? kDrmIoctlSyncobjSignal : kDrmIoctlSyncobjReset, &a, &good);
        break;
      }
      case 3: {
        DrmSyncobjTimelineArray a{hp, pts, count, static_cast<uint32_t>(prng_.Uniform(2))};
        Call(fs, prng_.Chance(1, 2) ? kDrmIoctlSyncobjTimelineSignal : kDrmIoctlSyncobjQuery, &a,
             &good);
        break;
      }
      case 4: {
        DrmSyncobjWait w{hp, 0, count, static_cast<uint32_t>(prng_.Uniform(8)), 0, 0};
        Call(fs, kDrmIoctlSyncobjWait, &w, &good);
        break;
      }
      case 5: {
        DrmSyncobjTimelineWait w{hp, pts, 0, count, static_cast<uint32_t>(prng_.Uniform(8)), 0, 0};
        Call(fs, kDrmIoctlSyncobjTimelineWait, &w, &good);
        break;
      }
      default: {
        DrmSyncobjTransfer x{handles[0], handles[1], values[0], values[1], 0, 0};
        Call(fs, kDrmIoctlSyncobjTransfer, &x, &good);
        break;
      }
    }
    if (hp != 0x40) mem_.Unmap(hp);
    mem_.Unmap(pts);
  }

  void Core(FileState& fs) {
    bool good;
    switch (prng_.Uniform(4)) {
      case 0: {
        DrmVersion v{};
        v.name_len = prng_.Uniform(12);
        v.name = prng_.Chance(1, 3) ? 0x80 : mem_.Alloc(16);
        Call(fs, kDrmIoctlVersion, &v, &good);
        break;
      }
      case 1: {
        DrmGetCap c{prng_.Uniform(0x20), 0};
        Call(fs, kDrmIoctlGetCap, &c, &good);
        break;
      }
      case 2: {
        DrmUnique u{prng_.Uniform(20), prng_.Chance(1, 2) ? mem_.Alloc(32) : 0x90};
        Call(fs, kDrmIoctlGetUnique, &u, &good);
        break;
      }
      default: {
        DrmSetVersion s{
            static_cast<int32_t>(prng_.Uniform(3)) - 1, static_cast<int32_t>(prng_.Uniform(6)) - 1,
            static_cast<int32_t>(prng_.Uniform(3)) - 1, static_cast<int32_t>(prng_.Uniform(6)) - 1};
        Call(fs, kDrmIoctlSetVersion, &s, &good);
        break;
      }
    }
  }

  void RandomRequest(FileState& fs) {
    const uint32_t nr = static_cast<uint32_t>(prng_.Uniform(256));
    const uint32_t size = static_cast<uint32_t>(prng_.Uniform(128));
    const uint32_t dir = static_cast<uint32_t>(prng_.Uniform(4));
    std::vector<char> junk(size);
    for (char& c : junk) c = static_cast<char>(prng_.Next());
    // Never the ioctls whose effects the reference model tracks.
    if (nr == 0x45 || nr == 0x41 || nr == 0x42 || nr == 0x09) return;
    const uint64_t at = size ? mem_.Alloc(size) : 0;
    if (size) mem_.Write(at, junk.data(), size);
    dev_->Ioctl(fs.file, Ioc(dir, 'd', nr, size), at);
    if (size) mem_.Unmap(at);
  }

  Prng prng_;
  Variant variant_;
  SimUserMemory mem_;
  std::unique_ptr<Device> dev_;
  std::vector<FileState> files_;
  uint64_t ro_;
  uint64_t last_offset_ = 0x100000000ULL;
  uint64_t calls_ = 0;
};

TEST(IoctlFuzzTest, RandomIoctlsKeepTheKernelsAnswersAndInvariants) {
  const bool soak = std::string(Tier()) == "soak";
  const uint64_t seeds = soak ? 200 : 20;
  const uint64_t steps = soak ? 50'000 : 5'000;  // 100 k calls fast, 10 M soak
  uint64_t total = 0;
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    Fuzzer fz(seed, kAllVariants[seed % std::size(kAllVariants)]);
    for (uint64_t i = 0; i < steps; ++i) {
      fz.Step();
      if (HasFatalFailure()) {
        ADD_FAILURE() << "seed " << seed << " step " << i;
        return;
      }
      if (i % 1000 == 999) {
        ASSERT_EQ(fz.Check(), "") << "seed " << seed << " step " << i;
      }
    }
    ASSERT_EQ(fz.Check(), "") << "seed " << seed;
    total += fz.calls();
  }
  EXPECT_GE(total, soak ? 10'000'000u : 100'000u);
}

}  // namespace
}  // namespace faultlab::dev
