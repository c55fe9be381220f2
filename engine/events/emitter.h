// Emitter: what the twin says, from every subsystem — trace events stamped
// with the virtual clock for the observer (if any), and the kernel log (the
// lines panthor would print: unhandled faults, fatal command streams).
//
//   Emitter out(&scheduler);
//   out.set_observer(&recorder);
//   trace::Event e;
//   e.kind = trace::EVENT_HEAP_GROW;
//   out.Emit(e);                    // e.virtual_ns = scheduler.now_ns()
//   out.Log("panthor: ...");
#ifndef FAULTLAB_ENGINE_EVENTS_EMITTER_H_
#define FAULTLAB_ENGINE_EVENTS_EMITTER_H_

#include <string>
#include <vector>

#include "engine/events/observer.h"
#include "engine/sim/scheduler.h"
#include "engine/trace/event.h"

namespace faultlab::events {

class Emitter {
 public:
  explicit Emitter(const sim::Scheduler* clock) : clock_(clock) {}

  // nullptr: events go nowhere (the kernel log is kept either way).
  void set_observer(Observer* observer) { observer_ = observer; }
  bool observed() const { return observer_ != nullptr; }

  // Stamps `e` with the virtual time and hands it to the observer.
  void Emit(trace::Event& e) {
    if (observer_ == nullptr) return;
    e.virtual_ns = clock_->now_ns();
    observer_->OnEvent(e);
  }

  // One kernel log message (drm_err()); it may span lines.
  void Log(std::string message) { kernel_log_.push_back(std::move(message)); }
  const std::vector<std::string>& kernel_log() const { return kernel_log_; }

 private:
  const sim::Scheduler* clock_;
  Observer* observer_ = nullptr;
  std::vector<std::string> kernel_log_;
};

}  // namespace faultlab::events

#endif  // FAULTLAB_ENGINE_EVENTS_EMITTER_H_
