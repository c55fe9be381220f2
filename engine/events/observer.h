// Observer: receives every event the twin produces — ioctls with their in/out
// bytes and user copies, file opens and closes, job accesses, faults with
// outcome and latency, allocation failures, heap grows, oopses, CPU maps,
// markers, state hashes — as trace events stamped with virtual time. The
// recorder and the replay's checker plug in here.
#ifndef FAULTLAB_ENGINE_EVENTS_OBSERVER_H_
#define FAULTLAB_ENGINE_EVENTS_OBSERVER_H_

#include "engine/trace/event.h"

namespace faultlab::events {

class Observer {
 public:
  virtual ~Observer() = default;
  // Byte fields of `e` are valid for the duration of the call.
  virtual void OnEvent(const trace::Event& e) = 0;
};

}  // namespace faultlab::events

#endif  // FAULTLAB_ENGINE_EVENTS_OBSERVER_H_
