#include "tests/e2e/stack.h"

#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include <fstream>

#include "runtime/server/auth.h"
#include "tests/support/certs.h"
#include "tasker/v1/keystore.grpc.pb.h"
#include "runtime/client/channel.h"
#include "runtime/common/json.h"
#include "runtime/common/status.h"
#include "tests/support/postgres.h"

namespace tasker::e2e {

namespace v1 = ::tasker::v1;

constexpr char kMasterKey[] = "8f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

int Stack::pid(const std::string& name) {
  auto it = components_.find(name);
  if (it == components_.end() || !it->second.running.process) return -1;
  return it->second.running.process->pid();
}

std::string ReadRunfile(const std::string& path) { return testing::ReadFileOrEmpty(testing::Runfile(path)); }

std::string DatabaseUrlFor(const std::string& backend, const std::string& prefix) {
  if (backend == "sqlite") return "";
  std::string error;
  auto* pg = testing::SharedPostgres(&error);
  if (!pg) return "unavailable: " + error;
  static std::atomic<int> n{0};
  auto url = pg->CreateDatabase(absl::StrCat(prefix, "_", getpid(), "_", n++));
  return url.ok() ? *url : "unavailable: " + url.status().ToString();
}

absl::StatusOr<std::unique_ptr<Stack>> Stack::Start(StackOptions options) {
  absl::StatusOr<std::unique_ptr<Stack>> stack;
  for (int attempt = 0; attempt < 3; ++attempt) {
    stack = StartOnce(options);
    const bool port_taken = !stack.ok() && (absl::StrContains(stack.status().message(), "Address already in use") ||
                                            absl::StrContains(stack.status().message(), "cannot listen"));
    if (!port_taken) break;
  }
  return stack;
}

absl::StatusOr<std::unique_ptr<Stack>> Stack::StartOnce(const StackOptions& options) {
  auto stack = std::unique_ptr<Stack>(new Stack());
  stack->options_ = options;
  stack->dir_ = testing::MakeTempDir("stack");
  // The Google emulator and its service account.
  auto account = emulators::MakeTestServiceAccount();
  emulators::GoogleFixtures fixtures;
  for (const char* domain : {"example.com", "example.org"}) {
    for (int u = 0; u < options.google_users; ++u) {
      const std::string email = absl::StrCat("user", u, "@", domain);
      fixtures.users[domain].push_back(email);
      fixtures.messages[email] = options.google_messages_per_user * (u + 1);
    }
  }
  stack->google_ = std::make_unique<emulators::GoogleEmulator>(account.client_email, account.public_key_pem,
                                                               "admin@example.com", fixtures);
  if (!stack->google_->Start()) return absl::InternalError("google emulator did not start");

  std::string db = options.database_url.empty() ? "sqlite://" + stack->dir_ + "/tasks.db" : options.database_url;
  if (options.database_url.empty() && !options.sqlite_synchronous.empty()) {
    db += "?synchronous=" + options.sqlite_synchronous;
  }
  RETURN_IF_ERROR(stack->SetUpSecurity());
  const std::map<std::string, std::string> keystore_env = {{"TASKER_MASTER_KEY", kMasterKey}};
  std::vector<std::string> executor_targets, processor_targets;
  for (int i = 0; i < options.executors; ++i) {
    executor_targets.push_back(absl::StrCat("127.0.0.1:", testing::FreePort()));
  }
  for (int i = 0; i < options.processors; ++i) {
    processor_targets.push_back(absl::StrCat("127.0.0.1:", testing::FreePort()));
  }
  auto& c = stack->components_;
  c["storage"] = {"services/storage/storage-service", {"--database_url=" + db}, {}};
  stack->order_ = {"storage", "keystore", "proxy"};
  RETURN_IF_ERROR(stack->StartComponent("storage"));
  const std::string storage = c["storage"].running.target;
  c["keystore"] = {"services/keystore/keystore", {"--storage=" + storage}, keystore_env};
  RETURN_IF_ERROR(stack->StartComponent("keystore"));
  const std::string keystore = c["keystore"].running.target;
  // The application database, its tables made as an operator would.
  sqlite3* app = nullptr;
  if (sqlite3_open(stack->app_database_path().c_str(), &app) != SQLITE_OK) {
    sqlite3_close(app);
    return absl::InternalError("cannot create the application database " + stack->app_database_path());
  }
  char* error = nullptr;
  const int rc = sqlite3_exec(app, options.app_database_sql.c_str(), nullptr, nullptr, &error);
  const std::string message = error ? error : "";
  sqlite3_free(error);
  sqlite3_close(app);
  if (rc != SQLITE_OK) return absl::InvalidArgumentError("app_database_sql: " + message);
  c["proxy"] = {"services/proxy/wrapped-service-proxy",
                {"--keystore=" + keystore, "--app_database_url=sqlite://" + stack->app_database_path(),
                 "--google_directory_base_url=" + stack->google_->base_url(),
                 "--google_gmail_base_url=" + stack->google_->base_url()},
                {}};
  RETURN_IF_ERROR(stack->StartComponent("proxy"));
  const std::string proxy = c["proxy"].running.target;
  for (int i = 0; i < options.processors; ++i) {
    const std::string name = absl::StrCat("processor", i);
    c[name] = {"services/processor/stack-processor",
               {"--listen=" + processor_targets[i], "--storage=" + storage, "--proxy=" + proxy,
                "--executors=" + absl::StrJoin(executor_targets, ","), "--base_backoff=50ms"},
               {}};
    if (!options.lease.empty()) c[name].args.push_back("--lease=" + options.lease);
    if (!options.sweep_interval.empty()) c[name].args.push_back("--sweep_interval=" + options.sweep_interval);
    for (const auto& arg : options.processor_args) c[name].args.push_back(arg);
    stack->order_.push_back(name);
    RETURN_IF_ERROR(stack->StartComponent(name));
  }
  for (int i = 0; i < options.executors; ++i) {
    const std::string name = absl::StrCat("executor", i);
    c[name] = {"services/executor/task-executor",
               {"--listen=" + executor_targets[i], "--storage=" + storage, "--http_listen=127.0.0.1:0",
                absl::StrCat("--http_port_file=", stack->dir_, "/", name, ".http"),
                "--processors=" + absl::StrJoin(processor_targets, ","), "--step_cpu=" + options.step_cpu,
                "--keystore=" + keystore},
               {}};
    if (!options.lease.empty()) c[name].args.push_back("--lease=" + options.lease);
    if (!options.sweep_interval.empty()) c[name].args.push_back("--sweep_interval=" + options.sweep_interval);
    bool permissions_set = false;
    for (const auto& arg : options.executor_args) {
      c[name].args.push_back(arg);
      permissions_set = permissions_set || absl::StartsWith(arg, "--default_permissions=");
    }
    if (!permissions_set) c[name].args.push_back(options.secure ? "--default_permissions=none"
                                                                : "--default_permissions=all");
    stack->order_.push_back(name);
    RETURN_IF_ERROR(stack->StartComponent(name));
  }
  // Seed the service account into the keystore, as an operator would.
  auto ks = v1::Keystore::NewStub(*MakeChannel(stack->ClientFor(keystore, "admin")));
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"GAPI_KEY", account.KeyJson(stack->google_->token_url())}, {"GAPI_ADMIN_EMAIL", "admin@example.com"}}) {
    auto context = MakeContext(absl::Seconds(10));
    v1::SetKeyRequest request;
    request.set_namespace_("global");
    request.set_key(key);
    request.set_value(value);
    v1::SetKeyResponse response;
    grpc::Status status = ks->SetKey(context.get(), request, &response);
    if (!status.ok()) return absl::InternalError("seeding the keystore failed: " + status.error_message());
  }
  stack->api_ = v1::TaskService::NewStub(*MakeChannel(stack->ClientFor(c["executor0"].running.target, "client")));
  return stack;
}

