// The executor's upkeep, off the hot path: lease renewals of warm runs,
// evictions (memory budget, idle time), periodic checkpoints, lost pushes,
// and the drain on stop.
#include "absl/strings/str_cat.h"
#include "runtime/client/channel.h"
#include "runtime/common/json.h"
#include "runtime/common/log.h"
#include "runtime/common/status.h"
#include "runtime/common/trace.h"
#include "runtime/js/worker_protocol.h"
#include "services/executor/executor.h"
#include "services/executor/warm_run.h"

namespace tasker::services {

namespace v1 = ::tasker::v1;

void Executor::UpkeepLoop() {
  while (!stopping_) {
    Upkeep(false);
    for (int i = 0; i < 10 && !stopping_; ++i) absl::SleepFor(absl::Milliseconds(10));
  }
}

// Renewals have their own thread: evictions and checkpoints (which wait on
// workers and storage) never delay them past the lease.
void Executor::RenewLoop() {
  while (!stopping_) {
    const absl::Time start = absl::Now();
    RenewLeases();
    const absl::Time until = start + config_.renew_interval;
    while (!stopping_ && absl::Now() < until) absl::SleepFor(absl::Milliseconds(10));
  }
}

void Executor::Upkeep(bool force_renew) {
  const absl::Time now = absl::Now();
  if (force_renew) RenewLeases();
  EvictIfNeeded();
  CheckpointIfDue();
  if (check_all_stragglers_.exchange(false)) {
    last_straggler_check_ = now;
    FindStragglers(absl::ZeroDuration());
  } else if (now - last_straggler_check_ >= config_.sweep_interval) {
    last_straggler_check_ = now;
    FindStragglers(config_.straggler_after);
  }
}

void Executor::RenewLeases() {
  std::vector<RunPtr> runs;
  {
    std::lock_guard<std::mutex> lock(runs_mu_);
    for (const auto& [id, run] : runs_) runs.push_back(run);
  }
  if (runs.empty()) return;
  // One transaction renews every warm run's lease.
  v1::RenewLeasesRequest request;
  request.set_owner(config_.owner);
  request.set_lease_ms(absl::ToInt64Milliseconds(config_.lease));
  std::map<std::string, RunPtr> by_id;
  for (const RunPtr& run : runs) {
    auto* lease = request.add_leases();
    lease->set_stack_run_id(run->root_id);
    lease->set_fencing_token(run->token);
    by_id[run->root_id] = run;
    if (request.leases_size() == 10000) break;
  }
  auto renewed = stores_.leases->RenewLeases(request);
  if (!renewed.ok()) {
    LogWarning("lease renewal failed", {{"error", renewed.status().ToString()}});
    if (Transient(renewed.status())) storage_was_down_ = true;
    return;
  }
  if (storage_was_down_.exchange(false)) {
    // Storage is back: results committed just before it went down may not
    // have been pushed (their commit's answer was lost). Looked up by the
    // upkeep thread: renewals must not wait for it.
    LogInfo("storage reachable again; looking up results of waiting runs");
    check_all_stragglers_ = true;
  }
  for (const std::string& id : renewed->lost()) {
    // Cancelled, finished elsewhere, or taken over: it is not ours any more.
    RunPtr run = by_id[id];
    if (!run) continue;
    std::lock_guard<std::mutex> lock(run->mu);
    if (run->gone) continue;
    ScopedLogContext log_context(run->log_context);
    LogInfo("lease lost; run dropped here");
    Forget(run, true);
  }
}

void Executor::EvictIfNeeded() {
  std::vector<RunPtr> runs;
  {
    std::lock_guard<std::mutex> lock(runs_mu_);
    for (const auto& [id, run] : runs_) runs.push_back(run);
  }
  int64_t total = 0;
  for (const RunPtr& run : runs) total += static_cast<int64_t>(run->heap_bytes);
  const absl::Time now = absl::Now();
  // Least recently active first.
  std::sort(runs.begin(), runs.end(), [](const RunPtr& a, const RunPtr& b) { return a->last_active < b->last_active; });
  for (const RunPtr& run : runs) {
    if (stopping_) return;
    const bool over_budget = total > config_.warm_memory_bytes;
    const bool idle = now - run->last_active >= config_.warm_idle;
    if (!over_budget && !idle) continue;
    const int64_t bytes = static_cast<int64_t>(run->heap_bytes);
    if (Evict(run)) total -= bytes;
  }
}

// Admission control: a run is claimed (started or restored) only while the
// warm runs fit the budget. Over it, the claiming thread evicts the least
// recently active warm run first, so that starts go no faster than
// evictions and a burst of submissions cannot grow the workers' isolates
// past the budget (and the process past its memory map limit). Gives up
// after a while when nothing can be evicted (every warm run busy).
void Executor::MakeRoom() {
  const absl::Time give_up = absl::Now() + absl::Seconds(5);
  while (!stopping_ && warm_bytes() >= config_.warm_memory_bytes && absl::Now() < give_up) {
    RunPtr victim;
    {
      std::lock_guard<std::mutex> lock(runs_mu_);
      for (const auto& [id, run] : runs_) {
        if (!run->live || run->scheduled || run->checkpointing) continue;
        if (!victim || run->last_active < victim->last_active) victim = run;
      }
    }
    if (!victim) return;
    if (!Evict(victim)) absl::SleepFor(absl::Milliseconds(5));
  }
}

// Writes a checkpoint of the live run and lets the run go: storage holds it
// (SUSPENDED, or READY when a result is already there) for any executor.
bool Executor::Evict(const RunPtr& run) {
  std::unique_lock<std::mutex> lock(run->mu, std::try_to_lock);
  if (!lock.owns_lock() || run->gone || !run->live || run->scheduled || !run->inbox.empty() ||
      run->checkpointing) {
    return false;  // busy: try again later
  }
  {
    std::lock_guard<std::mutex> mail_lock(run->mail_mu);
    if (!run->mail.empty()) return false;  // results to deliver first
  }
  ScopedLogContext log_context(run->log_context);
  v1::PutCheckpointRequest request;
  request.set_root_stack_run_id(run->root_id);
  request.set_fencing_token(run->token);
  request.set_release(true);
  js::v1::Request checkpoint;
  checkpoint.set_run(run->root_id);
  checkpoint.mutable_checkpoint();
  auto written = CallWorker(run->worker, std::move(checkpoint));
  run->live = false;  // the worker dropped the isolate, checkpointed or not
  if (written.ok() && written->status_code() == 0) {
    *request.mutable_checkpoint() = CheckpointRecord(run->root_id, *written);
    ++counters_.checkpoints;
  } else {
    // Not snapshottable (e.g. a live Intl object): released without one; it
    // is rebuilt by replay from its last checkpoint or from the start.
    LogInfo("evicted without a checkpoint",
            {{"reason", written.ok() ? written->status_message() : written.status().ToString()}});
  }
  for (const auto& s : run->pending_steps) *request.add_steps() = s;
  for (const auto& l : run->pending_logs) *request.add_logs() = l;
  auto released = stores_.steps->PutCheckpoint(request);
  if (!released.ok()) {
    LogWarning("eviction not recorded; the run is left to its lease",
               {{"error", released.status().ToString()}});
    Forget(run, false);
    return true;
  }
  ++counters_.evicted;
  LogInfo("run evicted", {{"checkpoint", request.has_checkpoint() ? "true" : "false"},
                          {"heap_bytes", std::to_string(run->heap_bytes)}});
  Forget(run, false);
  lock.unlock();
  if (released->ready()) Enqueue(v1::WORK_KIND_RESUME_PARENT, run->root_id);
  return true;
}

void Executor::CheckpointIfDue() {
  if (config_.checkpoint_every_steps <= 0 && config_.checkpoint_interval <= absl::ZeroDuration()) return;
  std::vector<RunPtr> due;
  const absl::Time now = absl::Now();
  {
    std::lock_guard<std::mutex> lock(runs_mu_);
    for (const auto& [id, run] : runs_) {
      const int since = run->next_seq - run->checkpoint_step;
      if (run->checkpointing || !run->live || since <= 0) continue;
      if ((config_.checkpoint_every_steps > 0 && since >= config_.checkpoint_every_steps) ||
          (config_.checkpoint_interval > absl::ZeroDuration() && now - run->checkpoint_at >= config_.checkpoint_interval)) {
        due.push_back(run);
      }
    }
  }
  for (const RunPtr& run : due) {
    if (stopping_) return;
    ScopedLogContext log_context(run->log_context);
    absl::Status status = WriteCheckpoint(run);
    if (!status.ok()) {
      LogInfo("checkpoint not written", {{"reason", status.ToString()}});
    } else {
      LogDebug("checkpoint written", {{"step", std::to_string(run->checkpoint_step)}});
    }
  }
}

// A checkpoint without touching the live isolate: the checkpointer worker
// rebuilds the run from storage (last checkpoint + journal, plus the steps
// not committed yet) and snapshots that copy. The run goes on meanwhile.
absl::Status Executor::WriteCheckpoint(const RunPtr& run) {
  std::vector<v1::JournalStep> pending;
  {
    std::lock_guard<std::mutex> lock(run->mu);
    if (run->gone || !run->live || run->checkpointing) return absl::OkStatus();
    run->checkpointing = true;
    pending = run->pending_steps;
  }
  auto done = [&](absl::Status status) {
    std::lock_guard<std::mutex> lock(run->mu);
    run->checkpointing = false;
    run->checkpoint_at = absl::Now();
    return status;
  };
  auto journal = stores_.steps->GetJournal(JournalRequest(run->root_id));
  if (!journal.ok()) return done(journal.status());
  auto code = Code(run->task_identifier, run->task_version);
  if (!code.ok()) return done(code.status());
  js::v1::Request request;
  request.set_run(absl::StrCat(run->root_id, "/checkpoint"));
  auto* op = request.mutable_rebuild();
  FillRebuild(*journal, *code, run->input_json, config_.limits, pending, op);
  op->set_checkpoint_only(true);
  auto written = CallWorker(workers_->workers() - 1, std::move(request));
  if (!written.ok()) return done(written.status());
  if (written->status_code() != 0) {
    return done(absl::Status(static_cast<absl::StatusCode>(written->status_code()), written->status_message()));
  }
  if (written->checkpoint().empty()) {
    return done(absl::FailedPreconditionError(
        absl::StrCat("the checkpointer could not rebuild the run: ", written->step().error_message())));
  }
  std::lock_guard<std::mutex> lock(run->mu);
  run->checkpointing = false;
  run->checkpoint_at = absl::Now();
  if (run->gone) return absl::OkStatus();
  v1::PutCheckpointRequest put;
  put.set_root_stack_run_id(run->root_id);
  put.set_fencing_token(run->token);
  *put.mutable_checkpoint() = CheckpointRecord(run->root_id, *written);
  // The steps not committed yet go with it, so that the journal covers the
  // checkpoint.
  for (const auto& s : run->pending_steps) *put.add_steps() = s;
  for (const auto& l : run->pending_logs) *put.add_logs() = l;
  auto stored = stores_.steps->PutCheckpoint(put);
  if (!stored.ok()) return stored.status();
  run->pending_steps.clear();
  run->pending_logs.clear();
  run->checkpoint_step = written->checkpoint_step();
  ++counters_.checkpoints;
  return absl::OkStatus();
}

// Results whose push was lost: read from storage for runs that have waited
// long on outstanding calls.
void Executor::FindStragglers(absl::Duration after) {
  std::vector<RunPtr> waiting;
  const absl::Time now = absl::Now();
  {
    std::lock_guard<std::mutex> lock(runs_mu_);
    for (const auto& [id, run] : runs_) {
      if (run->live && !run->scheduled && !run->outstanding.empty() && now - run->last_active >= after) {
        waiting.push_back(run);
      }
      if (after > absl::ZeroDuration() && waiting.size() >= 50) break;
    }
  }
  for (const RunPtr& run : waiting) {
    v1::ListStackRunsRequest request;
    request.mutable_filter()->set_parent_id(run->root_id);
    request.mutable_filter()->add_statuses(v1::STACK_RUN_STATUS_COMPLETED);
    request.mutable_filter()->add_statuses(v1::STACK_RUN_STATUS_FAILED);
    request.mutable_page()->set_limit(1000);
    auto calls = stores_.runs->ListStackRuns(request);
    if (!calls.ok()) continue;
    std::vector<v1::StackRunRecord> finished(calls->stack_runs().begin(), calls->stack_runs().end());
    if (Deliver(finished) > 0) {
      LogInfo("results found in storage (a push was lost)", {{"run_id", run->run_id}, {"stack_run_id", run->root_id}});
    }
    std::lock_guard<std::mutex> lock(run->mu);
    run->last_active = now;  // look again only after another straggler_after
  }
}

// Checkpoints and releases every warm run, so that any executor resumes it
// from its checkpoint rather than by a takeover after the lease.
void Executor::Drain() {
  const absl::Time deadline = absl::Now() + config_.drain_timeout;
  int released = 0;
  while (absl::Now() < deadline) {
    std::vector<RunPtr> runs;
    {
      std::lock_guard<std::mutex> lock(runs_mu_);
      for (const auto& [id, run] : runs_) runs.push_back(run);
    }
    if (runs.empty()) break;
    for (const RunPtr& run : runs) {
      if (absl::Now() >= deadline) break;
      if (Evict(run)) ++released;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  if (released > 0) LogInfo("drained", {{"released", std::to_string(released)}, {"left", std::to_string(warm())}});
}

}  // namespace tasker::services
