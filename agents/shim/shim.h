// libfaultlab_shim.so: an LD_PRELOAD device (DESIGN "Contracts"; docs/shim.md).
// One Shim per process holds what FAULTLAB_SHIM picked:
//  - emulate (unset or "emulate"): the process sees a panthor device — the
//    twin in this process (emulate.h) behind the fake /dev/dri and sysfs;
//  - passthrough: calls go to a kernel and are recorded (passthrough.h):
//    the real one, the loopback kernel (FAULTLAB_BACKEND=unix:PATH, whose
//    device files are faked too) or a stand-in node (FAULTLAB_DEVICE=PATH).
// The libc entry points (interpose.cc) ask it what a path or a descriptor
// is. Silent unless FAULTLAB_LOG is set, but for what it cannot do.
#ifndef FAULTLAB_AGENTS_SHIM_SHIM_H_
#define FAULTLAB_AGENTS_SHIM_SHIM_H_

#include <memory>

#include "agents/shim/emulate.h"
#include "agents/shim/fake_fs.h"
#include "agents/shim/passthrough.h"

namespace faultlab::shim {

class Shim {
 public:
  // The process's shim (made at first use, never destroyed: descriptors may
  // be used in atexit handlers).
  static Shim& Get();

  Emulator* emulator() { return emulator_.get(); }
  Passthrough* passthrough() { return passthrough_.get(); }
  // The device's files are ours to show (the twin here, or the loopback
  // kernel); nullptr when they are the real ones.
  const FakeFs* fake_fs() const { return fake_fs_.get(); }

  // The end of the program: the traces' last chunks.
  void Finish();

 private:
  Shim();

  std::unique_ptr<Emulator> emulator_;
  std::unique_ptr<Passthrough> passthrough_;
  std::unique_ptr<FakeFs> fake_fs_;
};

}  // namespace faultlab::shim

#endif  // FAULTLAB_AGENTS_SHIM_SHIM_H_
