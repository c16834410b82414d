#include "services/executor/executor.h"

#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "runtime/common/json_text.h"
#include "runtime/client/channel.h"
#include "runtime/common/log.h"
#include "runtime/common/metrics.h"
#include "runtime/common/status.h"
#include "runtime/common/trace.h"
#include "runtime/js/replay.h"
#include "runtime/js/worker_protocol.h"
#include "services/common/timers.h"
#include "services/executor/run_metrics.h"
#include "services/executor/warm_run.h"

namespace tasker::services {

namespace v1 = ::tasker::v1;
using google::protobuf::util::TimeUtil;

namespace {

// Writes that lose a race (lease lost: ABORTED; run cancelled or already
// finished: FAILED_PRECONDITION) are normal: someone else owns the run.
bool LostRace(const absl::Status& status) {
  return status.code() == absl::StatusCode::kAborted || status.code() == absl::StatusCode::kFailedPrecondition;
}

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

// The token of a step's commit (RecordCalls, CompleteRun, FailRun): storage
// answers a retry of an applied commit (its answer was lost) as it answered
// the first, instead of refusing it as a second step.
std::string StepToken(const std::string& run_id, int64_t fencing_token, int64_t seq) {
  return absl::StrCat(run_id, "/", fencing_token, "/", seq);
}

// One step: the time a worker took to start, resume (deliver a result to)
// or rebuild a run until it suspended or ended.
metrics::Histograms& StepSeconds() {
  static auto* histograms = new metrics::Histograms(
      "tasker_step_duration_seconds",
      "Time of one step of a run in its JavaScript worker, by kind (start, deliver, rebuild).", {"kind"});
  return *histograms;
}

uint64_t NewSeed() {
  thread_local absl::BitGen gen;
  return absl::Uniform<uint64_t>(gen);
}

}  // namespace

js::CallResult ResultOf(const v1::StackRunRecord& call) {
  js::CallResult r;
  r.call_id = call.call_id();
  r.ok = call.status() == v1::STACK_RUN_STATUS_COMPLETED;
  if (r.ok) {
    r.result_json = call.result_json().empty() ? "null" : call.result_json();
  } else {
    r.error_message = call.error().message().empty() ? "the call failed" : call.error().message();
    r.error_code = call.error().code();
    r.error_details_json = call.error().details_json();
  }
  return r;
}

bool Finished(const v1::StackRunRecord& call) {
  return call.status() == v1::STACK_RUN_STATUS_COMPLETED || call.status() == v1::STACK_RUN_STATUS_FAILED;
}

void FillRebuild(const v1::Journal& journal, const std::string& code, const std::string& input_json,
                 const js::Limits& limits, const std::vector<v1::JournalStep>& extra_steps, js::v1::RebuildOp* op) {
  op->set_code(code);
  op->set_input_json(input_json);
  *op->mutable_limits() = js::LimitsToProto(limits);
  if (journal.has_checkpoint()) {
    op->set_checkpoint(journal.checkpoint().data());
    op->set_checkpoint_step(journal.checkpoint().step());
  }
  auto add_step = [op](const v1::JournalStep& step) {
    *op->add_steps() =
        js::JournalStepToProto({step.seq(), step.trigger_call_id(), step.clock_ms(), step.random_seed()});
  };
  for (const auto& step : journal.steps()) add_step(step);
  for (const auto& step : extra_steps) {
    if (step.seq() >= journal.steps_size()) add_step(step);  // the others were committed since
  }
  for (const auto& call : journal.calls()) {
    js::JournalCall c;
    c.index = call.call_index();
    c.step = call.step();
    c.call_id = call.call_id();
    c.service = call.service();
    c.method = call.method();
    c.args_json = call.args_json().empty() ? "null" : call.args_json();
    c.done = Finished(call);
    if (c.done) c.result = ResultOf(call);
    *op->add_calls() = js::JournalCallToProto(c);
  }
}

v1::Continuation CheckpointRecord(const std::string& root_id, const js::v1::Response& written) {
  v1::Continuation c;
  c.set_stack_run_id(root_id);
  c.set_data(written.checkpoint());
  c.set_format_version(1);
  c.set_v8_version(js::V8Version());
  c.set_raw_size(written.checkpoint_raw_bytes());
  c.set_step(written.checkpoint_step());
  return c;
}

namespace {

// A payload the task produced (its result, a call's args) too large to be
// stored fails the run: it would fail the same way every time. (Its JSON is
// JSON.stringify's; storage validates it, and a refusal fails the run too.)
absl::Status CheckTaskPayload(const std::string& json, absl::string_view what) {
  if (json.size() <= kMaxPayloadBytes) return absl::OkStatus();
  return absl::OutOfRangeError(absl::StrCat(what, " is ", json.size(), " bytes of JSON, above the limit of ",
                                            kMaxPayloadBytes, " bytes (16 MiB)"));
}

v1::ErrorInfo PayloadError(const absl::Status& status) {
  v1::ErrorInfo error;
  error.set_code("PAYLOAD_TOO_LARGE");
  error.set_message(std::string(status.message()));
  return error;
}

}  // namespace

Executor::Executor(ExecutorStores stores, js::WorkerHost* workers, Notifier* notifier, ExecutorConfig config)
    : stores_(stores),
      workers_(workers),
      notifier_(notifier),
      config_(std::move(config)),
      claimers_(
          &queue_, config_.threads, [this](const WorkItem& item) { return Process(item.kind, item.id); },
          config_.sweep_interval, [this] { Sweep(); }) {}

Executor::~Executor() { Stop(); }

void Executor::Start() {
  if (started_.exchange(true)) return;
  {
    // Read at each scrape: nothing on the hot path.
    using metrics::ScrapedValue;
    using Labels = std::map<std::string, std::string>;
    auto counter = [this](const char* name, const char* help, const std::atomic<int64_t>* value) {
      scraped_.push_back(std::make_unique<ScrapedValue>(name, help, ScrapedValue::Type::kCounter, Labels{},
                                                        [value] { return static_cast<double>(value->load()); }));
    };
    counter("tasker_executor_runs_started_total", "Runs started from their beginning here.", &counters_.started);
    counter("tasker_executor_runs_resumed_total", "Runs rebuilt here from storage (a checkpoint and the journal).",
            &counters_.resumed);
    counter("tasker_executor_suspensions_total", "Steps that ended waiting on new host calls.", &counters_.suspended);
    counter("tasker_executor_evictions_total", "Warm runs evicted (checkpointed when possible, released).",
            &counters_.evicted);
    counter("tasker_executor_checkpoints_total", "Checkpoints written (on eviction and periodically).",
            &counters_.checkpoints);
    counter("tasker_executor_results_delivered_total", "Call results delivered into warm runs.", &counters_.delivered);
    scraped_.push_back(std::make_unique<ScrapedValue>(
        "tasker_worker_restarts_total", "JavaScript worker processes that died or were killed and were replaced.",
        ScrapedValue::Type::kCounter, Labels{}, [this] { return workers_->crashes(); }));
    scraped_.push_back(std::make_unique<ScrapedValue>("tasker_executor_warm_runs", "Runs held warm here.",
                                                      ScrapedValue::Type::kGauge, Labels{}, [this] { return warm(); }));
    scraped_.push_back(std::make_unique<ScrapedValue>(
        "tasker_executor_warm_bytes", "Isolate heap of the warm runs, bytes.", ScrapedValue::Type::kGauge, Labels{},
        [this] { return static_cast<double>(warm_bytes()); }));
    scraped_.push_back(std::make_unique<ScrapedValue>(
        "tasker_work_queue_depth", "Items waiting in a work queue of this process.", ScrapedValue::Type::kGauge,
        Labels{{"queue", "executor_claims"}}, [this] { return queue_.size(); }));
    scraped_.push_back(std::make_unique<ScrapedValue>(
        "tasker_work_queue_depth", "Items waiting in a work queue of this process.", ScrapedValue::Type::kGauge,
        Labels{{"queue", "executor_deliveries"}}, [this] {
          std::lock_guard<std::mutex> lock(ready_mu_);
          return ready_.size();
        }));
  }
  claimers_.Start();
  for (int i = 0; i < config_.delivery_threads; ++i) delivery_threads_.emplace_back([this] { DeliveryLoop(); });
  upkeep_thread_ = std::thread([this] { UpkeepLoop(); });
  renew_thread_ = std::thread([this] { RenewLoop(); });
}

void Executor::Stop() {
  if (!started_.load() || stopping_.exchange(true)) return;
  claimers_.Stop();
  Drain();
  {
    std::lock_guard<std::mutex> lock(ready_mu_);
    ready_cv_.notify_all();
  }
  for (auto& t : delivery_threads_) t.join();
  delivery_threads_.clear();
  if (upkeep_thread_.joinable()) upkeep_thread_.join();
  if (renew_thread_.joinable()) renew_thread_.join();
}

bool Executor::Enqueue(int kind, const std::string& id) { return queue_.Push({kind, id}); }

int Executor::warm() const {
  std::lock_guard<std::mutex> lock(runs_mu_);
  return static_cast<int>(runs_.size());
}

bool Executor::IsWarm(const std::string& run_id) const {
  std::lock_guard<std::mutex> lock(runs_mu_);
  return warm_run_ids_.count(run_id) > 0;
}

int64_t Executor::warm_bytes() const {
  std::vector<RunPtr> runs;
  {
    std::lock_guard<std::mutex> lock(runs_mu_);
    for (const auto& [id, run] : runs_) runs.push_back(run);
  }
  int64_t total = 0;
  for (const auto& run : runs) total += static_cast<int64_t>(run->heap_bytes);
  return total;
}

void Executor::Sweep() {
  // Claims by kind without an id find work whose notification was lost or
  // whose lease expired (a dead executor's runs); each is processed here.
  // It runs however busy the claim threads are (admission control bounds
  // what it takes on): a takeover must not wait for them.
  for (int kind : {v1::WORK_KIND_RESUME_PARENT, v1::WORK_KIND_EXECUTE_ROOT}) {
    for (int i = 0; i < 100 && !claimers_.stopping(); ++i) {
      absl::Status status = Process(kind, "");
      if (!status.ok()) break;  // NOT_FOUND: nothing ready
    }
  }
}

absl::StatusOr<std::shared_ptr<const v1::TaskFunction>> Executor::Function(const std::string& identifier,
                                                                              int64_t version) {
  {
    std::lock_guard<std::mutex> lock(code_mu_);
    auto it = code_cache_.find({identifier, version});
    if (it != code_cache_.end()) return it->second;
  }
  v1::GetFunctionRequest request;
  request.set_identifier(identifier);
  request.set_version(version);
  ASSIGN_OR_RETURN(auto function, stores_.functions->GetTaskFunction(request));
  auto shared = std::make_shared<const v1::TaskFunction>(std::move(function));
  std::lock_guard<std::mutex> lock(code_mu_);
  if (static_cast<int>(code_cache_.size()) >= config_.code_cache_entries) code_cache_.erase(code_cache_.begin());
  code_cache_[{identifier, version}] = shared;
  return shared;
}

absl::StatusOr<std::string> Executor::Code(const std::string& identifier, int64_t version) {
  ASSIGN_OR_RETURN(auto function, Function(identifier, version));
  return function->code();
}

int Executor::PickWorker() {
  // The live workers are all but the last (the checkpointer); the one with
  // the fewest runs gets the next.
  const int live = std::max(1, workers_->workers() - 1);
  std::vector<int> load(live, 0);
  {
    std::lock_guard<std::mutex> lock(runs_mu_);
    for (const auto& [id, run] : runs_) {
      if (run->worker >= 0 && run->worker < live) ++load[run->worker];
    }
  }
  int best = 0;
  for (int i = 1; i < live; ++i) {
    if (load[i] < load[best]) best = i;
  }
  return best;
}

absl::StatusOr<js::v1::Response> Executor::CallWorker(int worker, js::v1::Request request) {
  return workers_->Call(worker, std::move(request), config_.limits.step_cpu * 3 + config_.worker_grace);
}

absl::Status Executor::CheckSyntax(const std::string& code) {
  js::WorkerHost* checker = nullptr;
  {
    std::lock_guard<std::mutex> lock(syntax_mu_);
    if (!syntax_checker_) {
      js::WorkerHostOptions options = workers_->options();
      options.workers = 1;
      options.extra_args.push_back("--spare_isolates=0");
      ASSIGN_OR_RETURN(syntax_checker_, js::WorkerHost::Create(options));
    }
    checker = syntax_checker_.get();
  }
  js::v1::Request request;
  request.mutable_check_syntax()->set_code(code);
  absl::StatusOr<js::v1::Response> response;
  for (int attempt = 0; attempt < 2; ++attempt) {  // once more: the worker may have died of something else
    response = checker->Call(0, request, config_.syntax_check_timeout);
    if (response.ok() || response.status().code() != absl::StatusCode::kUnavailable) break;
  }
  if (!response.ok()) {
    if (response.status().code() != absl::StatusCode::kUnavailable) return response.status();
    return absl::InvalidArgumentError(
        absl::StrCat("code: could not be checked: the syntax check ended its JavaScript worker (",
                     response.status().message(), ")"));
  }
  if (response->status_code() != 0) {
    return absl::Status(static_cast<absl::StatusCode>(response->status_code()), response->status_message());
  }
  return absl::OkStatus();
}

bool Executor::CrashedTooOften(const RunPtr& run, const absl::Status& crash) {
  int crashes = 0;
  {
    std::lock_guard<std::mutex> lock(crashes_mu_);
    crashes = ++crashes_[run->root_id];
    if (crashes > config_.worker_crash_retries) crashes_.erase(run->root_id);
  }
  LogWarning("a JavaScript worker died running a step",
             {{"crashes", std::to_string(crashes)}, {"error", crash.ToString()}});
  if (crashes <= config_.worker_crash_retries) return false;
  v1::ErrorInfo error;
  error.set_code(js::FailureKindName(js::FailureKind::kRuntimeCrash));
  error.set_message(absl::StrCat("the JavaScript worker running this task crashed ", crashes, " times (",
                                 crashes - 1, " retries on a fresh worker); the last time: ", crash.message()));
  (void)RecordFailure(run, std::move(error));
  Forget(run, false);
  return true;
}

absl::Status Executor::Process(int kind, const std::string& id) {
  if (!id.empty()) {
    std::lock_guard<std::mutex> lock(runs_mu_);
    if (runs_.count(id)) return absl::OkStatus();  // already warm here
  }
  MakeRoom();
  v1::ClaimWorkRequest claim_request;
  claim_request.set_kind(static_cast<v1::WorkKind>(kind));
  claim_request.set_owner(config_.owner);
  claim_request.set_lease_ms(absl::ToInt64Milliseconds(config_.lease));
  claim_request.set_stack_run_id(id);
  claim_request.set_reply_to(config_.reply_to);
  ASSIGN_OR_RETURN(auto claim, stores_.leases->ClaimWork(claim_request));
  if (!claim.has_stack_run()) return absl::NotFoundError("nothing to claim");
  WorkerThreads::InFlight in_flight(&counters_.in_flight);
  const v1::StackRunRecord& root = claim.stack_run();
  auto run = std::make_shared<WarmRun>();
  run->root_id = root.id();
  run->run_id = claim.task_run().id();
  run->task_identifier = claim.task_run().task_identifier();
  run->task_version = claim.task_run().task_version();
  run->input_json = claim.task_run().input_json().empty() ? "null" : claim.task_run().input_json();
  run->token = claim.lease().fencing_token();
  // This run's ids (and trace) on every log line and outgoing call below.
  run->log_context = RunLogContext(run->run_id, run->root_id);
  ScopedLogContext log_context(run->log_context);
  {
    std::lock_guard<std::mutex> lock(runs_mu_);
    if (runs_.count(run->root_id)) {
      // Claimed again while warm here (a lease lapse): the old incarnation
      // is stale now.
      runs_[run->root_id]->gone = true;
    } else {
      ++warm_run_ids_[run->run_id];
    }
    runs_[run->root_id] = run;
  }
  std::lock_guard<std::mutex> lock(run->mu);
  absl::Status status = root.suspension() == 0 ? StartRun(run) : RebuildRun(run);
  if (!status.ok()) {
    LogWarning("run not started", {{"error", status.ToString()}});
    Forget(run, true);
  }
  return absl::OkStatus();
}

absl::Status Executor::StartRun(RunPtr run) {
  ASSIGN_OR_RETURN(std::string code, Code(run->task_identifier, run->task_version));
  ++counters_.started;
  run->worker = PickWorker();
  const int64_t clock = NowMs();
  const uint64_t seed = NewSeed();
  js::v1::Request request;
  request.set_run(run->root_id);
  auto* start = request.mutable_start();
  start->set_code(code);
  start->set_input_json(run->input_json);
  *start->mutable_limits() = js::LimitsToProto(config_.limits);
  start->set_clock_ms(clock);
  start->set_random_seed(seed);
  LogInfo("run started", {{"task", run->task_identifier},
                          {"version", std::to_string(run->task_version)},
                          {"worker", std::to_string(run->worker)}});
  const absl::Time step_start = absl::Now();
  auto started = CallWorker(run->worker, std::move(request));
  StepSeconds().With({"start"}).Observe(metrics::SecondsSince(step_start));
  if (!started.ok() && started.status().code() == absl::StatusCode::kUnavailable) {
    // The worker died (maybe of this task): again on a fresh one, a bounded number of times.
    if (CrashedTooOften(run, started.status())) return absl::OkStatus();
    return RebuildRun(run);
  }
  ASSIGN_OR_RETURN(auto response, std::move(started));
  if (response.status_code() != 0) {
    // The runtime refused its input (a bug, not the task's fault): fail the run.
    v1::ErrorInfo error;
    error.set_code("RUNTIME");
    error.set_message(response.status_message());
    (void)RecordFailure(run, std::move(error));
    return absl::OkStatus();
  }
  run->live = true;
  run->next_seq = 0;
  HandleStep(run, js::StepFromProto(response.step()), "", clock, seed);
  return absl::OkStatus();
}

// Rebuilds a run from storage (its checkpoint and journal) on a live worker:
// a claimed run that is not live here, or one whose worker died.
absl::Status Executor::RebuildRun(RunPtr run) {
  ASSIGN_OR_RETURN(auto journal, stores_.steps->GetJournal(JournalRequest(run->root_id)));
  if (journal.steps_size() == 0) {
    if (journal.calls_size() > 0 || journal.has_checkpoint()) {
      // Suspended by a Tasker before warm runs: there is no journal to
      // replay it from.
      v1::ErrorInfo error;
      error.set_code("VERSION_MISMATCH");
      error.set_message(
          "the run was suspended by a Tasker version without a run journal and cannot be resumed; submit it again");
      (void)RecordFailure(run, std::move(error));
      Forget(run, false);
      return absl::OkStatus();
    }
    return StartRun(run);  // it never got to its first call
  }
  ASSIGN_OR_RETURN(std::string code, Code(run->task_identifier, run->task_version));
  ++counters_.resumed;
  run->worker = PickWorker();
  run->live = false;
  js::v1::Request request;
  request.set_run(run->root_id);
  FillRebuild(journal, code, run->input_json, config_.limits, {}, request.mutable_rebuild());
  std::set<std::string> delivered;
  for (const auto& step : journal.steps()) {
    if (!step.trigger_call_id().empty()) delivered.insert(step.trigger_call_id());
  }
  const absl::Time step_start = absl::Now();
  auto rebuilt = CallWorker(run->worker, std::move(request));
  StepSeconds().With({"rebuild"}).Observe(metrics::SecondsSince(step_start));
  if (!rebuilt.ok() && rebuilt.status().code() == absl::StatusCode::kUnavailable) {
    if (CrashedTooOften(run, rebuilt.status())) return absl::OkStatus();
    return RebuildRun(run);
  }
  ASSIGN_OR_RETURN(auto response, std::move(rebuilt));
  if (response.status_code() != 0) {
    return absl::Status(static_cast<absl::StatusCode>(response.status_code()), response.status_message());
  }
  const js::Outcome outcome = js::StepFromProto(response.step());
  if (outcome.kind == js::Outcome::Kind::kFailed) {
    v1::ErrorInfo error;
    error.set_code(js::FailureKindName(outcome.failure));
    error.set_message(outcome.error_message);
    error.set_stack(outcome.error_stack);
    (void)RecordFailure(run, std::move(error));
    LogWarning("run rebuild failed", {{"error", outcome.error_message}});
    Forget(run, false);
    return absl::OkStatus();
  }
  ++counters_.rebuilt;
  if (response.from_checkpoint()) RecordRebuild(response.restore_ms());
  LogInfo("run resumed", {{"task", run->task_identifier},
                          {"from_checkpoint", response.from_checkpoint() ? "true" : "false"},
                          {"steps_replayed", std::to_string(journal.steps_size())},
                          {"worker", std::to_string(run->worker)}});
  if (!response.checkpoint_note().empty()) {
    LogInfo("checkpoint not used; rebuilt by replay",
            {{"reason", response.checkpoint_note()}});
  }
  run->live = true;
  run->next_seq = journal.steps_size();
  run->pending_steps.clear();
  run->pending_logs.clear();
  run->inbox.clear();
  run->outstanding.clear();
  run->heap_bytes = static_cast<size_t>(response.step().heap_bytes());
  run->checkpoint_step = journal.has_checkpoint() ? journal.checkpoint().step() : 0;
  run->checkpoint_at = absl::Now();
  run->last_active = absl::Now();
  for (const auto& call : journal.calls()) {
    if (delivered.count(call.call_id())) continue;
    run->outstanding.insert(call.call_id());
    // Results that arrived but the task has not seen yet are delivered
    // live, as new steps, in call order.
    if (Finished(call)) run->inbox.push_back(ResultOf(call));
  }
  if (!run->inbox.empty()) Schedule(run);
  return absl::OkStatus();
}

void Executor::HandleStep(const RunPtr& run, const js::Outcome& outcome, const std::string& trigger,
                          int64_t clock_ms, uint64_t seed) {
  run->last_active = absl::Now();
  run->heap_bytes = outcome.stats.heap_bytes;
  v1::JournalStep step;
  step.set_seq(run->next_seq++);
  step.set_trigger_call_id(trigger);
  step.set_clock_ms(clock_ms);
  step.set_random_seed(seed);
  run->pending_steps.push_back(step);
  for (const auto& line : outcome.logs) {
    auto& entry = run->pending_logs.emplace_back();
    *entry.mutable_time() = TimeUtil::MillisecondsToTimestamp(static_cast<int64_t>(line.time_ms));
    entry.set_level(line.level);
    entry.set_message(line.message);
  }
  if (outcome.logs_truncated) {
    auto& entry = run->pending_logs.emplace_back();
    entry.set_level("warn");
    entry.set_message("[tasker] log output of this step was truncated");
  }

  absl::Status recorded;
  switch (outcome.kind) {
    case js::Outcome::Kind::kCompleted:
    case js::Outcome::Kind::kFailed: {
      if (!run->pending_logs.empty()) {
        v1::AppendRunLogsRequest logs;
        logs.set_task_run_id(run->run_id);
        logs.set_root_stack_run_id(run->root_id);
        logs.set_fencing_token(run->token);
        for (auto& entry : run->pending_logs) *logs.add_logs() = std::move(entry);
        (void)stores_.steps->AppendRunLogs(logs);
        run->pending_logs.clear();
      }
      if (outcome.kind == js::Outcome::Kind::kCompleted) {
        v1::CompleteRunRequest complete;
        complete.set_root_stack_run_id(run->root_id);
        complete.set_fencing_token(run->token);
        complete.set_step_token(StepToken(run->run_id, run->token, step.seq()));
        if (absl::Status valid = CheckTaskPayload(outcome.result_json, "the run's result"); !valid.ok()) {
          recorded = RecordFailure(run, PayloadError(valid));
          Forget(run, false);
          break;
        }
        complete.set_result_json(outcome.result_json);
        auto completed = WhileUnreachable([&] { return stores_.steps->CompleteRun(complete); });
        recorded = completed.status();
        if (recorded.ok()) {
          ++counters_.completed;
          RunsByStatus().With({"completed"}).Increment();
          LogInfo("run completed", {{"steps", std::to_string(step.seq() + 1)}});
          events_.Changed(run->run_id, &*completed);
        }
      } else {
        v1::ErrorInfo error;
        error.set_code(js::FailureKindName(outcome.failure));
        error.set_message(outcome.error_name.empty() || outcome.failure != js::FailureKind::kTaskError
                              ? outcome.error_message
                              : absl::StrCat(outcome.error_name, ": ", outcome.error_message));
        error.set_stack(outcome.error_stack);
        recorded = RecordFailure(run, std::move(error));
      }
      // The worker dropped the finished isolate itself.
      Forget(run, false);
      {
        std::lock_guard<std::mutex> lock(crashes_mu_);
        crashes_.erase(run->root_id);
      }
      break;
    }
    case js::Outcome::Kind::kSuspended: {
      if (outcome.calls.empty()) return;  // waiting on earlier calls: nothing to commit yet
      v1::RecordCallsRequest record;
      record.set_root_stack_run_id(run->root_id);
      record.set_fencing_token(run->token);
      record.set_step_token(StepToken(run->run_id, run->token, step.seq()));
      for (const auto& s : run->pending_steps) *record.add_steps() = s;
      for (const auto& l : run->pending_logs) *record.add_logs() = l;
      for (const auto& call : outcome.calls) {
        auto* c = record.add_calls();
        c->set_call_id(call.call_id);
        c->set_service(call.service);
        c->set_method(call.method);
        c->set_index(call.index);
        c->set_step(step.seq());
        if (absl::Status valid = CheckTaskPayload(
                call.args_json, absl::StrCat("the args of call ", call.index, " (", call.service, " ", call.method, ")"));
            !valid.ok()) {
          recorded = RecordFailure(run, PayloadError(valid));
          break;
        }
        c->set_args_json(call.args_json);
        if (call.service == kTimerService) {
          // setTimeout: recorded to fire when due; a malformed one is
          // performed at once and fails with the reason.
          if (auto delay = TimerDelayMs(call.method, call.args_json); delay.ok()) c->set_delay_ms(*delay);
        }
      }
      if (!recorded.ok() || record.calls_size() < static_cast<int>(outcome.calls.size())) {
        Forget(run, true);
        if (recorded.ok()) return;
        break;
      }
      record.set_dispatch_owner(absl::StrCat("dispatch/", config_.owner));
      record.set_dispatch_lease_ms(absl::ToInt64Milliseconds(config_.dispatch_lease));
      // The calls must be durable before anyone performs them: a store that
      // is down is waited for, as long as the lease lasts. A try whose answer
      // was lost but which was committed is answered again by its step token.
      absl::StatusOr<v1::RecordCallsResponse> recorded_calls;
      const absl::Time give_up = absl::Now() + config_.lease;
      absl::Duration backoff = absl::Milliseconds(20);
      while (true) {
        recorded_calls = stores_.steps->RecordCalls(record);
        if (recorded_calls.ok() || LostRace(recorded_calls.status()) ||
            recorded_calls.status().code() == absl::StatusCode::kInvalidArgument || absl::Now() > give_up ||
            stopping_) {
          break;
        }
        absl::SleepFor(backoff);
        backoff = std::min(backoff * 2, absl::Seconds(1));
      }
      recorded = recorded_calls.status();
      if (!recorded.ok()) break;
      ++counters_.suspended;
      if (LogEnabled(LogLevel::kDebug)) {
        // Which calls it waits on (the first few: a step may start thousands).
        std::string waiting;
        for (size_t i = 0; i < outcome.calls.size() && i < 5; ++i) {
          absl::StrAppend(&waiting, i ? "," : "", outcome.calls[i].service, ".", outcome.calls[i].method);
        }
        if (outcome.calls.size() > 5) absl::StrAppend(&waiting, ",...");
        // Debug: a line per step (and so per host call) at info would flood.
        LogDebug("run suspended on calls", {{"calls", waiting},
                                           {"count", std::to_string(outcome.calls.size())},
                                           {"step", std::to_string(step.seq())}});
      }
      run->pending_steps.clear();
      run->pending_logs.clear();
      std::vector<v1::StackRunRecord> calls(recorded_calls->calls().begin(), recorded_calls->calls().end());
      // Whom the calls are for: this run's function version and its grants.
      auto function = Function(run->task_identifier, run->task_version);
      for (auto& call : calls) {
        run->outstanding.insert(call.call_id());
        auto* caller = call.mutable_caller();
        caller->set_task_run_id(call.task_run_id());
        caller->set_task_identifier(run->task_identifier);
        caller->set_task_version(run->task_version);
        if (function.ok()) *caller->mutable_permissions() = (*function)->permissions();
      }
      // Without the grants, a processor would refuse the calls as undeclared:
      // they are left to their dispatch lease instead, and a processor's claim
      // then reads the grants from storage.
      if (function.ok()) notifier_->DispatchCalls(calls);
      return;
    }
  }
  if (recorded.ok()) return;
  if (recorded.code() == absl::StatusCode::kInvalidArgument) {
    // Storage refused what the step produced: retrying cannot help.
    v1::ErrorInfo error;
    error.set_code("INVALID_PAYLOAD");
    error.set_message(absl::StrCat("the step's output was refused: ", recorded.message()));
    if (RecordFailure(run, std::move(error)).ok()) {
      Forget(run, true);
      return;
    }
  }
  if (LostRace(recorded)) {
    LogInfo("step result dropped", {{"reason", recorded.ToString()}});
  } else {
    LogWarning("step not recorded; the run is left to its lease",
               {{"error", recorded.ToString()}});
  }
  Forget(run, true);
}

template <typename Fn>
auto Executor::WhileUnreachable(Fn fn) -> decltype(fn()) {
  const absl::Time give_up = absl::Now() + config_.lease;
  absl::Duration backoff = absl::Milliseconds(20);
  while (true) {
    auto result = fn();
    if (result.ok() || !Transient(result.status()) || absl::Now() + backoff > give_up || stopping_) return result;
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Milliseconds(500));
  }
}