std::string Stack::RoleOf(const std::string& component) {
  for (const char* role : {"executor", "processor"}) {
    if (absl::StartsWith(component, role)) return role;
  }
  return component;  // storage, keystore, proxy
}

std::string Stack::token(const std::string& identity) const {
  auto it = tokens_.find(identity);
  return it == tokens_.end() ? "" : it->second;
}

ClientConfig Stack::ClientFor(const std::string& target, const std::string& identity) const {
  return ClientConfig{.target = target, .auth_token = token(identity), .tls = tls_};
}

absl::Status Stack::SetUpSecurity() {
  if (!options_.secure) return absl::OkStatus();
  // One identity per role; the file lists token hashes, as an operator's would.
  std::string credentials = "# identity role token\n";
  static std::atomic<int> counter{0};
  for (const char* role : {"client", "admin", "executor", "processor", "proxy", "keystore"}) {
    tokens_[role] = absl::StrCat(role, "-token-", getpid(), "-", counter++, "-a9f3c2e1b0d4");
    absl::StrAppend(&credentials, role, "-1 ", role, " sha256:", TokenHash(tokens_[role]), "\n");
  }
  // Storage calls nobody; it still needs no token of its own.
  std::ofstream(dir_ + "/credentials") << credentials;
  if (options_.mtls) {
    ASSIGN_OR_RETURN(testing::TestPki pki, testing::MakeTestPki(dir_));
    tls_cert_ = pki.cert;
    tls_key_ = pki.key;
    tls_ca_ = pki.ca_cert;
    tls_ = ClientTls{.ca = testing::ReadFileOrEmpty(pki.ca_cert),
                     .cert_chain = testing::ReadFileOrEmpty(pki.cert),
                     .private_key = testing::ReadFileOrEmpty(pki.key)};
  }
  return absl::OkStatus();
}

