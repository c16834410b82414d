// The whole Tasker stack as real processes for end-to-end tests and
// benchmarks: storage (SQLite or Postgres), keystore, proxy, N stack
// processors and N task executors, with a Google emulator standing in for
// the internet, a test service account seeded into the keystore, and a
// SQLite application database for the proxy's `database` provider.
#ifndef TASKER_TESTS_E2E_STACK_H_
#define TASKER_TESTS_E2E_STACK_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tasker/v1/task_service.grpc.pb.h"
#include "runtime/client/channel.h"
#include "tests/emulators/emulator.h"
#include "tests/support/services.h"

namespace tasker::e2e {

struct StackOptions {
  std::string database_url;  // empty: SQLite in the temp dir
  // SQLite only: "full" (fsync per commit, the default) or "normal".
  std::string sqlite_synchronous;
  int executors = 1;
  int processors = 1;
  std::string step_cpu = "5s";
  // Executor and processor --lease and --sweep_interval; empty: the
  // binaries' defaults.
  std::string lease = "3s";
  std::string sweep_interval = "1s";
  int google_users = 3;
  int google_messages_per_user = 4;
  // Off (the default): every service runs with --insecure_dev and executors
  // grant undeclared functions everything (--default_permissions=all). On:
  // one credentials file naming an identity per service, a client and an
  // admin; each service presents its own token; executors grant undeclared
  // functions nothing.
  bool secure = false;
  // With `secure`: mutual TLS on every gRPC port and channel (certificates
  // generated in the stack's temp dir).
  bool mtls = false;
  // Extra flags for every executor (e.g. "--warm_memory_mb=1").
  std::vector<std::string> executor_args;
  // Extra flags for every processor.
  std::vector<std::string> processor_args;
  // SQL run on the application database (app.db in the stack's temp dir,
  // the proxy's --app_database_url) before the proxy starts: the tables task
  // code reaches through the `database` provider.
  std::string app_database_sql;
  // Every component serves Prometheus metrics on a port of its own
  // (--metrics_listen=127.0.0.1:0; metrics_port() reads it).
  bool metrics = false;
  // Environment variables for every component (e.g. TASKER_LOG_LEVEL).
  std::map<std::string, std::string> env;
};

class Stack {
 public:
  // Starts every component. Executor and processor ports are chosen before
  // they start (each must know the others'); when another process takes one
  // of them first, the whole stack is started again (up to 3 times).
  static absl::StatusOr<std::unique_ptr<Stack>> Start(StackOptions options);
  ~Stack();

  tasker::v1::TaskService::Stub* api() { return api_.get(); }
  // The first executor's address (TaskService).
  std::string executor_target() { return components_["executor0"].running.target; }
  // A component's address and pid ("executor0", "processor1", ...).
  std::string target(const std::string& name) { return components_[name].running.target; }
  int pid(const std::string& name);
  const StackOptions& options() const { return options_; }
  // The first executor's HTTP/JSON API port.
  int http_port();
  emulators::GoogleEmulator* google() { return google_.get(); }
  // Secure stacks: the token of an identity ("client", "admin", "executor",
  // "processor", "proxy", "keystore"); "" otherwise.
  std::string token(const std::string& identity) const;
  // How a client reaches `target` in this stack: TLS when mtls, and the
  // token of `identity` (none when empty).
  ClientConfig ClientFor(const std::string& target, const std::string& identity = "") const;
  const std::string& dir() const { return dir_; }
  // The application database's file (SQLite).
  std::string app_database_path() const { return dir_ + "/app.db"; }

  // Kills (SIGKILL) and restarts one component: "storage", "keystore",
  // "proxy", "processor0", "executor1", ...
  absl::Status KillAndRestart(const std::string& name);
  // Sends a signal to one component without restarting it (SIGSTOP,
  // SIGCONT; SIGKILL waits for the process to exit).
  absl::Status Signal(const std::string& name, int signal);
  // Starts a component again after it was killed by Signal(SIGKILL).
  absl::Status Restart(const std::string& name);
  // Stops one component with SIGTERM (it drains), waits for it, restarts it.
  absl::Status TerminateAndRestart(const std::string& name);

  absl::StatusOr<tasker::v1::TaskFunction> Publish(const std::string& id, const std::string& code,
                                                   const std::string& metadata_json = "");
  absl::StatusOr<std::string> Submit(const std::string& task, const std::string& input_json,
                                     const std::string& idempotency_key = "");
  // Polls until the run ends (or the timeout passes).
  absl::StatusOr<tasker::v1::TaskRun> Wait(const std::string& run_id, absl::Duration timeout);
  // Follows the run with WatchRun until it ends (or the timeout passes).
  absl::StatusOr<tasker::v1::TaskRun> Watch(const std::string& run_id, absl::Duration timeout);
  // Every component's log, concatenated.
  std::string Logs();
  // A component's log file.
  std::string LogPath(const std::string& name) { return components_[name].running.log; }
  // The components' names ("storage", "keystore", "proxy", "processor0", ...), in start order.
  std::vector<std::string> components() const;
  // A component's metrics port (options.metrics), 0 when none.
  int metrics_port(const std::string& name);

 private:
  static absl::StatusOr<std::unique_ptr<Stack>> StartOnce(const StackOptions& options);
  struct Component {
    std::string binary;
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
    testing::RunningService running;
  };
  absl::Status StartComponent(const std::string& name);
  // The role a component runs as ("executor" for "executor1").
  static std::string RoleOf(const std::string& component);
  absl::Status SetUpSecurity();

  StackOptions options_;
  std::string dir_;
  std::unique_ptr<emulators::GoogleEmulator> google_;
  std::map<std::string, Component> components_;
  std::vector<std::string> order_;
  std::unique_ptr<tasker::v1::TaskService::Stub> api_;
  std::map<std::string, std::string> tokens_;
  ClientTls tls_;
  std::string tls_cert_, tls_key_, tls_ca_;
};

std::string ReadRunfile(const std::string& path);

// "" for SQLite (the stack's default); for "postgres", a fresh database on
// the test process's shared Postgres server. "unavailable: ..." on failure.
std::string DatabaseUrlFor(const std::string& backend, const std::string& prefix);

}  // namespace tasker::e2e

#endif  // TASKER_TESTS_E2E_STACK_H_
