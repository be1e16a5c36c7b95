// Shared helpers for the core tests: a real timer and handler on this thread.
#pragma once

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ctime>
#include <vector>

#include "core/handler.h"
#include "core/thread_slots.h"
#include "core/timers.h"

namespace core_test {

inline pid_t gettid_raw() { return static_cast<pid_t>(syscall(SYS_gettid)); }

inline double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Installs the real handler, gives this thread a slot and a timer at `hz`;
// the destructor undoes all of it.
class Sampling {
 public:
  explicit Sampling(int hz) {
    profpre::slot_pool_init();
    profpre::handler_prepare_unwinder();
    profpre::handler_install(SIGPROF, &previous_);
    slot_ = profpre::slot_claim(gettid_raw());
    profpre::t_slot = slot_;
    profpre::g_sampling.store(true);
    timer_ = profpre::timer_arm_thread(gettid_raw(), SIGPROF, 1000000000 / hz,
                                       profpre::timer_random());
    // The handler samples only signals from the slot's own timer.
    slot_->timer_id.store(timer_);
  }
  ~Sampling() { stop(); }
  Sampling(const Sampling&) = delete;
  Sampling& operator=(const Sampling&) = delete;

  void stop() {
    if (timer_ < 0) return;
    profpre::timer_disarm(timer_);
    timer_ = -1;
    profpre::g_sampling.store(false);
    profpre::t_slot = nullptr;
  }

  profpre::ThreadSlot* slot() const { return slot_; }
  int timer() const { return timer_; }

  // Copies the ring's records out: each is (weight, pcs).
  struct Record {
    uint32_t weight;
    std::vector<uint64_t> pcs;
  };
  std::vector<Record> records() const {
    std::vector<Record> out;
    uint64_t head = slot_->head.load();
    for (uint64_t pos = slot_->tail.load(); pos < head;) {
      uint64_t header = slot_->ring[pos % profpre::kRingWords];
      Record r{profpre::record_weight(header), {}};
      for (uint32_t i = 0; i < profpre::record_depth(header); ++i) {
        r.pcs.push_back(slot_->ring[(pos + 1 + i) % profpre::kRingWords]);
      }
      pos += 1 + profpre::record_depth(header);
      out.push_back(std::move(r));
    }
    return out;
  }

  void release() {
    stop();
    profpre::slot_release(slot_);
  }

 private:
  struct sigaction previous_ {};
  profpre::ThreadSlot* slot_ = nullptr;
  int timer_ = -1;
};

}  // namespace core_test
