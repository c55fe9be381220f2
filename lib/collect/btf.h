// BTF (the kernel's BPF Type Format, Documentation/bpf/btf.rst): enough of
// it to find where a struct's members sit, as the running kernel was built.
// A module's BTF (/sys/kernel/btf/MODULE) is split BTF: its type ids and
// string offsets continue those of the base (/sys/kernel/btf/vmlinux), so
// both are read. Input is untrusted (a file a user points at): every count,
// offset and id is bounds-checked and a bad one is an error naming where.
#ifndef FAULTLAB_LIB_COLLECT_BTF_H_
#define FAULTLAB_LIB_COLLECT_BTF_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace faultlab::collect {

class Btf {
 public:
  // Parses raw BTF bytes (`what` names them in errors); `base` is the BTF
  // a split BTF continues (nullptr for vmlinux's own). `base` must outlive it.
  static absl::StatusOr<std::unique_ptr<Btf>> Parse(std::string data, std::string what,
                                                    const Btf* base = nullptr);

  // The byte offset of `path` (member names, outer first; an anonymous
  // struct's members are named through it as C does: {"fault", "work"})
  // inside the struct named `name`. NOT_FOUND naming what is missing.
  absl::StatusOr<uint64_t> MemberOffset(absl::string_view name,
                                        const std::vector<std::string>& path) const;

  uint32_t type_count() const { return first_id_ + static_cast<uint32_t>(types_.size()); }

 private:
  struct Type {
    uint32_t name_off = 0;
    uint32_t kind = 0;
    uint32_t vlen = 0;
    bool kind_flag = false;
    uint32_t size_or_type = 0;
    size_t extra = 0;  // where its members (or other trailing data) start in data_
  };
  Btf() = default;
  absl::Status Index();
  const Type* TypeOf(uint32_t id) const;
  absl::StatusOr<std::string> Name(uint32_t off) const;
  // A struct/union member's (bit offset, type), or NOT_FOUND.
  bool Member(const Type& t, absl::string_view name, uint64_t* bits, uint32_t* type) const;
  // Through typedefs and qualifiers to the type itself.
  const Type* Resolve(uint32_t id) const;

  std::string data_, what_;
  const Btf* base_ = nullptr;
  uint32_t first_id_ = 1;  // the id of types_[0]
  uint32_t str_base_ = 0;  // string offsets below it are the base's
  size_t str_at_ = 0, str_len_ = 0;
  std::vector<Type> types_;
};

// Where the alloc-on-fault series' fault work finds its VM's fault (seed
// patch: panthor_vm_fault_work(struct work_struct *work), work =
// &vm->fault.work): byte offsets relative to `work`.
struct FaultOffsets {
  int64_t status = 0;  // vm->fault.status (u32)
  int64_t addr = 0;    // vm->fault.addr (u64)
  int64_t as_id = 0;   // vm->as.id (int): before the work, so negative
};

// From the panthor module's BTF (struct panthor_vm), or NOT_FOUND saying
// which member is missing (a kernel without the series has no `fault`).
absl::StatusOr<FaultOffsets> PanthorFaultOffsets(const Btf& panthor);

// `--fault-offsets status=N,addr=N,as_id=N` (signed byte offsets from the
// work argument), or INVALID_ARGUMENT.
absl::StatusOr<FaultOffsets> ParseFaultOffsets(absl::string_view text);
std::string FormatFaultOffsets(const FaultOffsets& o);

}  // namespace faultlab::collect

#endif  // FAULTLAB_LIB_COLLECT_BTF_H_
