// The shim's plumbing: the real libc function behind an interposed one, the
// FAULTLAB_LOG switch, errno returns.
#ifndef FAULTLAB_AGENTS_SHIM_REAL_H_
#define FAULTLAB_AGENTS_SHIM_REAL_H_

#include <dlfcn.h>
#include <errno.h>

#include <string>

namespace faultlab::shim {

template <typename F>
F NextSymbol(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

// Silent unless FAULTLAB_LOG is set (DESIGN "Contracts").
bool Logging();
void Log(const std::string& message);

// -1 with errno = `e`, as libc returns failures.
inline int Errno(int e) {
  errno = e;
  return -1;
}

}  // namespace faultlab::shim

// The real `name` (the next definition after the shim's), as real_<name>.
#define REAL(name) static auto real_##name = ::faultlab::shim::NextSymbol<decltype(&::name)>(#name)

#endif  // FAULTLAB_AGENTS_SHIM_REAL_H_
