// tasker: the command-line client of Tasker's public TaskService.
//
//   tasker [--target=127.0.0.1:50052] [--token_file=F] [--tls_ca=CA [--tls_cert=C --tls_key=K]] COMMAND ...
//   (the token defaults to env TASKER_TOKEN; an identity with the role client or admin)
//     publish ID FILE             publish FILE as the next version of task ID
//                                 (--permissions=a,b, --metadata=JSON)
//     submit ID [INPUT_JSON]      submit a run (--idempotency_key=K, --wait)
//     get RUN                     the run with its stack runs and logs
//     watch RUN                   stream the run's changes until it ends
//     runs                        list runs (--status=COMPLETED, --task=ID, --limit=N)
//     cancel RUN [REASON]         cancel a run
//     functions [ID]              latest version of every task, or every version of ID
//     dev                         the development server: every service on this machine, the web UI on
//                                 :3000, the tasks folder republished on change (services/cli/dev.h;
//                                 --port, --host, --tasks, --verbose)
// Output is JSON; errors go to stderr with the gRPC status, exit code 1.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tasker/v1/task_service.grpc.pb.h"
#include "runtime/client/channel.h"
#include "runtime/common/json.h"
#include "runtime/common/json_text.h"
#include "runtime/common/status.h"
#include "runtime/server/server_flags.h"
#include "services/cli/dev.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50052", "task-executor address (TaskService).");
ABSL_FLAG(std::string, metadata, "", "publish: the function's metadata, a JSON object.");
ABSL_FLAG(std::vector<std::string>, permissions, {},
          "publish: what the function may reach (comma-separated, e.g. "
          "'gapi:admin.users.list,keystore:read:google'); added to --metadata's \"permissions\".");
