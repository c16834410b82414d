#include "services/executor/task_api.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/unknown_field_set.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
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

// The public message's fields out of a record: the same numbers and types
// (record_view_test checks it), so a parse of the record's bytes keeps them,
// and the record's internal fields end up unknown, then discarded.
template <typename Public, typename Record>
Public Narrow(const Record& record) {
  Public out;
  out.ParseFromString(record.SerializeAsString());
  out.DiscardUnknownFields();
  return out;
}

constexpr absl::string_view kRunsPrefix = "runs/";
constexpr absl::string_view kTasksPrefix = "tasks/";

}  // namespace

absl::StatusOr<std::string> RunIdFromName(const std::string& name, absl::string_view field) {
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": must not be empty (runs/{id}, an id or a run number)"));
  }
  absl::string_view id = name;
  if (absl::ConsumePrefix(&id, kRunsPrefix) && id.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": '", name, "' names no run (runs/{id})"));
  }
  if (absl::StrContains(id, '/')) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": '", name, "' is not a run's name (runs/{id})"));
  }
  return std::string(id);
}

v1::TaskRun PublicView(const v1::TaskRunRecord& record) {
  auto run = Narrow<v1::TaskRun>(record);
  run.set_name(absl::StrCat(kRunsPrefix, record.id()));
  return run;
}

v1::TaskFunction PublicView(v1::TaskFunction function) {
  function.set_name(absl::StrCat(kTasksPrefix, function.identifier(), "/versions/", function.version()));
  return function;
}

v1::StackRun PublicView(const v1::StackRunRecord& record) {
  auto public_view = Narrow<v1::StackRun>(record);
  v1::StackRun* s = &public_view;
  s->set_name(absl::StrCat(kRunsPrefix, record.task_run_id(), "/stackRuns/", record.id()));
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
  return public_view;
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
  published = PublicView(std::move(published));
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
  v1::GetFunctionRequest get;
  get.set_identifier(request.identifier());
  get.set_version(request.version());
  if (!request.name().empty()) {
    // "tasks/{identifier}", "tasks/{identifier}/versions/{version}", or a
    // bare identifier.
    absl::string_view rest = request.name();
    absl::ConsumePrefix(&rest, kTasksPrefix);
    std::vector<absl::string_view> parts = absl::StrSplit(rest, '/');
    int64_t version = 0;
    if (parts[0].empty() || (parts.size() != 1 && parts.size() != 3) ||
        (parts.size() == 3 && (parts[1] != "versions" || !absl::SimpleAtoi(parts[2], &version) || version < 1))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "name: '", request.name(), "' is not a task function's name (tasks/{identifier}/versions/{version})"));
    }
    get.set_identifier(std::string(parts[0]));
    get.set_version(version);
  }
  ASSIGN_OR_RETURN(v1::TaskFunction function, functions_->GetTaskFunction(get));
  return PublicView(std::move(function));
}

absl::StatusOr<v1::ListTaskFunctionsResponse> TaskApi::ListTaskFunctions(const v1::ListTaskFunctionsRequest& request) {
  v1::ListFunctionsRequest list;
  list.set_identifier(request.identifier());
  list.set_omit_code(request.omit_code());
  list.mutable_page()->set_limit(request.page_size());
  list.mutable_page()->set_page_token(request.page_token());
  ASSIGN_OR_RETURN(auto listed, functions_->ListTaskFunctions(list));
  v1::ListTaskFunctionsResponse out;
  for (auto& f : *listed.mutable_functions()) *out.add_functions() = PublicView(std::move(f));
  out.set_next_page_token(listed.next_page_token());
  return out;
}

absl::StatusOr<v1::SubmitRunResponse> TaskApi::Submit(const v1::SubmitRunRequest& request) {
  RETURN_IF_ERROR(RefuseRemovedField(request, 3, "input", "input_json"));
  // The caller's trace (its traceparent), before the run's own takes over.
  const std::string client_trace_id = CurrentLogContext().trace_id;
  v1::SubmitTaskRunRequest submit;
  submit.set_task_identifier(request.task_identifier());
  submit.set_task_version(request.task_version());
  submit.set_input_json(request.input_json());
  submit.set_idempotency_key(request.idempotency_key());
  ASSIGN_OR_RETURN(auto submitted, runs_->SubmitRun(submit));
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
  v1::SubmitRunResponse out;
  *out.mutable_run() = PublicView(submitted.run());
  // A repeated key answers with the first run's root, maybe held right now.
  *out.mutable_root() = PublicView(submitted.root());
  out.set_created(submitted.created());
  return out;
}