absl::Status Executor::RecordFailure(const RunPtr& run, v1::ErrorInfo error) {
  v1::FailRunRequest fail;
  fail.set_root_stack_run_id(run->root_id);
  fail.set_fencing_token(run->token);
  fail.set_step_token(StepToken(run->run_id, run->token, run->next_seq - 1));
  *fail.mutable_error() = std::move(error);
  auto failed = WhileUnreachable([&] { return stores_.steps->FailRun(fail); });
  if (!failed.ok()) return failed.status();
  ++counters_.failed;
  RunsByStatus().With({"failed"}).Increment();
  LogInfo("run failed", {{"error_code", fail.error().code()}});
  events_.Changed(run->run_id, &*failed);
  return absl::OkStatus();
}

void Executor::Forget(const RunPtr& run, bool drop_isolate) {
  run->gone = true;
  if (drop_isolate && run->live && run->worker >= 0) {
    js::v1::Request drop;
    drop.set_run(run->root_id);
    drop.mutable_drop();
    (void)CallWorker(run->worker, std::move(drop));
  }
  run->live = false;
  std::lock_guard<std::mutex> lock(runs_mu_);
  auto it = runs_.find(run->root_id);
  if (it != runs_.end() && it->second == run) {
    runs_.erase(it);
    auto id = warm_run_ids_.find(run->run_id);
    if (id != warm_run_ids_.end() && --id->second <= 0) warm_run_ids_.erase(id);
  }
}