ABSL_FLAG(std::string, idempotency_key, "", "submit: idempotency key.");
ABSL_FLAG(bool, wait, false, "submit: wait for the run to end and print it.");
ABSL_FLAG(std::string, status, "", "runs: only runs with this status (e.g. COMPLETED).");
ABSL_FLAG(std::string, task, "", "runs: only runs of this task.");
ABSL_FLAG(int, limit, 20, "runs/functions: page size.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(30), "Deadline of each call (watch: of the whole stream).");

namespace v1 = ::tasker::v1;

namespace {

void Print(const google::protobuf::Message& message) {
  std::cout << tasker::ProtoToJsonWithPayloads(message, {.pretty = true});
}

int Fail(const grpc::Status& status) {
  std::cerr << "tasker: " << tasker::FromGrpcStatus(status).ToString() << "\n";
  return 1;
}

int Usage(const char* problem) {
  std::cerr << "tasker: " << problem
            << "\nusage: tasker [--target=HOST:PORT] publish ID FILE | submit ID [INPUT_JSON] [--wait] | get RUN | "
               "watch RUN | runs | cancel RUN [REASON] | functions [ID] | dev [--port=3000] [--tasks=DIR]\n";
  return 2;
}

int Watch(v1::TaskService::Stub* stub, const std::string& id, bool print_all) {
  auto context = tasker::MakeContext(absl::GetFlag(FLAGS_timeout));
  v1::WatchRunRequest request;
  request.set_name(id);
  auto reader = stub->WatchRun(context.get(), request);
  v1::RunEvent event, last;
  while (reader->Read(&event)) {
    if (print_all) Print(event);
    last = event;
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) return Fail(status);
  if (!print_all) Print(last.run());
  return last.run().status() == v1::RUN_STATUS_COMPLETED ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) return Usage("no command");
  const std::string command = args[1];
  if (command == "dev") {
    if (args.size() != 2) return Usage("dev takes flags only (--port, --host, --tasks, --verbose)");
    return tasker::cli::RunDev(argv[0]);
  }
  // --token_file / TASKER_TOKEN and the --tls_* flags, as the services read them.
  auto client = tasker::ClientConfigFromFlags();
  if (!client.ok()) return Usage(std::string(client.status().message()).c_str());
  client->target = absl::GetFlag(FLAGS_target);
  auto channel = tasker::MakeChannel(*client);
  if (!channel.ok()) return Usage("bad --target");
  auto stub = v1::TaskService::NewStub(*channel);
  auto context = tasker::MakeContext(absl::GetFlag(FLAGS_timeout));
  auto arg = [&](size_t i) { return i < args.size() ? std::string(args[i]) : std::string(); };

  if (command == "publish") {
    if (args.size() != 4) return Usage("publish needs ID FILE");
    std::ifstream in(arg(3));
    if (!in) return Usage("cannot read FILE");
    std::stringstream code;
    code << in.rdbuf();
    v1::PublishTaskRequest request;
    request.set_identifier(arg(2));
    request.set_code(code.str());
    const std::string metadata_text = absl::GetFlag(FLAGS_metadata);
    nlohmann::json metadata = nlohmann::json::object();
    if (!metadata_text.empty()) {
      metadata = nlohmann::json::parse(metadata_text, nullptr, false);
      if (metadata.is_discarded() || !metadata.is_object()) return Usage("--metadata: must be a JSON object");
    }
    const auto permissions = absl::GetFlag(FLAGS_permissions);
    if (!permissions.empty()) {
      auto& list = metadata["permissions"];
      if (list.is_null()) list = nlohmann::json::array();
      if (!list.is_array()) return Usage("--metadata: \"permissions\" must be an array");
      for (const auto& p : permissions) list.push_back(p);
    }
    if (!metadata.empty()) request.set_metadata_json(metadata.dump());
    v1::TaskFunction response;
    grpc::ClientContext* ctx = context.get();
    grpc::Status status = stub->PublishTask(ctx, request, &response);
    if (!status.ok()) return Fail(status);
    for (const auto& [key, value] : ctx->GetServerTrailingMetadata()) {
      if (key == "tasker-warning") std::cerr << "tasker: warning: " << std::string(value.data(), value.size()) << "\n";
    }
    response.clear_code();
    Print(response);
    return 0;
  }
  if (command == "submit") {
    if (args.size() < 3 || args.size() > 4) return Usage("submit needs ID [INPUT_JSON]");
    v1::SubmitRunRequest request;
    request.set_task_identifier(arg(2));
    request.set_idempotency_key(absl::GetFlag(FLAGS_idempotency_key));
    const std::string input = args.size() == 4 ? arg(3) : "null";
    if (absl::Status valid = tasker::ValidateJson(input, "INPUT_JSON"); !valid.ok()) {
      return Usage(std::string(valid.message()).c_str());
    }
    request.set_input_json(input);
    v1::SubmitRunResponse response;
    grpc::Status status = stub->SubmitRun(context.get(), request, &response);
    if (!status.ok()) return Fail(status);
    if (absl::GetFlag(FLAGS_wait)) return Watch(stub.get(), response.run().id(), false);
    Print(response.run());
    return 0;
  }
  if (command == "get") {
    if (args.size() != 3) return Usage("get needs RUN");
    v1::GetRunRequest request;
    request.set_name(arg(2));
    v1::GetRunResponse response;
    grpc::Status status = stub->GetRun(context.get(), request, &response);
    if (!status.ok()) return Fail(status);
    Print(response);
    return 0;
  }
  if (command == "watch") {
    if (args.size() != 3) return Usage("watch needs RUN");
    return Watch(stub.get(), arg(2), true);
  }
  if (command == "runs") {
    v1::ListRunsRequest request;
    request.set_page_size(absl::GetFlag(FLAGS_limit));
    request.set_task_identifier(absl::GetFlag(FLAGS_task));
    if (!absl::GetFlag(FLAGS_status).empty()) {
      v1::RunStatus s;
      if (!v1::RunStatus_Parse("RUN_STATUS_" + absl::GetFlag(FLAGS_status), &s)) return Usage("unknown --status");
      request.add_statuses(s);
    }
    v1::ListRunsResponse response;
    grpc::Status status = stub->ListRuns(context.get(), request, &response);
    if (!status.ok()) return Fail(status);
    Print(response);
    return 0;
  }
  if (command == "cancel") {
    if (args.size() < 3) return Usage("cancel needs RUN");
    v1::CancelRunRequest request;
    request.set_name(arg(2));
    request.set_reason(arg(3));
    v1::TaskRun response;
    grpc::Status status = stub->CancelRun(context.get(), request, &response);
    if (!status.ok()) return Fail(status);
    Print(response);
    return 0;
  }
  if (command == "functions") {
    v1::ListTaskFunctionsRequest request;
    request.set_identifier(arg(2));
    request.set_omit_code(true);
    request.set_page_size(absl::GetFlag(FLAGS_limit));
    v1::ListTaskFunctionsResponse response;
    grpc::Status status = stub->ListTaskFunctions(context.get(), request, &response);
    if (!status.ok()) return Fail(status);
    Print(response);
    return 0;
  }
  return Usage(absl::StrCat("unknown command '", command, "'").c_str());
}
