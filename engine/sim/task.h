// Task: a move-only `void()` callable for the scheduler's events. An event
// captures a few pointers and values, so a Task keeps its callable inline
// when it fits (std::function allocates past 16 bytes: one malloc and free
// per event, a tenth of a replay's time before this); larger ones go on
// the heap.
#ifndef FAULTLAB_ENGINE_SIM_TASK_H_
#define FAULTLAB_ENGINE_SIM_TASK_H_

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace faultlab::sim {

class Task {
 public:
  Task() = default;
  template <typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, Task>>>
  Task(F&& f) {  // NOLINT: implicit, as std::function's
    Init(std::forward<F>(f));
  }
  Task(Task&& o) noexcept : ops_(o.ops_) {
    if (ops_) ops_->relocate(buf_, o.buf_);
    o.ops_ = nullptr;
  }
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      Reset();
      ops_ = o.ops_;
      if (ops_) ops_->relocate(buf_, o.buf_);
      o.ops_ = nullptr;
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { Reset(); }

  // Holds `f` from now on, built in place (the scheduler's slots: no
  // temporary Task to move from).
  template <typename F>
  void Assign(F&& f) {
    if constexpr (std::is_same_v<std::decay_t<F>, Task>) {
      *this = std::forward<F>(f);  // a Task moves in (an lvalue one would copy: deleted)
    } else {
      Reset();
      Init(std::forward<F>(f));
    }
  }
  // Destroys the callable (and what it captured).
  void Reset() {
    if (ops_) ops_->destroy(buf_);
    ops_ = nullptr;
  }
  explicit operator bool() const { return ops_ != nullptr; }
  void operator()() { ops_->call(buf_); }

 private:
  template <typename F>
  void Init(F&& f) {
    using Fn = std::decay_t<F>;
    if constexpr (sizeof(Fn) <= kInline && alignof(Fn) <= alignof(std::max_align_t) &&
                  std::is_nothrow_move_constructible_v<Fn>) {
      new (buf_) Fn(std::forward<F>(f));
      ops_ = &kInlineOps<Fn>;
    } else {
      *reinterpret_cast<Fn**>(buf_) = new Fn(std::forward<F>(f));
      ops_ = &kHeapOps<Fn>;
    }
  }

  static constexpr size_t kInline = 48;
  struct Ops {
    void (*call)(void*);
    void (*relocate)(void* dst, void* src);  // move-construct dst, destroy src
    void (*destroy)(void*);
  };
  template <typename Fn>
  static constexpr Ops kInlineOps = {[](void* p) { (*static_cast<Fn*>(p))(); },
                                     [](void* dst, void* src) {
                                       new (dst) Fn(std::move(*static_cast<Fn*>(src)));
                                       static_cast<Fn*>(src)->~Fn();
                                     },
                                     [](void* p) { static_cast<Fn*>(p)->~Fn(); }};
  template <typename Fn>
  static constexpr Ops kHeapOps = {
      [](void* p) { (**static_cast<Fn**>(p))(); },
      [](void* dst, void* src) { *static_cast<Fn**>(dst) = *static_cast<Fn**>(src); },
      [](void* p) { delete *static_cast<Fn**>(p); }};

  alignas(std::max_align_t) unsigned char buf_[kInline];
  const Ops* ops_ = nullptr;
};

}  // namespace faultlab::sim

#endif  // FAULTLAB_ENGINE_SIM_TASK_H_