int Executor::Deliver(const std::vector<v1::StackRunRecord>& calls) {
  int accepted = 0;
  for (const auto& call : calls) {
    if (!Finished(call)) continue;
    RunPtr run;
    {
      std::lock_guard<std::mutex> lock(runs_mu_);
      auto it = runs_.find(call.parent_id());
      if (it == runs_.end()) continue;  // not warm here: storage has it for whoever claims the run
      run = it->second;
    }
    std::unique_lock<std::mutex> lock(run->mu, std::try_to_lock);
    if (!lock.owns_lock()) {
      // A step (and its commit, which may wait on storage) holds the run:
      // the result waits in its mail instead of this thread (a gRPC
      // handler's) waiting for the step.
      bool queue = false;
      {
        std::lock_guard<std::mutex> mail_lock(run->mail_mu);
        run->mail.push_back(call);
        queue = !std::exchange(run->mail_queued, true);
      }
      if (queue) {
        std::lock_guard<std::mutex> ready_lock(ready_mu_);
        ready_.push_back(run);
        ready_cv_.notify_one();
      }
      ++accepted;
      continue;
    }
    if (Accept(run, call)) {
      ++accepted;
      Schedule(run);
    }
  }
  return accepted;
}

// Called with run->mu held: queues a result for delivery unless it is not
// awaited (or already queued).
bool Executor::Accept(const RunPtr& run, const v1::StackRunRecord& call) {
  if (run->gone || !run->outstanding.count(call.call_id())) return false;
  for (const auto& r : run->inbox) {
    if (r.call_id == call.call_id()) return false;
  }
  run->inbox.push_back(ResultOf(call));
  return true;
}

