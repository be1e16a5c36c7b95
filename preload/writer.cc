// The writer thread and its queue (see writer.h).
#include "preload/writer.h"

#include <pthread.h>
#include <sys/prctl.h>

#include <condition_variable>
#include <deque>
#include <mutex>

#include "core/private_files.h"

namespace profpre {

namespace {

struct WriterState {
  std::mutex mutex;
  std::condition_variable wake;  // a job came
  std::condition_variable idle;  // the queue emptied
  std::deque<WriteJob> queue;
  bool busy = false;
  WriteJobFn write = nullptr;
};

constinit WriterState* g_writer = nullptr;

void* writer_main(void* raw) {
  prctl(PR_SET_NAME, "profpre-write", 0, 0, 0);
  use_private_descriptor_table();
  auto* w = static_cast<WriterState*>(raw);
  std::unique_lock lock(w->mutex);
  for (;;) {
    w->wake.wait(lock, [&] { return !w->queue.empty(); });
    WriteJob job = std::move(w->queue.front());
    w->queue.pop_front();
    w->busy = true;
    lock.unlock();
    w->write(job);
    lock.lock();
    w->busy = false;
    if (w->queue.empty()) w->idle.notify_all();
  }
}

}  // namespace

bool writer_start(WriteJobFn write, CreateThreadFn create) {
  auto* w = new WriterState();
  w->write = write;
  if (!start_own_thread(create, writer_main, w)) {
    delete w;
    return false;
  }
  g_writer = w;
  return true;
}

bool writer_running() { return g_writer != nullptr; }

void writer_submit(WriteJob&& job) {
  WriterState* w = g_writer;
  if (w == nullptr) return;
  std::lock_guard lock(w->mutex);
  w->queue.push_back(std::move(job));
  w->wake.notify_one();
}

void writer_drain() {
  WriterState* w = g_writer;
  if (w == nullptr) return;
  std::unique_lock lock(w->mutex);
  w->idle.wait(lock, [&] { return w->queue.empty() && !w->busy; });
}

void writer_forget_after_fork() { g_writer = nullptr; }

}  // namespace profpre
