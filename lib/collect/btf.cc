#include "lib/collect/btf.h"

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace faultlab::collect {
namespace {

// include/uapi/linux/btf.h.
constexpr uint16_t kMagic = 0xeB9F;
enum Kind : uint32_t {
  kInt = 1,
  kPtr,
  kArray,
  kStruct,
  kUnion,
  kEnum,
  kFwd,
  kTypedef,
  kVolatile,
  kConst,
  kRestrict,
  kFunc,
  kFuncProto,
  kVar,
  kDatasec,
  kFloat,
  kDeclTag,
  kTypeTag,
  kEnum64,
};
// A hostile file cannot make us index more types than this.
constexpr size_t kMaxTypes = 1u << 22;

uint32_t U32(const std::string& d, size_t at) {
  uint32_t v;
  std::memcpy(&v, d.data() + at, 4);
  return v;
}

// Bytes of kind-specific data after a type's 12-byte header.
bool TrailingBytes(uint32_t kind, uint32_t vlen, uint64_t* n) {
  switch (kind) {
    case kInt:
    case kVar:
    case kDeclTag:
      *n = 4;
      return true;
    case kPtr:
    case kFwd:
    case kTypedef:
    case kVolatile:
    case kConst:
    case kRestrict:
    case kFunc:
    case kFloat:
    case kTypeTag:
      *n = 0;
      return true;
    case kArray:
      *n = 12;
      return true;
    case kStruct:
    case kUnion:
    case kDatasec:
    case kEnum64:
      *n = 12ULL * vlen;
      return true;
    case kEnum:
    case kFuncProto:
      *n = 8ULL * vlen;
      return true;
    default:
      return false;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Btf>> Btf::Parse(std::string data, std::string what,
                                                const Btf* base) {
  std::unique_ptr<Btf> b(new Btf());
  b->data_ = std::move(data);
  b->what_ = std::move(what);
  b->base_ = base;
  if (base) {
    b->first_id_ = base->type_count();
    b->str_base_ = static_cast<uint32_t>(base->str_len_);
  }
  if (absl::Status s = b->Index(); !s.ok()) return s;
  return b;
}

absl::Status Btf::Index() {
  auto bad = [this](size_t at, const std::string& problem) {
    return absl::InvalidArgumentError(absl::StrCat(what_, ": offset ", at, ": ", problem));
  };
  if (data_.size() < 24) return bad(0, "too short for a BTF header");
  uint16_t magic;
  std::memcpy(&magic, data_.data(), 2);
  if (magic != kMagic) return bad(0, "not BTF (magic is not 0xeb9f; a big-endian file?)");
  const uint32_t hdr_len = U32(data_, 4), type_off = U32(data_, 8), type_len = U32(data_, 12),
                 str_off = U32(data_, 16), str_len = U32(data_, 20);
  const uint64_t types_at = uint64_t{hdr_len} + type_off, strs_at = uint64_t{hdr_len} + str_off;
  if (hdr_len < 24 || types_at + type_len > data_.size() || strs_at + str_len > data_.size())
    return bad(4, "the header's sections lie outside the file");
  str_at_ = strs_at;
  str_len_ = str_len;
  for (uint64_t at = types_at; at < types_at + type_len;) {
    if (at + 12 > types_at + type_len) return bad(at, "a type header runs past the type section");
    if (types_.size() >= kMaxTypes) return bad(at, "more types than any kernel has");
    Type t;
    t.name_off = U32(data_, at);
    const uint32_t info = U32(data_, at + 4);
    t.vlen = info & 0xffff;
    t.kind = (info >> 24) & 0x1f;
    t.kind_flag = info >> 31;
    t.size_or_type = U32(data_, at + 8);
    uint64_t trailing;
    if (!TrailingBytes(t.kind, t.vlen, &trailing))
      return bad(at, absl::StrCat("unknown type kind ", t.kind));
    t.extra = at + 12;
    if (t.extra + trailing > types_at + type_len)
      return bad(at, "a type's members run past the type section");
    types_.push_back(t);
    at = t.extra + trailing;
  }
  return absl::OkStatus();
}

const Btf::Type* Btf::TypeOf(uint32_t id) const {
  if (id < first_id_) return base_ ? base_->TypeOf(id) : nullptr;
  const uint64_t i = uint64_t{id} - first_id_;
  return i < types_.size() ? &types_[i] : nullptr;
}

absl::StatusOr<std::string> Btf::Name(uint32_t off) const {
  if (base_ && off < str_base_) return base_->Name(off);
  const uint64_t at = uint64_t{off} - str_base_;
  if (at >= str_len_)
    return absl::InvalidArgumentError(absl::StrCat(what_, ": a name outside the strings"));
  const char* s = data_.data() + str_at_ + at;
  const size_t n = strnlen(s, str_len_ - at);
  return std::string(s, n);
}

const Btf::Type* Btf::Resolve(uint32_t id) const {
  // A chain of typedefs and qualifiers is short; a loop in a hostile file is not.
  for (int hops = 0; hops < 64; ++hops) {
    const Type* t = TypeOf(id);
    if (t == nullptr) return nullptr;
    if (t->kind != kTypedef && t->kind != kVolatile && t->kind != kConst && t->kind != kRestrict &&
        t->kind != kTypeTag) {
      return t;
    }
    id = t->size_or_type;
  }
  return nullptr;
}

bool Btf::Member(const Type& t, absl::string_view name, uint64_t* bits, uint32_t* type) const {
  // The type's own file holds its members: a base type's are in the base.
  const Btf* owner = this;
  while (owner && !(&t >= owner->types_.data() && &t < owner->types_.data() + owner->types_.size()))
    owner = owner->base_;
  if (owner == nullptr) return false;
  for (uint32_t i = 0; i < t.vlen; ++i) {
    const size_t at = t.extra + 12 * i;
    absl::StatusOr<std::string> n = owner->Name(U32(owner->data_, at));
    if (!n.ok() || *n != name) continue;
    *type = U32(owner->data_, at + 4);
    const uint32_t off = U32(owner->data_, at + 8);
    *bits = t.kind_flag ? (off & 0xffffff) : off;  // kind_flag: bitfield size in the top byte
    return true;
  }
  return false;
}

absl::StatusOr<uint64_t> Btf::MemberOffset(absl::string_view name,
                                           const std::vector<std::string>& path) const {
  const Type* t = nullptr;
  for (const Type& c : types_) {
    if (c.kind != kStruct) continue;
    absl::StatusOr<std::string> n = Name(c.name_off);
    if (n.ok() && *n == name) {
      t = &c;
      break;
    }
  }
  if (t == nullptr) return absl::NotFoundError(absl::StrCat(what_, ": no struct ", name));
  uint64_t bits = 0;
  std::string where(name);
  for (const std::string& m : path) {
    uint64_t b;
    uint32_t type;
    if (t == nullptr || (t->kind != kStruct && t->kind != kUnion) || !Member(*t, m, &b, &type))
      return absl::NotFoundError(absl::StrCat(what_, ": struct ", where, " has no member ", m));
    bits += b;
    absl::StrAppend(&where, ".", m);
    t = Resolve(type);
  }
  if (bits % 8) return absl::NotFoundError(absl::StrCat(what_, ": ", where, " is a bitfield"));
  return bits / 8;
}

absl::StatusOr<FaultOffsets> PanthorFaultOffsets(const Btf& panthor) {
  absl::StatusOr<uint64_t> work = panthor.MemberOffset("panthor_vm", {"fault", "work"});
  absl::StatusOr<uint64_t> status = panthor.MemberOffset("panthor_vm", {"fault", "status"});
  absl::StatusOr<uint64_t> addr = panthor.MemberOffset("panthor_vm", {"fault", "addr"});
  absl::StatusOr<uint64_t> as_id = panthor.MemberOffset("panthor_vm", {"as", "id"});
  for (const absl::StatusOr<uint64_t>* s : {&work, &status, &addr, &as_id}) {
    if (!s->ok()) return s->status();
  }
  const int64_t w = static_cast<int64_t>(*work);
  return FaultOffsets{static_cast<int64_t>(*status) - w, static_cast<int64_t>(*addr) - w,
                      static_cast<int64_t>(*as_id) - w};
}

absl::StatusOr<FaultOffsets> ParseFaultOffsets(absl::string_view text) {
  FaultOffsets o;
  bool seen[3] = {};
  for (absl::string_view kv : absl::StrSplit(text, ',')) {
    const std::vector<absl::string_view> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
    int64_t v = 0;
    const int which = p.size() != 2      ? -1
                      : p[0] == "status" ? 0
                      : p[0] == "addr"   ? 1
                      : p[0] == "as_id"  ? 2
                                         : -1;
    if (which < 0 || !absl::SimpleAtoi(p[1], &v) || v < -65536 || v > 65536) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", kv,
          "': expected status=N,addr=N,as_id=N (byte offsets from the fault work, |N| <= 65536)"));
    }
    (which == 0 ? o.status : which == 1 ? o.addr : o.as_id) = v;
    seen[which] = true;
  }
  if (!seen[0] || !seen[1] || !seen[2])
    return absl::InvalidArgumentError("expected all of status=N,addr=N,as_id=N");
  return o;
}

std::string FormatFaultOffsets(const FaultOffsets& o) {
  return absl::StrCat("status=", o.status, ",addr=", o.addr, ",as_id=", o.as_id);
}

}  // namespace faultlab::collect