// Called with run->mu held.
void Executor::Schedule(const RunPtr& run) {
  if (run->scheduled) return;
  run->scheduled = true;
  std::lock_guard<std::mutex> lock(ready_mu_);
  ready_.push_back(run);
  ready_cv_.notify_one();
}

void Executor::DeliveryLoop() {
  while (true) {
    RunPtr run;
    {
      std::unique_lock<std::mutex> lock(ready_mu_);
      ready_cv_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
      if (ready_.empty()) return;  // stopping
      run = std::move(ready_.front());
      ready_.pop_front();
    }
    std::lock_guard<std::mutex> lock(run->mu);
    ScopedLogContext log_context(run->log_context);
    std::vector<v1::StackRunRecord> mail;
    {
      std::lock_guard<std::mutex> mail_lock(run->mail_mu);
      mail.swap(run->mail);
      run->mail_queued = false;
    }
    for (const auto& call : mail) Accept(run, call);
    DeliverInbox(run);
    run->scheduled = false;
  }
}

// Called with run->mu held: delivers every queued result, one step each.
void Executor::DeliverInbox(const RunPtr& run) {
  while (!run->inbox.empty() && !run->gone && run->live) {
    js::CallResult result = std::move(run->inbox.front());
    run->inbox.pop_front();
    if (!run->outstanding.erase(result.call_id)) continue;
    const int64_t clock = NowMs();
    js::v1::Request request;
    request.set_run(run->root_id);
    *request.mutable_deliver()->mutable_result() = js::CallResultToProto(result);
    request.mutable_deliver()->set_clock_ms(clock);
    if (LogEnabled(LogLevel::kDebug)) {
      LogDebug("call result delivered", {{"call_id", result.call_id}, {"ok", result.ok ? "true" : "false"}});
    }
    const absl::Time step_start = absl::Now();
    auto response = CallWorker(run->worker, std::move(request));
    StepSeconds().With({"deliver"}).Observe(metrics::SecondsSince(step_start));
    if (!response.ok() && response.status().code() == absl::StatusCode::kUnavailable &&
        CrashedTooOften(run, response.status())) {
      return;
    }
    if (!response.ok() || response->status_code() == static_cast<int>(absl::StatusCode::kNotFound)) {
      // The worker died (or lost the isolate): rebuild from the journal, which
      // has every result, in place.
      LogInfo("rebuilding a run whose worker was lost");
      absl::Status rebuilt = RebuildRun(run);
      if (!rebuilt.ok()) {
        LogWarning("rebuild failed; the run is left to its lease", {{"error", rebuilt.ToString()}});
        Forget(run, false);
      }
      continue;
    }
    if (response->status_code() != 0) {
      LogWarning("result refused by the runtime", {{"error", response->status_message()}});
      continue;
    }
    ++counters_.delivered;
    HandleStep(run, js::StepFromProto(response->step()), result.call_id, clock, 0);
  }
}

