// FakeProcessor (tests and benchmarks): performs the calls an executor
// dispatches the way a stack processor does, without a proxy: CompleteCall
// in storage with {"echo": args}, then the result pushed to the executor
// named by the root's reply_to, or a resume notice for an evicted run.
// Calls can be held open (not performed) and released later.
#ifndef TASKER_SERVICES_EXECUTOR_FAKE_PROCESSOR_H_
#define TASKER_SERVICES_EXECUTOR_FAKE_PROCESSOR_H_

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/common/json.h"
#include "services/common/notifier.h"
#include "services/executor/executor.h"
#include "storage/store.h"

namespace tasker::services {

class FakeProcessor : public Notifier {
 public:
  explicit FakeProcessor(storage::Store* store) : Notifier({}, {}, ClientConfig{}), store_(store) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakeProcessor() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  void DispatchCalls(const std::vector<tasker::v1::StackRunRecord>& calls) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& c : calls) queue_.push_back(c);
    cv_.notify_all();
  }

  // Calls are kept (not performed) while held.
  void Hold(bool hold) {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = hold;
    if (!hold) {
      for (auto& c : held_) queue_.push_back(std::move(c));
      held_.clear();
    }
    cv_.notify_all();
  }
  int held() {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(held_.size());
  }
  // How many times each call was performed (reached CompleteCall).
  std::map<std::string, int> performed() {
    std::lock_guard<std::mutex> lock(mu_);
    return performed_;
  }
  int total_performed() {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (const auto& [id, count] : performed_) n += count;
    return n;
  }

  std::function<Executor*(const std::string& reply_to)> route;
  std::atomic<int> delay_ms{0};

 private:
  void Loop() {
    while (true) {
      tasker::v1::StackRunRecord call;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stop_ || (!queue_.empty()); });
        if (stop_) return;
        call = std::move(queue_.front());
        queue_.pop_front();
        if (hold_) {
          held_.push_back(std::move(call));
          continue;
        }
        ++performed_[call.id()];
      }
      if (delay_ms > 0) absl::SleepFor(absl::Milliseconds(delay_ms.load()));
      tasker::v1::CompleteCallRequest complete;
      complete.set_stack_run_id(call.id());
      complete.set_fencing_token(call.fencing_token());
      complete.set_result_json(absl::StrCat(R"({"echo":)", call.args_json().empty() ? "null" : call.args_json(), "}"));
      auto done = store_->CompleteCall(complete);
      if (!done.ok()) continue;  // cancelled / finished run
      Executor* to = route ? route(done->reply_to()) : nullptr;
      if (!done->reply_to().empty() && to) {
        to->Deliver({done->call()});
      } else if (done->parent_ready() && route) {
        if (Executor* any = route("")) any->Enqueue(tasker::v1::WORK_KIND_RESUME_PARENT, done->parent_id());
      }
    }
  }

  storage::Store* store_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<tasker::v1::StackRunRecord> queue_;
  std::vector<tasker::v1::StackRunRecord> held_;
  std::map<std::string, int> performed_;
  bool hold_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace tasker::services

#endif  // TASKER_SERVICES_EXECUTOR_FAKE_PROCESSOR_H_
