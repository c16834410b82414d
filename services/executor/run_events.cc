#include "services/executor/run_events.h"

#include <chrono>

namespace tasker::services {

void RunEvents::Changed(const std::string& run_id, const tasker::v1::TaskRunRecord* final_run) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = watched_.find(run_id);
  if (it == watched_.end()) return;
  ++it->second.version;
  if (final_run) it->second.final_run = std::make_shared<const tasker::v1::TaskRunRecord>(*final_run);
  cv_.notify_all();
}

RunEvents::Watcher::Watcher(RunEvents* events, std::string run_id) : events_(events), run_id_(std::move(run_id)) {
  std::lock_guard<std::mutex> lock(events_->mu_);
  Entry& entry = events_->watched_[run_id_];
  ++entry.watchers;
  seen_ = entry.version;
}

RunEvents::Watcher::~Watcher() {
  std::lock_guard<std::mutex> lock(events_->mu_);
  auto it = events_->watched_.find(run_id_);
  if (it != events_->watched_.end() && --it->second.watchers == 0) events_->watched_.erase(it);
}

bool RunEvents::Watcher::Wait(absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(events_->mu_);
  const Entry& entry = events_->watched_[run_id_];  // exists while this watcher does
  const bool changed = events_->cv_.wait_for(lock, absl::ToChronoMicroseconds(timeout),
                                             [&] { return entry.version != seen_; });
  seen_ = entry.version;
  if (entry.final_run) final_run_ = entry.final_run;
  return changed;
}

}  // namespace tasker::services
