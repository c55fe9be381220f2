// Remapper: what-if replay's object identity. A what-if can make a creation
// that succeeded in the recording fail in the replay (a VM whose VA range no
// longer fits, a group the profile cannot host), or hand out other ids. The
// recorded ids in later inputs are rewritten to the replay's, and an input
// naming an object whose creation failed is skipped (the program that made
// the recording would not have issued it) and counted.
//
// Where each ioctl creates and names objects comes from the ioctl table
// (uapi/ioctls.h: `creates`, `consumes`, and the ids inside arrays it points
// at): BO handles, VM ids, group handles, tiler-heap handles, per file. Ids
// the recording never created (a fuzzer's bogus handles) pass through
// unchanged. Syncobjs are not remapped: their creation has no failure the
// twin models.
#ifndef FAULTLAB_ENGINE_REPLAY_REMAP_H_
#define FAULTLAB_ENGINE_REPLAY_REMAP_H_

#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include "engine/trace/event.h"
#include "engine/uapi/ioctls.h"
#include "engine/usermem/sim_user_memory.h"

namespace faultlab::replay {

class Remapper {
 public:
  // Before an ioctl whose argument is `*arg` (to be placed at an address the
  // caller chooses) and whose arrays are already in `mem`: rewrites every
  // recorded id to the replay's. False: a named object's creation failed in
  // the replay; skip the ioctl.
  bool Rewrite(const trace::Ioctl& io, std::string* arg, SimUserMemory& mem);
  // After it ran: `result` and `out` (the argument as the replay left it).
  void Learn(const trace::Ioctl& io, int result, const std::string& out);
  // A job's group. False: the group's creation failed; skip the job.
  bool MapGroup(uint32_t file, uint32_t* group) const {
    return Map(file, uapi::ObjKind::kGroup, group);
  }

  uint64_t remapped() const { return remapped_; }

 private:
  // False when `*id` names a failed creation; else rewrites it (if known).
  bool Map(uint32_t file, uapi::ObjKind kind, uint32_t* id) const;
  bool MapAt(uint32_t file, const uapi::ObjRef& ref, char* bytes, size_t size);
  bool RewriteArrays(uint32_t file, const uapi::Nested& n, const std::string& arg,
                     SimUserMemory& mem);

  // (file, kind, recorded id) -> replayed id; 0: the creation failed.
  std::map<std::tuple<uint32_t, uapi::ObjKind, uint32_t>, uint32_t> ids_;
  mutable uint64_t remapped_ = 0;
};

}  // namespace faultlab::replay

#endif  // FAULTLAB_ENGINE_REPLAY_REMAP_H_