absl::StatusOr<v1::GetRunResponse> TaskApi::GetRun(const v1::GetRunRequest& request) {
  v1::GetTaskRunRequest get;
  ASSIGN_OR_RETURN(*get.mutable_id(), RunIdFromName(request.name()));
  get.set_include_logs(true);
  ASSIGN_OR_RETURN(v1::TaskRunRecord run, runs_->GetTaskRun(get));
  v1::GetRunResponse out;
  *out.mutable_run() = PublicView(run);
  v1::ListStackRunsRequest list;
  list.mutable_filter()->set_task_run_id(run.id());  // the request may name it by number
  list.mutable_page()->set_limit(1000);
  while (true) {
    ASSIGN_OR_RETURN(auto page, runs_->ListStackRuns(list));
    for (const auto& s : page.stack_runs()) *out.add_stack_runs() = PublicView(s);
    if (page.next_page_token().empty() || out.stack_runs_size() >= 10000) break;
    list.mutable_page()->set_page_token(page.next_page_token());
  }
  return out;
}

absl::StatusOr<v1::ListRunsResponse> TaskApi::ListRuns(const v1::ListRunsRequest& request) {
  v1::ListTaskRunsRequest list;
  v1::RunFilter* filter = list.mutable_filter();
  *filter->mutable_statuses() = request.statuses();
  filter->set_task_identifier(request.task_identifier());
  if (request.has_created_after()) *filter->mutable_created_after() = request.created_after();
  if (request.has_created_before()) *filter->mutable_created_before() = request.created_before();
  list.mutable_page()->set_limit(request.page_size());
  list.mutable_page()->set_page_token(request.page_token());
  ASSIGN_OR_RETURN(auto runs, runs_->ListTaskRuns(list));
  v1::ListRunsResponse out;
  for (const auto& run : runs.runs()) *out.add_runs() = PublicView(run);
  out.set_next_page_token(runs.next_page_token());
  return out;
}

absl::StatusOr<std::string> TaskApi::RunIdOf(const std::string& name) {
  ASSIGN_OR_RETURN(std::string id_or_number, RunIdFromName(name));
  if ( id_or_number.find_first_not_of("0123456789") != std::string::npos) return id_or_number;
  v1::GetTaskRunRequest get;
  get.set_id(id_or_number);
  ASSIGN_OR_RETURN(v1::TaskRunRecord run, runs_->GetTaskRun(get));
  return run.id();
}

absl::StatusOr<v1::TaskRun> TaskApi::Cancel(const v1::CancelRunRequest& request, const std::string& caller) {
  v1::CancelTaskRunRequest cancel;
  ASSIGN_OR_RETURN(*cancel.mutable_id(), RunIdOf(request.name()));
  cancel.set_reason(request.reason());
  ASSIGN_OR_RETURN(v1::TaskRunRecord run, runs_->CancelRun(cancel));
  ScopedLogContext log_context(RunLogContext(run.id(), run.root_stack_run_id()));
  RunsByStatus().With({"cancelled"}).Increment();
  LogInfo("audit", {{"event", "cancel"}, {"identity", caller}, {"run_id", run.id()}});
  executor_->events()->Changed(run.id(), &run);
  return PublicView(run);
}

absl::Status TaskApi::Watch(const v1::WatchRunRequest& request,
                            const std::function<bool(const v1::RunEvent&)>& emit,
                            const std::function<bool()>& cancelled) {
  v1::GetTaskRunRequest get;
  ASSIGN_OR_RETURN(*get.mutable_id(), RunIdOf(request.name()));
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
      *event.mutable_run() = PublicView(run);
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
    if (const v1::TaskRunRecord* final_run = watcher.final_run()) {
      // Its end as recorded here: no need to read it back.
      v1::RunEvent event;
      *event.mutable_run() = PublicView(*final_run);
      event.set_final(true);
      emit(event);
      return absl::OkStatus();
    }
  }
  return absl::CancelledError("watcher went away");
}

}  // namespace tasker::services