Stack::~Stack() {
  // Stop in reverse order: executors first.
  for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
    auto& process = components_[*it].running.process;
    if (process) {
      process->Signal(SIGTERM);
      if (!process->Wait(absl::Seconds(15))) process->Signal(SIGKILL);
    }
  }
  if (google_) google_->Stop();
}

int Stack::metrics_port(const std::string& name) {
  int port = 0;
  return absl::SimpleAtoi(absl::StripAsciiWhitespace(testing::ReadFileOrEmpty(dir_ + "/" + name + ".metrics_port")),
                          &port)
             ? port
             : 0;
}

std::vector<std::string> Stack::components() const { return order_; }

absl::Status Stack::StartComponent(const std::string& name) {
  Component& component = components_[name];
  auto has = [&](const std::string& prefix) {
    return std::any_of(component.args.begin(), component.args.end(),
                       [&](const std::string& a) { return absl::StartsWith(a, prefix); });
  };
  if (!options_.secure) {
    if (!has("--insecure_dev")) component.args.push_back("--insecure_dev");
  } else if (!has("--credentials_file=")) {
    component.args.push_back("--credentials_file=" + dir_ + "/credentials");
    const std::string role = RoleOf(name);
    if (role != "storage") component.env["TASKER_TOKEN"] = tokens_[role];
    if (options_.mtls) {
      for (const std::string& flag : {"--tls_cert=" + tls_cert_, "--tls_key=" + tls_key_, "--tls_ca=" + tls_ca_,
                                      std::string("--require_client_cert")}) {
        component.args.push_back(flag);
      }
    }
  }
  if (std::find(component.args.begin(), component.args.end(), "--shutdown_grace=2s") == component.args.end()) {
    component.args.push_back("--shutdown_grace=2s");
  }
  if (options_.metrics && !has("--metrics_listen=")) {
    component.args.push_back("--metrics_listen=127.0.0.1:0");
    component.args.push_back("--metrics_port_file=" + dir_ + "/" + name + ".metrics_port");
  }
  for (const auto& [key, value] : options_.env) component.env.emplace(key, value);
  auto running = testing::StartService(component.binary, name, dir_, component.args, component.env);
  if (!running.ok()) return running.status();
  component.running = std::move(*running);
  // Restarted components keep their address (peers have it).
  bool pinned = false;
  for (const auto& a : component.args) pinned = pinned || a.rfind("--listen=", 0) == 0;
  if (!pinned) component.args.push_back("--listen=" + component.running.target);
  return absl::OkStatus();
}

