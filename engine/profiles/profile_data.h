// The profile files compiled into the binary (engine/profiles/embed.sh).
#ifndef FAULTLAB_ENGINE_PROFILES_PROFILE_DATA_H_
#define FAULTLAB_ENGINE_PROFILES_PROFILE_DATA_H_

#include <vector>

namespace faultlab::profiles {

struct BuiltinProfile {
  const char* file_name;  // e.g. "g610.profile"
  const char* text;
};

const std::vector<BuiltinProfile>& BuiltinProfiles();

}  // namespace faultlab::profiles

#endif  // FAULTLAB_ENGINE_PROFILES_PROFILE_DATA_H_
