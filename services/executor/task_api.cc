#include "services/executor/task_api.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/unknown_field_set.h"
#include "absl/strings/str_join.h"
#include "runtime/common/json_text.h"
#include "runtime/common/log.h"
#include "runtime/common/status.h"
#include "runtime/common/trace.h"
#include "services/executor/run_metrics.h"
#include "services/common/permissions.h"
#include "runtime/js/engine.h"

namespace tasker::services {
namespace {

// A client built from the protos before payloads became JSON text still
// sends the old google.protobuf.Value/Struct field, which would otherwise be
// dropped silently (an unknown field): refuse it, naming the new one.
absl::Status RefuseRemovedField(const google::protobuf::Message& request, int number, absl::string_view old_name,
                                absl::string_view new_name) {
  const auto& unknown = request.GetReflection()->GetUnknownFields(request);
  for (int i = 0; i < unknown.field_count(); ++i) {
    if (unknown.field(i).number() == number) {
      return absl::InvalidArgumentError(absl::StrCat(
          old_name, ": this field (number ", number, ") was removed; send the payload as JSON text in ", new_name));
    }
  }
  return absl::OkStatus();
}

constexpr char kRedacted[] = "\"[redacted]\"";

// `args` (a keystore set's JSON args) with the member "value" redacted, the
// rest as it was; args that are not an object are redacted whole (the
// provider also takes [object]).
std::string RedactValueArg(const std::string& args) {
  auto members = JsonObjectMembers(args, "args_json");
  if (!members.ok()) return kRedacted;
  std::string out = "{";
  for (const auto& member : *members) {
    if (out.size() > 1) out += ",";
    absl::StrAppend(&out, JsonQuote(member.key), ":", member.key == "value" ? kRedacted : member.raw);
  }
  return out + "}";
}

}  // namespace

void PublicView(v1::StackRun* s) {
  s->clear_lease_owner();
  s->clear_lease_expires_at();
  s->clear_fencing_token();
  s->clear_reply_to();
  const bool retry_due = s->kind() == v1::STACK_RUN_KIND_CALL && s->status() == v1::STACK_RUN_STATUS_PENDING &&
                         s->attempt() > 0;
  if (!retry_due) s->clear_next_attempt_at();
  // Matched loosely so that a spelling the proxy might accept later does not
  // leak what the exact one hides.
  if (absl::EqualsIgnoreCase(s->service(), "keystore")) {
    const std::string method = absl::AsciiStrToLower(s->method());
    if ((method == "get" || method == "getkey") && !s->result_json().empty()) s->set_result_json(kRedacted);
    if ((method == "set" || method == "setkey") && !s->args_json().empty()) {
      s->set_args_json(RedactValueArg(s->args_json()));
    }
  }
}

absl::StatusOr<v1::TaskFunction> TaskApi::Publish(const v1::PublishTaskRequest& request, const std::string& caller,
                                                  std::string* warning) {
  RETURN_IF_ERROR(RefuseRemovedField(request, 3, "metadata", "metadata_json"));
  if (request.code().empty()) return absl::InvalidArgumentError("code: must not be empty");
  if (!request.metadata_json().empty()) RETURN_IF_ERROR(ValidateJson(request.metadata_json(), "metadata_json"));
  bool declared = false;
  ASSIGN_OR_RETURN(std::vector<std::string> permissions, DeclaredPermissions(request.metadata_json(), &declared));
  // In a worker process: hostile source cannot crash or hang this one.
  RETURN_IF_ERROR(executor_->CheckSyntax(request.code()));
  v1::PublishTaskFunctionRequest publish;
  publish.set_identifier(request.identifier());
  publish.set_code(request.code());
  publish.set_metadata_json(request.metadata_json());
  std::string note;
  if (!declared && options_.default_permissions_all) {
    permissions = {"*"};
    note = absl::StrCat("'", request.identifier(),
                        "' declares no permissions (metadata.permissions); the development default grants it "
                        "everything ('*'). Declare what it needs before production.");
  }
  for (const auto& p : permissions) publish.add_permissions(p);
  ASSIGN_OR_RETURN(v1::TaskFunction published, functions_->PublishTaskFunction(publish));
  LogInfo("audit", {{"event", "publish"},
                    {"identity", caller},
                    {"task", published.identifier()},
                    {"version", std::to_string(published.version())},
                    {"permissions", absl::StrJoin(published.permissions(), ", ")}});
  if (!note.empty()) {
    LogWarning(note, {{"task", published.identifier()}, {"identity", caller}});
    if (warning != nullptr) *warning = note;
  }
  return published;
}

absl::StatusOr<v1::TaskFunction> TaskApi::GetTaskFunction(const v1::GetTaskFunctionRequest& request) {
  return functions_->GetTaskFunction(request);
}

absl::StatusOr<v1::ListTaskFunctionsResponse> TaskApi::ListTaskFunctions(const v1::ListTaskFunctionsRequest& request) {
  return functions_->ListTaskFunctions(request);
}

absl::StatusOr<v1::SubmitRunResponse> TaskApi::Submit(const v1::SubmitRunRequest& request) {
  RETURN_IF_ERROR(RefuseRemovedField(request, 3, "input", "input_json"));
  // The caller's trace (its traceparent), before the run's own takes over.
  const std::string client_trace_id = CurrentLogContext().trace_id;
  ASSIGN_OR_RETURN(auto submitted, runs_->SubmitRun(request));
  {
    // The run keeps a trace id derived from its id (runtime/common/trace.h);
    // this line links the submitter's trace to it.
    ScopedLogContext log_context(RunLogContext(submitted.run().id(), submitted.root().id()));
    if (submitted.created()) {
      RunsByStatus().With({"submitted"}).Increment();
      LogInfo("run submitted", {{"task", submitted.run().task_identifier()},
                                {"version", std::to_string(submitted.run().task_version())},
                                {"client_trace_id", client_trace_id}});
    } else {
      LogDebug("run submitted again with its idempotency key", {{"client_trace_id", client_trace_id}});
    }
  }
  if (submitted.created()) executor_->Enqueue(v1::WORK_KIND_EXECUTE_ROOT, submitted.root().id());
  // A repeated key answers with the first run's root, maybe held right now.
  PublicView(submitted.mutable_root());
  return submitted;
}

absl::StatusOr<v1::GetRunResponse> TaskApi::GetRun(const v1::GetRunRequest& request) {
  v1::GetTaskRunRequest get;
  get.set_id(request.id());
  get.set_include_logs(true);
  v1::GetRunResponse out;
  ASSIGN_OR_RETURN(*out.mutable_run(), runs_->GetTaskRun(get));
  v1::ListStackRunsRequest list;
  list.mutable_filter()->set_task_run_id(out.run().id());  // the request may name it by number
  list.mutable_page()->set_limit(1000);
  while (true) {
    ASSIGN_OR_RETURN(auto page, runs_->ListStackRuns(list));
    for (auto& s : *page.mutable_stack_runs()) {
      PublicView(&s);
      *out.add_stack_runs() = std::move(s);
    }
    if (page.next_page_token().empty() || out.stack_runs_size() >= 10000) break;
    list.mutable_page()->set_page_token(page.next_page_token());
  }
  return out;
}

absl::StatusOr<v1::ListRunsResponse> TaskApi::ListRuns(const v1::ListRunsRequest& request) {
  v1::ListTaskRunsRequest list;
  *list.mutable_filter() = request.filter();
  *list.mutable_page() = request.page();
  ASSIGN_OR_RETURN(auto runs, runs_->ListTaskRuns(list));
  v1::ListRunsResponse out;
  *out.mutable_runs() = std::move(*runs.mutable_runs());
  out.set_next_page_token(runs.next_page_token());
  return out;
}

absl::StatusOr<std::string> TaskApi::RunIdOf(const std::string& id_or_number) {
  if (id_or_number.empty() || id_or_number.find_first_not_of("0123456789") != std::string::npos) return id_or_number;
  v1::GetTaskRunRequest get;
  get.set_id(id_or_number);
  ASSIGN_OR_RETURN(v1::TaskRun run, runs_->GetTaskRun(get));
  return run.id();
}

absl::StatusOr<v1::TaskRun> TaskApi::Cancel(v1::CancelRunRequest request, const std::string& caller) {
  ASSIGN_OR_RETURN(*request.mutable_id(), RunIdOf(request.id()));
  ASSIGN_OR_RETURN(v1::TaskRun run, runs_->CancelRun(request));
  ScopedLogContext log_context(RunLogContext(run.id(), run.root_stack_run_id()));
  RunsByStatus().With({"cancelled"}).Increment();
  LogInfo("audit", {{"event", "cancel"}, {"identity", caller}, {"run_id", run.id()}});
  executor_->events()->Changed(run.id(), &run);
  return run;
}

absl::Status TaskApi::Watch(const v1::WatchRunRequest& request,
                            const std::function<bool(const v1::RunEvent&)>& emit,
                            const std::function<bool()>& cancelled) {
  v1::GetTaskRunRequest get;
  ASSIGN_OR_RETURN(*get.mutable_id(), RunIdOf(request.id()));
  int last_status = -1;
  int last_suspensions = -1;
  // The end of a run held warm here wakes the watcher at once; its progress
  // in between is polled once a second. Runs held elsewhere are polled,
  // backing off to 500 ms.
  RunEvents::Watcher watcher(executor_->events(), get.id());
  absl::Duration poll = absl::Milliseconds(20);
  while (!cancelled()) {
    ASSIGN_OR_RETURN(auto run, runs_->GetTaskRun(get));
    const bool ended = run.status() == v1::RUN_STATUS_COMPLETED || run.status() == v1::RUN_STATUS_FAILED ||
                       run.status() == v1::RUN_STATUS_CANCELLED;
    if (run.status() != last_status || run.suspend_count() != last_suspensions) {
      last_status = run.status();
      last_suspensions = run.suspend_count();
      v1::RunEvent event;
      *event.mutable_run() = run;
      event.set_final(ended);
      if (!emit(event)) return absl::OkStatus();
      poll = absl::Milliseconds(20);
    }
    if (ended) return absl::OkStatus();
    if (executor_->IsWarm(get.id())) {
      watcher.Wait(absl::Seconds(1));
    } else if (!watcher.Wait(poll)) {
      poll = std::min(poll * 2, absl::Milliseconds(500));
    }
    if (const v1::TaskRun* final_run = watcher.final_run()) {
      // Its end as recorded here: no need to read it back.
      v1::RunEvent event;
      *event.mutable_run() = *final_run;
      event.set_final(true);
      emit(event);
      return absl::OkStatus();
    }
  }
  return absl::CancelledError("watcher went away");
}

}  // namespace tasker::services
