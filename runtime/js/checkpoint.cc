// LiveRun checkpoints: write (V8 snapshot of the live isolate, in the
// continuation format of continuation.h) and restore.
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/js/continuation.h"
#include "runtime/js/live_run.h"
#include "runtime/js/natives.h"
#include "runtime/js/v8_setup.h"
#include "runtime/js/watchdog.h"
#include "libplatform/libplatform.h"
#include "v8.h"

namespace tasker::js {

absl::StatusOr<std::unique_ptr<LiveRun>> LiveRun::Restore(absl::string_view checkpoint, int step,
                                                          const Limits& limits) {
  InitializeV8({});
  if (step < 1) return absl::InvalidArgumentError("checkpoint step: must be >= 1");
  auto blob = DecodeContinuation(checkpoint, ExternalReferencesVersion(), V8Version());
  if (!blob.ok()) return blob.status();
  std::unique_ptr<LiveRun> run(new LiveRun(limits));
  absl::Status created = run->CreateIsolate(&*blob);
  if (!created.ok()) return created;
  run->steps_ = step;
  {
    v8::Isolate::Scope isolate_scope(run->isolate_);
    run->MeasureHeap();
  }
  return run;
}

absl::StatusOr<std::string> LiveRun::Checkpoint(StepStats* stats) {
  if (finished_ || spent_) return absl::FailedPreconditionError("the run is no longer live");
  const absl::Time start = absl::Now();
  bool needs_full_gc = false;
  {
    v8::Isolate::Scope isolate_scope(isolate_);
    v8::HandleScope handle_scope(isolate_);
    v8::Local<v8::Context> context = context_->Get(isolate_);
    v8::Context::Scope context_scope(context);
    v8::Local<v8::Object> runtime = runtime_->Get(isolate_);
    v8::TryCatch try_catch(isolate_);
    // Hazards V8 10.2 cannot serialize are refused here, before V8 aborts on
    // them; the run stays live (and recoverable by replay).
    v8::Local<v8::Value> fn, needs;
    if (!runtime->Get(context, Str(isolate_, "snapshotNeeds")).ToLocal(&fn) || !fn->IsFunction() ||
        !fn.As<v8::Function>()->Call(context, runtime, 0, nullptr).ToLocal(&needs) || !needs->IsArray()) {
      return absl::InternalError("cannot read the task's snapshot needs");
    }
    v8::Local<v8::Value> intl, registries;
    if (!needs.As<v8::Array>()->Get(context, 0).ToLocal(&intl) ||
        !needs.As<v8::Array>()->Get(context, 1).ToLocal(&registries)) {
      return absl::InternalError("cannot read the task's snapshot needs");
    }
    needs_full_gc = registries->Int32Value(context).FromMaybe(0) > 0;
    if (intl->Int32Value(context).FromMaybe(0) > 0) {
      isolate_->ClearKeptObjects();
      isolate_->LowMemoryNotification();
      v8::Local<v8::Value> hazard_fn, hazard;
      if (runtime->Get(context, Str(isolate_, "snapshotHazard")).ToLocal(&hazard_fn) && hazard_fn->IsFunction() &&
          hazard_fn.As<v8::Function>()->Call(context, runtime, 0, nullptr).ToLocal(&hazard) && hazard->IsString()) {
        return absl::FailedPreconditionError(ToStd(isolate_, hazard));
      }
    }
    creator_->AddData(context, runtime);
    creator_->SetDefaultContext(context);
  }
  // From here on the isolate belongs to the snapshot.
  spent_ = true;
  runtime_->Reset();
  context_->Reset();
  isolate_->Enter();  // balanced by the creator's Exit in its destructor
  isolate_->ClearKeptObjects();
  if (needs_full_gc) {
    // Dead FinalizationRegistry targets must be collected and their cleanup
    // tasks run before the serializer sees them. The cleanup callbacks are
    // task code: under the watchdog.
    const uint64_t watch = Watchdog::Get().Arm(isolate_, &state_->time_exceeded, state_->limits.step_cpu);
    isolate_->LowMemoryNotification();
    while (v8::platform::PumpMessageLoop(DefaultPlatform(), isolate_)) {
    }
    Watchdog::Get().Disarm(watch);
    if (state_->time_exceeded) {
      isolate_->CancelTerminateExecution();
      creator_.reset();
      return absl::FailedPreconditionError(
          absl::StrCat("time limit exceeded (", absl::FormatDuration(state_->limits.step_cpu),
                       " of CPU) in a FinalizationRegistry cleanup callback while checkpointing"));
    }
  }
  v8::StartupData created = creator_->CreateBlob(v8::SnapshotCreator::FunctionCodeHandling::kKeep);
  const absl::Time created_at = absl::Now();
  creator_.reset();
  if (created.data == nullptr || created.raw_size <= 0) {
    delete[] created.data;
    return absl::FailedPreconditionError("V8 could not snapshot the task's state");
  }
  std::string encoded = EncodeContinuation(absl::string_view(created.data, created.raw_size),
                                           ExternalReferencesVersion(), V8Version());
  if (stats) {
    stats->raw_bytes = static_cast<size_t>(created.raw_size);
    stats->stored_bytes = encoded.size();
    stats->compress_ms = absl::ToDoubleMilliseconds(absl::Now() - created_at);
    stats->snapshot_ms = absl::ToDoubleMilliseconds(absl::Now() - start);
  }
  delete[] created.data;
  if (encoded.size() > state_->limits.max_continuation_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat("checkpoint of ", encoded.size(),
                                                     " bytes exceeds the limit of ",
                                                     state_->limits.max_continuation_bytes));
  }
  return encoded;
}

}  // namespace tasker::js