void Executor::WorkerLost(int worker) {
  std::vector<RunPtr> lost;
  {
    std::lock_guard<std::mutex> lock(runs_mu_);
    for (const auto& [id, run] : runs_) {
      if (run->worker == worker) lost.push_back(run);
    }
  }
  for (const RunPtr& run : lost) {
    std::lock_guard<std::mutex> lock(run->mu);
    if (run->gone || !run->live || run->worker != worker) continue;
    ScopedLogContext log_context(run->log_context);
    LogInfo("rebuilding a run whose worker died", {{"worker", std::to_string(worker)}});
    run->live = false;
    absl::Status rebuilt = RebuildRun(run);
    if (!rebuilt.ok()) {
      LogWarning("rebuild failed; the run is left to its lease", {{"error", rebuilt.ToString()}});
      Forget(run, false);
    }
  }
}

void Executor::RecordRebuild(double ms) {
  std::lock_guard<std::mutex> lock(stats_mu_);
  rebuild_ms_.push_back(ms);
  if (rebuild_ms_.size() > 1000) rebuild_ms_.pop_front();
}

std::pair<double, double> Executor::RebuildPercentiles() const {
  std::vector<double> sorted;
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    sorted.assign(rebuild_ms_.begin(), rebuild_ms_.end());
  }
  if (sorted.empty()) return {0, 0};
  std::sort(sorted.begin(), sorted.end());
  return {sorted[sorted.size() / 2], sorted[std::min(sorted.size() - 1, sorted.size() * 99 / 100)]};
}

}  // namespace tasker::services