absl::Status Stack::KillAndRestart(const std::string& name) {
  auto it = components_.find(name);
  if (it == components_.end()) return absl::NotFoundError(name);
  it->second.running.process->Signal(SIGKILL);
  // Restarting before the old process is gone would race it for the port.
  if (!it->second.running.process->Wait(absl::Seconds(10)).has_value()) {
    return absl::DeadlineExceededError(absl::StrCat(name, " did not exit within 10s of SIGKILL"));
  }
  return StartComponent(name);
}

absl::Status Stack::Signal(const std::string& name, int signal) {
  auto it = components_.find(name);
  if (it == components_.end()) return absl::NotFoundError(name);
  it->second.running.process->Signal(signal);
  if (signal == SIGKILL && !it->second.running.process->Wait(absl::Seconds(10)).has_value()) {
    return absl::DeadlineExceededError(absl::StrCat(name, " did not exit within 10s of SIGKILL"));
  }
  return absl::OkStatus();
}

absl::Status Stack::Restart(const std::string& name) {
  if (!components_.count(name)) return absl::NotFoundError(name);
  return StartComponent(name);
}

absl::Status Stack::TerminateAndRestart(const std::string& name) {
  auto it = components_.find(name);
  if (it == components_.end()) return absl::NotFoundError(name);
  it->second.running.process->Signal(SIGTERM);
  if (!it->second.running.process->Wait(absl::Seconds(60)).has_value()) {
    return absl::DeadlineExceededError(absl::StrCat(name, " did not exit within 60s of SIGTERM"));
  }
  return StartComponent(name);
}

absl::StatusOr<v1::TaskFunction> Stack::Publish(const std::string& id, const std::string& code,
                                                const std::string& metadata_json) {
  v1::PublishTaskRequest request;
  request.set_identifier(id);
  request.set_code(code);
  request.set_metadata_json(metadata_json);
  v1::TaskFunction response;
  auto context = MakeContext(absl::Seconds(10));
  grpc::Status status = api_->PublishTask(context.get(), request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::StatusOr<std::string> Stack::Submit(const std::string& task, const std::string& input_json,
                                          const std::string& key) {
  v1::SubmitRunRequest request;
  request.set_task_identifier(task);
  request.set_idempotency_key(key);
  request.set_input_json(input_json);
  v1::SubmitRunResponse response;
  auto context = MakeContext(absl::Seconds(10));
  grpc::Status status = api_->SubmitRun(context.get(), request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response.run().id();
}

absl::StatusOr<v1::TaskRun> Stack::Wait(const std::string& run_id, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  v1::GetRunRequest request;
  request.set_name(run_id);
  v1::GetRunResponse response;
  while (absl::Now() < deadline) {
    auto context = MakeContext(absl::Seconds(10));
    grpc::Status status = api_->GetRun(context.get(), request, &response);
    if (status.ok()) {
      const auto s = response.run().status();
      if (s == v1::RUN_STATUS_COMPLETED || s == v1::RUN_STATUS_FAILED || s == v1::RUN_STATUS_CANCELLED) {
        return response.run();
      }
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError(absl::StrCat("run ", run_id, " did not finish; last status ",
                                                  v1::RunStatus_Name(response.run().status())));
}

absl::StatusOr<v1::TaskRun> Stack::Watch(const std::string& run_id, absl::Duration timeout) {
  v1::WatchRunRequest request;
  request.set_name(run_id);
  auto context = MakeContext(timeout);
  auto reader = api_->WatchRun(context.get(), request);
  v1::RunEvent event;
  v1::TaskRun last;
  while (reader->Read(&event)) {
    last = event.run();
    if (event.final()) {
      context->TryCancel();
      (void)reader->Finish();
      return last;
    }
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) return FromGrpcStatus(status);
  return absl::InternalError(absl::StrCat("WatchRun of ", run_id, " ended before the run; last status ",
                                          v1::RunStatus_Name(last.status())));
}

int Stack::http_port() {
  int port = 0;
  std::string text = testing::ReadFileOrEmpty(dir_ + "/executor0.http");
  return absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &port) ? port : 0;
}

std::string Stack::Logs() {
  std::string all;
  for (const auto& name : order_) {
    absl::StrAppend(&all, "==== ", name, "\n", testing::ReadFileOrEmpty(components_[name].running.log));
  }
  return all;
}

}  // namespace tasker::e2e
