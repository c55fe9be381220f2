#include "agents/shim/shim.h"

#include <stdio.h>

#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "agents/shim/real.h"

namespace faultlab::shim {

bool Logging() {
  static const bool on = std::getenv("FAULTLAB_LOG") != nullptr;
  return on;
}

void Log(const std::string& message) {
  if (Logging()) fprintf(stderr, "faultlab-shim: %s\n", message.c_str());
}

namespace {

// The kernel passthrough talks to, from the environment.
std::unique_ptr<Backend> BackendFromEnv() {
  const char* backend = std::getenv("FAULTLAB_BACKEND");
  const char* node = std::getenv("FAULTLAB_DEVICE");
  if (backend && *backend) {
    if (absl::StartsWith(backend, "unix:"))
      return std::make_unique<Backend>(Backend::Kind::kLoopback, backend + 5);
    fprintf(stderr,
            "faultlab-shim: FAULTLAB_BACKEND=%s: expected unix:PATH; using the real device\n",
            backend);
  } else if (node && *node) {
    return std::make_unique<Backend>(Backend::Kind::kStandIn, node);
  }
  return std::make_unique<Backend>(Backend::Kind::kReal, "");
}

}  // namespace

Shim& Shim::Get() {
  static Shim* s = new Shim();
  return *s;
}

Shim::Shim() {
  const char* m = std::getenv("FAULTLAB_SHIM");
  const std::string mode = m ? m : "";
  if (mode.empty() || mode == "emulate") {
    emulator_ = std::make_unique<Emulator>();
    fake_fs_ = std::make_unique<FakeFs>(
        [this]() -> const profiles::Profile& { return emulator_->profile(); });
    fake_fs_->set_live_text([this](const std::string& name, std::string* out) {
      return emulator_->LiveText(name, out);
    });
  } else if (mode == "passthrough") {
    passthrough_ = std::make_unique<Passthrough>(BackendFromEnv());
    if (passthrough_->backend().kind() == Backend::Kind::kLoopback) {
      fake_fs_ = std::make_unique<FakeFs>(
          [this]() -> const profiles::Profile& { return passthrough_->profile(); });
      fake_fs_->set_live_text([this](const std::string& name, std::string* out) {
        return passthrough_->LiveText(name, out);
      });
    }
  } else {
    fprintf(stderr,
            "faultlab-shim: FAULTLAB_SHIM=%s: expected emulate or passthrough; the shim stays out "
            "of the way\n",
            mode.c_str());
  }
}

void Shim::Finish() {
  if (passthrough_) passthrough_->Finish();
  if (emulator_) emulator_->Finish();
}

namespace {
__attribute__((destructor)) void FinishTraces() { Shim::Get().Finish(); }
}  // namespace

}  // namespace faultlab::shim
