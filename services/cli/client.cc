#include "services/cli/client.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "runtime/common/status.h"

namespace tasker::cli {

namespace v1 = ::tasker::v1;

namespace {

absl::Status Check(const grpc::Status& status) { return FromGrpcStatus(status); }

class GrpcRunStream : public RunStream {
 public:
  GrpcRunStream(v1::TaskService::Stub* stub, const std::string& run) {
    // No deadline: a run may take days. wait_for_ready: a stream opened while
    // the executor restarts waits for it instead of failing at once.
    context_.set_wait_for_ready(true);
    v1::WatchRunRequest request;
    request.set_name(run);
    reader_ = stub->WatchRun(&context_, request);
  }
  bool Read(v1::RunEvent* event) override { return reader_->Read(event); }
  absl::Status Finish() override { return Check(reader_->Finish()); }
  void Cancel() override { context_.TryCancel(); }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::RunEvent>> reader_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(const Connection& connection) {
  ClientConfig config{.target = connection.address, .auth_token = connection.token, .tls = connection.tls};
  auto channel = MakeChannel(config);
  if (!channel.ok()) return channel.status();
  std::unique_ptr<Client> client(new Client(connection, *channel));
  client->tasks_ = v1::TaskService::NewStub(client->channel_);
  return client;
}

absl::StatusOr<v1::Keystore::Stub*> Client::keystore() {
  if (!keystore_) {
    ClientConfig config{.target = connection_.keystore_address, .auth_token = connection_.token,
                        .tls = connection_.tls};
    auto channel = MakeChannel(config);
    if (!channel.ok()) return channel.status();
    keystore_ = v1::Keystore::NewStub(*channel);
  }
  return keystore_.get();
}

absl::StatusOr<Published> Client::Publish(const std::string& task, const std::string& code,
                                          const std::string& metadata_json) {
  v1::PublishTaskRequest request;
  request.set_identifier(task);
  request.set_code(code);
  request.set_metadata_json(metadata_json);
  Published out;
  auto context = MakeContext(connection_.timeout);
  absl::Status status = Check(tasks_->PublishTask(context.get(), request, &out.function));
  if (!status.ok()) return status;
  for (const auto& [key, value] : context->GetServerTrailingMetadata()) {
    if (key == "tasker-warning") out.warnings.emplace_back(value.data(), value.size());
  }
  out.function.clear_code();
  return out;
}

absl::StatusOr<v1::SubmitRunResponse> Client::Submit(const std::string& task, int64_t version,
                                                     const std::string& input_json,
                                                     const std::string& idempotency_key) {
  v1::SubmitRunRequest request;
  request.set_task_identifier(task);
  request.set_task_version(version);
  request.set_input_json(input_json);
  request.set_idempotency_key(idempotency_key);
  v1::SubmitRunResponse response;
  auto context = MakeContext(connection_.timeout);
  absl::Status status = Check(tasks_->SubmitRun(context.get(), request, &response));
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::GetRunResponse> Client::GetRun(const std::string& run, bool wait_for_ready) {
  v1::GetRunRequest request;
  request.set_name(run);
  v1::GetRunResponse response;
  auto context = wait_for_ready ? MakeWaitingContext(connection_.timeout) : MakeContext(connection_.timeout);
  absl::Status status = Check(tasks_->GetRun(context.get(), request, &response));
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<RunPage> Client::ListRuns(const RunQuery& query, int page_size, const std::string& page_token) {
  v1::ListRunsRequest request;
  for (auto s : query.statuses) request.add_statuses(s);
  request.set_task_identifier(query.task);
  if (query.created_after != absl::InfinitePast()) {
    *request.mutable_created_after() =
        google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(query.created_after));
  }
  request.set_page_size(page_size);
  request.set_page_token(page_token);
  v1::ListRunsResponse response;
  auto context = MakeContext(connection_.timeout);
  absl::Status status = Check(tasks_->ListRuns(context.get(), request, &response));
  if (!status.ok()) return status;
  RunPage page;
  page.runs.assign(response.runs().begin(), response.runs().end());
  page.next_page_token = response.next_page_token();
  return page;
}

absl::StatusOr<v1::TaskRun> Client::CancelRun(const std::string& run, const std::string& reason) {
  v1::CancelRunRequest request;
  request.set_name(run);
  request.set_reason(reason);
  v1::TaskRun response;
  auto context = MakeContext(connection_.timeout);
  absl::Status status = Check(tasks_->CancelRun(context.get(), request, &response));
  if (!status.ok()) return status;
  return response;
}

std::unique_ptr<RunStream> Client::WatchRun(const std::string& run) {
  return std::make_unique<GrpcRunStream>(tasks_.get(), run);
}

absl::StatusOr<FunctionPage> Client::ListFunctions(const std::string& task, int page_size,
                                                   const std::string& page_token) {
  v1::ListTaskFunctionsRequest request;
  request.set_identifier(task);
  request.set_omit_code(true);
  request.set_page_size(page_size);
  request.set_page_token(page_token);
  v1::ListTaskFunctionsResponse response;
  auto context = MakeContext(connection_.timeout);
  absl::Status status = Check(tasks_->ListTaskFunctions(context.get(), request, &response));
  if (!status.ok()) return status;
  FunctionPage page;
  page.functions.assign(response.functions().begin(), response.functions().end());
  page.next_page_token = response.next_page_token();
  return page;
}

absl::StatusOr<v1::SetKeyResponse> Client::SetKey(const std::string& ns, const std::string& key,
                                                  const std::string& value) {
  auto stub = keystore();
  if (!stub.ok()) return stub.status();
  v1::SetKeyRequest request;
  request.set_namespace_(ns);
  request.set_key(key);
  request.set_value(value);
  v1::SetKeyResponse response;
  auto context = MakeContext(connection_.timeout);
  absl::Status status = Check((*stub)->SetKey(context.get(), request, &response));
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::GetKeyResponse> Client::GetKey(const std::string& ns, const std::string& key) {
  auto stub = keystore();
  if (!stub.ok()) return stub.status();
  v1::GetKeyRequest request;
  request.set_namespace_(ns);
  request.set_key(key);
  v1::GetKeyResponse response;
  auto context = MakeContext(connection_.timeout);
  absl::Status status = Check((*stub)->GetKey(context.get(), request, &response));
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<bool> Client::DeleteKey(const std::string& ns, const std::string& key) {
  auto stub = keystore();
  if (!stub.ok()) return stub.status();
  v1::DeleteKeyRequest request;
  request.set_namespace_(ns);
  request.set_key(key);
  v1::DeleteKeyResponse response;
  auto context = MakeContext(connection_.timeout);
  absl::Status status = Check((*stub)->DeleteKey(context.get(), request, &response));
  if (!status.ok()) return status;
  return response.deleted();
}

absl::StatusOr<std::vector<std::string>> Client::ListKeys(const std::string& ns) {
  auto stub = keystore();
  if (!stub.ok()) return stub.status();
  v1::ListKeysRequest request;
  request.set_namespace_(ns);
  v1::ListKeysResponse response;
  auto context = MakeContext(connection_.timeout);
  absl::Status status = Check((*stub)->ListKeys(context.get(), request, &response));
  if (!status.ok()) return status;
  return std::vector<std::string>(response.keys().begin(), response.keys().end());
}

absl::StatusOr<std::vector<v1::NamespacePolicy>> Client::ListNamespaces() {
  auto stub = keystore();
  if (!stub.ok()) return stub.status();
  v1::ListNamespacesRequest request;
  v1::ListNamespacesResponse response;
  auto context = MakeContext(connection_.timeout);
  absl::Status status = Check((*stub)->ListNamespaces(context.get(), request, &response));
  if (!status.ok()) return status;
  return std::vector<v1::NamespacePolicy>(response.namespaces().begin(), response.namespaces().end());
}

}  // namespace tasker::cli
